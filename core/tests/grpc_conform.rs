//! Points of gRPC's PROTOCOL-HTTP2.md (and the documents it leans on:
//! http-grpc-status-mapping.md, compression.md) checked one by one at the
//! connection level, each side facing a raw HTTP/2 peer driven by hand so
//! that the peer can send what a well-behaved gRPC peer never would.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use grpc_sansio::call::{CallId, CallKind};
use grpc_sansio::client::{CallOptions, ClientConfig, ClientConnection, ClientEvent};
use grpc_sansio::frame::{Reason, StreamId};
use grpc_sansio::grpc::compression::CompressionRegistry;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::h2::{self, Event, Initiator};
use grpc_sansio::hpack::HeaderField;
use grpc_sansio::server::{ServerConfig, ServerConnection, ServerEvent};
use support::{Clock, as_pairs, field, request_head};

/// A gRPC client and a raw HTTP/2 server, on a virtual clock.
struct ToClient {
    clock: Clock,
    peer: h2::Connection,
    client: ClientConnection,
    events: Vec<ClientEvent>,
    peer_events: Vec<Event>,
}

impl ToClient {
    fn new(peer: h2::Config) -> Self {
        let clock = Clock::new();
        let mut t = ToClient {
            peer: h2::Connection::server(peer, clock.now),
            client: ClientConnection::new(ClientConfig::default(), clock.now),
            clock,
            events: Vec::new(),
            peer_events: Vec::new(),
        };
        t.drive();
        t
    }

    /// Moves bytes both ways until both sides are quiet.
    fn drive(&mut self) {
        for _ in 0..100 {
            let mut a = BytesMut::new();
            while self.client.poll_transmit(&mut a) > 0 {}
            let mut b = BytesMut::new();
            while self.peer.poll_transmit(&mut b) > 0 {}
            if !a.is_empty() {
                let _ = self.peer.receive(&a, self.clock.now);
            }
            if !b.is_empty() {
                let _ = self.client.receive(&b, self.clock.now);
            }
            while let Some(e) = self.client.poll_event() {
                self.events.push(e);
            }
            while let Some(e) = self.peer.poll_event() {
                if let Event::Data { stream, data, .. } = &e {
                    self.peer.release_capacity(*stream, data.len() as u32);
                }
                self.peer_events.push(e);
            }
            if a.is_empty() && b.is_empty() {
                return;
            }
        }
        panic!("the pair did not go quiet");
    }

    /// Starts a call of `kind` with one message; half-closes if `end`.
    /// Returns the call and the stream the peer saw it open.
    fn start(&mut self, kind: CallKind, end: bool) -> (CallId, Option<StreamId>) {
        self.start_with(CallOptions::new(kind), end)
    }

    /// [`start`](Self::start) with any options.
    fn start_with(&mut self, options: CallOptions, end: bool) -> (CallId, Option<StreamId>) {
        let now = self.clock.now;
        let call = self.client.start_call("/t.S/M", options, now).unwrap();
        self.client
            .send_message(call, Bytes::from_static(b"q"))
            .unwrap();
        if end {
            self.client.half_close(call).unwrap();
        }
        let before = self.peer_events.len();
        self.drive();
        let stream = self.peer_events[before..].iter().find_map(|e| match e {
            Event::Headers { stream, .. } => Some(*stream),
            _ => None,
        });
        (call, stream)
    }

    /// The peer sends `fields` on `stream`.
    fn head(&mut self, stream: StreamId, fields: &[(&str, &str)], end_stream: bool) {
        let list: Vec<HeaderField> = fields.iter().map(|(n, v)| field(n, v)).collect();
        self.peer.send_headers(stream, list, end_stream).unwrap();
    }

    fn finished(&self, call: CallId) -> Option<Status> {
        self.events.iter().find_map(|e| match e {
            ClientEvent::Finished {
                call: c, status, ..
            } if *c == call => Some(status.clone()),
            _ => None,
        })
    }

