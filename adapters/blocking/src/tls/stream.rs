//! A TLS connection over a TCP socket, split for a connection's two
//! threads.
//!
//! rustls keeps one state for both directions, but our reader thread
//! blocks in `read` while the writer thread writes. So:
//!
//! - the **rustls connection** sits behind a `Mutex` (`tls`) that is only
//!   held to move bytes in and out of it, never during socket I/O;
//! - the **socket** is split: the reader thread reads its own clone
//!   without any lock, and every write goes through one `Mutex` (`out`)
//!   that owns the writing clone and the ciphertext taken from rustls
//!   but not yet sent. Ciphertext is taken from rustls only while `out` is
//!   held, so records reach the socket in the order rustls made them.
//!   Lock order: `out`, then `tls`.
//! - the writer thread encrypts what it is given and sends it. A send
//!   that times out (the peer is not reading) keeps the rest in `out` and
//!   returns, so that the writer runs its timers; nothing more is
//!   encrypted until that rest is sent, which bounds it to one batch.
//! - the reader thread decrypts; when that makes rustls want to write
//!   (a key update, an alert) it sends that itself, through `out`.
//!
//! The handshake runs before either half is used: on the connecting
//! thread for a client, and on the reader thread for a server (the writer
//! waits for it in slices of [`WRITE_SLICE`], running its timers), bounded
//! by a deadline through socket timeouts.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;

use super::rustls::{self, Connection};

use crate::transport::{PeerAddr, PeerCerts, Transport, TransportParts, WRITE_SLICE};

/// Ciphertext read from the socket and not yet given to rustls.
const RAW_BUF: usize = 32 << 10;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// A TLS connection over TCP, before it is split.
pub(crate) struct TlsTcp {
    tcp: TcpStream,
    conn: Connection,
    deadline: Instant,
    handshaken: bool,
    /// Filled with the peer's certificates when the handshake is over.
    certs: PeerCerts,
}

impl TlsTcp {
    pub(super) fn new(tcp: TcpStream, conn: Connection, deadline: Instant) -> Self {
        TlsTcp {
            tcp,
            conn,
            deadline,
            handshaken: false,
            certs: PeerCerts::default(),
        }
    }

    /// Where the peer's certificate chain will be once the handshake is
    /// over (empty if it presented none).
    pub(crate) fn peer_certs(&self) -> PeerCerts {
        Arc::clone(&self.certs)
    }

    /// Run the handshake on this thread (a client's: the server's
    /// certificates are not kept, nothing reads them).
    pub(super) fn handshake_now(&mut self) -> io::Result<()> {
        handshake(&mut self.conn, &mut self.tcp, self.deadline)?;
        self.handshaken = true;
        Ok(())
    }
}

/// Run the handshake to its end (or `deadline`), then check ALPN and
/// restore the socket's timeouts for the connection's threads.
fn handshake(conn: &mut Connection, tcp: &mut TcpStream, deadline: Instant) -> io::Result<()> {
    let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out");
    // Every read and write waits at most until the deadline: a peer that
    // trickles its messages in, a byte now and then, cannot stretch the
    // handshake past it (rustls reads on for as long as bytes come).
    let mut io = UntilDeadline { tcp, deadline };
    while conn.is_handshaking() {
        if Instant::now() >= deadline {
            return Err(timed_out());
        }
        match conn.complete_io(&mut io) {
            Ok(_) => {}
            // The deadline is checked again above.
            Err(e) if is_transient(&e) => {}
            Err(e) => return Err(e),
        }
    }
    while conn.wants_write() {
        if Instant::now() >= deadline {
            return Err(timed_out());
        }
        match conn.write_tls(&mut io) {
            Ok(_) => {}
            Err(e) if is_transient(&e) => {}
            Err(e) => return Err(e),
        }
    }
    super::check_alpn(conn.alpn_protocol())?;
    tcp.set_read_timeout(None)?;
    tcp.set_write_timeout(Some(WRITE_SLICE))?;
    Ok(())
}

