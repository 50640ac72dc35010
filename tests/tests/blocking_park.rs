//! Idle plain TCP connections of a blocking server give up their reader
//! thread: one thread watches them all with `poll(2)`, and a new reader
//! takes over when the client sends again. Threads are counted by name in
//! `/proc/self/task`, so this file holds a single test (tests of one file
//! share a process).
#![cfg(target_os = "linux")]

#[path = "tokio_support/pki.rs"]
mod pki;

mod idle_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio_blocking::tls::ClientTlsConfig;
use grpc_sansio_blocking::{BytesCodec, CallOptions, Channel, Code, Server, ServerBuilder};
use grpc_sansio_tests::wait_for;
use idle_support::{PARKER, SERVER_READER, router, threads};

fn echo(ch: &Channel, text: &str) {
    idle_support::echo(
        ch,
        text,
        CallOptions::new().timeout(Duration::from_secs(10)),
    );
}

fn big_stream(ch: &Channel) {
    idle_support::big_stream(ch, CallOptions::new());
}

#[test]
fn idle_connections_are_parked_and_come_back() {
    let quiet = Duration::from_secs(10);
    let server = Server::builder()
        .park_idle_after(Some(Duration::from_millis(300)))
        .build(router());
    let addr = server.bind("127.0.0.1:0").expect("bind");
    let target = format!("http://{addr}");
    let ch = Channel::connect(&target).expect("channel");
    echo(&ch, "first");

    // Quiet: the connection is parked; no reader thread is left, one
    // thread watches.
    assert!(
        wait_for(quiet, || server.parked_connections() == 1
            && threads(SERVER_READER) == 0),
        "parked {}, readers {}",
        server.parked_connections(),
        threads(SERVER_READER)
    );
    assert_eq!(threads(PARKER), 1);
    assert_eq!(server.connections(), 1);

    // The client sends again on the same connection: a reader takes over,
    // and calls of every size go through; then it is parked again.
    echo(&ch, "after a quiet moment");
    big_stream(&ch);
    assert_eq!(server.connections(), 1);
    assert!(wait_for(quiet, || server.parked_connections() == 1
        && threads(SERVER_READER) == 0));

    // A connection with a call in progress is not parked, however long
    // the client is quiet: the slow call's request is all in, and the
    // client sends nothing while the handler sleeps three idle spells.
    let slow = {
        let ch = ch.clone();
        std::thread::spawn(move || idle_support::slow(&ch, CallOptions::new()))
    };
    assert!(wait_for(quiet, || server.busy_handlers() == 1));
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(server.parked_connections(), 0);
    assert_eq!(threads(SERVER_READER), 1);
    slow.join().expect("slow call");

    // Many idle connections: each is parked, one thread watches them all.
    let more: Vec<Channel> = (0..20)
        .map(|i| {
            let c = Channel::connect(&target).expect("channel");
            echo(&c, &format!("client {i}"));
            c
        })
        .collect();
    assert!(
        wait_for(quiet, || server.parked_connections() == 21
            && threads(SERVER_READER) == 0),
        "parked {}, readers {}",
        server.parked_connections(),
        threads(SERVER_READER)
    );
    assert_eq!(threads(PARKER), 1);
    assert_eq!(server.connections(), 21);
    // Each of them comes back on its own.
    for (i, c) in more.iter().enumerate().step_by(5) {
        echo(c, &format!("client {i} again"));
    }
    assert!(
        wait_for(quiet, || server.parked_connections() == 21),
        "parked {}, readers {}, writers {}",
        server.parked_connections(),
        threads(SERVER_READER),
        threads(idle_support::SERVER_WRITER)
    );

    // Clients that go away while parked: the server sees each close and
    // forgets the connection.
    for c in &more {
        c.close();
    }
    drop(more);
    assert!(
        wait_for(quiet, || server.connections() == 1),
        "connections {}",
        server.connections()
    );
    assert!(wait_for(quiet, || server.parked_connections() == 1));

    // Graceful shutdown reaches a parked connection: it ends at once (no
    // call in progress), its client sees the server gone, and the
    // watching thread ends with nothing left to watch.
    let start = Instant::now();
    server.shutdown(Duration::from_secs(5));
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.connections(), 0);
    assert!(wait_for(quiet, || threads(PARKER) == 0
        && threads(SERVER_READER) == 0));
    let err = ch
        .unary(
            "/test.Idle/Echo",
            BytesCodec,
            &Bytes::from_static(b"late"),
            CallOptions::new().timeout(Duration::from_secs(2)),
        )
        .expect_err("the server is gone");
    assert!(
        matches!(err.code(), Code::Unavailable | Code::DeadlineExceeded),
        "{err}"
    );

    // Servers whose connections are never parked: ones with a timer set
    // on every connection (an idle limit, keepalive pings, which idle
    // connections get too), one with parking off, and a TLS connection.
    // A server that sends keepalive pings only while calls run has no
    // timer on an idle connection: it parks.
    let parking = || Server::builder().park_idle_after(Some(Duration::from_millis(300)));
    let cases: [(&str, ServerBuilder, bool); 4] = [
        (
            "idle limit",
            parking().max_connection_idle(Duration::from_secs(60)),
            false,
        ),
        (
            "keepalive",
            parking().keepalive(Duration::from_secs(30), Duration::from_secs(5)),
            false,
        ),
        (
            "parking off",
            Server::builder().park_idle_after(None),
            false,
        ),
        (
            "keepalive while calls run",
            parking()
                .keepalive(Duration::from_secs(30), Duration::from_secs(5))
                .core_config(|c| c.h2.keepalive_while_idle = false),
            true,
        ),
    ];
    for (what, builder, parks) in cases {
        let server = builder.build(router());
        let addr = server.bind("127.0.0.1:0").expect("bind");
        let ch = Channel::connect(&format!("http://{addr}")).expect("channel");
        echo(&ch, what);
        if parks {
            assert!(
                wait_for(quiet, || server.parked_connections() == 1
                    && threads(SERVER_READER) == 0),
                "{what}"
            );
        } else {
            std::thread::sleep(Duration::from_millis(3000));
            assert_eq!(server.parked_connections(), 0, "{what}");
            assert_eq!(threads(SERVER_READER), 1, "{what}");
        }
        echo(&ch, what);
        server.shutdown(Duration::from_secs(1));
        assert!(wait_for(quiet, || threads(SERVER_READER) == 0), "{what}");
    }

    let pki = pki::Pki::new("park ca");
    let server = parking().build(router());
    let addr = server
        .bind_tls("127.0.0.1:0", &pki.leaf(&["localhost"]).server_config())
        .expect("bind_tls");
    let tls = ClientTlsConfig::new()
        .ca_certificate_pem(pki.ca_pem.as_bytes())
        .expect("ca")
        .server_name("localhost");
    let ch = Channel::builder(&format!("https://127.0.0.1:{}", addr.port()))
        .tls(tls)
        .connect()
        .expect("tls channel");
    echo(&ch, "over TLS");
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(server.parked_connections(), 0);
    assert_eq!(threads(SERVER_READER), 1);
    echo(&ch, "over TLS, still read by its thread");
    server.shutdown(Duration::from_secs(1));
}
