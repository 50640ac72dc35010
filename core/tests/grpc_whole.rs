//! Calls sent whole: a client's `start_call_with_message` (head, message
//! and end of request at once) and a server's `send_response` (head,
//! message and trailers at once). When the stream has nothing queued and
//! the windows allow, their frames are written straight into the output;
//! the bytes must be exactly those of the step-by-step calls they stand
//! for, and when the windows or the stream limit say no, they must fall
//! back to the queues without losing anything.

mod support;

use bytes::{Bytes, BytesMut};
use grpc_sansio::call::{CallId, CallKind};
use grpc_sansio::client::{CallOptions, ClientConfig, ClientConnection, ClientEvent};
use grpc_sansio::frame::{Frame, FrameDecoder, GoAway, Ping, Reason, StreamId};
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::server::{ServerConfig, ServerConnection, ServerEvent};
use support::{Clock, messages_client};

struct Pair {
    client: ClientConnection,
    server: ServerConnection,
    clock: Clock,
}

impl Pair {
    fn new(client: ClientConfig, server: ServerConfig) -> Pair {
        let clock = Clock::new();
        let mut p = Pair {
            client: ClientConnection::new(client, clock.now),
            server: ServerConnection::new(server, clock.now),
            clock,
        };
        p.drive();
        while p.client.poll_event().is_some() {}
        while p.server.poll_event().is_some() {}
        p
    }

    fn client_bytes(&mut self) -> BytesMut {
        let mut out = BytesMut::new();
        while self.client.poll_transmit(&mut out) > 0 {}
        out
    }

    fn server_bytes(&mut self) -> BytesMut {
        let mut out = BytesMut::new();
        while self.server.poll_transmit(&mut out) > 0 {}
        out
    }

    /// Move bytes both ways until both sides are quiet; events stay queued.
    fn drive(&mut self) {
        for _ in 0..10_000 {
            let a = self.client_bytes();
            if !a.is_empty() {
                self.server.receive(&a, self.clock.now).expect("server");
            }
            let b = self.server_bytes();
            if !b.is_empty() {
                self.client.receive(&b, self.clock.now).expect("client");
            }
            if a.is_empty() && b.is_empty() {
                return;
            }
        }
        panic!("livelock");
    }

    fn server_events(&mut self) -> Vec<ServerEvent> {
        let mut out = Vec::new();
        while let Some(e) = self.server.poll_event() {
            if let ServerEvent::Message { call, flow_len, .. } = &e {
                self.server.release_capacity(*call, *flow_len);
            }
            out.push(e);
        }
        out
    }

    fn client_events(&mut self) -> Vec<ClientEvent> {
        let mut out = Vec::new();
        while let Some(e) = self.client.poll_event() {
            if let ClientEvent::Message { call, flow_len, .. } = &e {
                self.client.release_capacity(*call, *flow_len);
            }
            out.push(e);
        }
        out
    }
}

/// Frames in `bytes`, as (type, stream, END_STREAM, payload length).
fn frames(bytes: &[u8]) -> Vec<(&'static str, u32, bool, usize)> {
    let mut buf = BytesMut::from(bytes);
    let mut dec = FrameDecoder::new();
    let mut out = Vec::new();
    while let Some(f) = dec.decode(&mut buf).expect("valid frames") {
        out.push(match f {
            Frame::Headers(h) => (
                "HEADERS",
                h.stream_id.value(),
                h.end_stream,
                h.fragment.len(),
            ),
            Frame::Data(d) => ("DATA", d.stream_id.value(), d.end_stream, d.data.len()),
            Frame::RstStream(r) => ("RST_STREAM", r.stream_id.value(), false, 0),
            Frame::WindowUpdate(w) => ("WINDOW_UPDATE", w.stream_id.value(), false, 4),
            Frame::Ping(_) => ("PING", 0, false, 8),
            Frame::GoAway(_) => ("GOAWAY", 0, false, 8),
            Frame::Continuation(c) => {
                ("CONTINUATION", c.stream_id.value(), false, c.fragment.len())
            }
            other => panic!("unexpected frame {other:?}"),
        });
    }
    assert!(buf.is_empty(), "a partial frame is left");
    out
}

