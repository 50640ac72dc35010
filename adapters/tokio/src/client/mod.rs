//! The client side: [`Channel`], a cloneable handle on a (lazily made,
//! automatically remade) connection to one server, and the four kinds of
//! call on it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use bytes::Bytes;
//! use grpc_sansio_tokio::{BytesCodec, CallOptions, Channel};
//!
//! let channel = Channel::connect("http://127.0.0.1:50051")?;
//! let reply = channel
//!     .unary("/helloworld.Greeter/SayHello", BytesCodec, Bytes::from_static(b"\n\x05world"), CallOptions::new())
//!     .await?;
//! println!("{:?}", reply.message);
//! # Ok(()) }
//! ```

mod backoff;
mod call;
mod connector;
pub(crate) mod driver;
mod manager;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio::call::{CallError, CallKind};
use grpc_sansio::client::{CallOptions as CoreOptions, ClientConfig};
use grpc_sansio::codec::Codec;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use tokio::sync::{Notify, oneshot, watch};

pub use backoff::BackoffConfig;
pub use call::{ClientStreamingCall, RequestSink, Streaming};
pub use connector::{ConnectFuture, Connector, InvalidTarget, Target};

use crate::error::{Response, RpcError, call_error_status};
use crate::server::RequestContext;
use crate::sync::Signal;
use call::{RawReceiver, RawSender};
use driver::{CallShared, Cmd, ConnHandle};
use grpc_sansio::client::ChannelKeepalive;

/// The connectivity state of a channel, as gRPC names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelState {
    /// No connection, and none being made: the next call starts one.
    Idle,
    /// A connection is being made.
    Connecting,
    /// A connection is up and takes calls.
    Ready,
    /// The last attempt failed; the next one waits for the backoff delay.
    /// Calls fail with UNAVAILABLE unless they wait for ready.
    TransientFailure,
    /// The channel was closed; calls fail.
    Shutdown,
}

/// Per-call options.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CallOptions {
    /// Request metadata (after the channel's default metadata).
    pub metadata: MetadataMap,
    /// How long the call may take (sent as `grpc-timeout`).
    pub timeout: Option<Duration>,
    /// When the call must be over. With a timeout too, the earlier wins.
    pub deadline: Option<Instant>,
    /// Compress request messages with this algorithm (`"gzip"`).
    pub compression: Option<String>,
    /// Wait through connection failures until the deadline instead of
    /// failing at once with UNAVAILABLE. `None`: the channel's default.
    pub wait_for_ready: Option<bool>,
    /// Override the `:authority` of this call.
    pub authority: Option<String>,
}

impl CallOptions {
    /// No metadata, no deadline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the request metadata.
    pub fn metadata(mut self, metadata: MetadataMap) -> Self {
        self.metadata = metadata;
        self
    }

    /// Set the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Set the deadline.
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Compress request messages with `name` (for example `"gzip"`).
    pub fn compression(mut self, name: &str) -> Self {
        self.compression = Some(name.to_string());
        self
    }

    /// Wait for the channel to be ready (up to the deadline).
    pub fn wait_for_ready(mut self, wait: bool) -> Self {
        self.wait_for_ready = Some(wait);
        self
    }

    /// Set `:authority` for this call.
    pub fn authority(mut self, authority: &str) -> Self {
        self.authority = Some(authority.to_string());
        self
    }

    /// Carry the deadline of the call a server handler is serving over to
    /// this outgoing call (the earlier of the two deadlines wins), so
    /// that a chain of calls shares one deadline.
    pub fn propagate(mut self, incoming: &RequestContext) -> Self {
        if let Some(d) = incoming.deadline() {
            self.deadline = Some(self.deadline.map_or(d, |own| own.min(d)));
        }
        self
    }

    fn effective_deadline(&self, now: Instant) -> Option<Instant> {
        let from_timeout = self.timeout.and_then(|t| now.checked_add(t));
        match (self.deadline, from_timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A client interceptor: sees (and may change) the path's request
/// metadata before every call, or refuses the call with a status (which
/// the call then ends with, without touching the network).
pub trait ClientInterceptor: Send + Sync + 'static {
    /// Inspect or change `metadata` of a call to `path`.
    fn intercept(&self, path: &str, metadata: &mut MetadataMap) -> Result<(), Status>;
}

impl<F> ClientInterceptor for F
where
    F: Fn(&str, &mut MetadataMap) -> Result<(), Status> + Send + Sync + 'static,
{
    fn intercept(&self, path: &str, metadata: &mut MetadataMap) -> Result<(), Status> {
        self(path, metadata)
    }
}

/// What the manager publishes to calls.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) state: ChannelState,
    pub(crate) conn: Option<ConnHandle>,
    pub(crate) last_error: Option<String>,
}

pub(crate) struct Settings {
    pub(crate) config: ClientConfig,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) backoff: BackoffConfig,
    pub(crate) default_metadata: MetadataMap,
    pub(crate) interceptors: Vec<Arc<dyn ClientInterceptor>>,
    pub(crate) wait_for_ready: bool,
}

