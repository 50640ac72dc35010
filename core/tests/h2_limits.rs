//! Flood and abuse limits of the HTTP/2 layer: each ends the offender with
//! GOAWAY ENHANCE_YOUR_CALM (or the code RFC 9113 names) and bounds what the
//! connection holds.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use grpc_sansio::frame::{
    self, Continuation, Frame, Ping, Priority, PrioritySpec, Reason, RstStream, Settings,
    WindowUpdate,
};
use grpc_sansio::h2::{Config, Limits, PingPolicy, Rate};
use support::*;

fn limited(f: impl FnOnce(&mut Limits)) -> Config {
    let mut c = Config::default();
    f(&mut c.limits);
    c
}

#[test]
fn rapid_reset_cve_2023_44487_is_cut_off() {
    let config = limited(|l| l.resets = Rate::new(100, Duration::from_secs(10)));
    let (mut peer, mut conn) = RawPeer::server(config);
    let mut closed_at = None;
    for i in 0..200u32 {
        let id = 2 * i + 1;
        let h = peer.headers(id, &request_head("/a.B/C"), false);
        let _ = peer.send(&mut conn, h);
        let _ = peer.send(
            &mut conn,
            Frame::RstStream(RstStream::new(sid(id), Reason::CANCEL)),
        );
        if conn.is_closed() {
            closed_at = Some(i);
            break;
        }
    }
    assert_eq!(
        closed_at,
        Some(100),
        "the 101st reset in the period ends it"
    );
    let got = peer.read(&mut conn);
    assert_eq!(goaway_code(&got), Some(Reason::ENHANCE_YOUR_CALM));
    assert_eq!(conn.active_streams(), 0);
}

#[test]
fn resets_spread_over_time_are_tolerated() {
    let config = limited(|l| l.resets = Rate::new(100, Duration::from_secs(10)));
    let (mut peer, mut conn) = RawPeer::server(config);
    for i in 0..300u32 {
        if i % 50 == 0 {
            peer.clock.advance(Duration::from_secs(5));
        }
        let id = 2 * i + 1;
        let h = peer.headers(id, &request_head("/a.B/C"), false);
        peer.send(&mut conn, h).unwrap();
        peer.send(
            &mut conn,
            Frame::RstStream(RstStream::new(sid(id), Reason::CANCEL)),
        )
        .unwrap();
    }
    assert!(!conn.is_closed());
}

#[test]
fn ping_flood_is_cut_off() {
    let config = limited(|l| l.pings = Rate::new(50, Duration::from_secs(10)));
    let (mut peer, mut conn) = RawPeer::server(config);
    for _ in 0..50 {
        peer.send(&mut conn, Frame::Ping(Ping::new([1; 8])))
            .unwrap();
    }
    assert!(
        peer.send(&mut conn, Frame::Ping(Ping::new([1; 8])))
            .is_err()
    );
    let got = peer.read(&mut conn);
    assert_eq!(goaway_code(&got), Some(Reason::ENHANCE_YOUR_CALM));
    let acks = got
        .iter()
        .filter(|f| matches!(f, Frame::Ping(p) if p.ack))
        .count();
    assert_eq!(acks, 50);
}

#[test]
fn settings_flood_is_cut_off() {
    let config = limited(|l| l.settings = Rate::new(20, Duration::from_secs(10)));
    let (mut peer, mut conn) = RawPeer::server(config);
    // The handshake's SETTINGS counted once.
    for _ in 0..19 {
        peer.send(&mut conn, Frame::Settings(Settings::default()))
            .unwrap();
    }
    assert!(
        peer.send(&mut conn, Frame::Settings(Settings::default()))
            .is_err()
    );
    assert_eq!(
        goaway_code(&peer.read(&mut conn)),
        Some(Reason::ENHANCE_YOUR_CALM)
    );
}

