//! One HTTP/2 stream: its state machine (RFC 9113 §5.1) as an explicit
//! transition table, its windows, and what the application has queued on it.
//!
//! Push is never enabled (we advertise SETTINGS_ENABLE_PUSH 0 as a client
//! and never promise as a server), so the reserved states do not exist here.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::flow::{RecvFlow, Window};
use crate::frame::{Reason, StreamId};
use crate::hpack::HeaderField;

/// The states of RFC 9113 §5.1 that a stream without push can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not yet used.
    Idle,
    /// Both sides may send.
    Open,
    /// We sent END_STREAM; the peer may still send.
    HalfClosedLocal,
    /// The peer sent END_STREAM; we may still send.
    HalfClosedRemote,
    /// Neither side may send (END_STREAM both ways, or a reset).
    Closed,
}

/// What moves a stream from one state to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Input {
    /// We send HEADERS or DATA, with or without END_STREAM.
    Send {
        /// The frame carries END_STREAM.
        end_stream: bool,
    },
    /// We receive HEADERS or DATA, with or without END_STREAM.
    Recv {
        /// The frame carries END_STREAM.
        end_stream: bool,
    },
    /// We send RST_STREAM.
    SendReset,
    /// We receive RST_STREAM.
    RecvReset,
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTransition {
    /// The state the stream was in.
    pub from: State,
    /// The input that is not allowed there.
    pub input: Input,
}

/// The transition table of RFC 9113 §5.1 without push. Every pair not
/// listed is invalid.
pub fn transition(from: State, input: Input) -> Result<State, InvalidTransition> {
    use Input::*;
    use State::*;
    let to = match (from, input) {
        (Idle, Send { end_stream: false }) => Open,
        (Idle, Send { end_stream: true }) => HalfClosedLocal,
        (Idle, Recv { end_stream: false }) => Open,
        (Idle, Recv { end_stream: true }) => HalfClosedRemote,

        (Open, Send { end_stream: false }) => Open,
        (Open, Send { end_stream: true }) => HalfClosedLocal,
        (Open, Recv { end_stream: false }) => Open,
        (Open, Recv { end_stream: true }) => HalfClosedRemote,

        (HalfClosedLocal, Recv { end_stream: false }) => HalfClosedLocal,
        (HalfClosedLocal, Recv { end_stream: true }) => Closed,

        (HalfClosedRemote, Send { end_stream: false }) => HalfClosedRemote,
        (HalfClosedRemote, Send { end_stream: true }) => Closed,

        (Open | HalfClosedLocal | HalfClosedRemote, SendReset | RecvReset) => Closed,

        _ => return Err(InvalidTransition { from, input }),
    };
    Ok(to)
}

/// A header list queued to send: the caller's own, or one shared between
/// streams (a connection's usual request or response head), which the
/// HPACK encoder recognises by its address.
#[derive(Debug)]
pub(crate) enum FieldList {
    Owned(Vec<HeaderField>),
    Shared(Arc<[HeaderField]>),
    /// A shared list followed by the block's own `grpc-timeout` (a
    /// request head of a call with a deadline), held inline.
    SharedTimeout(Arc<[HeaderField]>, Timeout),
}

/// A `grpc-timeout` value held inline (at most eight digits and a unit).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeout {
    buf: [u8; 9],
    len: u8,
}

impl Timeout {
    /// What is left of `left`, as `grpc-timeout` writes it.
    pub(crate) fn new(left: std::time::Duration) -> Self {
        let mut buf = [0u8; 9];
        let len = crate::grpc::timeout::write_timeout(left, &mut buf) as u8;
        Timeout { buf, len }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or_default()
    }
}

/// Something the application queued on a stream, sent in order.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A header block; encoded only when it is written, so HPACK state
    /// follows wire order.
    Headers { fields: FieldList, end_stream: bool },
    /// Body bytes, cut into DATA frames as windows allow.
    Data { data: Chunk, end_stream: bool },
    /// RST_STREAM once everything before it is written (a server that
    /// has answered in full tells the client to stop sending, §8.1).
    Reset(Reason),
}

