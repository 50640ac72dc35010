//! A client and a server HTTP/2 connection wired in memory on a virtual
//! clock: stream lifecycles, flow control, concurrency, fairness, timers
//! and graceful shutdown.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use grpc_sansio::frame::{Frame, Reason, StreamId};
use grpc_sansio::h2::{Config, ConnectionError, Event, Initiator, SendError, State};
use support::*;

fn small_windows() -> Config {
    let mut c = Config::default();
    c.initial_stream_window = 65_535;
    c.connection_window = 65_535;
    c
}

fn data_bytes(events: &[Event], stream: StreamId) -> usize {
    events
        .iter()
        .map(|e| match e {
            Event::Data {
                stream: s, data, ..
            } if *s == stream => data.len(),
            _ => 0,
        })
        .sum()
}

#[test]
fn handshake_settles_both_sides() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.drive();
    assert!(p.take_client_events().contains(&Event::SettingsAcked));
    assert!(p.take_server_events().contains(&Event::SettingsAcked));
    assert_eq!(
        p.client.poll_timeout(),
        None,
        "no SETTINGS timer once acked"
    );
}

#[test]
fn rfc9113_5_1_request_response_walks_every_state() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.drive();
    p.take_server_events();
    p.take_client_events();
    let id = p.client.open_stream(request_head("/a.B/C"), false).unwrap();
    assert_eq!(
        p.client.stream_state(id),
        Some(State::Idle),
        "nothing sent yet"
    );
    p.drive();
    assert_eq!(p.client.stream_state(id), Some(State::Open));
    assert_eq!(p.server.stream_state(id), Some(State::Open));
    let ev = p.take_server_events();
    assert!(matches!(&ev[..], [Event::Headers { stream, end_stream: false, .. }] if *stream == id));

    p.client
        .send_data(id, Bytes::from_static(b"ping"), true)
        .unwrap();
    p.drive();
    assert_eq!(p.client.stream_state(id), Some(State::HalfClosedLocal));
    assert_eq!(p.server.stream_state(id), Some(State::HalfClosedRemote));
    let ev = p.take_server_events();
    assert_eq!(
        ev,
        vec![Event::Data {
            stream: id,
            data: Bytes::from_static(b"ping"),
            end_stream: true
        }]
    );
    p.server.release_capacity(id, 4);
    p.server
        .send_headers(id, fields(&[(":status", "200")]), false)
        .unwrap();
    p.server
        .send_data(id, Bytes::from_static(b"x"), false)
        .unwrap();
    p.server
        .send_headers(id, fields(&[("grpc-status", "0")]), true)
        .unwrap();
    p.drive();
    assert_eq!(
        p.server.stream_state(id),
        None,
        "closed streams are forgotten"
    );
    assert_eq!(p.client.stream_state(id), None);
    assert_eq!(p.server.active_streams(), 0);
    let ev = p.take_client_events();
    assert!(matches!(
        &ev[0],
        Event::Headers {
            end_stream: false,
            ..
        }
    ));
    assert!(matches!(&ev[1], Event::Data { data, .. } if &data[..] == b"x"));
    assert!(
        matches!(&ev[2], Event::Headers { fields, end_stream: true, .. }
        if as_pairs(fields) == vec![("grpc-status".to_string(), "0".to_string())])
    );
    assert!(ev.contains(&Event::StreamCapacity));
    assert_eq!(
        p.server.send_data(id, Bytes::from_static(b"late"), false),
        Err(SendError::UnknownStream(id))
    );
}

#[test]
fn rfc9113_6_9_window_exhaustion_and_recovery() {
    let mut p = Pair::new(small_windows(), Config::default());
    p.drive();
    let id = p.client.open_stream(request_head("/a.B/C"), true).unwrap();
    p.drive();
    p.server
        .send_headers(id, fields(&[(":status", "200")]), false)
        .unwrap();
    let body = Bytes::from(vec![7u8; 200_000]);
    p.server.send_data(id, body, true).unwrap();
    p.drive();
    let ev = p.take_client_events();
    assert_eq!(data_bytes(&ev, id), 65_535, "exactly one window's worth");
    assert_eq!(p.server.queued_bytes(id), 200_000 - 65_535);
    // Consuming a quarter of the window is not yet worth an update...
    p.client.release_capacity(id, 10_000);
    p.drive();
    assert_eq!(data_bytes(&p.take_client_events(), id), 0);
    // ...consuming all of it is.
    let mut received = 65_535;
    p.client.release_capacity(id, 55_535);
    loop {
        p.drive();
        let ev = p.take_client_events();
        let n = data_bytes(&ev, id);
        if n == 0 {
            break;
        }
        received += n;
        p.client.release_capacity(id, n as u32);
    }
    assert_eq!(received, 200_000);
    assert_eq!(p.server.active_streams(), 0);
}

