//! Frames of types this crate does not interpret (RFC 9113 §4.1, §5.5).

use bytes::{BufMut, Bytes, BytesMut};

use super::StreamId;
use super::head::{FrameHeader, put_header};

/// A frame of a type other than the ten RFC 9113 defines, kept whole so the
/// connection can ignore it (RFC 9113 §5.5) or an extension can read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unknown {
    /// The frame type code (0x0a and up).
    pub frame_type: u8,
    /// The flag octet, as sent.
    pub flags: u8,
    /// The stream, reserved bit cleared; may be 0.
    pub stream_id: StreamId,
    /// The payload, untouched.
    pub payload: Bytes,
}

impl Unknown {
    pub(crate) fn decode(head: &FrameHeader, payload: Bytes) -> Unknown {
        Unknown {
            frame_type: head.frame_type,
            flags: head.flags,
            stream_id: head.stream_id,
            payload,
        }
    }

    /// Appends the frame to `dst` as it is: type, flags and payload as given.
    ///
    /// # Panics
    ///
    /// If the payload is longer than 2^24-1 octets.
    pub fn encode(&self, dst: &mut BytesMut) {
        put_header(
            dst,
            self.payload.len(),
            self.frame_type,
            self.flags,
            self.stream_id,
        );
        dst.put_slice(&self.payload);
    }
}