    /// The RST_STREAM codes the peer received on `stream`.
    fn resets_on(&self, stream: StreamId) -> Vec<Reason> {
        self.peer_events
            .iter()
            .filter_map(|e| match e {
                Event::StreamReset {
                    stream: s,
                    code,
                    initiator: Initiator::Remote,
                } if *s == stream => Some(*code),
                _ => None,
            })
            .collect()
    }
}

const RESPONSE_HEAD: [(&str, &str); 2] = [(":status", "200"), ("content-type", "application/grpc")];

/// PROTOCOL-HTTP2.md, Early Server Closure: "when a client receives
/// Trailers before the client's END_STREAM, then the client should send
/// RST_STREAM with NO_ERROR". A server need not reset the stream itself,
/// and one that does not would otherwise leave it half-closed on our side
/// for good, holding one of its SETTINGS_MAX_CONCURRENT_STREAMS: here the
/// only one, so no later call could start.
#[test]
fn client_resets_a_stream_the_server_ended_early() {
    let mut peer = h2::Config::default();
    peer.max_concurrent_streams = 1;
    // Trailers-only, trailers after a message, and a response whose DATA
    // carries END_STREAM with no trailers at all.
    for case in 0..3 {
        let mut t = ToClient::new(peer.clone());
        let (call, stream) = t.start(CallKind::BidiStreaming, false);
        let stream = stream.expect("the call opened a stream");
        match case {
            0 => t.head(
                stream,
                &[RESPONSE_HEAD[0], RESPONSE_HEAD[1], ("grpc-status", "5")],
                true,
            ),
            1 => {
                t.head(stream, &RESPONSE_HEAD, false);
                t.peer
                    .send_data(stream, Bytes::from_static(b"\0\0\0\0\x01r"), false)
                    .unwrap();
                t.head(stream, &[("grpc-status", "0")], true);
            }
            _ => {
                t.head(stream, &RESPONSE_HEAD, false);
                t.peer
                    .send_data(stream, Bytes::from_static(b"\0\0\0\0\x01r"), true)
                    .unwrap();
            }
        }
        t.drive();
        assert!(t.finished(call).is_some(), "case {case}");
        assert_eq!(t.resets_on(stream), vec![Reason::NO_ERROR], "case {case}");
        assert_eq!(t.client.h2().active_streams(), 0, "case {case}");
        // The stream's slot is free again: the next call opens at once.
        let (_, next) = t.start(CallKind::Unary, true);
        assert!(
            next.is_some(),
            "case {case}: the next call waits for a stream"
        );
    }
}

/// PROTOCOL-HTTP2.md, Client Cancellation: "when a call fails with
/// CANCELLED status the client is encouraged to check whether the deadline
/// has expired and fail the call with DEADLINE_EXCEEDED instead". A server
/// whose clock runs a little fast resets the stream with CANCEL when the
/// deadline passes; its RST_STREAM can be read before our own timer is
/// run. Before the deadline, CANCEL is CANCELLED.
#[test]
fn server_cancel_after_the_deadline_is_deadline_exceeded() {
    for (late, want) in [(false, Code::Cancelled), (true, Code::DeadlineExceeded)] {
        let mut t = ToClient::new(h2::Config::default());
        let now = t.clock.now;
        let options =
            CallOptions::new(CallKind::Unary).with_timeout(now, Duration::from_millis(100));
        let (call, stream) = t.start_with(options, true);
        let stream = stream.unwrap();
        if late {
            t.clock.advance(Duration::from_millis(100));
        }
        t.peer.reset(stream, Reason::CANCEL);
        t.drive();
        let status = t.finished(call).expect("the call ended");
        assert_eq!(status.code(), want, "late {late}: {status:?}");
    }
}