pub(crate) struct Shared {
    pub(crate) connector: Arc<dyn Connector>,
    pub(crate) settings: Settings,
    pub(crate) snapshot: watch::Sender<Snapshot>,
    /// A call wants a connection.
    pub(crate) want: Notify,
    pub(crate) closing: Signal,
    /// The keepalive interval of new connections (raised when servers
    /// say "too_many_pings").
    pub(crate) keepalive: Arc<ChannelKeepalive>,
    /// A manager task runs (cleared if its runtime drops it).
    started: AtomicBool,
}

impl Shared {
    pub(crate) fn publish(&self, state: ChannelState, conn: Option<ConnHandle>) {
        self.snapshot.send_modify(|s| {
            s.state = state;
            s.conn = conn;
        });
    }

    pub(crate) fn fail(&self, error: String) {
        self.snapshot.send_modify(|s| {
            s.state = ChannelState::TransientFailure;
            s.conn = None;
            s.last_error = Some(error);
        });
    }
}

/// Ends the channel when the last clone is dropped.
struct Owner(Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.closing.fire();
        self.0.want.notify_one();
    }
}

/// A connection to one server, shared by every clone, carrying any number
/// of concurrent calls. It connects on the first call (or on
/// [`ready`](Channel::ready)), reconnects with exponential backoff when
/// the connection is lost or the server sends GOAWAY, and ends when the
/// last clone is dropped or [`close`](Channel::close) is called.
#[derive(Clone)]
pub struct Channel {
    owner: Arc<Owner>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("state", &self.state())
            .finish()
    }
}

/// Builds a [`Channel`].
pub struct ChannelBuilder {
    connector: Result<Arc<dyn Connector>, InvalidTarget>,
    settings: Settings,
    /// The target asked for TLS (`https://`).
    https: bool,
    /// The host name TLS verifies.
    host: String,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::ClientTlsConfig>,
}

impl std::fmt::Debug for ChannelBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelBuilder").finish_non_exhaustive()
    }
}

impl ChannelBuilder {
    /// Accept `compressor` besides gzip (and identity), and let calls
    /// send with it ([`CallOptions::compression`]), for example
    /// [`Deflate`](grpc_sansio::grpc::compression::Deflate); one of the
    /// same name is replaced.
    pub fn compressor(
        mut self,
        compressor: Arc<dyn grpc_sansio::grpc::compression::Compressor>,
    ) -> Self {
        self.settings.config.compression.register(compressor);
        self
    }

    fn new(
        connector: Result<Arc<dyn Connector>, InvalidTarget>,
        authority: Option<String>,
        scheme: &str,
    ) -> Self {
        let mut config = ClientConfig::default();
        if let Some(a) = authority {
            config.authority = a;
        }
        config.scheme = scheme.to_string();
        ChannelBuilder {
            connector,
            https: false,
            host: "localhost".to_string(),
            #[cfg(feature = "tls")]
            tls: None,
            settings: Settings {
                config,
                connect_timeout: None,
                backoff: BackoffConfig::default(),
                default_metadata: MetadataMap::new(),
                interceptors: Vec::new(),
                wait_for_ready: false,
            },
        }
    }

