//! Blocking handlers and what they see of a call.
//!
//! A [`Handler`] is what a [`Router`] holds for each method. The typed
//! constructors ([`Handler::unary`], [`Handler::server_streaming`],
//! [`Handler::client_streaming`], [`Handler::bidi_streaming`]) decode
//! requests and encode responses with a [`Codec`] and turn the closure's
//! `Result` into the call's status; [`Handler::raw`] gives the whole
//! [`ServerCall`].

use crate::io::Signal;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio::call::{CallError, CallId, CallKind};
use grpc_sansio::codec::Codec;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::router::Router;
use grpc_sansio::server::{CancelReason, RequestHead};

use super::conn::ServerMachine;
use crate::io::{Shared, wait};
use crate::transport::PeerAddr;

type RawHandler = dyn Fn(ServerCall) + Send + Sync + 'static;

/// A blocking method handler, run on a thread of the server's handler
/// pool. Cheap to clone.
#[derive(Clone)]
pub struct Handler(Arc<RawHandler>);

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Handler")
    }
}

impl Handler {
    /// A handler with full control of the call. If it returns without
    /// [`ServerCall::finish`], the call ends with UNKNOWN.
    pub fn raw(f: impl Fn(ServerCall) + Send + Sync + 'static) -> Handler {
        Handler(Arc::new(f))
    }

    pub(crate) fn run(&self, call: ServerCall) {
        (self.0)(call)
    }

    /// One request, one response.
    pub fn unary<C, F>(codec: C, f: F) -> Handler
    where
        C: Codec,
        F: Fn(&ServerCall, C::Decode) -> Result<C::Encode, Status> + Send + Sync + 'static,
    {
        Handler::raw(move |call| {
            match one_request(&call, &codec)
                .and_then(|req| f(&call, req))
                .and_then(|resp| codec.encode(&resp))
            {
                Ok(bytes) => call.reply(bytes),
                Err(status) => call.finish(status),
            }
        })
    }