/// A call that had finished sending when the trailers came is over on
/// both sides: nothing more to reset.
#[test]
fn client_sends_no_reset_after_a_whole_exchange() {
    let mut t = ToClient::new(h2::Config::default());
    let (call, stream) = t.start(CallKind::Unary, true);
    let stream = stream.unwrap();
    t.head(stream, &RESPONSE_HEAD, false);
    t.peer
        .send_data(stream, Bytes::from_static(b"\0\0\0\0\x01r"), false)
        .unwrap();
    t.head(stream, &[("grpc-status", "0")], true);
    t.drive();
    assert!(t.finished(call).unwrap().is_ok());
    assert_eq!(t.resets_on(stream), vec![]);
    assert_eq!(t.client.h2().active_streams(), 0);
}

/// A gRPC server and a raw HTTP/2 client, on a virtual clock.
struct ToServer {
    clock: Clock,
    peer: h2::Connection,
    server: ServerConnection,
    events: Vec<ServerEvent>,
    peer_events: Vec<Event>,
}

impl ToServer {
    fn new(config: ServerConfig) -> Self {
        let clock = Clock::new();
        ToServer {
            peer: h2::Connection::client(h2::Config::default(), clock.now),
            server: ServerConnection::new(config, clock.now),
            clock,
            events: Vec::new(),
            peer_events: Vec::new(),
        }
    }

    fn drive(&mut self) {
        for _ in 0..100 {
            let mut a = BytesMut::new();
            while self.peer.poll_transmit(&mut a) > 0 {}
            let mut b = BytesMut::new();
            while self.server.poll_transmit(&mut b) > 0 {}
            if !a.is_empty() {
                let _ = self.server.receive(&a, self.clock.now);
            }
            if !b.is_empty() {
                let _ = self.peer.receive(&b, self.clock.now);
            }
            while let Some(e) = self.server.poll_event() {
                self.events.push(e);
            }
            while let Some(e) = self.peer.poll_event() {
                self.peer_events.push(e);
            }
            if a.is_empty() && b.is_empty() {
                return;
            }
        }
        panic!("the pair did not go quiet");
    }

    /// Sends a request: `head`, then `body` (if any) as one DATA frame
    /// with END_STREAM. Returns its stream.
    fn request(&mut self, head: Vec<HeaderField>, body: Option<&'static [u8]>) -> StreamId {
        let id = self.peer.open_stream(head, body.is_none()).unwrap();
        if let Some(b) = body {
            self.peer
                .send_data(id, Bytes::from_static(b), true)
                .unwrap();
        }
        self.drive();
        id
    }

    /// The header sections the server sent on `stream`, as pairs, each
    /// with its END_STREAM flag.
    fn sections(&self, stream: StreamId) -> Vec<(Vec<(String, String)>, bool)> {
        self.peer_events
            .iter()
            .filter_map(|e| match e {
                Event::Headers {
                    stream: s,
                    fields,
                    end_stream,
                } if *s == stream => Some((as_pairs(fields), *end_stream)),
                _ => None,
            })
            .collect()
    }
}

/// compression.md: a message compressed with an algorithm the server does
/// not support ends in UNIMPLEMENTED, and "the server will then include
/// in its response a `grpc-accept-encoding` header specifying the
/// algorithms it does accept". A server that accepts only identity must
/// say so too: without the header the client cannot tell what to use.
#[test]
fn unsupported_encoding_answer_lists_what_the_server_accepts() {
    // The default registry offers gzip when the feature is on.
    let default_accepts = if cfg!(feature = "gzip") {
        "gzip"
    } else {
        "identity"
    };
    for (registry, accepted) in [
        (CompressionRegistry::default(), default_accepts),
        (CompressionRegistry::identity_only(), "identity"),
    ] {
        let mut config = ServerConfig::default();
        config.compression = registry;
        let mut t = ToServer::new(config);
        let mut head = request_head("/t.S/M");
        head.push(field("grpc-encoding", "snappy"));
        let stream = t.request(head, Some(b"\x01\0\0\0\x01z"));
        let sections = t.sections(stream);
        assert_eq!(sections.len(), 1, "{sections:?}");
        let (fields, end_stream) = &sections[0];
        assert!(end_stream);
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("grpc-status"), Some("12"), "{fields:?}");
        assert_eq!(get("grpc-accept-encoding"), Some(accepted), "{fields:?}");
        assert!(t.events.is_empty(), "{:?}", t.events);
    }
}

