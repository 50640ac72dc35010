//! The core driven by hand over `std::net`: the loop an embedder writes,
//! with no adapter. The demo uses it to show the state machines on their
//! own; it is also the shortest complete example of the driving contract.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use grpc_sansio::Endpoint;

/// Write everything the machine has to send.
pub fn flush(sock: &mut TcpStream, m: &mut impl Endpoint) -> io::Result<()> {
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
pub fn turn(sock: &mut TcpStream, m: &mut impl Endpoint, max_wait: Duration) -> io::Result<bool> {
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
