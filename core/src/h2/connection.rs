//! The HTTP/2 connection: its state, its public actions, its timers.
//! Frame handling lives in `recv.rs`, output scheduling in `send.rs`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::closed::ClosedStreams;
use super::config::Config;
use super::error::{ConnectionError, Initiator, SendError};
use super::event::{Event, Fields};
use super::flow::{DEFAULT_WINDOW, RecvFlow, Window};
use super::idmap::IdMap;
use super::limits::RateCounter;
use super::stream::{Chunk, FieldList, Outbound, State, Stream};
use crate::frame::{self, FrameDecoder, GoAway, Ping, Reason, RstStream, Settings, StreamId};
use crate::hpack::{self, HeaderField};

/// Which side of the connection this endpoint plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends the preface, opens streams (odd identifiers).
    Client,
    /// Validates the preface, answers streams.
    Server,
}

/// How a stream we no longer track was closed; decides what a late frame
/// on it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseKind {
    /// We sent RST_STREAM: late frames are ignored (§5.1, closed).
    ResetByUs,
    /// The peer sent RST_STREAM: further frames are a stream error.
    ResetByPeer,
    /// Both sides sent END_STREAM: further frames are a connection error
    /// STREAM_CLOSED.
    Ended,
}

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Server: matching the client preface.
    Preface,
    /// Waiting for the peer's first SETTINGS frame.
    AwaitSettings,
    /// Running.
    Open,
    /// Ended; input is absorbed quietly.
    Closed,
}

/// The peer's settings as they apply to what we send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerSettings {
    pub(crate) max_concurrent_streams: u32,
    pub(crate) initial_window_size: u32,
    pub(crate) max_frame_size: u32,
    pub(crate) max_header_list_size: Option<u32>,
}

impl Default for PeerSettings {
    fn default() -> Self {
        PeerSettings {
            max_concurrent_streams: u32::MAX,
            initial_window_size: DEFAULT_WINDOW,
            max_frame_size: 16_384,
            max_header_list_size: None,
        }
    }
}

/// Why we sent a PING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PingPurpose {
    User,
    Keepalive,
    Shutdown,
}

/// Graceful shutdown progress (server: two GOAWAYs around a PING).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shutdown {
    None,
    /// First GOAWAY (last stream 2^31-1) and a PING sent; the final GOAWAY
    /// goes out on the PING's acknowledgement or at the deadline.
    Announced {
        deadline: Instant,
    },
    /// Final GOAWAY sent; waiting for streams to finish.
    Draining,
}

/// A header block being assembled from HEADERS + CONTINUATION.
#[derive(Debug)]
pub(crate) struct PendingBlock {
    pub(crate) stream: StreamId,
    pub(crate) end_stream: bool,
    pub(crate) buf: BytesMut,
    pub(crate) frames: u32,
    /// The HEADERS made its stream depend on itself: reset it once the
    /// block is decoded.
    pub(crate) self_dependent: bool,
}

/// Flood counters.
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) resets: RateCounter,
    pub(crate) pings: RateCounter,
    pub(crate) settings: RateCounter,
    pub(crate) empty: RateCounter,
    pub(crate) window_updates: RateCounter,
    /// WINDOW_UPDATE frames the peer may send without counting against
    /// `window_updates`: each DATA frame we send earns two (one for the
    /// stream, one for the connection), up to a cap.
    pub(crate) window_update_credit: u32,
}

