//! Seed generator for the whole-connection fuzz targets
//! (`server_connection`, `client_connection`, `pair`).
//!
//! Not a fuzz target: the `tests` crate includes this file and runs it as
//! an ignored test, which rewrites the `seed_*` files of
//! `fuzz/corpus/{server_connection,client_connection,pair}/`:
//!
//! ```text
//! cargo test -p grpc-sansio-tests --test fuzz_replay_connections -- --ignored write_connection_seeds
//! ```
//!
//! Server and client seeds are captured from a real client/server pair of
//! our own: a [`Recorder`] drives both, and writes what one side received
//! as the "peer bytes" operations of the other side's target, with the
//! application actions encoded as that target's operations, so that the
//! target replays the session exactly. A few seeds come from a raw HTTP/2
//! peer that sends requests or responses gRPC does not accept. Pair seeds
//! are scripts written by hand in the `pair` target's format.
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use grpc_sansio::call::{CallId, CallKind};
use grpc_sansio::client::{CallOptions, ClientConfig, ClientConnection, ClientEvent};
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::h2;
use grpc_sansio::hpack::HeaderField;
use grpc_sansio::server::{ServerConfig, ServerConnection, ServerEvent};

/// `server_connection` flags: no injected preface (the capture has it),
/// eager flow-control release, stream limit 100.
const SERVER_FLAGS: u8 = 0x04 | 0x18;
/// `client_connection` flags: no injected SETTINGS, eager release.
const CLIENT_FLAGS: u8 = 0x04;

/// The client target's paths, by the index its start operation encodes.
const CLIENT_PATHS: [&str; 3] = [
    "/helloworld.Greeter/SayHello",
    "/grpc.testing.TestService/FullDuplexCall",
    "/a/b",
];

fn kind_bits(kind: CallKind) -> u8 {
    match kind {
        CallKind::Unary => 0,
        CallKind::ClientStreaming => 1,
        CallKind::ServerStreaming => 2,
        CallKind::BidiStreaming => 3,
    }
}

fn zeros(len: usize) -> Bytes {
    Bytes::from(vec![0u8; len])
}

/// Appends one "peer bytes" operation per 64 KiB of `bytes`.
fn peer_bytes(script: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in bytes.chunks(u16::MAX as usize) {
        script.push(0x00);
        script.extend_from_slice(&(chunk.len() as u16).to_le_bytes());
        script.extend_from_slice(chunk);
    }
}

/// A client/server pair that records, as it goes, the input of the
/// `server_connection` target (what the server received, and the
/// handler's actions) and of the `client_connection` target (what the
/// client received, and the application's actions).
pub struct Recorder {
    client: ClientConnection,
    server: ServerConnection,
    now: Instant,
    /// Live calls in each harness's order (ids sorted).
    c_live: Vec<CallId>,
    s_live: Vec<CallId>,
    pub server_script: Vec<u8>,
    pub client_script: Vec<u8>,
}

impl Recorder {
    pub fn new() -> Self {
        let now = Instant::now();
        let mut server_config = ServerConfig::default();
        server_config.h2.max_concurrent_streams = 100;
        let mut r = Recorder {
            client: ClientConnection::new(ClientConfig::default(), now),
            server: ServerConnection::new(server_config, now),
            now,
            c_live: Vec::new(),
            s_live: Vec::new(),
            server_script: vec![SERVER_FLAGS],
            client_script: vec![CLIENT_FLAGS],
        };
        r.exchange();
        r
    }

    fn events(&mut self) {
        while let Some(ev) = self.client.poll_event() {
            match ev {
                ClientEvent::Message { call, flow_len, .. } => {
                    self.client.release_capacity(call, flow_len);
                }
                ClientEvent::Finished { call, .. } => self.c_live.retain(|c| *c != call),
                _ => {}
            }
        }
        while let Some(ev) = self.server.poll_event() {
            match ev {
                ServerEvent::CallStarted { call, .. } => {
                    self.s_live.push(call);
                    self.s_live.sort();
                }
                ServerEvent::Message { call, flow_len, .. } => {
                    self.server.release_capacity(call, flow_len);
                }
                ServerEvent::Cancelled { call, .. } => self.s_live.retain(|c| *c != call),
                _ => {}
            }
        }
    }

