//! TLS configuration for the grpc-sansio adapters: rustls with its `ring`
//! provider, custom roots, client certificates (mutual TLS), a server
//! name override, and ALPN `h2`, which gRPC requires; with the
//! `webpki-roots` feature, Mozilla's roots for the public web PKI; with
//! `native-roots`, the operating system's.
//!
//! This crate builds rustls configurations and checks what a handshake
//! negotiated; it does no I/O. The adapters run the handshakes their own
//! way (`grpc-sansio-tokio` through tokio-rustls, `grpc-sansio-blocking`
//! on plain threads) and re-export these types from their `tls` modules,
//! so users normally name them from there. No roots are loaded unless
//! asked for: trust is what the configuration says (custom roots,
//! Mozilla's with `webpki-roots`, the system's with `native-roots`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

pub use rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The ALPN protocol gRPC requires.
const ALPN_H2: &[u8] = b"h2";

/// How long a TLS handshake may take, on either side.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Check the ALPN protocol a finished handshake negotiated (as rustls's
/// `alpn_protocol()` gives it): anything but `h2` is an
/// [`InvalidData`](io::ErrorKind::InvalidData) error.
pub fn check_alpn(proto: Option<&[u8]>) -> io::Result<()> {
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

    /// Trust Mozilla's root certificates (the `webpki-roots` crate's
    /// copy, built in: no file is read), as browsers do, for servers with
    /// certificates from a public authority. Other roots may be added
    /// beside them.
    #[cfg(feature = "webpki-roots")]
    pub fn with_webpki_roots(mut self) -> Self {
        self.roots
            .extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        self
    }

    /// Trust the operating system's root certificates, as loaded by the
    /// `rustls-native-certs` crate: the platform's store, or on Unix the
    /// files named by `SSL_CERT_FILE` and `SSL_CERT_DIR` when either is
    /// set. Certificates that cannot be read or parsed are skipped; an
    /// error only when none could be added. Other roots may be added
    /// beside them. The store is read when this is called, not at each
    /// connection.
    #[cfg(feature = "native-roots")]
    pub fn with_native_roots(mut self) -> Result<Self, TlsError> {
        let found = rustls_native_certs::load_native_certs();
        let (added, _unusable) = self.roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found
                .errors
                .first()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            return Err(err(format!(
                "no usable root certificate in the system's store{why}"
            )));
        }
        Ok(self)
    }

    /// How many root certificates this configuration adds (ignored, as
    /// every setting here is, under [`from_rustls`](Self::from_rustls),
    /// whose configuration keeps its own roots).
    pub fn root_count(&self) -> usize {
        self.roots.len()
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

    /// The name to verify and send as SNI when connecting to `host`: the
    /// [`server_name`](Self::server_name) override if there is one, else
    /// `host`.
    pub fn server_name_for(&self, host: &str) -> Result<ServerName<'static>, TlsError> {
        let name = self.server_name.as_deref().unwrap_or(host).to_string();
        ServerName::try_from(name).map_err(|e| err(format!("TLS server name: {e}")))
    }

    /// The rustls configuration this describes, with ALPN `h2`.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
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

    /// The rustls configuration this describes, with ALPN `h2`.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_must_be_h2() {
        assert!(check_alpn(Some(b"h2")).is_ok());
        let e = check_alpn(Some(b"http/1.1")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("http/1.1"), "{e}");
        assert!(check_alpn(None).is_err());
    }

    #[test]
    fn bad_pem_is_a_configuration_error() {
        let e = ServerTlsConfig::from_pem(b"", b"").unwrap_err();
        assert!(e.to_string().starts_with("TLS configuration: "), "{e}");
        assert!(ClientTlsConfig::new().ca_certificate_pem(b"junk").is_err());
    }

    #[test]
    fn client_config_has_alpn_h2_and_name_override() {
        let tls = ClientTlsConfig::new().server_name("example.test");
        let config = tls.client_config().unwrap();
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec()]);
        let name = tls.server_name_for("127.0.0.1").unwrap();
        assert_eq!(name.to_str(), "example.test");
        let name = ClientTlsConfig::new().server_name_for("127.0.0.1").unwrap();
        assert_eq!(name.to_str(), "127.0.0.1");
    }
}
