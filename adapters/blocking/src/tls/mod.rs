//! TLS through rustls and its `ring` provider (feature `tls`): client and
//! server configurations with custom roots, client certificates (mutual
//! TLS), a server name override, and ALPN `h2`, which gRPC requires.
//!
//! A channel uses TLS when its builder has a [`ClientTlsConfig`]
//! ([`ChannelBuilder::tls`](crate::ChannelBuilder::tls)); an `https://`
//! target needs one. No system roots are loaded: trust is what the
//! configuration says. A server accepts TLS on
//! [`Server::bind_tls`](crate::Server::bind_tls).
//!
//! How TLS fits the two-thread model of a connection is described in
//! [`stream`]'s documentation: in short, one rustls connection behind a
//! lock shared by the reader and the writer, and the socket split so that
//! neither blocks in I/O while holding it.

mod stream;

use std::fmt;
use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

pub(crate) use stream::TlsTcp;

const ALPN_H2: &[u8] = b"h2";
/// How long a TLS handshake may take, on either side.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS configuration that could not be built (bad PEM, bad key, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS configuration: {}", self.0)
    }
}

impl std::error::Error for TlsError {}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

fn err(what: impl fmt::Display) -> TlsError {
    TlsError(what.to_string())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| err(format!("certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(err("no certificate in the PEM"));
    }
    Ok(certs)
}

fn key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| err(format!("private key PEM: {e}")))
}

fn roots_from_pem(roots: &mut RootCertStore, pem: &[u8]) -> Result<(), TlsError> {
    for c in certs_from_pem(pem)? {
        roots.add(c).map_err(err)?;
    }
    Ok(())
}

fn check_alpn(proto: Option<&[u8]>) -> io::Result<()> {
    match proto {
        Some(ALPN_H2) => Ok(()),
        Some(other) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "peer chose ALPN {:?}, not h2",
                String::from_utf8_lossy(other)
            ),
        )),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "peer did not negotiate ALPN h2",
        )),
    }
}

/// How a channel does TLS: the roots it trusts, its own certificate for
/// mutual TLS, and the name it expects the server to have.
#[derive(Clone)]
pub struct ClientTlsConfig {
    roots: RootCertStore,
    identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    server_name: Option<String>,
    custom: Option<Arc<ClientConfig>>,
}