    /// Deliver everything both ways until both sides are quiet.
    pub fn exchange(&mut self) {
        loop {
            let mut a = BytesMut::new();
            while self.client.poll_transmit(&mut a) > 0 {}
            self.events();
            if !a.is_empty() {
                peer_bytes(&mut self.server_script, &a);
                let _ = self.server.receive(&a, self.now);
                self.events();
            }
            let mut b = BytesMut::new();
            while self.server.poll_transmit(&mut b) > 0 {}
            self.events();
            if !b.is_empty() {
                peer_bytes(&mut self.client_script, &b);
                let _ = self.client.receive(&b, self.now);
                self.events();
            }
            if a.is_empty() && b.is_empty() {
                return;
            }
        }
    }

    /// Start a call (client target opcode 8), optionally with one message
    /// and half-close.
    pub fn start(&mut self, path: usize, kind: CallKind, message: bool, half_close: bool) {
        let mut op = 8;
        if message {
            op |= 0x10;
        }
        if half_close {
            op |= 0x20;
        }
        let b = kind_bits(kind) | ((path as u8) << 5);
        self.client_script.extend_from_slice(&[op, b]);
        let call = self
            .client
            .start_call(CLIENT_PATHS[path], CallOptions::new(kind), self.now)
            .expect("call starts");
        self.c_live.push(call);
        if message {
            let _ = self
                .client
                .send_message(call, Bytes::from_static(b"request"));
        }
        if half_close {
            let _ = self.client.half_close(call);
        }
        self.events();
    }

    fn c_index(&self, call: usize) -> u8 {
        assert!(call < self.c_live.len(), "no such client call");
        call as u8
    }

    fn s_index(&self, call: usize) -> u8 {
        assert!(call < self.s_live.len(), "no such server call");
        call as u8
    }

    /// The client sends a message of `len` zeros (`len` a multiple of 4).
    pub fn client_send(&mut self, call: usize, len: u16) {
        let i = self.c_index(call);
        let wire = len << 2;
        self.client_script.extend_from_slice(&[10, i]);
        self.client_script.extend_from_slice(&wire.to_le_bytes());
        let _ = self
            .client
            .send_message(self.c_live[call], zeros(usize::from(len)));
        self.events();
    }

    pub fn half_close(&mut self, call: usize) {
        let i = self.c_index(call);
        self.client_script.extend_from_slice(&[11, i]);
        let _ = self.client.half_close(self.c_live[call]);
        self.events();
    }

    pub fn cancel(&mut self, call: usize) {
        let i = self.c_index(call);
        self.client_script.extend_from_slice(&[12, i]);
        self.client.cancel(self.c_live[call]);
        self.events();
    }

    pub fn server_headers(&mut self, call: usize) {
        let i = self.s_index(call);
        self.server_script.extend_from_slice(&[9, i]);
        let _ = self
            .server
            .send_headers(self.s_live[call], MetadataMap::new());
        self.events();
    }

    /// The server sends a message of `len` zeros.
    pub fn server_send(&mut self, call: usize, len: u16) {
        let i = self.s_index(call);
        let wire = len << 2;
        self.server_script.extend_from_slice(&[10, i]);
        self.server_script.extend_from_slice(&wire.to_le_bytes());
        let _ = self
            .server
            .send_message(self.s_live[call], zeros(usize::from(len)));
        self.events();
    }

    /// The server ends the call with `code` (the target's status message).
    pub fn server_status(&mut self, call: usize, code: Code) {
        let i = self.s_index(call);
        self.server_script
            .extend_from_slice(&[11, i, code.as_i32() as u8]);
        let id = self.s_live.remove(call);
        let status = Status::new(code, "fuzz status \u{7f} é");
        let _ = self.server.send_status(id, status, MetadataMap::new());
        self.events();
    }

