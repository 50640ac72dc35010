//! DATA frames (RFC 9113 §6.1).

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{FrameErrorKind, conn_protocol};
use super::head::{FrameHeader, flags, frame_type, put_header};
use super::pad::{
    padded_flag, padding_overhead, put_pad_len, put_padding, strip_padding, take_pad_len,
};
use super::{FrameError, StreamId};

/// A DATA frame: a piece of a stream's content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Data {
    /// The stream the data belongs to (never 0).
    pub stream_id: StreamId,
    /// The data, without padding. A slice of the receive buffer, not a copy.
    pub data: Bytes,
    /// END_STREAM: the sender's last frame on this stream.
    pub end_stream: bool,
    /// The Pad Length if the frame was (or is to be) padded.
    pub pad_len: Option<u8>,
}

impl Data {
    /// An unpadded DATA frame.
    pub fn new(stream_id: StreamId, data: Bytes, end_stream: bool) -> Data {
        Data {
            stream_id,
            data,
            end_stream,
            pad_len: None,
        }
    }

    /// The octets this frame counts against flow-control windows: the whole
    /// payload, Pad Length octet and padding included (RFC 9113 §6.1, §6.9).
    pub fn flow_controlled_len(&self) -> u32 {
        u32::try_from(self.payload_len()).unwrap_or(u32::MAX)
    }

    /// The length of the encoded payload.
    pub fn payload_len(&self) -> usize {
        self.data.len() + padding_overhead(self.pad_len)
    }

    #[inline]
    pub(crate) fn decode(head: &FrameHeader, mut payload: Bytes) -> Result<Data, FrameError> {
        if head.stream_id.is_zero() {
            return Err(conn_protocol(FrameErrorKind::StreamIdMustBeNonZero));
        }
        let pad_len = take_pad_len(head, &mut payload)?;
        strip_padding(&mut payload, pad_len)?;
        Ok(Data {
            stream_id: head.stream_id,
            data: payload,
            end_stream: head.has(flags::END_STREAM),
            pad_len,
        })
    }

    /// Appends the frame to `dst`.
    ///
    /// # Panics
    ///
    /// If the payload is longer than 2^24-1 octets (see
    /// [`FrameHeader::encode`]); use [`encode_data`](super::encode_data) to
    /// split data to the peer's maximum frame size.
    pub fn encode(&self, dst: &mut BytesMut) {
        let mut frame_flags = padded_flag(self.pad_len);
        if self.end_stream {
            frame_flags |= flags::END_STREAM;
        }
        put_header(
            dst,
            self.payload_len(),
            frame_type::DATA,
            frame_flags,
            self.stream_id,
        );
        put_pad_len(dst, self.pad_len);
        dst.put_slice(&self.data);
        put_padding(dst, self.pad_len);
    }
}
