//! Connection lifecycle of the blocking adapter: graceful shutdown with a
//! call in flight, the grace period running out, reconnecting after the
//! server restarts, wait-for-ready, and channel states.

#[path = "support/blocking.rs"]
mod support;

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use grpc_sansio_blocking::{
    BackoffConfig, BytesCodec, CallOptions, Channel, Code, ConnectivityState, Server,
};
use grpc_sansio_tests::wait_for;
use support::{Seen, b, opts, router, serve, start_sleep, within};

#[test]
fn graceful_shutdown_lets_an_in_flight_call_finish() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = svc.channel();
        let call = start_sleep(&ch, "500");
        std::thread::sleep(Duration::from_millis(100));
        let server = svc.server.clone();
        let start = Instant::now();
        let stopper = std::thread::spawn(move || server.shutdown(Duration::from_secs(5)));
        // The call in flight completes normally.
        let r = call.response().expect("in-flight call finishes");
        assert_eq!(r.message, b("slept"));
        stopper.join().unwrap();
        let took = start.elapsed();
        assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
        assert_eq!(svc.server.connections(), 0);
        // New calls cannot reach it.
        let e = ch
            .unary("/test.Echo/Unary", BytesCodec, &b("x"), opts())
            .unwrap_err();
        assert_eq!(e.code(), Code::Unavailable);
    });
}

#[test]
fn shutdown_cancels_what_outlives_the_grace_period() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = svc.channel();
        let call = start_sleep(&ch, "5000");
        std::thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        svc.server.shutdown(Duration::from_millis(300));
        assert!(start.elapsed() < Duration::from_secs(2));
        let e = call.response().unwrap_err();
        assert_eq!(e.code(), Code::Unavailable);
        let seen = svc.next_seen(Duration::from_secs(2)).expect("report");
        assert!(matches!(seen, Seen::Cancelled(..)), "{seen:?}");
    });
}

/// A grace of `Duration::MAX` lets calls in progress take as long as
/// they need; `shutdown` panicked adding it to the current instant, after
/// it had stopped the listeners and before it told any connection, so
/// the call was never told and `wait` never returned.
#[test]
fn shutdown_with_a_grace_of_duration_max_waits_for_the_calls() {
    within(Duration::from_secs(10), || {
        let svc = serve();
        let ch = svc.channel();
        let call = start_sleep(&ch, "500");
        support::wait_busy(&svc.server, 1);
        let server = svc.server.clone();
        let stopper = std::thread::spawn(move || server.shutdown(Duration::MAX));
        let r = call.response().expect("the call in flight finishes");
        assert_eq!(r.message, b("slept"));
        assert!(stopper.join().is_ok(), "shutdown panicked");
        assert_eq!(svc.server.connections(), 0);
        // `wait` returns: the shutdown is over.
        svc.server.wait();
    });
}

/// A server that has shut down listens no more: `bind`,
/// `serve_listener` and `bind_unix` fail as `serve_transport` does. They
/// returned `Ok` and left an accept thread that held the port, closed
/// the first connection it was given without a word, then ended.
#[test]
fn a_server_that_has_shut_down_binds_no_more() {
    within(Duration::from_secs(10), || {
        let svc = serve();
        svc.server.shutdown(Duration::from_millis(100));
        let bound = svc.server.bind("127.0.0.1:0");
        assert!(bound.is_err(), "bind after shutdown: {bound:?}");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let served = svc.server.serve_listener(listener);
        assert!(served.is_err(), "serve_listener after shutdown: {served:?}");
        // The listener given was dropped: its port is free again.
        assert!(TcpListener::bind(addr).is_ok(), "the port is still held");
        #[cfg(unix)]
        {
            let path = std::env::temp_dir().join(format!(
                "grpc-blocking-late-bind-{}.sock",
                std::process::id()
            ));
            let bound = svc.server.bind_unix(&path);
            let _ = std::fs::remove_file(&path);
            assert!(bound.is_err(), "bind_unix after shutdown");
        }
    });
}