    /// One request; the handler sends any number of responses.
    pub fn server_streaming<C, F>(codec: C, f: F) -> Handler
    where
        C: Codec,
        F: Fn(&ServerCall, C::Decode, &ResponseSink<'_, C>) -> Result<(), Status>
            + Send
            + Sync
            + 'static,
    {
        Handler::raw(move |call| {
            let sink = ResponseSink {
                call: &call,
                codec: &codec,
            };
            let r = one_request(&call, &codec).and_then(|req| f(&call, req, &sink));
            call.finish_result(r);
        })
    }

    /// A stream of requests (a blocking iterator); one response.
    pub fn client_streaming<C, F>(codec: C, f: F) -> Handler
    where
        C: Codec,
        F: Fn(&ServerCall, &mut Requests<'_, C>) -> Result<C::Encode, Status>
            + Send
            + Sync
            + 'static,
    {
        Handler::raw(move |call| {
            let mut reqs = Requests {
                call: &call,
                codec: &codec,
            };
            let r = f(&call, &mut reqs).and_then(|resp| call.send_raw(codec.encode(&resp)?));
            call.finish_result(r);
        })
    }

    /// Requests and responses in both directions.
    pub fn bidi_streaming<C, F>(codec: C, f: F) -> Handler
    where
        C: Codec,
        F: Fn(&ServerCall, &mut Requests<'_, C>, &ResponseSink<'_, C>) -> Result<(), Status>
            + Send
            + Sync
            + 'static,
    {
        Handler::raw(move |call| {
            let mut reqs = Requests {
                call: &call,
                codec: &codec,
            };
            let sink = ResponseSink {
                call: &call,
                codec: &codec,
            };
            let r = f(&call, &mut reqs, &sink);
            call.finish_result(r);
        })
    }
}

fn one_request<C: Codec>(call: &ServerCall, codec: &C) -> Result<C::Decode, Status> {
    match call.recv_raw() {
        Some(Ok(b)) => codec.decode(b),
        Some(Err(s)) => Err(s),
        // The core enforces exactly one request; this is a call that
        // ended without one.
        None => Err(Status::internal("no request message")),
    }
}

/// Methods to register typed handlers on a [`Router`] of [`Handler`]s.
pub trait RouterExt {
    /// Register a unary method.
    fn unary<C, F>(&mut self, service: &str, method: &str, codec: C, f: F) -> &mut Self
    where
        C: Codec,
        F: Fn(&ServerCall, C::Decode) -> Result<C::Encode, Status> + Send + Sync + 'static;

    /// Register a server-streaming method.
    fn server_streaming<C, F>(&mut self, service: &str, method: &str, codec: C, f: F) -> &mut Self
    where
        C: Codec,
        F: Fn(&ServerCall, C::Decode, &ResponseSink<'_, C>) -> Result<(), Status>
            + Send
            + Sync
            + 'static;

    /// Register a client-streaming method.
    fn client_streaming<C, F>(&mut self, service: &str, method: &str, codec: C, f: F) -> &mut Self
    where
        C: Codec,
        F: Fn(&ServerCall, &mut Requests<'_, C>) -> Result<C::Encode, Status>
            + Send
            + Sync
            + 'static;

    /// Register a bidirectional-streaming method.
    fn bidi_streaming<C, F>(&mut self, service: &str, method: &str, codec: C, f: F) -> &mut Self
    where
        C: Codec,
        F: Fn(&ServerCall, &mut Requests<'_, C>, &ResponseSink<'_, C>) -> Result<(), Status>
            + Send
            + Sync
            + 'static;
}

impl RouterExt for Router<Handler> {
    fn unary<C, F>(&mut self, service: &str, method: &str, codec: C, f: F) -> &mut Self
    where
        C: Codec,
        F: Fn(&ServerCall, C::Decode) -> Result<C::Encode, Status> + Send + Sync + 'static,
    {
        self.add(service, method, CallKind::Unary, Handler::unary(codec, f))
    }

    fn server_streaming<C, F>(&mut self, service: &str, method: &str, codec: C, f: F) -> &mut Self
    where
        C: Codec,
        F: Fn(&ServerCall, C::Decode, &ResponseSink<'_, C>) -> Result<(), Status>
            + Send
            + Sync
            + 'static,
    {
        self.add(
            service,
            method,
            CallKind::ServerStreaming,
            Handler::server_streaming(codec, f),
        )
    }

    fn client_streaming<C, F>(&mut self, service: &str, method: &str, codec: C, f: F) -> &mut Self
    where
        C: Codec,
        F: Fn(&ServerCall, &mut Requests<'_, C>) -> Result<C::Encode, Status>
            + Send
            + Sync
            + 'static,
    {
        self.add(
            service,
            method,
            CallKind::ClientStreaming,
            Handler::client_streaming(codec, f),
        )
    }

    fn bidi_streaming<C, F>(&mut self, service: &str, method: &str, codec: C, f: F) -> &mut Self
    where
        C: Codec,
        F: Fn(&ServerCall, &mut Requests<'_, C>, &ResponseSink<'_, C>) -> Result<(), Status>
            + Send
            + Sync
            + 'static,
    {
        self.add(
            service,
            method,
            CallKind::BidiStreaming,
            Handler::bidi_streaming(codec, f),
        )
    }
}

/// Request messages as a blocking iterator; `Some(Err(status))` when the
/// call was cancelled or a message did not decode.
pub struct Requests<'a, C: Codec> {
    call: &'a ServerCall,
    codec: &'a C,
}

impl<C: Codec> fmt::Debug for Requests<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Requests")
            .field("call", &self.call.id)
            .finish()
    }
}

impl<C: Codec> Iterator for Requests<'_, C> {
    type Item = Result<C::Decode, Status>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.call.recv_raw()? {
            Ok(b) => Some(self.codec.decode(b)),
            Err(s) => Some(Err(s)),
        }
    }
}

/// Sends response messages of a streaming call.
pub struct ResponseSink<'a, C: Codec> {
    call: &'a ServerCall,
    codec: &'a C,
}

impl<C: Codec> fmt::Debug for ResponseSink<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseSink")
            .field("call", &self.call.id)
            .finish()
    }
}

impl<C: Codec> ResponseSink<'_, C> {
    /// Send a message; blocks while flow control holds it back. An error
    /// means the call is over (cancelled, deadline): return it.
    pub fn send(&self, message: &C::Encode) -> Result<(), Status> {
        self.call.send_raw(self.codec.encode(message)?)
    }

    /// As [`send`](Self::send), with this message uncompressed even if
    /// the call compresses (gRPC compresses message by message).
    pub fn send_uncompressed(&self, message: &C::Encode) -> Result<(), Status> {
        self.call.send_raw_uncompressed(self.codec.encode(message)?)
    }
}

