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
//!   `gzip` feature, `Gzip` (and `Deflate`);
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

    /// Whether this is identity (no compression): messages pass through
    /// untouched. Only [`Identity`] says yes.
    fn is_identity(&self) -> bool {
        false
    }

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
    fn is_identity(&self) -> bool {
        true
    }

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

/// A compression level with pools of idle deflate and inflate states: the
/// part of [`Gzip`] and [`Deflate`] that is the same. Deflate and inflate
/// states are large (a deflater's is a few hundred KiB), so up to
/// [`Gzip::POOL`] idle ones of each kind are kept and reset between
/// messages instead of built anew.
#[cfg(feature = "gzip")]
struct Flate {
    level: u32,
    /// A zlib stream (RFC 1950) around the deflate data, for [`Deflate`].
    zlib: bool,
    deflaters: std::sync::Mutex<Vec<flate2::Compress>>,
    inflaters: std::sync::Mutex<Vec<flate2::Decompress>>,
}

#[cfg(feature = "gzip")]
impl Flate {
    fn new(level: u32, zlib: bool) -> Flate {
        Flate {
            level: level.min(9),
            zlib,
            deflaters: std::sync::Mutex::new(Vec::new()),
            inflaters: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn take<T>(pool: &std::sync::Mutex<Vec<T>>) -> Option<T> {
        pool.lock().ok().and_then(|mut p| p.pop())
    }

    fn give<T>(pool: &std::sync::Mutex<Vec<T>>, item: T) {
        if let Ok(mut p) = pool.lock() {
            if p.len() < Gzip::POOL {
                p.push(item);
            }
        }
    }

    /// Appends `input` deflated (inside a zlib header and trailer when
    /// `zlib`) to `out`; level 0 as stored blocks, with no state.
    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        if self.level == 0 {
            if self.zlib {
                // CMF: deflate with a 32 KiB window; FLG: the fastest
                // level, no dictionary, and the check bits (0x7801 is a
                // multiple of 31).
                out.extend_from_slice(&[0x78, 0x01]);
            }
            store(input, out);
            if self.zlib {
                out.extend_from_slice(&adler32(input).to_be_bytes());
            }
            return Ok(());
        }
        let start = out.len();
        let mut z = match Flate::take(&self.deflaters) {
            Some(mut z) => {
                z.reset();
                z
            }
            None => flate2::Compress::new(flate2::Compression::new(self.level), self.zlib),
        };
        if let Err(e) = Flate::deflate(&mut z, input, out) {
            out.truncate(start);
            return Err(e);
        }
        Flate::give(&self.deflaters, z);
        Ok(())
    }

    /// Runs `read` with an inflater (as its last use left it: `read`
    /// resets it before each stream) and appends what it produces to
    /// `out`; on an error `out` is put back as it was and the state,
    /// having seen the error, is dropped rather than pooled.
    fn decompress(
        &self,
        out: &mut Vec<u8>,
        read: impl FnOnce(&mut flate2::Decompress, &mut Vec<u8>) -> Result<(), CompressionError>,
    ) -> Result<(), CompressionError> {
        let start = out.len();
        let mut z =
            Flate::take(&self.inflaters).unwrap_or_else(|| flate2::Decompress::new(self.zlib));
        match read(&mut z, out) {
            Ok(()) => {
                Flate::give(&self.inflaters, z);
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    fn deflate(
        z: &mut flate2::Compress,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        use flate2::{FlushCompress, Status};
        let base = z.total_in();
        loop {
            let done = usize::try_from(z.total_in() - base).unwrap_or(usize::MAX);
            let rest = input.get(done..).unwrap_or_default();
            // Deflate never grows data by more than a few bytes per 16 KiB
            // block; reserve that much so one pass usually suffices.
            out.reserve(rest.len() + rest.len() / 1024 + 64);
            match z.compress_vec(rest, out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => return Ok(()),
                Ok(Status::Ok | Status::BufError) => {}
                Err(_) => return Err(CompressionError::Failed),
            }
        }
    }

    /// Inflates one deflate stream from the front of `input` into `out`,
    /// stopping with `LimitExceeded` once `out` grows past `limit` bytes
    /// since `start`. Returns the compressed bytes consumed.
    fn inflate(
        z: &mut flate2::Decompress,
        input: &[u8],
        start: usize,
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, CompressionError> {
        use flate2::{FlushDecompress, Status};
        let mut buf = [0u8; 8 * 1024];
        loop {
            let done = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
            let rest = input.get(done..).unwrap_or_default();
            let before = z.total_out();
            let status = z
                .decompress(rest, &mut buf, FlushDecompress::None)
                .map_err(|_| CompressionError::Corrupt)?;
            let n = usize::try_from(z.total_out() - before).unwrap_or(usize::MAX);
            let chunk = buf.get(..n).unwrap_or_default();
            if out.len() - start + chunk.len() > limit {
                return Err(CompressionError::LimitExceeded { limit });
            }
            out.extend_from_slice(chunk);
            let consumed = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
            match status {
                Status::StreamEnd => return Ok(consumed),
                // No progress with all input given: the stream is cut short.
                Status::Ok | Status::BufError if n == 0 && consumed == done => {
                    return Err(CompressionError::Corrupt);
                }
                Status::Ok | Status::BufError => {}
            }
        }
    }
}

/// `Debug` (the name and level), `Clone` (the same level, with empty
/// pools) and `Default` (level 6) for a compressor built on [`Flate`].
#[cfg(feature = "gzip")]
macro_rules! flate_impls {
    ($name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("level", &self.level())
                    .finish()
            }
        }

        impl Clone for $name {
            fn clone(&self) -> $name {
                $name::with_level(self.level())
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name::new()
            }
        }
    };
}

/// gzip (RFC 1952), via `flate2`'s raw deflate.
///
/// Deflate and inflate states are pooled (see [`Gzip::POOL`]). The gzip
/// header and trailer are written and checked here: on receive, optional
/// header fields (`FEXTRA`, `FNAME`, `FCOMMENT`, `FHCRC`) are skipped, the
/// CRC-32 and length of every member are verified, and concatenated members
/// decode as one message (as Go's and zlib's readers do).
#[cfg(feature = "gzip")]
pub struct Gzip {
    flate: Flate,
}

#[cfg(feature = "gzip")]
flate_impls!(Gzip);

/// The fixed part of a gzip member header we write: magic, deflate, no
/// flags, no mtime, no extra flags, OS unknown.
#[cfg(feature = "gzip")]
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Writes `input` as deflate stored blocks (RFC 1951 §3.2.4), the last
/// one final: what level 0 asks for, written here without a deflate
/// state. flate2's pure-Rust deflater clears some hundreds of KiB of
/// tables for every message and then copies slowly at level 0; this is a
/// copy with five bytes per 64 KiB.
#[cfg(feature = "gzip")]
fn store(input: &[u8], out: &mut Vec<u8>) {
    const MAX: usize = 65_535;
    out.reserve(input.len() + 5 * (input.len() / MAX + 1));
    let mut rest = input;
    loop {
        let (chunk, tail) = rest.split_at(rest.len().min(MAX));
        let last = tail.is_empty();
        let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
        if last {
            return;
        }
        rest = tail;
    }
}

/// Adler-32 (RFC 1950 §8), the zlib stream's checksum.
#[cfg(feature = "gzip")]
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    // 5552 bytes is the most that cannot overflow `b` between reductions.
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

#[cfg(feature = "gzip")]
impl Gzip {
    /// How many idle deflate (and inflate) states one `Gzip` (or
    /// [`Deflate`]) keeps.
    pub const POOL: usize = 8;

    /// gzip at the default level (6).
    pub fn new() -> Gzip {
        Gzip::with_level(6)
    }

    /// gzip at `level`, from 0 (store) to 9 (smallest); higher values are
    /// read as 9. Level 0 is written here as stored blocks, with no
    /// deflate state: the cheapest way to send gzip to a peer that
    /// insists on it.
    pub fn with_level(level: u32) -> Gzip {
        Gzip {
            flate: Flate::new(level, false),
        }
    }

    /// The compression level.
    pub fn level(&self) -> u32 {
        self.flate.level
    }

    /// Parses a member header at the front of `input`; returns its length.
    fn header_len(input: &[u8]) -> Result<usize, CompressionError> {
        const FHCRC: u8 = 2;
        const FEXTRA: u8 = 4;
        const FNAME: u8 = 8;
        const FCOMMENT: u8 = 16;
        let corrupt = CompressionError::Corrupt;
        let fixed = input.get(..10).ok_or(corrupt)?;
        if fixed[..3] != [0x1f, 0x8b, 8] || fixed[3] & 0xe0 != 0 {
            return Err(corrupt);
        }
        let flags = fixed[3];
        let mut pos = 10;
        if flags & FEXTRA != 0 {
            let xlen = input.get(pos..pos + 2).ok_or(corrupt)?;
            pos += 2 + usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
        }
        for flag in [FNAME, FCOMMENT] {
            if flags & flag != 0 {
                let rest = input.get(pos..).ok_or(corrupt)?;
                pos += 1 + rest.iter().position(|&b| b == 0).ok_or(corrupt)?;
            }
        }
        if flags & FHCRC != 0 {
            let want = input.get(pos..pos + 2).ok_or(corrupt)?;
            let mut crc = flate2::Crc::new();
            crc.update(input.get(..pos).ok_or(corrupt)?);
            if (crc.sum() & 0xffff) as u16 != u16::from_le_bytes([want[0], want[1]]) {
                return Err(corrupt);
            }
            pos += 2;
        }
        if pos > input.len() {
            return Err(corrupt);
        }
        Ok(pos)
    }

    fn decompress_members(
        z: &mut flate2::Decompress,
        input: &[u8],
        start: usize,
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        let corrupt = CompressionError::Corrupt;
        let mut rest = input;
        loop {
            let header = Gzip::header_len(rest)?;
            let body = rest.get(header..).ok_or(corrupt)?;
            z.reset(false);
            let member_start = out.len();
            let used = Flate::inflate(z, body, start, limit, out)?;
            let trailer = body.get(used..used + 8).ok_or(corrupt)?;
            let mut crc = flate2::Crc::new();
            crc.update(out.get(member_start..).unwrap_or_default());
            let want_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
            let want_len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
            if crc.sum() != want_crc || crc.amount() != want_len {
                return Err(corrupt);
            }
            rest = body.get(used + 8..).unwrap_or_default();
            if rest.is_empty() {
                return Ok(());
            }
        }
    }
}

#[cfg(feature = "gzip")]
impl Compressor for Gzip {
    fn name(&self) -> &'static str {
        "gzip"
    }

    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        let start = out.len();
        out.extend_from_slice(&GZIP_HEADER);
        if let Err(e) = self.flate.compress(input, out) {
            out.truncate(start);
            return Err(e);
        }
        let mut crc = flate2::Crc::new();
        crc.update(input);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&crc.amount().to_le_bytes());
        Ok(())
    }

