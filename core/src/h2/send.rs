//! The send path: control frames first, then streams in round-robin order,
//! one frame per stream per turn, within the peer's windows.

use std::collections::hash_map::Entry;

use bytes::BytesMut;

use super::connection::{CloseKind, Connection, Phase, Role};
use super::event::Event;
use super::stream::{Chunk, FieldList, Input, Outbound, State, Stream};
use crate::frame::{self, StreamId};

impl Connection {
    /// Append bytes to send to `dst`; returns how many were appended. Call
    /// it until it returns 0 (each call appends about `transmit_chunk`
    /// bytes at most), and after every input or action.
    ///
    /// A server holds its SETTINGS back until the client preface has
    /// arrived: a client that spoke HTTP/1.x then reads a clean HTTP/1.1
    /// answer, not binary frames before it.
    #[inline]
    pub fn poll_transmit(&mut self, dst: &mut BytesMut) -> usize {
        // The last call of a round finds nothing: it returns before the
        // work's setup.
        if !self.has_output() {
            return 0;
        }
        self.transmit(dst)
    }

    /// [`poll_transmit`](Self::poll_transmit) with output to write.
    fn transmit(&mut self, dst: &mut BytesMut) -> usize {
        let start = dst.len();
        if let Some(answer) = self.http1_answer.take() {
            dst.extend_from_slice(&answer);
            return dst.len() - start;
        }
        if self.phase == Phase::Preface && self.role == Role::Server {
            return 0;
        }
        if !self.control.is_empty() {
            dst.extend_from_slice(&self.control);
            self.control.clear();
            self.control_streams = 0;
        }
        if self.phase == Phase::Closed {
            return dst.len() - start;
        }
        let budget = self.config.transmit_chunk;
        // Each stream gets one frame per turn; a stream that cannot send
        // leaves the ready list until a window or new data brings it back.
        while dst.len() - start < budget {
            let Some(id) = self.ready.pop_front() else {
                break;
            };
            let again = self.send_one(id, dst);
            match again {
                Turn::Again => self.ready.push_back(id),
                Turn::Idle => {
                    if let Some(s) = self.streams.get_mut(id.value()) {
                        s.scheduled = false;
                    }
                }
            }
        }
        self.room_freed();
        dst.len() - start
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) may have bytes now.
    /// `false` means it would return 0, so a driver that just gave the
    /// connection input (released capacity, say) need not wake its writer.
    #[inline]
    pub fn has_output(&self) -> bool {
        self.http1_answer.is_some()
            || (!(self.phase == Phase::Preface && self.role == Role::Server)
                && (!self.control.is_empty()
                    || (self.phase != Phase::Closed && !self.ready.is_empty())))
    }