/// One HTTP/2 connection, client or server, as a sans-I/O state machine.
///
/// The run loop an adapter or embedder writes:
///
/// ```text
/// loop {
///     n = read(socket)            -> conn.receive(&buf[..n], now)   (EOF: conn.receive_eof())
///     conn.poll_event()           -> handle events until None
///     application actions         -> conn.open_stream / send_data / send_headers / reset ...
///     conn.poll_transmit(&mut out)-> write `out`; repeat until it appends nothing
///     conn.poll_timeout()         -> sleep until then at most, then conn.handle_timeout(now)
/// }
/// ```
///
/// The connection never reads a clock: every input that depends on time
/// takes `now`.
#[derive(Debug)]
pub struct Connection {
    pub(crate) role: Role,
    pub(crate) config: Config,
    pub(crate) phase: Phase,
    pub(crate) recv_buf: BytesMut,
    pub(crate) decoder: FrameDecoder,
    pub(crate) hpack_dec: hpack::Decoder,
    /// Validation results of remembered header blocks.
    pub(crate) validated: super::headers::Validated,
    pub(crate) hpack_enc: hpack::Encoder,
    pub(crate) streams: IdMap<Stream>,
    pub(crate) closed: ClosedStreams,
    /// Next identifier for a stream we open (client: odd).
    /// Emptied header lists given back by [`Connection::recycle_fields`],
    /// reused for the next decoded blocks.
    pub(crate) field_pool: Vec<Vec<HeaderField>>,
    /// Emptied send queues of closed streams, reused by new streams.
    pub(crate) queue_pool: Vec<VecDeque<Outbound>>,
    pub(crate) next_local_id: u32,
    /// Highest identifier of a stream the peer opened.
    pub(crate) last_peer_id: u32,
    /// Streams opened by the peer and not yet closed.
    pub(crate) peer_open: u32,
    /// Streams opened by us and not yet closed.
    pub(crate) local_open: u32,
    pub(crate) peer: PeerSettings,
    /// Our SETTINGS is not yet acknowledged.
    pub(crate) settings_pending: bool,
    pub(crate) settings_deadline: Option<Instant>,
    pub(crate) conn_send: Window,
    pub(crate) conn_recv: RecvFlow,
    /// Encoded frames waiting to be written, in wire order: control
    /// frames (bounded by `max_pending_control`), and the frames of calls
    /// written whole past the stream queues (see
    /// [`Connection::can_write_whole`]).
    pub(crate) control: BytesMut,
    /// How many bytes of `control` are stream frames written whole (they
    /// do not count against `max_pending_control`).
    pub(crate) control_streams: usize,
    /// Streams with something to send, in round-robin order.
    pub(crate) ready: VecDeque<StreamId>,
    /// DATA bytes queued over all streams (bounded by
    /// `max_connection_send_buffer`).
    pub(crate) queued_total: usize,
    /// Streams refused a send because `queued_total` was at its bound.
    pub(crate) room_waiters: Vec<StreamId>,
    pub(crate) events: crate::queue::Queue<Event>,
    /// Whether a stream of ours closing is reported as
    /// [`Event::StreamCapacity`] (always, unless the layer above says
    /// nothing of its waits for one).
    pub(crate) report_capacity: bool,
    pub(crate) continuation: Option<PendingBlock>,
    pub(crate) pings: Vec<([u8; 8], Instant, PingPurpose)>,
    pub(crate) ping_seq: u64,
    pub(crate) last_recv: Instant,
    pub(crate) keepalive_deadline: Option<Instant>,
    pub(crate) last_peer_ping: Option<Instant>,
    pub(crate) ping_strikes: u32,
    pub(crate) counters: Counters,
    /// Last stream id in the GOAWAY we sent, if any.
    pub(crate) goaway_sent: Option<u32>,
    /// Last stream id in the GOAWAY we received, if any.
    pub(crate) goaway_received: Option<u32>,
    pub(crate) shutdown: Shutdown,
    pub(crate) rtt: Option<Duration>,
    /// Since when an incomplete frame, header block or preface has been
    /// waiting for the rest of its bytes.
    pub(crate) partial_since: Option<Instant>,
    /// How many times [`receive`](Self::receive) has been called: data of
    /// one call lies in one receive buffer.
    pub(crate) reads: u64,
    /// Pending bytes of a canned HTTP/1.1 answer (server, wrong protocol).
    pub(crate) http1_answer: Option<Bytes>,
}

impl Connection {
    /// A client connection: the preface and our SETTINGS are queued for
    /// transmission at once.
    pub fn client(config: Config, now: Instant) -> Self {
        let mut c = Connection::new(Role::Client, config, now);
        c.control.extend_from_slice(frame::PREFACE);
        c.phase = Phase::AwaitSettings;
        c.queue_initial_settings(now);
        c
    }

    /// A server connection: it expects the client preface first, and has
    /// its SETTINGS queued for transmission at once.
    pub fn server(config: Config, now: Instant) -> Self {
        let mut c = Connection::new(Role::Server, config, now);
        c.queue_initial_settings(now);
        c
    }

    fn new(role: Role, config: Config, now: Instant) -> Self {
        let limits = config.limits.clone();
        let mut decoder = FrameDecoder::new();
        decoder.set_max_frame_size(config.max_frame_size);
        // Until our SETTINGS is acknowledged the peer may use the default
        // table size; we lower ours on the ACK.
        let hpack_dec = hpack::Decoder::new(4096.max(config.header_table_size as usize));
        Connection {
            role,
            phase: Phase::Preface,
            recv_buf: BytesMut::new(),
            decoder,
            hpack_dec,
            validated: Default::default(),
            hpack_enc: hpack::Encoder::new(),
            streams: IdMap::default(),
            closed: ClosedStreams::default(),
            next_local_id: config.first_stream_id | 1,
            field_pool: Vec::new(),
            queue_pool: Vec::new(),
            queued_total: 0,
            room_waiters: Vec::new(),
            last_peer_id: 0,
            peer_open: 0,
            local_open: 0,
            peer: PeerSettings::default(),
            settings_pending: true,
            settings_deadline: None,
            conn_send: Window::new(DEFAULT_WINDOW),
            conn_recv: RecvFlow::new(DEFAULT_WINDOW, config.connection_window),
            control: BytesMut::new(),
            control_streams: 0,
            reads: 0,
            ready: VecDeque::new(),
            events: crate::queue::Queue::new(),
            report_capacity: true,
            continuation: None,
            pings: Vec::new(),
            ping_seq: 0,
            last_recv: now,
            keepalive_deadline: None,
            last_peer_ping: None,
            ping_strikes: 0,
            counters: Counters {
                resets: RateCounter::new(limits.resets),
                pings: RateCounter::new(limits.pings),
                settings: RateCounter::new(limits.settings),
                empty: RateCounter::new(limits.empty_frames),
                window_updates: RateCounter::new(limits.window_updates),
                window_update_credit: 0,
            },
            goaway_sent: None,
            goaway_received: None,
            shutdown: Shutdown::None,
            rtt: None,
            http1_answer: None,
            partial_since: None,
            config,
        }
    }