/// The socket during a handshake: each read or write may wait only for
/// what is left until `deadline` (TimedOut once it has passed).
struct UntilDeadline<'a> {
    tcp: &'a mut TcpStream,
    deadline: Instant,
}

impl UntilDeadline<'_> {
    fn left(&self) -> io::Result<std::time::Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            ));
        }
        Ok(left)
    }
}

impl Read for UntilDeadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.set_read_timeout(Some(self.left()?))?;
        self.tcp.read(buf)
    }
}

impl Write for UntilDeadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.set_write_timeout(Some(self.left()?))?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// The rustls connection, once the handshake is over.
enum Phase {
    /// The reader thread owns the connection and runs the handshake.
    Handshaking,
    Ready(Box<Connection>),
    Failed,
}

/// The writing side of the socket and what is waiting to go out on it.
struct Out {
    tcp: TcpStream,
    /// Ciphertext taken from rustls; `pending[sent..]` is not sent yet.
    pending: Vec<u8>,
    sent: usize,
}

impl Out {
    /// Send what is pending. A timeout leaves the rest for later.
    fn send(&mut self) -> io::Result<()> {
        while self.sent < self.pending.len() {
            match self.tcp.write(&self.pending[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.pending.clear();
        self.sent = 0;
        Ok(())
    }

    /// Move what rustls has to send into `pending` (call with `out` held,
    /// which keeps records in order).
    fn take(&mut self, conn: &mut Connection) -> io::Result<()> {
        while conn.wants_write() {
            conn.write_tls(&mut self.pending)?;
        }
        Ok(())
    }
}

struct Shared {
    tls: Mutex<Phase>,
    /// Signalled when the handshake ends (`tls`'s condition variable).
    ready: Condvar,
    out: Mutex<Out>,
}

impl Shared {
    /// Send what rustls wants to send (after decrypting, say). Best
    /// effort: what a timeout leaves stays pending for the writer.
    fn flush_from_reader(&self) -> io::Result<()> {
        let mut out = lock(&self.out);
        if let Phase::Ready(conn) = &mut *lock(&self.tls) {
            out.take(conn)?;
        }
        match out.send() {
            Err(e) if !is_transient(&e) => Err(e),
            _ => Ok(()),
        }
    }
}

impl Transport for TlsTcp {
    fn into_parts(self: Box<Self>) -> io::Result<TransportParts> {
        let TlsTcp {
            tcp,
            conn,
            deadline,
            handshaken,
            certs,
        } = *self;
        tcp.set_nodelay(true)?;
        if handshaken {
            tcp.set_read_timeout(None)?;
            tcp.set_write_timeout(Some(WRITE_SLICE))?;
        }
        let peer = PeerAddr::Tcp(tcp.peer_addr()?);
        let (phase, handshake) = if handshaken {
            (Phase::Ready(Box::new(conn)), None)
        } else {
            (Phase::Handshaking, Some((conn, deadline)))
        };
        let shared = Arc::new(Shared {
            tls: Mutex::new(phase),
            ready: Condvar::new(),
            out: Mutex::new(Out {
                tcp: tcp.try_clone()?,
                pending: Vec::new(),
                sent: 0,
            }),
        });
        let closer_tcp = tcp.try_clone()?;
        let closer_shared = Arc::clone(&shared);
        Ok(TransportParts {
            reader: Box::new(TlsReader {
                shared: Arc::clone(&shared),
                tcp,
                handshake,
                certs,
                raw: vec![0; RAW_BUF].into_boxed_slice(),
                start: 0,
                end: 0,
            }),
            writer: Box::new(TlsWriter { shared }),
            closer: Box::new(move || close(&closer_shared, &closer_tcp)),
            peer,
        })
    }
}

/// Records the peer's certificate chain, if it presented one.
fn keep_certs(conn: &Connection, certs: &PeerCerts) {
    if let Some(chain) = conn.peer_certificates().filter(|c| !c.is_empty()) {
        let _ = certs.set(
            chain
                .iter()
                .map(|c| Bytes::copy_from_slice(c.as_ref()))
                .collect(),
        );
    }
}

/// Say `close_notify` if the socket is free, then close it both ways
/// (which wakes the reader, even in the middle of a handshake).
fn close(shared: &Shared, tcp: &TcpStream) {
    if let Ok(mut out) = shared.out.try_lock() {
        if let Phase::Ready(conn) = &mut *lock(&shared.tls) {
            conn.send_close_notify();
            let _ = out.take(conn);
        }
        let _ = out.send();
    }
    let _ = tcp.shutdown(Shutdown::Both);
}

struct TlsReader {
    shared: Arc<Shared>,
    tcp: TcpStream,
    /// The server side's handshake, run on the first read.
    handshake: Option<(Connection, Instant)>,
    /// Filled with the client's certificates when that handshake is over.
    certs: PeerCerts,
    raw: Box<[u8]>,
    start: usize,
    end: usize,
}

impl TlsReader {
    fn run_handshake(&mut self) -> io::Result<()> {
        let Some((mut conn, deadline)) = self.handshake.take() else {
            return Ok(());
        };
        let result = handshake(&mut conn, &mut self.tcp, deadline);
        if result.is_ok() {
            keep_certs(&conn, &self.certs);
        }
        let mut phase = lock(&self.shared.tls);
        *phase = match result {
            Ok(()) => Phase::Ready(Box::new(conn)),
            Err(_) => Phase::Failed,
        };
        drop(phase);
        self.shared.ready.notify_all();
        result
    }
}

impl Read for TlsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.run_handshake()?;
        loop {
            let mut phase = lock(&self.shared.tls);
            let Phase::Ready(conn) = &mut *phase else {
                return Err(io::ErrorKind::NotConnected.into());
            };
            match conn.reader().read(buf) {
                // Ok(0) is the peer's close_notify.
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if self.start < self.end {
                let n = conn.read_tls(&mut &self.raw[self.start..self.end])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "TLS: rustls took no bytes",
                    ));
                }
                self.start += n;
                let processed = conn.process_new_packets();
                let wants_write = conn.wants_write();
                drop(phase);
                if wants_write {
                    // An alert after an error, or an answer to a key update.
                    self.shared.flush_from_reader()?;
                }
                processed.map_err(tls_error)?;
                continue;
            }
            drop(phase);
            let n = self.tcp.read(&mut self.raw)?;
            if n == 0 {
                return Ok(0);
            }
            self.start = 0;
            self.end = n;
        }
    }
}