/// `shutdown` stops a Unix-socket listener whatever became of its path:
/// removed, or taken over by a new server that bound the same path (as a
/// restart does). It woke the accept thread by connecting to the path,
/// and so waited for that thread for ever (or connected to the new
/// server instead).
#[cfg(unix)]
#[test]
fn shutdown_stops_a_unix_listener_whose_path_is_gone() {
    within(Duration::from_secs(10), || {
        let dir = std::env::temp_dir().join(format!("grpc-blocking-gone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        // Removed.
        let (tx, _rx) = mpsc::channel();
        let server = Server::builder().build(router(tx));
        server.bind_unix(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let start = Instant::now();
        server.shutdown(Duration::from_millis(100));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        // Taken over: the old server stops, the new one serves on.
        let (tx, _rx) = mpsc::channel();
        let old = Server::builder().build(router(tx));
        old.bind_unix(&path).unwrap();
        let (tx, _rx) = mpsc::channel();
        let new = Server::builder().build(router(tx));
        new.bind_unix(&path).unwrap();
        let start = Instant::now();
        old.shutdown(Duration::from_millis(100));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        let ch = Channel::connect(&format!("unix:{}", path.display())).unwrap();
        let r = ch
            .unary("/test.Echo/Unary", BytesCodec, &b("still here"), opts())
            .unwrap();
        assert_eq!(r.message, b("still here"));
        new.shutdown(Duration::from_millis(100));
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn reconnects_after_the_server_restarts() {
    within(Duration::from_secs(30), || {
        let (tx, _rx) = mpsc::channel();
        let server = Server::builder().build(router(tx));
        let addr = server.bind("127.0.0.1:0").unwrap();
        let ch = Channel::builder(&format!("http://{addr}"))
            .backoff(BackoffConfig::default().with_base_delay(Duration::from_millis(50)))
            .build_lazy()
            .unwrap();
        assert_eq!(ch.state(), ConnectivityState::Idle);
        let r = ch.unary("/test.Echo/Unary", BytesCodec, &b("one"), opts());
        assert_eq!(r.unwrap().message, b("one"));
        assert_eq!(ch.state(), ConnectivityState::Ready);
        server.shutdown(Duration::from_millis(500));
        // The connection is gone: the channel notices.
        wait_for(Duration::from_secs(3), || {
            ch.state() != ConnectivityState::Ready
        });
        assert_eq!(ch.state(), ConnectivityState::Idle);
        // Without a server a call fails fast with UNAVAILABLE...
        let e = ch
            .unary("/test.Echo/Unary", BytesCodec, &b("x"), opts())
            .unwrap_err();
        assert_eq!(e.code(), Code::Unavailable);
        assert_eq!(ch.state(), ConnectivityState::TransientFailure);
        // ...and with wait-for-ready it waits through the backoff until the
        // server is back on the same port.
        let (tx2, _rx2) = mpsc::channel();
        let restart = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let server = Server::builder().build(router(tx2));
            let listener = TcpListener::bind(addr).expect("rebind the same port");
            server.serve_listener(listener).unwrap();
            server
        });
        let r = ch.unary(
            "/test.Echo/Unary",
            BytesCodec,
            &b("two"),
            opts().wait_for_ready(true),
        );
        assert_eq!(r.unwrap().message, b("two"));
        assert_eq!(ch.state(), ConnectivityState::Ready);
        restart.join().unwrap().shutdown(Duration::from_millis(200));
    });
}

#[test]
fn wait_for_ready_respects_the_deadline() {
    within(Duration::from_secs(20), || {
        // A port with nothing listening.
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let ch = Channel::builder(&format!("http://{addr}"))
            .backoff(BackoffConfig::default().with_base_delay(Duration::from_millis(50)))
            .build_lazy()
            .unwrap();
        let start = Instant::now();
        let e = ch
            .unary(
                "/test.Echo/Unary",
                BytesCodec,
                &b("x"),
                CallOptions::new()
                    .timeout(Duration::from_millis(400))
                    .wait_for_ready(true),
            )
            .unwrap_err();
        assert_eq!(e.code(), Code::DeadlineExceeded);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(380) && took < Duration::from_secs(2),
            "{took:?}"
        );
        assert!(Channel::connect(&format!("http://{addr}")).is_err());
    });
}

#[test]
fn closing_the_channel() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = svc.channel();
        assert_eq!(ch.ready(Duration::from_secs(5)), ConnectivityState::Ready);
        // READY means the handshake is done: the server has the connection.
        assert_eq!(svc.server.connections(), 1);
        let other = ch.clone();
        ch.close();
        assert_eq!(other.state(), ConnectivityState::Shutdown);
        let e = other
            .unary("/test.Echo/Unary", BytesCodec, &b("x"), opts())
            .unwrap_err();
        assert_eq!(e.code(), Code::Unavailable);
        // The server sees the connection go.
        wait_for(Duration::from_secs(3), || svc.server.connections() == 0);
        assert_eq!(svc.server.connections(), 0);
    });
}

/// A TCP listener on 127.0.0.1 that accepts one connection, never
/// speaks, and hangs up after `hold`.
fn silent_listener(hold: Duration) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        std::thread::sleep(hold);
        drop(s);
    });
    (addr, silent)
}

#[test]
fn ready_means_the_http2_handshake_is_done() {
    within(Duration::from_secs(20), || {
        // A TCP listener that accepts and never speaks: connected, but not
        // an HTTP/2 server. READY (as grpc-go and the tokio adapter have
        // it) needs the server's acknowledgement of our SETTINGS.
        let (addr, silent) = silent_listener(Duration::from_millis(800));
        let ch = Channel::builder(&format!("http://{addr}"))
            .build_lazy()
            .unwrap();
        let start = Instant::now();
        let state = ch.ready(Duration::from_millis(300));
        let took = start.elapsed();
        assert_eq!(state, ConnectivityState::TransientFailure);
        assert!(
            took >= Duration::from_millis(280) && took < Duration::from_secs(3),
            "{took:?}"
        );
        silent.join().unwrap();
        // A real server: READY, and the server has seen the connection.
        let svc = serve();
        let ch = svc.channel();
        assert_eq!(ch.ready(Duration::from_secs(5)), ConnectivityState::Ready);
        assert_eq!(svc.server.connections(), 1);
    });
}

