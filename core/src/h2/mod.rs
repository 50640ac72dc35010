//! One HTTP/2 connection (RFC 9113) as a sans-I/O state machine that plays
//! either role.
//!
//! This module owns: the connection preface and the SETTINGS exchange
//! (with its acknowledgement timeout), the stream state machine of §5.1,
//! connection and stream flow control both ways (§5.2, §6.9), PING with
//! round-trip time and keepalive, GOAWAY (graceful two-phase shutdown and
//! errors), RST_STREAM, CONTINUATION assembly, header list validation
//! (§8.2, §8.3), concurrency limits, and the flood limits that end an
//! abusive peer with ENHANCE_YOUR_CALM.
//!
//! It does not know gRPC: the layer above turns [`Event`]s into calls.
//! Frame syntax is [`crate::frame`]'s business and header compression
//! [`crate::hpack`]'s.
//!
//! Errors come in three kinds: a [`ConnectionError`] ends the connection
//! (we send GOAWAY when the peer is at fault); a stream error resets one
//! stream (reported as [`Event::StreamReset`] with [`Initiator::Local`]);
//! a [`SendError`] refuses an application action and changes nothing.

mod closed;
mod config;
mod connection;
mod error;
mod event;
mod flow;
mod headers;

/// Header validation, for tests elsewhere in the crate.
#[cfg(test)]
pub(crate) mod headers_for_tests {
    use crate::hpack::HeaderField;

    /// Whether `fields` is a well-formed request head (RFC 9113 §8.3).
    pub(crate) fn validate_request(fields: &[HeaderField]) -> Result<(), super::Malformed> {
        super::headers::validate_checked(super::headers::Section::Request, fields, false)
            .map(|_| ())
    }
}
pub(crate) mod idmap;
mod limits;
mod recv;
mod send;
mod stream;

pub use config::{Config, Limits, PingPolicy, Rate};
pub use connection::{Connection, Role};
pub use error::{ConnectionError, Initiator, SendError};
pub use event::{Event, Fields};
pub use headers::Malformed;
pub(crate) use stream::{Chunk, FieldList, Timeout};
pub use stream::{Input, InvalidTransition, State, transition};

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
