//! What an HTTP/2 connection reports to the layer above it.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::error::{ConnectionError, Initiator};
use crate::frame::{Reason, StreamId};
use crate::hpack::HeaderField;
use crate::hpack::Known;

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
        fields: Fields,
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

/// A received header list, in wire order.
///
/// Reads as a slice of [`HeaderField`]s. A block the HPACK decoder has seen
/// before on the same dynamic table (a peer's usual request head, response
/// head or trailers) is answered from its memo: the list is then shared
/// with the memo rather than copied, and [`Fields::block_id`] names it, so
/// that whatever the reader made of these fields the last time still holds.
#[derive(Debug, Clone)]
pub struct Fields(Repr);

#[derive(Debug, Clone)]
enum Repr {
    Owned(Vec<HeaderField>),
    /// Answered from the HPACK decoder's memo.
    Remembered {
        list: Arc<[HeaderField]>,
        id: Known,
    },
}

impl Fields {
    /// A list answered from the HPACK decoder's memo, with what the memo
    /// knows of it.
    pub(crate) fn remembered(list: Arc<[HeaderField]>, id: Known) -> Self {
        Fields(Repr::Remembered { list, id })
    }

    /// When the list is a remembered block's fields up to its last, then a
    /// new last field: the HPACK decoder's name for the fields before the
    /// last. Within one connection, the same id means the same fields
    /// before the last one; none of the list is then a slice of a received
    /// buffer. Never the same as a [`Fields::block_id`].
    pub(crate) fn prefix_id(&self) -> Option<u64> {
        match &self.0 {
            Repr::Remembered {
                id: Known::Plus(prefix),
                ..
            } => Some(*prefix),
            _ => None,
        }
    }

    /// The HPACK decoder's name for the block these fields were answered
    /// from, when they came from its memo. Within one connection, the same
    /// id means the same fields; none of them is then a slice of a
    /// received buffer. `None` for a block decoded afresh.
    pub fn block_id(&self) -> Option<u64> {
        match &self.0 {
            Repr::Remembered {
                id: Known::Block(id),
                ..
            } => Some(*id),
            _ => None,
        }
    }

    /// The fields as a vector of their own (a copy when shared).
    pub fn into_vec(self) -> Vec<HeaderField> {
        match self.0 {
            Repr::Owned(v) => v,
            Repr::Remembered { list, .. } => list.to_vec(),
        }
    }

    /// The list's own vector, for reuse; `None` when it is shared.
    pub(crate) fn into_owned(self) -> Option<Vec<HeaderField>> {
        match self.0 {
            Repr::Owned(v) => Some(v),
            Repr::Remembered { .. } => None,
        }
    }
}

impl Deref for Fields {
    type Target = [HeaderField];

    fn deref(&self) -> &[HeaderField] {
        match &self.0 {
            Repr::Owned(v) => v,
            Repr::Remembered { list, .. } => list,
        }
    }
}

impl From<Vec<HeaderField>> for Fields {
    fn from(fields: Vec<HeaderField>) -> Self {
        Fields(Repr::Owned(fields))
    }
}

impl PartialEq for Fields {
    fn eq(&self, other: &Fields) -> bool {
        self[..] == other[..]
    }
}

impl Eq for Fields {}

impl PartialEq<Vec<HeaderField>> for Fields {
    fn eq(&self, other: &Vec<HeaderField>) -> bool {
        self[..] == other[..]
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = &'a HeaderField;
    type IntoIter = std::slice::Iter<'a, HeaderField>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
