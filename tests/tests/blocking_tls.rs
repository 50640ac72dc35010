//! TLS (rustls with ring, ALPN h2) on the blocking adapter over
//! 127.0.0.1, with certificates made at test time: server authentication
//! with custom roots, mutual TLS, refusals of untrusted peers, a handshake
//! that does not hold up the accept loop, and TLS across adapters and
//! against grpcio (gRPC C-core) both ways.

#[path = "support/blocking.rs"]
mod support;
#[path = "tokio_support/mod.rs"]
mod tokio_support;

use std::io::Write as _;
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use grpc_sansio_blocking::tls::{ClientTlsConfig, ServerTlsConfig};
use grpc_sansio_blocking::{BytesCodec, Channel, Code, Server, Status};
use grpc_sansio_tests::peer::{PeerProcess, python_with};
use support::{b, opts, router, within};
use tokio_support::pki::Pki;

/// The blocking test service (`test.Echo`) on 127.0.0.1 over TLS.
struct TlsService {
    server: Server,
    port: u16,
}

impl Drop for TlsService {
    fn drop(&mut self) {
        self.server.shutdown(Duration::from_millis(200));
    }
}

fn serve_tls(tls: &ServerTlsConfig) -> TlsService {
    let (tx, _rx) = std::sync::mpsc::channel();
    let server = Server::builder().build(router(tx));
    let addr = server.bind_tls("127.0.0.1:0", tls).expect("bind_tls");
    TlsService {
        server,
        port: addr.port(),
    }
}

fn client_tls(pki: &Pki, name: &str) -> ClientTlsConfig {
    ClientTlsConfig::new()
        .ca_certificate_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .server_name(name)
}

fn channel(port: u16, tls: ClientTlsConfig) -> Channel {
    Channel::builder(&format!("https://127.0.0.1:{port}"))
        .tls(tls)
        .connect_timeout(Duration::from_secs(5))
        .build_lazy()
        .unwrap()
}

fn echo(ch: &Channel) -> Result<Bytes, Status> {
    ch.unary("/test.Echo/Unary", BytesCodec, &b("secret"), opts())
        .map_err(Status::from)
        .map(|r| r.message)
}

#[test]
fn https_with_custom_roots() {
    within(Duration::from_secs(30), || {
        let pki = Pki::new("test ca");
        let svc = serve_tls(&pki.leaf(&["localhost"]).server_config());
        let ch = channel(svc.port, client_tls(&pki, "localhost"));
        assert_eq!(echo(&ch).unwrap(), b("secret"));
        let info = ch
            .unary("/test.Echo/Info", BytesCodec, &b(""), opts())
            .unwrap();
        assert!(
            String::from_utf8_lossy(&info.message).contains("peer=127.0.0.1:"),
            "{info:?}"
        );
        let got: Vec<Bytes> = ch
            .server_streaming("/test.Echo/Count", BytesCodec, &b("500"), opts())
            .unwrap()
            .collect::<Result<_, Status>>()
            .unwrap();
        assert_eq!(got.len(), 500);
        assert_eq!(got[499], b("499"));
        // 8 MiB each way through one bidi call: many TLS records, flow
        // control stalls, and the reader and writer sharing the session.
        let (tx, rx) = ch
            .bidi_streaming("/test.Echo/Echo", BytesCodec, opts())
            .unwrap()
            .split();
        let sender = std::thread::spawn(move || {
            for i in 0..32u8 {
                tx.send(&Bytes::from(vec![i; 256 << 10])).unwrap();
            }
            tx.close().unwrap();
        });
        let mut n = 0u8;
        for m in rx {
            let m = m.unwrap();
            assert_eq!(m.len(), 256 << 10);
            assert!(m.iter().all(|&x| x == n));
            n += 1;
        }
        assert_eq!(n, 32);
        sender.join().unwrap();
    });
}

#[test]
fn untrusted_server_certificate_is_refused() {
    within(Duration::from_secs(30), || {
        let pki = Pki::new("server ca");
        let svc = serve_tls(&pki.leaf(&["localhost"]).server_config());
        let other = Pki::new("some other ca");
        let e = echo(&channel(svc.port, client_tls(&other, "localhost"))).unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        assert!(e.message().contains("certificate"), "{e:?}");
        // A name the certificate does not carry is refused as well.
        let e = echo(&channel(svc.port, client_tls(&pki, "not-localhost"))).unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        assert!(e.message().contains("certificate"), "{e:?}");
        // And the server still serves a client that trusts it.
        assert_eq!(
            echo(&channel(svc.port, client_tls(&pki, "localhost"))).unwrap(),
            b("secret")
        );
    });
}

