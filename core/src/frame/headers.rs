//! HEADERS frames (RFC 9113 §6.2).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::{FrameErrorKind, conn_protocol, conn_size};
use super::head::{FrameHeader, flags, frame_type, put_header};
use super::pad::{
    padded_flag, padding_overhead, put_pad_len, put_padding, strip_padding, take_pad_len,
};
use super::priority::PRIORITY_SPEC_LEN;
use super::{FrameError, PrioritySpec, Reason, StreamId};

/// A HEADERS frame: opens a stream or carries trailers, with the first
/// fragment of a field block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// The field block fragment (HPACK-encoded), without padding.
    pub fragment: Bytes,
    /// END_STREAM: the sender's last frame on this stream (CONTINUATION
    /// frames may still follow to finish the field block).
    pub end_stream: bool,
    /// END_HEADERS: the field block ends in this frame.
    pub end_headers: bool,
    /// The priority fields, present when the PRIORITY flag is set.
    pub priority: Option<PrioritySpec>,
    /// The Pad Length if the frame was (or is to be) padded.
    pub pad_len: Option<u8>,
}

impl Headers {
    /// An unpadded HEADERS frame without priority fields.
    pub fn new(
        stream_id: StreamId,
        fragment: Bytes,
        end_stream: bool,
        end_headers: bool,
    ) -> Headers {
        Headers {
            stream_id,
            fragment,
            end_stream,
            end_headers,
            priority: None,
            pad_len: None,
        }
    }

    /// The length of the encoded payload.
    pub fn payload_len(&self) -> usize {
        let priority = if self.priority.is_some() {
            PRIORITY_SPEC_LEN
        } else {
            0
        };
        self.fragment.len() + priority + padding_overhead(self.pad_len)
    }

    #[inline]
    pub(crate) fn decode(head: &FrameHeader, mut payload: Bytes) -> Result<Headers, FrameError> {
        if head.stream_id.is_zero() {
            return Err(conn_protocol(FrameErrorKind::StreamIdMustBeNonZero));
        }
        let pad_len = take_pad_len(head, &mut payload)?;
        let priority = if head.has(flags::PRIORITY) {
            let spec = PrioritySpec::parse(&payload)
                .ok_or_else(|| conn_size(FrameErrorKind::PayloadTooShort))?;
            payload.advance(PRIORITY_SPEC_LEN);
            Some(spec)
        } else {
            None
        };
        strip_padding(&mut payload, pad_len)?;
        let headers = Headers {
            stream_id: head.stream_id,
            fragment: payload,
            end_stream: head.has(flags::END_STREAM),
            end_headers: head.has(flags::END_HEADERS),
            priority,
            pad_len,
        };
        if priority.is_some_and(|spec| spec.dependency == head.stream_id) {
            return Err(FrameError::stream(
                head.stream_id,
                Reason::PROTOCOL_ERROR,
                FrameErrorKind::HeadersSelfDependency(Box::new(headers)),
            ));
        }
        Ok(headers)
    }

    /// The flag octet this frame is sent with.
    fn flags(&self) -> u8 {
        let mut bits = padded_flag(self.pad_len);
        if self.end_stream {
            bits |= flags::END_STREAM;
        }
        if self.end_headers {
            bits |= flags::END_HEADERS;
        }
        if self.priority.is_some() {
            bits |= flags::PRIORITY;
        }
        bits
    }

    /// Appends the frame to `dst`.
    ///
    /// # Panics
    ///
    /// If the payload is longer than 2^24-1 octets; use
    /// [`encode_header_block`](super::encode_header_block) to split a field
    /// block to the peer's maximum frame size.
    pub fn encode(&self, dst: &mut BytesMut) {
        put_header(
            dst,
            self.payload_len(),
            frame_type::HEADERS,
            self.flags(),
            self.stream_id,
        );
        put_pad_len(dst, self.pad_len);
        if let Some(spec) = &self.priority {
            spec.put(dst);
        }
        dst.put_slice(&self.fragment);
        put_padding(dst, self.pad_len);
    }
}