#[test]
fn empty_data_and_priority_flood_cve_2019_9518_is_cut_off() {
    let config = limited(|l| l.empty_frames = Rate::new(100, Duration::from_secs(10)));
    let (mut peer, mut conn) = RawPeer::server(config);
    let h = peer.headers(1, &request_head("/a.B/C"), false);
    peer.send(&mut conn, h).unwrap();
    for i in 0..100 {
        let f = if i % 2 == 0 {
            peer.data(1, b"", false)
        } else {
            Frame::Priority(Priority {
                stream_id: sid(3),
                spec: PrioritySpec {
                    dependency: sid(0),
                    exclusive: false,
                    weight: 1,
                },
            })
        };
        peer.send(&mut conn, f).unwrap();
    }
    assert!(peer.send(&mut conn, peer.data(1, b"", false)).is_err());
    assert_eq!(
        goaway_code(&peer.read(&mut conn)),
        Some(Reason::ENHANCE_YOUR_CALM)
    );
}

/// An empty DATA frame on a stream we reset (whose late frames are
/// ignored) carries nothing either: it counts as an empty frame as it
/// would on an open stream, so the limit cannot be sidestepped by getting
/// one stream reset first.
#[test]
fn empty_data_on_a_stream_we_reset_is_cut_off() {
    let config = limited(|l| l.empty_frames = Rate::new(100, Duration::from_secs(10)));
    let (mut peer, mut conn) = RawPeer::server(config);
    let h = peer.headers(1, &request_head("/a.B/C"), false);
    peer.send(&mut conn, h).unwrap();
    conn.reset(sid(1), Reason::CANCEL);
    peer.read(&mut conn);
    for _ in 0..100 {
        peer.send(&mut conn, peer.data(1, b"", false)).unwrap();
    }
    assert!(!conn.is_closed(), "within the limit");
    assert!(peer.send(&mut conn, peer.data(1, b"", false)).is_err());
    assert_eq!(
        goaway_code(&peer.read(&mut conn)),
        Some(Reason::ENHANCE_YOUR_CALM)
    );
}

/// Repeated GOAWAYs that lower nothing are only work for us: counted as
/// empty frames, and a flood of them ends the connection. A GOAWAY that
/// does lower the last stream still counts for what it says.
#[test]
fn goaway_flood_is_cut_off() {
    let config = limited(|l| l.empty_frames = Rate::new(100, Duration::from_secs(10)));
    let (mut peer, mut conn) = RawPeer::server(config);
    let h = peer.headers(1, &request_head("/a.B/C"), false);
    peer.send(&mut conn, h).unwrap();
    let goaway = |last: u32| {
        Frame::GoAway(frame::GoAway {
            last_stream_id: sid(last),
            code: Reason::NO_ERROR,
            debug_data: Bytes::new(),
        })
    };
    peer.send(&mut conn, goaway(0x7fff_ffff)).unwrap();
    // Our side answers the first with its own graceful GOAWAY.
    assert_eq!(goaway_code(&peer.read(&mut conn)), Some(Reason::NO_ERROR));
    for _ in 0..100 {
        peer.send(&mut conn, goaway(0x7fff_ffff)).unwrap();
    }
    assert!(!conn.is_closed(), "within the limit");
    assert!(peer.send(&mut conn, goaway(0x7fff_ffff)).is_err());
    assert_eq!(
        goaway_code(&peer.read(&mut conn)),
        Some(Reason::ENHANCE_YOUR_CALM)
    );
}

/// Acknowledgements of nothing we sent (PING ACKs with payloads we never
/// sent, SETTINGS ACKs with no SETTINGS outstanding) count as empty
/// frames.
#[test]
fn stray_acknowledgement_flood_is_cut_off() {
    let config = limited(|l| l.empty_frames = Rate::new(100, Duration::from_secs(10)));
    let (mut peer, mut conn) = RawPeer::server(config);
    let ack = Settings {
        ack: true,
        ..Settings::default()
    };
    for i in 0..100u8 {
        let f = if i % 2 == 0 {
            let mut p = Ping::new([i; 8]);
            p.ack = true;
            Frame::Ping(p)
        } else {
            Frame::Settings(ack)
        };
        peer.send(&mut conn, f).unwrap();
    }
    assert!(!conn.is_closed(), "within the limit");
    let mut p = Ping::new([7; 8]);
    p.ack = true;
    assert!(peer.send(&mut conn, Frame::Ping(p)).is_err());
    assert_eq!(
        goaway_code(&peer.read(&mut conn)),
        Some(Reason::ENHANCE_YOUR_CALM)
    );
}