/// A server whose one method answers with the DER of the client's leaf
/// certificate as the handler sees it (empty without one), and the
/// chain's length in a trailer.
fn who_server(tls: Option<&ServerTlsConfig>) -> (Server, u16) {
    use grpc_sansio_blocking::{Handler, MetadataMap, Router, RouterExt};
    let mut r: Router<Handler> = Router::new();
    r.unary("test.Who", "Am", BytesCodec, |call, _req: Bytes| {
        let chain = call.peer_certs().map(<[Bytes]>::to_vec).unwrap_or_default();
        let mut t = MetadataMap::new();
        t.insert("x-chain", &chain.len().to_string())
            .expect("ascii");
        call.set_trailers(t);
        Ok(chain.first().cloned().unwrap_or_default())
    });
    let server = Server::builder().build(r);
    let addr = match tls {
        Some(tls) => server.bind_tls("127.0.0.1:0", tls),
        None => server.bind("127.0.0.1:0"),
    }
    .expect("bind");
    (server, addr.port())
}

fn who(ch: &Channel) -> (Bytes, String) {
    let r = ch
        .unary("/test.Who/Am", BytesCodec, &Bytes::new(), opts())
        .expect("call");
    let n = r.trailers.get("x-chain").unwrap_or("?").to_string();
    (r.message, n)
}

/// A transport that vouches for its peer itself (as one that ran TLS
/// before it was handed over would): a chain of two made-up
/// certificates.
struct Vouching(TcpStream);

impl grpc_sansio_blocking::Transport for Vouching {
    fn into_parts(self: Box<Self>) -> std::io::Result<grpc_sansio_blocking::TransportParts> {
        Box::new(self.0).into_parts()
    }

    fn peer_certs(&self) -> Option<std::sync::Arc<[Bytes]>> {
        Some(vec![b("leaf"), b("issuer")].into())
    }
}

/// What a transport handed to `serve_transport` says of its peer reaches
/// the handlers, in order.
#[test]
fn a_transport_gives_handlers_its_peer() {
    within(Duration::from_secs(30), || {
        let (server, _) = who_server(None);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepting = {
            let server = server.clone();
            std::thread::spawn(move || {
                let (s, _) = listener.accept().unwrap();
                server.serve_transport(Box::new(Vouching(s))).unwrap();
            })
        };
        let ch = Channel::builder(&format!("http://127.0.0.1:{port}"))
            .build_lazy()
            .unwrap();
        assert_eq!(who(&ch), (b("leaf"), "2".to_string()));
        accepting.join().unwrap();
        server.shutdown(Duration::from_millis(200));
    });
}

/// Handlers see the client's certificate chain under mutual TLS (leaf
/// first, as DER, as the client presented it; the handshake runs on the
/// connection's reader thread, before any call), and none over TLS
/// without a client certificate or over plain TCP.
#[test]
fn handlers_see_the_client_certificate() {
    within(Duration::from_secs(30), || {
        let pki = Pki::new("test ca");
        let server_leaf = pki.leaf(&["localhost"]);
        let client_leaf = pki.leaf(&["client"]);
        let mtls = server_leaf
            .server_config()
            .client_ca_pem(pki.ca_pem.as_bytes())
            .unwrap();
        let (s1, port) = who_server(Some(&mtls));
        let with_cert = client_leaf.presented_by(client_tls(&pki, "localhost"));
        let (leaf, n) = who(&channel(port, with_cert));
        assert_eq!(&leaf[..], &client_leaf.cert_der[..]);
        assert_eq!(n, "1");

        let (s2, port) = who_server(Some(&server_leaf.server_config()));
        let got = who(&channel(port, client_tls(&pki, "localhost")));
        assert_eq!(got, (Bytes::new(), "0".to_string()));

        let (s3, port) = who_server(None);
        let plain = Channel::builder(&format!("http://127.0.0.1:{port}"))
            .build_lazy()
            .unwrap();
        assert_eq!(who(&plain), (Bytes::new(), "0".to_string()));
        for s in [s1, s2, s3] {
            s.shutdown(Duration::from_millis(200));
        }
    });
}

/// Mozilla's roots (feature `tls-webpki-roots`) on the blocking channel:
/// a private authority's server is refused until that authority is added.
#[test]
fn webpki_roots_are_public_roots_only() {
    within(Duration::from_secs(30), || {
        let pki = Pki::new("private ca");
        let svc = serve_tls(&pki.leaf(&["localhost"]).server_config());
        let public = ClientTlsConfig::new()
            .with_webpki_roots()
            .server_name("localhost");
        assert!(public.root_count() > 100, "{}", public.root_count());
        let e = echo(&channel(svc.port, public.clone())).unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        let both = public.ca_certificate_pem(pki.ca_pem.as_bytes()).unwrap();
        assert_eq!(echo(&channel(svc.port, both)).unwrap(), b("secret"));
    });
}