    fn queue_initial_settings(&mut self, now: Instant) {
        let c = &self.config;
        let settings = Settings {
            header_table_size: (c.header_table_size != 4096).then_some(c.header_table_size),
            enable_push: (self.role == Role::Client).then_some(false),
            max_concurrent_streams: Some(c.max_concurrent_streams),
            initial_window_size: (c.initial_stream_window != DEFAULT_WINDOW)
                .then_some(c.initial_stream_window),
            max_frame_size: (c.max_frame_size != 16_384).then_some(c.max_frame_size),
            max_header_list_size: Some(c.max_header_list_size),
            ..Settings::default()
        };
        settings.encode(&mut self.control);
        // The connection window starts at 65,535 for both sides; open ours
        // to the configured size at once.
        let extra = i64::from(self.config.connection_window) - i64::from(DEFAULT_WINDOW);
        if extra > 0 {
            let inc = u32::try_from(extra).unwrap_or(0);
            self.conn_recv.window.grow(extra).ok();
            frame::WindowUpdate {
                stream_id: StreamId::ZERO,
                increment: inc,
            }
            .encode(&mut self.control);
        }
        self.settings_deadline = Some(later(now, self.config.settings_timeout));
    }

    /// Which side this endpoint plays.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The connection has ended (an error, a finished graceful shutdown, or
    /// end of file). Bytes may still wait in
    /// [`poll_transmit`](Self::poll_transmit) (a GOAWAY, for instance): write
    /// them, then close the transport.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The last round-trip time measured by a PING, if any.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// The state of a stream this connection tracks, if it tracks it.
    pub fn stream_state(&self, stream: StreamId) -> Option<State> {
        self.streams.get(stream.value()).map(|s| s.state)
    }

    /// Streams currently tracked (open, half-closed, or with data queued).
    pub fn active_streams(&self) -> usize {
        self.streams.len()
    }

    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS (`u32::MAX` until it says).
    pub fn peer_max_concurrent_streams(&self) -> u32 {
        self.peer.max_concurrent_streams
    }

    /// Whether a new stream may be opened now without hitting
    /// [`SendError::ConcurrencyLimit`], [`SendError::GoingAway`] or
    /// [`SendError::StreamIdsExhausted`].
    pub fn can_open_stream(&self) -> bool {
        self.role == Role::Client
            && self.phase != Phase::Closed
            && self.goaway_sent.is_none()
            && self.goaway_received.is_none()
            && self.local_open < self.peer.max_concurrent_streams
            && self.next_local_id <= StreamId::MAX.value()
    }

    /// Give back the header list of an [`Event::Headers`] once done with
    /// it: the next decoded block reuses its allocation. Optional; at most
    /// a few short lists are kept, and a list shared with the HPACK
    /// decoder's memo is only let go.
    pub fn recycle_fields(&mut self, fields: impl Into<Fields>) {
        if let Some(list) = fields.into().into_owned() {
            self.recycle_list(list);
        }
    }

    /// Keeps an emptied header list for the next block (at most a few
    /// short ones).
    pub(crate) fn recycle_list(&mut self, fields: Vec<HeaderField>) {
        recycle(&mut self.field_pool, fields);
    }