#[test]
fn thousand_concurrent_streams() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.drive();
    let ids: Vec<StreamId> = (0..1000)
        .map(|_| p.client.open_stream(request_head("/a.B/C"), false).unwrap())
        .collect();
    for id in &ids {
        p.client
            .send_data(*id, Bytes::from(id.value().to_be_bytes().to_vec()), true)
            .unwrap();
    }
    p.drive();
    assert_eq!(p.server.active_streams(), 1000);
    let ev = p.take_server_events();
    let mut bodies = 0;
    for e in &ev {
        if let Event::Data { stream, data, .. } = e {
            assert_eq!(&data[..], &stream.value().to_be_bytes());
            p.server.release_capacity(*stream, data.len() as u32);
            bodies += 1;
        }
    }
    assert_eq!(bodies, 1000);
    for id in &ids {
        p.server
            .send_headers(*id, fields(&[(":status", "200")]), true)
            .unwrap();
    }
    p.drive();
    let ends = p
        .take_client_events()
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Headers {
                    end_stream: true,
                    ..
                }
            )
        })
        .count();
    assert_eq!(ends, 1000);
    assert_eq!(p.client.active_streams(), 0);
    assert_eq!(p.server.active_streams(), 0);
}

#[test]
fn streams_over_the_peer_limit_wait_for_capacity() {
    let mut server = Config::default();
    server.max_concurrent_streams = 2;
    let mut p = Pair::new(Config::default(), server);
    p.drive();
    assert_eq!(p.client.peer_max_concurrent_streams(), 2);
    let a = p.client.open_stream(request_head("/a"), true).unwrap();
    let _b = p.client.open_stream(request_head("/b"), true).unwrap();
    assert_eq!(
        p.client.open_stream(request_head("/c"), true),
        Err(SendError::ConcurrencyLimit)
    );
    assert!(!p.client.can_open_stream());
    p.drive();
    p.server
        .send_headers(a, fields(&[(":status", "200")]), true)
        .unwrap();
    p.drive();
    assert!(p.take_client_events().contains(&Event::StreamCapacity));
    assert!(p.client.can_open_stream());
    p.client.open_stream(request_head("/c"), true).unwrap();
}

#[test]
fn interleaving_is_fair_between_streams() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.drive();
    let a = p.client.open_stream(request_head("/a"), false).unwrap();
    let b = p.client.open_stream(request_head("/b"), false).unwrap();
    p.client
        .send_data(a, Bytes::from(vec![1u8; 256 << 10]), true)
        .unwrap();
    p.client
        .send_data(b, Bytes::from(vec![2u8; 256 << 10]), true)
        .unwrap();
    // Read the client's output frame by frame.
    let mut out = BytesMut::new();
    while p.client.poll_transmit(&mut out) > 0 {}
    let mut dec = grpc_sansio::frame::FrameDecoder::new();
    let mut order = Vec::new();
    while let Ok(Some(f)) = dec.decode(&mut out) {
        if let Frame::Data(d) = f {
            order.push(d.stream_id.value());
        }
    }
    // The server's initial windows are 4 MiB: everything fits, and the
    // two streams alternate frame by frame.
    assert_eq!(order.len(), 32);
    for pair in order.chunks(2) {
        assert_eq!(pair, [a.value(), b.value()]);
    }
}