    /// How long one connection attempt (transport and HTTP/2 handshake)
    /// may take. Default: gRPC's rule, the longer of the backoff delay and
    /// 20 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = Some(timeout);
        self
    }

    /// Reconnection backoff parameters.
    pub fn backoff(mut self, backoff: BackoffConfig) -> Self {
        self.settings.backoff = backoff;
        self
    }

    /// Send a keepalive PING after `interval` without traffic. A server
    /// that finds this too often and sends the connection away (GOAWAY
    /// ENHANCE_YOUR_CALM "too_many_pings") makes the channel double the
    /// interval for its next connections (gRFC A8, as grpc-go does).
    pub fn keepalive_time(mut self, interval: Duration) -> Self {
        self.settings.config.h2.keepalive_interval = Some(interval);
        self
    }

    /// End the connection when a keepalive PING is not answered within
    /// `timeout`. Default 20 s.
    pub fn keepalive_timeout(mut self, timeout: Duration) -> Self {
        self.settings.config.h2.keepalive_timeout = timeout;
        self
    }

    /// Send keepalive PINGs even while no call is open. Default false.
    pub fn keepalive_permit_without_calls(mut self, permit: bool) -> Self {
        self.settings.config.h2.keepalive_while_idle = permit;
        self
    }

    /// HTTP/2 receive window of each call (SETTINGS_INITIAL_WINDOW_SIZE).
    pub fn initial_stream_window(mut self, bytes: u32) -> Self {
        self.settings.config.h2.initial_stream_window = bytes;
        self
    }

    /// HTTP/2 receive window of the whole connection.
    pub fn initial_connection_window(mut self, bytes: u32) -> Self {
        self.settings.config.h2.connection_window = bytes;
        self
    }

    /// The largest response message accepted. Default 4 MiB.
    pub fn max_receive_message_size(mut self, bytes: usize) -> Self {
        self.settings.config.max_receive_message_size = bytes;
        self
    }

    /// The most memory one connection holds for response messages beyond
    /// what the flow-control windows count (messages still arriving, and
    /// the early-credited part of an unread message); the call that
    /// would go past it ends with RESOURCE_EXHAUSTED. Default 64 MiB (see
    /// [`ClientConfig::max_receive_memory`](grpc_sansio::client::ClientConfig::max_receive_memory)).
    pub fn max_receive_memory(mut self, bytes: usize) -> Self {
        self.settings.config.max_receive_memory = bytes;
        self
    }

    /// The largest request message that may be sent.
    pub fn max_send_message_size(mut self, bytes: usize) -> Self {
        self.settings.config.max_send_message_size = bytes;
        self
    }

    /// The `user-agent` of requests.
    pub fn user_agent(mut self, user_agent: &str) -> Self {
        self.settings.config.user_agent = user_agent.to_string();
        self
    }

    /// The `:authority` of requests. Default: the target's host and port.
    pub fn authority(mut self, authority: &str) -> Self {
        self.settings.config.authority = authority.to_string();
        self
    }

    /// Metadata added to every call, before the call's own.
    pub fn default_metadata(mut self, metadata: MetadataMap) -> Self {
        self.settings.default_metadata = metadata;
        self
    }

    /// Whether calls wait for the channel to be ready by default.
    pub fn wait_for_ready(mut self, wait: bool) -> Self {
        self.settings.wait_for_ready = wait;
        self
    }

    /// Run `interceptor` before every call (in the order added).
    pub fn interceptor(mut self, interceptor: impl ClientInterceptor) -> Self {
        self.settings.interceptors.push(Arc::new(interceptor));
        self
    }

    /// Replace the whole core configuration (HTTP/2 limits, compression
    /// registry, ...). The builder's other setters change this value.
    pub fn client_config(mut self, config: ClientConfig) -> Self {
        self.settings.config = config;
        self
    }

    /// Connect with TLS (rustls, ALPN `h2`); `https://` targets need it.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::ClientTlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The channel. It does not connect until the first call.
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
    pub fn build(mut self) -> Result<Channel, InvalidTarget> {
        let mut connector = self.connector?;
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.take() {
            connector = crate::tls::wrap(&tls, connector, &self.host)?;
            self.settings.config.scheme = "https".to_string();
            self.https = false;
        }
        if self.https {
            return Err(InvalidTarget(
                "https needs a TLS configuration (the `tls` feature and ChannelBuilder::tls)"
                    .to_string(),
            ));
        }
        let (snapshot, _) = watch::channel(Snapshot {
            state: ChannelState::Idle,
            conn: None,
            last_error: None,
        });
        let keepalive = Arc::new(ChannelKeepalive::new(
            self.settings.config.h2.keepalive_interval,
        ));
        let shared = Arc::new(Shared {
            connector,
            keepalive,
            settings: self.settings,
            snapshot,
            want: Notify::new(),
            closing: Signal::default(),
            started: AtomicBool::new(false),
        });
        Ok(Channel {
            owner: Arc::new(Owner(shared)),
        })
    }
}

impl Channel {
    /// A channel to `target` (`http://host:port`, or `unix:/path`), with
    /// default settings. It connects lazily, on the first call.
    pub fn connect(target: &str) -> Result<Channel, InvalidTarget> {
        Channel::builder(target).build()
    }