#[test]
fn mutual_tls() {
    within(Duration::from_secs(30), || {
        let pki = Pki::new("test ca");
        let server_leaf = pki.leaf(&["localhost"]);
        let client_leaf = pki.leaf(&["client"]);
        let tls = server_leaf
            .server_config()
            .client_ca_pem(pki.ca_pem.as_bytes())
            .unwrap();
        let svc = serve_tls(&tls);
        let with_cert = client_leaf.presented_by(client_tls(&pki, "localhost"));
        assert_eq!(echo(&channel(svc.port, with_cert)).unwrap(), b("secret"));
        // Without a certificate: refused, and the error says why (the
        // server's TLS alert, which under TLS 1.3 comes after the client's
        // side of the handshake is done), not only that the connection
        // ended.
        let e = echo(&channel(svc.port, client_tls(&pki, "localhost"))).unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        assert!(e.message().contains("CertificateRequired"), "{e:?}");
        // With one from another authority: refused, saying so.
        let stranger = Pki::new("stranger ca").leaf(&["client"]);
        let wrong = stranger.presented_by(client_tls(&pki, "localhost"));
        let e = echo(&channel(svc.port, wrong)).unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        assert!(e.message().contains("UnknownCA"), "{e:?}");
    });
}

#[test]
fn silent_client_does_not_hold_up_the_accept_loop() {
    within(Duration::from_secs(30), || {
        let pki = Pki::new("test ca");
        let svc = serve_tls(&pki.leaf(&["localhost"]).server_config());
        // Connections that never say hello, and one that says garbage.
        let silent: Vec<TcpStream> = (0..4)
            .map(|_| TcpStream::connect(("127.0.0.1", svc.port)).unwrap())
            .collect();
        let mut garbage = TcpStream::connect(("127.0.0.1", svc.port)).unwrap();
        garbage
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .unwrap();
        let started = std::time::Instant::now();
        assert_eq!(
            echo(&channel(svc.port, client_tls(&pki, "localhost"))).unwrap(),
            b("secret")
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(silent);
    });
}

/// A client that sends its ClientHello a byte at a time, each byte well
/// within any read timeout, is still cut off once the handshake's 10 s
/// are up: the deadline bounds the whole handshake, not each read, so a
/// trickling peer cannot hold a reader thread (and a connection slot) for
/// as long as it likes.
#[test]
fn a_trickled_handshake_is_cut_off_at_its_deadline() {
    use std::io::{ErrorKind, Read as _};
    use std::time::Instant;
    within(Duration::from_secs(40), || {
        let pki = Pki::new("test ca");
        // HTTP/2 timers that could end the connection about as soon (the
        // SETTINGS acknowledgement's 10 s, the preface's 30 s) are pushed
        // out of the way: only the handshake's own deadline may end it.
        let (tx, _rx) = std::sync::mpsc::channel();
        let server = Server::builder()
            .core_config(|c| {
                c.h2.settings_timeout = Duration::from_secs(60);
                c.h2.frame_timeout = Some(Duration::from_secs(60));
            })
            .build(router(tx));
        let tls = pki.leaf(&["localhost"]).server_config();
        let addr = server.bind_tls("127.0.0.1:0", &tls).expect("bind_tls");
        let svc = TlsService {
            server,
            port: addr.port(),
        };
        let mut s = TcpStream::connect(("127.0.0.1", svc.port)).unwrap();
        // A handshake record announcing 512 bytes, then a byte at a time.
        s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let started = Instant::now();
        let closed_after = loop {
            let elapsed = started.elapsed();
            if elapsed > Duration::from_secs(25) {
                break None;
            }
            if s.write_all(&[0x01]).is_err() {
                break Some(elapsed);
            }
            let mut buf = [0u8; 64];
            match s.read(&mut buf) {
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                // End of stream, a reset, or an alert: the server gave up.
                _ => break Some(elapsed),
            }
        };
        let closed_after = closed_after.expect("the handshake still runs after 25 s");
        assert!(
            closed_after > Duration::from_secs(8) && closed_after < Duration::from_secs(13),
            "the trickled handshake ended after {closed_after:?}, not at its 10 s deadline"
        );
        assert!(
            grpc_sansio_tests::wait_for(Duration::from_secs(3), || svc.server.connections() == 0),
            "the connection is still counted"
        );
    });
}

/// The client's side of the same: a server that answers the ClientHello
/// a byte at a time cannot hold the connecting call past its connect
/// timeout; the call fails UNAVAILABLE, saying the handshake timed out.
#[test]
fn a_server_trickling_its_handshake_is_given_up_on() {
    use std::io::Read as _;
    use std::time::Instant;
    within(Duration::from_secs(40), || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut hello = [0u8; 4096];
            let _ = s.read(&mut hello);
            // A handshake record announcing 512 bytes, then a byte at a
            // time, until the client hangs up (or 20 s).
            let _ = s.write_all(&[0x16, 0x03, 0x03, 0x02, 0x00]);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if s.write_all(&[0x02]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let pki = Pki::new("test ca");
        let ch = Channel::builder(&format!("https://127.0.0.1:{port}"))
            .tls(client_tls(&pki, "localhost"))
            .connect_timeout(Duration::from_secs(2))
            .build_lazy()
            .unwrap();
        let started = Instant::now();
        let e = echo(&ch).unwrap_err();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(6), "the call took {took:?}");
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        assert!(e.message().contains("timed out"), "{e:?}");
        drop(ch);
        server.join().unwrap();
    });
}

