//! Peers that are slow on purpose, against both adapters' servers on
//! 127.0.0.1: a client that never speaks or sends its preface a byte at a
//! time (slowloris) is ended by the SETTINGS acknowledgement timeout with
//! GOAWAY SETTINGS_TIMEOUT (RFC 9113 §6.5.3); a peer that advertises a
//! zero window, or stops reading its socket, while the server has lots to
//! send leaves the server's memory bounded and its connection releasable.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use grpc_sansio::frame::{self, Frame, Reason, Settings, StreamId};
use grpc_sansio::server::ServerConfig;
use grpc_sansio_tests::attack::raw::{data, grpc_message, request_head, settings_with_window};
use grpc_sansio_tests::attack::server::path;
use grpc_sansio_tests::attack::{Adapter, Attacker, PROMPT, Scenario};
use grpc_sansio_tests::attack_both;

const SETTINGS_TIMEOUT: Duration = Duration::from_millis(300);

fn short_settings_timeout() -> ServerConfig {
    let mut c = ServerConfig::default();
    c.h2.settings_timeout = SETTINGS_TIMEOUT;
    c
}

/// A client that connects and says nothing: SETTINGS, then GOAWAY
/// SETTINGS_TIMEOUT once the (configured) timeout has passed, then close.
fn silent_client(adapter: Adapter) {
    Scenario::with_config(adapter, short_settings_timeout()).sustain("silent client", |addr| {
        let started = Instant::now();
        let mut a = Attacker::connect(addr);
        a.start_reader();
        a.expect_goaway_and_close(Reason::SETTINGS_TIMEOUT, "");
        let took = started.elapsed();
        assert!(took >= SETTINGS_TIMEOUT, "ended after {took:?}");
        assert!(
            matches!(a.seen.first().and_then(|r| r.frame()), Some(Frame::Settings(s)) if !s.ack),
            "SETTINGS first: {}",
            a.transcript()
        );
    });
}
attack_both!(attack_slowloris_silent, silent_client);

/// The preface one byte every 40 ms (a second for all of it): the timeout
/// ends the connection before the preface is complete.
fn slow_preface(adapter: Adapter) {
    Scenario::with_config(adapter, short_settings_timeout()).sustain("slow preface", |addr| {
        let started = Instant::now();
        let mut a = Attacker::connect(addr);
        a.start_reader();
        for b in frame::PREFACE {
            if a.write_raw(&[*b]).is_err() {
                break;
            }
            if a.wait_for(Duration::from_millis(40), |r| r.is_end())
                .is_some()
            {
                break;
            }
        }
        a.expect_goaway_and_close(Reason::SETTINGS_TIMEOUT, "");
        let took = started.elapsed();
        assert!(
            took < SETTINGS_TIMEOUT + Duration::from_millis(600),
            "ended after {took:?}"
        );
    });
}
attack_both!(attack_slowloris_preface, slow_preface);

/// The handshake done but SETTINGS never acknowledged, with the request
/// headers dribbled a byte at a time: SETTINGS_TIMEOUT too.
fn slow_headers_without_ack(adapter: Adapter) {
    Scenario::with_config(adapter, short_settings_timeout()).sustain("slow headers", |addr| {
        let mut a = Attacker::connect(addr);
        a.start_reader();
        let mut hello = bytes::BytesMut::from(frame::PREFACE);
        Settings::default().encode(&mut hello);
        a.write_raw(&hello).expect("preface written");
        let p = path("Unary");
        let mut head = bytes::BytesMut::new();
        a.headers(1, &request_head(&p, &[]), false)
            .encode(&mut head);
        for b in head.iter() {
            if a.write_raw(&[*b]).is_err() {
                break;
            }
            if a.wait_for(Duration::from_millis(40), |r| r.is_end())
                .is_some()
            {
                break;
            }
        }
        a.expect_goaway_and_close(Reason::SETTINGS_TIMEOUT, "");
    });
}
attack_both!(attack_slowloris_headers, slow_headers_without_ack);

/// Open a `Firehose` call asking for `n` messages of 64 KiB.
fn firehose(a: &mut Attacker, n: u32) {
    let p = path("Firehose");
    let h = a.headers(1, &request_head(&p, &[]), false);
    let ask = format!("{n}:65536");
    a.send_all([h, data(1, grpc_message(ask.as_bytes()), true)])
        .expect("request written");
}

/// A peer that advertises SETTINGS_INITIAL_WINDOW_SIZE = 0 and never
/// reads, while its call has 128 MiB to send: the handler waits (it is
/// not spinning and nothing piles up), and when the peer leaves, the
/// handler and the connection go.
fn zero_window(adapter: Adapter) {
    let s = Scenario::start(adapter);
    let live = s.server.live.clone();
    s.sustain("zero-window peer", |addr: SocketAddr| {
        let mut a = Attacker::connect(addr);
        a.handshake(settings_with_window(0)).expect("handshake");
        firehose(&mut a, 2048);
        thread::sleep(Duration::from_millis(300));
        assert_eq!(live.count(), 1, "the handler should be waiting");
        drop(a);
    });
}
attack_both!(attack_zero_window_peer, zero_window);

/// A peer that opens every window wide and then never reads its socket:
/// the server writes until the socket is full and then holds at most its
/// send buffer. Early PINGs then break the keepalive policy: the server
/// ends the connection and must let it go although its GOAWAY can never
/// be written (the peer still holds the socket, unread).
fn unread_socket(adapter: Adapter) {
    let s = Scenario::start(adapter);
    let mut a = Attacker::connect(s.server.addr);
    a.handshake(settings_with_window(frame::MAX_WINDOW_SIZE))
        .expect("handshake");
    a.send(Frame::WindowUpdate(frame::WindowUpdate {
        stream_id: StreamId::ZERO,
        increment: frame::MAX_WINDOW_SIZE - 65_535,
    }))
    .expect("window written");
    firehose(&mut a, 2048);
    thread::sleep(Duration::from_millis(400));
    assert_eq!(s.server.live.count(), 1, "the handler should be waiting");
    for i in 0..10u8 {
        let _ = a.send(Frame::Ping(frame::Ping {
            ack: false,
            payload: [i; 8],
        }));
    }
    let released = s.server.settles_to(1, PROMPT);
    let (conns, live) = (s.server.connections(), s.server.live.count());
    drop(a);
    assert!(
        released,
        "the {adapter:?} server kept a connection it had ended while the peer did not read: \
         {conns} connections, {live} handlers"
    );
    s.server.assert_settles_to(1, "unread socket");
    s.finish("unread socket");
}
attack_both!(attack_unread_socket, unread_socket);
