//! TLS through rustls and its `ring` provider (feature `tls`): client and
//! server configurations with custom roots, client certificates (mutual
//! TLS), a server name override, and ALPN `h2`, which gRPC requires.
//!
//! The configuration types come from `grpc-sansio-rustls`, shared with the
//! tokio adapter; this module runs the handshakes on plain threads. A
//! channel uses TLS when its builder has a [`ClientTlsConfig`]
//! ([`ChannelBuilder::tls`](crate::ChannelBuilder::tls)); an `https://`
//! target needs one. No roots are loaded unless asked for: trust is what
//! the configuration says (its own roots; with the `tls-webpki-roots`
//! feature Mozilla's, through `ClientTlsConfig::with_webpki_roots`; with
//! `tls-native-roots` the operating system's, through
//! `ClientTlsConfig::with_native_roots`). A server accepts TLS on
//! [`Server::bind_tls`](crate::Server::bind_tls); under mutual TLS its
//! handlers find the client's certificates in
//! [`ServerCall::peer_certs`](crate::ServerCall::peer_certs).
//!
//! How TLS fits the two-thread model of a connection is described in the
//! (private) `stream` module's documentation: in short, one rustls
//! connection behind a lock shared by the reader and the writer, and the
//! socket split so that neither blocks in I/O while holding it.

mod stream;

use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

pub use grpc_sansio_rustls::{ClientTlsConfig, ServerTlsConfig, TlsError, rustls};
use grpc_sansio_rustls::{HANDSHAKE_TIMEOUT, check_alpn};
use rustls::ServerConfig;
use rustls::pki_types::ServerName;

pub(crate) use stream::TlsTcp;

/// Runs the client side of TLS handshakes.
pub(crate) struct TlsConnector {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl TlsConnector {
    /// What a channel configured with `tls` needs to make TLS connections
    /// to `host`.
    pub(crate) fn new(tls: &ClientTlsConfig, host: &str) -> Result<Self, TlsError> {
        Ok(TlsConnector {
            config: tls.client_config()?,
            name: tls.server_name_for(host)?,
        })
    }

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
