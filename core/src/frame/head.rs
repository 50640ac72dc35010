//! The 9-octet frame header (RFC 9113 §4.1) and the numbers it carries.

use bytes::BytesMut;

use super::StreamId;

/// Frame type codes (RFC 9113 §6, §11.2).
pub mod frame_type {
    /// DATA (§6.1).
    pub const DATA: u8 = 0x0;
    /// HEADERS (§6.2).
    pub const HEADERS: u8 = 0x1;
    /// PRIORITY (§6.3).
    pub const PRIORITY: u8 = 0x2;
    /// RST_STREAM (§6.4).
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS (§6.5).
    pub const SETTINGS: u8 = 0x4;
    /// PUSH_PROMISE (§6.6).
    pub const PUSH_PROMISE: u8 = 0x5;
    /// PING (§6.7).
    pub const PING: u8 = 0x6;
    /// GOAWAY (§6.8).
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE (§6.9).
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION (§6.10).
    pub const CONTINUATION: u8 = 0x9;
}

/// Flag bits. Each is defined only for some frame types; elsewhere the bit is
/// unused and ignored on receipt (RFC 9113 §4.1).
pub mod flags {
    /// END_STREAM on DATA and HEADERS.
    pub const END_STREAM: u8 = 0x1;
    /// ACK on SETTINGS and PING.
    pub const ACK: u8 = 0x1;
    /// END_HEADERS on HEADERS, PUSH_PROMISE and CONTINUATION.
    pub const END_HEADERS: u8 = 0x4;
    /// PADDED on DATA, HEADERS and PUSH_PROMISE.
    pub const PADDED: u8 = 0x8;
    /// PRIORITY on HEADERS.
    pub const PRIORITY: u8 = 0x20;
}

/// The length of the frame header in octets.
pub const HEADER_LEN: usize = 9;

/// The initial, and smallest allowed, SETTINGS_MAX_FRAME_SIZE: 2^14.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 1 << 14;

/// The largest SETTINGS_MAX_FRAME_SIZE a peer may advertise, and the largest
/// length the 24-bit length field can carry: 2^24-1.
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

/// The largest flow-control window and window increment: 2^31-1.
pub const MAX_WINDOW_SIZE: u32 = (1 << 31) - 1;

/// The client connection preface (RFC 9113 §3.4): these 24 octets, then a
/// SETTINGS frame.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A parsed frame header: what every frame starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// Length of the payload in octets (24 bits on the wire).
    pub length: u32,
    /// The frame type code (see [`frame_type`]).
    pub frame_type: u8,
    /// The flag octet, as sent.
    pub flags: u8,
    /// The stream, with the reserved bit cleared.
    pub stream_id: StreamId,
}

impl FrameHeader {
    /// Reads a header from the first [`HEADER_LEN`] octets of `src`, or
    /// returns `None` if `src` is shorter than that.
    pub fn parse(src: &[u8]) -> Option<FrameHeader> {
        let head: &[u8; HEADER_LEN] = src.get(..HEADER_LEN)?.try_into().ok()?;
        let [l0, l1, l2, frame_type, flags, s0, s1, s2, s3] = *head;
        Some(FrameHeader {
            length: u32::from_be_bytes([0, l0, l1, l2]),
            frame_type,
            flags,
            stream_id: StreamId::new(u32::from_be_bytes([s0, s1, s2, s3])),
        })
    }

    /// Whether `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag == flag
    }

    /// Appends the 9 octets of this header to `dst`.
    ///
    /// # Panics
    ///
    /// If `length` does not fit in 24 bits: frames that large cannot exist,
    /// so this is a bug in the caller, never a result of peer input.
    pub fn encode(&self, dst: &mut BytesMut) {
        // One append of a fixed nine bytes (the copy is inlined).
        dst.extend_from_slice(&self.octets());
    }

    /// The header's nine octets (same rule on the length as
    /// [`encode`](Self::encode)).
    #[inline]
    pub(crate) fn octets(&self) -> [u8; HEADER_LEN] {
        assert!(
            self.length <= MAX_MAX_FRAME_SIZE,
            "HTTP/2 frame payload of {} octets does not fit the 24-bit length field",
            self.length
        );
        let [_, l0, l1, l2] = self.length.to_be_bytes();
        let [s0, s1, s2, s3] = self.stream_id.value().to_be_bytes();
        [l0, l1, l2, self.frame_type, self.flags, s0, s1, s2, s3]
    }
}

/// Writes a header for a payload of `len` octets. Used by every encoder.
pub(crate) fn put_header(
    dst: &mut BytesMut,
    len: usize,
    frame_type: u8,
    flags: u8,
    stream_id: StreamId,
) {
    let length = u32::try_from(len).unwrap_or(u32::MAX);
    FrameHeader {
        length,
        frame_type,
        flags,
        stream_id,
    }
    .encode(dst);
    dst.reserve(len);
}

/// Reads a big-endian u32 from the first four octets of `src`, if present.
pub(crate) fn read_u32(src: &[u8]) -> Option<u32> {
    let word: [u8; 4] = src.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9113_4_1_header_layout() {
        let raw = [0x01, 0x02, 0x03, 0x04, 0x05, 0x80, 0x00, 0x00, 0x07];
        let head = FrameHeader::parse(&raw).expect("nine octets");
        assert_eq!(head.length, 0x010203);
        assert_eq!(head.frame_type, 4);
        assert_eq!(head.flags, 5);
        assert_eq!(head.stream_id, StreamId::new(7));
        let mut out = BytesMut::new();
        head.encode(&mut out);
        // The reserved bit is left unset when sending.
        assert_eq!(
            &out[..],
            &[0x01, 0x02, 0x03, 0x04, 0x05, 0x00, 0x00, 0x00, 0x07]
        );
        assert_eq!(FrameHeader::parse(&raw[..8]), None);
    }

    #[test]
    fn rfc9113_3_4_preface() {
        assert_eq!(PREFACE.len(), 24);
        assert_eq!(&PREFACE[..3], b"PRI");
    }
}
