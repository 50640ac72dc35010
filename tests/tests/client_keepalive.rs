//! Client keepalive on both adapters' channels against servers that
//! enforce a slower ping rate: told GOAWAY ENHANCE_YOUR_CALM
//! "too_many_pings", a channel doubles the keepalive interval of its
//! next connections (gRFC A8, as grpc-go's and grpc-java's channels do),
//! so that it settles on a rate the server accepts instead of being sent
//! away from every connection it makes.

use std::time::{Duration, Instant};

/// The server's shortest accepted interval between client PINGs.
const MIN_INTERVAL: Duration = Duration::from_millis(150);
/// The channels' keepalive interval: far too short for the server. Twice
/// doubled (80 ms) still is; three times (160 ms) is not.
const KEEPALIVE: Duration = Duration::from_millis(20);
/// How long a connection must last to count as settled.
const SETTLED: Duration = Duration::from_millis(1500);
/// How many connections a channel may lose before it settles.
const MAX_LOST: usize = 5;

/// Connects `ready()` and watches `is_ready()`: how many connections were
/// lost before one lasted `SETTLED`. Panics if none did within
/// `MAX_LOST` losses.
fn lost_before_settling(
    mut ready: impl FnMut() -> bool,
    mut is_ready: impl FnMut() -> bool,
) -> usize {
    let mut lost = 0;
    loop {
        assert!(ready(), "the channel did not connect");
        let up = Instant::now();
        while is_ready() && up.elapsed() < SETTLED {
            std::thread::sleep(Duration::from_millis(5));
        }
        if up.elapsed() >= SETTLED {
            return lost;
        }
        lost += 1;
        assert!(
            lost <= MAX_LOST,
            "{lost} connections sent away for too many pings, and the channel still pings as often"
        );
    }
}

#[test]
fn blocking_channel_doubles_its_keepalive_after_too_many_pings() {
    use grpc_sansio_blocking::{ConnectivityState, Handler, Router, Server};
    let server = Server::builder()
        .keepalive_policy(MIN_INTERVAL, true)
        .build(Router::<Handler>::new());
    let addr = server.bind("127.0.0.1:0").expect("bind");
    let ch = grpc_sansio_blocking::Channel::builder(&format!("http://{addr}"))
        .keepalive(KEEPALIVE, Duration::from_secs(5))
        .keepalive_while_idle(true)
        .build_lazy()
        .expect("channel");
    let lost = lost_before_settling(
        || ch.ready(Duration::from_secs(5)) == ConnectivityState::Ready,
        || ch.state() == ConnectivityState::Ready,
    );
    assert!(lost >= 1, "the server never sent the channel away");
    server.shutdown(Duration::from_millis(100));
}

#[test]
fn tokio_channel_doubles_its_keepalive_after_too_many_pings() {
    use grpc_sansio_tokio::{ChannelState, Routes, Server};
    let server = Server::builder()
        .keepalive_enforcement(MIN_INTERVAL, true)
        .build(Routes::new());
    let (rt, addr) = grpc_sansio_tests::serve::tokio_server_on_loopback(server);
    let ch = rt.block_on(async {
        grpc_sansio_tokio::Channel::builder(&format!("http://{addr}"))
            .keepalive_time(KEEPALIVE)
            .keepalive_permit_without_calls(true)
            .build()
            .expect("channel")
    });
    let lost = lost_before_settling(
        || rt.block_on(ch.ready(Duration::from_secs(5))).is_ok(),
        || ch.state() == ChannelState::Ready,
    );
    assert!(lost >= 1, "the server never sent the channel away");
}