    /// A builder for a channel to `target`.
    pub fn builder(target: &str) -> ChannelBuilder {
        match Target::parse(target) {
            Ok(t) => {
                let authority = t.authority();
                let host = t.host().to_string();
                let mut b = ChannelBuilder::new(Ok(Arc::new(t)), Some(authority), "http");
                b.https = connector::is_https(target);
                b.host = host;
                b
            }
            Err(e) => ChannelBuilder::new(Err(e), None, "http"),
        }
    }

    /// A builder for a channel whose connections `connector` makes (a
    /// custom transport, TLS setup, or an in-memory pipe).
    pub fn with_connector(connector: impl Connector) -> ChannelBuilder {
        ChannelBuilder::new(Ok(Arc::new(connector)), None, "http")
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.owner.0
    }

    /// The current connectivity state.
    pub fn state(&self) -> ChannelState {
        self.shared().snapshot.borrow().state
    }

    /// Wait until the state is no longer `from`, and return the new one.
    pub async fn state_changed(&self, from: ChannelState) -> ChannelState {
        let mut rx = self.shared().snapshot.subscribe();
        loop {
            let now = rx.borrow_and_update().state;
            if now != from {
                return now;
            }
            if rx.changed().await.is_err() {
                return ChannelState::Shutdown;
            }
        }
    }

    /// Connect now if idle, and wait until ready (or until `timeout`).
    pub async fn ready(&self, timeout: Duration) -> Result<(), RpcError> {
        let deadline = Instant::now() + timeout;
        self.acquire(Some(deadline), true).await.map(|_| ())
    }

    /// Close the channel: no new calls; calls in progress finish on the
    /// connection, which is then closed (GOAWAY).
    pub fn close(&self) {
        let shared = self.shared();
        shared.closing.fire();
        shared.want.notify_one();
        if tokio::runtime::Handle::try_current().is_ok() {
            self.ensure_started();
        } else if !shared.started.load(Ordering::Acquire) {
            // No runtime to run a manager on (the one that ran it may be
            // gone), and no manager running: closed here, with no
            // connection to end. One started meanwhile sees `closing`.
            shared.publish(ChannelState::Shutdown, None);
        }
    }