fn started(events: &[ServerEvent]) -> Vec<CallId> {
    events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::CallStarted { call, .. } => Some(*call),
            _ => None,
        })
        .collect()
}

fn finished(events: &[ClientEvent], call: CallId) -> Option<(Status, MetadataMap)> {
    events.iter().find_map(|e| match e {
        ClientEvent::Finished {
            call: c,
            status,
            trailers,
        } if *c == call => Some((status.clone(), trailers.clone())),
        _ => None,
    })
}

/// The request messages among server events.
fn requests(events: &[ServerEvent]) -> Vec<Bytes> {
    events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Message { message, .. } => Some(message.clone().decompress().unwrap()),
            _ => None,
        })
        .collect()
}

/// Drive `p` until `call` has its reply (flow control may take several
/// rounds) and check that the reply is `reply` and the status OK.
fn expect_ok_reply(p: &mut Pair, call: CallId, reply: &Bytes) {
    let mut ev = Vec::new();
    for _ in 0..10 {
        p.drive();
        ev.extend(p.client_events());
    }
    assert_eq!(messages_client(&ev, call), vec![reply.clone()]);
    assert!(finished(&ev, call).expect("finished").0.is_ok());
}

/// Start a unary call step by step (its HEADERS queued, not written).
fn start_queued(p: &mut Pair, message: &'static str) -> CallId {
    let now = p.clock.now;
    let call = p
        .client
        .start_call("/t.S/M", options(CallKind::Unary), now)
        .unwrap();
    p.client.send_message(call, Bytes::from(message)).unwrap();
    p.client.half_close(call).unwrap();
    call
}

/// Start a unary call whole: head, `message` and end of request at once.
fn start_whole(p: &mut Pair, message: impl Into<Bytes>) -> CallId {
    let now = p.clock.now;
    p.client
        .start_call_with_message("/t.S/M", options(CallKind::Unary), message.into(), now)
        .unwrap()
}

/// Start a call whole, then let a GOAWAY that refuses it (last stream 0)
/// arrive before anything is transmitted: the client's events.
fn whole_start_refused(p: &mut Pair) -> (CallId, Vec<ClientEvent>) {
    let call = start_whole(p, "x");
    let mut goaway = BytesMut::new();
    GoAway::new(StreamId::ZERO, Reason::NO_ERROR).encode(&mut goaway);
    let now = p.clock.now;
    p.client.receive(&goaway, now).unwrap();
    (call, p.client_events())
}

/// Answer the call that started among server events `ev` with `reply`
/// and OK, and check that client call `call` gets them.
fn reply_ok(p: &mut Pair, ev: &[ServerEvent], call: CallId, reply: &'static str) {
    let scall = started(ev)[0];
    p.server
        .send_response(scall, Bytes::from(reply), Status::ok(), MetadataMap::new())
        .unwrap();
    expect_ok_reply(p, call, &Bytes::from(reply));
}

fn options(kind: CallKind) -> CallOptions {
    CallOptions::new(kind)
}

