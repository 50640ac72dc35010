//! The tokio adapter against real gRPC peers over 127.0.0.1: Python's
//! `grpcio` (the C-core implementation) and `grpclib` (pure Python), each
//! as a client of our server and as a server for our channel.
//!
//! The peers are the `grpc_tokio_*.py` scripts in `tests/peers/python/`;
//! they use raw-bytes methods, so no code generation is needed. Without
//! the Python packages these tests are skipped (or fail under
//! `GRPC_SANSIO_REQUIRE_PEERS=1`); see `.ci/install-peers`.

mod tokio_support;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use grpc_sansio::frame::Reason;
use grpc_sansio_tests::peer::{self, PeerOutput, PeerProcess};
use grpc_sansio_tokio::tls::{ClientTlsConfig, ServerTlsConfig, TlsListener};
use grpc_sansio_tokio::{
    BytesCodec, CallOptions, CancelReason, Channel, Code, MetadataMap, Server,
};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_support::pki::Pki;
use tokio_support::{Seen, bounded, path, routes};

const PEER_WAIT: Duration = Duration::from_secs(30);

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn summary(out: &PeerOutput) -> Value {
    assert!(out.success(), "python peer failed:\n{}", out.transcript());
    let json = out
        .summary()
        .unwrap_or_else(|| panic!("no SUMMARY line:\n{}", out.transcript()));
    serde_json::from_str(json).unwrap_or_else(|e| panic!("bad SUMMARY json {e}: {json}"))
}

/// Files in a fresh temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("grpc-sansio-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run a Python client script against our server (over TLS with `tls`:
/// the server's configuration and the CA file the client trusts);
/// returns its summary and what our handlers saw.
async fn python_client(
    modules: &[&str],
    script: &'static str,
    tls: Option<(ServerTlsConfig, String)>,
) -> Option<(Value, Vec<Seen>)> {
    python_client_of(Server::builder(), modules, script, tls).await
}

async fn python_client_of(
    builder: grpc_sansio_tokio::ServerBuilder,
    modules: &[&str],
    script: &'static str,
    tls: Option<(ServerTlsConfig, String)>,
) -> Option<(Value, Vec<Seen>)> {
    let python = peer::python_with(modules)?;
    let (tx, mut seen) = mpsc::channel(256);
    let server = builder.build(routes(tx));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let s = server.clone();
    let mut args = vec![port];
    match tls {
        Some((config, ca_file)) => {
            let listener = TlsListener::new(listener, &config).unwrap();
            tokio::spawn(async move { s.serve(listener).await });
            args.extend(["--tls".to_string(), ca_file]);
        }
        None => {
            tokio::spawn(async move { s.serve(listener).await });
        }
    }
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let p = PeerProcess::spawn(&python, script, &args).expect("spawn python");
        p.finish(PEER_WAIT)
    })
    .await
    .unwrap();
    let value = summary(&out);
    let mut events = Vec::new();
    while let Ok(e) = seen.try_recv() {
        events.push(e);
    }
    Some((value, events))
}

/// What a peer implementation can do beyond the common ground.
#[derive(Clone, Copy)]
struct Peer {
    /// Status details (`grpc-status-details-bin`).
    details: bool,
    /// gzip message compression.
    gzip: bool,
    /// The RST_STREAM code its client cancels with.
    cancel_code: Reason,
}

const GRPCIO: Peer = Peer {
    details: true,
    gzip: true,
    cancel_code: Reason::CANCEL,
};
const GRPCLIB: Peer = Peer {
    details: false,
    gzip: false,
    // grpclib's Stream.cancel resets with NO_ERROR.
    cancel_code: Reason::NO_ERROR,
};