    /// Write one frame for stream `id`.
    fn send_one(&mut self, id: StreamId, dst: &mut BytesMut) -> Turn {
        let peer_max_frame = self.peer.max_frame_size as usize;
        let conn_avail = self.conn_send.available() as usize;
        let max_buffer = self.config.max_send_buffer;
        let Some(s) = self.streams.get_mut(id.value()) else {
            return Turn::Idle;
        };
        s.flush_tail();
        let Some(item) = s.queue.front_mut() else {
            return Turn::Idle;
        };
        let end_sent;
        match item {
            Outbound::Reset(code) => {
                let code = *code;
                crate::frame::RstStream {
                    stream_id: id,
                    code,
                }
                .encode(dst);
                self.forget_stream(id, CloseKind::ResetByUs);
                return Turn::Idle;
            }
            Outbound::Headers { .. } => {
                let Some(Outbound::Headers { fields, end_stream }) = s.queue.pop_front() else {
                    return Turn::Idle;
                };
                let end = end_stream;
                Self::write_block(
                    &mut self.hpack_enc,
                    &mut self.field_pool,
                    id,
                    (fields, end),
                    peer_max_frame as u32,
                    dst,
                );
                end_sent = end;
                self.forgive_pings();
            }
            Outbound::Data { .. } => {
                // One DATA frame takes as many queued pieces as fit the
                // windows and the peer's frame size (a message's prefix and
                // payload, and an END_STREAM marker, travel together).
                let budget = (s.send_window.available() as usize)
                    .min(conn_avail)
                    .min(peer_max_frame);
                let mut len = 0usize;
                let mut end = false;
                for item in &s.queue {
                    let Outbound::Data { data, end_stream } = item else {
                        break;
                    };
                    let room = budget - len;
                    if data.len() > room {
                        len += room;
                        break;
                    }
                    len += data.len();
                    if *end_stream {
                        end = true;
                        break;
                    }
                }
                if len == 0 && !end {
                    // Waiting on flow control.
                    return Turn::Idle;
                }
                let credit = &mut self.counters.window_update_credit;
                *credit = credit.saturating_add(2).min(WINDOW_UPDATE_CREDIT_CAP);
                frame::FrameHeader {
                    length: len as u32,
                    frame_type: frame::frame_type::DATA,
                    flags: if end { frame::flags::END_STREAM } else { 0 },
                    stream_id: id,
                }
                .encode(dst);
                let mut left = len;
                while let Some(Outbound::Data { data, end_stream }) = s.queue.front_mut() {
                    if data.len() > left {
                        data.write_front(left, dst);
                        left = 0;
                        break;
                    }
                    let last = *end_stream;
                    left -= data.len();
                    dst.extend_from_slice(data.as_slice());
                    s.queue.pop_front();
                    if last || (left == 0 && !end) {
                        break;
                    }
                }
                debug_assert_eq!(left, 0);
                s.send_window.consume(len as u32);
                self.conn_send.consume(len as u32);
                s.queued_bytes -= len;
                self.queued_total -= len;
                end_sent = end;
                self.forgive_pings();
            }
        }
        let Some(s) = self.streams.get_mut(id.value()) else {
            return Turn::Idle;
        };
        let _ = s.apply(Input::Send {
            end_stream: end_sent,
        });
        // A stream waiting for room in the connection's queues hears from
        // `room_freed` instead.
        if s.wants_writable && !s.waits_room && s.queued_bytes < max_buffer {
            s.wants_writable = false;
            self.events.push_back(Event::Writable { stream: id });
        }
        if s.state == State::Closed {
            self.forget_stream(id, CloseKind::Ended);
            return Turn::Idle;
        }
        if s.queue.is_empty() {
            Turn::Idle
        } else {
            Turn::Again
        }
    }

    /// Write `fields` as stream `id`'s header block into `dst`, in wire
    /// order (the encoder's table follows what it encodes). A shared list
    /// the encoder remembers the block of (a usual head or trailers) goes
    /// out inline, its frame header made from the block's known length
    /// ([`write_remembered`]); any other is encoded by
    /// [`write_block_fresh`](Self::write_block_fresh).
    #[inline(always)]
    fn write_block(
        enc: &mut crate::hpack::Encoder,
        pool: &mut Vec<Vec<crate::hpack::HeaderField>>,
        id: StreamId,
        (fields, end_stream): (FieldList, bool),
        max_frame: u32,
        dst: &mut BytesMut,
    ) {
        if let Err(fields) = write_remembered(enc, id, fields, end_stream, max_frame, dst) {
            Self::write_block_fresh(enc, pool, id, (fields, end_stream), max_frame, dst);
        }
    }

    /// [`write_block`](Self::write_block) for a block the encoder does
    /// not hold whole: HPACK-encoded in place after a HEADERS frame header
    /// whose length is filled in once known. A block longer than
    /// `max_frame` is moved out again and split into CONTINUATION frames.
    fn write_block_fresh(
        enc: &mut crate::hpack::Encoder,
        pool: &mut Vec<Vec<crate::hpack::HeaderField>>,
        id: StreamId,
        (fields, end_stream): (FieldList, bool),
        max_frame: u32,
        dst: &mut BytesMut,
    ) {
        let end = if end_stream {
            frame::flags::END_STREAM
        } else {
            0
        };
        let at = dst.len();
        dst.extend_from_slice(&[0; frame::HEADER_LEN]);
        match fields {
            FieldList::Owned(fields) => {
                enc.encode_block(&fields, dst);
                super::connection::recycle(pool, fields);
            }
            FieldList::Shared(fields) => enc.encode_shared(&fields, dst),
            FieldList::SharedTimeout(fields, timeout) => enc.encode_shared_plus(
                &fields,
                crate::grpc::timeout::GRPC_TIMEOUT.as_bytes(),
                timeout.as_bytes(),
                dst,
            ),
        }
        let len = dst.len() - at - frame::HEADER_LEN;
        if len > max_frame as usize {
            let block = dst.split_off(at + frame::HEADER_LEN);
            dst.truncate(at);
            frame::encode_header_block(id, &block, end_stream, max_frame, dst);
            return;
        }
        let head = frame::FrameHeader {
            length: len as u32,
            frame_type: frame::frame_type::HEADERS,
            flags: frame::flags::END_HEADERS | end,
            stream_id: id,
        };
        if let Some(slot) = dst.get_mut(at..at + frame::HEADER_LEN) {
            slot.copy_from_slice(&head.octets());
        }
    }

