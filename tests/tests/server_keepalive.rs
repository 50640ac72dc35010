//! Server keepalive (`ServerBuilder::keepalive`) on both adapters'
//! servers over 127.0.0.1, against a raw HTTP/2 client: the server pings
//! a client that has no call open too, as grpc-go's and hyper's servers
//! do, and closes the connection when the PING goes unanswered, so that
//! a client that vanished while idle does not hold the connection (its
//! socket, its task or threads) for ever.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use grpc_sansio::frame::Frame;
use grpc_sansio_tests::attack::raw::{Attacker, Received};
use grpc_sansio_tests::wait_for;

const INTERVAL: Duration = Duration::from_millis(300);
const TIMEOUT: Duration = Duration::from_millis(300);

fn is_ping(r: &Received) -> bool {
    matches!(r.frame(), Some(Frame::Ping(p)) if !p.ack)
}

/// A client that does the HTTP/2 handshake, opens no call and answers
/// nothing: the server's keepalive PING comes after about `INTERVAL`, and
/// the connection ends `TIMEOUT` after it.
fn silent_idle_client(addr: SocketAddr, connections: impl Fn() -> usize) {
    let mut a = Attacker::open(addr);
    let opened = Instant::now();
    let ping = a.wait_for(Duration::from_secs(5), is_ping);
    assert!(
        ping.is_some(),
        "no keepalive PING on a connection without calls within 5 s; saw {}",
        a.transcript()
    );
    let pinged = opened.elapsed();
    assert!(pinged >= INTERVAL - Duration::from_millis(50), "{pinged:?}");
    a.expect_close(Duration::from_secs(5));
    let closed = opened.elapsed();
    assert!(
        closed >= pinged + TIMEOUT - Duration::from_millis(50),
        "closed after {closed:?}, pinged after {pinged:?}"
    );
    assert!(
        wait_for(Duration::from_secs(3), || connections() == 0),
        "the server still counts the connection"
    );
}

/// A client that answers the PINGs keeps its idle connection.
fn answering_idle_client(addr: SocketAddr) {
    let mut a = Attacker::open(addr);
    let until = Instant::now() + INTERVAL * 4;
    let mut answered = 0;
    while Instant::now() < until {
        let Some(Received::Frame {
            frame: Frame::Ping(p),
            ..
        }) = a.wait_for(Duration::from_secs(2), is_ping)
        else {
            panic!("no keepalive PING; saw {}", a.transcript());
        };
        a.seen.clear();
        a.send(Frame::Ping(grpc_sansio::frame::Ping {
            ack: true,
            payload: p.payload,
        }))
        .expect("answer the PING");
        answered += 1;
    }
    assert!(answered >= 2, "{answered} PINGs");
    assert!(
        a.wait_for(Duration::ZERO, Received::is_end).is_none(),
        "the server closed a connection that answers its PINGs: {}",
        a.transcript()
    );
}

#[test]
fn blocking_server_keepalive_pings_idle_connections() {
    use grpc_sansio_blocking::{Handler, Router, Server};
    let server = Server::builder()
        .keepalive(INTERVAL, TIMEOUT)
        .build(Router::<Handler>::new());
    let addr = server.bind("127.0.0.1:0").expect("bind");
    silent_idle_client(addr, || server.connections());
    answering_idle_client(addr);
    server.shutdown(Duration::from_millis(100));
}

#[test]
fn tokio_server_keepalive_pings_idle_connections() {
    use grpc_sansio_tokio::{Routes, Server};
    let server = Server::builder()
        .keepalive(INTERVAL, TIMEOUT)
        .build(Routes::new());
    let (_rt, addr) = grpc_sansio_tests::serve::tokio_server_on_loopback(server.clone());
    silent_idle_client(addr, || server.connections());
    answering_idle_client(addr);
}