    pub fn server_kind(&mut self, call: usize, kind: CallKind) {
        let i = self.s_index(call);
        // The target reads the kind from the pick octet's high nibble.
        let b = i | (kind_bits(kind) << 4);
        assert_eq!(usize::from(b) % self.s_live.len(), call, "pick octet");
        self.server_script.extend_from_slice(&[13, b]);
        let _ = self.server.set_call_kind(self.s_live[call], kind);
        self.events();
    }

    /// Advance both clocks (the targets' duration octet).
    pub fn advance(&mut self, b: u8) {
        self.server_script.extend_from_slice(&[7, b]);
        self.client_script.extend_from_slice(&[6, b]);
        self.now += duration(b);
        self.server.handle_timeout(self.now);
        self.client.handle_timeout(self.now);
        self.events();
    }

    pub fn server_shutdown(&mut self) {
        self.server_script.push(14);
        self.server.shutdown(self.now);
        self.events();
    }
}

fn duration(b: u8) -> Duration {
    match b >> 6 {
        0 => Duration::from_millis(u64::from(b & 0x3f)),
        1 => Duration::from_millis(100 * u64::from(b & 0x3f)),
        2 => Duration::from_secs(u64::from(b & 0x3f)),
        _ => Duration::from_secs(60 * u64::from(b & 0x3f)),
    }
}

