//! TLS (rustls, ALPN h2) between the tokio adapter's Channel and Server
//! over 127.0.0.1, with certificates made at test time: server
//! authentication, mutual TLS, and refusals of untrusted peers.

mod tokio_support;

use bytes::Bytes;
use grpc_sansio_tokio::tls::{ClientTlsConfig, ServerTlsConfig, TlsListener};
use grpc_sansio_tokio::{BytesCodec, CallOptions, Channel, Code, Server};
use tokio::sync::mpsc;
use tokio_support::pki::Pki;
use tokio_support::{bounded, path, routes};

async fn tls_server(tls: ServerTlsConfig) -> (Server, u16) {
    let (tx, _seen) = mpsc::channel(64);
    let server = Server::builder().build(routes(tx));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let listener = TlsListener::new(tcp, &tls).unwrap();
    let s = server.clone();
    tokio::spawn(async move { s.serve(listener).await });
    (server, port)
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn echo(channel: &Channel) -> Result<Bytes, grpc_sansio_tokio::RpcError> {
    bounded(
        15,
        channel.unary(&path("Echo"), BytesCodec, b("secret"), CallOptions::new()),
    )
    .await
    .map(|r| r.message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_custom_roots() {
    let pki = Pki::new("test ca");
    let leaf = pki.leaf(&["localhost"]);
    let tls = leaf.server_config();
    let (_server, port) = tls_server(tls).await;
    let client_tls = ClientTlsConfig::new()
        .ca_certificate_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .server_name("localhost");
    let channel = Channel::builder(&format!("https://127.0.0.1:{port}"))
        .tls(client_tls)
        .build()
        .unwrap();
    assert_eq!(echo(&channel).await.unwrap(), b("secret"));
    // Streaming works over TLS too.
    let mut s = channel
        .server_streaming(&path("Big"), BytesCodec, b("1000000"), CallOptions::new())
        .await
        .unwrap();
    let mut total = 0;
    while let Some(m) = bounded(15, s.message()).await.unwrap() {
        total += m.len();
    }
    assert_eq!(total, 1_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_server_certificate_is_refused() {
    let pki = Pki::new("server ca");
    let leaf = pki.leaf(&["localhost"]);
    let tls = leaf.server_config();
    let (_server, port) = tls_server(tls).await;
    let other = Pki::new("some other ca");
    let channel = Channel::builder(&format!("https://127.0.0.1:{port}"))
        .tls(
            ClientTlsConfig::new()
                .ca_certificate_pem(other.ca_pem.as_bytes())
                .unwrap()
                .server_name("localhost"),
        )
        .build()
        .unwrap();
    let e = echo(&channel).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e}");
    // A name the certificate does not carry is refused as well.
    let channel = Channel::builder(&format!("https://127.0.0.1:{port}"))
        .tls(
            ClientTlsConfig::new()
                .ca_certificate_pem(pki.ca_pem.as_bytes())
                .unwrap()
                .server_name("not-localhost"),
        )
        .build()
        .unwrap();
    assert_eq!(echo(&channel).await.unwrap_err().code(), Code::Unavailable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls() {
    let pki = Pki::new("test ca");
    let server_leaf = pki.leaf(&["localhost"]);
    let client_leaf = pki.leaf(&["client"]);
    let tls = server_leaf
        .server_config()
        .client_ca_pem(pki.ca_pem.as_bytes())
        .unwrap();
    let (_server, port) = tls_server(tls).await;
    let base = || {
        ClientTlsConfig::new()
            .ca_certificate_pem(pki.ca_pem.as_bytes())
            .unwrap()
            .server_name("localhost")
    };
    // With a client certificate: served.
    let channel = Channel::builder(&format!("https://127.0.0.1:{port}"))
        .tls(client_leaf.presented_by(base()))
        .build()
        .unwrap();
    assert_eq!(echo(&channel).await.unwrap(), b("secret"));
    // Without one: refused, and the error says why (the server's TLS
    // alert, which under TLS 1.3 comes after the client's side of the
    // handshake is done), not only that the connection closed.
    let channel = Channel::builder(&format!("https://127.0.0.1:{port}"))
        .tls(base())
        .build()
        .unwrap();
    let e = echo(&channel).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e}");
    assert!(e.message().contains("CertificateRequired"), "{e}");
    // With one from another authority: refused, saying so.
    let stranger = Pki::new("stranger ca").leaf(&["client"]);
    let channel = Channel::builder(&format!("https://127.0.0.1:{port}"))
        .tls(stranger.presented_by(base()))
        .build()
        .unwrap();
    let e = echo(&channel).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e}");
    assert!(e.message().contains("UnknownCA"), "{e}");
}

#[test]
fn https_without_tls_configuration_is_an_error() {
    let e = Channel::builder("https://127.0.0.1:1").build().unwrap_err();
    assert!(e.to_string().contains("TLS"), "{e}");
}

/// A server whose one method answers with the client's certificates as
/// the handler sees them, their DER one after the other in order (empty
/// without any), and how many there are in a trailer.
async fn who_server(tls: Option<ServerTlsConfig>) -> u16 {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    match tls {
        Some(tls) => who_serves(TlsListener::new(tcp, &tls).unwrap()),
        None => who_serves(tcp),
    }
    port
}

fn who_serves<L: grpc_sansio_tokio::Listener + 'static>(listener: L) {
    let mut routes = grpc_sansio_tokio::Routes::new();
    routes.unary("test.Who", "Am", BytesCodec, |req| async move {
        let chain = req.peer_certs().map(<[Bytes]>::to_vec).unwrap_or_default();
        let mut trailers = grpc_sansio_tokio::MetadataMap::new();
        trailers
            .insert("x-chain", &chain.len().to_string())
            .unwrap();
        let joined: Vec<u8> = chain.iter().flat_map(|c| c.iter().copied()).collect();
        Ok(grpc_sansio_tokio::Response::new(Bytes::from(joined)).with_trailers(trailers))
    });
    let server = Server::builder().build(routes);
    tokio::spawn(async move { server.serve(listener).await });
}

/// A client whose certificate comes from an intermediate authority sends
/// the chain (leaf, intermediate); the handler sees both, leaf first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_see_the_whole_chain_leaf_first() {
    let pki = Pki::new("root ca");
    let inter = pki.intermediate("intermediate ca");
    let server_leaf = pki.leaf(&["localhost"]);
    let client_leaf = inter.leaf(&["client"]);
    let tls = server_leaf
        .server_config()
        .client_ca_pem(pki.ca_pem.as_bytes())
        .unwrap();
    let port = who_server(Some(tls)).await;
    let chain_pem = format!("{}{}", client_leaf.cert_pem, inter.ca_pem);
    let client = ClientTlsConfig::new()
        .ca_certificate_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .server_name("localhost")
        .identity_pem(chain_pem.as_bytes(), client_leaf.key_pem.as_bytes())
        .unwrap();
    let channel = Channel::builder(&format!("https://127.0.0.1:{port}"))
        .tls(client)
        .build()
        .unwrap();
    let (chain, n) = who(&channel).await;
    assert_eq!(n, "2");
    assert_eq!(
        chain,
        [&client_leaf.cert_der[..], &inter.ca_der[..]].concat()
    );
}

/// A listener that vouches for its connections itself: its `Peer`
/// carries a chain of two made-up certificates.
struct Vouching(tokio::net::TcpListener);

impl grpc_sansio_tokio::Listener for Vouching {
    async fn accept(
        &mut self,
    ) -> std::io::Result<(grpc_sansio_tokio::BoxIo, Option<std::net::SocketAddr>)> {
        grpc_sansio_tokio::Listener::accept(&mut self.0).await
    }

    async fn accept_peer(
        &mut self,
    ) -> std::io::Result<(grpc_sansio_tokio::BoxIo, grpc_sansio_tokio::Peer)> {
        let (io, addr) = grpc_sansio_tokio::Listener::accept(&mut self.0).await?;
        let mut peer = grpc_sansio_tokio::Peer::from_addr(addr);
        peer.certs = Some(vec![b("leaf"), b("issuer")].into());
        Ok((io, peer))
    }
}

/// What a listener's `accept_peer` says of a connection reaches its
/// handlers, in order (leaf first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_gives_handlers_its_peer() {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    who_serves(Vouching(tcp));
    let channel = Channel::builder(&format!("http://127.0.0.1:{port}"))
        .build()
        .unwrap();
    assert_eq!(who(&channel).await, (b("leafissuer"), "2".to_string()));
}

async fn who(channel: &Channel) -> (Bytes, String) {
    let r = bounded(
        15,
        channel.unary("/test.Who/Am", BytesCodec, Bytes::new(), CallOptions::new()),
    )
    .await
    .unwrap();
    let n = r.trailers.get("x-chain").unwrap_or("?").to_string();
    (r.message, n)
}

/// Handlers see the client's certificate chain under mutual TLS (leaf
/// first, as DER, as the client presented it), and none over TLS without
/// a client certificate or over plain TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_see_the_client_certificate() {
    let pki = Pki::new("test ca");
    let server_leaf = pki.leaf(&["localhost"]);
    let client_leaf = pki.leaf(&["client"]);
    let server_tls = || server_leaf.server_config();
    let client_tls = || {
        ClientTlsConfig::new()
            .ca_certificate_pem(pki.ca_pem.as_bytes())
            .unwrap()
            .server_name("localhost")
    };

    let port = who_server(Some(
        server_tls().client_ca_pem(pki.ca_pem.as_bytes()).unwrap(),
    ))
    .await;
    let channel = Channel::builder(&format!("https://127.0.0.1:{port}"))
        .tls(client_leaf.presented_by(client_tls()))
        .build()
        .unwrap();
    let (leaf, n) = who(&channel).await;
    assert_eq!(&leaf[..], &client_leaf.cert_der[..]);
    assert_eq!(n, "1");

    let port = who_server(Some(server_tls())).await;
    let channel = Channel::builder(&format!("https://127.0.0.1:{port}"))
        .tls(client_tls())
        .build()
        .unwrap();
    assert_eq!(who(&channel).await, (Bytes::new(), "0".to_string()));

    let port = who_server(None).await;
    let channel = Channel::builder(&format!("http://127.0.0.1:{port}"))
        .build()
        .unwrap();
    assert_eq!(who(&channel).await, (Bytes::new(), "0".to_string()));
}

/// Mozilla's roots (feature `tls-webpki-roots`): a channel that trusts
/// only them refuses a server whose certificate comes from a private
/// authority, and trusts it once that authority is added beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webpki_roots_are_public_roots_only() {
    let public = ClientTlsConfig::new().with_webpki_roots();
    assert!(public.root_count() > 100, "{}", public.root_count());
    let pki = Pki::new("private ca");
    let leaf = pki.leaf(&["localhost"]);
    let tls = leaf.server_config();
    let (_server, port) = tls_server(tls).await;
    let channel = |tls: ClientTlsConfig| {
        Channel::builder(&format!("https://127.0.0.1:{port}"))
            .tls(tls.server_name("localhost"))
            .build()
            .unwrap()
    };
    let refused = echo(&channel(public.clone())).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    let both = public.ca_certificate_pem(pki.ca_pem.as_bytes()).unwrap();
    assert_eq!(echo(&channel(both)).await.unwrap(), b("secret"));
}