#[test]
fn closing_the_channel_ends_a_wait_for_the_handshake() {
    within(Duration::from_secs(20), || {
        // A listener that never speaks: the first call waits for the
        // handshake (up to the 10 s connect timeout) until the channel is
        // closed under it.
        let (addr, silent) = silent_listener(Duration::from_secs(2));
        let ch = Channel::builder(&format!("http://{addr}"))
            .connect_timeout(Duration::from_secs(10))
            .build_lazy()
            .unwrap();
        let other = ch.clone();
        let start = Instant::now();
        let caller = std::thread::spawn(move || {
            other.unary("/test.Echo/Unary", BytesCodec, &b("x"), opts())
        });
        std::thread::sleep(Duration::from_millis(200));
        ch.close();
        let e = caller.join().unwrap().unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(ch.state(), ConnectivityState::Shutdown);
        silent.join().unwrap();
    });
}

#[test]
fn settings_timeout_fires_without_an_async_runtime() {
    within(Duration::from_secs(20), || {
        // A peer that accepts and reads but never speaks HTTP/2.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = std::thread::spawn(move || {
            use std::io::Read;
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        });
        let ch = Channel::builder(&format!("http://{addr}"))
            .core_config(|c| c.h2.settings_timeout = Duration::from_millis(300))
            .build_lazy()
            .unwrap();
        let start = Instant::now();
        // No deadline: only the SETTINGS timer can end this call.
        let e = ch
            .unary("/test.Echo/Unary", BytesCodec, &b("x"), CallOptions::new())
            .unwrap_err();
        let took = start.elapsed();
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        assert!(
            took >= Duration::from_millis(280) && took < Duration::from_secs(3),
            "{took:?}"
        );
        // The channel drops the dead connection and makes a new one next.
        assert_ne!(ch.state(), ConnectivityState::Ready);
        silent.join().unwrap();
    });
}

/// A TCP proxy on 127.0.0.1 to `upstream` whose server-to-client
/// direction starts `delay` after each connection is accepted: an HTTP/2
/// handshake through it takes at least `delay` (a far or busy server).
fn slow_handshake_proxy(upstream: std::net::SocketAddr, delay: Duration) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = std::net::TcpStream::connect(upstream) else {
                return;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_read, &mut s_write);
                let _ = s_write.shutdown(std::net::Shutdown::Write);
            });
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

#[test]
fn a_short_deadline_during_the_handshake_is_deadline_exceeded_and_does_not_fail_the_channel() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let proxy = slow_handshake_proxy(svc.addr, Duration::from_millis(300));
        let ch = Channel::builder(&format!("http://{proxy}"))
            .connect_timeout(Duration::from_secs(5))
            .build_lazy()
            .unwrap();
        // The call's deadline runs out while the handshake is still going
        // on: its status says so (as the tokio adapter's does).
        let start = Instant::now();
        let e = ch
            .unary(
                "/test.Echo/Unary",
                BytesCodec,
                &b("x"),
                CallOptions::new().timeout(Duration::from_millis(100)),
            )
            .unwrap_err();
        assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        // Nothing is wrong with the server: one call's short deadline is
        // not a failed connection attempt, and the next call (with time
        // enough for the handshake) is not refused by a backoff.
        let r = ch.unary(
            "/test.Echo/Unary",
            BytesCodec,
            &b("y"),
            CallOptions::new().timeout(Duration::from_secs(5)),
        );
        assert_eq!(r.expect("second call").message, b("y"));
    });
}

/// A connector that panics (a bug in the application's transport) panics
/// the call that ran it, but does not leave the channel CONNECTING for
/// ever: the calls after it are not stuck waiting for that attempt.
#[test]
fn a_connector_that_panics_does_not_leave_the_channel_connecting() {
    within(Duration::from_secs(20), || {
        let ch = Channel::builder_with_connector("localhost", |_timeout| {
            panic!("this connector panics (on purpose)")
        })
        .build_lazy()
        .unwrap();
        let first = ch.clone();
        let panicked = std::thread::spawn(move || {
            let _ = first.unary("/test.Echo/Unary", BytesCodec, &b("x"), opts());
        })
        .join()
        .is_err();
        assert!(panicked);
        assert_ne!(ch.state(), ConnectivityState::Connecting);
        let start = Instant::now();
        let e = ch
            .unary("/test.Echo/Unary", BytesCodec, &b("x"), opts())
            .unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
    });
}

/// A connect timeout past what the clock holds (`Duration::MAX`, say, for
/// "no limit") is taken as no limit worth the name, as the backoff
/// settings are: the call connects, rather than panicking on
/// `Instant + Duration` overflow.
#[test]
fn a_connect_timeout_of_duration_max_does_not_panic() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = Channel::builder(&svc.target())
            .connect_timeout(Duration::MAX)
            .build_lazy()
            .unwrap();
        let r = ch.unary("/test.Echo/Unary", BytesCodec, &b("x"), CallOptions::new());
        assert_eq!(r.expect("the call").message, b("x"));
    });
}
