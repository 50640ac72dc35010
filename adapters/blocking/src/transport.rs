//! Byte streams a connection runs over: TCP, Unix sockets, an in-memory
//! pair, or anything that can be split into a reading half, a writing
//! half and a way to close both.
//!
//! A connection's reader thread owns the reading half; the writing half
//! is written by one thread at a time (the connection's writer thread, or
//! an application or handler thread sending a small piece of output); the
//! closer is called once, by whichever side ends the connection, and must
//! wake a reader blocked in `read` (a socket `shutdown` does).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// How long one blocking write may wait for the peer before the writer
/// thread looks at its timers again (keepalive can then end a connection
/// whose peer stopped reading).
pub(crate) const WRITE_SLICE: Duration = Duration::from_secs(1);

/// Who is on the other end of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerAddr {
    /// A TCP peer.
    Tcp(SocketAddr),
    /// A Unix socket peer (its path, if it has one).
    Unix(Option<std::path::PathBuf>),
    /// An in-memory peer in the same process.
    InMemory,
    /// Something else, described by the transport.
    Other(String),
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Tcp(a) => write!(f, "{a}"),
            PeerAddr::Unix(Some(p)) => write!(f, "unix:{}", p.display()),
            PeerAddr::Unix(None) => f.write_str("unix:(unnamed)"),
            PeerAddr::InMemory => f.write_str("in-memory"),
            PeerAddr::Other(s) => f.write_str(s),
        }
    }
}

/// The certificate chain a TLS client presented (leaf first, as DER),
/// known once the handshake on the connection's reader thread is over.
pub(crate) type PeerCerts = std::sync::Arc<std::sync::OnceLock<std::sync::Arc<[bytes::Bytes]>>>;

/// The halves of a transport, ready for a connection's two threads.
pub struct TransportParts {
    /// Read by the connection's reader thread (blocking reads).
    pub reader: Box<dyn Read + Send>,
    /// Written by one thread at a time (see the module docs). A write
    /// that times out (`WouldBlock` / `TimedOut`) is retried by the
    /// connection's writer thread after the timers ran.
    pub writer: Box<dyn Write + Send>,
    /// Closes both directions; must make a blocked `read` return.
    pub closer: Box<dyn Fn() + Send + Sync>,
    /// The peer's address.
    pub peer: PeerAddr,
}

impl fmt::Debug for TransportParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportParts")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// A connected byte stream that a [`Channel`](crate::Channel) or a
/// [`Server`](crate::Server) can run a connection over.
pub trait Transport: Send + 'static {
    /// Split into a reading half, a writing half and a closer.
    fn into_parts(self: Box<Self>) -> io::Result<TransportParts>;

    /// The certificate chain the peer presented, leaf first, each as DER,
    /// for a transport that ran TLS itself before it was handed to a
    /// [`Server`](crate::Server): the server's handlers see it
    /// ([`ServerCall::peer_certs`](crate::ServerCall::peer_certs)).
    /// Default: none.
    fn peer_certs(&self) -> Option<std::sync::Arc<[bytes::Bytes]>> {
        None
    }
}

impl Transport for TransportParts {
    fn into_parts(self: Box<Self>) -> io::Result<TransportParts> {
        Ok(*self)
    }
}

impl Transport for TcpStream {
    fn into_parts(self: Box<Self>) -> io::Result<TransportParts> {
        self.set_nodelay(true)?;
        self.set_read_timeout(None)?;
        self.set_write_timeout(Some(WRITE_SLICE))?;
        let peer = PeerAddr::Tcp(self.peer_addr()?);
        let writer = self.try_clone()?;
        let closer = self.try_clone()?;
        Ok(TransportParts {
            reader: Box::new(*self),
            writer: Box::new(writer),
            closer: Box::new(move || {
                let _ = closer.shutdown(Shutdown::Both);
            }),
            peer,
        })
    }
}

/// A TCP connection's parts for a server that may park it while idle
/// (see `crate::park`): its reads time out after `idle`, and the socket
/// returned beside the parts (the closer's too) is the one to watch.
#[cfg(unix)]
pub(crate) fn tcp_parts_parkable(
    stream: TcpStream,
    idle: Duration,
) -> io::Result<(TransportParts, std::sync::Arc<TcpStream>)> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(idle.max(Duration::from_millis(1))))?;
    stream.set_write_timeout(Some(WRITE_SLICE))?;
    let peer = PeerAddr::Tcp(stream.peer_addr()?);
    let writer = stream.try_clone()?;
    let watched = std::sync::Arc::new(stream.try_clone()?);
    let closer = std::sync::Arc::clone(&watched);
    let parts = TransportParts {
        reader: Box::new(stream),
        writer: Box::new(writer),
        closer: Box::new(move || {
            let _ = closer.shutdown(Shutdown::Both);
        }),
        peer,
    };
    Ok((parts, watched))
}

#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn into_parts(self: Box<Self>) -> io::Result<TransportParts> {
        self.set_read_timeout(None)?;
        self.set_write_timeout(Some(WRITE_SLICE))?;
        let path = self
            .peer_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(|p| p.to_path_buf()));
        let writer = self.try_clone()?;
        let closer = self.try_clone()?;
        Ok(TransportParts {
            reader: Box::new(*self),
            writer: Box::new(writer),
            closer: Box::new(move || {
                let _ = closer.shutdown(Shutdown::Both);
            }),
            peer: PeerAddr::Unix(path),
        })
    }
}

/// Two connected in-memory transports (a Unix socket pair), for tests.
#[cfg(unix)]
pub fn in_memory_pair() -> io::Result<(Box<dyn Transport>, Box<dyn Transport>)> {
    let (a, b) = std::os::unix::net::UnixStream::pair()?;
    let wrap = |s: std::os::unix::net::UnixStream| -> io::Result<Box<dyn Transport>> {
        let mut parts = Box::new(s).into_parts()?;
        parts.peer = PeerAddr::InMemory;
        Ok(Box::new(parts))
    };
    Ok((wrap(a)?, wrap(b)?))
}
