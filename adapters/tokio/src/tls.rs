//! TLS through rustls and its `ring` provider (feature `tls`): client and
//! server configurations with custom roots, client certificates (mutual
//! TLS), a server name override, and ALPN `h2`, which gRPC requires.
//!
//! The configuration types come from `grpc-sansio-rustls`, shared with the
//! blocking adapter; this module runs the handshakes on tokio. A channel
//! uses TLS when its builder has a [`ClientTlsConfig`]
//! ([`ChannelBuilder::tls`](crate::ChannelBuilder::tls)); an `https://`
//! target needs one. No roots are loaded unless asked for: trust is what
//! the configuration says (its own roots; with the `tls-webpki-roots`
//! feature Mozilla's, through `ClientTlsConfig::with_webpki_roots`; with
//! `tls-native-roots` the operating system's, through
//! `ClientTlsConfig::with_native_roots`). A server accepts TLS through a [`TlsListener`];
//! under mutual TLS its handlers find the client's certificates in
//! [`RequestContext::peer_certs`](crate::RequestContext::peer_certs).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
pub use grpc_sansio_rustls::{ClientTlsConfig, ServerTlsConfig, TlsError, rustls};
use grpc_sansio_rustls::{HANDSHAKE_TIMEOUT, check_alpn};
use rustls::pki_types::ServerName;
use tokio::task::JoinSet;

use crate::client::{ConnectFuture, Connector, InvalidTarget};
use crate::server::{Listener, Peer};
use crate::transport::BoxIo;

/// Handshakes a [`TlsListener`] runs at once; more connections wait in
/// the kernel's accept queue.
const MAX_HANDSHAKES: usize = 128;

/// A connector that runs TLS over what `inner` connects to `host`.
pub(crate) fn wrap(
    tls: &ClientTlsConfig,
    inner: Arc<dyn Connector>,
    host: &str,
) -> Result<Arc<dyn Connector>, InvalidTarget> {
    let invalid = |e: TlsError| InvalidTarget(e.to_string());
    Ok(Arc::new(TlsConnector {
        inner,
        tls: tokio_rustls::TlsConnector::from(tls.client_config().map_err(invalid)?),
        name: tls.server_name_for(host).map_err(invalid)?,
    }))
}

struct TlsConnector {
    inner: Arc<dyn Connector>,
    tls: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
}

impl Connector for TlsConnector {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            let io = self.inner.connect().await?;
            let s =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, self.tls.connect(self.name.clone(), io))
                    .await
                    .map_err(|_| {
                        io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
                    })??;
            check_alpn(s.get_ref().1.alpn_protocol())?;
            Ok(Box::new(s) as BoxIo)
        })
    }
}

/// A listener whose connections are TLS: it accepts from `inner` and runs
/// the handshakes (up to 128 at a time, each bounded to 10 s) beside
/// accepting, so that a slow client holds up no one.
pub struct TlsListener<L> {
    inner: L,
    acceptor: tokio_rustls::TlsAcceptor,
    handshakes: JoinSet<io::Result<(BoxIo, Peer)>>,
}

impl<L> fmt::Debug for TlsListener<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsListener")
            .field("handshakes", &self.handshakes.len())
            .finish()
    }
}

impl<L: Listener> TlsListener<L> {
    /// TLS over the connections `inner` accepts.
    pub fn new(inner: L, tls: &ServerTlsConfig) -> Result<Self, TlsError> {
        Ok(TlsListener {
            inner,
            acceptor: tokio_rustls::TlsAcceptor::from(tls.server_config()?),
            handshakes: JoinSet::new(),
        })
    }
}

impl<L: Listener> Listener for TlsListener<L> {
    async fn accept(&mut self) -> io::Result<(BoxIo, Option<SocketAddr>)> {
        let (io, peer) = self.accept_peer().await?;
        Ok((io, peer.addr))
    }

    /// The next connection whose handshake succeeded, with the client's
    /// certificate chain if it presented one.
    async fn accept_peer(&mut self) -> io::Result<(BoxIo, Peer)> {
        loop {
            let room = self.handshakes.len() < MAX_HANDSHAKES;
            tokio::select! {
                r = self.inner.accept_peer(), if room => {
                    let (io, mut peer) = r?;
                    let acceptor = self.acceptor.clone();
                    self.handshakes.spawn(async move {
                        let s = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io))
                            .await
                            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
                        let tls = s.get_ref().1;
                        check_alpn(tls.alpn_protocol())?;
                        peer.certs = peer_certs(tls.peer_certificates());
                        Ok((Box::new(s) as BoxIo, peer))
                    });
                }
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    // A failed handshake is that client's problem only.
                    if let Ok(Ok(conn)) = done {
                        return Ok(conn);
                    }
                }
            }
        }
    }
}

/// The client's certificate chain as DER, for [`Peer::certs`].
fn peer_certs(chain: Option<&[rustls::pki_types::CertificateDer<'_>]>) -> Option<Arc<[Bytes]>> {
    let chain = chain.filter(|c| !c.is_empty())?;
    Some(
        chain
            .iter()
            .map(|c| Bytes::copy_from_slice(c.as_ref()))
            .collect(),
    )
}
