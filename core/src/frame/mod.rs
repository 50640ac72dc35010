//! HTTP/2 frames (RFC 9113 §4 and §6).
//!
//! This module owns the wire form of a frame and nothing more: the 9-octet
//! header, the payload layout of each of the ten frame types, and every rule
//! that one frame can break on its own (its size against the maximum frame
//! size, fixed lengths, which stream it may be sent on, padding, the ranges
//! of SETTINGS values, a zero window increment, a stream depending on
//! itself). Each broken rule is a [`FrameError`] that carries the error code
//! to send and whether it ends the connection or one stream.
//!
//! Rules that need more than one frame or connection state (stream states,
//! CONTINUATION sequencing, flow-control windows, which role may send what)
//! belong to the connection layer above. Field blocks are opaque bytes here;
//! the `hpack` module decodes them.
//!
//! - [`FrameDecoder::decode`] cuts whole frames off a [`bytes::BytesMut`]
//!   receive buffer, returning `Ok(None)` until a frame is complete.
//!   Payloads are handed up as slices of that buffer.
//! - [`Frame::encode`] (and each frame struct's `encode`) appends a frame
//!   to a caller-owned buffer; [`encode_header_block`] and [`encode_data`]
//!   split a field block or body to the peer's maximum frame size.
//! - Frames of types RFC 9113 does not define come up as [`Unknown`], so the
//!   connection can discard them (RFC 9113 §5.5). Undefined flag bits and
//!   reserved bits are ignored on receipt and never sent.

use bytes::{Bytes, BytesMut};

mod continuation;
mod data;
mod decoder;
mod error;
mod go_away;
mod head;
mod headers;
mod pad;
mod ping;
mod priority;
mod push_promise;
mod reason;
mod rst_stream;
mod settings;
mod split;
mod stream_id;
mod unknown;
mod window_update;

#[cfg(test)]
mod tests;

pub use continuation::Continuation;
pub use data::Data;
pub use decoder::FrameDecoder;
pub use error::{ErrorLevel, FrameError, FrameErrorKind};
pub use go_away::GoAway;
pub use head::{
    DEFAULT_MAX_FRAME_SIZE, FrameHeader, HEADER_LEN, MAX_MAX_FRAME_SIZE, MAX_WINDOW_SIZE, PREFACE,
    flags, frame_type,
};
pub use headers::Headers;
pub use ping::Ping;
pub use priority::{Priority, PrioritySpec};
pub use push_promise::PushPromise;
pub use reason::Reason;
pub use rst_stream::RstStream;
pub use settings::Settings;
pub use split::{encode_data, encode_header_block};
pub use stream_id::StreamId;
pub use unknown::Unknown;
pub use window_update::WindowUpdate;

/// One HTTP/2 frame of any type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// DATA (0x0).
    Data(Data),
    /// HEADERS (0x1).
    Headers(Headers),
    /// PRIORITY (0x2).
    Priority(Priority),
    /// RST_STREAM (0x3).
    RstStream(RstStream),
    /// SETTINGS (0x4).
    Settings(Settings),
    /// PUSH_PROMISE (0x5).
    PushPromise(PushPromise),
    /// PING (0x6).
    Ping(Ping),
    /// GOAWAY (0x7).
    GoAway(GoAway),
    /// WINDOW_UPDATE (0x8).
    WindowUpdate(WindowUpdate),
    /// CONTINUATION (0x9).
    Continuation(Continuation),
    /// Any other type, passed up untouched (extensions included).
    Unknown(Unknown),
}