/// Frames of unknown types are ignored (RFC 9113 §5.5), but each counts as
/// an empty frame: a flood of them, which costs the peer nothing (no
/// window, no stream), ends the connection.
#[test]
fn unknown_frame_flood_is_cut_off() {
    let config = limited(|l| l.empty_frames = Rate::new(100, Duration::from_secs(10)));
    let (mut peer, mut conn) = RawPeer::server(config);
    let unknown = |i: u32| {
        Frame::Unknown(frame::Unknown {
            frame_type: 0xfa,
            flags: 0,
            stream_id: sid(i % 3),
            payload: Bytes::from(vec![0x55; 1000]),
        })
    };
    for i in 0..100 {
        peer.send(&mut conn, unknown(i)).unwrap();
    }
    assert!(!conn.is_closed(), "within the limit: ignored");
    assert!(peer.read(&mut conn).is_empty(), "and not answered");
    assert!(peer.send(&mut conn, unknown(100)).is_err());
    assert_eq!(
        goaway_code(&peer.read(&mut conn)),
        Some(Reason::ENHANCE_YOUR_CALM)
    );
}

#[test]
fn window_update_flood_is_cut_off() {
    let config = limited(|l| l.window_updates = Rate::new(100, Duration::from_secs(10)));
    let (mut peer, mut conn) = RawPeer::server(config);
    for _ in 0..100 {
        peer.send(&mut conn, Frame::WindowUpdate(WindowUpdate::new(sid(0), 1)))
            .unwrap();
    }
    assert!(
        peer.send(&mut conn, Frame::WindowUpdate(WindowUpdate::new(sid(0), 1)))
            .is_err()
    );
    assert_eq!(
        goaway_code(&peer.read(&mut conn)),
        Some(Reason::ENHANCE_YOUR_CALM)
    );
}

#[test]
fn continuation_flood_cve_2024_27316_is_cut_off() {
    let (mut peer, mut conn) = RawPeer::server(Config::default());
    let block = peer.block(&request_head("/a.B/C"));
    peer.send(
        &mut conn,
        Frame::Headers(frame::Headers {
            stream_id: sid(1),
            fragment: block,
            end_stream: false,
            end_headers: false,
            priority: None,
            pad_len: None,
        }),
    )
    .unwrap();
    let mut ended = false;
    for _ in 0..1000 {
        let r = peer.send(
            &mut conn,
            Frame::Continuation(Continuation {
                stream_id: sid(1),
                fragment: Bytes::new(),
                end_headers: false,
            }),
        );
        if r.is_err() {
            ended = true;
            break;
        }
    }
    assert!(ended);
    assert_eq!(
        goaway_code(&peer.read(&mut conn)),
        Some(Reason::ENHANCE_YOUR_CALM)
    );
}

#[test]
fn endless_header_block_is_bounded() {
    let (mut peer, mut conn) = RawPeer::server(Config::default());
    let junk = Bytes::from(vec![0x40u8; 16_000]);
    peer.send(
        &mut conn,
        Frame::Headers(frame::Headers {
            stream_id: sid(1),
            fragment: junk.clone(),
            end_stream: false,
            end_headers: false,
            priority: None,
            pad_len: None,
        }),
    )
    .unwrap();
    let mut sent = 16_000;
    while peer
        .send(
            &mut conn,
            Frame::Continuation(Continuation {
                stream_id: sid(1),
                fragment: junk.clone(),
                end_headers: false,
            }),
        )
        .is_ok()
    {
        sent += 16_000;
        assert!(sent <= 64 << 10, "buffered past max_header_block_size");
    }
    assert_eq!(
        goaway_code(&peer.read(&mut conn)),
        Some(Reason::ENHANCE_YOUR_CALM)
    );
}

#[test]
fn peer_that_never_reads_control_frames_is_cut_off() {
    let mut config = Config::default();
    config.max_pending_control = 1024;
    let (mut peer, mut conn) = RawPeer::server(config);
    // Each PING needs a 17-byte answer; we never read them.
    let mut pings = BytesMut::new();
    for _ in 0..100 {
        Ping::new([9; 8]).encode(&mut pings);
    }
    assert!(peer.send_raw(&mut conn, &pings).is_err());
    assert!(conn.is_closed());
    let got = peer.read(&mut conn);
    assert_eq!(goaway_code(&got), Some(Reason::ENHANCE_YOUR_CALM));
}

