//! Encoders that split a field block or a body into frames no larger than
//! the peer's maximum frame size.

use bytes::{BufMut, BytesMut};

use super::StreamId;
use super::head::{HEADER_LEN, MAX_MAX_FRAME_SIZE, flags, frame_type, put_header};

/// The chunk length to split at: `max_frame_size` limited to what the
/// 24-bit length field can hold, and at least 1 so splitting always ends.
fn chunk_len(max_frame_size: u32) -> usize {
    max_frame_size.clamp(1, MAX_MAX_FRAME_SIZE) as usize
}

/// Appends `block`, an encoded field block, as one HEADERS frame followed by
/// as many CONTINUATION frames as needed, each payload at most
/// `max_frame_size` octets (the peer's SETTINGS_MAX_FRAME_SIZE).
///
/// END_STREAM goes on the HEADERS frame when `end_stream` is set, and
/// END_HEADERS on the last frame. An empty block is one empty HEADERS frame.
/// No padding or priority fields are sent.
pub fn encode_header_block(
    stream_id: StreamId,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
    dst: &mut BytesMut,
) {
    let chunk = chunk_len(max_frame_size);
    let frames = block.len().div_ceil(chunk).max(1);
    dst.reserve(block.len() + frames * HEADER_LEN);

    let (first, mut rest) = block.split_at(block.len().min(chunk));
    let mut bits = if end_stream { flags::END_STREAM } else { 0 };
    if rest.is_empty() {
        bits |= flags::END_HEADERS;
    }
    put_header(dst, first.len(), frame_type::HEADERS, bits, stream_id);
    dst.put_slice(first);

    while !rest.is_empty() {
        let (piece, tail) = rest.split_at(rest.len().min(chunk));
        let bits = if tail.is_empty() {
            flags::END_HEADERS
        } else {
            0
        };
        put_header(dst, piece.len(), frame_type::CONTINUATION, bits, stream_id);
        dst.put_slice(piece);
        rest = tail;
    }
}

/// Appends `data` as DATA frames with payloads of at most `max_frame_size`
/// octets, END_STREAM on the last one when `end_stream` is set.
///
/// Empty `data` with `end_stream` is one empty DATA frame; empty `data`
/// without it writes nothing. No padding is sent. Flow control is the
/// caller's business: only pass what the windows allow.
pub fn encode_data(
    stream_id: StreamId,
    data: &[u8],
    end_stream: bool,
    max_frame_size: u32,
    dst: &mut BytesMut,
) {
    if data.is_empty() {
        if end_stream {
            put_header(dst, 0, frame_type::DATA, flags::END_STREAM, stream_id);
        }
        return;
    }
    let chunk = chunk_len(max_frame_size);
    dst.reserve(data.len() + data.len().div_ceil(chunk) * HEADER_LEN);
    let mut pieces = data.chunks(chunk).peekable();
    while let Some(piece) = pieces.next() {
        let last = pieces.peek().is_none();
        let bits = if last && end_stream {
            flags::END_STREAM
        } else {
            0
        };
        put_header(dst, piece.len(), frame_type::DATA, bits, stream_id);
        dst.put_slice(piece);
    }
}
