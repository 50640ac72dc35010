//! Per-message compression and its negotiation.
//!
//! A stream's `grpc-encoding` header names the algorithm its compressed
//! messages use (messages whose flag is 1; see
//! [`message`](super::message)). `grpc-accept-encoding` lists the
//! algorithms a peer can decode. Each message is compressed on its own: no
//! state carries over from one message to the next.
//!
//! This module owns:
//!
//! - the [`Compressor`] trait, with [`Identity`] and, behind the default
//!   `gzip` feature, [`Gzip`];
//! - the receive rules: an unknown `grpc-encoding` fails the call with
//!   `UNIMPLEMENTED` (the response should list what we accept in
//!   `grpc-accept-encoding`); a compressed flag on a stream whose encoding
//!   is identity (or absent) is `INTERNAL`; decompression stops with
//!   `RESOURCE_EXHAUSTED` as soon as the output passes the receive limit,
//!   so a small "zip bomb" never expands in memory;
//! - [`CompressionRegistry`], the set of algorithms an endpoint supports,
//!   which applies those rules and builds the header values.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use super::message::Message;
use super::status::{Code, Status};

/// Header naming a stream's message encoding.
pub const GRPC_ENCODING: &str = "grpc-encoding";
/// Header listing the encodings a peer accepts.
pub const GRPC_ACCEPT_ENCODING: &str = "grpc-accept-encoding";
/// The name of "no compression".
pub const IDENTITY: &str = "identity";

/// Why compressing or decompressing one message failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompressionError {
    /// Decompressed output would pass the limit (`RESOURCE_EXHAUSTED`).
    LimitExceeded {
        /// The limit in force.
        limit: usize,
    },
    /// The compressed input is corrupt (`INTERNAL`).
    Corrupt,
    /// The compressor itself failed (`INTERNAL`).
    Failed,
}

impl CompressionError {
    /// The status code a call fails with because of this error.
    pub fn code(&self) -> Code {
        match self {
            CompressionError::LimitExceeded { .. } => Code::ResourceExhausted,
            CompressionError::Corrupt | CompressionError::Failed => Code::Internal,
        }
    }

    /// The status a call fails with because of this error.
    pub fn to_status(&self) -> Status {
        Status::new(self.code(), self.to_string())
    }
}

impl fmt::Display for CompressionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompressionError::LimitExceeded { limit } => {
                write!(f, "decompressed message exceeds the limit of {limit} bytes")
            }
            CompressionError::Corrupt => f.write_str("compressed message is corrupt"),
            CompressionError::Failed => f.write_str("message compression failed"),
        }
    }
}

impl std::error::Error for CompressionError {}

/// A message compression algorithm.
pub trait Compressor: Send + Sync {
    /// The algorithm's name in `grpc-encoding` (lower case, e.g. `"gzip"`).
    fn name(&self) -> &'static str;

    /// Appends the compressed form of `input` to `out`.
    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError>;

    /// Appends the decompressed form of `input` to `out`, failing with
    /// [`CompressionError::LimitExceeded`] as soon as more than `limit`
    /// bytes would be produced. Implementations must enforce the limit
    /// while decompressing, not after. On error, `out` is left as it was.
    fn decompress(
        &self,
        input: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError>;
}

impl fmt::Debug for dyn Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Compressor({})", self.name())
    }
}

/// No compression: bytes are copied as they are.
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

impl Compressor for Identity {
    fn name(&self) -> &'static str {
        IDENTITY
    }

    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        out.extend_from_slice(input);
        Ok(())
    }

    fn decompress(
        &self,
        input: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        if input.len() > limit {
            return Err(CompressionError::LimitExceeded { limit });
        }
        out.extend_from_slice(input);
        Ok(())
    }
}

/// gzip (RFC 1952), via `flate2`.
#[cfg(feature = "gzip")]
#[derive(Clone, Copy, Debug)]
pub struct Gzip {
    level: u32,
}

