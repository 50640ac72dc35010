//! The body of the `frame_decode` fuzz target, shared by the cargo-fuzz
//! binary and by the corpus replay test in the `tests` crate.
//!
//! Input: the first octet picks the decoder's maximum frame size, the rest
//! is a receive buffer. Every frame decoded is re-encoded and decoded again,
//! and must come back equal, from no more octets than it took on the wire.
#![allow(unreachable_pub)]

use bytes::BytesMut;
use grpc_sansio::frame::{
    DEFAULT_MAX_FRAME_SIZE, ErrorLevel, Frame, FrameDecoder, FrameError, FrameErrorKind,
    MAX_MAX_FRAME_SIZE,
};

/// The maximum frame size a selector octet stands for.
fn max_frame_size(selector: u8) -> u32 {
    match selector % 4 {
        0 => DEFAULT_MAX_FRAME_SIZE,
        1 => DEFAULT_MAX_FRAME_SIZE + u32::from(selector) * 61,
        2 => 65_535,
        _ => MAX_MAX_FRAME_SIZE,
    }
}

/// Encodes `frame` and decodes it with a fresh decoder, expecting `expected`.
fn reencode(frame: &Frame, max: u32, expected: Result<Option<Frame>, FrameError>, wire_len: usize) {
    let mut wire = BytesMut::new();
    frame.encode(&mut wire);
    assert!(wire.len() <= wire_len, "re-encoding grew the frame");
    let mut decoder = FrameDecoder::new();
    decoder.set_max_frame_size(max);
    assert_eq!(decoder.decode(&mut wire), expected);
    assert!(wire.is_empty(), "re-encoded frame not wholly consumed");
}

/// Runs one fuzz input. Panics on any broken invariant.
pub fn run(data: &[u8]) {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let max = max_frame_size(selector);
    let mut decoder = FrameDecoder::new();
    decoder.set_max_frame_size(max);
    assert_eq!(decoder.max_frame_size(), max);
    let mut buf = BytesMut::from(input);
    loop {
        let before = buf.len();
        match decoder.decode(&mut buf) {
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                return;
            }
            Ok(Some(frame)) => {
                let used = before - buf.len();
                reencode(&frame, max, Ok(Some(frame.clone())), used);
            }
            Err(e) if e.level == ErrorLevel::Connection => return,
            Err(e) => {
                let used = before - buf.len();
                assert!(used > 0, "a stream error must consume the frame");
                if let FrameErrorKind::HeadersSelfDependency(headers) = &e.kind {
                    let frame = Frame::Headers((**headers).clone());
                    reencode(&frame, max, Err(e.clone()), used);
                }
            }
        }
    }
}
