//! Length-prefixed messages: how gRPC messages are framed inside the
//! bytes of a stream's DATA frames.
//!
//! Each message is a 5-byte prefix, then the payload:
//!
//! ```text
//! +-----------------+--------------------------------+-----------------+
//! | flag (1 byte)   | length (4 bytes, big-endian)   | payload         |
//! +-----------------+--------------------------------+-----------------+
//! ```
//!
//! The flag is 0 (payload not compressed) or 1 (compressed with the
//! stream's `grpc-encoding`); any other value is an error. DATA frame
//! boundaries have nothing to do with message boundaries: a prefix or a
//! payload may be split across frames, and one frame may hold many
//! messages.
//!
//! This module owns the incremental [`MessageDecoder`] and the encoding
//! side ([`MessageEncoder`], [`encode_message`]). Compression is applied
//! to payloads by the [`compression`](super::compression) module; the
//! size limits here are on the bytes as framed, i.e. after compression.

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::status::{Code, Status};

/// Length of the message prefix.
pub const PREFIX_LEN: usize = 5;

/// Default limit on a received message's framed payload: 4 MiB.
pub const DEFAULT_MAX_RECEIVE_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// Default limit on the memory one connection holds for received messages
/// beyond what the flow-control windows count (messages still arriving,
/// unreleased messages beyond their credit): 64 MiB, sixteen messages of
/// the default receive limit.
pub const DEFAULT_MAX_RECEIVE_MEMORY: usize = 64 * 1024 * 1024;

/// The largest payload the 4-byte length can describe, and the default
/// send limit.
pub const MAX_WIRE_MESSAGE_SIZE: usize = if usize::BITS >= 32 {
    u32::MAX as usize
} else {
    usize::MAX
};

/// One received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Whether the compressed flag was set: the payload is still in the
    /// stream's `grpc-encoding` and must be decompressed.
    pub compressed: bool,
    /// The payload as framed.
    pub payload: Bytes,
}

impl Message {
    /// How many stream bytes this message took: prefix plus payload.
    /// This is the flow-control credit to give back once the application
    /// has consumed the message.
    pub fn wire_len(&self) -> usize {
        PREFIX_LEN + self.payload.len()
    }
}

/// Why a message stream could not be framed or deframed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// The flag byte was neither 0 nor 1 (`INTERNAL`).
    InvalidFlag(u8),
    /// A received prefix announced a payload over the receive limit
    /// (`RESOURCE_EXHAUSTED`). Detected from the prefix, before any of
    /// the payload is buffered.
    TooLarge {
        /// The announced payload length.
        len: u64,
        /// The limit in force.
        limit: usize,
    },
    /// A payload to send is over the send limit or the 4 GiB the wire can
    /// describe (`RESOURCE_EXHAUSTED`).
    SendTooLarge {
        /// The payload length.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The stream ended in the middle of a message (`INTERNAL`).
    Truncated {
        /// Bytes of the unfinished message received (prefix included).
        received: usize,
        /// Bytes the unfinished message needed (prefix included; 5 when
        /// the prefix itself was cut).
        expected: u64,
    },
}

impl MessageError {
    /// The status code a call fails with because of this error.
    pub fn code(&self) -> Code {
        match self {
            MessageError::TooLarge { .. } | MessageError::SendTooLarge { .. } => {
                Code::ResourceExhausted
            }
            MessageError::InvalidFlag(_) | MessageError::Truncated { .. } => Code::Internal,
        }
    }

    /// The status a call fails with because of this error.
    pub fn to_status(&self) -> Status {
        Status::new(self.code(), self.to_string())
    }
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::InvalidFlag(b) => {
                write!(f, "invalid compressed flag {b} in message prefix")
            }
            MessageError::TooLarge { len, limit } => {
                write!(
                    f,
                    "received message of {len} bytes exceeds the limit of {limit}"
                )
            }
            MessageError::SendTooLarge { len, limit } => {
                write!(
                    f,
                    "message of {len} bytes to send exceeds the limit of {limit}"
                )
            }
            MessageError::Truncated { received, expected } => write!(
                f,
                "stream ended inside a message ({received} of {expected} bytes)"
            ),
        }
    }
}

impl std::error::Error for MessageError {}

impl From<MessageError> for Status {
    fn from(e: MessageError) -> Status {
        e.to_status()
    }
}