#[test]
fn https_needs_a_tls_configuration() {
    let e = Channel::builder("https://127.0.0.1:1")
        .build_lazy()
        .unwrap_err();
    assert!(e.to_string().contains("TLS"), "{e}");
    let e = ServerTlsConfig::from_pem(b"not pem", b"nor this").unwrap_err();
    assert!(e.to_string().contains("TLS configuration"), "{e}");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn blocking_client_against_tokio_tls_server() {
    use grpc_sansio_tokio::tls::{ServerTlsConfig as TokioServerTls, TlsListener};
    within(Duration::from_secs(30), || {
        let pki = Pki::new("test ca");
        let leaf = pki.leaf(&["localhost"]);
        let client_leaf = pki.leaf(&["client"]);
        let rt = runtime();
        let tls = TokioServerTls::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes())
            .unwrap()
            .client_ca_pem(pki.ca_pem.as_bytes())
            .unwrap();
        let port = rt.block_on(async {
            let (tx, _seen) = tokio::sync::mpsc::channel(64);
            let server = grpc_sansio_tokio::Server::builder().build(tokio_support::routes(tx));
            let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = tcp.local_addr().unwrap().port();
            let listener = TlsListener::new(tcp, &tls).unwrap();
            tokio::spawn(async move { server.serve(listener).await });
            port
        });
        let ch = channel(
            port,
            client_leaf.presented_by(client_tls(&pki, "localhost")),
        );
        let r = ch
            .unary(&tokio_support::path("Echo"), BytesCodec, &b("hi"), opts())
            .unwrap();
        assert_eq!(r.message, b("hi"));
        let total: usize = ch
            .server_streaming(
                &tokio_support::path("Big"),
                BytesCodec,
                &b("3000000"),
                opts(),
            )
            .unwrap()
            .map(|m| m.unwrap().len())
            .sum();
        assert_eq!(total, 3_000_000);
        drop(ch);
        rt.shutdown_timeout(Duration::from_secs(1));
    });
}

#[test]
fn tokio_client_against_blocking_tls_server() {
    use grpc_sansio_tokio::tls::ClientTlsConfig as TokioClientTls;
    within(Duration::from_secs(30), || {
        let pki = Pki::new("test ca");
        let client_leaf = pki.leaf(&["client"]);
        let tls = pki
            .leaf(&["localhost"])
            .server_config()
            .client_ca_pem(pki.ca_pem.as_bytes())
            .unwrap();
        let svc = serve_tls(&tls);
        let rt = runtime();
        rt.block_on(async {
            let ch =
                grpc_sansio_tokio::Channel::builder(&format!("https://127.0.0.1:{}", svc.port))
                    .tls(
                        client_leaf.presented_by(
                            TokioClientTls::new()
                                .ca_certificate_pem(pki.ca_pem.as_bytes())
                                .unwrap()
                                .server_name("localhost"),
                        ),
                    )
                    .build()
                    .unwrap();
            let opts = || grpc_sansio_tokio::CallOptions::new().timeout(Duration::from_secs(10));
            let r = ch
                .unary("/test.Echo/Unary", BytesCodec, b("over tls"), opts())
                .await
                .unwrap();
            assert_eq!(r.message, b("over tls"));
            let mut s = ch
                .server_streaming("/test.Echo/Count", BytesCodec, b("300"), opts())
                .await
                .unwrap();
            let mut n = 0;
            while let Some(m) = s.message().await.unwrap() {
                assert_eq!(m, Bytes::from(n.to_string()));
                n += 1;
            }
            assert_eq!(n, 300);
        });
        rt.shutdown_timeout(Duration::from_secs(1));
    });
}