fn f(name: &str, value: &str) -> HeaderField {
    HeaderField {
        name: Bytes::copy_from_slice(name.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
        sensitive: false,
    }
}

fn request(extra: &[(&str, &str)]) -> Vec<HeaderField> {
    extra.iter().map(|(n, v)| f(n, v)).collect()
}

/// A raw HTTP/2 client (not gRPC-aware) sending one request with
/// `fields` and `body`: the bytes, as a `server_connection` input.
fn raw_request(fields: Vec<HeaderField>, body: &[u8], end: bool) -> Vec<u8> {
    let now = Instant::now();
    let mut client = h2::Connection::client(h2::Config::default(), now);
    let mut server = ServerConnection::new(ServerConfig::default(), now);
    let mut script = vec![SERVER_FLAGS];
    let stream = client
        .open_stream(fields, body.is_empty() && end)
        .expect("stream opens");
    if !body.is_empty() {
        let _ = client.send_data(stream, Bytes::copy_from_slice(body), end);
    }
    for _ in 0..4 {
        let mut a = BytesMut::new();
        while client.poll_transmit(&mut a) > 0 {}
        if !a.is_empty() {
            peer_bytes(&mut script, &a);
            let _ = server.receive(&a, now);
        }
        let mut b = BytesMut::new();
        while server.poll_transmit(&mut b) > 0 {}
        let _ = client.receive(&b, now);
        while client.poll_event().is_some() {}
        while server.poll_event().is_some() {}
    }
    script
}

/// A gRPC client calling a raw HTTP/2 server that answers the first call
/// with `head` (then `data`, then `trailers` if given): a
/// `client_connection` input.
fn raw_response(
    kind: CallKind,
    head: Vec<HeaderField>,
    data: Option<&[u8]>,
    trailers: Option<Vec<HeaderField>>,
) -> Vec<u8> {
    let now = Instant::now();
    let mut client = ClientConnection::new(ClientConfig::default(), now);
    let mut server = h2::Connection::server(h2::Config::default(), now);
    let mut script = vec![CLIENT_FLAGS];
    script.extend_from_slice(&[8 | 0x30, kind_bits(kind)]);
    let call = client
        .start_call(CLIENT_PATHS[0], CallOptions::new(kind), now)
        .expect("call starts");
    let _ = client.send_message(call, Bytes::from_static(b"request"));
    let _ = client.half_close(call);
    let mut answered = false;
    for _ in 0..6 {
        let mut a = BytesMut::new();
        while client.poll_transmit(&mut a) > 0 {}
        let _ = server.receive(&a, now);
        while let Some(ev) = server.poll_event() {
            if let h2::Event::Headers { stream, .. } = ev {
                if !answered {
                    answered = true;
                    let only = data.is_none() && trailers.is_none();
                    let _ = server.send_headers(stream, head.clone(), only);
                    if let Some(d) = data {
                        let _ =
                            server.send_data(stream, Bytes::copy_from_slice(d), trailers.is_none());
                    }
                    if let Some(t) = &trailers {
                        let _ = server.send_headers(stream, t.clone(), true);
                    }
                }
            }
        }
        let mut b = BytesMut::new();
        while server.poll_transmit(&mut b) > 0 {}
        if !b.is_empty() {
            peer_bytes(&mut script, &b);
            let _ = client.receive(&b, now);
        }
        while client.poll_event().is_some() {}
    }
    script
}

fn grpc_request(path: &str) -> Vec<HeaderField> {
    request(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", "localhost"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ])
}

/// All server_connection seeds, by name.
pub fn server_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut add = |name: &str, r: Recorder| out.push((name.to_string(), r.server_script));
    add("unary", unary_session());
    add("server_streaming", server_streaming_session());
    add("client_streaming", client_streaming_session());
    add("bidi_interleaved", bidi_session());
    add("cancel", cancel_session());
    add("many_calls", many_calls_session());
    add("deadline", deadline_session());
    add("shutdown", shutdown_session());
    add("large_messages", large_session());
    add("trailers_only_error", error_session());
    add("cardinality", cardinality_session());
    let raw: Vec<(&str, Vec<u8>)> = vec![
        (
            "bad_get",
            raw_request(
                request(&[
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                    (":authority", "localhost"),
                ]),
                b"",
                true,
            ),
        ),
        (
            "bad_content_type",
            raw_request(
                request(&[
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":path", "/a/b"),
                    ("content-type", "text/plain"),
                ]),
                b"hello",
                true,
            ),
        ),
        ("bad_timeout", {
            let mut h = grpc_request("/a/b");
            h.push(f("grpc-timeout", "99999999999H"));
            raw_request(h, b"\x00\x00\x00\x00\x01x", true)
        }),
        ("unknown_encoding", {
            let mut h = grpc_request("/a/b");
            h.push(f("grpc-encoding", "snappy"));
            raw_request(h, b"\x01\x00\x00\x00\x01x", true)
        }),
        ("bad_message_prefix", {
            raw_request(grpc_request("/a/b"), b"\x00\xff\xff\xff\xffpartial", true)
        }),
        ("compressed_flag_identity", {
            raw_request(grpc_request("/a/b"), b"\x01\x00\x00\x00\x02hi", true)
        }),
        ("bad_path", raw_request(grpc_request("nopath"), b"", true)),
        ("bin_metadata", {
            let mut h = grpc_request("/a/b");
            h.push(f("x-data-bin", "AAEC/w=="));
            h.push(f("x-bad-bin", "***"));
            raw_request(h, b"\x00\x00\x00\x00\x00", true)
        }),
    ];
    for (name, script) in raw {
        out.push((name.to_string(), script));
    }
    out.push((
        "http1_request".to_string(),
        [
            &[SERVER_FLAGS, 0x00, 40, 0][..],
            b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n\r\n\r\n",
        ]
        .concat(),
    ));
    out
}