#[test]
fn a_request_sent_whole_is_the_bytes_of_the_steps() {
    let mut metadata = MetadataMap::new();
    metadata.insert("x-user", "ann").unwrap();
    let variants = [
        options(CallKind::Unary),
        options(CallKind::ServerStreaming),
        options(CallKind::Unary).with_metadata(metadata),
        options(CallKind::Unary).with_compression("gzip"),
    ];
    for (v, opts) in variants.into_iter().enumerate() {
        let mut whole = Pair::new(ClientConfig::default(), ServerConfig::default());
        let mut steps = Pair::new(ClientConfig::default(), ServerConfig::default());
        // Twice: the second call's head comes from the encoders' memos.
        for round in 0..2 {
            let message = Bytes::from(format!("request {v} {round}").repeat(20));
            let now = whole.clock.now;
            whole
                .client
                .start_call_with_message("/t.S/M", opts.clone(), message.clone(), now)
                .unwrap();
            let a = whole.client_bytes();
            let now = steps.clock.now;
            let call = steps
                .client
                .start_call("/t.S/M", opts.clone(), now)
                .unwrap();
            steps.client.send_message(call, message.clone()).unwrap();
            steps.client.half_close(call).unwrap();
            let b = steps.client_bytes();
            assert_eq!(a, b, "variant {v} round {round}");
            let stream = 2 * round + 1;
            let f = frames(&a);
            assert_eq!(f.len(), 2, "{f:?}");
            assert_eq!(f[0].0, "HEADERS");
            assert_eq!((f[0].1, f[0].2), (stream, false));
            assert_eq!(f[1].0, "DATA");
            assert_eq!((f[1].1, f[1].2), (stream, true));
            // The server reads the whole request.
            whole.server.receive(&a, now).unwrap();
            let ev = whole.server_events();
            let call = started(&ev)[0];
            let got = requests(&ev);
            assert_eq!(got, vec![message]);
            assert!(
                ev.iter()
                    .any(|e| matches!(e, ServerEvent::HalfClosed { .. }))
            );
            whole
                .server
                .send_status(call, Status::ok(), MetadataMap::new())
                .unwrap();
            whole.drive();
            steps.server.receive(&b, now).unwrap();
            let call = started(&steps.server_events())[0];
            steps
                .server
                .send_status(call, Status::ok(), MetadataMap::new())
                .unwrap();
            steps.drive();
            whole.client_events();
            steps.client_events();
        }
    }
}

/// What the server answers, step by step or whole.
#[derive(Clone)]
struct Answer {
    head_metadata: Option<MetadataMap>,
    status: Status,
    trailers: MetadataMap,
}

fn answer(p: &mut Pair, call: CallId, a: &Answer, message: Bytes, whole: bool) {
    if let Some(m) = &a.head_metadata {
        p.server.send_headers(call, m.clone()).unwrap();
    }
    if whole {
        p.server
            .send_response(call, message, a.status.clone(), a.trailers.clone())
            .unwrap();
    } else {
        p.server.send_message(call, message).unwrap();
        p.server
            .send_status(call, a.status.clone(), a.trailers.clone())
            .unwrap();
    }
}

#[test]
fn a_response_sent_whole_is_the_bytes_of_the_steps() {
    let mut head = MetadataMap::new();
    head.insert("x-served-by", "whole").unwrap();
    let mut trailers = MetadataMap::new();
    trailers.insert("x-seen", "yes").unwrap();
    let answers = [
        Answer {
            head_metadata: None,
            status: Status::ok(),
            trailers: MetadataMap::new(),
        },
        Answer {
            head_metadata: Some(head),
            status: Status::ok(),
            trailers: trailers.clone(),
        },
        Answer {
            head_metadata: None,
            status: Status::new(Code::NotFound, "no such thing"),
            trailers,
        },
    ];
    for compress in [false, true] {
        for (v, a) in answers.iter().enumerate() {
            let mut whole = Pair::new(ClientConfig::default(), ServerConfig::default());
            let mut steps = Pair::new(ClientConfig::default(), ServerConfig::default());
            for round in 0..2u32 {
                let mut opts = options(CallKind::Unary);
                if compress {
                    opts = opts.with_compression("gzip");
                }
                let request = Bytes::from_static(b"ping");
                let reply = Bytes::from(format!("reply {v} {round} ").repeat(30));
                let mut out = Vec::new();
                let mut calls = Vec::new();
                for (p, is_whole) in [(&mut whole, true), (&mut steps, false)] {
                    let now = p.clock.now;
                    let c = p
                        .client
                        .start_call_with_message("/t.S/M", opts.clone(), request.clone(), now)
                        .unwrap();
                    calls.push(c);
                    let bytes = p.client_bytes();
                    p.server.receive(&bytes, now).unwrap();
                    let call = started(&p.server_events())[0];
                    answer(p, call, a, reply.clone(), is_whole);
                    out.push(p.server_bytes());
                }
                assert_eq!(
                    out[0], out[1],
                    "compress {compress} answer {v} round {round}"
                );
                let f = frames(&out[0]);
                let kinds: Vec<(&str, bool)> = f.iter().map(|x| (x.0, x.2)).collect();
                assert_eq!(
                    kinds,
                    [("HEADERS", false), ("DATA", false), ("HEADERS", true)],
                    "{f:?}"
                );
                // The client sees the reply and the status.
                for (p, (bytes, call)) in [&mut whole, &mut steps]
                    .into_iter()
                    .zip(out.iter().zip(calls))
                {
                    p.client.receive(bytes, p.clock.now).unwrap();
                    let ev = p.client_events();
                    assert_eq!(messages_client(&ev, call), vec![reply.clone()]);
                    let (status, trailers) = finished(&ev, call).expect("finished");
                    assert_eq!(status.code(), a.status.code());
                    assert_eq!(trailers.get("x-seen"), a.trailers.get("x-seen"));
                    p.drive();
                }
            }
        }
    }
}

