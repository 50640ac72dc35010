//! The core driven by hand over `std::net`: the loop an embedder writes,
//! with no adapter. The demo uses it to show the state machines on their
//! own; it is also the shortest complete example of the driving contract.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use grpc_sansio::client::ClientConnection;
use grpc_sansio::h2::ConnectionError;
use grpc_sansio::server::ServerConnection;

/// What the loop needs from a client or server state machine.
pub trait Machine {
    /// Feed received bytes.
    fn receive(&mut self, bytes: &[u8], now: Instant) -> Result<(), ConnectionError>;
    /// The peer closed the transport.
    fn receive_eof(&mut self, now: Instant);
    /// Bytes to write.
    fn poll_transmit(&mut self, dst: &mut BytesMut) -> usize;
    /// The next timer.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Run due timers.
    fn handle_timeout(&mut self, now: Instant);
    /// The connection has ended.
    fn is_closed(&self) -> bool;
}

macro_rules! machine {
    ($t:ty) => {
        impl Machine for $t {
            fn receive(&mut self, bytes: &[u8], now: Instant) -> Result<(), ConnectionError> {
                <$t>::receive(self, bytes, now)
            }
            fn receive_eof(&mut self, now: Instant) {
                <$t>::receive_eof(self, now)
            }
            fn poll_transmit(&mut self, dst: &mut BytesMut) -> usize {
                <$t>::poll_transmit(self, dst)
            }
            fn poll_timeout(&self) -> Option<Instant> {
                <$t>::poll_timeout(self)
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$t>::handle_timeout(self, now)
            }
            fn is_closed(&self) -> bool {
                <$t>::is_closed(self)
            }
        }
    };
}

machine!(ClientConnection);
machine!(ServerConnection);

/// Write everything the machine has to send.
pub fn flush(sock: &mut TcpStream, m: &mut impl Machine) -> io::Result<()> {
    let mut out = BytesMut::new();
    while m.poll_transmit(&mut out) > 0 {
        sock.write_all(&out)?;
        out.clear();
    }
    Ok(())
}

/// One turn of the loop: write what is pending, wait for bytes or the
/// next timer (at most `max_wait`), feed what came, run due timers.
/// Returns false once the peer closed the transport.
pub fn turn(sock: &mut TcpStream, m: &mut impl Machine, max_wait: Duration) -> io::Result<bool> {
    flush(sock, m)?;
    let now = Instant::now();
    let wait = m
        .poll_timeout()
        .map_or(max_wait, |t| t.saturating_duration_since(now).min(max_wait))
        .max(Duration::from_millis(1));
    sock.set_read_timeout(Some(wait))?;
    let mut buf = [0u8; 32 << 10];
    let open = match sock.read(&mut buf) {
        Ok(0) => {
            m.receive_eof(Instant::now());
            false
        }
        Ok(n) => {
            // A connection error queues a GOAWAY; it is written below.
            let _ = m.receive(&buf[..n], Instant::now());
            true
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            true
        }
        Err(e) => return Err(e),
    };
    let now = Instant::now();
    if m.poll_timeout().is_some_and(|t| t <= now) {
        m.handle_timeout(now);
    }
    flush(sock, m)?;
    Ok(open && !m.is_closed())
}