    /// [`write_block`](Self::write_block) into the output buffer, past the
    /// stream queues; its bytes are stream frames, not control frames.
    fn write_block_now(&mut self, id: StreamId, fields: FieldList, end_stream: bool) {
        let start = self.control.len();
        Self::write_block(
            &mut self.hpack_enc,
            &mut self.field_pool,
            id,
            (fields, end_stream),
            self.peer.max_frame_size,
            &mut self.control,
        );
        self.control_streams += self.control.len() - start;
    }

    /// Whether a body of `len` bytes (with a head and trailers around it)
    /// can be written on `stream` at once, past its queue: the stream has
    /// nothing queued and may still send, the body is small
    /// ([`WHOLE_MAX_BODY`]) and fits the windows and one frame, and the
    /// output holds less than `transmit_chunk`.
    pub(crate) fn can_write_whole(&self, stream: StreamId, len: usize) -> bool {
        self.whole_room(len).is_some_and(|room| {
            self.streams
                .get(stream.value())
                .is_some_and(|s| fits_whole(s, len, room))
        })
    }

    /// The connection's half of [`can_write_whole`](Self::can_write_whole):
    /// `None` if no body of `len` bytes can be written whole now, else the
    /// room the connection window and the peer's frame size leave.
    #[inline]
    pub(crate) fn whole_room(&self, len: usize) -> Option<usize> {
        if len > WHOLE_MAX_BODY
            || self.phase == Phase::Closed
            || (self.phase == Phase::Preface && self.role == Role::Server)
            || self.control.len() >= self.config.transmit_chunk
        {
            return None;
        }
        Some((self.conn_send.available() as usize).min(self.peer.max_frame_size as usize))
    }

    /// Write a stream's remaining output at once, in wire order, into the
    /// output: `head` (if any), the body as one DATA frame, and `trailers`
    /// (if any); END_STREAM goes on the last. The caller has checked
    /// [`can_write_whole`](Self::can_write_whole) for the body.
    pub(crate) fn write_whole(
        &mut self,
        id: StreamId,
        head: Option<FieldList>,
        body: &[Chunk],
        trailers: Option<FieldList>,
    ) {
        let len = self.write_whole_frames(id, head, body, trailers);
        let Entry::Occupied(mut entry) = self.streams.entry(id.value()) else {
            return;
        };
        if sent_whole(entry.get_mut(), len) {
            let s = entry.remove();
            self.forget_removed(id, s, CloseKind::Ended);
        }
    }

    /// The frames of [`write_whole`](Self::write_whole), and what they
    /// do to the connection (its window, the WINDOW_UPDATE credit, the
    /// PING strikes); the stream's part is [`sent_whole`]'s. Returns the
    /// body's length.
    pub(crate) fn write_whole_frames(
        &mut self,
        id: StreamId,
        head: Option<FieldList>,
        body: &[Chunk],
        trailers: Option<FieldList>,
    ) -> u32 {
        let start = self.control.len();
        let max_frame = self.peer.max_frame_size;
        if let Some(fields) = head {
            Self::write_block(
                &mut self.hpack_enc,
                &mut self.field_pool,
                id,
                (fields, false),
                max_frame,
                &mut self.control,
            );
        }
        let len: usize = body.iter().map(Chunk::len).sum();
        let body_ends = trailers.is_none();
        let head = frame::FrameHeader {
            length: len as u32,
            frame_type: frame::frame_type::DATA,
            flags: if body_ends {
                frame::flags::END_STREAM
            } else {
                0
            },
            stream_id: id,
        }
        .octets();
        // The frame header and a first piece held inline (a message's
        // prefix) go out in one append.
        let rest = match body {
            [Chunk::Inline { buf, start: 0, end }, rest @ ..] => {
                let mut first = [0u8; frame::HEADER_LEN + Chunk::INLINE];
                let (h, b) = first.split_at_mut(frame::HEADER_LEN);
                h.copy_from_slice(&head);
                b.copy_from_slice(buf);
                let n = frame::HEADER_LEN + usize::from(*end);
                self.control
                    .extend_from_slice(first.get(..n).unwrap_or_default());
                rest
            }
            _ => {
                self.control.extend_from_slice(&head);
                body
            }
        };
        for piece in rest {
            self.control.extend_from_slice(piece.as_slice());
        }
        if let Some(fields) = trailers {
            Self::write_block(
                &mut self.hpack_enc,
                &mut self.field_pool,
                id,
                (fields, true),
                max_frame,
                &mut self.control,
            );
        }
        self.control_streams += self.control.len() - start;
        self.conn_send.consume(len as u32);
        let credit = &mut self.counters.window_update_credit;
        *credit = credit.saturating_add(2).min(WINDOW_UPDATE_CREDIT_CAP);
        self.forgive_pings();
        len as u32
    }

