//! GOAWAY frames (RFC 9113 §6.8).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::{FrameErrorKind, conn_protocol, conn_size};
use super::head::{FrameHeader, frame_type, put_header, read_u32};
use super::{FrameError, Reason, StreamId};

/// A GOAWAY frame: the sender will start no more streams above
/// `last_stream_id` and is shutting the connection down.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GoAway {
    /// The highest stream the sender may have processed (reserved bit
    /// cleared).
    pub last_stream_id: StreamId,
    /// Why the connection is closing.
    pub code: Reason,
    /// Opaque diagnostic data; may be empty.
    pub debug_data: Bytes,
}

impl GoAway {
    /// The length of the fixed fields.
    const MIN_LEN: usize = 8;

    /// A GOAWAY frame without debug data.
    pub fn new(last_stream_id: StreamId, code: Reason) -> GoAway {
        GoAway {
            last_stream_id,
            code,
            debug_data: Bytes::new(),
        }
    }

    /// The length of the encoded payload.
    pub fn payload_len(&self) -> usize {
        Self::MIN_LEN + self.debug_data.len()
    }

    pub(crate) fn decode(head: &FrameHeader, mut payload: Bytes) -> Result<GoAway, FrameError> {
        if !head.stream_id.is_zero() {
            return Err(conn_protocol(FrameErrorKind::StreamIdMustBeZero));
        }
        let (Some(last), Some(code)) = (read_u32(&payload), payload.get(4..).and_then(read_u32))
        else {
            return Err(conn_size(FrameErrorKind::BadLength));
        };
        payload.advance(Self::MIN_LEN);
        Ok(GoAway {
            last_stream_id: StreamId::new(last),
            code: Reason(code),
            debug_data: payload,
        })
    }

    /// Appends the frame to `dst`.
    ///
    /// # Panics
    ///
    /// If the debug data makes the payload longer than 2^24-1 octets.
    pub fn encode(&self, dst: &mut BytesMut) {
        put_header(
            dst,
            self.payload_len(),
            frame_type::GOAWAY,
            0,
            StreamId::ZERO,
        );
        dst.put_u32(self.last_stream_id.value());
        dst.put_u32(self.code.0);
        dst.put_slice(&self.debug_data);
    }
}