#[test]
fn rfc9113_6_5_3_settings_timeout_ends_the_connection() {
    let mut peer = RawPeer::new();
    let mut server = grpc_sansio::h2::Connection::server(Config::default(), peer.clock.now);
    let mut out = BytesMut::from(grpc_sansio::frame::PREFACE);
    grpc_sansio::frame::Settings::default().encode(&mut out);
    server.receive(&out, peer.clock.now).unwrap();
    let deadline = server.poll_timeout().expect("a SETTINGS timer");
    assert_eq!(deadline, peer.clock.now + Duration::from_secs(10));
    server.handle_timeout(peer.clock.now + Duration::from_secs(9));
    assert!(!server.is_closed());
    server.handle_timeout(deadline);
    assert!(server.is_closed());
    let got = peer.read(&mut server);
    assert_eq!(goaway_code(&got), Some(Reason::SETTINGS_TIMEOUT));
    assert!(events(&mut server).contains(&Event::Closed {
        error: Some(ConnectionError::SettingsTimeout)
    }));
}

#[test]
fn rfc9113_6_7_ping_measures_round_trip_time() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.drive();
    let payload = p.client.ping(p.clock.now).unwrap();
    // Deliver the PING, let 30 ms pass, deliver the answer.
    let mut out = BytesMut::new();
    while p.client.poll_transmit(&mut out) > 0 {}
    p.server.receive(&out, p.clock.now).unwrap();
    p.clock.advance(Duration::from_millis(30));
    let mut back = BytesMut::new();
    while p.server.poll_transmit(&mut back) > 0 {}
    p.client.receive(&back, p.clock.now).unwrap();
    let ev = events(&mut p.client);
    assert_eq!(
        ev,
        vec![Event::PingAcked {
            payload,
            rtt: Duration::from_millis(30)
        }]
    );
    assert_eq!(p.client.rtt(), Some(Duration::from_millis(30)));
}

#[test]
fn keepalive_pings_and_times_out_a_silent_peer() {
    let mut client = Config::default();
    client.keepalive_interval = Some(Duration::from_secs(10));
    client.keepalive_timeout = Duration::from_secs(5);
    client.keepalive_while_idle = true;
    let mut p = Pair::new(client, Config::default());
    p.drive();
    let t0 = p.clock.now;
    assert_eq!(p.client.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    // A live peer answers: the connection stays up.
    p.clock.advance(Duration::from_secs(10));
    p.client.handle_timeout(p.clock.now);
    p.drive();
    assert!(
        p.take_client_events()
            .iter()
            .any(|e| matches!(e, Event::PingAcked { .. }))
    );
    // A silent peer: the keepalive ping goes unanswered.
    p.clock.advance(Duration::from_secs(10));
    p.client.handle_timeout(p.clock.now);
    let mut out = BytesMut::new();
    while p.client.poll_transmit(&mut out) > 0 {}
    assert_eq!(
        p.client.poll_timeout(),
        Some(p.clock.now + Duration::from_secs(5))
    );
    p.clock.advance(Duration::from_secs(5));
    p.client.handle_timeout(p.clock.now);
    assert!(p.client.is_closed());
    assert!(events(&mut p.client).contains(&Event::Closed {
        error: Some(ConnectionError::KeepaliveTimeout)
    }));
}

#[test]
fn graceful_shutdown_lets_in_flight_streams_finish() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.drive();
    let ids: Vec<_> = (0..3)
        .map(|_| p.client.open_stream(request_head("/a"), true).unwrap())
        .collect();
    p.drive();
    p.server.shutdown(p.clock.now);
    p.drive();
    let ev = p.take_client_events();
    assert!(
        ev.iter().any(
            |e| matches!(e, Event::GoAway { last_stream_id, code: Reason::NO_ERROR, .. }
        if last_stream_id.value() == 5)
        ),
        "{ev:?}"
    );
    assert_eq!(
        p.client.open_stream(request_head("/late"), true),
        Err(SendError::GoingAway)
    );
    assert!(!p.server.is_closed());
    for id in &ids {
        p.server
            .send_headers(*id, fields(&[(":status", "200")]), true)
            .unwrap();
    }
    p.drive();
    assert!(p.server.is_closed());
    assert!(p.client.is_closed());
    assert!(
        p.take_server_events()
            .contains(&Event::Closed { error: None })
    );
    assert!(
        p.take_client_events()
            .contains(&Event::Closed { error: None })
    );
}

