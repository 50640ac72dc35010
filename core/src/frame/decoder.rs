//! The incremental frame decoder.

use bytes::{Buf, BytesMut};

use super::error::{FrameErrorKind, conn_size};
use super::head::{DEFAULT_MAX_FRAME_SIZE, FrameHeader, HEADER_LEN, MAX_MAX_FRAME_SIZE};
use super::{Frame, FrameError};

/// Cuts whole frames off the front of a receive buffer and checks every rule
/// of RFC 9113 §4 and §6 that a single frame can break.
///
/// The decoder keeps no partial frame of its own: the caller appends bytes
/// to one [`BytesMut`] as they arrive and calls [`decode`](Self::decode)
/// until it returns `Ok(None)`.
///
/// ```
/// use bytes::BytesMut;
/// use grpc_sansio::frame::{Frame, FrameDecoder, Ping};
///
/// let mut wire = BytesMut::new();
/// Frame::Ping(Ping::new(*b"12345678")).encode(&mut wire);
///
/// let mut decoder = FrameDecoder::new();
/// let mut buf = BytesMut::new();
/// buf.extend_from_slice(&wire[..5]);
/// assert_eq!(decoder.decode(&mut buf), Ok(None)); // not a whole frame yet
/// buf.extend_from_slice(&wire[5..]);
/// assert_eq!(decoder.decode(&mut buf), Ok(Some(Frame::Ping(Ping::new(*b"12345678")))));
/// assert!(buf.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameDecoder {
    max_frame_size: u32,
}

impl Default for FrameDecoder {
    fn default() -> FrameDecoder {
        FrameDecoder::new()
    }
}

impl FrameDecoder {
    /// A decoder that accepts payloads up to 16,384 octets, the initial
    /// SETTINGS_MAX_FRAME_SIZE.
    pub fn new() -> FrameDecoder {
        FrameDecoder {
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
        }
    }

    /// Sets the largest payload accepted: the SETTINGS_MAX_FRAME_SIZE this
    /// endpoint advertised (once the peer has acknowledged it). Values are
    /// clamped to the legal range, 2^14 to 2^24-1.
    pub fn set_max_frame_size(&mut self, size: u32) {
        self.max_frame_size = size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE);
    }

    /// The largest payload accepted.
    pub fn max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    /// Decodes the next frame from the front of `buf`.
    ///
    /// - `Ok(None)`: `buf` does not hold a whole frame yet; nothing was
    ///   consumed.
    /// - `Ok(Some(frame))`: the frame's bytes were taken out of `buf`.
    ///   Payloads (DATA content, field block fragments, debug data) are
    ///   slices of `buf`'s storage, not copies.
    /// - `Err(e)` with a stream-level `e.level`: the bad frame's bytes were
    ///   taken out of `buf`; reset the stream and call `decode` again.
    /// - `Err(e)` with a connection-level `e.level`: the connection must be
    ///   closed with GOAWAY; how much of `buf` was consumed is unspecified.
    ///   A frame longer than the maximum frame size is reported as soon as
    ///   its 9-octet header is in, without waiting for its payload.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(head) = FrameHeader::parse(buf) else {
            return Ok(None);
        };
        if head.length > self.max_frame_size {
            return Err(conn_size(FrameErrorKind::FrameTooLarge));
        }
        // length <= 2^24-1, so this cannot overflow.
        let len = head.length as usize;
        if buf.len() - HEADER_LEN < len {
            return Ok(None);
        }
        // One cut of header and payload together, then the header dropped
        // from the shared slice (cheaper than advancing the buffer).
        let mut payload = buf.split_to(HEADER_LEN + len).freeze();
        payload.advance(HEADER_LEN);
        Frame::decode(&head, payload).map(Some)
    }
}
