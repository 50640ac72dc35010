//! PUSH_PROMISE frames (RFC 9113 §6.6).
//!
//! Whether push is allowed at all (the client's SETTINGS_ENABLE_PUSH, the
//! receiver's role, the state of the associated stream) is the connection
//! layer's business; this module checks what one frame can show.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::{FrameErrorKind, conn_protocol, conn_size};
use super::head::{FrameHeader, flags, frame_type, put_header, read_u32};
use super::pad::{
    padded_flag, padding_overhead, put_pad_len, put_padding, strip_padding, take_pad_len,
};
use super::{FrameError, StreamId};

/// A PUSH_PROMISE frame: a server reserves a stream for a response it will
/// push, with the first fragment of the promised request's field block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushPromise {
    /// The client stream the promise is associated with (never 0).
    pub stream_id: StreamId,
    /// The stream being reserved: even and non-zero.
    pub promised_id: StreamId,
    /// The field block fragment, without padding.
    pub fragment: Bytes,
    /// END_HEADERS: the field block ends in this frame.
    pub end_headers: bool,
    /// The Pad Length if the frame was (or is to be) padded.
    pub pad_len: Option<u8>,
}

impl PushPromise {
    /// The length of the Promised Stream ID field.
    const PROMISED_ID_LEN: usize = 4;

    /// The length of the encoded payload.
    pub fn payload_len(&self) -> usize {
        Self::PROMISED_ID_LEN + self.fragment.len() + padding_overhead(self.pad_len)
    }

    pub(crate) fn decode(
        head: &FrameHeader,
        mut payload: Bytes,
    ) -> Result<PushPromise, FrameError> {
        if head.stream_id.is_zero() {
            return Err(conn_protocol(FrameErrorKind::StreamIdMustBeNonZero));
        }
        let pad_len = take_pad_len(head, &mut payload)?;
        let promised_id = read_u32(&payload)
            .map(StreamId::new)
            .ok_or_else(|| conn_size(FrameErrorKind::PayloadTooShort))?;
        payload.advance(Self::PROMISED_ID_LEN);
        strip_padding(&mut payload, pad_len)?;
        if !promised_id.is_server_initiated() {
            return Err(conn_protocol(FrameErrorKind::InvalidPromisedId));
        }
        Ok(PushPromise {
            stream_id: head.stream_id,
            promised_id,
            fragment: payload,
            end_headers: head.has(flags::END_HEADERS),
            pad_len,
        })
    }

    /// Appends the frame to `dst`.
    ///
    /// # Panics
    ///
    /// If the payload is longer than 2^24-1 octets.
    pub fn encode(&self, dst: &mut BytesMut) {
        let mut bits = padded_flag(self.pad_len);
        if self.end_headers {
            bits |= flags::END_HEADERS;
        }
        put_header(
            dst,
            self.payload_len(),
            frame_type::PUSH_PROMISE,
            bits,
            self.stream_id,
        );
        put_pad_len(dst, self.pad_len);
        dst.put_u32(self.promised_id.value());
        dst.put_slice(&self.fragment);
        put_padding(dst, self.pad_len);
    }
}