#[cfg(feature = "gzip")]
impl Default for Gzip {
    fn default() -> Gzip {
        Gzip::new()
    }
}

#[cfg(feature = "gzip")]
impl Gzip {
    /// gzip at the default level (6).
    pub fn new() -> Gzip {
        Gzip { level: 6 }
    }

    /// gzip at `level`, from 0 (store) to 9 (smallest); higher values are
    /// read as 9.
    pub fn with_level(level: u32) -> Gzip {
        Gzip {
            level: level.min(9),
        }
    }
}

#[cfg(feature = "gzip")]
impl Compressor for Gzip {
    fn name(&self) -> &'static str {
        "gzip"
    }

    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        use std::io::Write;
        let start = out.len();
        let mut enc =
            flate2::write::GzEncoder::new(&mut *out, flate2::Compression::new(self.level));
        let result = enc.write_all(input).and_then(|()| enc.try_finish());
        drop(enc);
        if result.is_err() {
            out.truncate(start);
            return Err(CompressionError::Failed);
        }
        Ok(())
    }

    fn decompress(
        &self,
        input: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        use std::io::{ErrorKind, Read};
        let start = out.len();
        let mut dec = flate2::read::GzDecoder::new(input);
        let mut buf = [0u8; 8 * 1024];
        loop {
            match dec.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    let chunk = buf.get(..n).unwrap_or_default();
                    if out.len() - start + chunk.len() > limit {
                        out.truncate(start);
                        return Err(CompressionError::LimitExceeded { limit });
                    }
                    out.extend_from_slice(chunk);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    out.truncate(start);
                    return Err(CompressionError::Corrupt);
                }
            }
        }
    }
}

/// Splits a `grpc-accept-encoding` value into its names: comma-separated,
/// spaces and tabs around each trimmed, empty items skipped.
pub fn parse_accept_encoding(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|s| !s.is_empty())
}

/// The algorithms an endpoint supports. Identity is always supported.
///
/// Names are matched ignoring ASCII case.
#[derive(Clone)]
pub struct CompressionRegistry {
    compressors: Vec<Arc<dyn Compressor>>,
}

impl fmt::Debug for CompressionRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.compressors.iter().map(|c| c.name()))
            .finish()
    }
}

impl Default for CompressionRegistry {
    /// Identity, and gzip when the `gzip` feature is on.
    fn default() -> CompressionRegistry {
        #[allow(unused_mut)]
        let mut r = CompressionRegistry::identity_only();
        #[cfg(feature = "gzip")]
        r.register(Arc::new(Gzip::new()));
        r
    }
}

impl CompressionRegistry {
    /// A registry with only identity.
    pub fn identity_only() -> CompressionRegistry {
        CompressionRegistry {
            compressors: vec![Arc::new(Identity)],
        }
    }

    /// Adds `compressor`, replacing one of the same name.
    pub fn register(&mut self, compressor: Arc<dyn Compressor>) {
        let name = compressor.name();
        match self
            .compressors
            .iter_mut()
            .find(|c| c.name().eq_ignore_ascii_case(name))
        {
            Some(slot) => *slot = compressor,
            None => self.compressors.push(compressor),
        }
    }

    /// The compressor called `name`, if registered.
    pub fn get(&self, name: &[u8]) -> Option<&Arc<dyn Compressor>> {
        self.compressors.iter().find(|c| {
            // Names are almost always given in the registered case: try the
            // plain comparison first.
            let n = c.name().as_bytes();
            n == name || n.eq_ignore_ascii_case(name)
        })
    }

    /// The identity compressor.
    pub fn identity(&self) -> Arc<dyn Compressor> {
        match self.get(IDENTITY.as_bytes()) {
            Some(c) => Arc::clone(c),
            None => Arc::new(Identity),
        }
    }