    /// Write into the output, in identifier order, the opening HEADERS of
    /// the streams that still wait to send them, so that control frames
    /// queued after this call come after them on the wire.
    pub(crate) fn write_queued_openings(&mut self) {
        let mut waiting: Vec<StreamId> = self
            .ready
            .iter()
            .copied()
            .filter(|id| {
                self.streams.get(id.value()).is_some_and(|s| {
                    s.state == State::Idle
                        && matches!(s.queue.front(), Some(Outbound::Headers { .. }))
                })
            })
            .collect();
        waiting.sort_unstable_by_key(|id| id.value());
        for id in waiting {
            let Some(s) = self.streams.get_mut(id.value()) else {
                continue;
            };
            // What was gathered behind the HEADERS joins the queue first,
            // so that the queue is not left empty with bytes in the tail.
            s.flush_tail();
            let Some(Outbound::Headers { fields, end_stream }) = s.queue.pop_front() else {
                continue;
            };
            self.write_block_now(id, fields, end_stream);
            let Some(s) = self.streams.get_mut(id.value()) else {
                continue;
            };
            let _ = s.apply(Input::Send { end_stream });
            if s.state == State::Closed {
                self.forget_stream(id, CloseKind::Ended);
            }
        }
    }
}

/// Write `fields` as stream `id`'s header block into `dst` when the HPACK
/// encoder remembers its block whole (a shared list: the usual heads and
/// OK trailers), inline; otherwise give `fields` back for
/// [`Connection::write_block`].
#[inline(always)]
fn write_remembered(
    enc: &crate::hpack::Encoder,
    id: StreamId,
    fields: FieldList,
    end_stream: bool,
    max_frame: u32,
    dst: &mut BytesMut,
) -> Result<(), FieldList> {
    if let FieldList::Shared(list) = &fields {
        if let Some(block) = enc
            .shared_block(list)
            .filter(|b| b.len() <= max_frame as usize)
        {
            let end = if end_stream {
                frame::flags::END_STREAM
            } else {
                0
            };
            let head = frame::FrameHeader {
                length: block.len() as u32,
                frame_type: frame::frame_type::HEADERS,
                flags: frame::flags::END_HEADERS | end,
                stream_id: id,
            };
            dst.extend_from_slice(&head.octets());
            dst.extend_from_slice(block);
            return Ok(());
        }
    }
    Err(fields)
}

/// Whether stream `s` may take a body of `len` bytes written whole, the
/// connection leaving `room` (see [`Connection::whole_room`]): it has
/// nothing queued, may still send, and its window takes the body.
#[inline]
pub(crate) fn fits_whole(s: &Stream, len: usize, room: usize) -> bool {
    s.queue.is_empty()
        && !s.send_done
        && !matches!(s.state, State::HalfClosedLocal | State::Closed)
        && len <= room.min(s.send_window.available() as usize)
}

/// Stream `s` had its remaining output written whole, with a body of
/// `len` bytes, END_STREAM on the last frame: its window, its state.
/// True if it is now closed.
#[inline]
pub(crate) fn sent_whole(s: &mut Stream, len: u32) -> bool {
    s.send_window.consume(len);
    s.send_done = true;
    // The frames before the last carry no END_STREAM (there may be none:
    // the transitions are the same).
    let _ = s.apply(Input::Send { end_stream: false });
    let _ = s.apply(Input::Send { end_stream: true });
    s.state == State::Closed
}

/// The largest body written whole. Larger ones take the queue, which
/// copies them once, into the caller's buffer, instead of twice.
const WHOLE_MAX_BODY: usize = 16 << 10;

/// The most WINDOW_UPDATE frames that DATA we sent can excuse from the
/// flood limit at one time.
const WINDOW_UPDATE_CREDIT_CAP: u32 = 1 << 16;

/// Whether a stream stays in the ready list after its turn.
enum Turn {
    Again,
    Idle,
}