#[test]
fn a_response_to_a_client_still_sending_ends_with_a_reset() {
    let mut whole = Pair::new(ClientConfig::default(), ServerConfig::default());
    let mut steps = Pair::new(ClientConfig::default(), ServerConfig::default());
    let mut out = Vec::new();
    for (p, is_whole) in [(&mut whole, true), (&mut steps, false)] {
        let now = p.clock.now;
        let call = p
            .client
            .start_call("/t.S/Up", options(CallKind::ClientStreaming), now)
            .unwrap();
        p.client
            .send_message(call, Bytes::from_static(b"one"))
            .unwrap();
        let bytes = p.client_bytes();
        p.server.receive(&bytes, now).unwrap();
        let scall = started(&p.server_events())[0];
        let a = Answer {
            head_metadata: None,
            status: Status::ok(),
            trailers: MetadataMap::new(),
        };
        answer(p, scall, &a, Bytes::from_static(b"early"), is_whole);
        out.push(p.server_bytes());
        p.client.receive(&out[out.len() - 1], now).unwrap();
        let ev = p.client_events();
        assert_eq!(
            messages_client(&ev, call),
            vec![Bytes::from_static(b"early")]
        );
        assert!(finished(&ev, call).expect("finished").0.is_ok());
    }
    assert_eq!(out[0], out[1]);
    let f = frames(&out[0]);
    assert_eq!(f.last().map(|x| x.0), Some("RST_STREAM"), "{f:?}");
}

#[test]
fn a_request_larger_than_the_window_is_queued_and_arrives_whole() {
    let mut server = ServerConfig::default();
    server.h2.initial_stream_window = 1000;
    let mut p = Pair::new(ClientConfig::default(), server);
    let message = Bytes::from(vec![7u8; 5000]);
    let now = p.clock.now;
    let call = start_whole(&mut p, message.clone());
    let first = p.client_bytes();
    let f = frames(&first);
    assert_eq!(f[0].0, "HEADERS");
    assert_eq!((f[1].0, f[1].2, f[1].3), ("DATA", false, 1000), "{f:?}");
    p.server.receive(&first, now).unwrap();
    p.drive();
    let ev = p.server_events();
    let scall = started(&ev)[0];
    let got = requests(&ev);
    assert_eq!(got, vec![message.clone()]);
    // The reply is larger than the client's window too.
    p.server
        .send_response(scall, message.clone(), Status::ok(), MetadataMap::new())
        .unwrap();
    expect_ok_reply(&mut p, call, &message);
}