/// A piece of body bytes queued on a stream: shared bytes, or a few bytes
/// held inline (a gRPC message prefix) so that queuing them allocates
/// nothing.
#[derive(Debug, Clone)]
pub(crate) enum Chunk {
    Shared(Bytes),
    Inline {
        buf: [u8; Chunk::INLINE],
        start: u8,
        end: u8,
    },
}

impl Chunk {
    /// The most bytes held inline.
    pub(crate) const INLINE: usize = 8;

    /// `bytes` inline when they fit (they are copied), shared otherwise.
    pub(crate) fn small(bytes: &[u8]) -> Chunk {
        let mut buf = [0u8; Chunk::INLINE];
        match buf.get_mut(..bytes.len()) {
            Some(head) => {
                head.copy_from_slice(bytes);
                Chunk::Inline {
                    buf,
                    start: 0,
                    end: bytes.len() as u8,
                }
            }
            None => Chunk::Shared(Bytes::copy_from_slice(bytes)),
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Chunk::Shared(b) => b,
            Chunk::Inline { buf, start, end } => buf
                .get(usize::from(*start)..usize::from(*end))
                .unwrap_or_default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append the first `n` bytes (at most the length) to `dst` and drop
    /// them from the chunk.
    pub(crate) fn write_front(&mut self, n: usize, dst: &mut bytes::BytesMut) {
        match self {
            Chunk::Shared(b) => dst.extend_from_slice(&b.split_to(n.min(b.len()))),
            Chunk::Inline { buf, start, end } => {
                let n = n.min(usize::from(*end - *start));
                let from = usize::from(*start);
                dst.extend_from_slice(buf.get(from..from + n).unwrap_or_default());
                *start += n as u8;
            }
        }
    }
}

impl From<Bytes> for Chunk {
    fn from(b: Bytes) -> Chunk {
        Chunk::Shared(b)
    }
}

/// Where the peer's side of a stream is in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvPhase {
    /// No final head yet (a client may see 1xx heads here).
    Head,
    /// Head received; DATA or trailers may follow.
    Body,
}

/// One live stream.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) id: StreamId,
    pub(crate) state: State,
    pub(crate) send_window: Window,
    pub(crate) recv: RecvFlow,
    pub(crate) queue: VecDeque<Outbound>,
    /// Short body pieces queued after everything in `queue`, copied
    /// together so that a run of small messages takes one queue entry
    /// instead of two each. Moved to the back of `queue` before the stream
    /// is written and before anything else is queued; empty whenever
    /// `queue` is (a piece is only added behind one already queued).
    /// Boxed, and made on first use: most streams never gather, and a
    /// stream small enough is moved without a call to `memcpy`.
    pub(crate) tail: Option<Box<BytesMut>>,
    /// Bytes queued, `tail` included.
    pub(crate) queued_bytes: usize,
    /// The application queued END_STREAM (or trailers); no more sends.
    pub(crate) send_done: bool,
    /// A send was refused with Blocked, or data waits on a window: report
    /// Writable when that changes.
    pub(crate) wants_writable: bool,
    /// A send was refused because the connection's queues were full: the
    /// stream is in the connection's list of streams waiting for room.
    pub(crate) waits_room: bool,
    pub(crate) recv_phase: RecvPhase,
    pub(crate) content_length: Option<u64>,
    pub(crate) data_received: u64,
    /// The stream sits in the connection's ready list.
    pub(crate) scheduled: bool,
    /// The peer has ended its side; we stop announcing stream window.
    pub(crate) recv_done: bool,
}

impl Stream {
    pub(crate) fn new(id: StreamId, send_window: u32, recv_window: u32, recv_target: u32) -> Self {
        Stream {
            id,
            state: State::Idle,
            send_window: Window::new(send_window),
            recv: RecvFlow::new(recv_window, recv_target),
            queue: VecDeque::new(),
            tail: None,
            queued_bytes: 0,
            send_done: false,
            wants_writable: false,
            waits_room: false,
            recv_phase: RecvPhase::Head,
            content_length: None,
            data_received: 0,
            scheduled: false,
            recv_done: false,
        }
    }

