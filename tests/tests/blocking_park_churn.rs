//! Connections that park and wake again and again: a blocking server that
//! parks connections after 20 ms of quiet, and clients whose pauses
//! between calls land on both sides of that, so that requests arrive
//! while a connection is being parked, just after, and long after. Every
//! call must come back whole, on the connection it started on.
#![cfg(unix)]

use std::time::Duration;

use bytes::Bytes;
use grpc_sansio_blocking::{
    BytesCodec, CallOptions, Channel, Handler, Router, RouterExt, Server, Status,
};
use grpc_sansio_tests::wait_for;

#[test]
fn calls_arrive_while_connections_park_and_wake() {
    let mut router: Router<Handler> = Router::new();
    router.unary("test.Churn", "Echo", BytesCodec, |_call, req: Bytes| {
        Ok(req)
    });
    router.server_streaming(
        "test.Churn",
        "Some",
        BytesCodec,
        |_call, req: Bytes, sink| {
            for i in 0..req.len() {
                sink.send(&Bytes::from(vec![i as u8; 256]))?;
            }
            Ok(())
        },
    );
    let server = Server::builder()
        .park_idle_after(Some(Duration::from_millis(20)))
        .build(router);
    let addr = server.bind("127.0.0.1:0").expect("bind");
    let target = format!("http://{addr}");
    let clients: Vec<_> = (0..6u64)
        .map(|c| {
            let target = target.clone();
            std::thread::spawn(move || {
                let ch = Channel::connect(&target).expect("channel");
                // The connection's first output (the handshake) starts a
                // writer thread on the server, which lingers a second; only
                // then can the connection park.
                let first = Bytes::from_static(b"first");
                let r = ch
                    .unary("/test.Churn/Echo", BytesCodec, &first, CallOptions::new())
                    .expect("first echo");
                assert_eq!(r.message, first);
                std::thread::sleep(Duration::from_millis(1500));
                // A small deterministic generator for the pauses.
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ c;
                for i in 0..40u64 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // 0 to 44 ms: below, around and above the 20 ms spell
                    // (plus the writer's linger) before parking.
                    std::thread::sleep(Duration::from_millis(x % 45));
                    let body = Bytes::from(format!("client {c} call {i}"));
                    // No deadline: no writer thread needs to watch one,
                    // so a connection may park as soon as it is quiet.
                    let opts = CallOptions::new();
                    if i % 4 == 3 {
                        let got: Vec<Bytes> = ch
                            .server_streaming("/test.Churn/Some", BytesCodec, &body, opts)
                            .expect("stream")
                            .collect::<Result<_, Status>>()
                            .expect("messages");
                        assert_eq!(got.len(), body.len(), "client {c} call {i}");
                        for (k, m) in got.iter().enumerate() {
                            assert!(m.iter().all(|b| *b == k as u8), "client {c} call {i}");
                        }
                    } else {
                        let r = ch
                            .unary("/test.Churn/Echo", BytesCodec, &body, opts)
                            .expect("echo");
                        assert_eq!(r.message, body, "client {c} call {i}");
                    }
                }
                ch
            })
        })
        .collect();
    // Parking does happen while the calls go on.
    let mut most_parked = 0;
    while !clients.iter().all(|t| t.is_finished()) {
        most_parked = most_parked.max(server.parked_connections());
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(most_parked > 0, "no connection was parked during the calls");
    let channels: Vec<Channel> = clients
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect();
    // One connection per client all along, and all of them parked at the
    // end.
    assert_eq!(server.connections(), 6);
    assert!(
        wait_for(Duration::from_secs(10), || server.parked_connections() == 6),
        "parked {}",
        server.parked_connections()
    );
    drop(channels);
    assert!(wait_for(Duration::from_secs(10), || server.connections() == 0));
    server.shutdown(Duration::from_secs(1));
}