/// The value of the first field called `name` in a section.
fn get<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// PROTOCOL-HTTP2.md, Requests: "If Content-Type does not begin with
/// "application/grpc", gRPC servers SHOULD respond with HTTP status of
/// 415"; the format suffixes and parameters are gRPC's own.
#[test]
fn server_answers_a_non_grpc_content_type_with_415() {
    for ct in [
        None,
        Some("text/plain"),
        Some("application/grpc-web"),
        Some("application/json"),
    ] {
        let mut t = ToServer::new(ServerConfig::default());
        let mut head = request_head("/t.S/M");
        head.retain(|f| &f.name[..] != b"content-type");
        if let Some(ct) = ct {
            head.push(field("content-type", ct));
        }
        let stream = t.request(head, Some(b"\0\0\0\0\0"));
        let sections = t.sections(stream);
        assert_eq!(sections.len(), 1, "{ct:?}: {sections:?}");
        assert_eq!(get(&sections[0].0, ":status"), Some("415"), "{ct:?}");
        assert!(sections[0].1, "{ct:?}");
        assert!(t.events.is_empty(), "{ct:?}: no call for the application");
    }
    for ct in [
        "application/grpc",
        "application/grpc+proto",
        "application/grpc+json",
        "application/grpc;charset=utf-8",
        "application/grpc+proto; charset=utf-8",
    ] {
        let mut t = ToServer::new(ServerConfig::default());
        let mut head = request_head("/t.S/M");
        head.retain(|f| &f.name[..] != b"content-type");
        head.push(field("content-type", ct));
        t.request(head, Some(b"\0\0\0\0\0"));
        assert!(
            matches!(t.events.first(), Some(ServerEvent::CallStarted { head, .. }) if head.content_type == ct.as_bytes()),
            "{ct}: {:?}",
            t.events
        );
    }
}

/// http-grpc-status-mapping.md: a response without grpc-status takes its
/// code from the HTTP status; "If grpc-status was provided, it must be
/// used". PROTOCOL-HTTP2.md, Responses: implementations "must synthesize
/// a Status" when it is missing.
#[test]
fn client_maps_http_statuses_of_responses_without_grpc_status() {
    let table = [
        ("400", Code::Internal),
        ("401", Code::Unauthenticated),
        ("403", Code::PermissionDenied),
        ("404", Code::Unimplemented),
        ("429", Code::Unavailable),
        ("431", Code::Internal),
        ("500", Code::Unknown),
        ("502", Code::Unavailable),
        ("503", Code::Unavailable),
        ("504", Code::Unavailable),
    ];
    for (http, want) in table {
        // Trailers-only, and a head that opens a body.
        for end_stream in [true, false] {
            let mut t = ToClient::new(h2::Config::default());
            let (call, stream) = t.start(CallKind::Unary, true);
            t.head(
                stream.unwrap(),
                &[(":status", http), ("content-type", "text/html")],
                end_stream,
            );
            t.drive();
            let code = t.finished(call).map(|s| s.code());
            assert_eq!(code, Some(want), "HTTP {http}, end_stream {end_stream}");
        }
    }
    // grpc-status present: it is used, whatever the HTTP status.
    let mut t = ToClient::new(h2::Config::default());
    let (call, stream) = t.start(CallKind::Unary, true);
    t.head(
        stream.unwrap(),
        &[
            (":status", "503"),
            ("content-type", "application/grpc"),
            ("grpc-status", "7"),
        ],
        true,
    );
    t.drive();
    assert_eq!(t.finished(call).unwrap().code(), Code::PermissionDenied);
}

