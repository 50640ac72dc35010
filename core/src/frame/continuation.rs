//! CONTINUATION frames (RFC 9113 §6.10).
//!
//! Whether a CONTINUATION may arrive at all (only right after a HEADERS,
//! PUSH_PROMISE or CONTINUATION without END_HEADERS on the same stream)
//! needs connection state and is checked by the connection layer.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{FrameErrorKind, conn_protocol};
use super::head::{FrameHeader, flags, frame_type, put_header};
use super::{FrameError, StreamId};

/// A CONTINUATION frame: the next fragment of a field block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Continuation {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// The field block fragment.
    pub fragment: Bytes,
    /// END_HEADERS: the field block ends in this frame.
    pub end_headers: bool,
}

impl Continuation {
    pub(crate) fn decode(head: &FrameHeader, payload: Bytes) -> Result<Continuation, FrameError> {
        if head.stream_id.is_zero() {
            return Err(conn_protocol(FrameErrorKind::StreamIdMustBeNonZero));
        }
        Ok(Continuation {
            stream_id: head.stream_id,
            fragment: payload,
            end_headers: head.has(flags::END_HEADERS),
        })
    }

    /// Appends the frame to `dst`.
    ///
    /// # Panics
    ///
    /// If the fragment is longer than 2^24-1 octets.
    pub fn encode(&self, dst: &mut BytesMut) {
        let bits = if self.end_headers {
            flags::END_HEADERS
        } else {
            0
        };
        put_header(
            dst,
            self.fragment.len(),
            frame_type::CONTINUATION,
            bits,
            self.stream_id,
        );
        dst.put_slice(&self.fragment);
    }
}