#[test]
fn a_response_larger_than_the_window_is_queued_and_arrives_whole() {
    let mut client = ClientConfig::default();
    client.h2.initial_stream_window = 700;
    let mut p = Pair::new(client, ServerConfig::default());
    let now = p.clock.now;
    let call = start_whole(&mut p, "q");
    p.drive();
    let scall = started(&p.server_events())[0];
    let reply = Bytes::from(vec![9u8; 3000]);
    p.server
        .send_response(scall, reply.clone(), Status::ok(), MetadataMap::new())
        .unwrap();
    let first = p.server_bytes();
    let f = frames(&first);
    assert_eq!(f[0].0, "HEADERS");
    assert_eq!((f[1].0, f[1].2, f[1].3), ("DATA", false, 700), "{f:?}");
    assert_eq!(f.len(), 2, "the trailers wait behind the queued message");
    p.client.receive(&first, now).unwrap();
    expect_ok_reply(&mut p, call, &reply);
}

#[test]
fn calls_waiting_for_a_stream_go_out_whole_when_one_frees() {
    let mut server = ServerConfig::default();
    server.h2.max_concurrent_streams = 1;
    let mut p = Pair::new(ClientConfig::default(), server);
    let now = p.clock.now;
    let calls: Vec<CallId> = (0..3)
        .map(|i| start_whole(&mut p, format!("req {i}")))
        .collect();
    let mut done = Vec::new();
    for i in 0..3u32 {
        let bytes = p.client_bytes();
        let f = frames(&bytes);
        let stream = 2 * i + 1;
        assert_eq!(
            f.iter().map(|x| (x.0, x.1, x.2)).collect::<Vec<_>>(),
            [("HEADERS", stream, false), ("DATA", stream, true)],
            "call {i}: {f:?}"
        );
        p.server.receive(&bytes, now).unwrap();
        let ev = p.server_events();
        let scall = started(&ev)[0];
        let req = Bytes::from(format!("req {i}"));
        assert_eq!(requests(&ev), vec![req.clone()]);
        p.server
            .send_response(scall, req, Status::ok(), MetadataMap::new())
            .unwrap();
        let back = p.server_bytes();
        p.client.receive(&back, now).unwrap();
        done.extend(p.client_events());
    }
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(
            messages_client(&done, call),
            vec![Bytes::from(format!("req {i}"))]
        );
        assert!(finished(&done, call).expect("finished").0.is_ok());
    }
}

#[test]
fn a_call_cancelled_before_its_bytes_leave_is_reset_after_them() {
    let mut p = Pair::new(ClientConfig::default(), ServerConfig::default());
    let now = p.clock.now;
    let call = start_whole(&mut p, "x");
    p.client.cancel(call);
    let bytes = p.client_bytes();
    let f = frames(&bytes);
    assert_eq!(
        f.iter().map(|x| x.0).collect::<Vec<_>>(),
        ["HEADERS", "DATA", "RST_STREAM"],
        "{f:?}"
    );
    p.server.receive(&bytes, now).unwrap();
    let ev = p.server_events();
    assert_eq!(started(&ev).len(), 1);
    assert!(
        ev.iter()
            .any(|e| matches!(e, ServerEvent::Cancelled { .. })),
        "{ev:?}"
    );
    // The connection goes on.
    let call = start_whole(&mut p, "y");
    p.drive();
    let scall = started(&p.server_events())[0];
    p.server
        .send_response(scall, Bytes::from("z"), Status::ok(), MetadataMap::new())
        .unwrap();
    p.drive();
    let ev = p.client_events();
    assert_eq!(messages_client(&ev, call), vec![Bytes::from("z")]);
}

