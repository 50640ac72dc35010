//! The standard health checking service (`grpc.health.v1.Health`) on both
//! adapters' servers: `Check` and `Watch` from our own clients, and from
//! Python grpcio's `grpcio-health-checking` stubs over 127.0.0.1.
//!
//! The grpcio test is skipped when the peers are not installed, unless
//! `GRPC_SANSIO_REQUIRE_PEERS=1` (see `tests/src/peer.rs`).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use grpc_sansio::health::{CHECK_PATH, HealthClientCodec, ServingStatus, WATCH_PATH};
use grpc_sansio_tests::peer::{PeerProcess, python_with};
use grpc_sansio_tests::serve::{blocking_on_loopback, tokio_on_loopback};
use grpc_sansio_tests::wait_for;

fn b_opts() -> grpc_sansio_blocking::CallOptions {
    grpc_sansio_blocking::CallOptions::new().timeout(Duration::from_secs(10))
}

/// A blocking server with only the health service, and its reporter.
fn blocking_server() -> (
    grpc_sansio_blocking::Server,
    grpc_sansio_blocking::health::HealthReporter,
    SocketAddr,
) {
    use grpc_sansio_blocking::{Handler, Router, health::HealthReporter};
    let mut router: Router<Handler> = Router::new();
    let health = HealthReporter::new();
    health.add_to(&mut router);
    let (server, addr) = blocking_on_loopback(router);
    (server, health, addr)
}

/// A tokio server (on its own runtime) with only the health service.
fn tokio_server() -> (
    tokio::runtime::Runtime,
    grpc_sansio_tokio::health::HealthReporter,
    SocketAddr,
) {
    use grpc_sansio_tokio::{Routes, health::HealthReporter};
    let mut routes = Routes::new();
    let health = HealthReporter::new();
    health.add_to(&mut routes);
    let (rt, addr) = tokio_on_loopback(routes);
    (rt, health, addr)
}

/// What both reporters can do, for the shared scenarios.
trait Reporter: Send + Sync + 'static {
    fn set(&self, service: &str, status: ServingStatus);
    fn clear(&self, service: &str);
    fn shut_down(&self);
    fn watches(&self) -> usize;
}

impl Reporter for grpc_sansio_blocking::health::HealthReporter {
    fn set(&self, service: &str, status: ServingStatus) {
        grpc_sansio_blocking::health::HealthReporter::set(self, service, status);
    }
    fn clear(&self, service: &str) {
        grpc_sansio_blocking::health::HealthReporter::clear(self, service);
    }
    fn shut_down(&self) {
        grpc_sansio_blocking::health::HealthReporter::shut_down(self);
    }
    fn watches(&self) -> usize {
        grpc_sansio_blocking::health::HealthReporter::watches(self)
    }
}

impl Reporter for grpc_sansio_tokio::health::HealthReporter {
    fn set(&self, service: &str, status: ServingStatus) {
        grpc_sansio_tokio::health::HealthReporter::set(self, service, status);
    }
    fn clear(&self, service: &str) {
        grpc_sansio_tokio::health::HealthReporter::clear(self, service);
    }
    fn shut_down(&self) {
        grpc_sansio_tokio::health::HealthReporter::shut_down(self);
    }
    fn watches(&self) -> usize {
        grpc_sansio_tokio::health::HealthReporter::watches(self)
    }
}

