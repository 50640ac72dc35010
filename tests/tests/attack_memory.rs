//! Memory a client can make a server hold without breaking a rule, against
//! both adapters' servers on 127.0.0.1:
//!
//! - request messages started on many streams and never finished: their
//!   bytes are given back to the client's windows as they arrive (a
//!   message may be larger than the windows), so only the connection's
//!   bound on memory the windows do not count (`ServerConfig::
//!   max_receive_memory`) stops them; the calls past it end with
//!   RESOURCE_EXHAUSTED;
//! - compressed messages that would inflate a thousandfold, sent to a
//!   handler that reads none of them: they wait compressed, so the windows
//!   bound them, and the call is not refused.
//!
//! Each time the server's memory stays bounded and calls on other
//! connections go on.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use grpc_sansio::frame::{Frame, StreamId};
use grpc_sansio::grpc::compression::{Compressor, Gzip};
use grpc_sansio::server::ServerConfig;
use grpc_sansio_tests::attack::raw::{data, request_head};
use grpc_sansio_tests::attack::server::path;
use grpc_sansio_tests::attack::{Adapter, Attacker, PROMPT, Scenario};
use grpc_sansio_tests::attack_both;

/// Streams the attacker opens on each connection.
const STREAMS: u32 = 48;
/// What each message announces: the receive limit.
const ANNOUNCED: u32 = 4 << 20;
/// What the attacker sends of each message.
const SENT: usize = 1 << 20;
/// The bound under test.
const BOUND: usize = 16 << 20;

/// Sum of the server's connection-level WINDOW_UPDATE increments so far.
fn connection_credit(a: &Attacker) -> usize {
    a.seen
        .iter()
        .filter_map(|r| match r.frame() {
            Some(Frame::WindowUpdate(w)) if w.stream_id == StreamId::ZERO => {
                Some(w.increment as usize)
            }
            _ => None,
        })
        .sum()
}

fn unfinished_messages_once(addr: SocketAddr) {
    let mut a = Attacker::open(addr);
    let p = path("Unary");
    let mut body = vec![0u8; 5 + SENT];
    body[1..5].copy_from_slice(&ANNOUNCED.to_be_bytes());
    let body = Bytes::from(body);
    let mut sent = 0usize;
    for i in 0..STREAMS {
        let id = 2 * i + 1;
        // Stay inside the connection window (65,535 bytes to start with,
        // then what the server gives back: it returns the bytes of
        // unfinished messages as they arrive).
        while sent + body.len() > 65_535 + connection_credit(&a) {
            let more = a.next_within(PROMPT);
            assert!(
                more.as_ref().is_some_and(|r| !r.is_end()),
                "no credit back after {sent} bytes: {}",
                a.transcript()
            );
        }
        let h = a.headers(id, &request_head(&p, &[]), false);
        a.send(h).expect("request head written");
        let frames = body
            .chunks(16_384)
            .map(|c| data(id, body.slice_ref(c), false));
        a.send_all(frames).expect("message part written");
        sent += body.len();
    }
    // Every stream past the bound ends with RESOURCE_EXHAUSTED; the others
    // are left waiting for the rest of their message. The server answers
    // in stream order, so once the last stream's status is in, so are all
    // the others'.
    let last = 2 * STREAMS - 1;
    let got = a.wait_for(PROMPT, |r| r.header(last, "grpc-status").is_some());
    assert!(
        got.is_some(),
        "no status on stream {last}: {}",
        a.transcript()
    );
    let status = |a: &Attacker, id: u32| {
        a.seen
            .iter()
            .find_map(|r| r.header(id, "grpc-status").map(str::to_owned))
    };
    let ids: Vec<u32> = (0..STREAMS).map(|i| 2 * i + 1).collect();
    let fit = ids
        .iter()
        .take_while(|&&id| status(&a, id).is_none())
        .count();
    for &id in &ids[fit..] {
        assert_eq!(status(&a, id).as_deref(), Some("8"), "stream {id}");
    }
    // Each unfinished message holds its bytes, or up to twice that in a
    // buffer grown by doubling; the bound counts what is held.
    assert!(
        (BOUND / (2 * body.len())..=BOUND / body.len()).contains(&fit),
        "{fit} unfinished messages fit under {BOUND} bytes"
    );
}

fn unfinished_messages(adapter: Adapter) {
    let mut config = ServerConfig::default();
    config.max_receive_memory = BOUND;
    Scenario::with_config(adapter, config).sustain("unfinished messages", unfinished_messages_once);
}
attack_both!(attack_unfinished_messages, unfinished_messages);

/// Messages of 1 MiB of zeros, gzip-compressed to about 1 KiB each.
const BOMBS: usize = 200;

fn inflating_messages_once(addr: SocketAddr) {
    let mut a = Attacker::open(addr);
    let p = path("Sink");
    let mut zipped = Vec::new();
    Gzip::new()
        .compress(&vec![0u8; 1 << 20], &mut zipped)
        .expect("compressed");
    let mut message = vec![1u8];
    message.extend_from_slice(&(zipped.len() as u32).to_be_bytes());
    message.extend_from_slice(&zipped);
    let h = a.headers(1, &request_head(&p, &[("grpc-encoding", "gzip")]), false);
    a.send(h).expect("request head written");
    // 200 MiB once inflated, about 200 KiB on the wire: well inside the
    // windows, which count the compressed bytes.
    let frames = (0..BOMBS).map(|_| data(1, Bytes::from(message.clone()), false));
    let _ = a.send_all(frames);
    // The handler reads nothing and nothing is refused: the messages wait
    // as they arrived, compressed, held by the windows.
    let ended = a.wait_for(Duration::from_millis(300), |r| {
        r.header(1, "grpc-status").is_some() || r.is_end()
    });
    assert!(ended.is_none(), "the call ended: {}", a.transcript());
}

fn inflating_messages(adapter: Adapter) {
    let mut config = ServerConfig::default();
    config.max_receive_memory = BOUND;
    Scenario::with_config(adapter, config)
        .sustain("inflating unread messages", inflating_messages_once);
}
attack_both!(attack_inflating_unread_messages, inflating_messages);
