//! PING frames (RFC 9113 §6.7).

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{FrameErrorKind, conn_protocol, conn_size};
use super::head::{FrameHeader, flags, frame_type, put_header};
use super::{FrameError, StreamId};

/// A PING frame: a round-trip probe, or the answer to one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ping {
    /// ACK: this answers a PING with the same payload.
    pub ack: bool,
    /// Eight opaque octets, echoed in the answer.
    pub payload: [u8; 8],
}

impl Ping {
    /// The fixed payload length.
    const LEN: usize = 8;

    /// A PING to send.
    pub fn new(payload: [u8; 8]) -> Ping {
        Ping {
            ack: false,
            payload,
        }
    }

    /// The answer to a PING with this payload.
    pub fn pong(payload: [u8; 8]) -> Ping {
        Ping { ack: true, payload }
    }

    pub(crate) fn decode(head: &FrameHeader, payload: Bytes) -> Result<Ping, FrameError> {
        if !head.stream_id.is_zero() {
            return Err(conn_protocol(FrameErrorKind::StreamIdMustBeZero));
        }
        let payload: [u8; 8] = payload
            .as_ref()
            .try_into()
            .map_err(|_| conn_size(FrameErrorKind::BadLength))?;
        Ok(Ping {
            ack: head.has(flags::ACK),
            payload,
        })
    }

    /// Appends the frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        let bits = if self.ack { flags::ACK } else { 0 };
        put_header(dst, Self::LEN, frame_type::PING, bits, StreamId::ZERO);
        dst.put_slice(&self.payload);
    }
}
