//! RST_STREAM frames (RFC 9113 §6.4).

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{FrameErrorKind, conn_protocol, conn_size};
use super::head::{FrameHeader, frame_type, put_header, read_u32};
use super::{FrameError, Reason, StreamId};

/// A RST_STREAM frame: ends one stream at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RstStream {
    /// The stream to end (never 0).
    pub stream_id: StreamId,
    /// Why.
    pub code: Reason,
}

impl RstStream {
    /// The fixed payload length.
    const LEN: usize = 4;

    /// A RST_STREAM frame for `stream_id` with `code`.
    pub fn new(stream_id: StreamId, code: Reason) -> RstStream {
        RstStream { stream_id, code }
    }

    pub(crate) fn decode(head: &FrameHeader, payload: Bytes) -> Result<RstStream, FrameError> {
        if head.stream_id.is_zero() {
            return Err(conn_protocol(FrameErrorKind::StreamIdMustBeNonZero));
        }
        match read_u32(&payload) {
            Some(code) if payload.len() == Self::LEN => Ok(RstStream {
                stream_id: head.stream_id,
                code: Reason(code),
            }),
            _ => Err(conn_size(FrameErrorKind::BadLength)),
        }
    }

    /// Appends the frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        put_header(dst, Self::LEN, frame_type::RST_STREAM, 0, self.stream_id);
        dst.put_u32(self.code.0);
    }
}