    /// An empty header list: a recycled one when there is one (it grows if
    /// it must), else a new one with room for `capacity` fields. For a
    /// block decoded, or one the layer above sends.
    pub(crate) fn field_list(&mut self, capacity: usize) -> Vec<HeaderField> {
        self.field_pool
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    /// A new stream with this connection's windows, its send queue a
    /// recycled one when there is one.
    pub(crate) fn new_stream(&mut self, id: StreamId) -> Stream {
        let mut s = Stream::new(
            id,
            self.peer.initial_window_size,
            self.local_initial_window(),
            self.config.initial_stream_window,
        );
        if let Some(q) = self.queue_pool.pop() {
            s.queue = q;
        }
        s
    }

    /// This client connection has used every stream identifier; new
    /// streams need a new connection.
    pub fn stream_ids_exhausted(&self) -> bool {
        self.role == Role::Client && self.next_local_id > StreamId::MAX.value()
    }

    /// How many more streams this client connection can open before its
    /// identifiers run out (0 for a server).
    pub fn remaining_stream_ids(&self) -> u32 {
        match self.role {
            Role::Client if self.next_local_id <= StreamId::MAX.value() => {
                (StreamId::MAX.value() - self.next_local_id) / 2 + 1
            }
            _ => 0,
        }
    }

    /// Bytes the application has queued on a stream and not yet sent.
    pub fn queued_bytes(&self, stream: StreamId) -> usize {
        self.streams
            .get(stream.value())
            .map_or(0, |s| s.queued_bytes)
    }

    /// The next event, if any. Drain until `None` after every input.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether [`poll_event`](Self::poll_event) has an event.
    #[inline]
    pub(crate) fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Open a stream (client only) and queue its HEADERS. The fields must
    /// be valid per RFC 9113 §8 (the gRPC layer builds them).
    pub fn open_stream(
        &mut self,
        fields: Vec<HeaderField>,
        end_stream: bool,
    ) -> Result<StreamId, SendError> {
        self.open_stream_with(FieldList::Owned(fields), end_stream)
    }

    /// [`open_stream`](Self::open_stream) with any kind of header list
    /// (a shared one is recognised by the HPACK encoder's memo).
    pub(crate) fn open_stream_with(
        &mut self,
        fields: FieldList,
        end_stream: bool,
    ) -> Result<StreamId, SendError> {
        let id = self.open_local()?;
        if let Some(s) = self.streams.get_mut(id.value()) {
            s.queue.push_back(Outbound::Headers { fields, end_stream });
            s.send_done = end_stream;
        }
        self.schedule(id);
        Ok(id)
    }

    /// Open a stream (client only) with its whole request: the head, then
    /// `body` as the last DATA. Written straight into the output when the
    /// windows allow (see [`can_write_whole`](Self::can_write_whole)),
    /// queued otherwise. On `Err` (no stream could open) the body comes
    /// back, for the caller to hold.
    pub(crate) fn open_stream_whole(
        &mut self,
        fields: FieldList,
        body: [Chunk; 2],
    ) -> Result<StreamId, (SendError, [Chunk; 2])> {
        if let Err(e) = self.may_open_local() {
            return Err((e, body));
        }
        let id = self.next_local_stream();
        let mut s = self.new_stream(id);
        let len = body[0].len() + body[1].len();
        // Streams must open in identifier order on the wire: while any
        // stream has output queued (perhaps its opening HEADERS), this
        // one queues behind it. The stream is written before it joins
        // the map: one insertion, no lookup.
        if self.ready.is_empty()
            && self
                .whole_room(len)
                .is_some_and(|room| super::send::fits_whole(&s, len, room))
        {
            let sent = self.write_whole_frames(id, Some(fields), &body, None);
            // A stream of ours cannot close by its own sending alone.
            let _ = super::send::sent_whole(&mut s, sent);
            self.streams.insert(id.value(), s);
            return Ok(id);
        }
        // Queued whole: a new stream takes its request whatever
        // `max_send_buffer` says (a send is refused only once the queue
        // holds that much, and this one holds nothing yet).
        s.queue.push_back(Outbound::Headers {
            fields,
            end_stream: false,
        });
        queue_data(&mut s, body, len, true);
        self.queued_total += len;
        s.scheduled = true;
        self.ready.push_back(id);
        self.streams.insert(id.value(), s);
        Ok(id)
    }

    /// Check that a stream may be opened, and open it with nothing queued.
    fn open_local(&mut self) -> Result<StreamId, SendError> {
        self.may_open_local()?;
        let id = self.next_local_stream();
        let s = self.new_stream(id);
        self.streams.insert(id.value(), s);
        Ok(id)
    }

    /// Whether a stream of ours may be opened now (the error says why
    /// not).
    #[inline]
    fn may_open_local(&self) -> Result<(), SendError> {
        if self.role != Role::Client {
            return Err(SendError::WrongRole);
        }
        if self.phase == Phase::Closed {
            return Err(SendError::ConnectionClosed);
        }
        if self.goaway_sent.is_some() || self.goaway_received.is_some() {
            return Err(SendError::GoingAway);
        }
        if self.next_local_id > StreamId::MAX.value() {
            return Err(SendError::StreamIdsExhausted);
        }
        if self.local_open >= self.peer.max_concurrent_streams {
            return Err(SendError::ConcurrencyLimit);
        }
        Ok(())
    }

    /// Take the next identifier for a stream of ours, counted as open
    /// (the caller checked [`may_open_local`](Self::may_open_local)).
    #[inline]
    fn next_local_stream(&mut self) -> StreamId {
        let id = StreamId::new(self.next_local_id);
        self.next_local_id += 2;
        self.local_open += 1;
        id
    }

    /// Queue a header block on a stream: a server's response head, or
    /// trailers (`end_stream` true) on either side.
    pub fn send_headers(
        &mut self,
        stream: StreamId,
        fields: Vec<HeaderField>,
        end_stream: bool,
    ) -> Result<(), SendError> {
        self.queue_headers(stream, FieldList::Owned(fields), end_stream)
    }

    /// [`send_headers`](Self::send_headers) with any kind of header list:
    /// of a shared one, while the HPACK encoder remembers the block it last
    /// made of this very list (and its table is unchanged), that block is
    /// sent again without looking at the fields.
    pub(crate) fn queue_headers(
        &mut self,
        stream: StreamId,
        fields: FieldList,
        end_stream: bool,
    ) -> Result<(), SendError> {
        let s = self.writable_stream(stream)?;
        s.flush_tail();
        s.queue.push_back(Outbound::Headers { fields, end_stream });
        s.send_done = end_stream;
        self.schedule(stream);
        Ok(())
    }

    /// Queue body bytes on a stream. Refused with [`SendError::Blocked`]
    /// while the stream's queue holds `max_send_buffer` bytes or more;
    /// [`Event::Writable`] says when to try again.
    pub fn send_data(
        &mut self,
        stream: StreamId,
        data: Bytes,
        end_stream: bool,
    ) -> Result<(), SendError> {
        self.send_data_parts(stream, [data], end_stream)
    }

    /// Queue several pieces of body bytes as one unit: all are accepted or
    /// none (the gRPC layer queues a message's prefix and payload this
    /// way). The same [`SendError::Blocked`] rule as
    /// [`send_data`](Self::send_data) applies to the whole.
    pub fn send_data_parts<const N: usize>(
        &mut self,
        stream: StreamId,
        parts: [Bytes; N],
        end_stream: bool,
    ) -> Result<(), SendError> {
        self.send_chunks(stream, parts.map(Chunk::Shared), end_stream)
    }

    /// [`send_data_parts`](Self::send_data_parts) for pieces some of which
    /// may be held inline.
    pub(crate) fn send_chunks<const N: usize>(
        &mut self,
        stream: StreamId,
        parts: [Chunk; N],
        end_stream: bool,
    ) -> Result<(), SendError> {
        let total: usize = parts.iter().map(Chunk::len).sum();
        let s = self.admit(stream, total)?;
        if total == 0 && !end_stream {
            return Ok(());
        }
        if total <= GATHER_MAX && !end_stream && !s.queue.is_empty() {
            // Behind data not yet written: copied into the stream's tail
            // with the pieces before it. The stream is already where its
            // queue puts it (ready, or waiting on a window).
            s.gather(parts.iter().map(Chunk::as_slice), total, GATHER_RESERVE);
            s.queued_bytes += total;
            self.queued_total += total;
            return Ok(());
        }
        queue_data(s, parts, total, end_stream);
        self.queued_total += total;
        self.schedule(stream);
        Ok(())
    }

    /// A message's 5-byte `prefix` and its `payload`, queued as one unit
    /// (not ending the stream): [`send_chunks`](Self::send_chunks) for the
    /// usual shape of a gRPC message, which a small one behind queued data
    /// copies straight into the stream's tail.
    #[inline]
    pub(crate) fn send_prefixed(
        &mut self,
        stream: StreamId,
        prefix: [u8; 5],
        payload: Bytes,
    ) -> Result<(), SendError> {
        let total = prefix.len() + payload.len();
        let s = self.admit(stream, total)?;
        if total <= GATHER_MAX && !s.queue.is_empty() {
            s.gather([&prefix[..], &payload[..]], total, GATHER_RESERVE);
            s.queued_bytes += total;
            self.queued_total += total;
            return Ok(());
        }
        queue_data(
            s,
            [Chunk::small(&prefix), Chunk::Shared(payload)],
            total,
            false,
        );
        self.queued_total += total;
        self.schedule(stream);
        Ok(())
    }

    /// The stream a send of `total` bytes may go on: refused for the
    /// connection or the stream, or with [`SendError::Blocked`] (arming
    /// [`Event::Writable`]) when a send of any bytes finds its queue full.
    #[inline]
    fn admit(&mut self, stream: StreamId, total: usize) -> Result<&mut Stream, SendError> {
        let limit = self.config.max_send_buffer;
        let full = self.queued_total >= self.send_bound();
        let s = writable(self.phase, &mut self.streams, stream)?;
        if total > 0 && (s.queued_bytes >= limit || full) {
            if Self::refuse(s, limit, full) {
                self.room_waiters.push(stream);
            }
            return Err(SendError::Blocked(stream));
        }
        Ok(s)
    }

    /// We sent HEADERS or DATA: the peer's PING strikes are reset and the
    /// time of its last PING forgotten, so its next PING is no strike (as
    /// gRPC's C core and grpc-go reset them).
    #[inline]
    pub(crate) fn forgive_pings(&mut self) {
        self.ping_strikes = 0;
        self.last_peer_ping = None;
    }

    /// The connection's bound on queued DATA (at least one byte, so that a
    /// connection with nothing queued always takes a send).
    fn send_bound(&self) -> usize {
        self.config.max_connection_send_buffer.max(1)
    }

    /// A send on `s` was refused: it wants [`Event::Writable`]. True if it
    /// must join the list of streams waiting for room in the connection's
    /// queues (they were full, `full`, and the stream's own, under `limit`,
    /// were not; it is marked as waiting).
    fn refuse(s: &mut Stream, limit: usize, full: bool) -> bool {
        s.wants_writable = true;
        let wait = full && s.queued_bytes < limit && !s.waits_room;
        s.waits_room |= wait;
        wait
    }

    /// The connection's queues shrank (or `poll_transmit` has written all
    /// it can): every stream refused for want of room gets
    /// [`Event::Writable`] (if its own queue has room) once the queues are
    /// down to three quarters of their bound, or are under it with nothing
    /// left that can be written without new input (a window, or data).
    /// The first rule wakes the refused streams once per quarter of the
    /// bound written rather than once per frame; the second makes sure
    /// that none of them waits while there is room and nothing else would
    /// make more.
    #[inline]
    pub(crate) fn room_freed(&mut self) {
        if !self.room_waiters.is_empty() {
            self.wake_room_waiters();
        }
    }

    /// [`room_freed`](Self::room_freed) with streams waiting.
    fn wake_room_waiters(&mut self) {
        let bound = self.send_bound();
        let total = self.queued_total;
        if total > bound - bound / 4 && (total >= bound || !self.ready.is_empty()) {
            return;
        }
        let limit = self.config.max_send_buffer;
        for id in std::mem::take(&mut self.room_waiters) {
            if let Some(s) = self.streams.get_mut(id.value()) {
                s.waits_room = false;
                if s.wants_writable && s.queued_bytes < limit {
                    s.wants_writable = false;
                    self.events.push_back(Event::Writable { stream: id });
                }
            }
        }
    }

    /// After everything queued on the stream is written, send RST_STREAM
    /// with `code` (a server that has sent its whole response uses
    /// NO_ERROR to tell the client to stop sending, RFC 9113 §8.1). Does
    /// nothing if the stream is gone.
    pub fn reset_after_queued(&mut self, stream: StreamId, code: Reason) {
        if self.phase == Phase::Closed {
            return;
        }
        if let Some(s) = self.streams.get_mut(stream.value()) {
            s.send_done = true;
            s.flush_tail();
            s.queue.push_back(Outbound::Reset(code));
            self.schedule(stream);
        }
    }

    /// `Ok` if [`send_data`](Self::send_data) would accept data on this
    /// stream now; otherwise the error it would return, and for
    /// [`SendError::Blocked`] an [`Event::Writable`] is armed as if a send
    /// had been refused.
    #[inline]
    pub fn check_writable(&mut self, stream: StreamId) -> Result<(), SendError> {
        // Any send of bytes: what one byte would meet.
        self.admit(stream, 1).map(|_| ())
    }

    /// Whether [`send_data`](Self::send_data) would accept data on this
    /// stream now.
    pub fn is_writable(&self, stream: StreamId) -> bool {
        self.streams
            .get(stream.value())
            .is_some_and(|s| !s.send_done && s.queued_bytes < self.config.max_send_buffer)
            && self.queued_total < self.send_bound()
    }

    fn writable_stream(&mut self, stream: StreamId) -> Result<&mut Stream, SendError> {
        writable(self.phase, &mut self.streams, stream)
    }

    /// [`check_writable`](Self::check_writable) and, for a body of
    /// `whole` bytes, [`can_write_whole`](Self::can_write_whole) after it,
    /// with one lookup: `Ok(true)` if the body can be written whole.
    #[inline]
    pub(crate) fn check_whole(
        &mut self,
        stream: StreamId,
        whole: Option<usize>,
    ) -> Result<bool, SendError> {
        let room = whole.and_then(|len| self.whole_room(len));
        let s = self.admit(stream, 1)?;
        Ok(match (whole, room) {
            (Some(len), Some(room)) => super::send::fits_whole(s, len, room),
            _ => false,
        })
    }

    /// Reset a stream with RST_STREAM (for example CANCEL). Anything queued
    /// on it is dropped. Resetting a stream that is already gone does
    /// nothing.
    pub fn reset(&mut self, stream: StreamId, code: Reason) {
        if self.phase == Phase::Closed {
            return;
        }
        if let Some(s) = self.streams.get(stream.value()) {
            if s.state != State::Idle {
                RstStream {
                    stream_id: stream,
                    code,
                }
                .encode(&mut self.control);
            }
            self.forget_stream(stream, CloseKind::ResetByUs);
        }
    }

    /// The application consumed `n` bytes of DATA received on `stream`.
    /// WINDOW_UPDATE frames are batched: one goes out once a quarter of the
    /// window is free again. Call it for data of streams that have since
    /// closed too: the connection window still needs the bytes back.
    pub fn release_capacity(&mut self, stream: StreamId, n: u32) {
        if self.phase == Phase::Closed || n == 0 {
            return;
        }
        self.release_connection(n);
        if let Some(s) = self.streams.get_mut(stream.value()) {
            if !s.recv_done {
                if let Some(inc) = s.recv.release(n) {
                    frame::WindowUpdate {
                        stream_id: stream,
                        increment: inc,
                    }
                    .encode(&mut self.control);
                }
            }
        }
    }

    /// [`release_capacity`](Self::release_capacity) for bytes of a stream
    /// that announces no more window (the peer ended its side, or the
    /// stream is gone): only the connection's window takes them.
    pub(crate) fn release_connection_capacity(&mut self, n: u32) {
        if self.phase == Phase::Closed || n == 0 {
            return;
        }
        self.release_connection(n);
    }

    pub(crate) fn release_connection(&mut self, n: u32) {
        if let Some(inc) = self.conn_recv.release(n) {
            frame::WindowUpdate {
                stream_id: StreamId::ZERO,
                increment: inc,
            }
            .encode(&mut self.control);
        }
    }

    /// Send a PING; its acknowledgement is reported as
    /// [`Event::PingAcked`] with the round-trip time. Returns the payload.
    pub fn ping(&mut self, now: Instant) -> Result<[u8; 8], SendError> {
        self.send_ping(now, PingPurpose::User)
    }

    pub(crate) fn send_ping(
        &mut self,
        now: Instant,
        purpose: PingPurpose,
    ) -> Result<[u8; 8], SendError> {
        if self.phase == Phase::Closed {
            return Err(SendError::ConnectionClosed);
        }
        if self.pings.len() >= 4 {
            return Err(SendError::TooManyPings);
        }
        self.ping_seq += 1;
        let payload = self.ping_seq.to_be_bytes();
        Ping {
            ack: false,
            payload,
        }
        .encode(&mut self.control);
        self.pings.push((payload, now, purpose));
        Ok(payload)
    }

    /// Begin a graceful shutdown. A server sends GOAWAY with the last
    /// stream id 2^31-1 and a PING, then, once the PING is acknowledged
    /// (or after `shutdown_ping_timeout`), a GOAWAY with the real last
    /// stream id; streams already open finish. A client sends GOAWAY and
    /// opens no more streams. The connection closes cleanly when no stream
    /// is left.
    pub fn shutdown(&mut self, now: Instant) {
        if self.phase == Phase::Closed || self.shutdown != Shutdown::None {
            return;
        }
        match self.role {
            Role::Server => {
                self.send_goaway(StreamId::MAX.value(), Reason::NO_ERROR, Bytes::new());
                // A full ping slot only delays the final GOAWAY to the timeout.
                let _ = self.send_ping(now, PingPurpose::Shutdown);
                self.shutdown = Shutdown::Announced {
                    deadline: later(now, self.config.shutdown_ping_timeout),
                };
            }
            Role::Client => {
                // Our GOAWAY must not overtake the opening of a stream we
                // started before it: a server may take it to mean that no
                // more streams are coming, and close when idle.
                self.write_queued_openings();
                self.send_goaway(self.last_peer_id, Reason::NO_ERROR, Bytes::new());
                self.shutdown = Shutdown::Draining;
            }
        }
        self.maybe_finish();
    }

    pub(crate) fn send_goaway(&mut self, last: u32, code: Reason, debug_data: Bytes) {
        GoAway {
            last_stream_id: StreamId::new(last),
            code,
            debug_data,
        }
        .encode(&mut self.control);
        self.goaway_sent = Some(last);
    }

    /// Second phase of a server's graceful shutdown.
    pub(crate) fn final_goaway(&mut self) {
        if matches!(self.shutdown, Shutdown::Announced { .. }) {
            self.send_goaway(self.last_peer_id, Reason::NO_ERROR, Bytes::new());
            self.shutdown = Shutdown::Draining;
            self.maybe_finish();
        }
    }

    /// Close cleanly once draining and no stream is left.
    pub(crate) fn maybe_finish(&mut self) {
        let draining = self.shutdown == Shutdown::Draining
            || self
                .goaway_received
                .is_some_and(|_| self.role == Role::Client || self.goaway_sent.is_some());
        if draining && self.streams.is_empty() && self.phase != Phase::Closed {
            self.phase = Phase::Closed;
            self.ready.clear();
            self.events.push_back(Event::Closed { error: None });
        }
    }

    /// End the connection because of `err`. A GOAWAY of ours is queued
    /// first; every stream is dropped; [`Event::Closed`] is reported.
    pub(crate) fn fail(&mut self, err: ConnectionError) -> ConnectionError {
        if self.phase == Phase::Closed {
            return err;
        }
        match &err {
            ConnectionError::GoAway {
                code,
                debug_data,
                initiator: Initiator::Local,
            } => {
                let (code, debug) = (*code, debug_data.clone());
                self.send_goaway(self.last_peer_id, code, debug);
            }
            ConnectionError::SettingsTimeout => {
                self.send_goaway(self.last_peer_id, Reason::SETTINGS_TIMEOUT, Bytes::new());
            }
            _ => {}
        }
        self.phase = Phase::Closed;
        self.streams.clear();
        self.queued_total = 0;
        self.room_waiters.clear();
        self.peer_open = 0;
        self.local_open = 0;
        self.ready.clear();
        self.continuation = None;
        self.recv_buf.clear();
        self.events.push_back(Event::Closed {
            error: Some(err.clone()),
        });
        err
    }

    /// The transport reached end of file.
    pub fn receive_eof(&mut self) {
        if self.phase == Phase::Closed {
            return;
        }
        if self.streams.is_empty() && self.phase == Phase::Open {
            self.phase = Phase::Closed;
            self.events.push_back(Event::Closed { error: None });
        } else {
            self.fail(ConnectionError::TransportClosed);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next run, if
    /// ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Closed {
            return None;
        }
        let mut next = self.settings_deadline;
        let mut earliest = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if let Shutdown::Announced { deadline } = self.shutdown {
            earliest(Some(deadline));
        }
        earliest(self.keepalive_deadline);
        earliest(self.next_keepalive_ping());
        earliest(self.partial_deadline());
        next
    }

    fn partial_deadline(&self) -> Option<Instant> {
        let since = self.partial_since?;
        since.checked_add(self.config.frame_timeout?)
    }

    fn next_keepalive_ping(&self) -> Option<Instant> {
        let interval = self.config.keepalive_interval?;
        if self.keepalive_deadline.is_some() || self.phase != Phase::Open {
            return None;
        }
        if self.streams.is_empty() && !self.config.keepalive_while_idle {
            return None;
        }
        // An interval too large to add (`Duration::MAX`): no ping.
        self.last_recv.checked_add(interval)
    }

    /// Run the timers that are due at `now`: SETTINGS acknowledgement,
    /// keepalive, graceful shutdown.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Closed {
            return;
        }
        if self.settings_deadline.is_some_and(|d| now >= d) {
            self.settings_deadline = None;
            self.fail(ConnectionError::SettingsTimeout);
            return;
        }
        if self.partial_deadline().is_some_and(|d| now >= d) {
            self.fail(ConnectionError::local(
                Reason::ENHANCE_YOUR_CALM,
                "frame not completed in time",
            ));
            return;
        }
        if self.keepalive_deadline.is_some_and(|d| now >= d) {
            self.keepalive_deadline = None;
            self.fail(ConnectionError::KeepaliveTimeout);
            return;
        }
        if self.next_keepalive_ping().is_some_and(|t| now >= t)
            && self.send_ping(now, PingPurpose::Keepalive).is_ok()
        {
            self.keepalive_deadline = Some(later(now, self.config.keepalive_timeout));
        }
        if let Shutdown::Announced { deadline } = self.shutdown {
            if now >= deadline {
                self.final_goaway();
            }
        }
    }

    /// The initial receive window we enforce on new streams. Until our
    /// SETTINGS is acknowledged the peer may use either the default or our
    /// value, so the larger one applies.
    pub(crate) fn local_initial_window(&self) -> u32 {
        if self.settings_pending {
            self.config.initial_stream_window.max(DEFAULT_WINDOW)
        } else {
            self.config.initial_stream_window
        }
    }

    /// Forget a stream: drop its queue, remember how it closed, fix the
    /// counts.
    pub(crate) fn forget_stream(&mut self, id: StreamId, how: CloseKind) {
        let Some(s) = self.streams.remove(id.value()) else {
            return;
        };
        self.forget_removed(id, s, how);
    }

    /// [`forget_stream`](Self::forget_stream) of stream `id`, `s`, already
    /// taken out of the map. Inlined in its two callers: a call of its own
    /// moved the stream into its arguments.
    #[inline(always)]
    pub(crate) fn forget_removed(&mut self, id: StreamId, s: Stream, how: CloseKind) {
        if s.queued_bytes > 0 {
            self.queued_total = self.queued_total.saturating_sub(s.queued_bytes);
            self.room_freed();
        }
        if s.waits_room {
            self.room_waiters.retain(|&w| w != id);
        }
        // A short queue's allocation is kept for the next stream (a few,
        // so that an idle connection holds little).
        const KEEP: usize = 4;
        const MAX_CAPACITY: usize = 8;
        let mut queue = s.queue;
        if queue.capacity() == 0 {
            // Nothing to free (a stream that never queued, as one written
            // whole): the drop's walk over no items is skipped.
            std::mem::forget(queue);
        } else if self.queue_pool.len() < KEEP && queue.capacity() <= MAX_CAPACITY {
            queue.clear();
            self.queue_pool.push(queue);
        }
        self.remember_closed(id, how);
        if self.is_peer_initiated(id) {
            self.peer_open = self.peer_open.saturating_sub(1);
        } else {
            self.local_open = self.local_open.saturating_sub(1);
            if self.report_capacity {
                self.events.push_back(Event::StreamCapacity);
            }
        }
        self.maybe_finish();
    }

    pub(crate) fn remember_closed(&mut self, id: StreamId, how: CloseKind) {
        self.closed
            .insert(id.value(), how, self.config.max_closed_streams);
    }

    pub(crate) fn is_peer_initiated(&self, id: StreamId) -> bool {
        match self.role {
            Role::Server => id.is_client_initiated(),
            Role::Client => !id.is_client_initiated(),
        }
    }

    pub(crate) fn schedule(&mut self, id: StreamId) {
        if let Some(s) = self.streams.get_mut(id.value()) {
            if !s.scheduled && !s.queue.is_empty() {
                s.scheduled = true;
                self.ready.push_back(id);
            }
        }
    }
}