    /// Move the pieces gathered in `tail` to the back of `queue`, as one.
    #[inline]
    pub(crate) fn flush_tail(&mut self) {
        if let Some(tail) = self.tail.as_mut().filter(|t| !t.is_empty()) {
            // The buffer goes with its bytes: an idle stream holds none.
            let data = Chunk::Shared(std::mem::take(&mut **tail).freeze());
            self.queue.push_back(Outbound::Data {
                data,
                end_stream: false,
            });
        }
    }

    /// Copy `parts` (`total` bytes) into `tail`. A tail without room for
    /// them joins the queue first ([`flush_tail`](Self::flush_tail)) and a
    /// fresh buffer of `reserve` bytes takes them: nothing gathered is
    /// copied again.
    #[inline]
    pub(crate) fn gather<'a>(
        &mut self,
        parts: impl IntoIterator<Item = &'a [u8]>,
        total: usize,
        reserve: usize,
    ) {
        if self
            .tail
            .as_ref()
            .is_none_or(|t| t.capacity() - t.len() < total)
        {
            self.flush_tail();
            self.tail.get_or_insert_with(Box::default).reserve(reserve);
        }
        let tail = self.tail.get_or_insert_with(Box::default);
        for p in parts {
            tail.extend_from_slice(p);
        }
    }

    /// Apply a transition of the table; the caller has checked validity.
    pub(crate) fn apply(&mut self, input: Input) -> Result<(), InvalidTransition> {
        self.state = transition(self.state, input)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_write_their_bytes_in_pieces() {
        for (bytes, inline) in [
            (&b"\x00\x00\x00\x00\x10"[..], true),
            (&b"0123456789"[..], false),
        ] {
            let mut c = Chunk::small(bytes);
            assert_eq!(matches!(c, Chunk::Inline { .. }), inline);
            assert_eq!((c.len(), c.as_slice()), (bytes.len(), bytes));
            let mut out = bytes::BytesMut::new();
            c.write_front(2, &mut out);
            assert_eq!(c.as_slice(), &bytes[2..]);
            c.write_front(100, &mut out);
            assert!(c.is_empty());
            assert_eq!(&out[..], bytes);
        }
        assert!(Chunk::small(b"").is_empty());
    }

    const STATES: [State; 5] = [
        State::Idle,
        State::Open,
        State::HalfClosedLocal,
        State::HalfClosedRemote,
        State::Closed,
    ];
    const INPUTS: [Input; 6] = [
        Input::Send { end_stream: false },
        Input::Send { end_stream: true },
        Input::Recv { end_stream: false },
        Input::Recv { end_stream: true },
        Input::SendReset,
        Input::RecvReset,
    ];

    /// Every (state, input) pair: the expected result written out by hand
    /// from RFC 9113 §5.1's diagram.
    #[test]
    fn rfc9113_5_1_every_state_and_input() {
        use State::*;
        #[rustfmt::skip]
        let expected: [[Option<State>; 6]; 5] = [
            // send     send+end              recv     recv+end               sRST         rRST
            [Some(Open), Some(HalfClosedLocal), Some(Open), Some(HalfClosedRemote), None, None], // Idle
            [Some(Open), Some(HalfClosedLocal), Some(Open), Some(HalfClosedRemote), Some(Closed), Some(Closed)], // Open
            [None, None, Some(HalfClosedLocal), Some(Closed), Some(Closed), Some(Closed)], // HalfClosedLocal
            [Some(HalfClosedRemote), Some(Closed), None, None, Some(Closed), Some(Closed)], // HalfClosedRemote
            [None, None, None, None, None, None], // Closed
        ];
        for (si, s) in STATES.iter().enumerate() {
            for (ii, i) in INPUTS.iter().enumerate() {
                let got = transition(*s, *i).ok();
                assert_eq!(got, expected[si][ii], "{s:?} + {i:?}");
            }
        }
    }

    #[test]
    fn rfc9113_5_1_closed_is_terminal() {
        for i in INPUTS {
            assert_eq!(
                transition(State::Closed, i),
                Err(InvalidTransition {
                    from: State::Closed,
                    input: i
                })
            );
        }
    }
}