/// Frames written whole wait in the same buffer as control frames (so that
/// the order of everything is kept), but they are the application's, not
/// answers the peer made us queue: they must not count against
/// `max_pending_control`, whose overflow ends the connection.
#[test]
fn frames_written_whole_do_not_count_as_pending_control() {
    let mut client = ClientConfig::default();
    client.h2.max_pending_control = 64;
    let mut p = Pair::new(client, ServerConfig::default());
    let now = p.clock.now;
    let call = start_whole(&mut p, vec![1u8; 10_000]);
    // A PING arrives before the client's output is written.
    let mut ping = BytesMut::new();
    Ping::new(*b"12345678").encode(&mut ping);
    p.client
        .receive(&ping, now)
        .expect("a 17-byte answer fits the limit");
    let bytes = p.client_bytes();
    let kinds: Vec<&str> = frames(&bytes).iter().map(|x| x.0).collect();
    assert_eq!(kinds, ["HEADERS", "DATA", "PING"]);
    p.server.receive(&bytes, now).unwrap();
    let scall = started(&p.server_events())[0];
    p.server
        .send_response(scall, Bytes::from("ok"), Status::ok(), MetadataMap::new())
        .unwrap();
    p.drive();
    let ev = p.client_events();
    assert!(finished(&ev, call).expect("finished").0.is_ok());
}

/// Streams open in identifier order on the wire. A call started step by
/// step has its HEADERS queued; a call sent whole right after must not
/// overtake it, or the server sees stream 3 before stream 1 and ends the
/// connection (a fuzz run found this).
#[test]
fn a_call_sent_whole_does_not_overtake_a_queued_opening() {
    let mut p = Pair::new(ClientConfig::default(), ServerConfig::default());
    let now = p.clock.now;
    let first = p
        .client
        .start_call("/t.S/M", options(CallKind::BidiStreaming), now)
        .unwrap();
    let second = start_whole(&mut p, "b");
    let bytes = p.client_bytes();
    let opened: Vec<u32> = frames(&bytes)
        .iter()
        .filter(|f| f.0 == "HEADERS")
        .map(|f| f.1)
        .collect();
    assert_eq!(opened, [1, 3]);
    p.server
        .receive(&bytes, now)
        .expect("streams arrive in order");
    let ev = p.server_events();
    assert_eq!(started(&ev).len(), 2);
    for call in started(&ev) {
        p.server
            .send_response(call, Bytes::from("r"), Status::ok(), MetadataMap::new())
            .unwrap();
    }
    p.drive();
    let ev = p.client_events();
    for call in [first, second] {
        assert_eq!(messages_client(&ev, call), vec![Bytes::from("r")]);
    }
    assert!(finished(&ev, second).expect("finished").0.is_ok());
}

/// A head larger than the peer's frame size goes as HEADERS and
/// CONTINUATION frames, whole or step by step alike.
#[test]
fn a_large_head_sent_whole_is_split_into_continuations() {
    let mut server = ServerConfig::default();
    server.h2.max_header_list_size = 64 << 10;
    let big = "v".repeat(40_000);
    let mut metadata = MetadataMap::new();
    metadata.insert("x-big", big.as_str()).unwrap();
    let opts = options(CallKind::Unary).with_metadata(metadata);
    let mut out = Vec::new();
    for whole in [true, false] {
        let mut p = Pair::new(ClientConfig::default(), server.clone());
        let now = p.clock.now;
        if whole {
            p.client
                .start_call_with_message("/t.S/M", opts.clone(), Bytes::from("m"), now)
                .unwrap();
        } else {
            let call = p.client.start_call("/t.S/M", opts.clone(), now).unwrap();
            p.client.send_message(call, Bytes::from("m")).unwrap();
            p.client.half_close(call).unwrap();
        }
        let bytes = p.client_bytes();
        p.server.receive(&bytes, now).unwrap();
        let ev = p.server_events();
        let head = ev
            .iter()
            .find_map(|e| match e {
                ServerEvent::CallStarted { head, .. } => Some(head.clone()),
                _ => None,
            })
            .expect("call started");
        assert_eq!(head.metadata.get("x-big"), Some(big.as_str()));
        out.push(bytes);
    }
    assert_eq!(out[0], out[1]);
    let kinds: Vec<&str> = frames(&out[0]).iter().map(|f| f.0).collect();
    assert_eq!(kinds, ["HEADERS", "CONTINUATION", "CONTINUATION", "DATA"]);
}

