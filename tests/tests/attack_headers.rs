//! Attacks through header blocks and message framing, against both
//! adapters' servers on 127.0.0.1: CONTINUATION floods and endless header
//! blocks (CVE-2024-27316 class), an HPACK bomb, a 4 GiB message prefix,
//! compressed messages that do not decompress (or inflate past the limit),
//! a message in 1-byte DATA frames, garbage `grpc-timeout` and `-bin`
//! metadata, an HTTP/1.1 request and a bad preface. Each repeats on fresh
//! connections while a benign client keeps calling (see
//! `Scenario::sustain`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use grpc_sansio::frame::{Frame, Reason};
use grpc_sansio_tests::attack::raw::{
    continuation, data, grpc_message, headers_frame, request_head,
};
use grpc_sansio_tests::attack::server::path;
use grpc_sansio_tests::attack::{Adapter, Attacker, Block, PROMPT, Received, Scenario};
use grpc_sansio_tests::attack_both;

/// Wait for the final HEADERS (with `grpc-status`) of `stream`; return
/// the status code.
fn status_of(a: &mut Attacker, stream: u32) -> String {
    let got = a.wait_for(PROMPT, |r| {
        r.header(stream, "grpc-status").is_some() || r.is_end()
    });
    match got.as_ref().and_then(|r| r.header(stream, "grpc-status")) {
        Some(s) => s.to_string(),
        None => panic!("no grpc-status on stream {stream}; saw {}", a.transcript()),
    }
}

/// The DATA bytes received on `stream` so far.
fn data_of(a: &Attacker, stream: u32) -> BytesMut {
    let mut out = BytesMut::new();
    for r in &a.seen {
        if let Some(Frame::Data(d)) = r.frame() {
            if d.stream_id.value() == stream {
                out.extend_from_slice(&d.data);
            }
        }
    }
    out
}

/// No GOAWAY and no close so far: the connection survived.
fn assert_alive(a: &Attacker) {
    assert!(
        !a.seen
            .iter()
            .any(|r| r.is_end() || matches!(r.frame(), Some(Frame::GoAway(_)))),
        "the connection ended: {}",
        a.transcript()
    );
}

/// A unary call to `Unary` on `stream` with `payload`, encoded by the
/// attacker's HPACK encoder; asserts the echo and status OK.
fn echo_works(a: &mut Attacker, stream: u32, payload: &[u8]) {
    let p = path("Unary");
    let h = a.headers(stream, &request_head(&p, &[]), false);
    a.send_all([h, data(stream, grpc_message(payload), true)])
        .expect("request written");
    assert_eq!(status_of(a, stream), "0", "{}", a.transcript());
    assert_eq!(&data_of(a, stream)[..], &grpc_message(payload)[..]);
}

/// A header block that never ends: empty CONTINUATION frames after a
/// HEADERS without END_HEADERS. The server allows 64 per block.
fn continuation_flood(adapter: Adapter) {
    Scenario::start(adapter).sustain("CONTINUATION flood", |addr| {
        let mut a = Attacker::open(addr);
        let p = path("Unary");
        let h = a.headers(1, &request_head(&p, &[]), false);
        let Frame::Headers(mut h) = h else {
            unreachable!()
        };
        h.end_headers = false;
        a.send(Frame::Headers(h)).expect("HEADERS written");
        a.flood(10_000, 500, |_| continuation(1, Bytes::new(), false));
        a.expect_goaway_and_close(Reason::ENHANCE_YOUR_CALM, "CONTINUATION");
    });
}
attack_both!(attack_continuation_flood, continuation_flood);

/// A header block of full 16 KiB fragments that never ends: the server
/// buffers at most 64 KiB of encoded block.
fn endless_header_block(adapter: Adapter) {
    Scenario::start(adapter).sustain("endless header block", |addr| {
        let mut a = Attacker::open(addr);
        let junk = Bytes::from(vec![0x41u8; 16_384]);
        a.send(headers_frame(1, junk.clone(), false, false))
            .expect("HEADERS written");
        a.flood(1000, 8, |_| continuation(1, junk.clone(), false));
        a.expect_goaway_and_close(Reason::ENHANCE_YOUR_CALM, "header block too large");
    });
}
attack_both!(attack_endless_header_block, endless_header_block);