/// Frames that break a stream-level rule of their own (here a zero
/// WINDOW_UPDATE increment on a stream that was opened) are answered with
/// RST_STREAM: those answers are control frames too, held to the same
/// bound, even when no valid frame comes between them.
#[test]
fn peer_that_never_reads_its_stream_resets_is_cut_off() {
    let mut config = Config::default();
    config.max_pending_control = 1024;
    let (mut peer, mut conn) = RawPeer::server(config);
    let h = peer.headers(1, &request_head("/a.B/C"), false);
    peer.send(&mut conn, h).unwrap();
    // Each bad frame needs a 13-byte RST_STREAM; we never read them.
    let mut bad = BytesMut::new();
    for _ in 0..200 {
        WindowUpdate {
            stream_id: sid(1),
            increment: 0,
        }
        .encode(&mut bad);
    }
    assert!(peer.send_raw(&mut conn, &bad).is_err());
    assert!(conn.is_closed());
    let got = peer.read(&mut conn);
    assert_eq!(goaway_code(&got), Some(Reason::ENHANCE_YOUR_CALM));
    assert!(
        resets(&got).len() * 13 <= 1024 + 13,
        "{} resets held",
        resets(&got).len()
    );
}

#[test]
fn grpc_keepalive_enforcement_too_many_pings() {
    let mut config = Config::default();
    config.ping_policy = Some(PingPolicy::default());
    let (mut peer, mut conn) = RawPeer::server(config);
    // No stream open and pings not permitted without streams: the first
    // is allowed, the next ones within two hours are strikes, and the
    // third strike ends the connection.
    for i in 0..3 {
        peer.clock.advance(Duration::from_secs(60 * 60));
        peer.send(&mut conn, Frame::Ping(Ping::new([i; 8])))
            .unwrap();
    }
    assert!(!conn.is_closed());
    assert!(
        peer.send(&mut conn, Frame::Ping(Ping::new([3; 8])))
            .is_err()
    );
    let got = peer.read(&mut conn);
    let debug = got.iter().find_map(|f| match f {
        Frame::GoAway(g) => Some((g.code, g.debug_data.clone())),
        _ => None,
    });
    assert_eq!(
        debug,
        Some((
            Reason::ENHANCE_YOUR_CALM,
            Bytes::from_static(b"too_many_pings")
        ))
    );
}

#[test]
fn grpc_keepalive_enforcement_allows_idle_pings_two_hours_apart() {
    let mut config = Config::default();
    config.ping_policy = Some(PingPolicy::default());
    let (mut peer, mut conn) = RawPeer::server(config);
    for i in 0..6 {
        peer.clock.advance(Duration::from_secs(2 * 60 * 60));
        peer.send(&mut conn, Frame::Ping(Ping::new([i; 8])))
            .unwrap();
    }
    assert!(!conn.is_closed());
    // Every one of them was answered.
    let acks = peer
        .read(&mut conn)
        .iter()
        .filter(|f| matches!(f, Frame::Ping(p) if p.ack))
        .count();
    assert_eq!(acks, 6);
}

#[test]
fn grpc_keepalive_enforcement_allows_spaced_pings_with_streams() {
    let mut config = Config::default();
    config.ping_policy = Some(PingPolicy {
        min_interval: Duration::from_secs(10),
        permit_without_streams: false,
        max_strikes: 2,
    });
    let (mut peer, mut conn) = RawPeer::server(config);
    let h = peer.headers(1, &request_head("/a.B/C"), false);
    peer.send(&mut conn, h).unwrap();
    for i in 0..10 {
        peer.clock.advance(Duration::from_secs(10));
        peer.send(&mut conn, Frame::Ping(Ping::new([i; 8])))
            .unwrap();
    }
    assert!(!conn.is_closed());
}

