//! The blocking adapter against real peers over 127.0.0.1: Python
//! `grpcio` and `grpclib`, each as client of our server and as server for
//! our client. All four call kinds, ASCII and binary metadata both ways,
//! status with message (and details, where the peer carries them),
//! deadlines, cancellation and gzip (grpcio; grpclib has no compression).
//!
//! Skipped when the peers are not installed, unless
//! `GRPC_SANSIO_REQUIRE_PEERS=1` (see `tests/src/peer.rs`).

#[path = "support/blocking.rs"]
mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio_blocking::{BytesCodec, Channel, Code, MetadataMap, Status};
use grpc_sansio_tests::peer::{PeerProcess, python_with};
use serde_json::Value;
use support::{Seen, b, opts, serve};

/// Run a Python client script against our server; return its summary.
fn python_client(modules: &[&str], script: &str) -> Option<(Value, support::Service)> {
    let python = python_with(modules)?;
    let svc = serve();
    let port = svc.addr.port().to_string();
    let peer = PeerProcess::spawn(&python, script, &[&port]).expect("spawn peer");
    let out = peer.finish(Duration::from_secs(60));
    assert!(out.success(), "{}", out.transcript());
    let summary: Value =
        serde_json::from_str(out.summary().expect("summary line")).expect("summary json");
    Some((summary, svc))
}

#[test]
fn grpcio_client_against_blocking_server() {
    let Some((s, svc)) = python_client(&["grpc"], "grpc_blocking_grpcio_client.py") else {
        return;
    };
    assert_eq!(s["failures"], serde_json::json!([]));
    assert_eq!(s["unary"], "ping");
    assert_eq!(
        s["fail"],
        serde_json::json!(["INVALID_ARGUMENT", "bad thing: ü"])
    );
    assert_eq!(s["count"], 50);
    assert_eq!(s["concat"], "a,b,c");
    assert_eq!(s["bidi"], 20);
    assert_eq!(s["deadline"][0], "DEADLINE_EXCEEDED");
    assert!(
        s["info"]
            .as_str()
            .unwrap()
            .starts_with("encoding=gzip;deadline=true;peer=127.0.0.1:")
    );
    assert_eq!(s["nope"], "UNIMPLEMENTED");
    // The handlers saw the deadline and the client's cancel.
    let mut reports = Vec::new();
    while let Some(r) = svc.next_seen(Duration::from_secs(3)) {
        reports.push(r);
        if reports.len() == 2 {
            break;
        }
    }
    assert!(
        reports
            .iter()
            .any(|r| matches!(r, Seen::Cancelled(m, _) if m == "Sleep")),
        "{reports:?}"
    );
    assert!(
        reports
            .iter()
            .any(|r| matches!(r, Seen::Cancelled(m, why) if m == "Hang" && why.contains("(8)"))),
        "{reports:?}"
    );
}

#[test]
fn grpclib_client_against_blocking_server() {
    let Some((s, svc)) = python_client(&["grpclib"], "grpc_blocking_grpclib_client.py") else {
        return;
    };
    assert_eq!(s["failures"], serde_json::json!([]));
    assert_eq!(s["unary"], "ping");
    assert_eq!(
        s["fail"],
        serde_json::json!(["INVALID_ARGUMENT", "bad thing: ü"])
    );
    assert_eq!(s["count"], 50);
    assert_eq!(s["concat"], "a,b,c");
    assert_eq!(s["bidi"], 20);
    assert!(s["info"].as_str().unwrap().contains("deadline=true"));
    let mut reports = Vec::new();
    while let Some(r) = svc.next_seen(Duration::from_secs(3)) {
        reports.push(r);
        if reports.len() == 2 {
            break;
        }
    }
    assert!(
        reports
            .iter()
            .any(|r| matches!(r, Seen::Cancelled(m, _) if m == "Hang")),
        "{reports:?}"
    );
}

/// Start a Python server script; its port.
fn python_server(modules: &[&str], script: &str) -> Option<(PeerProcess, u16)> {
    let python = python_with(modules)?;
    let mut peer = PeerProcess::spawn(&python, script, &[]).expect("spawn peer");
    let port = match peer.wait_line("PORT ", Duration::from_secs(20)) {
        Some(p) => p.trim().parse().expect("port"),
        None => panic!("{}", peer.finish(Duration::from_secs(1)).transcript()),
    };
    Some((peer, port))
}

struct Expect {
    details: bool,
    gzip: bool,
}