/// Body sends of at most this many bytes (a message's prefix and payload
/// together) made while the stream has data queued are copied into its
/// tail rather than queued as pieces of their own.
const GATHER_MAX: usize = 1024;

/// The size of a stream's tail buffer: a run of small messages, one
/// full-size DATA frame's worth. When it is full it joins the queue and a
/// new one is started.
const GATHER_RESERVE: usize = 16 << 10;

/// The stream `stream` of `streams`, if a send may go on it.
fn writable(
    phase: Phase,
    streams: &mut IdMap<Stream>,
    stream: StreamId,
) -> Result<&mut Stream, SendError> {
    if phase == Phase::Closed {
        return Err(SendError::ConnectionClosed);
    }
    let s = streams
        .get_mut(stream.value())
        .ok_or(SendError::UnknownStream(stream))?;
    if s.send_done || matches!(s.state, State::HalfClosedLocal | State::Closed) {
        return Err(SendError::StreamClosed(stream));
    }
    Ok(s)
}

/// Queue body pieces (`len` bytes in all) on stream `s`, END_STREAM (with
/// `end_stream`) on the last piece that holds bytes; empty pieces are
/// skipped otherwise.
fn queue_data<const N: usize>(s: &mut Stream, parts: [Chunk; N], len: usize, end_stream: bool) {
    s.flush_tail();
    s.queued_bytes += len;
    let last = parts.iter().rposition(|p| !p.is_empty()).unwrap_or(0);
    for (i, data) in parts.into_iter().enumerate() {
        if data.is_empty() && !(end_stream && i == last) {
            continue;
        }
        let end = end_stream && i == last;
        s.queue.push_back(Outbound::Data {
            data,
            end_stream: end,
        });
    }
    s.send_done = end_stream;
}

/// Keep an emptied header list in `pool` for reuse, if the pool has room
/// and the list is small.
pub(crate) fn recycle(pool: &mut Vec<Vec<HeaderField>>, mut fields: Vec<HeaderField>) {
    const KEEP: usize = 4;
    const MAX_CAPACITY: usize = 64;
    if pool.len() < KEEP && fields.capacity() <= MAX_CAPACITY {
        fields.clear();
        pool.push(fields);
    }
}

/// `now + timeout`, or for a timeout too large to add (`Duration::MAX`,
/// which configurations use for "no limit") an instant that never comes.
fn later(now: Instant, timeout: Duration) -> Instant {
    /// A hundred years: past any process's life, and addable to any
    /// instant.
    const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    now.checked_add(timeout)
        .or_else(|| now.checked_add(NEVER))
        .unwrap_or(now)
}
