//! Errors found while decoding a single frame.

use std::error::Error;
use std::fmt;

use super::{Headers, Reason, StreamId};

/// Whom an error ends: the whole connection or one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorLevel {
    /// A connection error (RFC 9113 §5.4.1): send GOAWAY with the code and
    /// close the connection.
    Connection,
    /// A stream error (RFC 9113 §5.4.2): send RST_STREAM with the code on
    /// this stream; the connection goes on.
    Stream(StreamId),
}

/// What was wrong with a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameErrorKind {
    /// The frame's length is above the receiver's SETTINGS_MAX_FRAME_SIZE
    /// (RFC 9113 §4.2).
    FrameTooLarge,
    /// The frame type has a fixed length, a minimum length or a length
    /// granularity, and this frame does not meet it (RFC 9113 §6).
    BadLength,
    /// A SETTINGS frame with the ACK flag carried a payload (RFC 9113 §6.5).
    SettingsAckWithPayload,
    /// The payload is too short for the Pad Length, priority or promised
    /// stream fields its flags and type announce (RFC 9113 §4.2).
    PayloadTooShort,
    /// A frame type that is about the connection arrived on a stream.
    StreamIdMustBeZero,
    /// A frame type that is about a stream arrived on stream 0.
    StreamIdMustBeNonZero,
    /// The Pad Length is as long as the payload or longer (RFC 9113 §6.1,
    /// §6.2, §6.6).
    PaddingTooLong,
    /// A WINDOW_UPDATE increment of 0 (RFC 9113 §6.9).
    ZeroWindowIncrement,
    /// A SETTINGS parameter has a value outside its range (RFC 9113 §6.5.2,
    /// RFC 8441 §3).
    InvalidSetting {
        /// The parameter's identifier.
        id: u16,
        /// The value that was sent.
        value: u32,
    },
    /// A PRIORITY frame makes its stream depend on itself (RFC 9113 §5.3.1).
    SelfDependency,
    /// A HEADERS frame makes its stream depend on itself (RFC 9113 §5.3.1).
    ///
    /// The frame is handed back whole: its field block fragment must still
    /// be decoded (and any CONTINUATION frames that follow it) so that the
    /// connection's HPACK state stays in step with the peer's (RFC 9113
    /// §4.3), even though the stream is reset.
    HeadersSelfDependency(Box<Headers>),
    /// A PUSH_PROMISE promises stream 0 or an odd stream, neither of which a
    /// server can ever reserve (RFC 9113 §5.1.1, §6.6).
    InvalidPromisedId,
}

impl fmt::Display for FrameErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameErrorKind::FrameTooLarge => {
                f.write_str("frame is larger than the maximum frame size")
            }
            FrameErrorKind::BadLength => f.write_str("frame length is not valid for its type"),
            FrameErrorKind::SettingsAckWithPayload => {
                f.write_str("SETTINGS acknowledgement carries a payload")
            }
            FrameErrorKind::PayloadTooShort => {
                f.write_str("payload is too short for the fields its flags announce")
            }
            FrameErrorKind::StreamIdMustBeZero => {
                f.write_str("frame type must be sent on stream 0")
            }
            FrameErrorKind::StreamIdMustBeNonZero => {
                f.write_str("frame type must not be sent on stream 0")
            }
            FrameErrorKind::PaddingTooLong => {
                f.write_str("padding fills the whole payload or more")
            }
            FrameErrorKind::ZeroWindowIncrement => f.write_str("window increment of 0"),
            FrameErrorKind::InvalidSetting { id, value } => {
                write!(f, "setting {id:#x} has invalid value {value}")
            }
            FrameErrorKind::SelfDependency | FrameErrorKind::HeadersSelfDependency(_) => {
                f.write_str("stream depends on itself")
            }
            FrameErrorKind::InvalidPromisedId => {
                f.write_str("promised stream id is not one a server can reserve")
            }
        }
    }
}

/// A frame that breaks a rule of RFC 9113 §4 or §6: the error code to send,
/// whether it ends the connection or one stream, and what was wrong.
///
/// For a stream-level error the decoder has already consumed the bad frame,
/// so the caller resets the stream and keeps decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError {
    /// The HTTP/2 error code for the GOAWAY or RST_STREAM frame.
    pub code: Reason,
    /// Whether the connection or a single stream is ended.
    pub level: ErrorLevel,
    /// What was wrong.
    pub kind: FrameErrorKind,
}

impl FrameError {
    /// A connection error with this code.
    pub fn connection(code: Reason, kind: FrameErrorKind) -> FrameError {
        FrameError {
            code,
            level: ErrorLevel::Connection,
            kind,
        }
    }

    /// A stream error with this code on `stream_id`.
    pub fn stream(stream_id: StreamId, code: Reason, kind: FrameErrorKind) -> FrameError {
        FrameError {
            code,
            level: ErrorLevel::Stream(stream_id),
            kind,
        }
    }

    /// Whether the error ends the whole connection.
    pub fn is_connection_error(&self) -> bool {
        self.level == ErrorLevel::Connection
    }

    /// The stream to reset, for a stream error.
    pub fn stream_id(&self) -> Option<StreamId> {
        match self.level {
            ErrorLevel::Connection => None,
            ErrorLevel::Stream(id) => Some(id),
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.level {
            ErrorLevel::Connection => write!(f, "connection error {}: {}", self.code, self.kind),
            ErrorLevel::Stream(id) => {
                write!(
                    f,
                    "stream error {} on stream {id}: {}",
                    self.code, self.kind
                )
            }
        }
    }
}

impl Error for FrameError {}

/// Shorthands for the decoders of each frame type.
pub(crate) fn conn(code: Reason, kind: FrameErrorKind) -> FrameError {
    FrameError::connection(code, kind)
}

/// A connection FRAME_SIZE_ERROR.
pub(crate) fn conn_size(kind: FrameErrorKind) -> FrameError {
    FrameError::connection(Reason::FRAME_SIZE_ERROR, kind)
}

/// A connection PROTOCOL_ERROR.
pub(crate) fn conn_protocol(kind: FrameErrorKind) -> FrameError {
    FrameError::connection(Reason::PROTOCOL_ERROR, kind)
}