    fn ensure_started(&self) {
        let shared = self.shared();
        if !shared.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(manager::run(shared.clone()));
        }
    }

    /// A connection that takes calls, waiting for one as the state and
    /// `wait_for_ready` say.
    async fn acquire(
        &self,
        deadline: Option<Instant>,
        wait_for_ready: bool,
    ) -> Result<ConnHandle, RpcError> {
        self.ensure_started();
        let shared = self.shared();
        let mut rx = shared.snapshot.subscribe();
        loop {
            let snap = rx.borrow_and_update().clone();
            match snap.state {
                ChannelState::Ready => {
                    if let Some(conn) = snap.conn {
                        if conn.accepts_calls() {
                            return Ok(conn);
                        }
                    }
                }
                ChannelState::Idle => {
                    // The manager may have gone with its runtime.
                    self.ensure_started();
                    shared.want.notify_one();
                }
                ChannelState::Connecting => {}
                ChannelState::TransientFailure => {
                    if !wait_for_ready {
                        return Err(RpcError::new(Status::new(
                            Code::Unavailable,
                            format!(
                                "connection failed: {}",
                                snap.last_error.as_deref().unwrap_or("unknown error")
                            ),
                        )));
                    }
                }
                ChannelState::Shutdown => {
                    return Err(RpcError::new(Status::new(
                        Code::Unavailable,
                        "channel closed",
                    )));
                }
            }
            let changed = rx.changed();
            let r = match deadline {
                Some(d) => {
                    match tokio::time::timeout_at(tokio::time::Instant::from_std(d), changed).await
                    {
                        Ok(r) => r,
                        Err(_) => {
                            return Err(RpcError::new(Status::new(
                                Code::DeadlineExceeded,
                                "deadline exceeded while waiting for a connection",
                            )));
                        }
                    }
                }
                None => changed.await,
            };
            if r.is_err() {
                return Err(RpcError::new(Status::new(
                    Code::Unavailable,
                    "channel closed",
                )));
            }
        }
    }

    /// Start a call: run interceptors, find a connection, open the call.
    async fn start(
        &self,
        path: &str,
        kind: CallKind,
        options: CallOptions,
        first: Option<Bytes>,
    ) -> Result<(RawSender, RawReceiver), RpcError> {
        let settings = &self.shared().settings;
        let now = Instant::now();
        let deadline = options.effective_deadline(now);
        let mut metadata = settings.default_metadata.clone();
        metadata.extend(options.metadata);
        for i in &settings.interceptors {
            i.intercept(path, &mut metadata)?;
        }
        let wait = options.wait_for_ready.unwrap_or(settings.wait_for_ready);
        let mut core = CoreOptions::new(kind).with_metadata(metadata);
        core.deadline = deadline;
        core.compression = options.compression;
        core.authority = options.authority;
        let end = kind.single_request();
        loop {
            let conn = self.acquire(deadline, wait).await?;
            let shared = CallShared::new();
            let (reply, rx) = oneshot::channel();
            let cmd = Cmd::Start {
                path: path.to_string(),
                options: core.clone(),
                first: first.clone(),
                end,
                shared: shared.clone(),
                reply,
            };
            if conn.cmds.send(cmd).await.is_err() {
                conn.wait_closed().await;
                continue;
            }
            let mut pending = PendingStart {
                rx,
                control: conn.control.clone(),
            };
            match (&mut pending.rx).await {
                Ok(Ok(call)) => {
                    let sender = RawSender::new(&conn, call, shared.clone(), end);
                    let receiver = RawReceiver::new(&conn, call, shared);
                    return Ok((sender, receiver));
                }
                Ok(Err(CallError::GoingAway | CallError::ConnectionClosed)) | Err(_) => {
                    conn.wait_closed().await;
                }
                Ok(Err(e)) => return Err(RpcError::new(call_error_status(&e))),
            }
        }
    }

    /// A unary call: one request, one response.
    pub async fn unary<C: Codec>(
        &self,
        path: &str,
        codec: C,
        request: C::Encode,
        options: CallOptions,
    ) -> Result<Response<C::Decode>, RpcError> {
        let payload = codec.encode(&request)?;
        let (_sender, receiver) = self
            .start(path, CallKind::Unary, options, Some(payload))
            .await?;
        call::collect_one(receiver, &codec).await
    }

    /// A server-streaming call: one request, a stream of responses.
    pub async fn server_streaming<C: Codec>(
        &self,
        path: &str,
        codec: C,
        request: C::Encode,
        options: CallOptions,
    ) -> Result<Streaming<C>, RpcError> {
        let payload = codec.encode(&request)?;
        let (_sender, receiver) = self
            .start(path, CallKind::ServerStreaming, options, Some(payload))
            .await?;
        Ok(Streaming::new(receiver, Arc::new(codec)))
    }

    /// A client-streaming call: send requests with
    /// [`ClientStreamingCall::send`], then
    /// [`finish`](ClientStreamingCall::finish) for the response.
    pub async fn client_streaming<C: Codec>(
        &self,
        path: &str,
        codec: C,
        options: CallOptions,
    ) -> Result<ClientStreamingCall<C>, RpcError> {
        let (sender, receiver) = self
            .start(path, CallKind::ClientStreaming, options, None)
            .await?;
        Ok(ClientStreamingCall::new(sender, receiver, Arc::new(codec)))
    }

    /// A bidirectional streaming call: a request sink and a response
    /// stream, usable from different tasks.
    pub async fn streaming<C: Codec>(
        &self,
        path: &str,
        codec: C,
        options: CallOptions,
    ) -> Result<(RequestSink<C>, Streaming<C>), RpcError> {
        let (sender, receiver) = self
            .start(path, CallKind::BidiStreaming, options, None)
            .await?;
        let codec = Arc::new(codec);
        Ok((
            RequestSink::new(sender, codec.clone()),
            Streaming::new(receiver, codec),
        ))
    }
}

/// A call start whose answer has not been taken yet. If the caller is
/// dropped now, the call may exist on the connection with no one to
/// cancel it: this cancels it (or, if the driver has not answered yet,
/// the driver sees the closed reply and cancels it itself).
struct PendingStart {
    rx: oneshot::Receiver<Result<grpc_sansio::call::CallId, CallError>>,
    control: Arc<crate::sync::Control>,
}

impl Drop for PendingStart {
    fn drop(&mut self) {
        self.rx.close();
        if let Ok(Ok(call)) = self.rx.try_recv() {
            self.control.cancel(call);
        }
    }
}

impl ConnHandle {
    fn accepts_calls(&self) -> bool {
        // A driver that is gone (dropped with its runtime) takes nothing,
        // whatever it said last.
        self.state.has_changed().is_ok()
            && matches!(
                *self.state.borrow(),
                driver::ConnState::Ready | driver::ConnState::Handshaking
            )
    }

    /// Wait until the connection is draining or closed (bounded by the
    /// manager, which replaces it then).
    async fn wait_closed(&self) {
        let mut st = self.state.clone();
        loop {
            if !self.accepts_calls() {
                return;
            }
            if st.changed().await.is_err() {
                return;
            }
        }
    }
}