    fn decompress(
        &self,
        input: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        let start = out.len();
        self.flate.decompress(out, |z, out| {
            Gzip::decompress_members(z, input, start, limit, out)
        })
    }
}

/// deflate as gRPC names it (`grpc-encoding: deflate`): a zlib stream
/// (RFC 1950, deflate inside a two-byte header and an Adler-32 trailer),
/// as gRPC C-core and tonic write it, via `flate2`.
///
/// Not in [`CompressionRegistry::default`] (which offers gzip, the one
/// every gRPC implementation has): register it where a peer asks for
/// deflate. Like [`Gzip`], it pools its deflate and inflate states; the
/// Adler-32 checksum of every message is verified, and bytes after the
/// end of the stream are refused.
#[cfg(feature = "gzip")]
pub struct Deflate {
    flate: Flate,
}

#[cfg(feature = "gzip")]
flate_impls!(Deflate);

#[cfg(feature = "gzip")]
impl Deflate {
    /// deflate at the default level (6).
    pub fn new() -> Deflate {
        Deflate::with_level(6)
    }

    /// deflate at `level`, from 0 (store) to 9 (smallest); higher values
    /// are read as 9. Level 0 is written here as stored blocks, as for
    /// [`Gzip::with_level`].
    pub fn with_level(level: u32) -> Deflate {
        Deflate {
            flate: Flate::new(level, true),
        }
    }