/// A request queued whole (the windows too small to write it at once) is
/// taken by its new stream whatever `max_send_buffer` says, as the first
/// send on any stream is; a review found that with a limit of 0 the
/// stream was opened and then its request refused, leaving a stream open
/// for a call already failed.
#[test]
fn a_request_queued_whole_is_never_refused() {
    let mut client = ClientConfig::default();
    client.h2.max_send_buffer = 0;
    let mut server = ServerConfig::default();
    server.h2.initial_stream_window = 10;
    let mut p = Pair::new(client, server);
    for len in [0usize, 100] {
        let message = Bytes::from(vec![3u8; len]);
        let call = start_whole(&mut p, message.clone());
        let mut ev = Vec::new();
        for _ in 0..10 {
            p.drive();
            ev.extend(p.server_events());
        }
        assert_eq!(requests(&ev), vec![message.clone()], "{len} B");
        let scall = started(&ev)[0];
        p.server
            .send_response(scall, message.clone(), Status::ok(), MetadataMap::new())
            .unwrap();
        expect_ok_reply(&mut p, call, &message);
        assert_eq!(p.client.active_calls(), 0);
    }
}

/// Frames written whole are committed, like bytes in a socket's buffer: a
/// GOAWAY that arrives before they are transmitted ends the call with
/// UNAVAILABLE (the server will not process it) but does not take them
/// back, since their header block already changed the HPACK state.
#[test]
fn a_goaway_after_a_whole_start_fails_the_call_but_not_the_bytes() {
    let mut p = Pair::new(ClientConfig::default(), ServerConfig::default());
    let (call, ev) = whole_start_refused(&mut p);
    let (status, _) = finished(&ev, call).expect("finished");
    assert_eq!(status.code(), Code::Unavailable);
    let kinds: Vec<(&str, u32)> = frames(&p.client_bytes())
        .iter()
        .map(|f| (f.0, f.1))
        .collect();
    assert_eq!(kinds, [("HEADERS", 1), ("DATA", 1)]);
}

/// The same on the server: a response written whole still goes out when
/// the client's RST_STREAM arrives before it is transmitted, and our
/// client, which reset the stream, ignores it; the connection goes on.
#[test]
fn a_whole_response_to_a_stream_reset_meanwhile_is_ignored_by_the_client() {
    let mut p = Pair::new(ClientConfig::default(), ServerConfig::default());
    let now = p.clock.now;
    let call = p
        .client
        .start_call("/t.S/Bidi", options(CallKind::BidiStreaming), now)
        .unwrap();
    p.client.send_message(call, Bytes::from("q")).unwrap();
    p.drive();
    let scall = started(&p.server_events())[0];
    p.server
        .send_response(scall, Bytes::from("r"), Status::ok(), MetadataMap::new())
        .unwrap();
    p.client.cancel(call);
    let reset = p.client_bytes();
    p.server.receive(&reset, now).unwrap();
    let late = p.server_bytes();
    let kinds: Vec<&str> = frames(&late).iter().map(|f| f.0).collect();
    assert_eq!(kinds, ["HEADERS", "DATA", "HEADERS"]);
    p.client
        .receive(&late, now)
        .expect("late frames are ignored");
    let ev = p.client_events();
    let (status, _) = finished(&ev, call).expect("finished");
    assert_eq!(status.code(), Code::Cancelled);
    assert!(messages_client(&ev, call).is_empty());
    // Nothing broke: the next call goes through.
    let next = start_whole(&mut p, "n");
    p.drive();
    let ev = p.server_events();
    reply_ok(&mut p, &ev, next, "m");
}

/// A client that shuts down right after starting a call (its HEADERS still
/// queued) sends them before its GOAWAY: our server takes a client's
/// GOAWAY to mean that no more streams are coming and closes once idle,
/// so a GOAWAY that overtook them lost the call. (The `pair` fuzz target
/// found it once it could let output wait.)
#[test]
fn a_client_goaway_does_not_overtake_a_queued_opening() {
    let mut p = Pair::new(ClientConfig::default(), ServerConfig::default());
    let now = p.clock.now;
    let call = start_queued(&mut p, "q");
    p.client.shutdown(now);
    let bytes = p.client_bytes();
    let kinds: Vec<&str> = frames(&bytes).iter().map(|f| f.0).collect();
    assert_eq!(kinds, ["HEADERS", "GOAWAY", "DATA"]);
    p.server.receive(&bytes, now).unwrap();
    let ev = p.server_events();
    assert_eq!(requests(&ev), vec![Bytes::from("q")]);
    reply_ok(&mut p, &ev, call, "r");
}