#[test]
fn grpc_keepalive_enforcement_idle_interval_is_never_shorter_than_min_interval() {
    // A policy whose interval is longer than two hours: a connection that
    // does not permit PINGs without streams must not take, while idle,
    // PINGs that one permitting them counts as strikes.
    for permit_without_streams in [true, false] {
        let mut config = Config::default();
        config.ping_policy = Some(PingPolicy {
            min_interval: Duration::from_secs(3 * 60 * 60),
            permit_without_streams,
            max_strikes: 0,
        });
        let (mut peer, mut conn) = RawPeer::server(config);
        peer.send(&mut conn, Frame::Ping(Ping::new([1; 8])))
            .unwrap();
        peer.clock.advance(Duration::from_secs(150 * 60));
        assert!(
            peer.send(&mut conn, Frame::Ping(Ping::new([2; 8])))
                .is_err(),
            "an idle PING 2.5 hours after the last taken with a 3-hour interval \
             (permit_without_streams {permit_without_streams})"
        );
    }
}

#[test]
fn grpc_keepalive_enforcement_our_headers_forgive_the_next_ping() {
    // Sending HEADERS or DATA resets the strikes as gRPC servers do: the
    // next PING is no strike, however soon after the last it comes, so
    // three more PINGs in a row are only two strikes.
    let mut config = Config::default();
    config.ping_policy = Some(PingPolicy::default());
    let (mut peer, mut conn) = RawPeer::server(config);
    let h = peer.headers(1, &request_head("/a.B/C"), false);
    peer.send(&mut conn, h).unwrap();
    peer.send(&mut conn, Frame::Ping(Ping::new([0; 8])))
        .unwrap();
    conn.send_headers(sid(1), fields(&[(":status", "200")]), false)
        .unwrap();
    peer.read(&mut conn);
    for i in 1..4 {
        peer.clock.advance(Duration::from_secs(1));
        peer.send(&mut conn, Frame::Ping(Ping::new([i; 8])))
            .unwrap();
    }
    assert!(!conn.is_closed());
    // A fourth is the third strike.
    assert!(
        peer.send(&mut conn, Frame::Ping(Ping::new([4; 8])))
            .is_err()
    );
}

#[test]
fn oversized_header_list_is_reported_for_its_stream_only() {
    let mut config = Config::default();
    config.max_header_list_size = 1024;
    let (mut peer, mut conn) = RawPeer::server(config);
    let mut h = request_head("/a.B/C");
    h.push(field("x-big", &"v".repeat(2000)));
    let f = peer.headers(1, &h, true);
    peer.send(&mut conn, f).unwrap();
    let ev = events(&mut conn);
    assert_eq!(
        ev,
        vec![grpc_sansio::h2::Event::HeaderListTooLarge {
            stream: sid(1),
            end_stream: true
        }]
    );
    // HPACK is still in step: a normal request on the next stream decodes.
    let f = peer.headers(3, &request_head("/a.B/C"), true);
    peer.send(&mut conn, f).unwrap();
    let ev = events(&mut conn);
    assert!(
        matches!(&ev[..], [grpc_sansio::h2::Event::Headers { stream, .. }] if *stream == sid(3))
    );
}

#[test]
fn window_updates_that_acknowledge_our_data_are_not_a_flood() {
    // A strict limit, a fast stream: the client sends a WINDOW_UPDATE for
    // every chunk it consumes, far more than the limit, all earned by DATA.
    let mut server = Config::default();
    server.limits.window_updates = Rate::new(10, Duration::from_secs(10));
    let mut client = Config::default();
    client.initial_stream_window = 65_535;
    client.connection_window = 65_535;
    let mut p = Pair::new(client, server);
    p.drive();
    let id = p.client.open_stream(request_head("/a.B/C"), true).unwrap();
    p.drive();
    p.server
        .send_headers(id, fields(&[(":status", "200")]), false)
        .unwrap();
    p.server
        .send_data(id, Bytes::from(vec![1u8; 4 << 20]), true)
        .unwrap();
    let mut received = 0;
    for _ in 0..10_000 {
        p.drive();
        let n: usize = p
            .take_client_events()
            .iter()
            .map(|e| match e {
                grpc_sansio::h2::Event::Data { data, .. } => data.len(),
                _ => 0,
            })
            .sum();
        if n == 0 {
            break;
        }
        received += n;
        // Release in small pieces so that many updates go out.
        for _ in 0..4 {
            p.client.release_capacity(id, (n / 4) as u32);
        }
        p.client.release_capacity(id, (n % 4) as u32);
    }
    assert_eq!(received, 4 << 20);
    assert!(!p.server.is_closed(), "no GOAWAY for earned updates");
}