impl Frame {
    /// Decodes a payload whose header has already been read and whose
    /// length has already been checked against the maximum frame size.
    pub(crate) fn decode(head: &FrameHeader, payload: Bytes) -> Result<Frame, FrameError> {
        Ok(match head.frame_type {
            frame_type::DATA => Frame::Data(Data::decode(head, payload)?),
            frame_type::HEADERS => Frame::Headers(Headers::decode(head, payload)?),
            frame_type::PRIORITY => Frame::Priority(Priority::decode(head, payload)?),
            frame_type::RST_STREAM => Frame::RstStream(RstStream::decode(head, payload)?),
            frame_type::SETTINGS => Frame::Settings(Settings::decode(head, payload)?),
            frame_type::PUSH_PROMISE => Frame::PushPromise(PushPromise::decode(head, payload)?),
            frame_type::PING => Frame::Ping(Ping::decode(head, payload)?),
            frame_type::GOAWAY => Frame::GoAway(GoAway::decode(head, payload)?),
            frame_type::WINDOW_UPDATE => Frame::WindowUpdate(WindowUpdate::decode(head, payload)?),
            frame_type::CONTINUATION => Frame::Continuation(Continuation::decode(head, payload)?),
            _ => Frame::Unknown(Unknown::decode(head, payload)),
        })
    }

    /// The frame's type code (see [`frame_type`]).
    pub fn frame_type(&self) -> u8 {
        match self {
            Frame::Data(_) => frame_type::DATA,
            Frame::Headers(_) => frame_type::HEADERS,
            Frame::Priority(_) => frame_type::PRIORITY,
            Frame::RstStream(_) => frame_type::RST_STREAM,
            Frame::Settings(_) => frame_type::SETTINGS,
            Frame::PushPromise(_) => frame_type::PUSH_PROMISE,
            Frame::Ping(_) => frame_type::PING,
            Frame::GoAway(_) => frame_type::GOAWAY,
            Frame::WindowUpdate(_) => frame_type::WINDOW_UPDATE,
            Frame::Continuation(_) => frame_type::CONTINUATION,
            Frame::Unknown(f) => f.frame_type,
        }
    }

    /// The stream the frame is sent on; [`StreamId::ZERO`] for SETTINGS,
    /// PING and GOAWAY.
    pub fn stream_id(&self) -> StreamId {
        match self {
            Frame::Data(f) => f.stream_id,
            Frame::Headers(f) => f.stream_id,
            Frame::Priority(f) => f.stream_id,
            Frame::RstStream(f) => f.stream_id,
            Frame::PushPromise(f) => f.stream_id,
            Frame::WindowUpdate(f) => f.stream_id,
            Frame::Continuation(f) => f.stream_id,
            Frame::Unknown(f) => f.stream_id,
            Frame::Settings(_) | Frame::Ping(_) | Frame::GoAway(_) => StreamId::ZERO,
        }
    }

    /// Appends the frame, header and payload, to `dst`.
    ///
    /// # Panics
    ///
    /// If the payload is longer than 2^24-1 octets, which no frame can be.
    /// Keeping frames within the peer's maximum frame size is the caller's
    /// job ([`encode_data`] and [`encode_header_block`] do it).
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            Frame::Data(f) => f.encode(dst),
            Frame::Headers(f) => f.encode(dst),
            Frame::Priority(f) => f.encode(dst),
            Frame::RstStream(f) => f.encode(dst),
            Frame::Settings(f) => f.encode(dst),
            Frame::PushPromise(f) => f.encode(dst),
            Frame::Ping(f) => f.encode(dst),
            Frame::GoAway(f) => f.encode(dst),
            Frame::WindowUpdate(f) => f.encode(dst),
            Frame::Continuation(f) => f.encode(dst),
            Frame::Unknown(f) => f.encode(dst),
        }
    }
}

macro_rules! from_frame_struct {
    ($($variant:ident),*) => {
        $(impl From<$variant> for Frame {
            fn from(frame: $variant) -> Frame {
                Frame::$variant(frame)
            }
        })*
    };
}

from_frame_struct!(
    Data,
    Headers,
    Priority,
    RstStream,
    Settings,
    PushPromise,
    Ping,
    GoAway,
    WindowUpdate,
    Continuation,
    Unknown
);