#[derive(Debug)]
enum State {
    /// Reading the prefix; `have` bytes of it are in `buf`.
    Prefix { buf: [u8; PREFIX_LEN], have: usize },
    /// Reading a payload of `len` bytes, of which `buf` holds the first
    /// part (empty until a payload has to be assembled from pieces).
    Body {
        compressed: bool,
        len: usize,
        buf: Vec<u8>,
    },
    /// An error happened; it is returned again for every later call.
    Failed(MessageError),
}

const START: State = State::Prefix {
    buf: [0; PREFIX_LEN],
    have: 0,
};

/// Incremental decoder of a stream's length-prefixed messages.
///
/// Feed it each DATA payload in order:
///
/// ```
/// use bytes::Bytes;
/// use grpc_sansio::grpc::message::MessageDecoder;
///
/// let mut decoder = MessageDecoder::new();
/// let mut chunk = Bytes::from_static(b"\x00\x00\x00\x00\x02hi\x00\x00");
/// while let Some(message) = decoder.decode(&mut chunk)? {
///     assert_eq!(&message.payload[..], b"hi");
/// }
/// assert!(chunk.is_empty()); // the rest is held: 2 bytes of a prefix
/// assert_eq!(decoder.buffered_len(), 2);
/// assert!(decoder.finish().is_err()); // END_STREAM now would cut a message
/// # Ok::<(), grpc_sansio::grpc::message::MessageError>(())
/// ```
///
/// Memory: when a message lies wholly in one chunk (or its payload does,
/// after a prefix that came earlier), the message is a slice of that
/// chunk and nothing is copied. Otherwise the decoder copies the pieces
/// into one buffer, which grows with the bytes actually received and
/// never past the receive limit; the limit is checked as soon as the
/// prefix is complete. At most one partial message is held.
///
/// Accounting: every byte taken from the input is either part of a
/// returned message ([`Message::wire_len`]) or counted by
/// [`buffered_len`](Self::buffered_len).
#[derive(Debug)]
pub struct MessageDecoder {
    max_message_size: usize,
    state: State,
}

impl Default for MessageDecoder {
    fn default() -> MessageDecoder {
        MessageDecoder::new()
    }
}

/// The compressed flag and payload length of a whole message prefix,
/// checked against the flag's two values and the size limit.
fn read_prefix(prefix: [u8; PREFIX_LEN], limit: usize) -> Result<(bool, usize), MessageError> {
    let [flag, len @ ..] = prefix;
    if flag > 1 {
        return Err(MessageError::InvalidFlag(flag));
    }
    let len = u32::from_be_bytes(len);
    match usize::try_from(len) {
        Ok(len) if len <= limit => Ok((flag == 1, len)),
        _ => Err(MessageError::TooLarge {
            len: u64::from(len),
            limit,
        }),
    }
}

impl MessageDecoder {
    /// A decoder with the default receive limit
    /// ([`DEFAULT_MAX_RECEIVE_MESSAGE_SIZE`]).
    pub fn new() -> MessageDecoder {
        MessageDecoder::with_max_message_size(DEFAULT_MAX_RECEIVE_MESSAGE_SIZE)
    }

    /// A decoder that rejects payloads longer than `max_message_size`.
    pub fn with_max_message_size(max_message_size: usize) -> MessageDecoder {
        MessageDecoder {
            max_message_size,
            state: START,
        }
    }

