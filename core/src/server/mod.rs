//! The server role: [`ServerConnection`], the state machine a gRPC server
//! adapter (or an embedder) drives for one accepted connection.
//!
//! It owns the request side of gRPC's PROTOCOL-HTTP2.md on top of
//! [`crate::h2`]: validating request heads (method, content-type, path,
//! `grpc-timeout`, `grpc-encoding`), answering requests that are not gRPC
//! without bothering the application, deframing and decompressing request
//! messages, response heads, messages and status trailers (trailers-only
//! when nothing else was sent), deadlines, cancellation and cardinality.
//!
//! Run loop:
//!
//! ```text
//! let mut conn = ServerConnection::new(ServerConfig::default(), now);
//! loop {
//!     bytes from the socket  -> conn.receive(&bytes, now)   (EOF -> conn.receive_eof(now))
//!     while let Some(ev) = conn.poll_event() { ... }         (CallStarted, Message, HalfClosed, ...)
//!     handler actions        -> conn.send_headers / send_message / send_status / release_capacity
//!                               (or send_response: one message and the status at once)
//!     conn.poll_transmit(&mut out) until 0                  -> write `out`
//!     conn.poll_timeout()    -> at that instant, conn.handle_timeout(now); poll again
//! }
//! ```
//!
//! The crate's top-level documentation wires a client and a server
//! together for one whole call, as a compiled example.

mod request;

use crate::deadlines::Deadlines;

use crate::h2::idmap::FastMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::call::{
    CallError, CallId, CallKind, Delivered, Inbound, ReceiveBudget, Received,
    cardinality_violation, field, fields_from_pairs, frame_message, frame_plain, map_send,
    send_choice, send_framed,
};
use crate::frame::{Reason, StreamId};
use crate::grpc::compression::{
    CompressionRegistry, Compressor, GRPC_ACCEPT_ENCODING, GRPC_ENCODING, IDENTITY, is_identity,
};
use crate::grpc::head::APPLICATION_GRPC;
use crate::grpc::message::{
    DEFAULT_MAX_RECEIVE_MEMORY, DEFAULT_MAX_RECEIVE_MESSAGE_SIZE, PREFIX_LEN,
};
use crate::grpc::metadata::MetadataMap;
use crate::grpc::timeout::{GRPC_TIMEOUT, parse_timeout};
use crate::grpc::{Code, Status};
use crate::h2::{self, ConnectionError, Event, Fields, PingPolicy};
use crate::hpack::HeaderField;

pub use request::RequestHead;
use request::{Heads, Verdict};

/// The largest request head (its fields' HPACK sizes) kept for reuse.
const KEPT_HEAD_MAX: usize = 1024;

/// Settings of a server connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The HTTP/2 layer's settings and limits. The default enforces gRPC's
    /// keepalive policy on client PINGs (at most one every 5 minutes, one
    /// every two hours while no call is open, two strikes).
    pub h2: h2::Config,
    /// The largest request message accepted (after decompression too).
    /// Larger ones end the call with RESOURCE_EXHAUSTED. Default 4 MiB.
    pub max_receive_message_size: usize,
    /// The largest response message the application may send. Default
    /// `i32::MAX`, as gRPC implementations use.
    pub max_send_message_size: usize,
    /// The most memory the connection holds, over all its calls, for
    /// request messages beyond what the flow-control windows count: the
    /// bytes of messages still arriving (given back to the client's windows
    /// as they arrive, so that a message larger than the windows can arrive
    /// at all), and the part of a delivered message the application has
    /// not released that no longer holds credit (its first part, given back
    /// while it arrived). This bound is what stops a client from making the
    /// server hold an unfinished message on every stream it may open.
    /// (Compressed messages need no bound of their own: they are delivered
    /// compressed, see [`Received`].) A call whose charge would take the
    /// total past it ends with RESOURCE_EXHAUSTED.
    /// Raised to one `max_receive_message_size` message if set lower.
    /// Default 64 MiB.
    pub max_receive_memory: usize,
    /// The compression algorithms we accept and may respond with.
    pub compression: CompressionRegistry,
    /// After this long with no call in progress, the connection is shut
    /// down gracefully (GOAWAY; gRPC's `MAX_CONNECTION_IDLE`). `None`
    /// (the default) keeps idle connections.
    pub max_connection_idle: Option<Duration>,
    /// A connection this old is shut down gracefully: GOAWAY, no new
    /// calls, calls in progress go on (gRPC's `MAX_CONNECTION_AGE`, which
    /// lets clients rebalance). `None` (the default) means no limit.
    pub max_connection_age: Option<Duration>,
    /// How long calls in progress may go on after `max_connection_age`
    /// before the connection is closed under them (GOAWAY NO_ERROR, then
    /// close; their handlers see `ConnectionLost`). `None` (the default)
    /// lets them finish however long they take.
    pub max_connection_age_grace: Option<Duration>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            h2: h2::Config {
                ping_policy: Some(PingPolicy::default()),
                ..h2::Config::default()
            },
            max_receive_message_size: DEFAULT_MAX_RECEIVE_MESSAGE_SIZE,
            max_send_message_size: i32::MAX as usize,
            max_receive_memory: DEFAULT_MAX_RECEIVE_MEMORY,
            compression: CompressionRegistry::default(),
            max_connection_idle: None,
            max_connection_age: None,
            max_connection_age_grace: None,
        }
    }
}

/// Why a call ended before the handler finished it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelReason {
    /// The client reset the stream (CANCEL when it cancelled the call).
    Reset(Reason),
    /// The call's deadline passed; DEADLINE_EXCEEDED has been sent.
    DeadlineExceeded,
    /// The client broke the protocol for this call (a bad message, a
    /// cardinality violation); the status it was sent is given.
    Protocol(Status),
    /// The connection ended.
    ConnectionLost,
}