#[test]
fn rfc9113_6_8_streams_above_last_stream_id_are_refused() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.drive();
    let a = p.client.open_stream(request_head("/a"), true).unwrap();
    p.drive();
    p.server.shutdown(p.clock.now);
    // The PING is never answered in time: the final GOAWAY names stream 1.
    p.clock.advance(Duration::from_secs(5));
    p.server.handle_timeout(p.clock.now);
    // Meanwhile the client, not yet aware, opens another stream.
    let b = p.client.open_stream(request_head("/b"), true).unwrap();
    p.drive();
    let ev = p.take_client_events();
    assert!(ev.contains(&Event::StreamReset {
        stream: b,
        code: Reason::REFUSED_STREAM,
        initiator: Initiator::Remote
    }));
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::StreamReset { stream, .. } if *stream == a))
    );
    let sev = p.take_server_events();
    assert!(
        !sev.iter()
            .any(|e| matches!(e, Event::Headers { stream, .. } if *stream == b))
    );
    p.server
        .send_headers(a, fields(&[(":status", "200")]), true)
        .unwrap();
    p.drive();
    assert!(p.server.is_closed() && p.client.is_closed());
}

#[test]
fn reset_by_the_client_reaches_the_server() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.drive();
    let id = p.client.open_stream(request_head("/a"), false).unwrap();
    p.drive();
    p.take_server_events();
    p.client.reset(id, Reason::CANCEL);
    p.drive();
    assert_eq!(
        p.take_server_events(),
        vec![Event::StreamReset {
            stream: id,
            code: Reason::CANCEL,
            initiator: Initiator::Remote
        }]
    );
    assert_eq!(p.server.active_streams(), 0);
    assert_eq!(p.client.active_streams(), 0);
}

#[test]
fn blocked_sender_is_told_when_writable() {
    let mut client = small_windows();
    client.max_send_buffer = 1000;
    let mut p = Pair::new(client, small_windows());
    p.drive();
    let id = p.client.open_stream(request_head("/a"), false).unwrap();
    p.client
        .send_data(id, Bytes::from(vec![0u8; 70_000]), false)
        .unwrap();
    assert_eq!(
        p.client.send_data(id, Bytes::from_static(b"more"), false),
        Err(SendError::Blocked(id))
    );
    assert!(!p.client.is_writable(id));
    p.drive();
    let got = data_bytes(&p.take_server_events(), id);
    assert_eq!(got, 65_535);
    p.server.release_capacity(id, got as u32);
    p.drive();
    let ev = p.take_client_events();
    assert!(ev.contains(&Event::Writable { stream: id }), "{ev:?}");
    assert!(p.client.is_writable(id));
}

/// The connection-wide bound on queued DATA: once the streams together
/// hold `max_connection_send_buffer`, every send is refused, whatever the
/// stream's own queue holds; the streams so refused hear Writable once the
/// total is down to three quarters of the bound (here by resets), and the
/// others no earlier than their own rule says.
#[test]
fn the_connection_bounds_what_all_streams_queue() {
    let mut client = Config::default();
    client.max_send_buffer = 1000;
    client.max_connection_send_buffer = 2500;
    let mut p = Pair::new(client, Config::default());
    p.drive();
    let ids: Vec<StreamId> = (0..4)
        .map(|_| p.client.open_stream(request_head("/a"), false).unwrap())
        .collect();
    for &id in &ids[..3] {
        p.client
            .send_data(id, Bytes::from(vec![1u8; 1000]), false)
            .unwrap();
    }
    // 3000 bytes queued: the fourth stream's first send is refused, and so
    // is a second send on the first (by its own bound).
    let last = ids[3];
    assert_eq!(
        p.client.send_data(last, Bytes::from_static(b"x"), false),
        Err(SendError::Blocked(last))
    );
    assert!(!p.client.is_writable(last));
    assert_eq!(p.client.check_writable(last), Err(SendError::Blocked(last)));
    assert_eq!(
        p.client.send_data(ids[0], Bytes::from_static(b"x"), false),
        Err(SendError::Blocked(ids[0]))
    );

    // A reset takes its stream's bytes out: 2000 left, over three
    // quarters of 2500, so nobody is told yet.
    p.client.reset(ids[1], Reason::CANCEL);
    assert!(
        !events(&mut p.client)
            .iter()
            .any(|e| matches!(e, Event::Writable { .. }))
    );
    // A send would be taken now (the bound is not reached); the event
    // waits for more room, so that the woken streams do not find the
    // connection full again at once.
    assert!(p.client.is_writable(last));
    p.client.reset(ids[2], Reason::CANCEL);
    let ev = events(&mut p.client);
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Event::Writable { .. }))
            .collect::<Vec<_>>(),
        vec![&Event::Writable { stream: last }],
        "{ev:?}"
    );
    assert!(p.client.is_writable(last));
    // The first stream is still over its own bound until its bytes go.
    assert!(!p.client.is_writable(ids[0]));
    p.drive();
    let ev = p.take_client_events();
    assert!(ev.contains(&Event::Writable { stream: ids[0] }), "{ev:?}");
    assert_eq!(data_bytes(&p.take_server_events(), ids[0]), 1000);
}