/// A response written whole can close the last stream of a connection that
/// is shutting down, and so the connection: its Closed event comes at
/// once, as it does when `poll_transmit` writes the last frames of a
/// queued response (the `pair` fuzz target found it missing).
#[test]
fn a_whole_response_that_ends_a_draining_connection_reports_closed() {
    let mut p = Pair::new(ClientConfig::default(), ServerConfig::default());
    let now = p.clock.now;
    let call = start_whole(&mut p, "q");
    p.drive();
    let scall = started(&p.server_events())[0];
    p.server.shutdown(now);
    p.drive();
    assert!(!p.server.is_closed(), "a call is still in progress");
    assert!(p.server_events().is_empty());
    p.server
        .send_response(scall, Bytes::from("r"), Status::ok(), MetadataMap::new())
        .unwrap();
    assert!(p.server.is_closed());
    let ev = p.server_events();
    assert!(
        ev.iter()
            .any(|e| matches!(e, ServerEvent::Closed { error: None })),
        "{ev:?}"
    );
    expect_ok_reply(&mut p, call, &Bytes::from("r"));
}

/// The same race from the server's side: its graceful shutdown sends its
/// final GOAWAY when the client answers its PING, counting the streams
/// opened before. The answer must not overtake the opening of a call the
/// client started before it read the first GOAWAY (a review found the call
/// lost: the server closed with last stream 0 and ignored it).
#[test]
fn a_ping_answer_does_not_overtake_a_queued_opening() {
    let mut p = Pair::new(ClientConfig::default(), ServerConfig::default());
    let now = p.clock.now;
    let call = start_queued(&mut p, "q");
    p.server.shutdown(now);
    let announce = p.server_bytes();
    p.client.receive(&announce, now).unwrap();
    let bytes = p.client_bytes();
    let kinds: Vec<&str> = frames(&bytes).iter().map(|f| f.0).collect();
    assert_eq!(kinds, ["HEADERS", "PING", "DATA"]);
    p.server.receive(&bytes, now).unwrap();
    let ev = p.server_events();
    reply_ok(&mut p, &ev, call, "r");
    p.drive();
    assert!(p.server.is_closed() && p.client.is_closed());
}

/// A GOAWAY that refuses a stream reports the refusal, not just the
/// connection's end, even when the refused stream was the last one.
#[test]
fn a_refused_call_is_told_so() {
    let mut p = Pair::new(ClientConfig::default(), ServerConfig::default());
    let (call, ev) = whole_start_refused(&mut p);
    let (status, _) = finished(&ev, call).expect("finished");
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("0x7"), "refused: {status}");
}

/// Calls still waiting for a stream when the client shuts down end at once:
/// no stream opens after its GOAWAY.
#[test]
fn waiting_calls_end_when_the_client_shuts_down() {
    let mut server = ServerConfig::default();
    server.h2.max_concurrent_streams = 1;
    let mut p = Pair::new(ClientConfig::default(), server);
    let now = p.clock.now;
    let first = p
        .client
        .start_call("/t.S/M", options(CallKind::BidiStreaming), now)
        .unwrap();
    let waiting = start_whole(&mut p, "w");
    p.client.shutdown(now);
    let ev = p.client_events();
    let (status, _) = finished(&ev, waiting).expect("the waiting call ended");
    assert_eq!(status.code(), Code::Unavailable);
    assert!(finished(&ev, first).is_none(), "the started call goes on");
    p.drive();
    let ev = p.server_events();
    reply_ok(&mut p, &ev, first, "r");
}