/// What happened on a server connection, drained with
/// [`ServerConnection::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A gRPC call arrived. Requests that are not gRPC were answered
    /// already and are not reported.
    CallStarted {
        /// The call.
        call: CallId,
        /// Its path, metadata, deadline and encodings. Calls that sent the
        /// same head may share it.
        head: Arc<RequestHead>,
    },
    /// A request message. Give `flow_len` back with
    /// [`ServerConnection::release_capacity`] once consumed.
    Message {
        /// The call.
        call: CallId,
        /// The message: still compressed if it arrived compressed; take its
        /// bytes with [`Received::decompress`].
        message: Received,
        /// Flow-control credit held by this message: give back exactly
        /// this. It is usually less than the message's length (the
        /// credit of a large message's first bytes went back while it
        /// arrived); giving back more would open the client's windows
        /// beyond the configured sizes.
        flow_len: u32,
    },
    /// The client finished sending.
    HalfClosed {
        /// The call.
        call: CallId,
    },
    /// The call ended without the handler: it should stop.
    Cancelled {
        /// The call.
        call: CallId,
        /// Why.
        reason: CancelReason,
    },
    /// A send refused with [`CallError::Blocked`] may be retried.
    Writable {
        /// The call.
        call: CallId,
    },
    /// The connection ended; no more events follow.
    Closed {
        /// Why, if not cleanly.
        error: Option<ConnectionError>,
    },
}

struct ServerCall {
    stream: StreamId,
    kind: CallKind,
    headers_sent: bool,
    recv_closed: bool,
    inbound: Inbound,
    /// `None`: the registry's identity.
    send_compressor: Option<Arc<dyn Compressor>>,
    /// The request head, shared with the application: the client's
    /// `grpc-accept-encoding`, the content-type to echo, the deadline.
    head: Arc<RequestHead>,
}

/// The response head of a call with no metadata and no compression, for
/// the content-type it echoes (the last one seen), and the request head it
/// was last made or found for.
#[derive(Default)]
struct UsualHead {
    fields: Option<(Bytes, Arc<[HeaderField]>)>,
    request: std::sync::Weak<RequestHead>,
}

/// One server-side gRPC connection as a sans-I/O state machine.
pub struct ServerConnection {
    h2: h2::Connection,
    config: ServerConfig,
    /// `grpc-accept-encoding` of our responses (the configuration does not
    /// change, so it is made once).
    accept_encoding: Option<Bytes>,
    calls: FastMap<u64, ServerCall>,
    deadlines: Deadlines,
    events: crate::queue::Queue<ServerEvent>,
    scratch: Vec<Delivered>,
    /// Memory held for request messages beyond what the windows count,
    /// over all calls (see [`Inbound`]).
    receive_budget: ReceiveBudget,
    /// Recent request texts, shared between calls.
    texts: request::Texts,
    /// Request heads read from blocks the HPACK memo answered, by block.
    heads: Heads,
    /// The response head of a call with no metadata and no compression,
    /// for the content-type it echoes (the last one seen).
    usual_head: UsualHead,
    /// The trailers of a call that ended OK with no message and no
    /// metadata of its own (made with the first such call).
    ok_trailers: Option<Arc<[HeaderField]>>,
    closed: bool,
    /// When the connection was made.
    born: Instant,
    /// The clock at the last `receive`, `handle_timeout` or `shutdown`.
    last_now: Instant,
    /// Since when no call has been in progress (`None` while one is, or
    /// when the last one ended in an application call that carried no
    /// clock reading: then the next `handle_timeout` records it).
    idle_since: Option<Instant>,
    /// The idle or age limit has started a graceful shutdown.
    retired: bool,
    /// The age limit has been reached (its grace, if any, is running).
    age_fired: bool,
    /// When calls still in progress are cut off after the age limit.
    age_grace_end: Option<Instant>,
}

impl std::fmt::Debug for ServerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConnection")
            .field("calls", &self.calls.len())
            .field("closed", &self.closed)
            .finish()
    }
}

fn call_of(stream: StreamId) -> CallId {
    CallId(u64::from(stream.value()))
}

fn stream_of(call: CallId) -> StreamId {
    StreamId::new(u32::try_from(call.0).unwrap_or(0))
}

impl ServerConnection {
    /// A connection that has just been accepted. Our SETTINGS is queued for
    /// transmission.
    pub fn new(config: ServerConfig, now: Instant) -> Self {
        let receive_budget =
            ReceiveBudget::new(config.max_receive_memory, config.max_receive_message_size);
        ServerConnection {
            h2: h2::Connection::server(config.h2.clone(), now),
            accept_encoding: config.compression.accept_encoding(),
            config,
            calls: FastMap::default(),
            deadlines: Deadlines::default(),
            events: crate::queue::Queue::new(),
            scratch: Vec::new(),
            receive_budget,
            texts: request::Texts::default(),
            heads: Heads::default(),
            usual_head: UsualHead::default(),
            ok_trailers: None,
            closed: false,
            born: now,
            last_now: now,
            idle_since: Some(now),
            retired: false,
            age_fired: false,
            age_grace_end: None,
        }
    }

