//! What a handler sees of its call: [`RequestContext`] (metadata,
//! deadline, peer, cancellation, response compression) and [`Request`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::server::{CancelReason, RequestHead};

use super::Peer;
use crate::sync::{Signal, lock};

/// What a call's handler and its connection share: the cancellation, and
/// the compression the handler chose for its responses.
#[derive(Debug, Default)]
pub(crate) struct CancelState {
    pub(crate) signal: Signal,
    pub(crate) reason: Mutex<Option<CancelReason>>,
    /// Set by [`RequestContext::set_response_compression`], taken by the
    /// connection with the call's first response.
    pub(crate) compression: Mutex<Option<String>>,
}

impl CancelState {
    pub(crate) fn cancel(&self, reason: CancelReason) {
        lock(&self.reason).get_or_insert(reason);
        self.signal.fire();
    }
}

/// The context of one incoming call. Cheap to clone; every clone sees the
/// same cancellation.
#[derive(Debug, Clone)]
pub struct RequestContext {
    path: Arc<str>,
    authority: Option<Arc<str>>,
    metadata: MetadataMap,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    peer_addr: Option<SocketAddr>,
    peer_certs: Option<Arc<[Bytes]>>,
    user_agent: Option<Arc<str>>,
    encoding: Option<Arc<str>>,
    pub(crate) cancel: Arc<CancelState>,
}

impl RequestContext {
    pub(crate) fn new(head: RequestHead, peer: &Peer) -> Self {
        RequestContext {
            path: head.path,
            authority: head.authority,
            metadata: head.metadata,
            timeout: head.timeout,
            deadline: head.deadline,
            peer_addr: peer.addr,
            peer_certs: peer.certs.clone(),
            user_agent: head.user_agent,
            encoding: head.encoding,
            cancel: Arc::new(CancelState::default()),
        }
    }

    /// `/package.Service/Method`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `:authority` of the request.
    pub fn authority(&self) -> Option<&str> {
        self.authority.as_deref()
    }

    /// Request metadata.
    pub fn metadata(&self) -> &MetadataMap {
        &self.metadata
    }

    /// Request metadata, to change (interceptors).
    pub fn metadata_mut(&mut self) -> &mut MetadataMap {
        &mut self.metadata
    }

    /// The client's timeout (`grpc-timeout`).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// When the call expires; the server ends it with DEADLINE_EXCEEDED
    /// then, and [`cancelled`](Self::cancelled) completes.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The client's address (TCP only).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }

    /// The certificate chain the client presented in the TLS handshake,
    /// leaf first, each certificate as DER: who the client is under
    /// mutual TLS. `None` without TLS or without a client certificate,
    /// and for a connection served through
    /// [`Server::serve_connection`](crate::Server::serve_connection) or a
    /// listener that does not give its [`Peer`](crate::Peer) certificates.
    pub fn peer_certs(&self) -> Option<&[Bytes]> {
        self.peer_certs.as_deref()
    }

    /// The client's `user-agent`.
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// The request messages' compression, if any.
    pub fn encoding(&self) -> Option<&str> {
        self.encoding.as_deref()
    }

    /// Whether the call has been cancelled (by the client, its deadline,
    /// or the connection ending).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.signal.is_set()
    }

    /// Why the call was cancelled, once it has been.
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        lock(&self.cancel.reason).clone()
    }

    /// Completes when the call is cancelled.
    pub async fn cancelled(&self) {
        self.cancel.signal.wait().await
    }

    /// Compress this call's responses with `name` (`"gzip"`), overriding
    /// the server's default ([`ServerBuilder::response_compression`]).
    /// Takes effect if called before the first response (or its headers)
    /// is sent, and only if the client accepts the encoding; otherwise the
    /// responses go as they would have.
    ///
    /// [`ServerBuilder::response_compression`]: crate::ServerBuilder::response_compression
    pub fn set_response_compression(&self, name: &str) {
        *lock(&self.cancel.compression) = Some(name.to_string());
    }
}

/// A request: its context and its message (or message stream).
#[derive(Debug)]
pub struct Request<T> {
    context: RequestContext,
    message: T,
    compressed: Option<bool>,
}

impl<T> Request<T> {
    pub(crate) fn new(context: RequestContext, message: T) -> Self {
        Request {
            context,
            message,
            compressed: None,
        }
    }

    pub(crate) fn with_compressed(mut self, compressed: Option<bool>) -> Self {
        self.compressed = compressed;
        self
    }

    /// For a call with one request (unary, server-streaming): whether
    /// that message arrived compressed (the compressed flag of its
    /// prefix; it is decompressed either way). `None` for a stream of
    /// requests, whose [`RequestStream`](crate::RequestStream) says it
    /// message by message.
    pub fn message_compressed(&self) -> Option<bool> {
        self.compressed
    }

    /// The call's context.
    pub fn context(&self) -> &RequestContext {
        &self.context
    }

    /// Request metadata.
    pub fn metadata(&self) -> &MetadataMap {
        self.context.metadata()
    }

    /// The call's deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.context.deadline()
    }

    /// The client's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.context.peer_addr()
    }

    /// The client's certificate chain under mutual TLS (see
    /// [`RequestContext::peer_certs`]).
    pub fn peer_certs(&self) -> Option<&[Bytes]> {
        self.context.peer_certs()
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// The message, to change (streams are read through this).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// The message.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// The context and the message.
    pub fn into_parts(self) -> (RequestContext, T) {
        (self.context, self.message)
    }
}
