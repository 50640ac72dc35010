//! The receive path: preface, frame dispatch, and every rule that needs
//! connection or stream state (RFC 9113 §3.4, §5, §6, §8).

use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};

use super::connection::{CloseKind, Connection, PendingBlock, Phase, PingPurpose, Role, Shutdown};
use super::error::{ConnectionError, Initiator};
use super::event::{Event, Fields};
use super::headers::Section;
use super::stream::{Input, RecvPhase, State, Stream};
use crate::frame::{
    self, Data, ErrorLevel, Frame, FrameError, FrameErrorKind, FrameHeader, GoAway, HEADER_LEN,
    Headers, Ping, Reason, RstStream, Settings, StreamId, WindowUpdate, flags, frame_type,
};
use crate::hpack::{Recall, Slot};

type Result<T = ()> = std::result::Result<T, ConnectionError>;

/// What [`Connection::lean_frame`] did with the front of the buffer.
enum Next {
    /// Read a frame.
    Done,
    /// No whole frame there yet.
    Wait,
    /// A frame for the general path.
    General,
}

/// Where a stream id stands for this connection.
enum Lookup {
    Live,
    Idle,
    Closed(Option<CloseKind>),
}

fn proto(why: &'static str) -> ConnectionError {
    ConnectionError::local(Reason::PROTOCOL_ERROR, why)
}

fn calm(why: &'static str) -> ConnectionError {
    ConnectionError::local(Reason::ENHANCE_YOUR_CALM, why)
}