    /// The receive limit.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Takes bytes from the front of `input` and returns the next complete
    /// message, if there is one.
    ///
    /// Call it again while it returns `Ok(Some(_))`; `Ok(None)` means
    /// `input` is used up (anything left of a message is held inside).
    /// After an error the stream is unusable: the same error is returned
    /// by every later call.
    pub fn decode(&mut self, input: &mut Bytes) -> Result<Option<Message>, MessageError> {
        loop {
            // Fast path: a whole prefix at the front of the input (the usual
            // case), read at once rather than byte by byte.
            if matches!(self.state, State::Prefix { have: 0, .. }) {
                if let Some(&[flag, a, b, c, d]) = input.get(..PREFIX_LEN) {
                    let (compressed, len) = read_prefix([flag, a, b, c, d], self.max_message_size)
                        .map_err(|e| self.fail(e))?;
                    input.advance(PREFIX_LEN);
                    if input.len() >= len {
                        return Ok(Some(Message {
                            compressed,
                            payload: input.split_to(len),
                        }));
                    }
                    self.state = State::Body {
                        compressed,
                        len,
                        buf: Vec::new(),
                    };
                    continue;
                }
            }
            match &mut self.state {
                State::Failed(e) => return Err(*e),
                State::Prefix { buf, have } => {
                    let take = (PREFIX_LEN - *have).min(input.len());
                    if take == 0 {
                        return Ok(None);
                    }
                    for slot in buf.iter_mut().skip(*have).take(take) {
                        *slot = input.get_u8();
                    }
                    *have += take;
                    let flag = buf[0];
                    // A bad flag is refused as soon as it arrives.
                    if flag > 1 {
                        return Err(self.fail(MessageError::InvalidFlag(flag)));
                    }
                    if *have < PREFIX_LEN {
                        return Ok(None);
                    }
                    let (compressed, len) =
                        read_prefix(*buf, self.max_message_size).map_err(|e| self.fail(e))?;
                    self.state = State::Body {
                        compressed,
                        len,
                        buf: Vec::new(),
                    };
                }
                State::Body {
                    compressed,
                    len,
                    buf,
                } => {
                    let compressed = *compressed;
                    if buf.is_empty() && input.len() >= *len {
                        // The whole payload is in this chunk: share it.
                        let payload = input.split_to(*len);
                        self.state = START;
                        return Ok(Some(Message {
                            compressed,
                            payload,
                        }));
                    }
                    let take = (*len - buf.len()).min(input.len());
                    if take == 0 {
                        return Ok(None);
                    }
                    if buf.capacity() - buf.len() < take {
                        // Grow by doubling, but never past the announced
                        // length: a message held half-sent costs what it
                        // has sent, and a whole one no more than it is.
                        // (`reserve_exact` lets the allocator grow a large
                        // block in place rather than copy it.)
                        let want = (buf.len() + take).max(2 * buf.capacity()).min(*len);
                        buf.reserve_exact(want - buf.len());
                    }
                    buf.extend_from_slice(&input.split_to(take));
                    if buf.len() == *len {
                        let payload = Bytes::from(std::mem::take(buf));
                        self.state = START;
                        return Ok(Some(Message {
                            compressed,
                            payload,
                        }));
                    }
                    return Ok(None);
                }
            }
        }
    }

    fn fail(&mut self, e: MessageError) -> MessageError {
        self.state = State::Failed(e);
        e
    }

    /// Whether nothing of a message is held (no prefix or payload bytes
    /// waiting for the rest, no error).
    #[inline]
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.state, State::Prefix { have: 0, .. })
    }

    /// Whether `chunk` is exactly one whole message, not compressed and
    /// within the receive limit, while nothing of another is held: then
    /// [`decode`](Self::decode) would return its payload (the rest of
    /// `chunk` after the prefix) and hold nothing after, so the caller
    /// may take it without decoding.
    #[inline]
    pub(crate) fn is_one_plain_message(&self, chunk: &[u8]) -> bool {
        self.is_idle()
            && match chunk {
                [0, a, b, c, d, payload @ ..] => {
                    usize::try_from(u32::from_be_bytes([*a, *b, *c, *d]))
                        .is_ok_and(|len| len == payload.len() && len <= self.max_message_size)
                }
                _ => false,
            }
    }

    /// Bytes taken from the input that belong to a message not yet
    /// returned (prefix bytes included).
    pub fn buffered_len(&self) -> usize {
        match &self.state {
            State::Prefix { have, .. } => *have,
            State::Body { buf, .. } => PREFIX_LEN + buf.len(),
            State::Failed(_) => 0,
        }
    }

    /// Bytes of memory held for a message not yet returned: its prefix and
    /// the capacity of the buffer its pieces are assembled in (which grows
    /// by doubling, up to the announced length).
    pub fn held_memory(&self) -> usize {
        match &self.state {
            State::Body { buf, .. } => PREFIX_LEN + buf.capacity(),
            _ => self.buffered_len(),
        }
    }

    /// Checks that the stream may end here (call on END_STREAM): an error
    /// if a message was cut short or an earlier error happened.
    pub fn finish(&self) -> Result<(), MessageError> {
        match &self.state {
            State::Failed(e) => Err(*e),
            State::Prefix { have: 0, .. } => Ok(()),
            State::Prefix { have, .. } => Err(MessageError::Truncated {
                received: *have,
                expected: PREFIX_LEN as u64,
            }),
            State::Body { len, buf, .. } => Err(MessageError::Truncated {
                received: PREFIX_LEN + buf.len(),
                expected: (PREFIX_LEN + *len) as u64,
            }),
        }
    }
}