/// A 4 KiB header added to the dynamic table once, then referenced 30
/// times by one-byte indexes: a 4.3 KiB block that decodes to 120 KiB,
/// past the 16 KiB header list limit. The call is refused on its own
/// stream (trailers-only RESOURCE_EXHAUSTED); the connection, whose HPACK
/// state stays in step, serves the next call.
fn hpack_bomb(adapter: Adapter) {
    Scenario::start(adapter).sustain("HPACK bomb", |addr| {
        let mut a = Attacker::open(addr);
        let p = path("Unary");
        let mut bomb = Block::new()
            .request(&p)
            .literal_indexed("x-bomb", &[b'a'; 4000]);
        for _ in 0..30 {
            bomb = bomb.indexed(62);
        }
        let block = bomb.bytes();
        assert!(block.len() < 4500, "bomb of {} bytes", block.len());
        a.send_all([
            headers_frame(1, block, false, true),
            data(1, grpc_message(b"boom"), true),
        ])
        .expect("bomb written");
        assert_eq!(status_of(&mut a, 1), "8", "{}", a.transcript());
        // The next call, in literals that leave the table alone.
        a.send_all([
            headers_frame(3, Block::new().request(&p).bytes(), false, true),
            data(3, grpc_message(b"alive"), true),
        ])
        .expect("request written");
        assert_eq!(status_of(&mut a, 3), "0", "{}", a.transcript());
        assert_eq!(&data_of(&a, 3)[..], &grpc_message(b"alive")[..]);
        assert_alive(&a);
    });
}
attack_both!(attack_hpack_bomb, hpack_bomb);

/// A message prefix that announces 4 GiB - 1: refused with
/// RESOURCE_EXHAUSTED at once, never buffered; the connection goes on.
fn oversize_prefix(adapter: Adapter) {
    Scenario::start(adapter).sustain("4 GiB message prefix", |addr| {
        let mut a = Attacker::open(addr);
        let p = path("Unary");
        let h = a.headers(1, &request_head(&p, &[]), false);
        let mut body = vec![0u8, 0xff, 0xff, 0xff, 0xff];
        body.extend_from_slice(&[7u8; 1000]);
        a.send_all([h, data(1, body, false)])
            .expect("request written");
        assert_eq!(status_of(&mut a, 1), "8", "{}", a.transcript());
        // More of the "message" after the refusal is dropped quietly.
        let _ = a.send(data(1, vec![7u8; 1000], false));
        echo_works(&mut a, 3, b"after the big one");
        assert_alive(&a);
    });
}
attack_both!(attack_oversize_message_prefix, oversize_prefix);

/// Messages flagged compressed that do not decompress: garbage in place
/// of gzip, a gzip stream cut short, and a gzip bomb past the receive
/// limit. Messages are inflated when the handler takes them, so each call
/// ends there: INTERNAL for the first two, RESOURCE_EXHAUSTED for the
/// third; the connection goes on.
fn bad_compressed_messages(adapter: Adapter) {
    use grpc_sansio::grpc::compression::{Compressor, Gzip};
    let mut bomb = Vec::new();
    Gzip::new()
        .compress(&vec![0u8; 5 << 20], &mut bomb)
        .expect("compressed");
    let mut cut = Vec::new();
    Gzip::new()
        .compress(b"a message cut short", &mut cut)
        .expect("compressed");
    cut.truncate(cut.len() - 6);
    let cases: [(&[u8], &str); 3] = [
        (b"this is not gzip at all", "13"),
        (&cut, "13"),
        (&bomb, "8"),
    ];
    Scenario::start(adapter).sustain("bad compressed messages", |addr| {
        let mut a = Attacker::open(addr);
        let p = path("Unary");
        for (i, (payload, want)) in cases.iter().enumerate() {
            let id = 2 * i as u32 + 1;
            let h = a.headers(id, &request_head(&p, &[("grpc-encoding", "gzip")]), false);
            let mut body = vec![1u8];
            body.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            body.extend_from_slice(payload);
            a.send_all([h, data(id, body, true)])
                .expect("request written");
            assert_eq!(status_of(&mut a, id), *want, "case {i}: {}", a.transcript());
        }
        echo_works(&mut a, 7, b"after the bad ones");
        assert_alive(&a);
    });
}
attack_both!(attack_bad_compressed_messages, bad_compressed_messages);