/// PROTOCOL-HTTP2.md, Responses: trailers without grpc-status still end
/// the call with a status; grpc-message is percent-decoded, and invalid
/// %-sequences are kept ("implementations MUST NOT error or throw away
/// the message"); a code outside 0..16 is UNKNOWN; grpc-status-details-bin
/// is base64, padded or not; trailing metadata comes through.
#[test]
fn client_reads_trailers_leniently() {
    type Fields<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Fields, Code, &str, &[u8]); 4] = [
        (&[("x-t", "1")], Code::Unknown, "", b""),
        (
            &[("grpc-status", "5"), ("grpc-message", "caf%C3%A9 %zz 100%")],
            Code::NotFound,
            "caf\u{e9} %zz 100%",
            b"",
        ),
        (&[("grpc-status", "99")], Code::Unknown, "", b""),
        (
            &[("grpc-status", "3"), ("grpc-status-details-bin", "CAM=")],
            Code::InvalidArgument,
            "",
            b"\x08\x03",
        ),
    ];
    for (trailers, code, message, details) in cases {
        let mut t = ToClient::new(h2::Config::default());
        let (call, stream) = t.start(CallKind::ServerStreaming, true);
        let stream = stream.unwrap();
        t.head(stream, &RESPONSE_HEAD, false);
        t.head(stream, trailers, true);
        t.drive();
        let status = t.finished(call).unwrap();
        assert_eq!(status.code(), code, "{trailers:?}");
        if code != Code::Unknown || !message.is_empty() {
            assert_eq!(status.message(), message, "{trailers:?}");
        }
        assert_eq!(&status.details()[..], details, "{trailers:?}");
    }
}

/// PROTOCOL-HTTP2.md, Errors: the RST_STREAM code a call ends with.
#[test]
fn client_maps_rst_stream_codes() {
    let table = [
        (Reason::NO_ERROR, Code::Internal),
        (Reason::PROTOCOL_ERROR, Code::Internal),
        (Reason::INTERNAL_ERROR, Code::Internal),
        (Reason::FLOW_CONTROL_ERROR, Code::Internal),
        (Reason::FRAME_SIZE_ERROR, Code::Internal),
        (Reason::REFUSED_STREAM, Code::Unavailable),
        (Reason::CANCEL, Code::Cancelled),
        (Reason::COMPRESSION_ERROR, Code::Internal),
        (Reason::CONNECT_ERROR, Code::Internal),
        (Reason::ENHANCE_YOUR_CALM, Code::ResourceExhausted),
        (Reason::INADEQUATE_SECURITY, Code::PermissionDenied),
    ];
    for (reason, want) in table {
        let mut t = ToClient::new(h2::Config::default());
        let (call, stream) = t.start(CallKind::Unary, true);
        t.peer.reset(stream.unwrap(), reason);
        t.drive();
        assert_eq!(t.finished(call).unwrap().code(), want, "{reason:?}");
    }
}

/// PROTOCOL-HTTP2.md, Length-Prefixed-Message: a compressed flag without
/// grpc-encoding (INTERNAL, compression.md), a message over the receive
/// limit (RESOURCE_EXHAUSTED), and a message cut short by END_STREAM
/// (INTERNAL), each on both sides.
#[test]
fn broken_messages_end_the_call_on_both_sides() {
    let cases: [(&[u8], &str, Code); 3] = [
        (b"\x01\0\0\0\x01z", "13", Code::Internal),
        (b"\0\x01\0\0\0zz", "8", Code::ResourceExhausted),
        (b"\0\0\0\0\x05zz", "13", Code::Internal),
    ];
    for (body, status, code) in cases {
        // A request, to a server: trailers-only with the status.
        let mut t = ToServer::new(ServerConfig::default());
        let stream = t.request(request_head("/t.S/M"), Some(body));
        let sections = t.sections(stream);
        assert_eq!(sections.len(), 1, "{body:?}: {sections:?}");
        assert_eq!(get(&sections[0].0, ":status"), Some("200"));
        assert_eq!(get(&sections[0].0, "grpc-status"), Some(status), "{body:?}");
        // A response, to a client, then OK trailers: the call still fails.
        let mut t = ToClient::new(h2::Config::default());
        let (call, stream) = t.start(CallKind::ServerStreaming, true);
        let stream = stream.unwrap();
        t.head(stream, &RESPONSE_HEAD, false);
        t.peer
            .send_data(stream, Bytes::from_static(body), false)
            .unwrap();
        t.head(stream, &[("grpc-status", "0")], true);
        t.drive();
        assert_eq!(t.finished(call).unwrap().code(), code, "{body:?}");
    }
}