/// The 5-byte prefix for a payload of `len` bytes, with no limit but the
/// wire's.
pub fn encode_prefix(compressed: bool, len: usize) -> Result<[u8; PREFIX_LEN], MessageError> {
    MessageEncoder::new().prefix(compressed, len)
}

/// Appends `payload`, framed, to `dst`, with no limit but the wire's.
pub fn encode_message(
    payload: &[u8],
    compressed: bool,
    dst: &mut BytesMut,
) -> Result<(), MessageError> {
    MessageEncoder::new().encode(payload, compressed, dst)
}

/// Frames outgoing messages, enforcing a send limit.
#[derive(Clone, Copy, Debug)]
pub struct MessageEncoder {
    max_message_size: usize,
}

impl Default for MessageEncoder {
    fn default() -> MessageEncoder {
        MessageEncoder::new()
    }
}

impl MessageEncoder {
    /// An encoder whose only limit is the wire's
    /// ([`MAX_WIRE_MESSAGE_SIZE`]).
    pub fn new() -> MessageEncoder {
        MessageEncoder {
            max_message_size: MAX_WIRE_MESSAGE_SIZE,
        }
    }

    /// An encoder that refuses payloads longer than `max_message_size`
    /// (capped at [`MAX_WIRE_MESSAGE_SIZE`]).
    pub fn with_max_message_size(max_message_size: usize) -> MessageEncoder {
        MessageEncoder {
            max_message_size: max_message_size.min(MAX_WIRE_MESSAGE_SIZE),
        }
    }

    /// The send limit.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The prefix for a payload of `len` bytes. For sending a payload
    /// without copying it: write the prefix, then the payload `Bytes`.
    pub fn prefix(&self, compressed: bool, len: usize) -> Result<[u8; PREFIX_LEN], MessageError> {
        let too_large = MessageError::SendTooLarge {
            len,
            limit: self.max_message_size,
        };
        if len > self.max_message_size {
            return Err(too_large);
        }
        let n = u32::try_from(len).map_err(|_| too_large)?;
        let [a, b, c, d] = n.to_be_bytes();
        Ok([u8::from(compressed), a, b, c, d])
    }