/// A folder for certificate files, removed afterwards.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "grpc-sansio-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A grpcio client, over TLS trusting `ca.pem` and expecting the name
/// "localhost": the blocking test service's unary, server-streaming and
/// bidi calls; prints `OK <n>` after its checks.
const GRPCIO_TLS_CLIENT: &str = r#"
import sys, grpc
port, ca = sys.argv[1], open(sys.argv[2], "rb").read()
creds = grpc.ssl_channel_credentials(root_certificates=ca)
ch = grpc.secure_channel("127.0.0.1:" + port, creds,
                         options=(("grpc.ssl_target_name_override", "localhost"),))
grpc.channel_ready_future(ch).result(timeout=10)
r = ch.unary_unary("/test.Echo/Unary")(b"from grpcio", timeout=10)
assert r == b"from grpcio", r
got = list(ch.unary_stream("/test.Echo/Count")(b"200", timeout=10))
assert got == [str(i).encode() for i in range(200)], got[:3]
big = [bytes([i]) * (200 << 10) for i in range(16)]
back = list(ch.stream_stream("/test.Echo/Echo")(iter(big), timeout=20))
assert back == big, len(back)
print("OK", len(got) + len(back), flush=True)
"#;

#[test]
fn grpcio_client_over_tls_against_blocking_server() {
    let Some(python) = python_with(&["grpc"]) else {
        return;
    };
    within(Duration::from_secs(60), move || {
        let pki = Pki::new("grpcio test ca");
        let svc = serve_tls(&pki.leaf(&["localhost"]).server_config());
        let dir = TempDir::new("blocking-tls-grpcio-client");
        let ca = dir.write("ca.pem", &pki.ca_pem);
        let script = dir.write("client.py", GRPCIO_TLS_CLIENT);
        let port = svc.port.to_string();
        let peer =
            PeerProcess::spawn_program(&python, &[&script, &port, &ca], &dir.0, &[]).unwrap();
        let out = peer.finish(Duration::from_secs(40));
        assert!(out.success(), "{}", out.transcript());
        assert!(
            out.stdout.iter().any(|l| l == "OK 216"),
            "{}",
            out.transcript()
        );
    });
}

#[test]
fn blocking_client_over_tls_against_grpcio_server() {
    let Some(python) = python_with(&["grpc"]) else {
        return;
    };
    within(Duration::from_secs(60), move || {
        let pki = Pki::new("grpcio test ca");
        let leaf = pki.leaf(&["localhost"]);
        let dir = TempDir::new("blocking-tls-grpcio-server");
        let cert = dir.write("cert.pem", &leaf.cert_pem);
        let key = dir.write("key.pem", &leaf.key_pem);
        let mut peer = PeerProcess::spawn(
            &python,
            "grpc_tokio_grpcio_server.py",
            &["--tls", &cert, &key],
        )
        .unwrap();
        let port: u16 = peer
            .wait_line("PORT ", Duration::from_secs(20))
            .expect("the grpcio server's port")
            .trim()
            .parse()
            .unwrap();
        let ch = channel(port, client_tls(&pki, "localhost"));
        let r = ch
            .unary("/test.Test/Echo", BytesCodec, &b("to grpcio"), opts())
            .unwrap();
        assert_eq!(r.message, b("to grpcio"));
        let got: Vec<Bytes> = ch
            .server_streaming("/test.Test/Count", BytesCodec, &b("100"), opts())
            .unwrap()
            .collect::<Result<_, Status>>()
            .unwrap();
        assert_eq!(got.len(), 100);
        assert_eq!(got[99], b("99"));
        let shouted: Vec<Bytes> = ch
            .bidi_streaming("/test.Test/Shout", BytesCodec, opts())
            .and_then(|call| {
                for w in ["a", "bc", "def"] {
                    call.send(&b(w))?;
                }
                call.close_send()?;
                Ok(call.into_stream())
            })
            .unwrap()
            .collect::<Result<_, Status>>()
            .unwrap();
        assert_eq!(shouted, vec![b("A"), b("BC"), b("DEF")]);
        // A client that does not trust grpcio's certificate is refused.
        let other = Pki::new("other ca");
        let e = echo(&channel(port, client_tls(&other, "localhost"))).unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        drop(peer);
    });
}