    /// The compression level.
    pub fn level(&self) -> u32 {
        self.flate.level
    }
}

#[cfg(feature = "gzip")]
impl Compressor for Deflate {
    fn name(&self) -> &'static str {
        "deflate"
    }

    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        self.flate.compress(input, out)
    }

    fn decompress(
        &self,
        input: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        let start = out.len();
        self.flate.decompress(out, |z, out| {
            z.reset(true);
            let used = Flate::inflate(z, input, start, limit, out)?;
            if used == input.len() {
                Ok(())
            } else {
                Err(CompressionError::Corrupt)
            }
        })
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
    #[inline]
    pub fn identity(&self) -> Arc<dyn Compressor> {
        match self.identity_slot() {
            Some(c) => Arc::clone(c),
            None => Arc::new(Identity),
        }
    }

    /// Where identity is registered. Every registry starts with identity,
    /// and `register` replaces a compressor in its place: the one named
    /// identity is the first.
    #[inline]
    fn identity_slot(&self) -> Option<&Arc<dyn Compressor>> {
        self.compressors.first()
    }

    /// A call's send compressor: `compressor`, or this registry's
    /// identity for `None` (see [`unless_identity`](Self::unless_identity)).
    #[inline]
    pub(crate) fn or_identity<'a>(
        &'a self,
        compressor: Option<&'a Arc<dyn Compressor>>,
    ) -> &'a dyn Compressor {
        match compressor.or(self.identity_slot()) {
            Some(c) => c.as_ref(),
            None => &Identity,
        }
    }

    /// `compressor`, unless it is this registry's identity (`None` then,
    /// which [`or_identity`](Self::or_identity) reads back): a call keeps
    /// no reference count on identity.
    #[inline]
    pub(crate) fn unless_identity(
        &self,
        compressor: Arc<dyn Compressor>,
    ) -> Option<Arc<dyn Compressor>> {
        match self.identity_slot() {
            Some(c) if Arc::ptr_eq(c, &compressor) => None,
            _ => Some(compressor),
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
    if let Some(status) = flag_refused(compressor) {
        return Err(status);
    }
    let mut out = Vec::new();
    compressor
        .decompress(&message.payload, limit, &mut out)
        .map_err(|e| e.to_status())?;
    Ok(Bytes::from(out))
}

/// The error for a message whose compressed flag is set on a stream whose
/// encoding is `compressor`, if that encoding compresses nothing
/// (identity, or no `grpc-encoding`).
pub(crate) fn flag_refused(compressor: &dyn Compressor) -> Option<Status> {
    is_identity(compressor).then(|| {
        Status::internal("compressed flag set on a message but grpc-encoding is identity or absent")
    })
}

/// Whether `compressor` leaves messages as they are: the built-in
/// [`Identity`], or one registered under its name (in any case, as the
/// registry matches names).
#[inline]
pub fn is_identity(compressor: &dyn Compressor) -> bool {
    compressor.is_identity() || compressor.name().eq_ignore_ascii_case(IDENTITY)
}

/// A payload ready for framing: compressed by `compressor` unless it is
/// identity, with the matching flag.
pub fn compress_message(
    compressor: &dyn Compressor,
    payload: Bytes,
) -> Result<Message, CompressionError> {
    if is_identity(compressor) {
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
    fn identity_is_the_first_registered_whatever_is_added() {
        // A compressor registered under identity's name (in another case)
        // takes its place; others go after it.
        #[derive(Debug)]
        struct Named(&'static str);
        impl Compressor for Named {
            fn name(&self) -> &'static str {
                self.0
            }
            fn compress(&self, i: &[u8], o: &mut Vec<u8>) -> Result<(), CompressionError> {
                o.extend_from_slice(i);
                Ok(())
            }
            fn decompress(
                &self,
                i: &[u8],
                _: usize,
                o: &mut Vec<u8>,
            ) -> Result<(), CompressionError> {
                o.extend_from_slice(i);
                Ok(())
            }
        }
        let mut r = CompressionRegistry::identity_only();
        assert_eq!(r.identity().name(), IDENTITY);
        r.register(Arc::new(Named("x-other")));
        let mine: Arc<dyn Compressor> = Arc::new(Named("IDENTITY"));
        r.register(Arc::clone(&mine));
        assert!(Arc::ptr_eq(&r.identity(), &mine));
        // It takes identity's part too: messages go as they are.
        assert!(is_identity(mine.as_ref()));
        assert!(!is_identity(r.get(b"x-other").unwrap().as_ref()));
        assert!(Arc::ptr_eq(r.get(b"identity").unwrap(), &mine));
        assert_eq!(r.names().collect::<Vec<_>>(), ["IDENTITY", "x-other"]);
    }

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

    /// `packed`, which `c` wrote for `data`, reads back as `data` through
    /// an independent reader and through `c` itself.
    #[cfg(feature = "gzip")]
    #[track_caller]
    fn reads_back(c: &dyn Compressor, mut other: impl std::io::Read, packed: &[u8], data: &[u8]) {
        let mut back = Vec::new();
        other.read_to_end(&mut back).unwrap();
        assert_eq!(back, data, "{} bytes, the other reader", data.len());
        let mut ours = Vec::new();
        c.decompress(packed, data.len(), &mut ours).unwrap();
        assert_eq!(ours, data, "{} bytes, ours", data.len());
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

        fn gzip_with(build: flate2::GzBuilder, data: &[u8]) -> Vec<u8> {
            use std::io::Write;
            let mut enc = build.write(Vec::new(), flate2::Compression::new(5));
            enc.write_all(data).unwrap();
            enc.finish().unwrap()
        }

        #[test]
        fn reads_optional_header_fields_and_members() {
            let gz = Gzip::new();
            let full = gzip_with(
                flate2::GzBuilder::new()
                    .extra(vec![1, 2, 3])
                    .filename("f.bin")
                    .comment("a comment"),
                b"first member ",
            );
            assert_eq!(full[3], 4 | 8 | 16);
            let mut two = full.clone();
            two.extend(gzip_with(flate2::GzBuilder::new(), b"second member"));
            let mut out = Vec::new();
            gz.decompress(&two, 100, &mut out).unwrap();
            assert_eq!(out, b"first member second member");
            // The limit counts the whole message, across members.
            let mut out = Vec::new();
            assert_eq!(
                gz.decompress(&two, 20, &mut out),
                Err(CompressionError::LimitExceeded { limit: 20 })
            );
        }

        #[test]
        fn header_crc_is_checked() {
            // A header with FHCRC: the low 16 bits of the CRC-32 of the
            // header bytes before it.
            let mut c = Vec::new();
            Gzip::new().compress(b"payload", &mut c).unwrap();
            let mut with_hcrc = c[..10].to_vec();
            with_hcrc[3] = 2;
            let mut crc = flate2::Crc::new();
            crc.update(&with_hcrc);
            let good = (crc.sum() as u16).to_le_bytes();
            let mut msg = with_hcrc.clone();
            msg.extend_from_slice(&good);
            msg.extend_from_slice(&c[10..]);
            let mut out = Vec::new();
            Gzip::new().decompress(&msg, 100, &mut out).unwrap();
            assert_eq!(out, b"payload");
            msg[10] ^= 1;
            out.clear();
            assert_eq!(
                Gzip::new().decompress(&msg, 100, &mut out),
                Err(CompressionError::Corrupt)
            );
        }

        #[test]
        fn damaged_members_are_corrupt() {
            let gz = Gzip::new();
            let mut c = Vec::new();
            gz.compress(b"some payload bytes", &mut c).unwrap();
            let n = c.len();
            let mut bad_crc = c.clone();
            bad_crc[n - 8] ^= 0xff;
            let mut bad_len = c.clone();
            bad_len[n - 1] ^= 0xff;
            let mut trailing = c.clone();
            trailing.push(0);
            let mut flags = c.clone();
            flags[3] = 0x20;
            for (what, input) in [
                ("crc", &bad_crc[..]),
                ("length", &bad_len[..]),
                ("trailing byte", &trailing[..]),
                ("reserved flag", &flags[..]),
                ("truncated trailer", &c[..n - 1]),
                ("truncated body", &c[..n - 9]),
                ("header only", &c[..10]),
                ("short header", &c[..5]),
                ("empty", &c[..0]),
            ] {
                let mut out = vec![9];
                assert_eq!(
                    gz.decompress(input, 100, &mut out),
                    Err(CompressionError::Corrupt),
                    "{what}"
                );
                assert_eq!(out, [9], "{what}");
            }
            // The pool still works after the failures.
            let mut out = Vec::new();
            gz.decompress(&c, 100, &mut out).unwrap();
            assert_eq!(out, b"some payload bytes");
        }

        /// Level 0 writes stored blocks itself: the exact bytes for a short
        /// message, and for long ones a block per 64 KiB that any gzip
        /// reader and ours take back.
        #[test]
        fn level_zero_stores() {
            let gz = Gzip::with_level(0);
            let mut c = Vec::new();
            gz.compress(b"abc", &mut c).unwrap();
            let mut want = GZIP_HEADER.to_vec();
            want.extend_from_slice(&[1, 3, 0, 0xfc, 0xff, b'a', b'b', b'c']);
            want.extend_from_slice(&0x3524_41c2u32.to_le_bytes()); // CRC-32 of "abc"
            want.extend_from_slice(&3u32.to_le_bytes());
            assert_eq!(c, want);
            c.clear();
            gz.compress(b"", &mut c).unwrap();
            assert_eq!(&c[10..15], &[1, 0, 0, 0xff, 0xff], "one empty final block");
            assert_eq!(c.len(), 10 + 5 + 8);
            for len in [65_534usize, 65_535, 65_536, 200_000] {
                let data: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
                let mut c = Vec::new();
                gz.compress(&data, &mut c).unwrap();
                let blocks = len.div_ceil(65_535);
                assert_eq!(c.len(), 10 + len + 5 * blocks + 8, "{len}");
                assert_eq!(
                    c[10],
                    u8::from(blocks == 1),
                    "first block final only if alone"
                );
                reads_back(&gz, flate2::read::GzDecoder::new(&c[..]), &c, &data);
            }
            assert!(
                gz.flate.deflaters.lock().unwrap().is_empty(),
                "no deflate state made"
            );
        }

        #[test]
        fn pooled_states_give_the_same_bytes() {
            use std::io::Read;
            let gz = Gzip::with_level(9);
            let inputs: Vec<Vec<u8>> = (0..20u8)
                .map(|i| {
                    (0..(i as usize * 997))
                        .map(|j| (j % 251) as u8 ^ i)
                        .collect()
                })
                .collect();
            let first: Vec<Vec<u8>> = inputs
                .iter()
                .map(|d| {
                    let mut c = Vec::new();
                    gz.compress(d, &mut c).unwrap();
                    c
                })
                .collect();
            for (d, c) in inputs.iter().zip(&first) {
                // A second pass through reused states is byte-identical...
                let mut again = Vec::new();
                gz.compress(d, &mut again).unwrap();
                assert_eq!(&again, c);
                // ...and any gzip reader accepts it.
                let mut back = Vec::new();
                flate2::read::GzDecoder::new(&c[..])
                    .read_to_end(&mut back)
                    .unwrap();
                assert_eq!(&back, d);
                let mut ours = Vec::new();
                gz.decompress(c, d.len(), &mut ours).unwrap();
                assert_eq!(&ours, d);
            }
            assert!(gz.flate.deflaters.lock().unwrap().len() <= Gzip::POOL);
            assert_eq!(gz.flate.inflaters.lock().unwrap().len(), 1);
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

    #[cfg(feature = "gzip")]
    mod deflate {
        use super::*;
        use proptest::prelude::*;
        use std::io::{Read, Write};

        #[test]
        fn registered_by_hand_and_negotiated() {
            let mut r = CompressionRegistry::default();
            assert!(r.for_receive(Some(b"deflate")).is_err());
            r.register(Arc::new(Deflate::new()));
            assert_eq!(
                r.accept_encoding(),
                Some(Bytes::from_static(b"gzip,deflate"))
            );
            assert_eq!(r.for_receive(Some(b"Deflate")).unwrap().name(), "deflate");
            assert_eq!(
                r.for_send("deflate", Some(b"gzip, deflate")).name(),
                "deflate"
            );
            assert_eq!(r.for_send("deflate", Some(b"gzip")).name(), "identity");
        }

        /// What we write is a zlib stream any zlib reads, and we read what
        /// zlib writes (as gRPC C-core and tonic do).
        #[test]
        fn zlib_both_ways() {
            let data = b"deflate deflate deflate, all the way down".repeat(50);
            let mut ours = Vec::new();
            Deflate::new().compress(&data, &mut ours).unwrap();
            assert_eq!(ours[0] & 0x0f, 8, "a zlib header, method deflate");
            assert_eq!(u16::from_be_bytes([ours[0], ours[1]]) % 31, 0);
            let mut back = Vec::new();
            flate2::read::ZlibDecoder::new(&ours[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data);

            let mut theirs =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            theirs.write_all(&data).unwrap();
            let theirs = theirs.finish().unwrap();
            let mut out = Vec::new();
            Deflate::new()
                .decompress(&theirs, data.len(), &mut out)
                .unwrap();
            assert_eq!(out, data);
        }

        #[test]
        fn adler32_vectors() {
            assert_eq!(adler32(b""), 1);
            assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
            // Long runs of 0xff reach the largest sums between reductions.
            let ff = vec![0xffu8; 100_000];
            let (mut a, mut b) = (1u64, 0u64);
            for &x in &ff {
                a = (a + u64::from(x)) % 65_521;
                b = (b + a) % 65_521;
            }
            assert_eq!(adler32(&ff), ((b << 16) | a) as u32);
        }

        /// Level 0 writes a zlib stream of stored blocks itself, which
        /// zlib and we read back.
        #[test]
        fn level_zero_stores() {
            let dz = Deflate::with_level(0);
            let mut c = Vec::new();
            dz.compress(b"abc", &mut c).unwrap();
            assert_eq!(
                c,
                [
                    0x78, 0x01, 1, 3, 0, 0xfc, 0xff, b'a', b'b', b'c', 0x02, 0x4d, 0x01, 0x27
                ]
            );
            for len in [0usize, 5_552, 65_535, 65_536, 150_000] {
                let data: Vec<u8> = (0..len).map(|i| (i * 13 % 255) as u8 | 0x80).collect();
                let mut c = Vec::new();
                dz.compress(&data, &mut c).unwrap();
                reads_back(&dz, flate2::read::ZlibDecoder::new(&c[..]), &c, &data);
            }
            assert!(
                dz.flate.deflaters.lock().unwrap().is_empty(),
                "no deflate state made"
            );
        }

        #[test]
        fn checksum_trailing_bytes_and_limit() {
            let dz = Deflate::new();
            let mut c = Vec::new();
            dz.compress(b"hello hello hello", &mut c).unwrap();
            // A wrong Adler-32 (the last four bytes).
            let mut bad = c.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            let mut out = vec![7];
            assert_eq!(
                dz.decompress(&bad, 100, &mut out),
                Err(CompressionError::Corrupt)
            );
            assert_eq!(out, [7]);
            // Bytes after the stream.
            let mut long = c.clone();
            long.push(0);
            assert_eq!(
                dz.decompress(&long, 100, &mut out),
                Err(CompressionError::Corrupt)
            );
            // Cut short.
            assert_eq!(
                dz.decompress(&c[..c.len() - 3], 100, &mut out),
                Err(CompressionError::Corrupt)
            );
            // Over the limit.
            assert_eq!(
                dz.decompress(&c, 5, &mut out),
                Err(CompressionError::LimitExceeded { limit: 5 })
            );
            assert_eq!(out, [7]);
            // And still fine after all that.
            dz.decompress(&c, 100, &mut out).unwrap();
            assert_eq!(&out[1..], b"hello hello hello");
            let m = compress_message(&dz, Bytes::from_static(b"abcabcabcabc")).unwrap();
            assert!(m.compressed);
            let back = decompress_message(&dz, m, 100).unwrap();
            assert_eq!(&back[..], b"abcabcabcabc");
        }

        #[test]
        fn bomb_is_bounded() {
            let big = vec![0u8; 16 << 20];
            let mut bomb = Vec::new();
            Deflate::with_level(9).compress(&big, &mut bomb).unwrap();
            drop(big);
            let limit = 1 << 20;
            let mut out = Vec::new();
            assert_eq!(
                Deflate::new().decompress(&bomb, limit, &mut out),
                Err(CompressionError::LimitExceeded { limit })
            );
            assert!(out.capacity() <= 2 * limit);
        }

        proptest! {
            #[test]
            fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..2000), level in 0u32..10) {
                let dz = Deflate::with_level(level);
                let mut c = Vec::new();
                dz.compress(&data, &mut c).unwrap();
                let mut d = Vec::new();
                dz.decompress(&c, data.len(), &mut d).unwrap();
                prop_assert_eq!(&d, &data);
            }

            #[test]
            fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
                let mut d = Vec::new();
                let _ = Deflate::new().decompress(&data, 1000, &mut d);
                prop_assert!(d.len() <= 1000);
            }
        }
    }
}
