//! The byte-and-time side of a connection, shared by the client and the
//! server state machines: what a driver's socket code needs, whichever
//! role it drives.

use std::time::Instant;

use bytes::BytesMut;

use crate::client::ClientConnection;
use crate::h2::ConnectionError;
use crate::server::ServerConnection;

/// One end of a gRPC connection as the loop that feeds it sees it: bytes
/// and time go in, bytes and the next deadline come out. Both
/// [`ClientConnection`] and [`ServerConnection`] implement it (each
/// method is the inherent one of the same name), so that code moving
/// bytes between a transport and a connection can serve either role.
/// Events and calls stay with each role's own type.
///
/// ```
/// use std::time::Instant;
/// use bytes::BytesMut;
/// use grpc_sansio::Endpoint;
/// use grpc_sansio::client::{ClientConfig, ClientConnection};
///
/// /// Run `conn`'s timers due at `now`, then hand all it has to send to
/// /// `write`: the same code for a client and a server.
/// fn turn(conn: &mut impl Endpoint, now: Instant, write: &mut impl FnMut(&[u8])) {
///     if conn.poll_timeout().is_some_and(|t| t <= now) {
///         conn.handle_timeout(now);
///     }
///     let mut out = BytesMut::new();
///     while conn.poll_transmit(&mut out) > 0 {}
///     write(&out);
/// }
///
/// /// A new client's first bytes: the connection preface.
/// fn first_bytes(now: Instant) -> Vec<u8> {
///     let mut client = ClientConnection::new(ClientConfig::default(), now);
///     let mut wire = Vec::new();
///     turn(&mut client, now, &mut |b| wire.extend_from_slice(b));
///     assert!(wire.starts_with(b"PRI * HTTP/2.0"));
///     wire
/// }
/// ```
pub trait Endpoint {
    /// Bytes read from the transport, at `now`.
    fn receive(&mut self, bytes: &[u8], now: Instant) -> Result<(), ConnectionError>;
    /// The transport's read side ended (end of file).
    fn receive_eof(&mut self, now: Instant);
    /// Append bytes to write to `dst`; returns how many. Call until it
    /// returns 0, or stop while the transport cannot take more.
    fn poll_transmit(&mut self, dst: &mut BytesMut) -> usize;
    /// Whether [`poll_transmit`](Self::poll_transmit) may have bytes now.
    fn has_output(&self) -> bool;
    /// When [`handle_timeout`](Self::handle_timeout) must run next.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Run the timers due at `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// The connection has ended: once its last bytes are written, close
    /// the transport.
    fn is_closed(&self) -> bool;
}

macro_rules! endpoint {
    ($t:ty) => {
        impl Endpoint for $t {
            fn receive(&mut self, bytes: &[u8], now: Instant) -> Result<(), ConnectionError> {
                <$t>::receive(self, bytes, now)
            }
            fn receive_eof(&mut self, now: Instant) {
                <$t>::receive_eof(self, now)
            }
            fn poll_transmit(&mut self, dst: &mut BytesMut) -> usize {
                <$t>::poll_transmit(self, dst)
            }
            fn has_output(&self) -> bool {
                <$t>::has_output(self)
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

endpoint!(ClientConnection);
endpoint!(ServerConnection);