fn check_client_summary(v: &Value, events: &[Seen], peer: Peer) {
    let echo = &v["echo"];
    assert_eq!(echo["message"], "ping", "{v:#}");
    assert_eq!(echo["code"], "OK", "{v:#}");
    assert_eq!(echo["initial"]["x-hello"], "world", "{v:#}");
    assert_eq!(echo["trailing"]["x-trailer"], "done", "{v:#}");
    // base64 of 00 9f 92 96 ff
    assert_eq!(echo["trailing"]["x-bin-bin"], "AJ+Slv8=", "{v:#}");

    let fail = &v["fail"];
    assert_eq!(fail["code"], "INVALID_ARGUMENT", "{v:#}");
    assert_eq!(fail["details"], "bad \"request\": ü%", "{v:#}");
    assert_eq!(fail["trailing"]["x-why"], "because", "{v:#}");
    assert_eq!(fail["trailing"]["x-raw-bin"], "AAEC/w==", "{v:#}");
    if peer.details {
        // base64 of 08 03 12 07 "details"
        assert_eq!(
            fail["trailing"]["grpc-status-details-bin"], "CAMSB2RldGFpbHM=",
            "{v:#}"
        );
    }

    let count = &v["count"];
    assert_eq!(
        count["messages"],
        serde_json::json!(["0", "1", "2", "3", "4"]),
        "{v:#}"
    );
    assert_eq!(count["initial"]["x-count"], "5", "{v:#}");
    assert_eq!(count["trailing"]["x-sent"], "5", "{v:#}");
    assert_eq!(v["join"]["message"], "a,bb,ccc", "{v:#}");
    assert_eq!(
        v["shout"]["messages"],
        serde_json::json!(["ONE", "TWO", "THREE"]),
        "{v:#}"
    );
    assert_eq!(v["deadline"]["code"], "DEADLINE_EXCEEDED", "{v:#}");
    assert!(v["deadline"]["elapsed"].as_f64().unwrap() < 3.0, "{v:#}");
    assert_eq!(v["cancel"]["cancelled"], true, "{v:#}");
    if peer.gzip {
        assert_eq!(v["gzip"]["len"], 100000, "{v:#}");
        assert_eq!(v["gzip"]["same"], true, "{v:#}");
    }
    assert_eq!(v["unimplemented"]["code"], "UNIMPLEMENTED", "{v:#}");

    // The server saw the deadline (about 300 ms) and the cancellation.
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Seen::Deadline(Some(ms)) if *ms <= 300)),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| *e == Seen::Cancelled(Some(CancelReason::Reset(peer.cancel_code)))),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_against_our_server() {
    let Some((v, events)) = python_client(&["grpc"], "grpc_tokio_grpcio_client.py", None).await
    else {
        return;
    };
    check_client_summary(&v, &events, GRPCIO);
    // deflate is not offered by default: refused, as gRPC asks.
    assert_eq!(v["deflate"]["code"], "UNIMPLEMENTED", "{v:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_against_our_server_compressing_responses() {
    let builder = Server::builder().response_compression("gzip");
    let Some((v, events)) =
        python_client_of(builder, &["grpc"], "grpc_tokio_grpcio_client.py", None).await
    else {
        return;
    };
    check_client_summary(&v, &events, GRPCIO);
}

/// deflate (a zlib stream) registered on our server: grpcio's deflate
/// requests are read, and every response goes back deflated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_with_deflate_both_ways() {
    let builder = Server::builder()
        .compressor(std::sync::Arc::new(grpc_sansio_tokio::Deflate::new()))
        .response_compression("deflate");
    let Some((v, events)) =
        python_client_of(builder, &["grpc"], "grpc_tokio_grpcio_client.py", None).await
    else {
        return;
    };
    check_client_summary(&v, &events, GRPCIO);
    assert_eq!(v["deflate"]["len"], 100000, "{v:#}");
    assert_eq!(v["deflate"]["same"], true, "{v:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpclib_client_against_our_server() {
    let Some((v, events)) = python_client(&["grpclib"], "grpc_tokio_grpclib_client.py", None).await
    else {
        return;
    };
    check_client_summary(&v, &events, GRPCLIB);
}

/// A Python server script; returns it and the port it listens on.
async fn python_server(
    modules: &[&str],
    script: &'static str,
    args: Vec<String>,
) -> Option<(PeerProcess, u16)> {
    let python = peer::python_with(modules)?;
    let (p, port) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut p = PeerProcess::spawn(&python, script, &args).expect("spawn python");
        let port = p.wait_line("PORT ", PEER_WAIT);
        (p, port)
    })
    .await
    .unwrap();
    let port = port
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("{script} did not print its port"));
    Some((p, port))
}

