//! The client role: [`ClientConnection`], the state machine a gRPC channel
//! adapter (or an embedder) drives for one connection to a server.
//!
//! It owns the response side of gRPC's PROTOCOL-HTTP2.md on top of
//! [`crate::h2`]: request heads (with `grpc-timeout` computed from the
//! deadline when the stream opens), message framing and compression,
//! half-close, cancellation, deadlines, calls that wait for the server's
//! stream limit, response heads, trailers and trailers-only responses, and
//! the mapping of HTTP statuses and RST_STREAM codes to gRPC statuses.
//!
//! Every call started ends with exactly one [`ClientEvent::Finished`],
//! whatever happens: a status from the server, a reset, a deadline, a
//! cancellation by the application, or the connection ending.
//!
//! Run loop:
//!
//! ```text
//! let mut conn = ClientConnection::new(ClientConfig::default(), now);
//! let call = conn.start_call("/helloworld.Greeter/SayHello", CallOptions::unary(), now)?;
//! conn.send_message(call, request_bytes)?;
//! conn.half_close(call)?;
//! // Or, for a request of one message, all three at once (head, message
//! // and end of request written straight into the output):
//! // conn.start_call_with_message(path, CallOptions::unary(), request_bytes, now)?;
//! loop {
//!     conn.poll_transmit(&mut out) until 0 -> write `out`
//!     bytes from the socket -> conn.receive(&bytes, now)   (EOF -> conn.receive_eof(now))
//!     while let Some(ev) = conn.poll_event() { ... }        (Headers, Message, Finished, ...)
//!     conn.poll_timeout()  -> at that instant, conn.handle_timeout(now); poll again
//! }
//! ```
//!
//! The crate's top-level documentation wires a client and a server
//! together for one whole call, as a compiled example.

mod keepalive;
mod response;
mod streams;

pub use keepalive::{ChannelKeepalive, TOO_MANY_PINGS};

use std::collections::VecDeque;
use std::collections::hash_map::Entry;

use crate::deadlines::Deadlines;

use crate::h2::idmap::FastMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::call::{
    CallError, CallId, CallKind, Delivered, Inbound, ReceiveBudget, Received,
    cardinality_violation, frame_message, frame_plain, map_send, send_choice, send_framed,
};
use crate::frame::{Reason, StreamId};
use crate::grpc::compression::{CompressionRegistry, Compressor, IDENTITY};
use crate::grpc::head::USER_AGENT;
use crate::grpc::message::{DEFAULT_MAX_RECEIVE_MEMORY, DEFAULT_MAX_RECEIVE_MESSAGE_SIZE};
use crate::grpc::metadata::MetadataMap;
use crate::grpc::{Code, Status};
use crate::h2::Chunk;
use crate::h2::{self, ConnectionError, Event, Fields, SendError};
use crate::hpack::HeaderField;
use crate::recent::Recent;

/// Settings of a client connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The HTTP/2 layer's settings and limits.
    pub h2: h2::Config,
    /// `:authority` of requests (host and port). Default `localhost`.
    pub authority: String,
    /// `:scheme` of requests: `http` or `https`. Default `http`.
    pub scheme: String,
    /// `user-agent` of requests. Default `grpc-sansio/<version>`.
    pub user_agent: String,
    /// The largest response message accepted (after decompression too).
    /// Default 4 MiB.
    pub max_receive_message_size: usize,
    /// The largest request message the application may send. Default
    /// `i32::MAX`.
    pub max_send_message_size: usize,
    /// The most memory the connection holds, over all its calls, for
    /// response messages beyond what the flow-control windows count:
    /// messages still arriving, and what unreleased messages take beyond
    /// their credit (see
    /// [`ServerConfig::max_receive_memory`](crate::server::ServerConfig::max_receive_memory),
    /// the same bound on the other side). A call whose charge would take
    /// the total past it ends with RESOURCE_EXHAUSTED (and is cancelled
    /// with RST_STREAM). Raised to one `max_receive_message_size` message
    /// if set lower. Default 64 MiB.
    pub max_receive_memory: usize,
    /// The compression algorithms we accept and may send with.
    pub compression: CompressionRegistry,
    /// Calls that may wait for the server's SETTINGS_MAX_CONCURRENT_STREAMS
    /// to allow them a stream. More are refused with
    /// [`CallError::TooManyPendingCalls`]. Default 1024.
    pub max_pending_calls: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            h2: h2::Config::default(),
            authority: "localhost".to_string(),
            scheme: "http".to_string(),
            user_agent: USER_AGENT.to_string(),
            max_receive_message_size: DEFAULT_MAX_RECEIVE_MESSAGE_SIZE,
            max_send_message_size: i32::MAX as usize,
            max_receive_memory: DEFAULT_MAX_RECEIVE_MEMORY,
            compression: CompressionRegistry::default(),
            max_pending_calls: 1024,
        }
    }
}

/// How to start one call.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CallOptions {
    /// The call kind; the response message count is enforced for unary
    /// and client-streaming calls. Default bidi (nothing enforced).
    pub kind: CallKind,
    /// Custom request metadata.
    pub metadata: MetadataMap,
    /// When the call must be over; sent as `grpc-timeout` and enforced
    /// locally (DEADLINE_EXCEEDED).
    pub deadline: Option<Instant>,
    /// Compress request messages with this algorithm (for example
    /// `"gzip"`) if registered.
    pub compression: Option<String>,
    /// Override the connection's `:authority`.
    pub authority: Option<String>,
    /// `content-type` subtype: `proto` gives `application/grpc+proto`.
    pub content_subtype: Option<String>,
}

impl CallOptions {
    /// Options for a call of `kind`.
    pub fn new(kind: CallKind) -> Self {
        CallOptions {
            kind,
            ..CallOptions::default()
        }
    }

    /// Options for a unary call.
    pub fn unary() -> Self {
        CallOptions::new(CallKind::Unary)
    }

    /// Set the deadline.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Set the deadline to `now + timeout`.
    pub fn with_timeout(mut self, now: Instant, timeout: Duration) -> Self {
        self.deadline = now.checked_add(timeout);
        self
    }