/// All client_connection seeds, by name.
pub fn client_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut add = |name: &str, r: Recorder| out.push((name.to_string(), r.client_script));
    add("unary", unary_session());
    add("server_streaming", server_streaming_session());
    add("client_streaming", client_streaming_session());
    add("bidi_interleaved", bidi_session());
    add("cancel", cancel_session());
    add("many_calls", many_calls_session());
    add("deadline", deadline_session());
    add("shutdown", shutdown_session());
    add("large_messages", large_session());
    add("trailers_only_error", error_session());
    add("cardinality", cardinality_session());
    let ok = || request(&[(":status", "200"), ("content-type", "application/grpc")]);
    let trailers = |code: &str| request(&[("grpc-status", code), ("grpc-message", "m%20x")]);
    let raw: Vec<(&str, Vec<u8>)> = vec![
        (
            "http_404",
            raw_response(
                CallKind::Unary,
                request(&[(":status", "404"), ("content-type", "text/html")]),
                None,
                None,
            ),
        ),
        (
            "no_content_type",
            raw_response(CallKind::Unary, request(&[(":status", "200")]), None, None),
        ),
        (
            "trailers_only_garbage_status",
            raw_response(
                CallKind::Unary,
                request(&[
                    (":status", "200"),
                    ("content-type", "application/grpc"),
                    ("grpc-status", "abc"),
                ]),
                None,
                None,
            ),
        ),
        (
            "two_messages_unary",
            raw_response(
                CallKind::Unary,
                ok(),
                Some(b"\x00\x00\x00\x00\x01a\x00\x00\x00\x00\x01b"),
                Some(trailers("0")),
            ),
        ),
        (
            "truncated_message",
            raw_response(
                CallKind::BidiStreaming,
                ok(),
                Some(b"\x00\x00\x00\x00\x09abc"),
                Some(trailers("0")),
            ),
        ),
        (
            "data_without_trailers",
            raw_response(
                CallKind::BidiStreaming,
                ok(),
                Some(b"\x00\x00\x00\x00\x01a"),
                None,
            ),
        ),
        (
            "unknown_compression",
            raw_response(
                CallKind::ServerStreaming,
                request(&[
                    (":status", "200"),
                    ("content-type", "application/grpc"),
                    ("grpc-encoding", "zstd"),
                ]),
                Some(b"\x01\x00\x00\x00\x01a"),
                Some(trailers("0")),
            ),
        ),
        (
            "status_details_bin",
            raw_response(
                CallKind::BidiStreaming,
                ok(),
                None,
                Some(request(&[
                    ("grpc-status", "13"),
                    ("grpc-status-details-bin", "CAIQAw"),
                    ("x-t-bin", "AA=="),
                ])),
            ),
        ),
    ];
    for (name, script) in raw {
        out.push((name.to_string(), script));
    }
    out
}

