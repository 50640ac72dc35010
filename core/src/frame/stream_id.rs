//! Stream identifiers (RFC 9113 §5.1.1).

use std::fmt;

/// A 31-bit HTTP/2 stream identifier.
///
/// The most significant bit of the 32-bit wire field is reserved (RFC 9113
/// §4.1): [`StreamId::new`] clears it, so a `StreamId` always holds a value
/// in `0..=StreamId::MAX`. Stream 0 is the connection itself; streams opened
/// by clients are odd, streams reserved by servers (push) are even.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(u32);

/// The reserved bit of a stream identifier or window increment field.
pub(crate) const RESERVED_BIT: u32 = 1 << 31;

impl StreamId {
    /// Stream 0: frames about the connection as a whole.
    pub const ZERO: StreamId = StreamId(0);

    /// The largest stream identifier, 2^31-1.
    pub const MAX: StreamId = StreamId(!RESERVED_BIT);

    /// Makes a stream identifier from a 32-bit field, ignoring the reserved
    /// bit as RFC 9113 §4.1 requires of receivers.
    pub const fn new(value: u32) -> StreamId {
        StreamId(value & !RESERVED_BIT)
    }

    /// The identifier as a number in `0..=2^31-1`.
    pub const fn value(self) -> u32 {
        self.0
    }

    /// Whether this is stream 0, the connection control stream.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Whether a client opens streams with this identifier (odd numbers).
    pub const fn is_client_initiated(self) -> bool {
        self.0 % 2 == 1
    }

    /// Whether a server reserves streams with this identifier (even numbers
    /// other than 0).
    pub const fn is_server_initiated(self) -> bool {
        self.0 != 0 && self.0 % 2 == 0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<StreamId> for u32 {
    fn from(id: StreamId) -> u32 {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9113_4_1_reserved_bit_is_cleared() {
        assert_eq!(StreamId::new(0x8000_0001).value(), 1);
        assert_eq!(StreamId::new(0xffff_ffff), StreamId::MAX);
        assert_eq!(StreamId::MAX.value(), 0x7fff_ffff);
    }

    #[test]
    fn rfc9113_5_1_1_parity() {
        assert!(StreamId::new(1).is_client_initiated());
        assert!(!StreamId::new(2).is_client_initiated());
        assert!(StreamId::new(2).is_server_initiated());
        assert!(!StreamId::ZERO.is_server_initiated());
        assert!(!StreamId::ZERO.is_client_initiated());
        assert!(StreamId::ZERO.is_zero());
        assert_eq!(StreamId::new(7).to_string(), "7");
    }
}