/// A 16 KiB message in 16,389 DATA frames of one byte each, as fast as
/// they can be written: it works, and in bounded time.
fn one_byte_data_frames(adapter: Adapter) {
    Scenario::start(adapter).sustain("1-byte DATA frames", |addr| {
        let mut a = Attacker::open(addr);
        let p = path("Unary");
        let payload: Vec<u8> = (0..16_384u32).map(|i| (i % 251) as u8).collect();
        let message = grpc_message(&payload);
        let started = Instant::now();
        let h = a.headers(1, &request_head(&p, &[]), false);
        a.send(h).expect("HEADERS written");
        let n = message.len() as u32;
        let written = a.flood(n, 1000, |i| {
            let i = i as usize;
            data(1, message.slice(i..i + 1), i + 1 == message.len())
        });
        assert_eq!(written, n);
        assert_eq!(status_of(&mut a, 1), "0", "{}", a.transcript());
        let took = started.elapsed();
        assert_eq!(&data_of(&a, 1)[..], &message[..]);
        assert!(took < Duration::from_secs(3), "took {took:?}");
        assert_alive(&a);
    });
}
attack_both!(attack_one_byte_data_frames, one_byte_data_frames);

/// Garbage `grpc-timeout` values refuse their call (INTERNAL, as
/// grpc-go does), garbage `-bin` values are dropped from the metadata
/// (the call proceeds, and its handler sees the other entries only); the
/// connection serves on.
fn metadata_garbage(adapter: Adapter) {
    Scenario::start(adapter).sustain("grpc-timeout and -bin garbage", |addr| {
        let mut a = Attacker::open(addr);
        let p = path("Unary");
        let timeouts = ["123456789S", "5X", "", "-1S", "S", "1.5S", "99999999H"];
        let mut id = 1;
        for t in timeouts {
            let h = a.headers(id, &request_head(&p, &[("grpc-timeout", t)]), false);
            a.send_all([h, data(id, grpc_message(b"t"), true)])
                .expect("request written");
            let want = if t == "99999999H" { "0" } else { "13" };
            assert_eq!(status_of(&mut a, id), want, "grpc-timeout {t:?}");
            id += 2;
        }
        // The handler sees the good entries beside the garbage one, and
        // not the garbage one.
        let m = path("Metadata");
        for v in ["!!!not base64***", "=", "a", "AAA=AAA=", "\u{7f}"] {
            let extra = [("x-data-bin", v), ("x-ok-bin", "AQID"), ("x-plain", "keep")];
            let h = a.headers(id, &request_head(&m, &extra), false);
            a.send_all([h, data(id, grpc_message(b"bin"), true)])
                .expect("request written");
            assert_eq!(status_of(&mut a, id), "0", "x-data-bin {v:?}");
            assert_eq!(
                &data_of(&a, id)[..],
                &grpc_message(b"x-ok-bin=010203\nx-plain=keep\n")[..],
                "x-data-bin {v:?}: {}",
                a.transcript()
            );
            id += 2;
        }
        echo_works(&mut a, id, b"still here");
        assert_alive(&a);
    });
}
attack_both!(attack_metadata_garbage, metadata_garbage);

/// An HTTP/1.1 request to the gRPC port: a plain `HTTP/1.1 505` answer,
/// then the connection is closed.
fn http1_request(adapter: Adapter) {
    Scenario::start(adapter).sustain("HTTP/1.1 request", |addr: SocketAddr| {
        let mut a = Attacker::connect(addr);
        a.start_reader();
        a.write_raw(
            b"POST /attack.Svc/Unary HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
        )
        .expect("request written");
        a.expect_close(PROMPT);
        let answer = a.seen.iter().find_map(|r| match r {
            Received::Garbage(text) => Some(text.clone()),
            _ => None,
        });
        let answer = answer.unwrap_or_else(|| panic!("no answer: {}", a.transcript()));
        assert!(
            answer.starts_with("HTTP/1.1 505 HTTP Version Not Supported\r\n"),
            "answer {answer:?}"
        );
        assert!(
            answer.contains("connection: close\r\n"),
            "answer {answer:?}"
        );
    });
}
attack_both!(attack_http1_request, http1_request);

/// Bytes that are neither the HTTP/2 preface nor HTTP/1: GOAWAY
/// PROTOCOL_ERROR, then close.
fn bad_preface(adapter: Adapter) {
    Scenario::start(adapter).sustain("bad preface", |addr| {
        let mut a = Attacker::connect(addr);
        a.start_reader();
        a.write_raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not HTTP/2 at all")
            .expect("bytes written");
        a.expect_goaway_and_close(Reason::PROTOCOL_ERROR, "preface");
    });
}
attack_both!(attack_bad_preface, bad_preface);