/// What the handler side keeps of a call.
pub(crate) struct SlotState {
    pub(crate) cv: Arc<Signal>,
    /// Each message (still compressed if it arrived so) with its
    /// flow-control credit.
    pub(crate) messages: std::collections::VecDeque<(grpc_sansio::call::Received, u32)>,
    /// Whether the message last handed to the handler arrived compressed.
    pub(crate) last_compressed: Option<bool>,
    pub(crate) half_closed: bool,
    pub(crate) cancelled: Option<CancelReason>,
    pub(crate) writable: bool,
    pub(crate) flag: Arc<AtomicBool>,
}

struct Local {
    trailers: MetadataMap,
    finished: bool,
    /// A request that did not inflate ended the call with this status;
    /// every later read repeats it.
    failed: Option<Status>,
}

/// One call as its handler sees it: the request head, the peer, a
/// cancellation flag, and the raw message operations. Dropping it before
/// [`finish`](Self::finish) ends the call with UNKNOWN.
pub struct ServerCall {
    pub(crate) shared: Arc<Shared<ServerMachine>>,
    pub(crate) id: CallId,
    pub(crate) cv: Arc<Signal>,
    pub(crate) cancelled: Arc<AtomicBool>,
    pub(crate) head: RequestHead,
    pub(crate) peer: PeerAddr,
    peer_certs: Option<Arc<[Bytes]>>,
    local: Mutex<Local>,
}

impl fmt::Debug for ServerCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCall")
            .field("id", &self.id)
            .field("path", &self.head.path)
            .field("peer", &self.peer)
            .finish()
    }
}

fn cancel_status(reason: &CancelReason) -> Status {
    match reason {
        CancelReason::DeadlineExceeded => Status::deadline_exceeded("deadline exceeded"),
        CancelReason::Reset(r) => {
            Status::cancelled(format!("call reset by the client ({})", r.value()))
        }
        CancelReason::Protocol(s) => s.clone(),
        CancelReason::ConnectionLost => Status::unavailable("connection lost"),
        _ => Status::cancelled("call cancelled"),
    }
}

impl ServerCall {
    pub(crate) fn new(
        shared: Arc<Shared<ServerMachine>>,
        id: CallId,
        cv: Arc<Signal>,
        cancelled: Arc<AtomicBool>,
        head: RequestHead,
        peer: PeerAddr,
        peer_certs: Option<Arc<[Bytes]>>,
    ) -> Self {
        ServerCall {
            shared,
            id,
            cv,
            cancelled,
            head,
            peer,
            peer_certs,
            local: Mutex::new(Local {
                trailers: MetadataMap::new(),
                finished: false,
                failed: None,
            }),
        }
    }

    /// The most handlers the server runs at once (its
    /// [`max_handlers`](crate::ServerBuilder::max_handlers)): for a
    /// handler that holds its thread for long, such as health `Watch`, to
    /// leave room for the others.
    pub fn max_handlers(&self) -> usize {
        self.shared.lock().ctx.pool.max_threads()
    }

    /// The request head: path, metadata, timeout, encodings, user agent.
    pub fn head(&self) -> &RequestHead {
        &self.head
    }

    pub(crate) fn head_mut(&mut self) -> &mut RequestHead {
        &mut self.head
    }

    /// `/package.Service/Method`.
    pub fn path(&self) -> &str {
        &self.head.path
    }

    /// The request metadata.
    pub fn metadata(&self) -> &MetadataMap {
        &self.head.metadata
    }

    /// When the call expires (from the client's `grpc-timeout`).
    pub fn deadline(&self) -> Option<Instant> {
        self.head.deadline
    }