#[test]
fn slowloris_headers_are_timed_out() {
    // Handshake done, then a header block that never finishes: HEADERS
    // without END_HEADERS, and a CONTINUATION byte now and then.
    let (mut peer, mut conn) = RawPeer::server(Config::default());
    let block = peer.block(&request_head("/a.B/C"));
    let (first, rest) = block.split_at(3);
    peer.send(
        &mut conn,
        Frame::Headers(frame::Headers {
            stream_id: sid(1),
            fragment: Bytes::copy_from_slice(first),
            end_stream: true,
            end_headers: false,
            priority: None,
            pad_len: None,
        }),
    )
    .unwrap();
    let start = peer.clock.now;
    assert_eq!(conn.poll_timeout(), Some(start + Duration::from_secs(30)));
    for b in rest.iter().take(3) {
        peer.clock.advance(Duration::from_secs(9));
        conn.handle_timeout(peer.clock.now);
        peer.send(
            &mut conn,
            Frame::Continuation(Continuation {
                stream_id: sid(1),
                fragment: Bytes::copy_from_slice(&[*b]),
                end_headers: false,
            }),
        )
        .unwrap();
    }
    assert!(!conn.is_closed());
    peer.clock.advance(Duration::from_secs(3));
    conn.handle_timeout(peer.clock.now);
    assert!(conn.is_closed(), "30 s after the block began");
    assert_eq!(
        goaway_code(&peer.read(&mut conn)),
        Some(Reason::ENHANCE_YOUR_CALM)
    );
}

#[test]
fn a_frame_trickled_byte_by_byte_is_timed_out_but_a_complete_one_is_not() {
    let (mut peer, mut conn) = RawPeer::server(Config::default());
    let mut ping = BytesMut::new();
    Ping::new([7; 8]).encode(&mut ping);
    // Whole frames, however far apart, are fine.
    for _ in 0..3 {
        peer.clock.advance(Duration::from_secs(60));
        conn.handle_timeout(peer.clock.now);
        peer.send_raw(&mut conn, &ping).unwrap();
    }
    assert!(!conn.is_closed());
    // One frame trickled over 34 s is not.
    for b in &ping[..ping.len() - 1] {
        peer.send_raw(&mut conn, &[*b]).unwrap();
        peer.clock.advance(Duration::from_secs(2));
        conn.handle_timeout(peer.clock.now);
    }
    assert!(conn.is_closed());
    assert_eq!(
        goaway_code(&peer.read(&mut conn)),
        Some(Reason::ENHANCE_YOUR_CALM)
    );
}

/// Interim (1xx) responses are read and dropped: a server that sends
/// them without end makes its client decode header blocks for nothing.
/// They count as empty frames, and a flood of them ends the connection.
#[test]
fn interim_response_flood_is_cut_off() {
    let config = limited(|l| l.empty_frames = Rate::new(100, Duration::from_secs(10)));
    let mut peer = RawPeer::new();
    let mut conn = grpc_sansio::h2::Connection::client(config, peer.clock.now);
    let mut out = BytesMut::new();
    Settings::default().encode(&mut out);
    conn.receive(&out, peer.clock.now).expect("server SETTINGS");
    let id = conn
        .open_stream(request_head("/a.B/C"), false)
        .expect("stream");
    let mut sent = BytesMut::new();
    while conn.poll_transmit(&mut sent) > 0 {}
    let interim = fields(&[(":status", "100")]);
    for _ in 0..100 {
        let h = peer.headers(id.value(), &interim, false);
        peer.send(&mut conn, h).unwrap();
    }
    assert!(!conn.is_closed(), "within the limit");
    let h = peer.headers(id.value(), &interim, false);
    assert!(peer.send(&mut conn, h).is_err());
    let mut wire = BytesMut::new();
    while conn.poll_transmit(&mut wire) > 0 {}
    let mut frames = Vec::new();
    while let Ok(Some(f)) = peer.frames.decode(&mut wire) {
        frames.push(f);
    }
    assert_eq!(goaway_code(&frames), Some(Reason::ENHANCE_YOUR_CALM));
}
