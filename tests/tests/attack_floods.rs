//! Floods of frames that cost the server work but carry nothing useful
//! (CVE-2023-44487 rapid reset, the CVE-2019-9511..9518 family), against
//! both adapters' servers on 127.0.0.1. Each flood must end the
//! attacker's connection with GOAWAY ENHANCE_YOUR_CALM (RFC 9113 §5.4.1,
//! the code h2, grpc-go and nginx use for abuse) and then close it, while
//! a benign client on another connection keeps its calls fast and memory
//! stays bounded. Each attack repeats on fresh connections for a while
//! (see `Scenario::sustain`).

use std::net::SocketAddr;

use grpc_sansio::frame::{self, Frame, Reason, Settings, StreamId};
use grpc_sansio::server::ServerConfig;
use grpc_sansio_tests::attack::raw::{data, request_head};
use grpc_sansio_tests::attack::server::path;
use grpc_sansio_tests::attack::{Adapter, Attacker, Scenario};
use grpc_sansio_tests::attack_both;

fn ping(i: u32) -> Frame {
    Frame::Ping(frame::Ping {
        ack: false,
        payload: u64::from(i).to_be_bytes(),
    })
}

/// HEADERS then RST_STREAM(CANCEL), stream after stream: the server must
/// stop after its reset budget (1000 per 10 s) instead of starting a
/// handler for every stream forever.
fn rapid_reset_once(addr: SocketAddr) {
    let mut a = Attacker::open(addr);
    let p = path("Unary");
    let head = request_head(&p, &[]);
    let mut written = 0;
    for batch in 0..30u32 {
        let mut frames = Vec::new();
        for j in 0..100 {
            let id = 2 * (batch * 100 + j) + 1;
            frames.push(a.headers(id, &head, false));
            frames.push(Frame::RstStream(frame::RstStream {
                stream_id: StreamId::new(id),
                code: Reason::CANCEL,
            }));
        }
        if a.send_all(frames).is_err() {
            break;
        }
        written += 100;
    }
    let g = a.expect_goaway_and_close(Reason::ENHANCE_YOUR_CALM, "resets");
    assert!(written > 1000, "only {written} streams were written");
    assert!(
        g.last_stream_id.value() <= 2 * 1001 + 1,
        "the server went on after the reset budget: {}",
        g.last_stream_id
    );
}

fn rapid_reset(adapter: Adapter) {
    Scenario::start(adapter).sustain("rapid reset", rapid_reset_once);
}
attack_both!(attack_rapid_reset, rapid_reset);

/// Requests the server must reset itself (an uppercase header name is a
/// malformed request, §8.2.1): each gets RST_STREAM PROTOCOL_ERROR until
/// the reset budget is spent, then GOAWAY.
fn reset_flood_once(addr: SocketAddr) {
    let mut a = Attacker::open(addr);
    let p = path("Unary");
    let head = request_head(&p, &[("X-Bad", "1")]);
    for batch in 0..20u32 {
        let frames: Vec<Frame> = (0..100)
            .map(|j| a.headers(2 * (batch * 100 + j) + 1, &head, true))
            .collect();
        if a.send_all(frames).is_err() {
            break;
        }
    }
    a.expect_goaway_and_close(Reason::ENHANCE_YOUR_CALM, "resets");
    let resets = a.resets();
    assert!(!resets.is_empty(), "no RST_STREAM before the GOAWAY");
    assert!(
        resets.iter().all(|(_, c)| *c == Reason::PROTOCOL_ERROR),
        "resets: {:?}",
        &resets[..resets.len().min(5)]
    );
    assert!(resets.len() <= 1001, "{} resets sent", resets.len());
}

fn reset_flood(adapter: Adapter) {
    Scenario::start(adapter).sustain("reset flood", reset_flood_once);
}
attack_both!(attack_reset_flood, reset_flood);

/// PINGs as fast as they can be written, with the default server policy
/// (gRPC keepalive enforcement): the third early PING is a strike too
/// many, GOAWAY ENHANCE_YOUR_CALM "too_many_pings" as gRPC servers send.
fn ping_flood_policed(adapter: Adapter) {
    Scenario::start(adapter).sustain("ping flood (policed)", |addr| {
        let mut a = Attacker::open(addr);
        a.flood(2000, 50, ping);
        a.expect_goaway_and_close(Reason::ENHANCE_YOUR_CALM, "too_many_pings");
        let acks = a.count(|f| matches!(f, Frame::Ping(p) if p.ack));
        assert!(acks <= 3, "{acks} PINGs answered");
    });
}
attack_both!(attack_ping_flood_policed, ping_flood_policed);