/// Check and Watch against `addr` with our blocking client (the server
/// may be either adapter's).
fn scenario(addr: SocketAddr, health: &dyn Reporter) {
    use grpc_sansio_blocking::{BytesCodec, Channel, Code};
    let ch = Channel::builder(&format!("http://{addr}"))
        .build_lazy()
        .expect("channel");
    let check = |service: &str| {
        ch.unary(
            CHECK_PATH,
            HealthClientCodec,
            &service.to_string(),
            b_opts(),
        )
        .map(|r| r.message)
    };
    assert_eq!(check(""), Ok(ServingStatus::Serving));
    let e = check("no.Such").unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    health.set("a.A", ServingStatus::NotServing);
    assert_eq!(check("a.A"), Ok(ServingStatus::NotServing));
    health.clear("a.A");
    assert_eq!(check("a.A").unwrap_err().code(), Code::NotFound);
    // A malformed request (a length running past the end).
    let e = ch
        .unary(
            CHECK_PATH,
            BytesCodec,
            &Bytes::from_static(b"\x0a\x05ab"),
            b_opts(),
        )
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");

    // Watch: the current status at once, then each change, nothing for
    // a set that changes nothing.
    let mut w = ch
        .server_streaming(WATCH_PATH, HealthClientCodec, &"w.W".to_string(), b_opts())
        .expect("watch");
    assert_eq!(
        w.next().expect("first").expect("ok"),
        ServingStatus::ServiceUnknown
    );
    health.set("w.W", ServingStatus::Serving);
    assert_eq!(
        w.next().expect("second").expect("ok"),
        ServingStatus::Serving
    );
    health.set("w.W", ServingStatus::Serving);
    health.set("other.O", ServingStatus::NotServing);
    health.set("w.W", ServingStatus::NotServing);
    assert_eq!(
        w.next().expect("third").expect("ok"),
        ServingStatus::NotServing
    );
    health.clear("w.W");
    assert_eq!(
        w.next().expect("fourth").expect("ok"),
        ServingStatus::ServiceUnknown
    );
    drop(w);

    // Shutting down: every watcher hears NOT_SERVING, and it stays so.
    let mut whole = ch
        .server_streaming(WATCH_PATH, HealthClientCodec, &String::new(), b_opts())
        .expect("watch");
    assert_eq!(
        whole.next().expect("first").expect("ok"),
        ServingStatus::Serving
    );
    health.shut_down();
    assert_eq!(
        whole.next().expect("second").expect("ok"),
        ServingStatus::NotServing
    );
    health.set("", ServingStatus::Serving);
    assert_eq!(check(""), Ok(ServingStatus::NotServing));
}

#[test]
fn blocking_health_check_and_watch() {
    let (server, health, addr) = blocking_server();
    scenario(addr, &health);
    // Cancelled watches give their handler threads back.
    wait_for(Duration::from_secs(3), || server.busy_handlers() == 0);
    assert_eq!(server.busy_handlers(), 0);
    assert_eq!(health.watches(), 0);
}

#[test]
fn tokio_health_check_and_watch() {
    let (rt, health, addr) = tokio_server();
    scenario(addr, &health);
    // And from the tokio client, a Watch cut off by its deadline.
    rt.block_on(async {
        use grpc_sansio_tokio::{CallOptions, Channel, Code};
        let ch = Channel::connect(&format!("http://{addr}")).expect("channel");
        let mut w = ch
            .server_streaming(
                WATCH_PATH,
                HealthClientCodec,
                "t.T".to_string(),
                CallOptions::new().timeout(Duration::from_millis(300)),
            )
            .await
            .expect("watch");
        assert_eq!(
            w.message().await.expect("ok"),
            Some(ServingStatus::ServiceUnknown)
        );
        let e = w.message().await.unwrap_err();
        assert_eq!(e.code(), Code::DeadlineExceeded);
    });
}

/// grpcio's health stubs against `addr`: `Check` of three names and a
/// `Watch` that sees a service come up.
fn grpcio_client(addr: SocketAddr, health: &dyn Reporter) -> Option<serde_json::Value> {
    let python = python_with(&["grpc", "grpc_health.v1"])?;
    health.set("echo.Echo", ServingStatus::NotServing);
    let port = addr.port().to_string();
    let peer = PeerProcess::spawn(&python, "health_client.py", &[&port]).expect("spawn peer");
    // Once the watch has read its status (SERVICE_UNKNOWN), the change is
    // its second update.
    wait_for(Duration::from_secs(30), || health.watches() > 0);
    assert_eq!(health.watches(), 1, "the grpcio watch never started");
    health.set("late.Late", ServingStatus::Serving);
    let out = peer.finish(Duration::from_secs(60));
    assert!(out.success(), "{}", out.transcript());
    Some(serde_json::from_str(out.summary().expect("summary")).expect("json"))
}