/// All pair seeds, by name: scripts in the `pair` target's format.
pub fn pair_seeds() -> Vec<(String, Vec<u8>)> {
    // Opcodes: 0 start (+0x10 message, +0x20 half-close), 2 client send,
    // 3 half-close, 4 cancel, 5 release, 6 server headers, 7 server send,
    // 8 server status, 9 deliver to server, 12 deliver to client,
    // 14 advance, 15 shutdown (+0x10 client).
    const ALL: [u8; 2] = [0xff, 0xff];
    let to_s = |split: u8| [9, ALL[0], ALL[1], split];
    let to_c = |split: u8| [12, ALL[0], ALL[1], split];
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, flags: u8, parts: &[&[u8]]| {
        let mut v = vec![flags];
        for p in parts {
            v.extend_from_slice(p);
        }
        out.push((name.to_string(), v));
    };
    let unary: &[&[u8]] = &[&[0x30, 0], &to_s(0), &[7, 0, 0x40, 0], &[8, 0, 0], &to_c(0)];
    add("unary", 0x0b, unary);
    add("unary_small_windows_eager", 0x1f, unary);
    add(
        "unary_byte_by_byte",
        0x0b,
        &[&[0x30, 0], &to_s(1), &[7, 0, 0x40, 0], &[8, 0, 0], &to_c(1)],
    );
    add(
        "server_streaming",
        0x0b,
        &[
            &[0x30, 2],
            &to_s(0),
            &[7, 0, 0x00, 0x10],
            &[7, 0, 0x00, 0x20],
            &[7, 0, 0x00, 0x30],
            &to_c(3),
            &[8, 0, 0],
            &to_c(0),
        ],
    );
    add(
        "client_streaming_large",
        0x0f,
        &[
            &[0x00, 1],
            &[2, 0, 0xff, 0x7f],
            &[2, 0, 0xff, 0x7f],
            &to_s(7),
            &[5, 0, 0],
            &to_s(0),
            &[3, 0],
            &to_s(0),
            &[7, 0, 0x10, 0],
            &[8, 0, 0],
            &to_c(0),
        ],
    );
    add(
        "bidi_ping_pong",
        0x13,
        &[
            &[0x10, 3],
            &to_s(0),
            &[6, 0],
            &[7, 0, 0x10, 0],
            &to_c(0),
            &[2, 0, 0x10, 0],
            &to_s(0),
            &[7, 0, 0x10, 0],
            &to_c(0),
            &[3, 0],
            &to_s(0),
            &[8, 0, 0],
            &to_c(0),
        ],
    );
    add(
        "cancel_midway",
        0x0b,
        &[
            &[0x10, 3],
            &to_s(0),
            &[7, 0, 0x10, 0],
            &[4, 0],
            &to_s(0),
            &to_c(0),
        ],
    );
    add(
        "deadline",
        0x0b,
        &[
            &[0x30, 0x04, 0x45],
            &to_s(0),
            &[14, 0x8a],
            &to_c(0),
            &to_s(0),
        ],
    );
    add(
        "stream_limit_queue",
        0x08,
        &[
            &[0x30, 0],
            &[0x30, 0],
            &[0x30, 0],
            &to_s(0),
            &[8, 0, 0],
            &to_c(0),
            &to_s(0),
            &[8, 0, 5],
            &to_c(0),
            &to_s(0),
        ],
    );
    add(
        "server_shutdown",
        0x0b,
        &[
            &[0x10, 3],
            &to_s(0),
            &[15],
            &to_c(0),
            &to_s(0),
            &[14, 0x86],
            &to_c(0),
            &[8, 0, 0],
            &to_c(0),
        ],
    );
    add(
        "client_shutdown",
        0x0b,
        &[
            &[0x30, 0],
            &[0x1f],
            &to_s(0),
            &[8, 0, 0],
            &to_c(0),
            &to_s(0),
        ],
    );
    add(
        "error_status_trailers_only",
        0x0b,
        &[&[0x30, 0], &to_s(0), &[0x18, 0, 13], &to_c(0)],
    );
    add(
        "unary_two_responses",
        0x0b,
        &[
            &[0x30, 0],
            &to_s(0),
            &[7, 0, 4, 0],
            &[7, 0, 4, 0],
            &to_c(0),
            &[8, 0, 0],
            &to_c(0),
        ],
    );
    add(
        "compressed_both_ways",
        0x0b,
        &[
            &[0x30, 0x0b],
            &to_s(0),
            &[0x16, 0],
            &[7, 0, 0x00, 0x10],
            &[8, 0, 0],
            &to_c(0),
        ],
    );
    add(
        "metadata",
        0x0b,
        &[
            &[0x30, 0x13],
            &to_s(0),
            &[0x26, 0],
            &[7, 0, 4, 0],
            &[0x18, 0, 0],
            &to_c(0),
        ],
    );
    add(
        "many_calls",
        0x1b,
        &[
            &[0x30, 0],
            &[0x30, 1],
            &[0x30, 2],
            &[0x30, 3],
            &[0x30, 0],
            &to_s(5),
            &[8, 0, 0],
            &[8, 1, 4],
            &[7, 0, 8, 0],
            &[8, 0, 0],
            &to_c(9),
            &[4, 0],
            &to_s(0),
            &to_c(0),
        ],
    );
    out
}

fn unary_session() -> Recorder {
    let mut r = Recorder::new();
    r.start(0, CallKind::Unary, true, true);
    r.exchange();
    r.server_kind(0, CallKind::Unary);
    r.server_send(0, 11);
    r.server_status(0, Code::Ok);
    r.exchange();
    r
}