async fn wait_line(p: PeerProcess, prefix: &'static str) -> (PeerProcess, Option<String>) {
    tokio::task::spawn_blocking(move || {
        let mut p = p;
        let l = p.wait_line(prefix, Duration::from_secs(20));
        (p, l)
    })
    .await
    .unwrap()
}

/// Our channel against a Python server speaking the test service.
async fn our_client(p: PeerProcess, port: u16, peer: Peer) {
    our_client_on(
        p,
        Channel::connect(&format!("http://127.0.0.1:{port}")).unwrap(),
        peer,
    )
    .await;
}

async fn our_client_on(p: PeerProcess, channel: Channel, peer: Peer) {
    let ch = &channel;

    // Unary with ASCII and binary metadata both ways.
    let mut md = MetadataMap::new();
    md.insert("x-hello", "world").unwrap();
    md.insert_bin("x-bin-bin", Bytes::from_static(&[0, 159, 146, 150, 255]))
        .unwrap();
    let r = bounded(
        20,
        ch.unary(
            &path("Echo"),
            BytesCodec,
            b("ping"),
            CallOptions::new().metadata(md),
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.message, b("ping"));
    assert_eq!(r.metadata.get("x-hello"), Some("world"));
    assert_eq!(r.trailers.get("x-trailer"), Some("done"));
    assert_eq!(
        r.trailers.get_bin("x-bin-bin").map(|v| &v[..]),
        Some(&[0u8, 159, 146, 150, 255][..])
    );

    // Status with message, details and trailing metadata.
    let e = bounded(
        10,
        ch.unary(&path("Fail"), BytesCodec, b(""), CallOptions::new()),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.message(), "bad \"request\": ü%");
    if peer.details {
        assert_eq!(e.details(), b"\x08\x03\x12\x07details");
    }
    assert_eq!(e.trailers.get("x-why"), Some("because"));
    assert_eq!(
        e.trailers.get_bin("x-raw-bin").map(|v| &v[..]),
        Some(&[0u8, 1, 2, 255][..])
    );

    // Server streaming.
    let mut s = ch
        .server_streaming(&path("Count"), BytesCodec, b("5"), CallOptions::new())
        .await
        .unwrap();
    assert_eq!(s.headers().await.unwrap().get("x-count"), Some("5"));
    let mut got = Vec::new();
    while let Some(m) = bounded(10, s.message()).await.unwrap() {
        got.push(m);
    }
    assert_eq!(got, ["0", "1", "2", "3", "4"].map(b));
    assert_eq!(s.trailers().unwrap().get("x-sent"), Some("5"));

    // Client streaming.
    let mut c = ch
        .client_streaming(&path("Join"), BytesCodec, CallOptions::new())
        .await
        .unwrap();
    for w in ["a", "bb", "ccc"] {
        c.send(b(w)).await.unwrap();
    }
    assert_eq!(
        bounded(10, c.finish()).await.unwrap().message,
        b("a,bb,ccc")
    );

    // Bidi, interleaved.
    let (mut tx, mut rx) = ch
        .streaming(&path("Shout"), BytesCodec, CallOptions::new())
        .await
        .unwrap();
    for w in ["one", "two", "three"] {
        tx.send(b(w)).await.unwrap();
        assert_eq!(
            bounded(10, rx.message()).await.unwrap(),
            Some(b(&w.to_uppercase()))
        );
    }
    tx.close();
    assert_eq!(bounded(10, rx.message()).await.unwrap(), None);

    // A large request, gzip-compressed where the peer supports it.
    let big = Bytes::from(vec![b'z'; 100_000]);
    let mut opts = CallOptions::new();
    if peer.gzip {
        opts = opts.compression("gzip");
    }
    let r = bounded(10, ch.unary(&path("Echo"), BytesCodec, big.clone(), opts))
        .await
        .unwrap();
    assert_eq!(r.message, big);
    if peer.gzip {
        // And a gzip-compressed response.
        let mut md = MetadataMap::new();
        md.insert("x-gzip-response", "yes").unwrap();
        let r = bounded(
            10,
            ch.unary(
                &path("Echo"),
                BytesCodec,
                big.clone(),
                CallOptions::new().metadata(md),
            ),
        )
        .await
        .unwrap();
        assert_eq!(r.message, big);
    }

    // Unknown method.
    let e = bounded(
        10,
        ch.unary(&path("Nope"), BytesCodec, b(""), CallOptions::new()),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::Unimplemented);

    // Deadline: the server sees about 300 ms, we get DEADLINE_EXCEEDED.
    let e = bounded(
        10,
        ch.unary(
            &path("Sleep"),
            BytesCodec,
            b("5000"),
            CallOptions::new().timeout(Duration::from_millis(300)),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded);
    // Events name the call by its request (the milliseconds to sleep).
    let (p, line) = wait_line(p, "EVENT deadline 5000 ").await;
    let ms: u64 = line.unwrap().trim().parse().unwrap();
    assert!(ms <= 300, "{ms}");

    // Cancellation: drop the call once the server runs it; the server
    // sees the call end.
    let sleep = path("Sleep");
    let call = ch.unary(&sleep, BytesCodec, b("10000"), CallOptions::new());
    let waiting = wait_line(p, "EVENT deadline 10000 ");
    let p = tokio::select! {
        _ = call => panic!("the call should not finish"),
        (p, line) = waiting => {
            assert_eq!(line.as_deref(), Some("none"));
            p
        }
    };
    let (p, line) = wait_line(p, "EVENT cancelled 10000").await;
    assert!(line.is_some(), "the server did not see the cancellation");
    drop(p);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_against_grpcio_server() {
    let Some((p, port)) = python_server(&["grpc"], "grpc_tokio_grpcio_server.py", Vec::new()).await
    else {
        return;
    };
    our_client(p, port, GRPCIO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_against_grpclib_server() {
    let Some((p, port)) =
        python_server(&["grpclib"], "grpc_tokio_grpclib_server.py", Vec::new()).await
    else {
        return;
    };
    our_client(p, port, GRPCLIB).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_over_tls_against_our_server() {
    let pki = Pki::new("peer test ca");
    let leaf = pki.leaf(&["localhost"]);
    let dir = TempDir::new("grpcio-tls-client");
    let ca = dir.write("ca.pem", &pki.ca_pem);
    let tls = leaf.server_config();
    let Some((v, events)) =
        python_client(&["grpc"], "grpc_tokio_grpcio_client.py", Some((tls, ca))).await
    else {
        return;
    };
    check_client_summary(&v, &events, GRPCIO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_over_tls_against_grpcio_server() {
    let pki = Pki::new("peer test ca");
    let leaf = pki.leaf(&["localhost"]);
    let dir = TempDir::new("grpcio-tls-server");
    let cert = dir.write("cert.pem", &leaf.cert_pem);
    let key = dir.write("key.pem", &leaf.key_pem);
    let Some((p, port)) = python_server(
        &["grpc"],
        "grpc_tokio_grpcio_server.py",
        vec!["--tls".into(), cert, key],
    )
    .await
    else {
        return;
    };
    let channel = Channel::builder(&format!("https://127.0.0.1:{port}"))
        .tls(
            ClientTlsConfig::new()
                .ca_certificate_pem(pki.ca_pem.as_bytes())
                .unwrap()
                .server_name("localhost"),
        )
        .build()
        .unwrap();
    our_client_on(p, channel, GRPCIO).await;
}
