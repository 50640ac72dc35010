//! Padding (RFC 9113 §6.1, §6.2, §6.6): an optional Pad Length octet at the
//! start of the payload and that many octets at its end.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::FrameError;
use super::error::{FrameErrorKind, conn_protocol, conn_size};
use super::head::{FrameHeader, flags};

/// Takes the Pad Length octet off the front of `payload` if the frame has
/// the PADDED flag. A padded frame with no room for it is a FRAME_SIZE_ERROR
/// (RFC 9113 §4.2); padded frames carry field blocks or count against the
/// connection's flow-control window, so the error is connection-level.
pub(crate) fn take_pad_len(
    head: &FrameHeader,
    payload: &mut Bytes,
) -> Result<Option<u8>, FrameError> {
    if !head.has(flags::PADDED) {
        return Ok(None);
    }
    match payload.first() {
        Some(&pad_len) => {
            payload.advance(1);
            Ok(Some(pad_len))
        }
        None => Err(conn_size(FrameErrorKind::PayloadTooShort)),
    }
}

/// Cuts `pad_len` octets of padding off the end of `payload` (what is left
/// after the Pad Length octet and any fixed fields). Padding longer than
/// that is a connection PROTOCOL_ERROR. The padding's content is not
/// checked (RFC 9113 allows but does not require it).
pub(crate) fn strip_padding(payload: &mut Bytes, pad_len: Option<u8>) -> Result<(), FrameError> {
    if let Some(pad_len) = pad_len {
        let keep = payload
            .len()
            .checked_sub(usize::from(pad_len))
            .ok_or_else(|| conn_protocol(FrameErrorKind::PaddingTooLong))?;
        payload.truncate(keep);
    }
    Ok(())
}

/// The octets that padding adds to a payload: the Pad Length octet and the
/// padding itself.
pub(crate) fn padding_overhead(pad_len: Option<u8>) -> usize {
    pad_len.map_or(0, |n| 1 + usize::from(n))
}

/// The PADDED flag if the frame is padded.
pub(crate) fn padded_flag(pad_len: Option<u8>) -> u8 {
    if pad_len.is_some() { flags::PADDED } else { 0 }
}

/// Writes the Pad Length octet if the frame is padded.
pub(crate) fn put_pad_len(dst: &mut BytesMut, pad_len: Option<u8>) {
    if let Some(n) = pad_len {
        dst.put_u8(n);
    }
}

/// Writes the padding octets (zeros, as RFC 9113 requires of senders).
pub(crate) fn put_padding(dst: &mut BytesMut, pad_len: Option<u8>) {
    if let Some(n) = pad_len {
        dst.put_bytes(0, usize::from(n));
    }
}
