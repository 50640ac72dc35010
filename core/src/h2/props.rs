//! Property tests: random application actions on both sides of an
//! in-memory client/server pair, with bytes crossing in random chunks, keep
//! both machines consistent.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::{Config, Connection, Event};
use crate::frame::{Reason, StreamId};
use crate::hpack::HeaderField;
use crate::test_clock::origin;

#[derive(Debug, Clone)]
enum Action {
    Open { end: bool },
    ClientData { pick: usize, len: usize, end: bool },
    ServerRespond { pick: usize, len: usize },
    ServerTrailers { pick: usize },
    ClientReset { pick: usize },
    ServerReset { pick: usize },
    Ping,
    Advance { ms: u64 },
    Transfer { to_server: bool, chunk: usize },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => any::<bool>().prop_map(|end| Action::Open { end }),
        3 => (any::<usize>(), 0usize..40_000, any::<bool>())
            .prop_map(|(pick, len, end)| Action::ClientData { pick, len, end }),
        2 => (any::<usize>(), 0usize..40_000).prop_map(|(pick, len)| Action::ServerRespond { pick, len }),
        2 => any::<usize>().prop_map(|pick| Action::ServerTrailers { pick }),
        1 => any::<usize>().prop_map(|pick| Action::ClientReset { pick }),
        1 => any::<usize>().prop_map(|pick| Action::ServerReset { pick }),
        1 => Just(Action::Ping),
        1 => (0u64..2000).prop_map(|ms| Action::Advance { ms }),
        6 => (any::<bool>(), 1usize..5000).prop_map(|(to_server, chunk)| Action::Transfer { to_server, chunk }),
    ]
}

fn head(extra: &[(&'static str, &'static str)]) -> Vec<HeaderField> {
    extra
        .iter()
        .map(|(n, v)| HeaderField {
            name: Bytes::from_static(n.as_bytes()),
            value: Bytes::from_static(v.as_bytes()),
            sensitive: false,
        })
        .collect()
}

struct Side {
    conn: Connection,
    out: BytesMut,
    /// Streams this side has seen and not seen end.
    known: Vec<StreamId>,
}

impl Side {
    fn pick(&self, n: usize) -> Option<StreamId> {
        (!self.known.is_empty()).then(|| self.known[n % self.known.len()])
    }

    /// Drain events, giving back every received byte at once (an eager
    /// application), and note which streams exist.
    fn drain(&mut self) {
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                Event::Headers { stream, .. } if !self.known.contains(&stream) => {
                    self.known.push(stream);
                }
                Event::Data { stream, data, .. } => {
                    self.conn.release_capacity(stream, data.len() as u32);
                }
                _ => {}
            }
        }
        self.known
            .retain(|id| self.conn.stream_state(*id).is_some());
    }
}

fn check(side: &Side) {
    let c = &side.conn;
    assert!(
        c.conn_recv.window.value() >= 0,
        "connection receive window negative"
    );
    for s in c.streams.values() {
        assert!(s.recv.window.value() >= 0, "stream receive window negative");
        let queued: usize = s
            .queue
            .iter()
            .map(|o| match o {
                super::stream::Outbound::Data { data, .. } => data.len(),
                super::stream::Outbound::Headers { .. } | super::stream::Outbound::Reset(_) => 0,
            })
            .sum();
        let tail = s.tail.as_ref().map_or(0, |t| t.len());
        assert_eq!(queued + tail, s.queued_bytes, "queued byte count drifted");
        assert!(
            tail == 0 || !s.queue.is_empty(),
            "gathered bytes with nothing queued before them"
        );
        assert_eq!(
            s.waits_room,
            c.room_waiters.contains(&s.id),
            "waiting-for-room flag and list disagree"
        );
    }
    let total: usize = c.streams.values().map(|s| s.queued_bytes).sum();
    assert_eq!(
        total, c.queued_total,
        "connection queued byte count drifted"
    );
    assert!(
        c.room_waiters.len() <= c.streams.len(),
        "stale room waiters"
    );
    assert!(c.peer_open as usize + c.local_open as usize <= c.streams.len() + 1);
}