/// A refused stream is told as soon as there is room and nothing else
/// will make more, even while the queues stay above three quarters of the
/// bound: here a stream the peer gives no window keeps 3200 of 4000 bytes
/// queued for good, and the refused stream's own bytes have gone out.
#[test]
fn a_refused_stream_is_told_while_stuck_streams_hold_most_of_the_bound() {
    let mut client = Config::default();
    client.max_send_buffer = 100_000;
    client.max_connection_send_buffer = 4000;
    let mut server = Config::default();
    server.initial_stream_window = 1000;
    let mut p = Pair::new(client, server);
    p.drive();
    let stuck = p.client.open_stream(request_head("/a"), false).unwrap();
    let w = p.client.open_stream(request_head("/w"), false).unwrap();
    p.drive();
    p.client
        .send_data(w, Bytes::from(vec![2u8; 100]), false)
        .unwrap();
    p.client
        .send_data(stuck, Bytes::from(vec![1u8; 4200]), false)
        .unwrap();
    assert_eq!(
        p.client.send_data(w, Bytes::from_static(b"x"), false),
        Err(SendError::Blocked(w))
    );
    p.take_client_events();
    p.drive();
    assert_eq!(data_bytes(&p.take_server_events(), w), 100);
    assert_eq!(p.client.queued_bytes(w), 0);
    assert_eq!(p.client.queued_bytes(stuck), 3200);
    assert!(p.client.is_writable(w));
    let ev = p.take_client_events();
    assert!(ev.contains(&Event::Writable { stream: w }), "{ev:?}");
    p.client
        .send_data(w, Bytes::from_static(b"x"), false)
        .unwrap();
}

#[test]
fn eof_with_streams_open_is_transport_closed() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.drive();
    p.client.open_stream(request_head("/a"), true).unwrap();
    p.drive();
    p.client.receive_eof();
    assert!(events(&mut p.client).contains(&Event::Closed {
        error: Some(ConnectionError::TransportClosed)
    }));
    // Late bytes are absorbed quietly.
    assert!(p.client.receive(b"garbage", p.clock.now).is_ok());
}

/// A header block the HPACK decoder has seen twice on the same table comes
/// back from its memo from the third time: the same fields, shared, under
/// one block id; another block gets another id.
#[test]
fn repeated_blocks_arrive_with_one_block_id() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.drive();
    p.take_server_events();
    p.take_client_events();
    let mut seen = Vec::new();
    for path in ["/a.B/C", "/a.B/D"] {
        for _ in 0..5 {
            p.client.open_stream(request_head(path), true).unwrap();
            p.drive();
            for e in p.take_server_events() {
                if let Event::Headers { fields, .. } = e {
                    assert_eq!(fields, request_head(path), "{path}");
                    seen.push(fields.block_id());
                }
            }
        }
    }
    // The first block inserts the path into the table; the second is the
    // first with the table as it stays, remembered by its bytes; the third
    // is remembered with its fields; the fourth and fifth are answered
    // from the memo.
    let c = seen[3].expect("answered from the memo");
    let d = seen[8].expect("answered from the memo");
    assert_eq!(seen[..5], [None, None, None, Some(c), Some(c)]);
    assert_eq!(seen[5..], [None, None, None, Some(d), Some(d)]);
    assert_ne!(c, d);
}