    /// Time left before the deadline.
    pub fn time_remaining(&self) -> Option<Duration> {
        self.head
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The client's address.
    pub fn peer_addr(&self) -> &PeerAddr {
        &self.peer
    }

    /// The certificate chain the client presented in the TLS handshake,
    /// leaf first, each certificate as DER: who the client is under
    /// mutual TLS. `None` without TLS or without a client certificate;
    /// for a connection given to
    /// [`Server::serve_transport`](crate::Server::serve_transport), what
    /// its transport's [`Transport::peer_certs`](crate::Transport::peer_certs)
    /// says. Interceptors see only the request head; decide on the
    /// certificates in the handler.
    pub fn peer_certs(&self) -> Option<&[Bytes]> {
        self.peer_certs.as_deref()
    }

    /// Whether the call is over without the handler (client cancel,
    /// deadline, connection lost). A long handler should look at it.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// The cancellation flag, to hand to other threads or loops.
    pub fn cancellation(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancelled)
    }

    /// Wait until the call is cancelled or `timeout` passes; true if
    /// cancelled. Lets a handler sleep without missing a cancellation.
    /// A timeout too large to add to the current instant
    /// (`Duration::MAX`) waits for the cancellation however long it takes.
    pub fn wait_cancelled(&self, timeout: Duration) -> bool {
        let until = Instant::now().checked_add(timeout);
        let mut g = self.shared.lock();
        loop {
            if self.is_cancelled() {
                return true;
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return false;
            }
            g = wait(&self.cv, g, until);
        }
    }

    /// Send the response headers now, with `metadata`.
    pub fn send_initial_metadata(&self, metadata: MetadataMap) -> Result<(), Status> {
        let mut g = self.shared.lock();
        let r = g.conn.send_headers(self.id, metadata);
        self.shared.flush(g);
        r.map_err(|e| self.error(e))
    }

    /// Trailing metadata to send with the status.
    pub fn set_trailers(&self, trailers: MetadataMap) {
        self.local().trailers = trailers;
    }

    /// Compress responses with `name` (`"gzip"`) if the client accepts
    /// it; otherwise they go as they would have (the server's
    /// [`send_compression`](crate::ServerBuilder::send_compression), if
    /// any). Must come before the response headers.
    pub fn set_compression(&self, name: &str) -> Result<(), Status> {
        let mut g = self.shared.lock();
        let r = g.conn.set_send_compression(self.id, name);
        drop(g);
        r.map_err(|e| self.error(e))
    }