    /// Registered names, in registration order (identity first).
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.compressors.iter().map(|c| c.name())
    }

    /// The `grpc-accept-encoding` value to advertise: every registered
    /// name but identity (which is always accepted), comma-separated.
    /// `None` when there is nothing but identity: send no header then.
    pub fn accept_encoding(&self) -> Option<Bytes> {
        let names: Vec<&str> = self.names().filter(|n| *n != IDENTITY).collect();
        if names.is_empty() {
            None
        } else {
            Some(Bytes::from(names.join(",")))
        }
    }

    /// The compressor for a received stream whose `grpc-encoding` is
    /// `grpc_encoding` (`None` when the header is absent, which means
    /// identity).
    ///
    /// An unknown name gives an `UNIMPLEMENTED` status naming what we
    /// support; a server sending it should also send
    /// [`accept_encoding`](Self::accept_encoding) as
    /// `grpc-accept-encoding`.
    pub fn for_receive(&self, grpc_encoding: Option<&[u8]>) -> Result<Arc<dyn Compressor>, Status> {
        let Some(name) = grpc_encoding else {
            return Ok(self.identity());
        };
        match self.get(name.trim_ascii()) {
            Some(c) => Ok(Arc::clone(c)),
            None => Err(Status::unimplemented(format!(
                "message encoding \"{}\" is not supported; supported: {}",
                name.escape_ascii(),
                self.names().collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// The compressor to send with: `preferred` if it is registered and
    /// the peer accepts it, identity otherwise.
    ///
    /// `peer_accept` is the peer's `grpc-accept-encoding` value; `None`
    /// when it has not told us yet (a client's first request), in which
    /// case a registered `preferred` is used and the peer answers
    /// `UNIMPLEMENTED` if it cannot decode it.
    pub fn for_send(&self, preferred: &str, peer_accept: Option<&[u8]>) -> Arc<dyn Compressor> {
        let Some(c) = self.get(preferred.as_bytes()) else {
            return self.identity();
        };
        let accepted = c.name() == IDENTITY
            || peer_accept.is_none_or(|v| {
                parse_accept_encoding(v).any(|n| n.eq_ignore_ascii_case(c.name().as_bytes()))
            });
        if accepted {
            Arc::clone(c)
        } else {
            self.identity()
        }
    }
}

/// The payload of a received message, decompressed if its flag says so.
///
/// `compressor` is the stream's (from
/// [`CompressionRegistry::for_receive`]); `limit` bounds the decompressed
/// size. An uncompressed payload is returned as is, without copying. A
/// compressed flag on an identity stream is `INTERNAL`.
pub fn decompress_message(
    compressor: &dyn Compressor,
    message: Message,
    limit: usize,
) -> Result<Bytes, Status> {
    if !message.compressed {
        return Ok(message.payload);
    }
    if compressor.name() == IDENTITY {
        return Err(Status::internal(
            "compressed flag set on a message but grpc-encoding is identity or absent",
        ));
    }
    let mut out = Vec::new();
    compressor
        .decompress(&message.payload, limit, &mut out)
        .map_err(|e| e.to_status())?;
    Ok(Bytes::from(out))
}

/// A payload ready for framing: compressed by `compressor` unless it is
/// identity, with the matching flag.
pub fn compress_message(
    compressor: &dyn Compressor,
    payload: Bytes,
) -> Result<Message, CompressionError> {
    if compressor.name() == IDENTITY {
        return Ok(Message {
            compressed: false,
            payload,
        });
    }
    let mut out = Vec::new();
    compressor.compress(&payload, &mut out)?;
    Ok(Message {
        compressed: true,
        payload: Bytes::from(out),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_limits() {
        let mut out = Vec::new();
        assert_eq!(
            Identity.decompress(b"abc", 2, &mut out),
            Err(CompressionError::LimitExceeded { limit: 2 })
        );
        Identity.decompress(b"abc", 3, &mut out).unwrap();
        assert_eq!(out, b"abc");
    }

    #[test]
    fn registry_negotiation() {
        let r = CompressionRegistry::identity_only();
        assert_eq!(r.accept_encoding(), None);
        assert_eq!(r.for_receive(None).unwrap().name(), "identity");
        let err = r.for_receive(Some(b"br")).unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented);
        assert_eq!(
            err.message(),
            "message encoding \"br\" is not supported; supported: identity"
        );
        let m = Message {
            compressed: true,
            payload: Bytes::from_static(b"x"),
        };
        let err = decompress_message(&Identity, m, 10).unwrap_err();
        assert_eq!(err.code(), Code::Internal);
        assert_eq!(r.for_send("gzip", None).name(), "identity");
    }

    #[test]
    fn accept_encoding_parsing() {
        let v: Vec<&[u8]> = parse_accept_encoding(b" gzip ,, deflate,identity ").collect();
        assert_eq!(v, [&b"gzip"[..], b"deflate", b"identity"]);
    }

    #[cfg(feature = "gzip")]
    mod gzip {
        use super::*;
        use proptest::prelude::*;

        #[test]
        fn registry_with_gzip() {
            let r = CompressionRegistry::default();
            assert_eq!(r.accept_encoding(), Some(Bytes::from_static(b"gzip")));
            assert_eq!(r.for_receive(Some(b"GZIP")).unwrap().name(), "gzip");
            assert_eq!(r.for_send("gzip", None).name(), "gzip");
            assert_eq!(r.for_send("gzip", Some(b"deflate, gzip")).name(), "gzip");
            assert_eq!(r.for_send("gzip", Some(b"deflate")).name(), "identity");
        }

        #[test]
        fn zip_bomb_is_bounded() {
            // 64 MiB of zeros compress to about 64 KiB.
            let big = vec![0u8; 64 << 20];
            let mut bomb = Vec::new();
            Gzip::with_level(9).compress(&big, &mut bomb).unwrap();
            drop(big);
            assert!(bomb.len() < 1 << 20);
            let mut out = Vec::new();
            let limit = 4 << 20;
            assert_eq!(
                Gzip::new().decompress(&bomb, limit, &mut out),
                Err(CompressionError::LimitExceeded { limit })
            );
            assert!(out.is_empty());
            assert!(out.capacity() <= 2 * limit);
            let msg = Message {
                compressed: true,
                payload: Bytes::from(bomb),
            };
            let err = decompress_message(&Gzip::new(), msg, limit).unwrap_err();
            assert_eq!(err.code(), Code::ResourceExhausted);
        }

        #[test]
        fn corrupt_input() {
            let mut out = vec![7];
            assert_eq!(
                Gzip::new().decompress(b"not gzip at all", 100, &mut out),
                Err(CompressionError::Corrupt)
            );
            assert_eq!(out, [7]);
        }

        #[test]
        fn message_helpers() {
            let gz = Gzip::new();
            let m = compress_message(&gz, Bytes::from_static(b"hello hello hello")).unwrap();
            assert!(m.compressed);
            assert_eq!(&m.payload[..3], b"\x1f\x8b\x08");
            let back = decompress_message(&gz, m, 100).unwrap();
            assert_eq!(&back[..], b"hello hello hello");
        }

        proptest! {
            #[test]
            fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..2000), level in 0u32..10) {
                let gz = Gzip::with_level(level);
                let mut c = Vec::new();
                gz.compress(&data, &mut c).unwrap();
                let mut d = Vec::new();
                gz.decompress(&c, data.len(), &mut d).unwrap();
                prop_assert_eq!(&d, &data);
                if !data.is_empty() {
                    let mut d = Vec::new();
                    prop_assert_eq!(
                        gz.decompress(&c, data.len() - 1, &mut d),
                        Err(CompressionError::LimitExceeded { limit: data.len() - 1 })
                    );
                }
            }

            #[test]
            fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
                let mut d = Vec::new();
                let _ = Gzip::new().decompress(&data, 1000, &mut d);
                prop_assert!(d.len() <= 1000);
            }
        }
    }
}