fn server_streaming_session() -> Recorder {
    let mut r = Recorder::new();
    r.start(1, CallKind::ServerStreaming, true, true);
    r.exchange();
    r.server_headers(0);
    for len in [0, 1, 100, 1000] {
        r.server_send(0, len);
        r.exchange();
    }
    r.server_status(0, Code::Ok);
    r.exchange();
    r
}

fn client_streaming_session() -> Recorder {
    let mut r = Recorder::new();
    r.start(2, CallKind::ClientStreaming, false, false);
    for len in [5, 0, 300] {
        r.client_send(0, len);
        r.exchange();
    }
    r.half_close(0);
    r.exchange();
    r.server_send(0, 3);
    r.server_status(0, Code::Ok);
    r.exchange();
    r
}

fn bidi_session() -> Recorder {
    let mut r = Recorder::new();
    r.start(1, CallKind::BidiStreaming, true, false);
    r.exchange();
    for len in [1, 2, 3] {
        r.server_send(0, len);
        r.exchange();
        r.client_send(0, len);
        r.exchange();
    }
    r.half_close(0);
    r.exchange();
    r.server_status(0, Code::Ok);
    r.exchange();
    r
}

fn cancel_session() -> Recorder {
    let mut r = Recorder::new();
    r.start(1, CallKind::BidiStreaming, true, false);
    r.exchange();
    r.server_send(0, 4);
    r.exchange();
    r.cancel(0);
    r.exchange();
    r
}

fn many_calls_session() -> Recorder {
    let mut r = Recorder::new();
    for i in 0..5 {
        r.start(i % 3, CallKind::Unary, true, true);
    }
    r.exchange();
    for _ in 0..5 {
        r.server_send(0, 2);
        r.server_status(0, Code::Ok);
    }
    r.exchange();
    r
}

fn deadline_session() -> Recorder {
    let now = Instant::now();
    let mut r = Recorder::new();
    // A call with a deadline: the client target encodes it as flag 0x04
    // and a duration octet (0x45: 500 ms).
    r.client_script.extend_from_slice(&[8 | 0x30, 0x04]);
    r.client_script.push(0x45);
    let call = r
        .client
        .start_call(
            CLIENT_PATHS[0],
            CallOptions::unary().with_timeout(r.now, duration(0x45)),
            r.now,
        )
        .expect("call starts");
    r.c_live.push(call);
    let _ = r.client.send_message(call, Bytes::from_static(b"request"));
    let _ = r.client.half_close(call);
    r.exchange();
    r.advance(0x46);
    r.exchange();
    let _ = now;
    r
}

fn shutdown_session() -> Recorder {
    let mut r = Recorder::new();
    r.start(1, CallKind::BidiStreaming, true, false);
    r.exchange();
    r.server_shutdown();
    r.exchange();
    r.half_close(0);
    r.exchange();
    r.server_status(0, Code::Ok);
    r.exchange();
    r.advance(0x86);
    r.exchange();
    r
}

fn large_session() -> Recorder {
    let mut r = Recorder::new();
    r.start(1, CallKind::BidiStreaming, false, false);
    r.client_send(0, 16_000);
    r.exchange();
    r.server_send(0, 16_000);
    r.exchange();
    r.half_close(0);
    r.server_status(0, Code::Ok);
    r.exchange();
    r
}

fn error_session() -> Recorder {
    let mut r = Recorder::new();
    r.start(0, CallKind::Unary, true, true);
    r.exchange();
    r.server_status(0, Code::Unimplemented);
    r.exchange();
    r
}

fn cardinality_session() -> Recorder {
    let mut r = Recorder::new();
    r.start(0, CallKind::Unary, true, false);
    r.client_send(0, 1);
    r.exchange();
    r.server_kind(0, CallKind::Unary);
    r.exchange();
    r
}