struct TlsWriter {
    shared: Arc<Shared>,
}

impl TlsWriter {
    /// Wait (a slice at most) for the server-side handshake to end.
    fn wait_ready(&self) -> io::Result<()> {
        let mut phase = lock(&self.shared.tls);
        if matches!(*phase, Phase::Handshaking) {
            phase = self
                .shared
                .ready
                .wait_timeout(phase, WRITE_SLICE)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        match *phase {
            Phase::Ready(_) => Ok(()),
            Phase::Handshaking => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake in progress",
            )),
            Phase::Failed => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "TLS handshake failed",
            )),
        }
    }
}

impl Write for TlsWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.wait_ready()?;
        let mut out = lock(&self.shared.out);
        // Earlier ciphertext first; until it is out, take nothing new.
        out.send()?;
        let n = {
            let mut phase = lock(&self.shared.tls);
            let Phase::Ready(conn) = &mut *phase else {
                return Err(io::ErrorKind::NotConnected.into());
            };
            let n = conn.writer().write(buf)?;
            out.take(conn)?;
            n
        };
        // `buf[..n]` is taken: a timeout now only delays its sending.
        match out.send() {
            Err(e) if !is_transient(&e) => Err(e),
            _ => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if matches!(*lock(&self.shared.tls), Phase::Handshaking) {
            return Ok(());
        }
        lock(&self.shared.out).send()
    }
}