/// The same flood with keepalive enforcement off: the flood limit (1000
/// PINGs per 10 s) still ends it, and every PING up to it is answered
/// (the acknowledgements come before the GOAWAY), none after.
fn ping_flood_unpoliced(adapter: Adapter) {
    let mut config = ServerConfig::default();
    config.h2.ping_policy = None;
    Scenario::with_config(adapter, config).sustain("ping flood (flood limit)", |addr| {
        let mut a = Attacker::open(addr);
        a.flood(5000, 100, ping);
        a.expect_goaway_and_close(Reason::ENHANCE_YOUR_CALM, "PING");
        let acks = a.count(|f| matches!(f, Frame::Ping(p) if p.ack));
        assert_eq!(acks, 1000, "PINGs answered (the flood limit is 1000)");
    });
}
attack_both!(attack_ping_flood_unpoliced, ping_flood_unpoliced);

/// SETTINGS frames over and over (each one costs an acknowledgement).
fn settings_flood(adapter: Adapter) {
    Scenario::start(adapter).sustain("settings flood", |addr| {
        let mut a = Attacker::open(addr);
        a.flood(1000, 50, |_| Frame::Settings(Settings::default()));
        a.expect_goaway_and_close(Reason::ENHANCE_YOUR_CALM, "SETTINGS");
        let acks = a.count(|f| matches!(f, Frame::Settings(s) if s.ack));
        assert!(acks <= 101, "{acks} SETTINGS acknowledged");
    });
}
attack_both!(attack_settings_flood, settings_flood);

/// Empty DATA frames without END_STREAM on an open call.
fn empty_data_flood(adapter: Adapter) {
    Scenario::start(adapter).sustain("empty DATA flood", |addr| {
        let mut a = Attacker::open(addr);
        let p = path("Unary");
        let h = a.headers(1, &request_head(&p, &[]), false);
        a.send(h).expect("request written");
        a.flood(5000, 100, |_| data(1, &b""[..], false));
        a.expect_goaway_and_close(Reason::ENHANCE_YOUR_CALM, "empty");
    });
}
attack_both!(attack_empty_data_flood, empty_data_flood);

/// PRIORITY frames (which we never act on) on ever new streams.
fn priority_flood(adapter: Adapter) {
    Scenario::start(adapter).sustain("PRIORITY flood", |addr| {
        let mut a = Attacker::open(addr);
        a.flood(5000, 100, |i| {
            Frame::Priority(frame::Priority {
                stream_id: StreamId::new(2 * i + 1),
                spec: frame::PrioritySpec {
                    dependency: StreamId::ZERO,
                    exclusive: false,
                    weight: 15,
                },
            })
        });
        a.expect_goaway_and_close(Reason::ENHANCE_YOUR_CALM, "PRIORITY");
    });
}
attack_both!(attack_priority_flood, priority_flood);

/// Acknowledgements of nothing the server sent: PING ACKs with payloads
/// it never sent, and SETTINGS ACKs with no SETTINGS outstanding.
fn stray_ack_flood(adapter: Adapter) {
    Scenario::start(adapter).sustain("stray acknowledgement flood", |addr| {
        let mut a = Attacker::open(addr);
        a.flood(5000, 100, |i| {
            if i % 2 == 0 {
                Frame::Ping(frame::Ping {
                    ack: true,
                    payload: u64::from(i).to_be_bytes(),
                })
            } else {
                Frame::Settings(Settings {
                    ack: true,
                    ..Settings::default()
                })
            }
        });
        a.expect_goaway_and_close(Reason::ENHANCE_YOUR_CALM, "acknowledgements");
    });
}
attack_both!(attack_stray_ack_flood, stray_ack_flood);

/// Frames of a type nobody defined, with a payload each: ignored one by
/// one, as RFC 9113 asks, but a flood of them is cut off like other
/// frames that carry nothing.
fn unknown_frame_flood(adapter: Adapter) {
    Scenario::start(adapter).sustain("unknown frame flood", |addr| {
        let mut a = Attacker::open(addr);
        a.flood(5000, 100, |i| {
            Frame::Unknown(frame::Unknown {
                frame_type: 0xfa,
                flags: 0,
                stream_id: StreamId::new(i % 5),
                payload: bytes::Bytes::from_static(&[0x55; 64]),
            })
        });
        a.expect_goaway_and_close(Reason::ENHANCE_YOUR_CALM, "unknown");
    });
}
attack_both!(attack_unknown_frame_flood, unknown_frame_flood);

/// WINDOW_UPDATE frames of increment 1 on the connection.
fn window_update_flood(adapter: Adapter) {
    Scenario::start(adapter).sustain("WINDOW_UPDATE flood", |addr| {
        let mut a = Attacker::open(addr);
        a.flood(40_000, 1000, |_| {
            Frame::WindowUpdate(frame::WindowUpdate {
                stream_id: StreamId::ZERO,
                increment: 1,
            })
        });
        a.expect_goaway_and_close(Reason::ENHANCE_YOUR_CALM, "WINDOW_UPDATE");
    });
}
attack_both!(attack_window_update_flood, window_update_flood);