    /// Set the request metadata.
    pub fn with_metadata(mut self, metadata: MetadataMap) -> Self {
        self.metadata = metadata;
        self
    }

    /// Compress request messages with `name`.
    pub fn with_compression(mut self, name: &str) -> Self {
        self.compression = Some(name.to_string());
        self
    }
}

/// What happened on a client connection, drained with
/// [`ClientConnection::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server acknowledged our SETTINGS: the connection works.
    Ready,
    /// Response headers (initial metadata) of a call. At most one per
    /// call, and none for a trailers-only response (the server ended the
    /// call before sending anything, as it does to fail one at once): then
    /// [`Finished`](Self::Finished) carries the status and its metadata
    /// comes as `trailers`.
    Headers {
        /// The call.
        call: CallId,
        /// Custom metadata.
        metadata: MetadataMap,
    },
    /// A response message. Give `flow_len` back with
    /// [`ClientConnection::release_capacity`] once consumed.
    Message {
        /// The call.
        call: CallId,
        /// The message: still compressed if it arrived compressed; take its
        /// bytes with [`Received::decompress`].
        message: Received,
        /// Flow-control credit held by this message: give back exactly
        /// this. It is usually less than the message's length (the
        /// credit of a large message's first bytes went back while it
        /// arrived); giving back more would open the server's windows
        /// beyond the configured sizes.
        flow_len: u32,
    },
    /// The call is over: exactly one per call.
    Finished {
        /// The call.
        call: CallId,
        /// Its status.
        status: Status,
        /// Trailing metadata (custom fields of the trailers).
        trailers: MetadataMap,
    },
    /// A send refused with [`CallError::Blocked`] may be retried.
    Writable {
        /// The call.
        call: CallId,
    },
    /// The server is shutting down this connection: calls in progress may
    /// finish; start new ones on another connection.
    GoAway {
        /// NO_ERROR for a graceful shutdown.
        code: Reason,
        /// The server's debug data.
        debug_data: Bytes,
    },
    /// A PING of ours was answered.
    PingAcked {
        /// The round-trip time.
        rtt: Duration,
    },
    /// The connection ended; no more events follow.
    Closed {
        /// Why, if not cleanly.
        error: Option<ConnectionError>,
    },
}

/// A piece of a call's output held back until its stream exists or its
/// queue has room.
enum Held {
    Message([Chunk; 2]),
    End,
}

/// A call's record: what the call needs once its stream is open. What
/// only a call that waits needs (its path and options until its stream
/// opens, output held back) is boxed in `waiting`, made only when the call
/// waits, so that the record stays small to move in and out of the map.
struct ClientCall {
    stream: Option<StreamId>,
    kind: CallKind,
    wants_writable: bool,
    send_closed: bool,
    deadline: Option<Instant>,
    /// `None`: the registry's identity.
    send_compressor: Option<Arc<dyn Compressor>>,
    waiting: Option<Box<Waiting>>,
    inbound: Option<Inbound>,
}

/// What a call keeps while it waits: for its stream (the path and options
/// its head is made of), or for room in its stream's queue.
#[derive(Default)]
struct Waiting {
    /// The path and options, until the stream opens.
    start: Option<Start>,
    held: VecDeque<Held>,
    held_bytes: usize,
}

/// Where a call's path is kept (see [`ClientConnection::checked_path`]).
enum PathAt {
    /// In this slot of the recent paths.
    Recent(usize),
    /// Its own copy (a path too long to remember).
    Own(Bytes),
}

/// What a call's request head is made of.
struct Start {
    path: Bytes,
    options: CallOptions,
}

/// What the end of a call needs of its record, once the record has left
/// the map (and been dropped).
struct CallEnd {
    stream: Option<StreamId>,
    deadline: Option<Instant>,
    /// Credit of an unfinished message not given back yet.
    owed: u32,
}

/// Let go of the options of a call that needs nothing more of them; an
/// empty metadata map (nearly every call's) without the call that drops
/// its entries one by one.
#[inline]
fn discard_options(options: CallOptions) {
    let CallOptions {
        metadata,
        compression,
        authority,
        content_subtype,
        ..
    } = options;
    metadata.discard();
    drop((compression, authority, content_subtype));
}

/// The [`CallEnd`] of a record taken out of the map (as the map's entry:
/// taking the value alone out of it copied the record whole), dropped
/// where it lies.
#[inline]
fn take_end(removed: Option<(u64, ClientCall)>) -> Option<CallEnd> {
    let (_, mut c) = removed?;
    Some(CallEnd {
        stream: c.stream,
        deadline: c.deadline,
        owed: c.inbound.as_mut().map_or(0, Inbound::take_owed),
    })
}

impl ClientCall {
    /// Whether output of the call is held back.
    fn has_held(&self) -> bool {
        self.waiting.as_ref().is_some_and(|w| !w.held.is_empty())
    }

    /// Bytes of messages held back.
    fn held_bytes(&self) -> usize {
        self.waiting.as_ref().map_or(0, |w| w.held_bytes)
    }

    /// The call's waiting state, made if need be.
    fn waiting(&mut self) -> &mut Waiting {
        self.waiting.get_or_insert_with(Box::default)
    }
}

/// One client-side gRPC connection as a sans-I/O state machine.
pub struct ClientConnection {
    h2: h2::Connection,
    config: ClientConfig,
    request_constants: response::RequestConstants,
    calls: FastMap<u64, ClientCall>,
    by_stream: streams::StreamCalls,
    pending: VecDeque<u64>,
    deadlines: Deadlines,
    events: crate::queue::Queue<ClientEvent>,
    next_call: u64,
    now: Instant,
    ready: bool,
    going_away: bool,
    /// The events being translated follow a clock reading given with
    /// them (`receive`, `handle_timeout`, starting a call...), so `now`
    /// is current; cleared once they are.
    fresh: bool,
    /// A stream came free while `now` may have been stale (a `cancel`, a
    /// `poll_transmit`) and a call waiting for one has a deadline: the
    /// waiting calls open from the next clock reading, which
    /// [`poll_timeout`](Self::poll_timeout) asks for at once, so that their
    /// `grpc-timeout` says what is left then.
    open_due: bool,
    scratch: Vec<Delivered>,
    /// Memory held for response messages beyond what the windows count,
    /// over all calls (see [`Inbound`]).
    receive_budget: ReceiveBudget,
    /// Paths of recent calls (at most [`RECENT_PATHS`]): a call to one of
    /// them shares its bytes instead of copying the caller's `&str`. With
    /// each, once made, the request head of a call to it with default
    /// options, shared between those calls.
    recent_paths: Recent<(Bytes, Option<Arc<[HeaderField]>>), RECENT_PATHS>,
    /// Response heads and trailers read from blocks the HPACK decoder
    /// answered from its memo, by the block's id (see
    /// [`h2::Fields::block_id`]): the same id is the same fields, so they
    /// are not read again.
    responses: Recent<(u64, response::Kept), 4>,
}