impl Connection {
    /// Feed bytes read from the transport. Frames are processed at once;
    /// events queue for [`poll_event`](Self::poll_event) and replies for
    /// [`poll_transmit`](Self::poll_transmit).
    ///
    /// An `Err` is a connection error: a GOAWAY (where one applies) is
    /// already queued for transmission, and [`Event::Closed`] is queued
    /// too. Bytes that arrive after the connection ended are absorbed
    /// quietly.
    pub fn receive(&mut self, data: &[u8], now: Instant) -> Result {
        if self.phase == Phase::Closed {
            return Ok(());
        }
        self.last_recv = now;
        self.reads = self.reads.wrapping_add(1);
        if self.keepalive_deadline.is_some() {
            // Any bytes prove the peer alive; the PING answer will follow.
            self.keepalive_deadline = None;
        }
        self.recv_buf.extend_from_slice(data);
        match self.process(now) {
            Ok(()) => {
                // Time what is still incomplete from when it started.
                if self.recv_buf.is_empty() && self.continuation.is_none() {
                    self.partial_since = None;
                } else if self.partial_since.is_none() {
                    self.partial_since = Some(now);
                }
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    fn process(&mut self, now: Instant) -> Result {
        if self.phase == Phase::Preface {
            self.match_preface()?;
            if self.phase == Phase::Preface {
                return Ok(());
            }
        }
        while self.phase != Phase::Closed {
            match self.lean_frame(now)? {
                Next::Done => {}
                Next::Wait => break,
                Next::General => match self.decoder.decode(&mut self.recv_buf) {
                    Ok(None) => break,
                    Ok(Some(frame)) => self.on_frame(frame, now)?,
                    // A stream-level error answers with RST_STREAM: a control
                    // frame like any other, held to the same bound below.
                    Err(e) => self.frame_error(e, now)?,
                },
            }
            if self.control.len() - self.control_streams > self.config.max_pending_control {
                return Err(calm("peer does not read our control frames"));
            }
        }
        Ok(())
    }

    /// The frames of a call, read straight off the receive buffer without
    /// building a [`Frame`]: DATA without padding, and HEADERS without
    /// padding or priority that carry a whole block (END_HEADERS), once
    /// the connection is open and no block is waiting for CONTINUATION.
    /// A block the HPACK memo answers is read in place and never cut out
    /// of the buffer. Every other frame (and one too large, or on stream
    /// 0) goes to [`FrameDecoder`](crate::frame::FrameDecoder), which
    /// checks the rules these frames cannot break.
    #[inline]
    fn lean_frame(&mut self, now: Instant) -> Result<Next> {
        let Some(head) = FrameHeader::parse(&self.recv_buf) else {
            return Ok(Next::Wait);
        };
        if head.length > self.decoder.max_frame_size() {
            return Ok(Next::General);
        }
        let len = head.length as usize;
        if self.recv_buf.len() - HEADER_LEN < len {
            return Ok(Next::Wait);
        }
        if self.phase != Phase::Open || self.continuation.is_some() || head.stream_id.is_zero() {
            return Ok(Next::General);
        }
        let end_stream = head.has(flags::END_STREAM);
        match head.frame_type {
            frame_type::DATA if !head.has(flags::PADDED) => {
                // One cut of header and payload together, then the header
                // dropped from the shared slice.
                let mut data = self.recv_buf.split_to(HEADER_LEN + len).freeze();
                data.advance(HEADER_LEN);
                self.on_data(
                    Data {
                        stream_id: head.stream_id,
                        data,
                        end_stream,
                        pad_len: None,
                    },
                    now,
                )?;
            }
            frame_type::HEADERS
                if head.flags & (flags::END_HEADERS | flags::PADDED | flags::PRIORITY)
                    == flags::END_HEADERS =>
            {
                let limit = self.config.max_header_list_size as usize;
                let block = self
                    .recv_buf
                    .get(HEADER_LEN..HEADER_LEN + len)
                    .unwrap_or_default();
                let fields = match self.hpack_dec.recall(block, limit) {
                    Recall::Fields(shared, known) => {
                        if self.recv_buf.len() == HEADER_LEN + len {
                            // The last frame read: the buffer keeps its
                            // room from the start for the next read.
                            self.recv_buf.clear();
                        } else {
                            self.recv_buf.advance(HEADER_LEN + len);
                        }
                        Some(Fields::remembered(shared, known))
                    }
                    Recall::Decode(slot) => {
                        let mut block = self.recv_buf.split_to(HEADER_LEN + len).freeze();
                        block.advance(HEADER_LEN);
                        self.decode_fresh(&block, slot)?
                    }
                };
                self.on_fields(head.stream_id, fields, end_stream, false, now)?;
            }
            _ => return Ok(Next::General),
        }
        Ok(Next::Done)
    }

    fn match_preface(&mut self) -> Result {
        let want = frame::PREFACE;
        let have = self.recv_buf.len().min(want.len());
        if self.recv_buf[..have] != want[..have] {
            return match http1_request_line(&self.recv_buf) {
                // Wait for the end of the request line.
                None => Ok(()),
                Some(true) => {
                    self.http1_answer = Some(Bytes::from_static(HTTP1_ANSWER));
                    // Our SETTINGS must not follow an HTTP/1.1 answer.
                    self.control.clear();
                    self.control_streams = 0;
                    self.recv_buf.clear();
                    Err(ConnectionError::Http1Request)
                }
                Some(false) => Err(proto("invalid connection preface")),
            };
        }
        if have == want.len() {
            let _ = self.recv_buf.split_to(want.len());
            self.phase = Phase::AwaitSettings;
        }
        Ok(())
    }

    fn frame_error(&mut self, e: FrameError, now: Instant) -> Result {
        if self.phase == Phase::AwaitSettings && !e.is_connection_error() {
            // §3.4: whatever else is wrong with it, it is not SETTINGS.
            return Err(proto("first frame must be SETTINGS"));
        }
        match (e.level, e.kind) {
            (ErrorLevel::Stream(_), FrameErrorKind::HeadersSelfDependency(h))
                if self.continuation.is_none() =>
            {
                // §5.3.1: a stream error, but the block must still be
                // decoded to keep HPACK in step.
                self.on_headers(*h, true, now)
            }
            // §5.1: WINDOW_UPDATE on an idle stream is a connection error
            // whatever its increment, and §6.4 forbids RST_STREAM there.
            (ErrorLevel::Stream(id), FrameErrorKind::ZeroWindowIncrement) if self.is_idle(id) => {
                Err(proto("WINDOW_UPDATE on an idle stream"))
            }
            (ErrorLevel::Stream(id), _) if self.continuation.is_none() => {
                self.stream_error(id, e.code, now)
            }
            (_, kind) => Err(ConnectionError::GoAway {
                code: e.code,
                debug_data: Bytes::from(kind.to_string()),
                initiator: Initiator::Local,
            }),
        }
    }

    fn on_frame(&mut self, frame: Frame, now: Instant) -> Result {
        if self.phase == Phase::AwaitSettings {
            match &frame {
                Frame::Settings(s) if !s.ack => self.phase = Phase::Open,
                _ => return Err(proto("first frame must be SETTINGS")),
            }
        }
        if let Some(pending) = &self.continuation {
            return match frame {
                Frame::Continuation(c) if c.stream_id == pending.stream => {
                    self.on_continuation(c.fragment, c.end_headers, now)
                }
                _ => Err(proto("expected CONTINUATION")),
            };
        }
        match frame {
            Frame::Data(d) => self.on_data(d, now),
            Frame::Headers(h) => self.on_headers(h, false, now),
            Frame::Priority(_) => {
                // We do not act on priorities; a flood of them is still work.
                if !self.counters.empty.hit(now) {
                    return Err(calm("too many PRIORITY or empty frames"));
                }
                Ok(())
            }
            Frame::RstStream(r) => self.on_rst(r, now),
            Frame::Settings(s) => self.on_settings(s, now),
            Frame::PushPromise(_) => Err(proto("PUSH_PROMISE while push is disabled")),
            Frame::Ping(p) => self.on_ping(p, now),
            Frame::GoAway(g) => self.on_goaway(g, now),
            Frame::WindowUpdate(w) => self.on_window_update(w, now),
            Frame::Continuation(_) => Err(proto("CONTINUATION without a header block")),
            // §5.5: unknown frame types are ignored, but a flood of them
            // is still work (and bytes) we do for nothing.
            Frame::Unknown(_) => {
                if !self.counters.empty.hit(now) {
                    return Err(calm("too many frames of unknown types"));
                }
                Ok(())
            }
        }
    }

    fn lookup(&self, id: StreamId) -> Lookup {
        if self.streams.get(id.value()).is_some() {
            return Lookup::Live;
        }
        self.lookup_absent(id)
    }

    /// [`lookup`](Self::lookup) for a stream already known not to be
    /// live (never [`Lookup::Live`]).
    fn lookup_absent(&self, id: StreamId) -> Lookup {
        let highest = if self.is_peer_initiated(id) {
            self.last_peer_id
        } else {
            self.next_local_id.saturating_sub(2)
        };
        if id.value() > highest || (self.role == Role::Client && self.is_peer_initiated(id)) {
            Lookup::Idle
        } else {
            Lookup::Closed(self.closed.get(id.value()))
        }
    }

    /// Whether stream `id` is idle on the wire: never opened by the peer,
    /// or opened by us with its HEADERS not yet sent.
    fn is_idle(&self, id: StreamId) -> bool {
        match self.lookup(id) {
            Lookup::Idle => true,
            Lookup::Live => self
                .streams
                .get(id.value())
                .is_some_and(|s| s.state == State::Idle),
            Lookup::Closed(_) => false,
        }
    }

    /// A stream-level error: RST_STREAM with `code`, the stream forgotten,
    /// and the reset counted against the flood limit.
    pub(crate) fn stream_error(&mut self, id: StreamId, code: Reason, now: Instant) -> Result {
        RstStream {
            stream_id: id,
            code,
        }
        .encode(&mut self.control);
        let live = self.streams.get(id.value()).is_some();
        if live {
            self.forget_stream(id, CloseKind::ResetByUs);
            self.events.push_back(Event::StreamReset {
                stream: id,
                code,
                initiator: Initiator::Local,
            });
        } else {
            self.remember_closed(id, CloseKind::ResetByUs);
        }
        if !self.counters.resets.hit(now) {
            return Err(calm("too many stream resets"));
        }
        Ok(())
    }

    fn on_data(&mut self, d: Data, now: Instant) -> Result {
        let id = d.stream_id;
        let len = d.flow_controlled_len();
        if !self.conn_recv.admits(len) {
            return Err(ConnectionError::local(
                Reason::FLOW_CONTROL_ERROR,
                "connection window exceeded",
            ));
        }
        self.conn_recv.window.consume(len);
        // A live stream is found with one lookup; the rest is told apart
        // only when it is not.
        let Some(s) = self.streams.get_mut(id.value()) else {
            return match self.lookup_absent(id) {
                Lookup::Live => Ok(()),
                Lookup::Idle => Err(proto("DATA on an idle stream")),
                Lookup::Closed(how) => {
                    // The bytes will never reach the application: give them back.
                    self.release_connection(len);
                    match how {
                        Some(CloseKind::ResetByUs) => {
                            // Ignored, but an empty one is as much work
                            // for nothing as on a live stream.
                            let empty = d.data.is_empty() && !d.end_stream;
                            if empty && !self.counters.empty.hit(now) {
                                return Err(calm("too many PRIORITY or empty frames"));
                            }
                            Ok(())
                        }
                        Some(CloseKind::Ended) => Err(ConnectionError::local(
                            Reason::STREAM_CLOSED,
                            "DATA after END_STREAM",
                        )),
                        _ => self.stream_error(id, Reason::STREAM_CLOSED, now),
                    }
                }
            };
        };
        if s.state == State::Idle {
            // Opened by us, its HEADERS not yet sent: idle on the wire.
            return Err(proto("DATA on an idle stream"));
        }
        let verdict = if !matches!(s.state, State::Open | State::HalfClosedLocal) {
            Some(Reason::STREAM_CLOSED)
        } else if s.recv_phase == RecvPhase::Head {
            // DATA before the head: malformed (§8.1).
            Some(Reason::PROTOCOL_ERROR)
        } else if !s.recv.admits(len) {
            Some(Reason::FLOW_CONTROL_ERROR)
        } else {
            None
        };
        if let Some(code) = verdict {
            self.release_connection(len);
            return self.stream_error(id, code, now);
        }
        s.recv.window.consume(len);
        let data_len = d.data.len() as u32;
        s.data_received += u64::from(data_len);
        let length_bad = s
            .content_length
            .is_some_and(|cl| s.data_received > cl || (d.end_stream && s.data_received != cl));
        if length_bad {
            self.release_connection(len);
            return self.stream_error(id, Reason::PROTOCOL_ERROR, now);
        }
        let padding = len - data_len;
        if padding > 0 {
            // Padding never reaches the application.
            let _ = s.recv.release(padding);
        }
        if d.end_stream {
            s.recv_done = true;
        }
        let state = transition_recv(s, d.end_stream);
        if padding > 0 {
            self.release_connection(padding);
        }
        if d.data.is_empty() && !d.end_stream && !self.counters.empty.hit(now) {
            return Err(calm("too many PRIORITY or empty frames"));
        }
        if !d.data.is_empty() || d.end_stream {
            self.events.push_back(Event::Data {
                stream: id,
                data: d.data,
                end_stream: d.end_stream,
            });
        }
        if state == State::Closed {
            self.forget_stream(id, CloseKind::Ended);
        }
        Ok(())
    }

    fn on_headers(&mut self, h: Headers, self_dependent: bool, now: Instant) -> Result {
        if h.end_headers {
            return self.on_header_block(
                h.stream_id,
                h.fragment,
                h.end_stream,
                self_dependent,
                now,
            );
        }
        if h.fragment.len() > self.config.max_header_block_size {
            return Err(calm("header block too large"));
        }
        let mut buf = BytesMut::with_capacity(h.fragment.len());
        buf.extend_from_slice(&h.fragment);
        self.continuation = Some(PendingBlock {
            stream: h.stream_id,
            end_stream: h.end_stream,
            buf,
            frames: 0,
            self_dependent,
        });
        Ok(())
    }

    fn on_continuation(&mut self, fragment: Bytes, end_headers: bool, now: Instant) -> Result {
        let max_block = self.config.max_header_block_size;
        let max_frames = self.config.max_continuation_frames;
        let Some(p) = self.continuation.as_mut() else {
            return Err(proto("CONTINUATION without a header block"));
        };
        p.frames += 1;
        if p.frames > max_frames {
            return Err(calm("too many CONTINUATION frames"));
        }
        if p.buf.len() + fragment.len() > max_block {
            return Err(calm("header block too large"));
        }
        p.buf.extend_from_slice(&fragment);
        if !end_headers {
            return Ok(());
        }
        let Some(p) = self.continuation.take() else {
            return Ok(());
        };
        self.on_header_block(
            p.stream,
            p.buf.freeze(),
            p.end_stream,
            p.self_dependent,
            now,
        )
    }

    /// Decode a block; `Ok(None)` when the decoded list is over our limit
    /// (HPACK state is still in step).
    fn decode_block(&mut self, block: &Bytes) -> Result<Option<Fields>> {
        let limit = self.config.max_header_list_size as usize;
        match self.hpack_dec.recall(block, limit) {
            Recall::Fields(shared, known) => Ok(Some(Fields::remembered(shared, known))),
            Recall::Decode(slot) => self.decode_fresh(block, slot),
        }
    }

    /// [`decode_block`](Self::decode_block) for a block the HPACK memo
    /// did not answer.
    fn decode_fresh(&mut self, block: &Bytes, slot: Slot) -> Result<Option<Fields>> {
        // Every field takes at least one byte of the block: sized for the
        // whole list up front (within reason) rather than grown as it fills.
        let mut fields = self.field_list(block.len().min(32));
        let limit = self.config.max_header_list_size as usize;
        match self.hpack_dec.decode_into(block, slot, limit, &mut fields) {
            Ok(None) => Ok(Some(fields.into())),
            Ok(Some(shared)) => {
                self.recycle_list(fields);
                match self.hpack_dec.last_reused() {
                    Some(known) => Ok(Some(Fields::remembered(shared, known))),
                    None => Ok(Some(shared.to_vec().into())),
                }
            }
            Err(e) if e.is_connection_error() => Err(ConnectionError::local(
                Reason::COMPRESSION_ERROR,
                "HPACK decoding failed",
            )),
            Err(_) => {
                self.recycle_list(fields);
                Ok(None)
            }
        }
    }

    fn on_header_block(
        &mut self,
        id: StreamId,
        block: Bytes,
        end_stream: bool,
        self_dependent: bool,
        now: Instant,
    ) -> Result {
        // Decode first, whatever becomes of the stream: HPACK state must
        // follow every block the peer sends.
        let fields = self.decode_block(&block)?;
        drop(block);
        self.on_fields(id, fields, end_stream, self_dependent, now)
    }

    /// A decoded header block (`None`: over our list limit) on stream `id`.
    fn on_fields(
        &mut self,
        id: StreamId,
        fields: Option<Fields>,
        end_stream: bool,
        self_dependent: bool,
        now: Instant,
    ) -> Result {
        if self_dependent {
            if self.is_peer_initiated(id) && id.value() > self.last_peer_id {
                self.last_peer_id = id.value();
            }
            return self.stream_error(id, Reason::PROTOCOL_ERROR, now);
        }
        // A live stream is found with one lookup; the rest is told apart
        // only when it is not.
        let fields = match self.headers_on_live(id, fields, end_stream, now) {
            Ok(done) => return done,
            Err(fields) => fields,
        };
        match self.lookup_absent(id) {
            Lookup::Live => Ok(()),
            Lookup::Idle => {
                if !self.is_peer_initiated(id) || self.role == Role::Client {
                    return Err(proto("HEADERS on a stream the peer may not open"));
                }
                self.open_peer_stream(id, fields, end_stream, now)
            }
            Lookup::Closed(Some(CloseKind::ResetByUs)) => Ok(()),
            Lookup::Closed(Some(CloseKind::ResetByPeer)) => {
                self.stream_error(id, Reason::STREAM_CLOSED, now)
            }
            Lookup::Closed(Some(CloseKind::Ended)) => Err(ConnectionError::local(
                Reason::STREAM_CLOSED,
                "HEADERS after END_STREAM",
            )),
            Lookup::Closed(None) => Err(proto("stream identifier not increasing")),
        }
    }

    fn open_peer_stream(
        &mut self,
        id: StreamId,
        fields: Option<Fields>,
        end_stream: bool,
        now: Instant,
    ) -> Result {
        self.last_peer_id = id.value();
        if self.goaway_sent.is_some_and(|last| id.value() > last) {
            // Above the last stream of our GOAWAY: ignored (§6.8).
            self.remember_closed(id, CloseKind::ResetByUs);
            return Ok(());
        }
        if self.peer_open >= self.config.max_concurrent_streams {
            return self.stream_error(id, Reason::REFUSED_STREAM, now);
        }
        let (content_length, fields) = match fields {
            Some(fields) => match self.validated.check(
                Section::Request,
                &fields,
                self.hpack_dec.last_block_checked(),
                self.hpack_dec.last_known(),
            ) {
                Ok(info) => (info.content_length, Some(fields)),
                Err(_) => return self.stream_error(id, Reason::PROTOCOL_ERROR, now),
            },
            None => (None, None),
        };
        let mut s = self.new_stream(id);
        s.recv_phase = RecvPhase::Body;
        s.content_length = content_length;
        s.recv_done = end_stream;
        if end_stream && content_length.is_some_and(|cl| cl != 0) {
            return self.stream_error(id, Reason::PROTOCOL_ERROR, now);
        }
        // Idle, and the peer's HEADERS opens it (§5.1).
        s.state = if end_stream {
            State::HalfClosedRemote
        } else {
            State::Open
        };
        debug_assert_eq!(
            super::stream::transition(State::Idle, Input::Recv { end_stream }),
            Ok(s.state)
        );
        self.streams.insert(id.value(), s);
        self.peer_open += 1;
        self.events.push_back(match fields {
            Some(fields) => Event::Headers {
                stream: id,
                fields,
                end_stream,
            },
            None => Event::HeaderListTooLarge {
                stream: id,
                end_stream,
            },
        });
        Ok(())
    }

    /// A header block on stream `id` if it is live; `Err` hands the
    /// fields back when it is not.
    fn headers_on_live(
        &mut self,
        id: StreamId,
        fields: Option<Fields>,
        end_stream: bool,
        now: Instant,
    ) -> std::result::Result<Result, Option<Fields>> {
        let role = self.role;
        let Some(s) = self.streams.get_mut(id.value()) else {
            return Err(fields);
        };
        match s.state {
            State::Open | State::HalfClosedLocal => {}
            State::Idle => return Ok(Err(proto("HEADERS on a stream not yet opened"))),
            State::HalfClosedRemote | State::Closed => {
                return Ok(self.stream_error(id, Reason::STREAM_CLOSED, now));
            }
        }
        let Some(fields) = fields else {
            if end_stream {
                s.recv_done = true;
            }
            let state = transition_recv(s, end_stream);
            self.events.push_back(Event::HeaderListTooLarge {
                stream: id,
                end_stream,
            });
            if state == State::Closed {
                self.forget_stream(id, CloseKind::Ended);
            }
            return Ok(Ok(()));
        };
        let section = match (s.recv_phase, role) {
            (RecvPhase::Head, Role::Client) => Section::Response,
            (RecvPhase::Head, Role::Server) => Section::Request,
            (RecvPhase::Body, _) => Section::Trailers,
        };
        let checked = self.hpack_dec.last_block_checked();
        let known = self.hpack_dec.last_known();
        let info = match self.validated.check(section, &fields, checked, known) {
            Ok(info) => info,
            Err(_) => return Ok(self.stream_error(id, Reason::PROTOCOL_ERROR, now)),
        };
        match section {
            Section::Trailers => {
                // §8.1: trailers end the stream.
                let cl_bad = s.content_length.is_some_and(|cl| cl != s.data_received);
                if !end_stream || cl_bad {
                    return Ok(self.stream_error(id, Reason::PROTOCOL_ERROR, now));
                }
            }
            _ => {
                if let Some(status) = info.status.filter(|st| (100..200).contains(st)) {
                    // Interim response: nothing to report; 101 is not allowed.
                    if status == 101 || end_stream {
                        return Ok(self.stream_error(id, Reason::PROTOCOL_ERROR, now));
                    }
                    // Read for nothing: a flood of them is cut off as
                    // empty frames are.
                    if !self.counters.empty.hit(now) {
                        return Ok(Err(calm("too many interim responses")));
                    }
                    return Ok(Ok(()));
                }
                s.recv_phase = RecvPhase::Body;
                s.content_length = info.content_length;
                if end_stream && info.content_length.is_some_and(|cl| cl != 0) {
                    return Ok(self.stream_error(id, Reason::PROTOCOL_ERROR, now));
                }
            }
        }
        if end_stream {
            s.recv_done = true;
        }
        let state = transition_recv(s, end_stream);
        self.events.push_back(Event::Headers {
            stream: id,
            fields,
            end_stream,
        });
        if state == State::Closed {
            self.forget_stream(id, CloseKind::Ended);
        }
        Ok(Ok(()))
    }

    fn on_rst(&mut self, r: RstStream, now: Instant) -> Result {
        match self.lookup(r.stream_id) {
            Lookup::Idle => Err(proto("RST_STREAM on an idle stream")),
            Lookup::Closed(_) => Ok(()),
            Lookup::Live => {
                if self
                    .streams
                    .get(r.stream_id.value())
                    .is_some_and(|s| s.state == State::Idle)
                {
                    return Err(proto("RST_STREAM on an idle stream"));
                }
                self.forget_stream(r.stream_id, CloseKind::ResetByPeer);
                self.events.push_back(Event::StreamReset {
                    stream: r.stream_id,
                    code: r.code,
                    initiator: Initiator::Remote,
                });
                if !self.counters.resets.hit(now) {
                    return Err(calm("too many stream resets"));
                }
                Ok(())
            }
        }
    }

    fn on_settings(&mut self, s: Settings, now: Instant) -> Result {
        if s.ack {
            if self.settings_pending {
                self.settings_pending = false;
                self.settings_deadline = None;
                self.hpack_dec
                    .set_max_table_size(self.config.header_table_size as usize);
                self.events.push_back(Event::SettingsAcked);
            } else if !self.counters.empty.hit(now) {
                // An acknowledgement of nothing: only work for us.
                return Err(calm("too many SETTINGS acknowledgements"));
            }
            return Ok(());
        }
        if !self.counters.settings.hit(now) {
            return Err(calm("too many SETTINGS frames"));
        }
        if self.role == Role::Client && s.enable_push == Some(true) {
            return Err(proto("server enabled push"));
        }
        if let Some(size) = s.header_table_size {
            // We may use less than the peer allows; 16 KiB is plenty.
            self.hpack_enc
                .set_max_table_size((size as usize).min(16 << 10));
        }
        if let Some(v) = s.max_frame_size {
            self.peer.max_frame_size = v;
        }
        if let Some(v) = s.max_header_list_size {
            self.peer.max_header_list_size = Some(v);
        }
        if let Some(v) = s.max_concurrent_streams {
            let more = v > self.peer.max_concurrent_streams;
            self.peer.max_concurrent_streams = v;
            if more {
                self.events.push_back(Event::StreamCapacity);
            }
        }
        if let Some(v) = s.initial_window_size {
            let delta = i64::from(v) - i64::from(self.peer.initial_window_size);
            self.peer.initial_window_size = v;
            if delta != 0 {
                let mut reopened = Vec::new();
                for st in self.streams.values_mut() {
                    if st.send_window.grow(delta).is_err() {
                        return Err(ConnectionError::local(
                            Reason::FLOW_CONTROL_ERROR,
                            "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window",
                        ));
                    }
                    if delta > 0 && !st.queue.is_empty() {
                        reopened.push(st.id);
                    }
                }
                for id in reopened {
                    self.schedule(id);
                }
            }
        }
        Settings {
            ack: true,
            ..Settings::default()
        }
        .encode(&mut self.control);
        Ok(())
    }

    fn on_ping(&mut self, p: Ping, now: Instant) -> Result {
        if p.ack {
            if let Some(i) = self.pings.iter().position(|(pl, ..)| *pl == p.payload) {
                let (payload, sent, purpose) = self.pings.swap_remove(i);
                let rtt = now.saturating_duration_since(sent);
                self.rtt = Some(rtt);
                match purpose {
                    PingPurpose::Keepalive => self.keepalive_deadline = None,
                    PingPurpose::Shutdown => self.final_goaway(),
                    PingPurpose::User => {}
                }
                self.events.push_back(Event::PingAcked { payload, rtt });
            } else if !self.counters.empty.hit(now) {
                // An acknowledgement of no PING of ours: only work for us.
                return Err(calm("too many PING acknowledgements"));
            }
            return Ok(());
        }
        if !self.counters.pings.hit(now) {
            return Err(calm("too many PINGs"));
        }
        if let Some(policy) = self.config.ping_policy {
            // With no stream open (and that not permitted), the shortest
            // interval becomes two hours, as gRPC's C core and grpc-go
            // count it: a client's first idle PING is no strike. A longer
            // `min_interval` still holds: not permitting PINGs without
            // streams must not let more of them through.
            let min_interval = if self.streams.is_empty() && !policy.permit_without_streams {
                IDLE_PING_INTERVAL.max(policy.min_interval)
            } else {
                policy.min_interval
            };
            let too_soon = self
                .last_peer_ping
                .is_some_and(|t| now.saturating_duration_since(t) < min_interval);
            self.last_peer_ping = Some(now);
            if too_soon {
                self.ping_strikes += 1;
                if self.ping_strikes > policy.max_strikes {
                    return Err(calm("too_many_pings"));
                }
            }
        }
        if self.role == Role::Client {
            // A server's graceful shutdown sends its final GOAWAY when this
            // answer arrives, counting every stream opened before it: the
            // answer must not overtake the opening of a stream we started
            // before it.
            self.write_queued_openings();
        }
        Ping {
            ack: true,
            payload: p.payload,
        }
        .encode(&mut self.control);
        Ok(())
    }

    fn on_goaway(&mut self, g: GoAway, now: Instant) -> Result {
        let last = g.last_stream_id.value();
        if g.code == Reason::NO_ERROR && self.goaway_received.is_some_and(|prev| last >= prev) {
            // Nothing new (the streams above `prev` are already settled):
            // like an empty frame, only work for us, and counted so.
            if !self.counters.empty.hit(now) {
                return Err(calm("too many GOAWAY frames that change nothing"));
            }
            return Ok(());
        }
        let last = self.goaway_received.map_or(last, |prev| prev.min(last));
        self.goaway_received = Some(last);
        self.events.push_back(Event::GoAway {
            last_stream_id: StreamId::new(last),
            code: g.code,
            debug_data: g.debug_data.clone(),
        });
        // Streams we opened above `last` were never processed.
        let refused: Vec<StreamId> = self
            .streams
            .values()
            .map(|s| s.id)
            .filter(|id| !self.is_peer_initiated(*id) && id.value() > last)
            .collect();
        for id in refused {
            // The refusal is reported before forgetting the stream, which
            // may end the connection: a caller then learns that the
            // stream was refused, not merely that the connection closed.
            self.events.push_back(Event::StreamReset {
                stream: id,
                code: Reason::REFUSED_STREAM,
                initiator: Initiator::Remote,
            });
            self.forget_stream(id, CloseKind::ResetByPeer);
        }
        if g.code != Reason::NO_ERROR {
            return Err(ConnectionError::GoAway {
                code: g.code,
                debug_data: g.debug_data,
                initiator: Initiator::Remote,
            });
        }
        if self.role == Role::Server && self.shutdown == Shutdown::None {
            // The client will open nothing more; finish when idle.
            self.shutdown = Shutdown::Draining;
            if self.goaway_sent.is_none() {
                self.send_goaway(self.last_peer_id, Reason::NO_ERROR, Bytes::new());
            }
        }
        self.maybe_finish();
        Ok(())
    }

    fn on_window_update(&mut self, w: WindowUpdate, now: Instant) -> Result {
        let c = &mut self.counters;
        if c.window_update_credit > 0 {
            // Earned by DATA we sent: the peer is acknowledging it.
            c.window_update_credit -= 1;
        } else if !c.window_updates.hit(now) {
            return Err(calm("too many WINDOW_UPDATE frames"));
        }
        let inc = i64::from(w.increment);
        if w.stream_id.is_zero() {
            if self.conn_send.grow(inc).is_err() {
                return Err(ConnectionError::local(
                    Reason::FLOW_CONTROL_ERROR,
                    "connection window overflow",
                ));
            }
            let waiting: Vec<StreamId> = self
                .streams
                .values()
                .filter(|s| !s.queue.is_empty() && !s.scheduled)
                .map(|s| s.id)
                .collect();
            for id in waiting {
                self.schedule(id);
            }
            return Ok(());
        }
        match self.lookup(w.stream_id) {
            Lookup::Idle => Err(proto("WINDOW_UPDATE on an idle stream")),
            Lookup::Closed(_) => Ok(()),
            Lookup::Live => {
                let Some(s) = self.streams.get_mut(w.stream_id.value()) else {
                    return Ok(());
                };
                if s.state == State::Idle {
                    return Err(proto("WINDOW_UPDATE on an idle stream"));
                }
                if s.send_window.grow(inc).is_err() {
                    return self.stream_error(w.stream_id, Reason::FLOW_CONTROL_ERROR, now);
                }
                self.schedule(w.stream_id);
                Ok(())
            }
        }
    }
}

/// Apply a receive transition that the caller has already checked.
fn transition_recv(s: &mut Stream, end_stream: bool) -> State {
    let _ = s.apply(Input::Recv { end_stream });
    s.state
}

/// Whether the bytes that failed to match the preface are an HTTP/1.x
/// request line: `Some(true)` yes, `Some(false)` no, `None` not yet known
/// (the line has not ended; at most 8 KiB is waited for).
fn http1_request_line(buf: &[u8]) -> Option<bool> {
    let method_len = buf.iter().take_while(|b| b.is_ascii_uppercase()).count();
    if method_len == buf.len() {
        return (buf.len() > 16).then_some(false);
    }
    if method_len == 0 || method_len > 16 || buf.get(method_len) != Some(&b' ') {
        return Some(false);
    }
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(end) => {
            let line = &buf[..end];
            Some(line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0"))
        }
        None if buf.len() > 8192 => Some(false),
        None => None,
    }
}

/// The shortest interval between a peer's PINGs on a connection with no
/// stream open, where PINGs without streams are not permitted (gRPC's
/// C core and grpc-go both use two hours).
const IDLE_PING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2 * 60 * 60);

/// The answer to a client that spoke HTTP/1.x to a gRPC port.
const HTTP1_ANSWER: &[u8] = b"HTTP/1.1 505 HTTP Version Not Supported\r\n\
content-type: text/plain\r\n\
connection: close\r\n\
content-length: 36\r\n\
\r\n\
this endpoint speaks HTTP/2 (gRPC)\r\n";
