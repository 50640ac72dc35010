//! WINDOW_UPDATE frames (RFC 9113 §6.9).

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{FrameErrorKind, conn_protocol, conn_size};
use super::head::{FrameHeader, frame_type, put_header, read_u32};
use super::stream_id::RESERVED_BIT;
use super::{FrameError, Reason, StreamId};

/// A WINDOW_UPDATE frame: more flow-control credit for a stream, or for the
/// whole connection on stream 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WindowUpdate {
    /// The stream, or 0 for the connection window.
    pub stream_id: StreamId,
    /// Octets added to the window: 1 to 2^31-1 (reserved bit cleared).
    pub increment: u32,
}

impl WindowUpdate {
    /// The fixed payload length.
    const LEN: usize = 4;

    /// A WINDOW_UPDATE frame.
    pub fn new(stream_id: StreamId, increment: u32) -> WindowUpdate {
        WindowUpdate {
            stream_id,
            increment,
        }
    }

    pub(crate) fn decode(head: &FrameHeader, payload: Bytes) -> Result<WindowUpdate, FrameError> {
        let word = match read_u32(&payload) {
            Some(word) if payload.len() == Self::LEN => word,
            _ => return Err(conn_size(FrameErrorKind::BadLength)),
        };
        let increment = word & !RESERVED_BIT;
        if increment == 0 {
            return Err(if head.stream_id.is_zero() {
                conn_protocol(FrameErrorKind::ZeroWindowIncrement)
            } else {
                FrameError::stream(
                    head.stream_id,
                    Reason::PROTOCOL_ERROR,
                    FrameErrorKind::ZeroWindowIncrement,
                )
            });
        }
        Ok(WindowUpdate {
            stream_id: head.stream_id,
            increment,
        })
    }

    /// Appends the frame to `dst`. The reserved bit is left unset.
    pub fn encode(&self, dst: &mut BytesMut) {
        put_header(dst, Self::LEN, frame_type::WINDOW_UPDATE, 0, self.stream_id);
        dst.put_u32(self.increment & !RESERVED_BIT);
    }
}