/// How many call paths a client connection keeps for reuse.
const RECENT_PATHS: usize = 8;

/// The largest response head or trailers (fields' HPACK size) whose
/// reading is kept: four of them could otherwise hold tens of KiB of
/// metadata on an idle connection.
const KEPT_RESPONSE_MAX: usize = 1024;

impl std::fmt::Debug for ClientConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConnection")
            .field("calls", &self.calls.len())
            .field("pending", &self.pending.len())
            .field("ready", &self.ready)
            .finish()
    }
}

impl ClientConnection {
    /// A connection over a transport that has just been established. The
    /// preface and our SETTINGS are queued for transmission.
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        let receive_budget =
            ReceiveBudget::new(config.max_receive_memory, config.max_receive_message_size);
        ClientConnection {
            h2: h2::Connection::client(config.h2.clone(), now),
            request_constants: response::RequestConstants::new(&config),
            config,
            calls: FastMap::default(),
            by_stream: streams::StreamCalls::default(),
            pending: VecDeque::new(),
            deadlines: Deadlines::default(),
            events: crate::queue::Queue::new(),
            next_call: 1,
            now,
            ready: false,
            going_away: false,
            fresh: false,
            open_due: false,
            scratch: Vec::new(),
            receive_budget,
            recent_paths: Recent::default(),
            responses: Recent::default(),
        }
    }

    /// Feed bytes read from the transport. An `Err` is a connection error
    /// (a GOAWAY is queued where we are the one ending it); every call is
    /// finished with UNAVAILABLE.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) -> Result<(), ConnectionError> {
        self.now = now;
        let r = self.h2.receive(bytes, now);
        self.pump_at_now();
        r
    }

    /// The transport reached end of file.
    pub fn receive_eof(&mut self, now: Instant) {
        self.now = now;
        self.h2.receive_eof();
        self.pump_at_now();
    }

    /// The next event, if any.
    #[must_use]
    #[inline]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) may have bytes now;
    /// `false` means it would return 0 (see
    /// [`h2::Connection::has_output`](crate::h2::Connection::has_output)).
    pub fn has_output(&self) -> bool {
        self.h2.has_output()
    }

    /// Append bytes to write to `dst`; call until it returns 0. While the
    /// transport cannot take more, stop early and call again once it can:
    /// the rest stays queued, and sends beyond the send queues' bounds are
    /// refused with [`CallError::Blocked`] meanwhile.
    pub fn poll_transmit(&mut self, dst: &mut BytesMut) -> usize {
        let n = self.h2.poll_transmit(dst);
        // `pump`, its test inline: writing rarely makes an event.
        if self.h2.has_events() {
            self.pump_events();
        }
        n
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next run. It
    /// may be an instant already past: run it at once (calls waiting for
    /// a stream that came free without a clock reading open from it).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.open_due {
            // Calls wait to open from a fresh clock reading: now.
            return Some(self.now);
        }
        let call = self.deadlines.first().map(|(t, _)| *t);
        match (self.h2.poll_timeout(), call) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Run the timers due at `now`: HTTP/2 timers and call deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.h2.handle_timeout(now);
        while let Some(&(t, id)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            self.abort(CallId(id), deadline_exceeded());
        }
        self.pump_at_now();
    }

    /// Send a PING; [`ClientEvent::PingAcked`] reports the round trip.
    pub fn ping(&mut self, now: Instant) -> Result<(), CallError> {
        self.now = now;
        self.h2
            .ping(now)
            .map(|_| ())
            .map_err(|_| CallError::ConnectionClosed)
    }

    /// Begin a graceful close: GOAWAY is sent (after the opening HEADERS of
    /// calls already started), no new calls start, calls still waiting for
    /// a stream end with UNAVAILABLE, calls in progress finish;
    /// [`ClientEvent::Closed`] follows. A call cancelled after this whose
    /// HEADERS were still queued is now opened and then reset: the server
    /// sees it start and be cancelled.
    pub fn shutdown(&mut self, now: Instant) {
        self.now = now;
        self.h2.shutdown(now);
        // No stream opens after our GOAWAY: calls still waiting for one
        // end now rather than when the connection closes.
        self.going_away = true;
        self.fail_pending("connection shutting down before the call started");
        self.pump_at_now();
    }

    /// End every call still waiting for a stream with UNAVAILABLE.
    fn fail_pending(&mut self, why: &'static str) {
        let status = Status::new(Code::Unavailable, why);
        for id in std::mem::take(&mut self.pending) {
            self.finish(CallId(id), status.clone(), MetadataMap::new());
        }
    }

    /// The connection has ended; write what [`poll_transmit`](Self::poll_transmit)
    /// still returns, then close the transport.
    pub fn is_closed(&self) -> bool {
        self.h2.is_closed()
    }

    /// The server acknowledged our SETTINGS.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// New calls may start here (the connection is neither closed nor
    /// going away, and has stream identifiers left).
    pub fn accepts_calls(&self) -> bool {
        !self.going_away && !self.h2.is_closed() && self.ids_left_for_new_call()
    }

    /// Calls in progress (waiting for a stream included).
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Memory charged now for response messages beyond what the windows
    /// count (messages received in part, unreleased messages beyond their
    /// credit), over all calls (bounded by
    /// [`max_receive_memory`](ClientConfig::max_receive_memory)).
    pub fn receive_memory_charged(&self) -> usize {
        self.receive_budget.used()
    }

    /// The HTTP/2 connection underneath (read-only: RTT, stream counts).
    pub fn h2(&self) -> &h2::Connection {
        &self.h2
    }

    /// Where `path`'s shared bytes are: a recent path's slot, or a new
    /// copy that is remembered in place of the oldest (if at most 256
    /// bytes long); `None` if it is not a valid path. A recent path was
    /// checked when it was first seen, so the check is made once per path.
    fn checked_path(&mut self, path: &str) -> Option<PathAt> {
        if let Some(slot) = self
            .recent_paths
            .position(|(p, _)| p[..] == *path.as_bytes())
        {
            return Some(PathAt::Recent(slot));
        }
        if !crate::grpc::head::valid_path(path.as_bytes()) {
            return None;
        }
        let p = Bytes::copy_from_slice(path.as_bytes());
        if p.len() <= 256 {
            return Some(PathAt::Recent(self.recent_paths.put((p, None))));
        }
        Some(PathAt::Own(p))
    }

    /// The shared bytes of a path [`checked_path`](Self::checked_path)
    /// found.
    fn path_bytes(&self, at: PathAt) -> Bytes {
        match at {
            PathAt::Recent(slot) => self
                .recent_paths
                .get(slot)
                .map(|(p, _)| p.clone())
                .unwrap_or_default(),
            PathAt::Own(p) => p,
        }
    }

    /// The shared request head of a call with default options to recent
    /// path `slot` (made the first time), followed by the call's
    /// `grpc-timeout` when it has a `deadline`.
    fn usual_head(&mut self, slot: usize, deadline: Option<Instant>) -> Option<h2::FieldList> {
        let (path, head) = self.recent_paths.get_mut(slot)?;
        let head = match head {
            Some(head) => head.clone(),
            None => {
                let fields = response::request_fields(
                    Vec::new(),
                    &self.request_constants,
                    path,
                    &CallOptions::default(),
                    crate::grpc::compression::IDENTITY,
                    self.now,
                );
                let shared: Arc<[HeaderField]> = fields.into();
                *head = Some(shared.clone());
                shared
            }
        };
        Some(match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(self.now);
                h2::FieldList::SharedTimeout(head, h2::Timeout::new(left))
            }
            None => h2::FieldList::Shared(head),
        })
    }

    /// Start a call to `path` (`/package.Service/Method`). Its HEADERS go
    /// out now, or once the server's stream limit allows. Calls may start
    /// before the connection is ready ([`ClientEvent::Ready`]): their
    /// frames wait behind the preface.
    pub fn start_call(
        &mut self,
        path: &str,
        options: CallOptions,
        now: Instant,
    ) -> Result<CallId, CallError> {
        self.begin_call(path, options, None, now)
    }

    /// Start a call whose whole request is `message` (compressed if the
    /// call compresses): a unary or server-streaming call. The same as
    /// [`start_call`](Self::start_call), [`send_message`](Self::send_message)
    /// and [`half_close`](Self::half_close), but the head, the message and
    /// the end of the request go out together: when the stream opens at
    /// once and the windows allow, they are written straight into the
    /// output as one HEADERS and one DATA frame, with no queue entries.
    /// Written that way they are committed, as if already in flight: a
    /// GOAWAY that arrives before the next
    /// [`poll_transmit`](Self::poll_transmit) ends the call with
    /// UNAVAILABLE but does not take them back (the server ignores them,
    /// as RFC 9113 §6.8 asks).
    pub fn start_call_with_message(
        &mut self,
        path: &str,
        options: CallOptions,
        message: Bytes,
        now: Instant,
    ) -> Result<CallId, CallError> {
        self.begin_call(path, options, Some(message), now)
    }

    fn begin_call(
        &mut self,
        path: &str,
        options: CallOptions,
        message: Option<Bytes>,
        now: Instant,
    ) -> Result<CallId, CallError> {
        self.now = now;
        if self.h2.is_closed() {
            return Err(CallError::ConnectionClosed);
        }
        if self.going_away || !self.ids_left_for_new_call() {
            return Err(CallError::GoingAway);
        }
        let Some(path) = self.checked_path(path) else {
            return Err(CallError::InvalidPath);
        };
        let must_wait = !self.pending.is_empty() || !self.h2.can_open_stream();
        if must_wait && self.pending.len() >= self.config.max_pending_calls {
            return Err(CallError::TooManyPendingCalls);
        }
        let id = self.next_call;
        self.next_call += 1;
        let registry = &self.config.compression;
        let send_compressor = match &options.compression {
            Some(name) => registry.unless_identity(registry.for_send(name, None)),
            None => None,
        };
        let deadline = options.deadline;
        // The whole request, when the call starts with it.
        let mut whole = match message {
            Some(message) => {
                let limit = self.config.max_send_message_size;
                Some(match &send_compressor {
                    // No send compressor is identity: the message goes as is.
                    None => frame_plain(message, limit)?,
                    Some(c) => frame_message(c.as_ref(), true, message, limit)?,
                })
            }
            None => None,
        };
        let call = CallId(id);
        // The usual call: a whole request with default options to a recent
        // path, whose stream opens now. Its stream opens before its record
        // joins the map, which then takes the record complete (no lookup
        // after the insertion), and its path and options are never kept.
        let usual = match &path {
            PathAt::Recent(slot) if !must_wait => Some(*slot),
            _ => None,
        };
        if let Some((slot, parts)) = usual.zip(whole.take_if(|_| usual.is_some())) {
            if deadline.is_none_or(|d| d > now)
                && self.usual_options(&options, send_compressor.as_ref())
            {
                let opened = match self.usual_head(slot, deadline) {
                    Some(head) => self.h2.open_stream_whole(head, parts),
                    None => Err((SendError::ConcurrencyLimit, parts)),
                };
                match opened {
                    Ok(stream) => {
                        if let Some(d) = deadline {
                            self.deadlines.insert(d, id);
                        }
                        self.calls.insert(
                            id,
                            ClientCall {
                                stream: Some(stream),
                                kind: options.kind,
                                wants_writable: false,
                                send_closed: true,
                                deadline,
                                send_compressor,
                                waiting: None,
                                inbound: None,
                            },
                        );
                        self.by_stream.insert(stream.value(), id);
                        discard_options(options);
                        self.pump_at_now();
                        return Ok(call);
                    }
                    // The general path below tries again, and tells why.
                    Err((_, parts)) => whole = Some(parts),
                }
            } else {
                whole = Some(parts);
            }
        }
        self.calls.insert(
            id,
            ClientCall {
                stream: None,
                kind: options.kind,
                wants_writable: false,
                send_closed: whole.is_some(),
                deadline,
                send_compressor,
                waiting: None,
                inbound: None,
            },
        );
        if let Some(d) = deadline {
            if d <= now {
                self.finish(
                    call,
                    Status::new(
                        Code::DeadlineExceeded,
                        "deadline exceeded before the call started",
                    ),
                    MetadataMap::new(),
                );
                return Ok(call);
            }
            self.deadlines.insert(d, id);
        }
        let start = Start {
            path: self.path_bytes(path),
            options,
        };
        if must_wait {
            if let Some(parts) = whole {
                self.hold_whole(id, parts);
            }
            self.keep_start(id, start);
            self.wait_for_stream(id);
            self.open_pending();
        } else if self.open_call(id, &start, whole).is_err() {
            self.keep_start(id, start);
            self.wait_for_stream(id);
        }
        self.pump_at_now();
        Ok(call)
    }

    /// Whether a call with `options`, compressing with `compressor`, sends
    /// its path's shared head (plus its `grpc-timeout`, if it has a
    /// deadline).
    #[inline]
    fn usual_options(&self, o: &CallOptions, compressor: Option<&Arc<dyn Compressor>>) -> bool {
        o.metadata.is_empty()
            && o.authority.is_none()
            && o.content_subtype.as_deref().is_none_or(str::is_empty)
            && self.config.compression.or_identity(compressor).name() == IDENTITY
    }

    /// Keep what call `id`'s head is made of until its stream opens.
    fn keep_start(&mut self, id: u64, start: Start) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.waiting().start = Some(start);
        }
    }

    /// Send a request message (compressed if the call compresses).
    /// Refused with [`CallError::Blocked`] while the call's queue is full;
    /// the message is then dropped, not queued: keep a clone (cheap for
    /// [`Bytes`]) to send again after the call's `Writable` event.
    pub fn send_message(&mut self, call: CallId, message: Bytes) -> Result<(), CallError> {
        self.send_message_with(call, message, true)
    }

    /// [`send_message`](Self::send_message), or with `compress` false the
    /// message goes uncompressed (its compressed flag clear) even if the
    /// call compresses, as gRPC allows message by message.
    #[inline]
    pub fn send_message_with(
        &mut self,
        call: CallId,
        message: Bytes,
        compress: bool,
    ) -> Result<(), CallError> {
        let limit = self.config.max_send_message_size;
        let buffer = self.config.h2.max_send_buffer;
        let c = self
            .calls
            .get_mut(&call.0)
            .ok_or(CallError::UnknownCall(call))?;
        if c.send_closed {
            return Err(CallError::SendClosed(call));
        }
        let (compressor, plain) = send_choice(c.send_compressor.as_ref(), compress);
        match c.stream {
            Some(stream) if !c.has_held() => {
                let checked = !plain;
                if checked {
                    // Refuse early (arming the Writable event) rather than
                    // compress a message the queue cannot take; a plain
                    // one costs nothing to frame, and the send refuses it.
                    self.h2
                        .check_writable(stream)
                        .map_err(|e| map_send(call, e))?;
                }
                send_framed(
                    &mut self.h2,
                    call,
                    stream,
                    compressor,
                    plain,
                    message,
                    limit,
                    checked,
                )
            }
            _ => {
                if c.held_bytes() >= buffer {
                    c.wants_writable = true;
                    return Err(CallError::Blocked(call));
                }
                let parts = frame_message(compressor, compress, message, limit)?;
                let w = c.waiting();
                w.held_bytes += parts[0].len() + parts[1].len();
                w.held.push_back(Held::Message(parts));
                Ok(())
            }
        }
    }

    /// Finish sending on the call (END_STREAM).
    pub fn half_close(&mut self, call: CallId) -> Result<(), CallError> {
        let c = self
            .calls
            .get_mut(&call.0)
            .ok_or(CallError::UnknownCall(call))?;
        if c.send_closed {
            return Err(CallError::SendClosed(call));
        }
        c.send_closed = true;
        match c.stream {
            Some(stream) if !c.has_held() => self
                .h2
                .send_data(stream, Bytes::new(), true)
                .map_err(|e| map_send(call, e)),
            _ => {
                c.waiting().held.push_back(Held::End);
                Ok(())
            }
        }
    }

    /// Cancel the call: RST_STREAM CANCEL goes to the server and the call
    /// finishes with CANCELLED. Cancelling an ended call does nothing.
    pub fn cancel(&mut self, call: CallId) {
        self.abort(
            call,
            Status::new(Code::Cancelled, "call cancelled by the client"),
        );
        self.pump();
    }

    /// The application consumed a message: give its `flow_len` back so the
    /// server may send more. Works after the call ended too.
    ///
    /// While any message of a call is not released, the bytes of the next
    /// one are not given back as they arrive, so a next message larger
    /// than the stream window cannot complete until this is called: an
    /// application that waits for a message should release those it has
    /// taken first. (That is what bounds what a call nobody reads can
    /// make us hold.)
    pub fn release_capacity(&mut self, call: CallId, flow_len: u32) {
        let (stream, owed) = match self.calls.get_mut(&call.0) {
            Some(c) => (
                c.stream.unwrap_or(StreamId::ZERO),
                c.inbound.as_mut().map_or(0, |i| i.released(flow_len)),
            ),
            // The call is over, its stream with it: only the
            // connection's window is owed anything.
            None => return self.h2.release_connection_capacity(flow_len),
        };
        self.h2
            .release_capacity(stream, flow_len.saturating_add(owed));
    }

    /// Whether [`send_message`](Self::send_message) would be accepted now.
    pub fn is_writable(&self, call: CallId) -> bool {
        self.calls.get(&call.0).is_some_and(|c| {
            !c.send_closed
                && match c.stream {
                    Some(s) if !c.has_held() => self.h2.is_writable(s),
                    _ => c.held_bytes() < self.config.h2.max_send_buffer,
                }
        })
    }

    /// End a call locally with `status`, resetting its stream.
    fn abort(&mut self, call: CallId, status: Status) {
        if let Some(stream) = self.calls.get(&call.0).and_then(|c| c.stream) {
            self.h2.reset(stream, Reason::CANCEL);
        }
        self.finish(call, status, MetadataMap::new());
    }

    /// End a call whose stream the server has ended (END_STREAM). If we
    /// had not finished sending, RST_STREAM NO_ERROR tells the server that
    /// nothing more comes and lets both sides forget the stream
    /// (PROTOCOL-HTTP2.md, Early Server Closure): left half-closed, it
    /// would hold one of the server's concurrent streams for good.
    fn finish_by_server(&mut self, call: CallId, status: Status, trailers: MetadataMap) {
        // The record is taken out once (trailers that found it take it
        // out through its entry: see `on_headers`).
        if let Some(end) = take_end(self.calls.remove_entry(&call.0)) {
            self.ended_by_server(call, end, status, trailers);
        }
    }

    /// [`finish_by_server`](Self::finish_by_server) of a record already
    /// taken out of the map.
    #[inline]
    fn ended_by_server(
        &mut self,
        call: CallId,
        end: CallEnd,
        status: Status,
        trailers: MetadataMap,
    ) {
        if let Some(stream) = end.stream {
            if self.h2.stream_state(stream) == Some(h2::State::HalfClosedRemote) {
                self.h2.reset(stream, Reason::NO_ERROR);
            }
        }
        self.finished(call, end, status, trailers);
    }

    fn finish(&mut self, call: CallId, status: Status, trailers: MetadataMap) {
        if let Some(end) = take_end(self.calls.remove_entry(&call.0)) {
            self.finished(call, end, status, trailers);
        }
    }

    /// The end of call `call`, whose record has left the map.
    fn finished(&mut self, call: CallId, end: CallEnd, status: Status, trailers: MetadataMap) {
        // What the peer sent of an unfinished message is not held any more.
        if end.owed > 0 {
            self.h2
                .release_capacity(end.stream.unwrap_or(StreamId::ZERO), end.owed);
        }
        if let Some(d) = end.deadline {
            self.deadlines.remove(d, call.0);
        }
        if let Some(s) = end.stream {
            self.by_stream.remove(&s.value());
        } else {
            self.pending.retain(|id| *id != call.0);
        }
        self.events.push_back(ClientEvent::Finished {
            call,
            status,
            trailers,
        });
    }

    /// Put call `id` in line for a stream: the HTTP/2 layer reports
    /// streams closing from now on (the report is switched off again once
    /// nothing waits, see [`translate`](Self::translate)).
    fn wait_for_stream(&mut self, id: u64) {
        self.pending.push_back(id);
        self.h2.report_capacity = true;
    }

    /// Whether a stream identifier is left for one more call after those
    /// waiting for a stream.
    fn ids_left_for_new_call(&self) -> bool {
        let left = usize::try_from(self.h2.remaining_stream_ids()).unwrap_or(usize::MAX);
        left > self.pending.len()
    }

    /// Open streams for waiting calls while the server's limit allows.
    fn open_pending(&mut self) {
        while let Some(&id) = self.pending.front() {
            if !self.h2.can_open_stream() {
                if self.h2.is_closed() || self.going_away || self.h2.active_streams() == 0 {
                    // Nothing will free a stream here: fail what waits.
                    let status =
                        Status::new(Code::Unavailable, "connection cannot open more streams");
                    for id in std::mem::take(&mut self.pending) {
                        self.finish(CallId(id), status.clone(), MetadataMap::new());
                    }
                }
                return;
            }
            self.pending.pop_front();
            // A call whose one message and end are held (a unary call
            // that waited for a stream) opens with its whole request.
            let Some(c) = self.calls.get_mut(&id) else {
                continue;
            };
            let (start, whole) = match c.waiting.as_mut() {
                Some(w) => {
                    let whole = w.held.len() == 2
                        && matches!(w.held.front(), Some(Held::Message(_)))
                        && matches!(w.held.back(), Some(Held::End));
                    let whole = match whole.then(|| w.held.pop_front()).flatten() {
                        Some(Held::Message(parts)) => {
                            w.held.clear();
                            w.held_bytes = 0;
                            Some(parts)
                        }
                        _ => None,
                    };
                    (w.start.take(), whole)
                }
                None => (None, None),
            };
            let Some(start) = start else {
                // Every call in line keeps its start: this cannot happen.
                let status = Status::new(Code::Unavailable, "call has no request head");
                self.finish(CallId(id), status, MetadataMap::new());
                continue;
            };
            if self.open_call(id, &start, whole).is_err() {
                self.keep_start(id, start);
                self.pending.push_front(id);
                return;
            }
        }
    }

    /// Hold `parts` and the end of the request on call `id` until its
    /// stream opens.
    fn hold_whole(&mut self, id: u64, parts: [Chunk; 2]) {
        if let Some(c) = self.calls.get_mut(&id) {
            let w = c.waiting();
            w.held_bytes = parts[0].len() + parts[1].len();
            w.held.push_back(Held::Message(parts));
            w.held.push_back(Held::End);
        }
    }

    /// Open call `id`'s stream with its head and, given `whole`, its whole
    /// request. `Err` when the server's stream limit leaves no room now:
    /// the request is held again and the call must wait.
    fn open_call(&mut self, id: u64, start: &Start, whole: Option<[Chunk; 2]>) -> Result<(), ()> {
        let Some(c) = self.calls.get(&id) else {
            return Ok(());
        };
        // A call with default options to a recent path (whose bytes
        // its path shares) sends that path's shared head.
        // A call with default options but a deadline sends the same
        // head, then its `grpc-timeout`.
        let o = &start.options;
        let path = &start.path;
        let usual = self.usual_options(o, c.send_compressor.as_ref());
        let deadline = o.deadline;
        let slot = usual
            .then(|| {
                let same =
                    |(p, _): &(Bytes, _)| p.as_ptr() == path.as_ptr() && p.len() == path.len();
                self.recent_paths.position(same)
            })
            .flatten();
        let head = match slot {
            Some(slot) => self.usual_head(slot, deadline),
            None => self.own_head(id, start),
        };
        let Some(head) = head else {
            let status = Status::new(Code::Unavailable, "call has no request head");
            self.finish(CallId(id), status, MetadataMap::new());
            return Ok(());
        };
        let opened = match whole {
            Some(parts) => self
                .h2
                .open_stream_whole(head, parts)
                .map_err(|(e, parts)| {
                    self.hold_whole(id, parts);
                    e
                }),
            None => self.h2.open_stream_with(head, false),
        };
        match opened {
            Ok(stream) => {
                self.by_stream.insert(stream.value(), id);
                if let Some(c) = self.calls.get_mut(&id) {
                    c.stream = Some(stream);
                    if c.waiting.is_some() || c.wants_writable {
                        self.flush_held(CallId(id));
                    }
                }
                Ok(())
            }
            Err(SendError::ConcurrencyLimit) => Err(()),
            Err(_) => {
                self.finish(
                    CallId(id),
                    Status::new(Code::Unavailable, "connection cannot open more streams"),
                    MetadataMap::new(),
                );
                Ok(())
            }
        }
    }

    /// A request head of call `id`'s own, made of `start`.
    fn own_head(&mut self, id: u64, start: &Start) -> Option<h2::FieldList> {
        let c = self.calls.get(&id)?;
        let fields = response::request_fields(
            self.h2.field_list(10 + start.options.metadata.len()),
            &self.request_constants,
            &start.path,
            &start.options,
            self.config
                .compression
                .or_identity(c.send_compressor.as_ref())
                .name(),
            self.now,
        );
        Some(h2::FieldList::Owned(fields))
    }

    /// Move held output of a call into its stream as far as the queue
    /// allows; report Writable when the application may send again.
    fn flush_held(&mut self, call: CallId) {
        let buffer = self.config.h2.max_send_buffer;
        let Some(c) = self.calls.get_mut(&call.0) else {
            return;
        };
        let Some(stream) = c.stream else {
            return;
        };
        if let Some(w) = c.waiting.as_mut() {
            while let Some(item) = w.held.pop_front() {
                let r = match &item {
                    Held::Message(parts) => {
                        let n = parts[0].len() + parts[1].len();
                        let r = self.h2.send_chunks(stream, parts.clone(), false);
                        if r.is_ok() {
                            w.held_bytes -= n;
                        }
                        r
                    }
                    Held::End => self.h2.send_data(stream, Bytes::new(), true),
                };
                match r {
                    Ok(()) => {}
                    Err(SendError::Blocked(_)) => {
                        w.held.push_front(item);
                        return;
                    }
                    Err(_) => {
                        c.waiting = None;
                        return;
                    }
                }
            }
            // Nothing held, and the stream is open: nothing waits.
            c.waiting = None;
        }
        if c.wants_writable && c.held_bytes() < buffer {
            c.wants_writable = false;
            self.events.push_back(ClientEvent::Writable { call });
        }
    }

    #[inline]
    fn pump(&mut self) {
        // Most calls find nothing: they do not pay for the loop's setup
        // (nor for the call's: the check is made inline).
        if self.h2.has_events() {
            self.pump_events();
        }
    }

    #[inline(never)]
    fn pump_events(&mut self) {
        while let Some(ev) = self.h2.poll_event() {
            self.translate(ev);
        }
    }

    /// [`pump`](Self::pump) right after a clock reading: `now` is current,
    /// so calls waiting to open from one do.
    fn pump_at_now(&mut self) {
        self.fresh = true;
        if self.open_due {
            self.open_due = false;
            self.open_pending();
        }
        // `pump`, its test inline: a call's start rarely makes an event.
        if self.h2.has_events() {
            self.pump_events();
        }
        self.fresh = false;
    }

    fn translate(&mut self, ev: Event) {
        match ev {
            Event::SettingsAcked => {
                if !self.ready {
                    self.ready = true;
                    self.events.push_back(ClientEvent::Ready);
                }
            }
            Event::Headers {
                stream,
                fields,
                end_stream,
            } => {
                if let Some(&id) = self.by_stream.get(&stream.value()) {
                    self.on_headers(CallId(id), stream, &fields, end_stream);
                }
                self.h2.recycle_fields(fields);
            }
            Event::Data {
                stream,
                data,
                end_stream,
            } => self.on_data(stream, data, end_stream),
            Event::HeaderListTooLarge { stream, .. } => {
                if let Some(&id) = self.by_stream.get(&stream.value()) {
                    self.abort(
                        CallId(id),
                        Status::new(Code::ResourceExhausted, "response header list too large"),
                    );
                }
            }
            Event::StreamReset { stream, code, .. } => {
                if let Some(&id) = self.by_stream.get(&stream.value()) {
                    let mut status = Status::from_h2_reason(code.value());
                    // A server cancels at the deadline too: once it has
                    // passed, that is what the call ran out of, whether or
                    // not our own timer has run (PROTOCOL-HTTP2.md, Client
                    // Cancellation).
                    let expired = self
                        .calls
                        .get(&id)
                        .and_then(|c| c.deadline)
                        .is_some_and(|d| d <= self.now);
                    if code == Reason::CANCEL && expired {
                        status = deadline_exceeded();
                    }
                    self.finish(CallId(id), status, MetadataMap::new());
                }
            }
            Event::Writable { stream } => {
                if let Some(&id) = self.by_stream.get(&stream.value()) {
                    let call = CallId(id);
                    let had_held = self.calls.get(&id).is_some_and(ClientCall::has_held);
                    if had_held {
                        self.flush_held(call);
                    } else {
                        self.events.push_back(ClientEvent::Writable { call });
                    }
                }
            }
            Event::StreamCapacity => {
                let timed = || {
                    self.pending
                        .iter()
                        .any(|id| self.calls.get(id).is_some_and(|c| c.deadline.is_some()))
                };
                if self.fresh || !timed() {
                    self.open_pending();
                } else {
                    // `now` may be stale, and a waiting call sends what
                    // is left of its deadline: open them from the next
                    // clock reading.
                    self.open_due = true;
                }
                // With no call waiting, a stream closing changes nothing
                // here: the HTTP/2 layer need not report it until one
                // waits again. (A call that goes back in line was in it,
                // so the report is still on.)
                if self.pending.is_empty() {
                    self.h2.report_capacity = false;
                }
            }
            Event::PingAcked { rtt, .. } => self.events.push_back(ClientEvent::PingAcked { rtt }),
            Event::GoAway {
                code, debug_data, ..
            } => {
                self.going_away = true;
                self.fail_pending("connection going away before the call started");
                self.events
                    .push_back(ClientEvent::GoAway { code, debug_data });
            }
            Event::Closed { error } => {
                let message = match &error {
                    Some(e) => format!("connection closed: {e}"),
                    None => "connection closed".to_string(),
                };
                let mut ids: Vec<u64> = self.calls.keys().copied().collect();
                ids.sort_unstable();
                for id in ids {
                    self.finish(
                        CallId(id),
                        Status::new(Code::Unavailable, message.clone()),
                        MetadataMap::new(),
                    );
                }
                self.events.push_back(ClientEvent::Closed { error });
            }
        }
    }

    fn on_headers(&mut self, call: CallId, stream: StreamId, fields: &Fields, end_stream: bool) {
        let registry = &self.config.compression;
        let limit = self.config.max_receive_message_size;
        // The record is found once: trailers take it out through the
        // same entry.
        let Entry::Occupied(mut entry) = self.calls.entry(call.0) else {
            return;
        };
        let c = entry.get_mut();
        // A block answered from the HPACK memo, read before as the same
        // kind of section, is not read again. Trailers-only answers are
        // read each time.
        let trailers = c.inbound.is_some();
        let block = fields.block_id().filter(|_| trailers || !end_stream);
        let kept = block.and_then(|id| {
            self.responses
                .find(|(k, kept)| *k == id && kept.is_trailers() == trailers)
        });
        let kept = match kept {
            Some((_, kept)) => kept.clone(),
            None => {
                let read = if trailers {
                    let (status, metadata) = response::read_trailers(fields, 200);
                    response::Kept::Trailers { status, metadata }
                } else {
                    match response::read_head(fields, end_stream, registry) {
                        Ok(kept) => kept,
                        Err(head) => {
                            self.on_other_head(call, stream, head);
                            return;
                        }
                    }
                };
                if let Some(id) = block {
                    if fields.iter().map(HeaderField::size).sum::<usize>() <= KEPT_RESPONSE_MAX {
                        self.responses.put((id, read.clone()));
                    }
                }
                read
            }
        };
        match kept {
            response::Kept::Head {
                compressor,
                metadata,
            } => {
                c.inbound = Some(Inbound::new(compressor, limit));
                self.events
                    .push_back(ClientEvent::Headers { call, metadata });
            }
            response::Kept::Trailers {
                mut status,
                metadata,
            } => {
                if let Some(inb) = &c.inbound {
                    if let Err(s) = inb.finish() {
                        status = s;
                    }
                    if status.is_ok() && c.kind.single_response() && inb.count != 1 {
                        status = cardinality_violation(
                            "no response message for a single-response method",
                        );
                    }
                }
                if let Some(end) = take_end(Some(entry.remove_entry())) {
                    self.ended_by_server(call, end, status, metadata);
                }
            }
        }
    }

    /// A response head that does not open the response: trailers-only, or
    /// one the call cannot go on with.
    fn on_other_head(&mut self, call: CallId, stream: StreamId, head: response::Head) {
        match head {
            response::Head::TrailersOnly {
                mut status,
                trailers,
            } => {
                let single = self
                    .calls
                    .get(&call.0)
                    .is_some_and(|c| c.kind.single_response());
                if status.is_ok() && single {
                    status =
                        cardinality_violation("no response message for a single-response method");
                }
                self.finish_by_server(call, status, trailers);
            }
            response::Head::Fail(status) => {
                let _ = stream;
                self.abort(call, status);
            }
        }
    }

    fn on_data(&mut self, stream: StreamId, data: Bytes, end_stream: bool) {
        let Some(&id) = self.by_stream.get(&stream.value()) else {
            self.h2.release_capacity(stream, data.len() as u32);
            return;
        };
        let call = CallId(id);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let single = c.kind.single_response();
        let Some(inbound) = c.inbound.as_mut() else {
            return;
        };
        let received = match inbound.take_whole(data, self.h2.reads, single) {
            Ok(d) => {
                self.events.push_back(ClientEvent::Message {
                    call,
                    message: d.message,
                    flow_len: d.flow_len,
                });
                Ok(())
            }
            Err(data) => {
                let single =
                    single.then_some("several response messages for a single-response method");
                let mut out = std::mem::take(&mut self.scratch);
                let received = inbound.receive(
                    &mut self.h2,
                    stream,
                    data,
                    single,
                    &self.receive_budget,
                    &mut out,
                );
                for d in out.drain(..) {
                    self.events.push_back(ClientEvent::Message {
                        call,
                        message: d.message,
                        flow_len: d.flow_len,
                    });
                }
                self.scratch = out;
                received
            }
        };
        if let Err(status) = received {
            self.abort(call, status);
            return;
        }
        if end_stream {
            self.finish_by_server(
                call,
                Status::new(
                    Code::Internal,
                    "server closed the stream without sending trailers",
                ),
                MetadataMap::new(),
            );
        }
    }
}

/// The status of a call whose deadline passed, whichever side noticed.
fn deadline_exceeded() -> Status {
    Status::new(Code::DeadlineExceeded, "deadline exceeded")
}