    /// Appends `payload`, framed, to `dst`.
    pub fn encode(
        &self,
        payload: &[u8],
        compressed: bool,
        dst: &mut BytesMut,
    ) -> Result<(), MessageError> {
        let prefix = self.prefix(compressed, payload.len())?;
        dst.reserve(PREFIX_LEN + payload.len());
        dst.put_slice(&prefix);
        dst.put_slice(payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(payload: &[u8], compressed: bool) -> Vec<u8> {
        let mut b = BytesMut::new();
        encode_message(payload, compressed, &mut b).unwrap();
        b.to_vec()
    }

    /// A message assembled from many chunks never takes more memory than
    /// its announced length (plain doubling would take up to twice).
    #[test]
    fn assembly_grows_no_further_than_the_announced_length() {
        for len in [1_000_001usize, 3 * 16_384 + 1, 100] {
            let wire = frame(&vec![9u8; len], false);
            let mut d = MessageDecoder::with_max_message_size(4 << 20);
            let mut out = None;
            for chunk in wire.chunks(16_384) {
                let mut b = Bytes::copy_from_slice(chunk);
                if let State::Body { buf, len: want, .. } = &d.state {
                    assert!(buf.capacity() <= *want, "{} > {want}", buf.capacity());
                }
                if let Some(m) = d.decode(&mut b).unwrap() {
                    out = Some(m);
                }
            }
            let m = out.expect("the message");
            assert_eq!(m.payload.len(), len);
            assert!(m.payload.iter().all(|&x| x == 9));
        }
    }

    /// Decodes `chunks` in order, then checks the end of stream.
    fn run(
        decoder: &mut MessageDecoder,
        chunks: &[&[u8]],
    ) -> Result<Vec<(bool, Vec<u8>)>, MessageError> {
        let mut out = Vec::new();
        for c in chunks {
            let mut b = Bytes::copy_from_slice(c);
            while let Some(m) = decoder.decode(&mut b)? {
                out.push((m.compressed, m.payload.to_vec()));
            }
            assert!(b.is_empty());
        }
        decoder.finish()?;
        Ok(out)
    }

    #[test]
    fn encode_bytes() {
        assert_eq!(frame(b"", false), b"\x00\x00\x00\x00\x00");
        assert_eq!(frame(b"abc", true), b"\x01\x00\x00\x00\x03abc");
        assert_eq!(encode_prefix(false, 0x0102_0304), Ok([0, 1, 2, 3, 4]));
        let enc = MessageEncoder::with_max_message_size(2);
        assert_eq!(
            enc.encode(b"abc", false, &mut BytesMut::new()),
            Err(MessageError::SendTooLarge { len: 3, limit: 2 })
        );
    }

    #[test]
    fn zero_copy_when_whole() {
        let data = Bytes::from([frame(b"hello", false), frame(b"", true)].concat());
        let mut input = data.clone();
        let mut d = MessageDecoder::new();
        let m = d.decode(&mut input).unwrap().unwrap();
        assert_eq!(&m.payload[..], b"hello");
        // Same memory as the input chunk.
        assert_eq!(m.payload.as_ptr(), data[5..].as_ptr());
        let m = d.decode(&mut input).unwrap().unwrap();
        assert!(m.compressed && m.payload.is_empty());
        assert_eq!(d.decode(&mut input), Ok(None));
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn limit_checked_from_prefix() {
        let mut d = MessageDecoder::with_max_message_size(4);
        let mut input = Bytes::from_static(b"\x00\x00\x00\x00\x05");
        assert_eq!(
            d.decode(&mut input),
            Err(MessageError::TooLarge { len: 5, limit: 4 })
        );
        assert_eq!(d.buffered_len(), 0);
        assert_eq!(
            d.decode(&mut Bytes::from_static(b"x")),
            Err(MessageError::TooLarge { len: 5, limit: 4 })
        );
        assert_eq!(
            MessageError::TooLarge { len: 5, limit: 4 }.code(),
            Code::ResourceExhausted
        );
    }

    #[test]
    fn bad_flag_and_truncation() {
        let mut d = MessageDecoder::new();
        assert_eq!(
            d.decode(&mut Bytes::from_static(b"\x02")),
            Err(MessageError::InvalidFlag(2))
        );
        let mut d = MessageDecoder::new();
        assert_eq!(
            run(&mut d, &[b"\x00\x00\x00\x00\x03ab"]),
            Err(MessageError::Truncated {
                received: 7,
                expected: 8
            })
        );
        let mut d = MessageDecoder::new();
        assert_eq!(
            run(&mut d, &[b"\x00\x00"]),
            Err(MessageError::Truncated {
                received: 2,
                expected: 5
            })
        );
    }

    proptest! {
        #[test]
        fn random_splits_equal_one_piece(
            msgs in proptest::collection::vec(
                (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..6),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let stream: Vec<u8> = msgs.iter().flat_map(|(c, p)| frame(p, *c)).collect();
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points {
                chunks.push(&stream[last..p]);
                last = p;
            }
            chunks.push(&stream[last..]);
            let whole = run(&mut MessageDecoder::new(), &[&stream]).unwrap();
            let split = run(&mut MessageDecoder::new(), &chunks).unwrap();
            prop_assert_eq!(&whole, &split);
            prop_assert_eq!(whole, msgs);
        }

        #[test]
        fn random_bytes_never_panic_and_account(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..30), 0..6),
        ) {
            let mut d = MessageDecoder::with_max_message_size(64);
            let mut taken = 0usize;
            let mut delivered = 0usize;
            'outer: for c in &chunks {
                let mut b = Bytes::copy_from_slice(c);
                loop {
                    let before = b.len();
                    let r = d.decode(&mut b);
                    taken += before - b.len();
                    match r {
                        Ok(Some(m)) => delivered += m.wire_len(),
                        Ok(None) => break,
                        Err(_) => break 'outer,
                    }
                }
                prop_assert_eq!(taken, delivered + d.buffered_len());
            }
            let _ = d.finish();
        }
    }
}