/// Our client through every scenario against a peer's `test.Echo`.
fn blocking_client_scenarios(port: u16, expect: Expect) {
    let ch = Channel::builder(&format!("http://127.0.0.1:{port}"))
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .expect("connect");

    let mut md = MetadataMap::new();
    md.insert("x-echo", "hello there").unwrap();
    md.insert_bin("x-bin-bin", Bytes::from_static(&[0, 1, 2, 0xfe]))
        .unwrap();
    let r = ch
        .unary(
            "/test.Echo/Unary",
            BytesCodec,
            &b("ping"),
            opts().metadata(md),
        )
        .expect("unary");
    assert_eq!(r.message, b("ping"));
    assert_eq!(r.metadata.get("x-echo-back"), Some("hello there"));
    assert_eq!(
        r.metadata.get_bin("x-bin-back-bin").map(|v| &v[..]),
        Some(&[0u8, 1, 2, 0xfe][..])
    );
    assert_eq!(r.trailers.get("x-trailer"), Some("done"));
    assert_eq!(
        r.trailers.get_bin("x-trailer-bin").map(|v| &v[..]),
        Some(&[0u8, 0xff][..])
    );

    let call = ch
        .call(
            "/test.Echo/Fail",
            grpc_sansio_blocking::CallKind::Unary,
            BytesCodec,
            opts(),
        )
        .unwrap();
    call.send(&b("x")).unwrap();
    call.close_send().unwrap();
    let (status, trailers) = call.finish();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "bad thing: ü");
    if expect.details {
        assert_eq!(&status.details()[..], &[8, 3]);
    }
    assert_eq!(trailers.get("x-why"), Some("because"));

    let got: Vec<Bytes> = ch
        .server_streaming("/test.Echo/Count", BytesCodec, &b("50"), opts())
        .unwrap()
        .collect::<Result<_, Status>>()
        .unwrap();
    assert_eq!(got, (0..50).map(|i| b(&i.to_string())).collect::<Vec<_>>());

    let r = ch
        .client_streaming(
            "/test.Echo/Concat",
            BytesCodec,
            ["a", "b", "c"].map(b),
            opts(),
        )
        .unwrap();
    assert_eq!(r.message, b("a,b,c"));

    let call = ch
        .bidi_streaming("/test.Echo/Echo", BytesCodec, opts())
        .unwrap();
    let (tx, rx) = call.split();
    let sender = std::thread::spawn(move || {
        for i in 0..20u8 {
            tx.send(&Bytes::from(vec![i; 100 << 10])).unwrap();
        }
        tx.close().unwrap();
    });
    let got: Vec<Bytes> = rx.collect::<Result<_, Status>>().unwrap();
    sender.join().unwrap();
    assert_eq!(got.len(), 20);
    for (i, m) in got.iter().enumerate() {
        assert!(m.len() == 100 << 10 && m.iter().all(|&x| usize::from(x) == i));
    }

    let start = Instant::now();
    let e = ch
        .unary(
            "/test.Echo/Sleep",
            BytesCodec,
            &b("3000"),
            grpc_sansio_blocking::CallOptions::new().timeout(Duration::from_millis(200)),
        )
        .unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded);
    assert!(start.elapsed() < Duration::from_millis(1500));

    let mut o = opts();
    if expect.gzip {
        o = o.compression("gzip");
    }
    let r = ch
        .unary(
            "/test.Echo/Info",
            BytesCodec,
            &Bytes::from(vec![b'z'; 10_000]),
            o,
        )
        .unwrap();
    let text = String::from_utf8_lossy(&r.message).into_owned();
    assert!(text.contains("deadline=True"), "{text}");
    assert!(text.contains("grpc-sansio-blocking/"), "{text}");
    if expect.gzip {
        let big = Bytes::from(vec![b'a'; 1 << 20]);
        let r = ch
            .unary(
                "/test.Echo/Unary",
                BytesCodec,
                &big,
                opts().compression("gzip"),
            )
            .unwrap();
        assert_eq!(r.message, big);
    }

    let mut s = ch
        .server_streaming("/test.Echo/Hang", BytesCodec, &b(""), opts())
        .unwrap();
    assert_eq!(s.next().unwrap().unwrap(), b("first"));
    drop(s);
    // The connection still serves calls after the cancel.
    let r = ch.unary("/test.Echo/Unary", BytesCodec, &b("after"), opts());
    assert_eq!(r.unwrap().message, b("after"));
}

#[test]
fn blocking_client_against_grpcio_server() {
    let Some((_peer, port)) = python_server(&["grpc"], "grpc_blocking_grpcio_server.py") else {
        return;
    };
    support::within(Duration::from_secs(60), move || {
        blocking_client_scenarios(
            port,
            Expect {
                details: true,
                gzip: true,
            },
        )
    });
}

#[test]
fn blocking_client_against_grpclib_server() {
    let Some((_peer, port)) = python_server(&["grpclib"], "grpc_blocking_grpclib_server.py") else {
        return;
    };
    support::within(Duration::from_secs(60), move || {
        blocking_client_scenarios(
            port,
            Expect {
                details: false,
                gzip: false,
            },
        )
    });
}
