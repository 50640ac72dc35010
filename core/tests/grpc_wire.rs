//! What we put on the wire for a unary call, frame by frame, with header
//! blocks decoded to field lists, checked against gRPC's PROTOCOL-HTTP2.md.
//! The expected fields are the default configuration's, which advertises
//! gzip.
#![cfg(feature = "gzip")]

mod support;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use grpc_sansio::call::CallId;
use grpc_sansio::client::{CallOptions, ClientConfig, ClientConnection};
use grpc_sansio::frame::{Frame, FrameDecoder};
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::hpack;
use grpc_sansio::server::{ServerConfig, ServerConnection, ServerEvent};
use support::Clock;

/// Decodes one side's output into a transcript.
struct Tap {
    frames: FrameDecoder,
    hpack: hpack::Decoder,
    buf: BytesMut,
}

#[derive(Debug, PartialEq)]
enum Line {
    Headers(u32, Vec<(String, String)>, bool),
    Data(u32, Vec<u8>, bool),
    Other(&'static str),
}

impl Tap {
    fn new() -> Self {
        Tap {
            frames: FrameDecoder::new(),
            hpack: hpack::Decoder::new(4096),
            buf: BytesMut::new(),
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Vec<Line> {
        self.buf.extend_from_slice(bytes);
        if self.buf.starts_with(grpc_sansio::frame::PREFACE) {
            let _ = self.buf.split_to(grpc_sansio::frame::PREFACE.len());
        }
        let mut out = Vec::new();
        while let Ok(Some(f)) = self.frames.decode(&mut self.buf) {
            out.push(match f {
                Frame::Headers(h) => {
                    let mut fields = Vec::new();
                    self.hpack
                        .decode(&h.fragment, 1 << 20, &mut fields)
                        .unwrap();
                    Line::Headers(
                        h.stream_id.value(),
                        support::as_pairs(&fields),
                        h.end_stream,
                    )
                }
                Frame::Data(d) => Line::Data(d.stream_id.value(), d.data.to_vec(), d.end_stream),
                Frame::Settings(_) => Line::Other("SETTINGS"),
                Frame::WindowUpdate(_) => Line::Other("WINDOW_UPDATE"),
                Frame::RstStream(_) => Line::Other("RST_STREAM"),
                Frame::Ping(_) => Line::Other("PING"),
                Frame::GoAway(_) => Line::Other("GOAWAY"),
                _ => Line::Other("other"),
            });
        }
        out
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// A client with this authority and user agent and a server, on a
/// virtual clock's first instant.
fn wired(authority: &str, user_agent: &str) -> (Instant, ClientConnection, ServerConnection) {
    let now = Clock::new().now;
    let mut config = ClientConfig::default();
    config.authority = authority.into();
    config.user_agent = user_agent.into();
    let client = ClientConnection::new(config, now);
    (
        now,
        client,
        ServerConnection::new(ServerConfig::default(), now),
    )
}

/// Feeds `bytes` to the server; the call they start.
fn arrive(server: &mut ServerConnection, bytes: &[u8], now: Instant) -> CallId {
    server.receive(bytes, now).unwrap();
    let mut started = None;
    while let Some(e) = server.poll_event() {
        if let ServerEvent::CallStarted { call, .. } = e {
            started = Some(call);
        }
    }
    started.expect("a call started")
}

#[test]
fn unary_call_on_the_wire() {
    let (now, mut client, mut server) = wired("example.test:50051", "grpc-sansio/test");
    let (mut to_server, mut to_client) = (Tap::new(), Tap::new());

    let mut md = MetadataMap::new();
    md.insert("x-user", "alice").unwrap();
    md.insert_bin("x-id-bin", Bytes::from_static(&[0xfb, 0xff]))
        .unwrap();
    let opts = CallOptions::unary()
        .with_timeout(now, Duration::from_millis(1500))
        .with_metadata(md);
    let call = client
        .start_call("/helloworld.Greeter/SayHello", opts, now)
        .unwrap();
    client
        .send_message(call, Bytes::from_static(b"\x0a\x05world"))
        .unwrap();
    client.half_close(call).unwrap();

    let mut out = BytesMut::new();
    while client.poll_transmit(&mut out) > 0 {}
    let lines: Vec<Line> = to_server
        .feed(&out)
        .into_iter()
        .filter(|l| !matches!(l, Line::Other(_)))
        .collect();
    assert_eq!(
        lines,
        vec![
            Line::Headers(
                1,
                pairs(&[
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":path", "/helloworld.Greeter/SayHello"),
                    (":authority", "example.test:50051"),
                    ("te", "trailers"),
                    ("content-type", "application/grpc"),
                    ("user-agent", "grpc-sansio/test"),
                    ("grpc-accept-encoding", "gzip"),
                    ("grpc-timeout", "1500000u"),
                    ("x-user", "alice"),
                    ("x-id-bin", "+/8"),
                ]),
                false
            ),
            // Prefix, payload and END_STREAM in one DATA frame.
            Line::Data(1, b"\x00\x00\x00\x00\x07\x0a\x05world".to_vec(), true),
        ]
    );

    let scall = arrive(&mut server, &out, now);
    let mut initial = MetadataMap::new();
    initial.insert("x-server", "s1").unwrap();
    server.send_headers(scall, initial).unwrap();
    server
        .send_message(scall, Bytes::from_static(b"\x0a\x0bHello world"))
        .unwrap();
    let mut trailing = MetadataMap::new();
    trailing.insert("x-cost", "3").unwrap();
    server
        .send_status(scall, Status::new(Code::Ok, ""), trailing)
        .unwrap();
    let mut back = BytesMut::new();
    while server.poll_transmit(&mut back) > 0 {}
    let lines: Vec<Line> = to_client
        .feed(&back)
        .into_iter()
        .filter(|l| !matches!(l, Line::Other(_)))
        .collect();
    assert_eq!(
        lines,
        vec![
            Line::Headers(
                1,
                pairs(&[
                    (":status", "200"),
                    ("content-type", "application/grpc"),
                    ("grpc-accept-encoding", "gzip"),
                    ("x-server", "s1"),
                ]),
                false
            ),
            Line::Data(
                1,
                b"\x00\x00\x00\x00\x0d\x0a\x0bHello world".to_vec(),
                false
            ),
            Line::Headers(1, pairs(&[("grpc-status", "0"), ("x-cost", "3")]), true),
        ]
    );
}

#[test]
fn trailers_only_error_on_the_wire() {
    let clock = Clock::new();
    let now = clock.now;
    let mut client = ClientConnection::new(ClientConfig::default(), now);
    let mut server = ServerConnection::new(ServerConfig::default(), now);
    let mut tap = Tap::new();
    let call = client
        .start_call("/a.B/C", CallOptions::unary(), now)
        .unwrap();
    client.send_message(call, Bytes::new()).unwrap();
    // The client has not half-closed: the server answers early.
    let mut out = BytesMut::new();
    while client.poll_transmit(&mut out) > 0 {}
    server.receive(&out, now).unwrap();
    let scall = std::iter::from_fn(|| server.poll_event())
        .find_map(|e| match e {
            ServerEvent::CallStarted { call, .. } => Some(call),
            _ => None,
        })
        .unwrap();
    server
        .send_status(
            scall,
            Status::new(Code::NotFound, "no such user: 100%"),
            MetadataMap::new(),
        )
        .unwrap();
    let mut back = BytesMut::new();
    while server.poll_transmit(&mut back) > 0 {}
    let lines: Vec<Line> = tap
        .feed(&back)
        .into_iter()
        .filter(|l| !matches!(l, Line::Other("SETTINGS") | Line::Other("WINDOW_UPDATE")))
        .collect();
    assert_eq!(
        lines,
        vec![
            Line::Headers(
                1,
                pairs(&[
                    (":status", "200"),
                    ("content-type", "application/grpc"),
                    ("grpc-status", "5"),
                    ("grpc-message", "no such user: 100%25"),
                ]),
                true
            ),
            // The client was still sending: told to stop, without error.
            Line::Other("RST_STREAM"),
        ]
    );
}

/// Calls with default options share one request head per path, and plain
/// responses share their head and trailers; calls with options of their
/// own, and the calls after them, still put exactly their own fields on
/// the wire (each block decoded by a peer decoder that follows the whole
/// connection).
#[test]
fn shared_heads_on_the_wire() {
    let (now, mut client, mut server) = wired("example.test", "ua/1");
    let (mut to_server, mut to_client) = (Tap::new(), Tap::new());
    let head = |path: &str, ct: &str, extra: &[(&str, &str)]| {
        let mut v = pairs(&[
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "example.test"),
            ("te", "trailers"),
            ("content-type", ct),
            ("user-agent", "ua/1"),
            ("grpc-accept-encoding", "gzip"),
        ]);
        v.extend(pairs(extra));
        v
    };
    // (path, content subtype, request metadata, status message, trailer,
    // timeout in ms and as sent: calls with default options but a
    // deadline send the path's shared head and their own grpc-timeout)
    type Pairs<'a> = &'a [(&'a str, &'a str)];
    let calls: [(&str, &str, Pairs, &str, Pairs, u64); 12] = [
        ("/a.S/A", "", &[], "", &[], 0),
        ("/a.S/A", "", &[], "", &[], 0),
        ("/a.S/B", "", &[], "", &[], 0),
        ("/a.S/A", "proto", &[], "", &[], 0),
        ("/a.S/A", "", &[("x-k", "v")], "", &[("x-t", "1")], 0),
        ("/a.S/A", "", &[], "not so fast", &[], 0),
        ("/a.S/A", "", &[], "", &[], 0),
        ("/a.S/A", "", &[], "", &[], 5000),
        ("/a.S/A", "", &[], "", &[], 250),
        ("/a.S/B", "", &[], "", &[], 7),
        ("/a.S/A", "", &[("x-k", "w")], "", &[], 1500),
        ("/a.S/A", "", &[], "", &[], 1500),
    ];
    for (i, (path, subtype, md, message, trailer, ms)) in calls.into_iter().enumerate() {
        let stream = 1 + 2 * i as u32;
        let mut opts = CallOptions::unary();
        if ms > 0 {
            opts = opts.with_timeout(now, Duration::from_millis(ms));
        }
        if !subtype.is_empty() {
            opts.content_subtype = Some(subtype.to_string());
        }
        let mut meta = MetadataMap::new();
        for (k, v) in md {
            meta.insert(k, v).unwrap();
        }
        opts.metadata = meta;
        let call = client.start_call(path, opts, now).unwrap();
        client.send_message(call, Bytes::from_static(b"q")).unwrap();
        client.half_close(call).unwrap();
        let mut out = BytesMut::new();
        while client.poll_transmit(&mut out) > 0 {}
        let ct = content_type(subtype);
        let lines = header_lines(&mut to_server, &out);
        let mut want = head(path, &ct, &[]);
        if ms > 0 {
            // The finest unit whose count fits eight digits.
            let sent = match ms * 1_000_000 {
                ns if ns < 100_000_000 => format!("{ns}n"),
                _ => format!("{}u", ms * 1000),
            };
            want.extend(pairs(&[("grpc-timeout", &sent)]));
        }
        want.extend(pairs(md));
        assert_eq!(lines, vec![Line::Headers(stream, want, false)], "call {i}");

        let scall = arrive(&mut server, &out, now);
        server
            .send_message(scall, Bytes::from_static(b"r"))
            .unwrap();
        let mut trailing = MetadataMap::new();
        for (k, v) in trailer {
            trailing.insert(k, v).unwrap();
        }
        let code = if message.is_empty() {
            Code::Ok
        } else {
            Code::ResourceExhausted
        };
        server
            .send_status(scall, Status::new(code, message), trailing)
            .unwrap();
        let mut back = BytesMut::new();
        while server.poll_transmit(&mut back) > 0 {}
        let lines = header_lines(&mut to_client, &back);
        let mut trailers = if message.is_empty() {
            pairs(&[("grpc-status", "0")])
        } else {
            pairs(&[("grpc-status", "8"), ("grpc-message", message)])
        };
        trailers.extend(pairs(trailer));
        let response = pairs(&[
            (":status", "200"),
            ("content-type", &ct),
            ("grpc-accept-encoding", "gzip"),
        ]);
        assert_eq!(
            lines,
            vec![
                Line::Headers(stream, response, false),
                Line::Headers(stream, trailers, true),
            ],
            "call {i}"
        );
        client.receive(&back, now).unwrap();
        while client.poll_event().is_some() {}
    }
}

/// Whole requests (the client's usual-call path) answered by whole
/// responses (the server's head found by request-head address), the
/// content-type alternating between calls and repeating: each response
/// head echoes its own request's content-type, every time.
#[test]
fn whole_responses_echo_each_requests_content_type() {
    let (now, mut client, mut server) = wired("example.test", "ua/1");
    let mut to_client = Tap::new();
    let subtypes = [
        "", "", "proto", "proto", "", "json", "", "", "json", "proto",
    ];
    for (i, subtype) in subtypes.into_iter().enumerate() {
        let stream = 1 + 2 * i as u32;
        let mut opts = CallOptions::unary();
        if !subtype.is_empty() {
            opts.content_subtype = Some(subtype.to_string());
        }
        let call = client
            .start_call_with_message("/a.S/A", opts, Bytes::from_static(b"q"), now)
            .unwrap();
        let mut out = BytesMut::new();
        while client.poll_transmit(&mut out) > 0 {}
        let scall = arrive(&mut server, &out, now);
        server
            .send_response(
                scall,
                Bytes::from_static(b"r"),
                Status::ok(),
                MetadataMap::new(),
            )
            .unwrap();
        let mut back = BytesMut::new();
        while server.poll_transmit(&mut back) > 0 {}
        let ct = content_type(subtype);
        let lines = header_lines(&mut to_client, &back);
        let response = pairs(&[
            (":status", "200"),
            ("content-type", &ct),
            ("grpc-accept-encoding", "gzip"),
        ]);
        assert_eq!(
            lines,
            vec![
                Line::Headers(stream, response, false),
                Line::Headers(stream, pairs(&[("grpc-status", "0")]), true),
            ],
            "call {i}"
        );
        client.receive(&back, now).unwrap();
        let mut ok = false;
        while let Some(e) = client.poll_event() {
            if let grpc_sansio::client::ClientEvent::Finished {
                call: c, status, ..
            } = e
            {
                ok = c == call && status.is_ok();
            }
        }
        assert!(ok, "call {i} finished OK");
    }
}

/// The content-type a call with content subtype `subtype` sends and gets.
fn content_type(subtype: &str) -> String {
    if subtype.is_empty() {
        "application/grpc".to_string()
    } else {
        format!("application/grpc+{subtype}")
    }
}

/// The HEADERS frames among `bytes`, as `tap` reads them.
fn header_lines(tap: &mut Tap, bytes: &[u8]) -> Vec<Line> {
    tap.feed(bytes)
        .into_iter()
        .filter(|l| matches!(l, Line::Headers(..)))
        .collect()
}