/// Move up to `chunk` pending bytes; returns how many moved.
fn transfer(from: &mut Side, to: &mut Side, chunk: usize, now: std::time::Instant) -> usize {
    while from.conn.poll_transmit(&mut from.out) > 0 {}
    let n = chunk.min(from.out.len());
    let bytes = from.out.split_to(n);
    let _ = to.conn.receive(&bytes, now);
    n
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_actions_keep_both_sides_consistent(actions in proptest::collection::vec(action(), 1..120)) {
        let mut now = origin();
        let small = Config {
            initial_stream_window: 65_535,
            connection_window: 100_000,
            max_send_buffer: 50_000,
            // Advances add up to 240 s at most; bytes may not move for all
            // of it, and a SETTINGS timeout then is right, not a fault.
            settings_timeout: Duration::from_secs(3600),
            // Half a frame may wait in a buffer through those advances.
            frame_timeout: None,
            ..Config::default()
        };
        let mut client = Side { conn: Connection::client(small.clone(), now), out: BytesMut::new(), known: vec![] };
        let mut server = Side { conn: Connection::server(small, now), out: BytesMut::new(), known: vec![] };
        for a in actions {
            match a {
                Action::Open { end } => {
                    if let Ok(id) = client.conn.open_stream(
                        head(&[(":method", "POST"), (":scheme", "http"), (":path", "/x.Y/Z")]),
                        end,
                    ) {
                        client.known.push(id);
                    }
                }
                Action::ClientData { pick, len, end } => {
                    if let Some(id) = client.pick(pick) {
                        let _ = client.conn.send_data(id, Bytes::from(vec![1u8; len]), end);
                    }
                }
                Action::ServerRespond { pick, len } => {
                    if let Some(id) = server.pick(pick) {
                        let _ = server.conn.send_headers(id, head(&[(":status", "200")]), false);
                        let _ = server.conn.send_data(id, Bytes::from(vec![2u8; len]), false);
                    }
                }
                Action::ServerTrailers { pick } => {
                    if let Some(id) = server.pick(pick) {
                        let _ = server.conn.send_headers(id, head(&[("grpc-status", "0")]), true);
                    }
                }
                Action::ClientReset { pick } => {
                    if let Some(id) = client.pick(pick) {
                        client.conn.reset(id, Reason::CANCEL);
                    }
                }
                Action::ServerReset { pick } => {
                    if let Some(id) = server.pick(pick) {
                        server.conn.reset(id, Reason::INTERNAL_ERROR);
                    }
                }
                Action::Ping => {
                    let _ = client.conn.ping(now);
                }
                Action::Advance { ms } => {
                    now += Duration::from_millis(ms);
                    client.conn.handle_timeout(now);
                    server.conn.handle_timeout(now);
                }
                Action::Transfer { to_server, chunk } => {
                    if to_server {
                        transfer(&mut client, &mut server, chunk, now);
                    } else {
                        transfer(&mut server, &mut client, chunk, now);
                    }
                }
            }
            client.drain();
            server.drain();
            check(&client);
            check(&server);
        }
        // Settle: deliver everything, then finish every stream both ways.
        for _ in 0..1000 {
            let moved = transfer(&mut client, &mut server, usize::MAX, now)
                + transfer(&mut server, &mut client, usize::MAX, now);
            client.drain();
            server.drain();
            if moved == 0 {
                break;
            }
        }
        prop_assert!(!client.conn.is_closed(), "a well-behaved pair never errors");
        prop_assert!(!server.conn.is_closed(), "a well-behaved pair never errors");
        for id in server.known.clone() {
            let _ = server.conn.send_headers(id, head(&[(":status", "200")]), false);
            let _ = server.conn.send_headers(id, head(&[("grpc-status", "0")]), true);
        }
        for id in client.known.clone() {
            let _ = client.conn.send_data(id, Bytes::new(), true);
        }
        for _ in 0..10_000 {
            let moved = transfer(&mut client, &mut server, usize::MAX, now)
                + transfer(&mut server, &mut client, usize::MAX, now);
            client.drain();
            server.drain();
            if moved == 0 {
                break;
            }
        }
        check(&client);
        check(&server);
        prop_assert_eq!(client.conn.active_streams(), 0, "every opened stream ends (client)");
        prop_assert_eq!(server.conn.active_streams(), 0, "every opened stream ends (server)");
    }
}