    /// Feed bytes read from the transport. An `Err` is a connection error:
    /// a GOAWAY is queued (write it, then close), and every call is
    /// reported cancelled.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) -> Result<(), ConnectionError> {
        let r = self.h2.receive(bytes, now);
        self.pump(now);
        r
    }

    /// The transport reached end of file.
    pub fn receive_eof(&mut self, now: Instant) {
        self.h2.receive_eof();
        self.pump(now);
    }

    /// The next event, if any.
    #[must_use]
    #[inline]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
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
        // Writing can make streams writable again.
        self.translate_pending();
        n
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next run.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let call = self.deadlines.first().map(|(t, _)| *t);
        [self.h2.poll_timeout(), call, self.lifetime_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next moment the idle, age or age-grace limit needs a look.
    fn lifetime_timeout(&self) -> Option<Instant> {
        if self.h2.is_closed() {
            return None;
        }
        let idle = if self.retired {
            None
        } else if self.idle_since.is_none()
            && self.calls.is_empty()
            && self.config.max_connection_idle.is_some()
        {
            // The last call ended without a clock reading: look now.
            Some(self.last_now)
        } else {
            self.idle_due()
        };
        // The age limit still applies after an idle shutdown began (a call
        // may have started before the GOAWAY arrived); once it has fired,
        // its grace is what is left.
        let age = if self.age_fired {
            self.age_grace_end
        } else {
            self.age_due()
        };
        [idle, age].into_iter().flatten().min()
    }

    /// When the idle limit falls due (an overflowing sum, from a limit of
    /// `Duration::MAX`, say, is no limit).
    fn idle_due(&self) -> Option<Instant> {
        self.config
            .max_connection_idle
            .zip(self.idle_since)
            .and_then(|(d, t)| t.checked_add(d))
    }

    /// When the age limit falls due.
    fn age_due(&self) -> Option<Instant> {
        self.config
            .max_connection_age
            .and_then(|d| self.born.checked_add(d))
    }

    /// Apply the idle, age and age-grace limits at `now`.
    fn check_lifetime(&mut self, now: Instant) {
        if self.h2.is_closed() {
            return;
        }
        let idle = !self.retired && self.idle_due().is_some_and(|due| now >= due);
        let old = !self.age_fired && self.age_due().is_some_and(|due| now >= due);
        if old {
            self.age_fired = true;
            self.age_grace_end = self
                .config
                .max_connection_age_grace
                .and_then(|g| now.checked_add(g));
        }
        if (idle || old) && !self.retired {
            self.retired = true;
            self.h2.shutdown(now);
            self.pump(now);
        }
        if self.age_grace_end.is_some_and(|t| now >= t) {
            self.age_grace_end = None;
            self.h2.fail(ConnectionError::GoAway {
                code: Reason::NO_ERROR,
                debug_data: Bytes::from_static(b"max connection age"),
                initiator: h2::Initiator::Local,
            });
            self.pump(now);
        }
    }

    /// Run the timers due at `now`: HTTP/2 timers and call deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.h2.handle_timeout(now);
        while let Some(&(t, id)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            let call = CallId(id);
            if self.calls.contains_key(&id) {
                let status = Status::new(Code::DeadlineExceeded, "deadline exceeded");
                self.end_call(call, &status, MetadataMap::new());
                self.events.push_back(ServerEvent::Cancelled {
                    call,
                    reason: CancelReason::DeadlineExceeded,
                });
            }
        }
        self.pump(now);
        self.check_lifetime(now);
    }

    /// Begin a graceful shutdown: two-phase GOAWAY; calls already started
    /// run to completion; [`ServerEvent::Closed`] follows when the last
    /// one ends.
    pub fn shutdown(&mut self, now: Instant) {
        self.h2.shutdown(now);
        self.pump(now);
    }

    /// The connection has ended; write what [`poll_transmit`](Self::poll_transmit)
    /// still returns, then close the transport.
    pub fn is_closed(&self) -> bool {
        self.h2.is_closed()
    }

    /// Calls in progress.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Memory charged now for request messages beyond what the windows
    /// count (messages received in part, unreleased messages beyond their
    /// credit), over all calls (bounded by
    /// [`max_receive_memory`](ServerConfig::max_receive_memory)).
    pub fn receive_memory_charged(&self) -> usize {
        self.receive_budget.used()
    }

    /// The HTTP/2 connection underneath (read-only: RTT, stream counts).
    pub fn h2(&self) -> &h2::Connection {
        &self.h2
    }

    /// Tell the core the call's kind so that it enforces message counts
    /// (a unary or server-streaming request with zero or several messages
    /// ends with UNIMPLEMENTED). Without it nothing is enforced.
    pub fn set_call_kind(&mut self, call: CallId, kind: CallKind) -> Result<(), CallError> {
        let c = self
            .calls
            .get_mut(&call.0)
            .ok_or(CallError::UnknownCall(call))?;
        c.kind = kind;
        let violation = if kind.single_request() && c.inbound.count > 1 {
            Some("several request messages for a single-request method")
        } else if kind.single_request() && c.recv_closed && c.inbound.count == 0 {
            Some("no request message for a single-request method")
        } else {
            None
        };
        if let Some(what) = violation {
            self.fail_call(call, cardinality_violation(what));
        }
        Ok(())
    }

    /// Compress the response messages of this call with `name` (for
    /// example `"gzip"`) if it is registered and the client accepts it;
    /// otherwise the call's compression stays as it was (identity, unless
    /// an earlier call of this chose another). `"identity"` always takes.
    /// A client that sent no `grpc-accept-encoding` accepts only identity.
    /// Must come before the response headers.
    pub fn set_send_compression(&mut self, call: CallId, name: &str) -> Result<(), CallError> {
        let registry = &self.config.compression;
        let c = self
            .calls
            .get_mut(&call.0)
            .ok_or(CallError::UnknownCall(call))?;
        if c.headers_sent {
            return Err(CallError::HeadersAlreadySent(call));
        }
        // No grpc-accept-encoding on a request: the client takes identity
        // only (unlike a client's first request, nothing is unknown here).
        let accept = c.head.accept_encoding.as_deref().unwrap_or_default();
        let chosen = registry.for_send(name, Some(accept));
        // Refused, the choice falls back to identity: a default set before
        // (a server-wide one, say) is kept instead.
        if !is_identity(chosen.as_ref()) || name.eq_ignore_ascii_case(IDENTITY) {
            c.send_compressor = registry.unless_identity(chosen);
        }
        Ok(())
    }

    /// Send the response headers with `metadata`. Optional: the first
    /// message sends them if this was not called.
    pub fn send_headers(&mut self, call: CallId, metadata: MetadataMap) -> Result<(), CallError> {
        let (stream, head) = self.head_fields(call, metadata)?;
        self.h2
            .queue_headers(stream, head, false)
            .map_err(|e| map_send(call, e))
    }

    /// The response head of `call` with `metadata`, marked as sent.
    fn head_fields(
        &mut self,
        call: CallId,
        metadata: MetadataMap,
    ) -> Result<(StreamId, h2::FieldList), CallError> {
        let c = self
            .calls
            .get_mut(&call.0)
            .ok_or(CallError::UnknownCall(call))?;
        if c.headers_sent {
            return Err(CallError::HeadersAlreadySent(call));
        }
        c.headers_sent = true;
        let head = Self::response_head(
            &mut self.usual_head,
            self.accept_encoding.as_ref(),
            &self.config.compression,
            &mut self.h2,
            c,
            metadata,
        );
        Ok((c.stream, head))
    }

    /// The response head of call `c` with `metadata`: the connection's
    /// usual head (`usual`) when the call has no metadata and no
    /// compression.
    #[inline]
    fn response_head(
        usual: &mut UsualHead,
        accept_encoding: Option<&Bytes>,
        registry: &CompressionRegistry,
        h2: &mut h2::Connection,
        c: &ServerCall,
        metadata: MetadataMap,
    ) -> h2::FieldList {
        // The usual head for the request head it was last made or found
        // for (often the very one again: the memo of heads shares it
        // between calls) needs no comparison. (No send compressor is the
        // registry's identity.)
        if c.send_compressor.is_none() && metadata.is_empty() {
            if let Some((_, head)) = usual
                .fields
                .as_ref()
                .filter(|_| std::ptr::eq(usual.request.as_ptr(), Arc::as_ptr(&c.head)))
            {
                metadata.discard();
                return h2::FieldList::Shared(head.clone());
            }
        }
        Self::make_response_head(usual, accept_encoding, registry, h2, c, metadata)
    }

    /// [`response_head`](Self::response_head) made afresh.
    #[inline(never)]
    fn make_response_head(
        usual: &mut UsualHead,
        accept_encoding: Option<&Bytes>,
        registry: &CompressionRegistry,
        h2: &mut h2::Connection,
        c: &ServerCall,
        metadata: MetadataMap,
    ) -> h2::FieldList {
        let enc = registry.or_identity(c.send_compressor.as_ref()).name();
        let identity = enc == crate::grpc::compression::IDENTITY;
        if identity && metadata.is_empty() {
            metadata.discard();
            // The usual head: shared with the calls before, while they
            // echoed the same content-type.
            let head = match &usual.fields {
                Some((ct, head)) if *ct == c.head.content_type => head.clone(),
                _ => {
                    // A copy: the request's may be a slice of a received
                    // buffer, which the connection would then keep.
                    let ct = Bytes::copy_from_slice(&c.head.content_type);
                    let mut fields =
                        vec![field(":status", "200"), field("content-type", ct.clone())];
                    if let Some(a) = accept_encoding {
                        fields.push(field(GRPC_ACCEPT_ENCODING, a.clone()));
                    }
                    let head: Arc<[HeaderField]> = fields.into();
                    usual.fields = Some((ct, head.clone()));
                    head
                }
            };
            // Weak: the request head's texts are let go with its last
            // call, and its allocation stays (so its address cannot stand
            // for another head).
            usual.request = Arc::downgrade(&c.head);
            return h2::FieldList::Shared(head);
        }
        let mut fields = h2.field_list(4 + metadata.len());
        fields.push(field(":status", "200"));
        fields.push(field("content-type", c.head.content_type.clone()));
        if !identity {
            fields.push(field(GRPC_ENCODING, enc));
        }
        if let Some(a) = accept_encoding {
            fields.push(field(GRPC_ACCEPT_ENCODING, a.clone()));
        }
        metadata.to_fields(&mut fields);
        h2::FieldList::Owned(fields)
    }

    /// Send a response message (compressed if the call compresses).
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
        let mut c = self
            .calls
            .get(&call.0)
            .ok_or(CallError::UnknownCall(call))?;
        let (_, plain) = send_choice(c.send_compressor.as_ref(), compress);
        let checked = !plain || !c.headers_sent;
        if checked {
            // Refuse early (arming the Writable event) rather than
            // compress a message the queue cannot take, or send the head
            // of one it cannot. A plain message behind the head costs
            // nothing to frame: the send itself refuses it.
            self.h2
                .check_writable(c.stream)
                .map_err(|e| map_send(call, e))?;
        }
        if !c.headers_sent {
            self.send_headers(call, MetadataMap::new())?;
            c = self
                .calls
                .get(&call.0)
                .ok_or(CallError::UnknownCall(call))?;
        }
        // (The call's record again: sending the head above needed the
        // connection.)
        let (compressor, _) = send_choice(c.send_compressor.as_ref(), compress);
        send_framed(
            &mut self.h2,
            call,
            c.stream,
            compressor,
            plain,
            message,
            self.config.max_send_message_size,
            checked,
        )
    }

    /// End the call with `status` and trailing metadata. When nothing was
    /// sent before, this is a trailers-only response. If the client is
    /// still sending, the stream is then reset with NO_ERROR (RFC 9113
    /// §8.1) so it stops. The call is over for the application: events of
    /// the call already queued (a `Message` or `HalfClosed` that arrived
    /// in the same read) may still come out of
    /// [`poll_event`](Self::poll_event); they can be ignored, and actions
    /// on the call now return [`CallError::UnknownCall`].
    pub fn send_status(
        &mut self,
        call: CallId,
        status: Status,
        trailers: MetadataMap,
    ) -> Result<(), CallError> {
        if !self.calls.contains_key(&call.0) {
            return Err(CallError::UnknownCall(call));
        }
        self.end_call(call, &status, trailers);
        Ok(())
    }

    /// Answer the call with its one response `message` (compressed if the
    /// call compresses), then end it with `status` and `trailers`: what a
    /// unary or client-streaming handler sends. The same as
    /// [`send_message`](Self::send_message) then
    /// [`send_status`](Self::send_status) (the response head goes first
    /// if it was not sent), but when the stream has nothing queued and
    /// the windows allow, the frames are written straight into the output
    /// with no queue entries. Written that way they are committed, as if
    /// already in flight: should the client reset the stream before the
    /// next [`poll_transmit`](Self::poll_transmit), they still go out (and
    /// the client ignores them, RFC 9113 §5.1).
    pub fn send_response(
        &mut self,
        call: CallId,
        message: Bytes,
        status: Status,
        trailers: MetadataMap,
    ) -> Result<(), CallError> {
        let c = self
            .calls
            .get(&call.0)
            .ok_or(CallError::UnknownCall(call))?;
        let stream = c.stream;
        // A message sent as is has a known length: whether it goes whole
        // is told with the check that the stream takes it.
        let (compressor, plain) = send_choice(c.send_compressor.as_ref(), true);
        let known = plain.then(|| PREFIX_LEN + message.len());
        let whole = self
            .h2
            .check_whole(stream, known)
            .map_err(|e| map_send(call, e))?;
        let limit = self.config.max_send_message_size;
        let parts = if plain {
            frame_plain(message, limit)?
        } else {
            frame_message(compressor, true, message, limit)?
        };
        let headers_sent = c.headers_sent;
        let whole = if known.is_some() {
            whole
        } else {
            self.h2
                .can_write_whole(stream, parts[0].len() + parts[1].len())
        };
        if !whole {
            if !headers_sent {
                self.send_headers(call, MetadataMap::new())?;
            }
            self.h2
                .send_chunks(stream, parts, false)
                .map_err(|e| map_send(call, e))?;
            self.end_call(call, &status, trailers);
            return Ok(());
        }
        // The call leaves the map now: its head and trailers are made of
        // the record taken out.
        let Some((_, mut c)) = self.calls.remove_entry(&call.0) else {
            return Ok(());
        };
        let head = if headers_sent {
            None
        } else {
            c.headers_sent = true;
            Some(Self::response_head(
                &mut self.usual_head,
                self.accept_encoding.as_ref(),
                &self.config.compression,
                &mut self.h2,
                &c,
                MetadataMap::new(),
            ))
        };
        let (stream, fields, recv_closed) = self.close_record(call, c, &status, trailers);
        self.h2.write_whole(stream, head, &parts, Some(fields));
        if !recv_closed {
            self.h2.reset_after_queued(stream, Reason::NO_ERROR);
        }
        // The stream may have closed, and with it a draining
        // connection: its end is an event.
        self.translate_pending();
        Ok(())
    }

    /// The application consumed a message: give its `flow_len` back so
    /// the client may send more. Works after the call ended too.
    ///
    /// While any message of a call is not released, the bytes of the next
    /// one are not given back as they arrive, so a next message larger
    /// than the stream window cannot complete until this is called: an
    /// application that waits for a message should release those it has
    /// taken first. (That is what bounds what a call nobody reads can
    /// make us hold.)
    pub fn release_capacity(&mut self, call: CallId, flow_len: u32) {
        let (owed, recv_closed) = self.calls.get_mut(&call.0).map_or((0, false), |c| {
            (c.inbound.released(flow_len), c.recv_closed)
        });
        let n = flow_len.saturating_add(owed);
        if recv_closed {
            // The client has ended its side (END_STREAM, which the HTTP/2
            // layer saw too): its stream announces no more window, so
            // only the connection's is owed anything.
            self.h2.release_connection_capacity(n);
        } else {
            self.h2.release_capacity(stream_of(call), n);
        }
    }

    /// Whether [`send_message`](Self::send_message) would be accepted now.
    pub fn is_writable(&self, call: CallId) -> bool {
        self.calls
            .get(&call.0)
            .is_some_and(|c| self.h2.is_writable(c.stream))
    }

    /// Send trailers (trailers-only if needed), reset if the client is not
    /// done, and forget the call.
    fn end_call(&mut self, call: CallId, status: &Status, trailers: MetadataMap) {
        if let Some((stream, fields, recv_closed)) = self.close_call(call, status, trailers) {
            if self.h2.queue_headers(stream, fields, true).is_ok() && !recv_closed {
                self.h2.reset_after_queued(stream, Reason::NO_ERROR);
            }
        }
    }

    /// Forget the call and build its trailers (with the response head
    /// when none was sent: trailers-only). Returns its stream, the fields,
    /// and whether the client had finished sending.
    fn close_call(
        &mut self,
        call: CallId,
        status: &Status,
        trailers: MetadataMap,
    ) -> Option<(StreamId, h2::FieldList, bool)> {
        // Taken out as the map's entry: taking the value alone out of it
        // copied the record whole.
        let (_, c) = self.calls.remove_entry(&call.0)?;
        Some(self.close_record(call, c, status, trailers))
    }

    /// [`close_call`](Self::close_call) of record `c`, out of the map.
    fn close_record(
        &mut self,
        call: CallId,
        mut c: ServerCall,
        status: &Status,
        trailers: MetadataMap,
    ) -> (StreamId, h2::FieldList, bool) {
        // What the peer sent of an unfinished message is not held any more.
        let owed = c.inbound.take_owed();
        if owed > 0 {
            self.h2.release_capacity(c.stream, owed);
        }
        if let Some(d) = c.head.deadline {
            self.deadlines.remove(d, call.0);
        }
        if c.headers_sent
            && status.is_ok()
            && status.message().is_empty()
            && status.details().is_empty()
            && trailers.is_empty()
        {
            trailers.discard();
            // The usual trailers, shared between calls.
            let ok = match &self.ok_trailers {
                Some(ok) => ok.clone(),
                None => self.make_ok_trailers(),
            };
            return (c.stream, h2::FieldList::Shared(ok), c.recv_closed);
        }
        // Two head fields at most, three status fields at most.
        let mut fields = self.h2.field_list(5 + trailers.len());
        if !c.headers_sent {
            fields.push(field(":status", "200"));
            fields.push(field("content-type", c.head.content_type.clone()));
        }
        status.to_fields(&mut fields);
        trailers.to_fields(&mut fields);
        (c.stream, h2::FieldList::Owned(fields), c.recv_closed)
    }

    /// The usual trailers (made once).
    #[cold]
    #[inline(never)]
    fn make_ok_trailers(&mut self) -> Arc<[HeaderField]> {
        let mut fields = Vec::with_capacity(1);
        Status::ok().to_fields(&mut fields);
        let ok: Arc<[HeaderField]> = fields.into();
        self.ok_trailers = Some(ok.clone());
        ok
    }

    /// End a call the client broke: status to the client, Cancelled to the
    /// handler.
    fn fail_call(&mut self, call: CallId, status: Status) {
        if self.calls.contains_key(&call.0) {
            self.end_call(call, &status, MetadataMap::new());
            self.events.push_back(ServerEvent::Cancelled {
                call,
                reason: CancelReason::Protocol(status),
            });
        }
    }

    #[inline]
    fn translate_pending(&mut self) {
        // What sending can produce: Writable, and Closed when the last
        // stream of a draining connection ends. Most often nothing.
        if self.h2.has_events() {
            self.translate_events();
        }
    }

    #[inline(never)]
    fn translate_events(&mut self) {
        while let Some(ev) = self.h2.poll_event() {
            self.translate(ev, None);
        }
    }

    fn pump(&mut self, now: Instant) {
        while let Some(ev) = self.h2.poll_event() {
            self.translate(ev, Some(now));
        }
        self.last_now = now;
        if !self.calls.is_empty() {
            self.idle_since = None;
        } else if self.idle_since.is_none() {
            self.idle_since = Some(now);
        }
    }

    fn translate(&mut self, ev: Event, now: Option<Instant>) {
        match ev {
            Event::Headers {
                stream,
                fields,
                end_stream,
            } => {
                let call = call_of(stream);
                if self.calls.contains_key(&call.0) {
                    // Trailers from the client end its side.
                    if end_stream {
                        self.half_closed(call);
                    }
                } else if let Some(now) = now {
                    self.start_call(stream, &fields, end_stream, now);
                }
                self.h2.recycle_fields(fields);
            }
            Event::Data {
                stream,
                data,
                end_stream,
            } => self.on_data(stream, data, end_stream),
            Event::HeaderListTooLarge { stream, end_stream } => {
                let fields = vec![
                    field(":status", "200"),
                    field("content-type", APPLICATION_GRPC),
                ];
                let mut all = fields;
                let mut pairs = Vec::new();
                Status::new(Code::ResourceExhausted, "request header list too large")
                    .to_wire(&mut pairs);
                fields_from_pairs(pairs, &mut all);
                if self.h2.send_headers(stream, all, true).is_ok() && !end_stream {
                    self.h2.reset_after_queued(stream, Reason::NO_ERROR);
                }
            }
            Event::StreamReset { stream, code, .. } => {
                let call = call_of(stream);
                if let Some(mut c) = self.calls.remove(&call.0) {
                    if let Some(d) = c.head.deadline {
                        self.deadlines.remove(d, call.0);
                    }
                    self.h2.release_capacity(stream, c.inbound.take_owed());
                    self.events.push_back(ServerEvent::Cancelled {
                        call,
                        reason: CancelReason::Reset(code),
                    });
                }
            }
            Event::Writable { stream } => {
                let call = call_of(stream);
                if self.calls.contains_key(&call.0) {
                    self.events.push_back(ServerEvent::Writable { call });
                }
            }
            Event::Closed { error } => {
                let mut ids: Vec<u64> = self.calls.keys().copied().collect();
                ids.sort_unstable();
                self.calls.clear();
                self.deadlines.clear();
                for id in ids {
                    self.events.push_back(ServerEvent::Cancelled {
                        call: CallId(id),
                        reason: CancelReason::ConnectionLost,
                    });
                }
                self.closed = true;
                self.events.push_back(ServerEvent::Closed { error });
            }
            _ => {}
        }
    }

    fn start_call(&mut self, stream: StreamId, fields: &Fields, end_stream: bool, now: Instant) {
        let block = fields.block_id();
        let kept = block.and_then(|id| self.heads.find(|(k, _, _)| *k == id));
        let (head, receive_compressor) = match kept {
            // The same block is the same head, shared with the calls that
            // sent it before; but for its deadline, which counts from now:
            // a head with a timeout is the call's own.
            Some((_, head, compressor)) => match head.timeout {
                None => (Arc::clone(head), compressor.clone()),
                Some(t) => {
                    let mut own = RequestHead::clone(head);
                    own.deadline = now.checked_add(t);
                    (Arc::new(own), compressor.clone())
                }
            },
            None => match self.head_plus(fields, now) {
                Some(found) => found,
                None => {
                    match request::parse(fields, &self.config.compression, &mut self.texts, now) {
                        Verdict::Call(head, compressor) => {
                            let head = Arc::new(head);
                            // Heads with more than a little metadata are not kept:
                            // four of them could otherwise hold tens of KiB on an
                            // idle connection.
                            if let Some(id) = block {
                                if fields.iter().map(HeaderField::size).sum::<usize>()
                                    <= KEPT_HEAD_MAX
                                {
                                    self.heads.put((id, head.clone(), compressor.clone()));
                                }
                            }
                            (head, compressor)
                        }
                        Verdict::Http(status, grpc) => {
                            // Not gRPC: a plain HTTP answer, with a gRPC status where
                            // one applies.
                            let mut answer = vec![
                                field(":status", status.to_string()),
                                field("content-type", APPLICATION_GRPC),
                            ];
                            let mut pairs = Vec::new();
                            grpc.to_wire(&mut pairs);
                            fields_from_pairs(pairs, &mut answer);
                            if self.h2.send_headers(stream, answer, true).is_ok() && !end_stream {
                                self.h2.reset_after_queued(stream, Reason::NO_ERROR);
                            }
                            return;
                        }
                        Verdict::Status(status, extra) => {
                            let mut answer = vec![
                                field(":status", "200"),
                                field("content-type", APPLICATION_GRPC),
                            ];
                            let mut pairs = Vec::new();
                            status.to_wire(&mut pairs);
                            fields_from_pairs(pairs, &mut answer);
                            answer.extend(extra);
                            if self.h2.send_headers(stream, answer, true).is_ok() && !end_stream {
                                self.h2.reset_after_queued(stream, Reason::NO_ERROR);
                            }
                            return;
                        }
                    }
                }
            },
        };
        let call = call_of(stream);
        let deadline = head.deadline;
        self.calls.insert(
            call.0,
            ServerCall {
                stream,
                kind: CallKind::BidiStreaming,
                headers_sent: false,
                recv_closed: false,
                inbound: Inbound::new(receive_compressor, self.config.max_receive_message_size),
                send_compressor: None,
                head: Arc::clone(&head),
            },
        );
        if let Some(d) = deadline {
            self.deadlines.insert(d, call.0);
        }
        self.events
            .push_back(ServerEvent::CallStarted { call, head });
        if end_stream {
            self.half_closed(call);
        }
    }

    /// The head of a request whose fields are those of an earlier
    /// request without a `grpc-timeout` (see `h2::Fields::prefix_id`),
    /// then a valid `grpc-timeout`: that request's head with this timeout.
    /// `None` for any other request, to be read in full.
    fn head_plus(
        &mut self,
        fields: &Fields,
        now: Instant,
    ) -> Option<(Arc<RequestHead>, Arc<dyn Compressor>)> {
        let prefix = fields.prefix_id()?;
        let (last, before) = fields.split_last()?;
        if last.name[..] != *GRPC_TIMEOUT.as_bytes() {
            return None;
        }
        if !self.heads.iter().any(|(k, _, _)| *k == prefix) {
            // The first request with these fields: the head they make
            // alone is kept for the next.
            if before.iter().map(HeaderField::size).sum::<usize>() > KEPT_HEAD_MAX {
                return None;
            }
            let registry = &self.config.compression;
            match request::parse(before, registry, &mut self.texts, now) {
                Verdict::Call(head, compressor) => {
                    self.heads.put((prefix, Arc::new(head), compressor));
                }
                _ => return None,
            }
        }
        let (_, head, compressor) = self.heads.find(|(k, _, _)| *k == prefix)?;
        // A head with a timeout of its own already has its deadline.
        if head.timeout.is_some() {
            return None;
        }
        let timeout = parse_timeout(&last.value).ok()?;
        let mut own = RequestHead::clone(head);
        own.timeout = Some(timeout);
        own.deadline = now.checked_add(timeout);
        Some((Arc::new(own), compressor.clone()))
    }

    fn on_data(&mut self, stream: StreamId, data: Bytes, end_stream: bool) {
        let call = call_of(stream);
        let Some(c) = self.calls.get_mut(&call.0) else {
            // The call is over: the bytes go straight back.
            self.h2.release_capacity(stream, data.len() as u32);
            return;
        };
        let single = c.kind.single_request();
        let received = match c.inbound.take_whole(data, self.h2.reads, single) {
            Ok(d) => {
                self.events.push_back(ServerEvent::Message {
                    call,
                    message: d.message,
                    flow_len: d.flow_len,
                });
                Ok(())
            }
            Err(data) => {
                let single =
                    single.then_some("several request messages for a single-request method");
                let mut out = std::mem::take(&mut self.scratch);
                let received = c.inbound.receive(
                    &mut self.h2,
                    stream,
                    data,
                    single,
                    &self.receive_budget,
                    &mut out,
                );
                for d in out.drain(..) {
                    self.events.push_back(ServerEvent::Message {
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
            self.fail_call(call, status);
            return;
        }
        if end_stream {
            // The client's side ends with this DATA: as `half_closed`
            // does, on the record at hand.
            c.recv_closed = true;
            match half_close_verdict(c) {
                Ok(()) => self.events.push_back(ServerEvent::HalfClosed { call }),
                Err(status) => self.fail_call(call, status),
            }
        }
    }

    fn half_closed(&mut self, call: CallId) {
        let Some(c) = self.calls.get_mut(&call.0) else {
            return;
        };
        c.recv_closed = true;
        match half_close_verdict(c) {
            Ok(()) => self.events.push_back(ServerEvent::HalfClosed { call }),
            Err(status) => self.fail_call(call, status),
        }
    }
}

/// Whether a call whose client has finished sending may go on: not if a
/// message was cut short, or no message came for a single-request method.
#[inline]
fn half_close_verdict(c: &ServerCall) -> Result<(), Status> {
    c.inbound.finish()?;
    if c.kind.single_request() && c.inbound.count == 0 {
        return Err(cardinality_violation(
            "no request message for a single-request method",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod head_memo_tests {
    use super::*;
    use crate::h2::headers_for_tests::validate_request;
    use crate::hpack::{Decoder, Slot, huffman};

    use crate::test_rng::Rng;

    use crate::hpack::integer::encode as int;

    fn string(r: &mut Rng, s: &[u8], b: &mut Vec<u8>) {
        if r.one_in(3) {
            let mut h = Vec::new();
            huffman::encode(s, &mut h);
            int(h.len(), 7, 0x80, b);
            b.extend_from_slice(&h);
        } else {
            int(s.len(), 7, 0x00, b);
            b.extend_from_slice(s);
        }
    }

    /// A field as a literal: without indexing mostly, the name as a
    /// string or by `index` when given.
    fn literal(r: &mut Rng, name: &[u8], index: Option<usize>, value: &[u8], b: &mut Vec<u8>) {
        let (bits, flags) = match r.below(12) {
            0 => (4, 0x10),
            1 => (6, 0x40),
            _ => (4, 0x00),
        };
        match index.filter(|_| !r.one_in(3)) {
            Some(i) => int(i, bits, flags, b),
            None => {
                int(0, bits, flags, b);
                string(r, name, b);
            }
        }
        string(r, value, b);
    }

    fn timeout_value(r: &mut Rng) -> Vec<u8> {
        match r.below(10) {
            0 => (0..r.below(12)).map(|_| r.next() as u8).collect(),
            1 => b"".to_vec(),
            2 => format!("{}", r.below(1000)).into_bytes(),
            3 => format!("{}S", r.next() % 1_000_000_000).into_bytes(),
            _ => format!(
                "{}{}",
                r.below(100_000_000),
                r.pick(&["H", "M", "S", "m", "u", "n"])
            )
            .into_bytes(),
        }
    }

    fn head(r: &mut Rng) -> Vec<u8> {
        let mut b = Vec::new();
        // :method
        match r.below(10) {
            0 => b.push(0x82), // GET
            _ => b.push(0x83),
        }
        if !r.one_in(20) {
            b.push(0x86);
        }
        let path: &[u8] = r.pick(&[&b"/a.B/C"[..], b"/a.B/D", b"/x", b"/a.B/C"]);
        literal(r, b":path", Some(4), path, &mut b);
        if r.one_in(2) {
            literal(r, b":authority", Some(1), b"example.com", &mut b);
        }
        let ct: &[u8] = r.pick(&[
            &b"application/grpc"[..],
            b"application/grpc+proto",
            b"application/grpc",
            b"text/plain",
        ]);
        if !r.one_in(20) {
            literal(r, b"content-type", Some(31), ct, &mut b);
        }
        for _ in 0..r.below(4) {
            match r.below(9) {
                0 => literal(r, b"te", None, b"trailers", &mut b),
                1 => literal(r, b"user-agent", Some(58), b"grpc-test/1", &mut b),
                2 => {
                    let e: &[u8] = r.pick(&[&b"gzip"[..], b"identity", b"snappy"]);
                    literal(r, b"grpc-encoding", None, e, &mut b)
                }
                3 => literal(r, b"grpc-accept-encoding", None, b"gzip", &mut b),
                4 => literal(r, b"x-a", None, b"1", &mut b),
                5 => literal(r, b"x-b-bin", None, b"AQI=", &mut b),
                6 if r.one_in(4) => {
                    let v = timeout_value(r);
                    literal(r, b"grpc-timeout", None, &v, &mut b)
                }
                7 => b.push(0x80 | (r.below(61) as u8 + 1)),
                _ => literal(r, b"x-c", None, b"v", &mut b),
            }
        }
        b
    }

    fn tail(r: &mut Rng) -> Vec<u8> {
        let mut b = Vec::new();
        match r.below(20) {
            0 => literal(r, b"x-last", None, b"2", &mut b),
            1 => literal(r, b"user-agent", Some(58), b"ua", &mut b),
            2 => literal(r, b"te", None, b"trailers", &mut b),
            3 => {
                let v = timeout_value(r);
                literal(r, b"grpc-timeout", None, &v, &mut b);
                literal(r, b"x-last", None, b"2", &mut b);
            }
            4 => {
                // Named by a dynamic entry (there or not).
                let v = timeout_value(r);
                int(62 + r.below(2), 4, 0x00, &mut b);
                string(r, &v, &mut b);
            }
            5 => literal(r, b"content-type", Some(31), b"application/grpc", &mut b),
            6 => literal(r, b":path", Some(4), b"/a.B/E", &mut b),
            7 => {
                let v = timeout_value(r);
                literal(r, b"Grpc-Timeout", None, &v, &mut b);
            }
            8 => {}
            _ => {
                let v = timeout_value(r);
                if r.one_in(3) {
                    literal(r, b"grpc-timeout", None, &v, &mut b);
                } else {
                    b.push(0x00);
                    b.push(12);
                    b.extend_from_slice(b"grpc-timeout");
                    int(v.len(), 7, 0, &mut b);
                    b.extend_from_slice(&v);
                }
            }
        }
        b
    }

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8], out: &mut Vec<u8>) {
        let len = payload.len() as u32;
        out.extend_from_slice(&len.to_be_bytes()[1..]);
        out.push(kind);
        out.push(flags);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
    }

    /// Review: hostile request heads, most of them a remembered head with
    /// a new last field, through the whole server, against decoding each
    /// block afresh, validating it in full and reading its head in full.
    #[test]
    fn remembered_heads_match_full_reads() {
        let mut plus_calls = 0usize;
        let mut calls = 0usize;
        for seed in 1..=300u64 {
            let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut now = crate::test_clock::origin();
            let config = ServerConfig::default();
            let limit = config.h2.max_header_list_size as usize;
            let registry = config.compression.clone();
            let mut server = ServerConnection::new(config, now);
            let mut fresh = Decoder::new(4096);
            let mut texts = request::Texts::default();
            let mut wire = Vec::new();
            wire.extend_from_slice(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
            frame(4, 0, 0, &[], &mut wire);
            server.receive(&wire, now).unwrap();
            let mut sink = BytesMut::new();
            while server.poll_transmit(&mut sink) > 0 {}
            wire.clear();
            frame(4, 1, 0, &[], &mut wire);
            server.receive(&wire, now).unwrap();
            let mut heads: Vec<Vec<u8>> = (0..1 + r.below(4)).map(|_| head(&mut r)).collect();
            let mut stream = 1u32;
            for step in 0..200 {
                if r.one_in(30) {
                    let i = r.below(heads.len());
                    heads[i] = head(&mut r);
                }
                let mut block = r.pick(&heads);
                block.extend(tail(&mut r));
                now += Duration::from_millis(r.below(50) as u64);
                let mut want_fields = Vec::new();
                let want = fresh.decode_into(
                    &Bytes::from(block.clone()),
                    Slot::Unfit,
                    limit,
                    &mut want_fields,
                );
                wire.clear();
                frame(1, 0x4, stream, &block, &mut wire);
                let got = server.receive(&wire, now);
                let what = format!("seed {seed} step {step} block {block:02x?}");
                if let Err(e) = &want {
                    if e.is_connection_error() {
                        assert!(got.is_err(), "{what}");
                        break;
                    }
                }
                assert!(got.is_ok(), "{what}: {got:?}");
                let mut started = Vec::new();
                while let Some(e) = server.poll_event() {
                    if let ServerEvent::CallStarted { call, head } = e {
                        started.push((call, head));
                    }
                }
                let expected = match want {
                    Err(_) => None,
                    Ok(_) if validate_request(&want_fields).is_err() => None,
                    Ok(_) => match request::parse(&want_fields, &registry, &mut texts, now) {
                        Verdict::Call(head, _) => Some(head),
                        _ => None,
                    },
                };
                match (&expected, started.as_slice()) {
                    (None, []) => {}
                    (Some(want), [(_, got)]) => {
                        assert_eq!(**got, *want, "{what}");
                        calls += 1;
                        if want_fields
                            .last()
                            .is_some_and(|f| &f.name[..] == b"grpc-timeout")
                        {
                            plus_calls += 1;
                        }
                    }
                    _ => panic!("{what}: want {expected:?}, got {started:?}"),
                }
                // The client cancels: the stream is done with.
                wire.clear();
                frame(3, 0, stream, &8u32.to_be_bytes(), &mut wire);
                server.receive(&wire, now).unwrap();
                while server.poll_event().is_some() {}
                sink.clear();
                while server.poll_transmit(&mut sink) > 0 {}
                stream += 2;
            }
        }
        eprintln!("calls {calls}, with a timeout last {plus_calls}");
        assert!(plus_calls > 5_000);
    }
}