    fn local(&self) -> std::sync::MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, e: CallError) -> Status {
        if let Some(s) = self.cancel_status() {
            return s;
        }
        match e {
            CallError::MessageTooLarge { len, limit } => Status::resource_exhausted(format!(
                "response message of {len} bytes is larger than the limit of {limit}"
            )),
            CallError::UnknownCall(_) => Status::cancelled("the call has ended"),
            other => Status::internal(other.to_string()),
        }
    }

    fn cancel_status(&self) -> Option<Status> {
        let g = self.shared.lock();
        g.calls
            .get(&self.id)
            .and_then(|s| s.cancelled.as_ref())
            .map(cancel_status)
    }

    /// The next request message's bytes; `None` once the client finished
    /// sending; `Some(Err)` when the call was cancelled.
    pub fn recv_raw(&self) -> Option<Result<Bytes, Status>> {
        if let Some(status) = &self.local().failed {
            return Some(Err(status.clone()));
        }
        let mut g = self.shared.lock();
        loop {
            let slot = g.calls.get_mut(&self.id)?;
            if let Some((m, flow)) = slot.messages.pop_front() {
                slot.last_compressed = Some(m.is_compressed());
                g.conn.release_capacity(self.id, flow);
                // Most releases queue no WINDOW_UPDATE yet; `flush` then
                // returns at once.
                self.shared.flush(g);
                // Inflated only now, as the handler takes it (outside the
                // connection's lock); one that does not inflate ends the
                // call with the reason.
                return Some(m.decompress().inspect_err(|status| {
                    self.local().failed = Some(status.clone());
                    self.finish(status.clone());
                }));
            }
            if let Some(r) = &slot.cancelled {
                return Some(Err(cancel_status(r)));
            }
            if slot.half_closed {
                return None;
            }
            g = wait(&self.cv, g, None);
        }
    }

    /// Whether the request message last received (by
    /// [`recv_raw`](Self::recv_raw), the [`Requests`] iterator, or for the
    /// one request of a unary or server-streaming handler) arrived
    /// compressed: the compressed flag of its prefix; it is decompressed
    /// either way. `None` before the first.
    pub fn last_message_compressed(&self) -> Option<bool> {
        let g = self.shared.lock();
        g.calls.get(&self.id).and_then(|s| s.last_compressed)
    }

    /// Send one response message's bytes, waiting while flow control holds
    /// it back.
    pub fn send_raw(&self, message: Bytes) -> Result<(), Status> {
        self.send_inner(message, true)
    }

    /// As [`send_raw`](Self::send_raw), with this message uncompressed even
    /// if the call compresses.
    pub fn send_raw_uncompressed(&self, message: Bytes) -> Result<(), Status> {
        self.send_inner(message, false)
    }

    fn send_inner(&self, message: Bytes, compress: bool) -> Result<(), Status> {
        let mut g = self.shared.lock();
        loop {
            if let Some(r) = g.calls.get(&self.id).and_then(|s| s.cancelled.as_ref()) {
                return Err(cancel_status(r));
            }
            match g.conn.send_message_with(self.id, message.clone(), compress) {
                Ok(()) => {
                    self.shared.flush(g);
                    return Ok(());
                }
                Err(CallError::Blocked(_)) => loop {
                    let Some(slot) = g.calls.get_mut(&self.id) else {
                        return Err(Status::cancelled("the call has ended"));
                    };
                    if let Some(r) = &slot.cancelled {
                        return Err(cancel_status(r));
                    }
                    if std::mem::take(&mut slot.writable) {
                        break;
                    }
                    g = wait(&self.cv, g, None);
                },
                Err(e) => {
                    drop(g);
                    return Err(self.error(e));
                }
            }
        }
    }

    /// End the call with `status` and the trailers set so far. Later calls
    /// do nothing.
    pub fn finish(&self, status: Status) {
        let trailers = {
            let mut l = self.local();
            if l.finished {
                return;
            }
            l.finished = true;
            std::mem::take(&mut l.trailers)
        };
        let mut g = self.shared.lock();
        // An ended call (cancelled, expired) takes no status: ignore that.
        let _ = g.conn.send_status(self.id, status, trailers);
        g.forget_call(self.id);
        self.shared.flush(g);
    }

    /// Send the one response message and end the call with OK (and the
    /// trailers set so far), under one lock and in one write; falls back
    /// to [`send_raw`](Self::send_raw) when flow control holds the message
    /// back.
    pub(crate) fn reply(&self, message: Bytes) {
        // The call's own lock before the connection's, as in `finish`.
        let trailers = {
            let mut l = self.local();
            if l.finished {
                return;
            }
            l.finished = true;
            std::mem::take(&mut l.trailers)
        };
        let mut g = self.shared.lock();
        let live = g.calls.get(&self.id).is_some_and(|s| s.cancelled.is_none());
        if live && g.conn.is_writable(self.id) {
            // Head (if not sent), message and trailers at once.
            match g
                .conn
                .send_response(self.id, message.clone(), Status::ok(), trailers.clone())
            {
                Ok(()) => {
                    g.forget_call(self.id);
                    self.shared.flush(g);
                    return;
                }
                Err(_) => {
                    // Refused (too large, say): the general path below
                    // reports why.
                }
            }
        }
        drop(g);
        // Not this way after all: undo, and take the general path (which
        // waits for flow control, or reports why the message was refused).
        {
            let mut l = self.local();
            l.finished = false;
            l.trailers = trailers;
        }
        let r = self.send_raw(message);
        self.finish_result(r);
    }

    pub(crate) fn finish_result(&self, r: Result<(), Status>) {
        match r {
            Ok(()) => self.finish(Status::ok()),
            Err(s) => self.finish(s),
        }
    }

    /// Finish from a place that does not hold the connection lock.
    pub(crate) fn finish_now(self, status: Status) {
        self.finish(status);
    }

    /// Mark finished without touching the connection (the caller holds its
    /// lock and answers the call itself).
    pub(crate) fn defuse(self) {
        self.local().finished = true;
    }
}

impl Drop for ServerCall {
    fn drop(&mut self) {
        if !self.local().finished {
            let status = if std::thread::panicking() {
                Status::new(Code::Unknown, "handler panicked")
            } else {
                Status::new(Code::Unknown, "handler ended without a status")
            };
            self.finish(status);
        }
    }
}
