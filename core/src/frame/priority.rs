//! Stream priority fields (RFC 9113 §5.3.1, §6.3): the PRIORITY frame and
//! the same five octets inside HEADERS.
//!
//! RFC 9113 deprecates the RFC 7540 priority scheme; the fields are still
//! parsed (they take room in the payload and can be invalid), and what they
//! mean is left to the layer above.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{FrameErrorKind, conn_protocol};
use super::head::{FrameHeader, frame_type, put_header, read_u32};
use super::stream_id::RESERVED_BIT;
use super::{FrameError, Reason, StreamId};

/// The length of the priority fields: stream dependency and weight.
pub(crate) const PRIORITY_SPEC_LEN: usize = 5;

/// The priority fields of a PRIORITY frame or a HEADERS frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PrioritySpec {
    /// The stream this one depends on.
    pub dependency: StreamId,
    /// The E flag: the dependency is exclusive.
    pub exclusive: bool,
    /// The Weight octet as sent; the weight it stands for is this plus one
    /// (1 to 256).
    pub weight: u8,
}

impl PrioritySpec {
    /// Reads the five priority octets from the front of `src`.
    pub(crate) fn parse(src: &[u8]) -> Option<PrioritySpec> {
        let word = read_u32(src)?;
        let weight = *src.get(4)?;
        Some(PrioritySpec {
            dependency: StreamId::new(word),
            exclusive: word & RESERVED_BIT != 0,
            weight,
        })
    }

    /// Appends the five priority octets.
    pub(crate) fn put(&self, dst: &mut BytesMut) {
        let e = if self.exclusive { RESERVED_BIT } else { 0 };
        dst.put_u32(self.dependency.value() | e);
        dst.put_u8(self.weight);
    }
}

/// A PRIORITY frame: advice on a stream's priority.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Priority {
    /// The stream whose priority is given (never 0).
    pub stream_id: StreamId,
    /// The priority fields.
    pub spec: PrioritySpec,
}

impl Priority {
    pub(crate) fn decode(head: &FrameHeader, payload: Bytes) -> Result<Priority, FrameError> {
        if head.stream_id.is_zero() {
            return Err(conn_protocol(FrameErrorKind::StreamIdMustBeNonZero));
        }
        // Stream-level: a PRIORITY frame never changes connection state.
        let spec = match PrioritySpec::parse(&payload) {
            Some(spec) if payload.len() == PRIORITY_SPEC_LEN => spec,
            _ => {
                return Err(FrameError::stream(
                    head.stream_id,
                    Reason::FRAME_SIZE_ERROR,
                    FrameErrorKind::BadLength,
                ));
            }
        };
        if spec.dependency == head.stream_id {
            return Err(FrameError::stream(
                head.stream_id,
                Reason::PROTOCOL_ERROR,
                FrameErrorKind::SelfDependency,
            ));
        }
        Ok(Priority {
            stream_id: head.stream_id,
            spec,
        })
    }

    /// Appends the frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        put_header(
            dst,
            PRIORITY_SPEC_LEN,
            frame_type::PRIORITY,
            0,
            self.stream_id,
        );
        self.spec.put(dst);
    }
}
