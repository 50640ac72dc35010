//! What an HTTP/2 connection reports to the layer above it.

use std::time::Duration;

use bytes::Bytes;

use super::error::{ConnectionError, Initiator};
use crate::frame::{Reason, StreamId};
use crate::hpack::HeaderField;

/// Something that happened on the connection, drained with
/// [`Connection::poll_event`](super::Connection::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A header block arrived and passed validation (RFC 9113 §8.2, §8.3):
    /// a request head (server), a response head (client), or trailers
    /// (`end_stream` is then true). Interim 1xx responses are not reported.
    Headers {
        /// The stream.
        stream: StreamId,
        /// The fields in wire order, pseudo-header fields first.
        fields: Vec<HeaderField>,
        /// The peer will send nothing more on this stream.
        end_stream: bool,
    },
    /// Request or response body bytes arrived. The application must give
    /// them back with [`Connection::release_capacity`](super::Connection::release_capacity)
    /// once consumed, so the peer may send more.
    Data {
        /// The stream.
        stream: StreamId,
        /// The payload without padding (a slice of the receive buffer).
        data: Bytes,
        /// The peer will send nothing more on this stream.
        end_stream: bool,
    },
    /// The peer's header list was larger than our
    /// SETTINGS_MAX_HEADER_LIST_SIZE. The stream is still open; the layer
    /// above decides how to answer (a gRPC server sends a
    /// RESOURCE_EXHAUSTED status).
    HeaderListTooLarge {
        /// The stream.
        stream: StreamId,
        /// Whether the header block ended the peer's side of the stream.
        end_stream: bool,
    },
    /// The stream was reset. `Remote`: the peer sent RST_STREAM (or, with
    /// code REFUSED_STREAM, its GOAWAY says the stream was never processed
    /// and is safe to retry). `Local`: we reset it because the peer broke a
    /// stream-level rule.
    StreamReset {
        /// The stream.
        stream: StreamId,
        /// The error code.
        code: Reason,
        /// Who reset it.
        initiator: Initiator,
    },
    /// A stream whose send was refused with
    /// [`SendError::Blocked`](super::SendError::Blocked), or whose data was
    /// waiting on flow control, can take more data.
    Writable {
        /// The stream.
        stream: StreamId,
    },
    /// A stream closed, so a new one may be opened where
    /// [`SendError::ConcurrencyLimit`](super::SendError::ConcurrencyLimit)
    /// refused it before, or the peer raised its limit.
    StreamCapacity,
    /// The peer acknowledged our SETTINGS.
    SettingsAcked,
    /// The peer acknowledged a PING of ours.
    PingAcked {
        /// The payload we sent.
        payload: [u8; 8],
        /// The time between sending it and receiving the acknowledgement.
        rtt: Duration,
    },
    /// The peer sent GOAWAY. Streams we opened above `last_stream_id` are
    /// reported separately as reset with REFUSED_STREAM.
    GoAway {
        /// The last stream the peer may have processed.
        last_stream_id: StreamId,
        /// The error code (NO_ERROR for a graceful shutdown).
        code: Reason,
        /// The peer's debug data.
        debug_data: Bytes,
    },
    /// The connection has ended; nothing more will be reported. `None` is a
    /// clean end (graceful shutdown done, or the peer closed an idle
    /// connection).
    Closed {
        /// Why, if not clean.
        error: Option<ConnectionError>,
    },
}