fn assert_grpcio_saw(s: &serde_json::Value) {
    assert_eq!(s["failures"], serde_json::json!([]));
    assert_eq!(s["check:"], "SERVING");
    assert_eq!(s["check:echo.Echo"], "NOT_SERVING");
    assert_eq!(s["check:no.Such"], "NOT_FOUND");
    assert_eq!(
        s["watch:late.Late"],
        serde_json::json!(["SERVICE_UNKNOWN", "SERVING"])
    );
}

#[test]
fn grpcio_health_client_against_blocking_server() {
    let (_server, health, addr) = blocking_server();
    if let Some(s) = grpcio_client(addr, &health) {
        assert_grpcio_saw(&s);
    }
}

#[test]
fn grpcio_health_client_against_tokio_server() {
    let (_rt, health, addr) = tokio_server();
    if let Some(s) = grpcio_client(addr, &health) {
        assert_grpcio_saw(&s);
    }
}

#[test]
fn blocking_watches_are_capped_and_checks_go_on() {
    use grpc_sansio_blocking::health::MAX_WATCHES;
    use grpc_sansio_blocking::{Channel, Code};
    let (_server, health, addr) = blocking_server();
    let ch = Channel::builder(&format!("http://{addr}"))
        .build_lazy()
        .expect("channel");
    let mut held = Vec::new();
    for i in 0..MAX_WATCHES {
        let mut w = ch
            .server_streaming(WATCH_PATH, HealthClientCodec, &format!("s{i}"), b_opts())
            .expect("watch");
        assert_eq!(
            w.next().expect("first").expect("ok"),
            ServingStatus::ServiceUnknown
        );
        held.push(w);
    }
    assert_eq!(health.watches(), MAX_WATCHES);
    let mut over = ch
        .server_streaming(WATCH_PATH, HealthClientCodec, &"x".to_string(), b_opts())
        .expect("call");
    let e = over.next().expect("an end").unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    // Checks still have handler threads.
    let r = ch
        .unary(CHECK_PATH, HealthClientCodec, &String::new(), b_opts())
        .expect("check");
    assert_eq!(r.message, ServingStatus::Serving);
    drop(held);
    wait_for(Duration::from_secs(3), || health.watches() == 0);
    assert_eq!(health.watches(), 0);
}

/// Watches leave `Check` a handler thread on a server whose pool is
/// smaller than `MAX_WATCHES`: at most half of the handler threads watch,
/// and a `Check` (a Kubernetes probe, say) still finds one.
#[test]
fn blocking_watches_leave_checks_a_handler_on_a_small_pool() {
    use grpc_sansio_blocking::{Channel, Handler, Router, Server, health::HealthReporter};
    let mut router: Router<Handler> = Router::new();
    let health = HealthReporter::new();
    health.add_to(&mut router);
    let server = Server::builder()
        .max_handlers(2)
        .handler_queue(8, Duration::from_millis(300))
        .build(router);
    let addr = server.bind("127.0.0.1:0").expect("bind");
    let ch = Channel::builder(&format!("http://{addr}"))
        .build_lazy()
        .expect("channel");
    let mut first = ch
        .server_streaming(WATCH_PATH, HealthClientCodec, &"s0".to_string(), b_opts())
        .expect("watch");
    assert_eq!(
        first.next().expect("first").expect("ok"),
        ServingStatus::ServiceUnknown
    );
    // A second would take the last thread: refused.
    let mut second = ch
        .server_streaming(WATCH_PATH, HealthClientCodec, &"s1".to_string(), b_opts())
        .expect("watch");
    let refused = second.next().expect("an end").expect_err("refused");
    assert_eq!(
        refused.code(),
        grpc_sansio_blocking::Code::ResourceExhausted,
        "{refused:?}"
    );
    let held = vec![first];
    let r = ch.unary(CHECK_PATH, HealthClientCodec, &String::new(), b_opts());
    assert_eq!(
        r.map(|r| r.message).map_err(|e| e.code()),
        Ok(ServingStatus::Serving),
        "a check beside a watch on two handler threads"
    );
    drop(held);
    server.shutdown(Duration::from_millis(200));
}
