//! What the connection targets share for reading a fuzz input as a script:
//! the virtual-time origin, an operand reader, and small decoders from
//! octets to bodies, durations and call kinds, and the gzip compressor
//! they register. Included by each target
//! through `super::script`: whoever includes a target (its libFuzzer
//! wrapper, the stable replay test) includes this file once beside it.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio::call::CallKind;
use grpc_sansio::grpc::compression::{CompressionRegistry, Gzip};

/// The origin of virtual time: read once per process, so that every run
/// sees the same arithmetic.
pub(crate) fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// The compression registry of every endpoint in a run: identity and
/// gzip at level 0, one `Gzip` for the whole process. Level 0 writes
/// stored blocks without a deflate state; the deflate encoder is
/// flate2's, not ours, and even at level 1 (with pooled states) clearing
/// its tables for every message took most of each run while adding no
/// coverage of our code. What the peer sends is still inflated by
/// flate2, compressed or stored.
pub(crate) fn registry() -> CompressionRegistry {
    static GZIP: OnceLock<Arc<Gzip>> = OnceLock::new();
    let mut r = CompressionRegistry::identity_only();
    r.register(GZIP.get_or_init(|| Arc::new(Gzip::with_level(0))).clone());
    r
}

/// Reads operands off the input; an exhausted input reads as zeros.
pub(crate) struct Reader<'a> {
    pub(crate) data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// Up to `n` octets.
    pub(crate) fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
}

/// A message body of `len` octets (at most 64 KiB), without allocating.
pub(crate) fn body(len: usize) -> Bytes {
    static ZEROS: [u8; 1 << 16] = [0; 1 << 16];
    Bytes::from_static(&ZEROS[..len.min(ZEROS.len())])
}

/// A duration from one octet: fine steps near zero, up to minutes.
pub(crate) fn duration(b: u8) -> Duration {
    match b >> 6 {
        0 => Duration::from_millis(u64::from(b & 0x3f)),
        1 => Duration::from_millis(100 * u64::from(b & 0x3f)),
        2 => Duration::from_secs(u64::from(b & 0x3f)),
        _ => Duration::from_secs(60 * u64::from(b & 0x3f)),
    }
}

/// A call kind from one octet.
pub(crate) fn kind(b: u8) -> CallKind {
    match b % 4 {
        0 => CallKind::Unary,
        1 => CallKind::ClientStreaming,
        2 => CallKind::ServerStreaming,
        _ => CallKind::BidiStreaming,
    }
}