/// http-grpc-status-mapping.md: a response "that did not include
/// grpc-status" takes its code from the HTTP status, and "200 is UNKNOWN
/// because there should be a grpc-status in case of truly OK response".
/// A 200 head that opens a body that is not gRPC (a proxy's page, say)
/// has no grpc-status: UNKNOWN, as for a 200 trailers-only response.
#[test]
fn client_maps_a_200_head_that_is_not_grpc_to_unknown() {
    for ct in [None, Some("text/html")] {
        let mut t = ToClient::new(h2::Config::default());
        let (call, stream) = t.start(CallKind::Unary, true);
        let stream = stream.unwrap();
        let mut head = vec![(":status", "200")];
        head.extend(ct.map(|ct| ("content-type", ct)));
        t.head(stream, &head, false);
        t.drive();
        let status = t.finished(call).expect("the call ended");
        assert_eq!(status.code(), Code::Unknown, "{ct:?}: {status:?}");
        // Nothing more is read from that stream.
        assert_eq!(t.resets_on(stream), vec![Reason::CANCEL]);
    }
}

/// PROTOCOL-HTTP2.md "Timeout": every request's own `grpc-timeout` gives
/// its call's deadline, also when the requests' header blocks differ only
/// in it (the server then reads only that last field; see
/// `hpack::Decoder`'s memo); a malformed value ends its call with
/// INTERNAL and the next request is read as usual, as is one whose last
/// field is something else.
#[test]
fn each_request_gets_the_deadline_of_its_own_timeout() {
    use grpc_sansio::grpc::metadata::MetadataMap;
    use grpc_sansio::grpc::timeout::parse_timeout;
    let mut t = ToServer::new(ServerConfig::default());
    let values = [
        "1S",
        "250m",
        "3000m",
        "oops",
        "7u",
        "2H",
        "",
        "45S",
        "12M",
        "1x",
        "99999999n",
        "5S",
    ];
    for (i, v) in values.iter().enumerate() {
        let mut head = request_head("/t.S/M");
        // Now and then a request with one more field (custom metadata)
        // before its timeout, and one with metadata last.
        if i == 8 {
            head.push(field("x-extra", "1"));
        }
        head.push(field("grpc-timeout", v));
        if i == 10 {
            head.push(field("x-last", "2"));
        }
        let now = t.clock.now;
        let before = t.events.len();
        let stream = t.request(head, Some(b"\0\0\0\0\x01q"));
        let started = t.events[before..].iter().find_map(|e| match e {
            ServerEvent::CallStarted { call, head } => Some((*call, head.clone())),
            _ => None,
        });
        match parse_timeout(v.as_bytes()) {
            Ok(timeout) => {
                let (call, head) = started.unwrap_or_else(|| panic!("call {i} ({v}) started"));
                assert_eq!(head.timeout, Some(timeout), "call {i} ({v})");
                assert_eq!(head.deadline, Some(now + timeout), "call {i} ({v})");
                assert_eq!(&*head.path, "/t.S/M");
                let extra = head.metadata.get("x-extra");
                assert_eq!(extra, (i == 8).then_some("1"), "call {i}");
                let last = head.metadata.get("x-last");
                assert_eq!(last, (i == 10).then_some("2"), "call {i}");
                t.server
                    .send_status(call, Status::ok(), MetadataMap::new())
                    .unwrap();
                t.drive();
            }
            Err(_) => {
                assert!(started.is_none(), "call {i} ({v:?}) refused");
                let sections = t.sections(stream);
                let (fields, end) = sections.last().expect("an answer");
                assert!(end);
                assert!(
                    fields.contains(&("grpc-status".into(), "13".into())),
                    "call {i}: {fields:?}"
                );
            }
        }
        t.clock.advance(Duration::from_millis(10));
    }
}