impl fmt::Debug for ClientTlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTlsConfig")
            .field("roots", &self.roots.len())
            .field("identity", &self.identity.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl Default for ClientTlsConfig {
    fn default() -> Self {
        ClientTlsConfig {
            roots: RootCertStore::empty(),
            identity: None,
            server_name: None,
            custom: None,
        }
    }
}

impl ClientTlsConfig {
    /// No trusted roots yet: add some with
    /// [`ca_certificate_pem`](Self::ca_certificate_pem).
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust the certificates in `pem`.
    pub fn ca_certificate_pem(mut self, pem: &[u8]) -> Result<Self, TlsError> {
        roots_from_pem(&mut self.roots, pem)?;
        Ok(self)
    }

    /// Trust the certificate `der`.
    pub fn ca_certificate_der(mut self, der: &[u8]) -> Result<Self, TlsError> {
        self.roots
            .add(CertificateDer::from(der.to_vec()))
            .map_err(err)?;
        Ok(self)
    }

    /// Present this certificate chain and key to servers that ask for one
    /// (mutual TLS).
    pub fn identity_pem(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        self.identity = Some((
            certs_from_pem(cert_chain_pem)?,
            Arc::new(key_from_pem(key_pem)?),
        ));
        Ok(self)
    }

    /// The name the server's certificate must carry, also sent as SNI
    /// (gRPC's `server_host_override`). Default: the target's host.
    pub fn server_name(mut self, name: &str) -> Self {
        self.server_name = Some(name.to_string());
        self
    }

    /// Use a rustls configuration as it is, except that ALPN is set to
    /// `h2`.
    pub fn from_rustls(config: Arc<ClientConfig>) -> Self {
        ClientTlsConfig {
            custom: Some(config),
            ..Self::default()
        }
    }

    fn rustls(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let mut config = match &self.custom {
            Some(c) => (**c).clone(),
            None => {
                let b = ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map_err(err)?
                    .with_root_certificates(self.roots.clone());
                match &self.identity {
                    Some((chain, key)) => b
                        .with_client_auth_cert(chain.clone(), key.clone_key())
                        .map_err(err)?,
                    None => b.with_no_client_auth(),
                }
            }
        };
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }

    /// What a channel needs to make TLS connections to `host`.
    pub(crate) fn connector(&self, host: &str) -> Result<TlsConnector, TlsError> {
        let config = self.rustls()?;
        let name = self.server_name.as_deref().unwrap_or(host).to_string();
        let name = ServerName::try_from(name).map_err(|e| err(format!("TLS server name: {e}")))?;
        Ok(TlsConnector { config, name })
    }
}

/// Runs the client side of TLS handshakes.
pub(crate) struct TlsConnector {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl TlsConnector {
    /// Run the handshake over `tcp` (on the calling thread, the one
    /// connecting) until `deadline`, then hand over the connection.
    pub(crate) fn connect(&self, tcp: TcpStream, deadline: Instant) -> io::Result<TlsTcp> {
        let conn = rustls::ClientConnection::new(Arc::clone(&self.config), self.name.clone())
            .map_err(io::Error::other)?;
        let deadline = deadline.min(Instant::now() + HANDSHAKE_TIMEOUT);
        let mut stream = TlsTcp::new(tcp, conn.into(), deadline);
        stream.handshake_now()?;
        Ok(stream)
    }
}

/// How a server does TLS: its certificate and key, and optionally the
/// roots client certificates must chain to (mutual TLS).
#[derive(Clone)]
pub struct ServerTlsConfig {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    client_roots: Option<RootCertStore>,
    custom: Option<Arc<ServerConfig>>,
}

impl fmt::Debug for ServerTlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTlsConfig")
            .field("chain", &self.chain.len())
            .field("mutual", &self.client_roots.is_some())
            .finish()
    }
}

impl ServerTlsConfig {
    /// The server's certificate chain and private key, in PEM.
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        Ok(ServerTlsConfig {
            chain: certs_from_pem(cert_chain_pem)?,
            key: Arc::new(key_from_pem(key_pem)?),
            client_roots: None,
            custom: None,
        })
    }

    /// Require client certificates that chain to the certificates in
    /// `pem` (mutual TLS).
    pub fn client_ca_pem(mut self, pem: &[u8]) -> Result<Self, TlsError> {
        let roots = self.client_roots.get_or_insert_with(RootCertStore::empty);
        roots_from_pem(roots, pem)?;
        Ok(self)
    }

    /// Use a rustls configuration as it is, except that ALPN is set to
    /// `h2`.
    pub fn from_rustls(config: Arc<ServerConfig>) -> Self {
        ServerTlsConfig {
            chain: Vec::new(),
            key: Arc::new(PrivateKeyDer::Pkcs8(Vec::new().into())),
            client_roots: None,
            custom: Some(config),
        }
    }

    pub(crate) fn rustls(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = match &self.custom {
            Some(c) => (**c).clone(),
            None => {
                let b = ServerConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map_err(err)?;
                let b = match &self.client_roots {
                    Some(roots) => {
                        let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                            Arc::new(roots.clone()),
                            provider(),
                        )
                        .build()
                        .map_err(err)?;
                        b.with_client_cert_verifier(v)
                    }
                    None => b.with_no_client_auth(),
                };
                b.with_single_cert(self.chain.clone(), self.key.clone_key())
                    .map_err(err)?
            }
        };
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }
}

/// A TLS server connection over an accepted socket whose handshake has
/// not run yet: the connection's reader thread runs it (bounded by
/// [`HANDSHAKE_TIMEOUT`]), so the accept loop never waits for a client.
pub(crate) fn accept(tcp: TcpStream, config: &Arc<ServerConfig>) -> io::Result<TlsTcp> {
    let conn = rustls::ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
    Ok(TlsTcp::new(
        tcp,
        conn.into(),
        Instant::now() + HANDSHAKE_TIMEOUT,
    ))
}
