//! The client: [`Channel`], a cloneable handle on one connection (made
//! again after it is lost) that any number of threads share.

mod backoff;
mod call;
mod conn;
mod target;

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use grpc_sansio::call::{CallError, CallKind, RpcError};
use grpc_sansio::client::{CallOptions as CoreCallOptions, ClientConfig};
use grpc_sansio::codec::Codec;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};

pub use backoff::BackoffConfig;
pub use call::{Call, RequestSender, Response, Streaming};

use backoff::Backoff;
use call::CallCore;
use conn::ClientConn;
use grpc_sansio::client::ChannelKeepalive;
use target::{Connector, Target};

use crate::io::Machine;
use crate::transport::Transport;

/// A client interceptor: sees the path and may change the request
/// metadata, or refuse the call with a status before anything is sent.
pub type ClientInterceptor =
    Arc<dyn Fn(&str, &mut MetadataMap) -> Result<(), Status> + Send + Sync + 'static>;

/// The connectivity state of a channel (gRPC's connectivity-semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectivityState {
    /// No connection, none being made; the next call connects.
    Idle,
    /// A connection attempt is in progress.
    Connecting,
    /// Connected: calls go out at once.
    Ready,
    /// The last attempt failed; the next waits for the backoff.
    TransientFailure,
    /// [`Channel::close`] was called.
    Shutdown,
}

/// Per-call settings.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CallOptions {
    /// Request metadata, after the channel's default metadata.
    pub metadata: MetadataMap,
    /// How long the call may take (sent as `grpc-timeout`).
    pub timeout: Option<Duration>,
    /// When the call must be over; the earlier of this and `timeout` wins.
    pub deadline: Option<Instant>,
    /// Compress requests with this algorithm (`"gzip"`).
    pub compression: Option<String>,
    /// Wait for a connection (through reconnection backoff) instead of
    /// failing at once with UNAVAILABLE; `None` takes the channel's
    /// setting.
    pub wait_for_ready: Option<bool>,
    /// Override the channel's `:authority`.
    pub authority: Option<String>,
}

impl CallOptions {
    /// Default options.
    pub fn new() -> Self {
        CallOptions::default()
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

    /// Set the request metadata.
    pub fn metadata(mut self, metadata: MetadataMap) -> Self {
        self.metadata = metadata;
        self
    }

    /// Compress requests with `name`.
    pub fn compression(mut self, name: &str) -> Self {
        self.compression = Some(name.to_string());
        self
    }

    /// Wait for the channel to be ready.
    pub fn wait_for_ready(mut self, wait: bool) -> Self {
        self.wait_for_ready = Some(wait);
        self
    }

    /// A deadline of an incoming call carried over to this outgoing one
    /// (the earlier of the two is kept).
    pub fn propagate_deadline(mut self, incoming: Option<Instant>) -> Self {
        if let Some(d) = incoming {
            self.deadline = Some(self.deadline.map_or(d, |mine| mine.min(d)));
        }
        self
    }

    fn effective_deadline(&self, now: Instant) -> Option<Instant> {
        let t = self.timeout.and_then(|t| now.checked_add(t));
        match (t, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Builds a [`Channel`].
pub struct ChannelBuilder {
    target: io::Result<Target>,
    config: ClientConfig,
    connect_timeout: Duration,
    default_metadata: MetadataMap,
    interceptors: Vec<ClientInterceptor>,
    backoff: BackoffConfig,
    wait_for_ready: bool,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::ClientTlsConfig>,
}

impl fmt::Debug for ChannelBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelBuilder")
            .field("config", &self.config)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl ChannelBuilder {
    fn with_target(target: io::Result<Target>) -> Self {
        let mut config = ClientConfig::default();
        if let Ok(t) = &target {
            config.authority = t.authority.clone();
            config.scheme = t.scheme.to_string();
        }
        config.user_agent = crate::USER_AGENT.to_string();
        ChannelBuilder {
            target,
            config,
            connect_timeout: Duration::from_secs(20),
            default_metadata: MetadataMap::new(),
            interceptors: Vec::new(),
            backoff: BackoffConfig::default(),
            wait_for_ready: false,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Connect with TLS (rustls, ALPN `h2`, the roots and identity of
    /// `tls`); `https://` targets need it. The handshake runs on the
    /// thread that connects, within the connect timeout and at most 10 s.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::ClientTlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// How long one connection attempt may take. Default 20 s (gRPC's
    /// minimum connect timeout). Longer than a year counts as a year (the
    /// limit is added to the clock, which `Duration::MAX` would overflow).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.min(backoff::YEAR);
        self
    }

    /// Send a keepalive PING after `interval` without traffic; end the
    /// connection if it is not answered within `timeout`. A server that
    /// finds this too often and sends the connection away (GOAWAY
    /// ENHANCE_YOUR_CALM "too_many_pings") makes the channel double the
    /// interval for its next connections (gRFC A8, as grpc-go does).
    pub fn keepalive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.config.h2.keepalive_interval = Some(interval);
        self.config.h2.keepalive_timeout = timeout;
        self
    }

    /// Also send keepalive PINGs while no call is open. Default false.
    pub fn keepalive_while_idle(mut self, yes: bool) -> Self {
        self.config.h2.keepalive_while_idle = yes;
        self
    }

    /// The receive window of each call (HTTP/2 SETTINGS_INITIAL_WINDOW_SIZE):
    /// unread response bytes held per call. Default 4 MiB.
    pub fn initial_stream_window(mut self, bytes: u32) -> Self {
        self.config.h2.initial_stream_window = bytes;
        self
    }

    /// The connection's receive window: unread bytes held for all calls.
    /// Default 16 MiB (four streams' worth).
    pub fn initial_connection_window(mut self, bytes: u32) -> Self {
        self.config.h2.connection_window = bytes;
        self
    }

    /// The largest response message accepted. Default 4 MiB.
    pub fn max_receive_message_size(mut self, bytes: usize) -> Self {
        self.config.max_receive_message_size = bytes;
        self
    }

    /// The most memory one connection holds for response messages beyond
    /// what the flow-control windows count (messages still arriving, and
    /// the early-credited part of an unread message); the call that
    /// would go past it ends with RESOURCE_EXHAUSTED. Default 64 MiB (see
    /// [`ClientConfig::max_receive_memory`](grpc_sansio::client::ClientConfig::max_receive_memory)).
    pub fn max_receive_memory(mut self, bytes: usize) -> Self {
        self.config.max_receive_memory = bytes;
        self
    }

    /// The largest request message sent. Default `i32::MAX`.
    pub fn max_send_message_size(mut self, bytes: usize) -> Self {
        self.config.max_send_message_size = bytes;
        self
    }

    /// Put `agent` before ours in the `user-agent` header.
    pub fn user_agent(mut self, agent: &str) -> Self {
        self.config.user_agent = format!("{agent} {}", crate::USER_AGENT);
        self
    }

    /// The `:authority` of requests (default: the target's host and port).
    pub fn authority(mut self, authority: &str) -> Self {
        self.config.authority = authority.to_string();
        self
    }

    /// Metadata added to every call, before the call's own.
    pub fn default_metadata(mut self, metadata: MetadataMap) -> Self {
        self.default_metadata = metadata;
        self
    }

    /// Run `f` on every call before it starts (in the order added).
    pub fn interceptor(
        mut self,
        f: impl Fn(&str, &mut MetadataMap) -> Result<(), Status> + Send + Sync + 'static,
    ) -> Self {
        self.interceptors.push(Arc::new(f));
        self
    }

    /// The reconnection backoff. Default gRPC's (1 s, x1.6, jitter 0.2,
    /// at most 120 s).
    pub fn backoff(mut self, backoff: BackoffConfig) -> Self {
        self.backoff = backoff;
        self
    }

    /// Calls wait for a connection by default (per-call options override).
    pub fn wait_for_ready(mut self, wait: bool) -> Self {
        self.wait_for_ready = wait;
        self
    }

    /// Accept `compressor` besides gzip (and identity), and let calls
    /// send with it ([`CallOptions::compression`]), for example
    /// [`Deflate`](grpc_sansio::grpc::compression::Deflate); one of the
    /// same name is replaced.
    pub fn compressor(
        mut self,
        compressor: Arc<dyn grpc_sansio::grpc::compression::Compressor>,
    ) -> Self {
        self.config.compression.register(compressor);
        self
    }

    /// The core's client settings, for what has no method here.
    pub fn core_config(mut self, f: impl FnOnce(&mut ClientConfig)) -> Self {
        f(&mut self.config);
        self
    }

    /// A channel that connects on its first call.
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
    pub fn build_lazy(mut self) -> io::Result<Channel> {
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let mut target = self.target?;
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let mut needs_tls = target.scheme == "https";
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.take() {
            let Some((host, port)) = target.tcp.clone() else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "TLS needs a host:port target",
                ));
            };
            let tls = crate::tls::TlsConnector::new(&tls, &host)?;
            target.connector = Arc::new(move |timeout| {
                let deadline = Instant::now() + timeout;
                let tcp = target::connect_tcp(&host, port, timeout)?;
                Ok(Box::new(tls.connect(tcp, deadline)?) as Box<dyn Transport>)
            });
            self.config.scheme = "https".to_string();
            needs_tls = false;
        }
        if needs_tls {
            #[cfg(feature = "tls")]
            let why = "https needs a TLS configuration (ChannelBuilder::tls)";
            #[cfg(not(feature = "tls"))]
            let why = "https needs the `tls` feature of grpc-sansio-blocking";
            return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
        }
        let inner = Inner {
            connector: target.connector,
            keepalive: Arc::new(ChannelKeepalive::new(self.config.h2.keepalive_interval)),
            config: self.config,
            connect_timeout: self.connect_timeout,
            default_metadata: self.default_metadata,
            interceptors: self.interceptors,
            wait_for_ready: self.wait_for_ready,
            state: Mutex::new(State {
                current: None,
                handshaking: None,
                phase: Phase::Idle,
                backoff: Backoff::new(self.backoff),
                last_error: None,
            }),
            changed: crate::io::Signal::new(),
        };
        Ok(Channel {
            inner: Arc::new(Guarded(inner)),
        })
    }

    /// A channel, connected now (an error if the first attempt fails).
    pub fn connect(self) -> io::Result<Channel> {
        let ch = self.build_lazy()?;
        ch.inner
            .0
            .connection(None, false)
            .map_err(|s| io::Error::new(io::ErrorKind::ConnectionRefused, s.to_string()))?;
        Ok(ch)
    }
}

#[derive(Debug)]
enum Phase {
    Idle,
    Connecting,
    Ready,
    Failed { retry_at: Instant },
    Shutdown,
}

struct State {
    current: Option<Arc<ClientConn>>,
    /// A connection waiting for its HTTP/2 handshake.
    handshaking: Option<Arc<ClientConn>>,
    phase: Phase,
    backoff: Backoff,
    last_error: Option<String>,
}

impl State {
    /// A connection attempt failed with `error`: the next may start after
    /// the backoff's delay, or at once when `backoff` is false.
    fn attempt_failed(&mut self, error: String, backoff: bool) {
        let delay = if backoff {
            self.backoff.next_delay()
        } else {
            Duration::ZERO
        };
        self.phase = Phase::Failed {
            retry_at: Instant::now() + delay,
        };
        self.last_error = Some(error);
    }
}

struct Inner {
    connector: Connector,
    config: ClientConfig,
    /// The keepalive interval of new connections (raised when servers
    /// say "too_many_pings").
    keepalive: Arc<ChannelKeepalive>,
    connect_timeout: Duration,
    default_metadata: MetadataMap,
    interceptors: Vec<ClientInterceptor>,
    wait_for_ready: bool,
    state: Mutex<State>,
    changed: crate::io::Signal,
}

/// Closes the connection when the last channel clone goes.
struct Guarded(Inner);

impl Drop for Guarded {
    fn drop(&mut self) {
        let st = self.0.lock();
        if let Some(c) = &st.current {
            c.shutdown();
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection that takes calls: the current one, or a new one made
    /// now. Without wait-for-ready, a failed attempt (or a backoff still
    /// running) fails the call with UNAVAILABLE.
    fn connection(
        &self,
        deadline: Option<Instant>,
        wait_for_ready: bool,
    ) -> Result<Arc<ClientConn>, Status> {
        let mut st = self.lock();
        loop {
            if let Some(c) = &st.current {
                if c.is_usable() {
                    return Ok(Arc::clone(c));
                }
                // Going away, closed, or out of stream identifiers: calls
                // in progress finish there, then its transport closes.
                c.shutdown();
                st.current = None;
                if matches!(st.phase, Phase::Ready) {
                    st.phase = Phase::Idle;
                }
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| d <= now) {
                return Err(Status::deadline_exceeded(
                    "deadline exceeded while waiting for a connection",
                ));
            }
            match st.phase {
                Phase::Shutdown => return Err(Status::unavailable("channel closed")),
                Phase::Connecting => {
                    st = crate::io::wait(&self.changed, st, deadline);
                    continue;
                }
                Phase::Failed { retry_at } if retry_at > now => {
                    if !wait_for_ready {
                        return Err(Status::unavailable(format!(
                            "connection failed: {}",
                            st.last_error.as_deref().unwrap_or("unknown error")
                        )));
                    }
                    let until = deadline.map_or(retry_at, |d| d.min(retry_at));
                    st = crate::io::wait(&self.changed, st, Some(until));
                    continue;
                }
                _ => {}
            }
            st.phase = Phase::Connecting;
            drop(st);
            let timeout = match deadline {
                Some(d) => d
                    .saturating_duration_since(now)
                    .min(self.connect_timeout)
                    .max(Duration::from_millis(1)),
                None => self.connect_timeout,
            };
            // The attempt is cut short by this call's deadline, not given
            // the channel's whole connect timeout.
            let cut = timeout < self.connect_timeout;
            // A connector that panics must not leave the channel
            // CONNECTING for ever, with every other call waiting for it.
            let mut guard = AttemptGuard {
                inner: self,
                armed: true,
            };
            // Connected once the HTTP/2 handshake is done, within the same
            // time limit as the transport.
            let until = now + timeout;
            let attempt = (self.connector)(timeout)
                .and_then(|t: Box<dyn Transport>| {
                    ClientConn::open(t, self.config.clone(), &self.keepalive)
                })
                .and_then(|c| {
                    let c = Arc::new(c);
                    // Closing the channel meanwhile ends the wait.
                    self.lock().handshaking = Some(Arc::clone(&c));
                    let done = c.wait_handshake(until);
                    self.lock().handshaking = None;
                    match done {
                        Ok(()) => Ok(c),
                        Err(e) => {
                            c.close();
                            Err(e)
                        }
                    }
                });
            guard.armed = false;
            st = self.lock();
            if matches!(st.phase, Phase::Shutdown) {
                if let Ok(c) = &attempt {
                    c.shutdown();
                }
                return Err(Status::unavailable("channel closed"));
            }
            match attempt {
                Ok(c) => {
                    st.current = Some(Arc::clone(&c));
                    st.phase = Phase::Ready;
                    st.backoff.reset();
                    st.last_error = None;
                    self.changed.notify_all();
                    return Ok(c);
                }
                Err(e)
                    if cut
                        && (e.kind() == io::ErrorKind::TimedOut
                            || deadline.is_some_and(|d| Instant::now() >= d)) =>
                {
                    // This call ran out of time, which says little about
                    // the server: the attempt failed, but the next call
                    // tries again at once (no backoff grows from it), and
                    // this one ends with its deadline.
                    st.attempt_failed(e.to_string(), false);
                    self.changed.notify_all();
                    return Err(Status::deadline_exceeded(
                        "deadline exceeded while waiting for a connection",
                    ));
                }
                Err(e) => {
                    st.attempt_failed(e.to_string(), true);
                    self.changed.notify_all();
                    if !wait_for_ready {
                        return Err(Status::unavailable(format!("connection failed: {e}")));
                    }
                }
            }
        }
    }
}

/// Fails the attempt of a thread that unwinds out of it (a connector
/// that panics), so that the channel does not stay CONNECTING.
struct AttemptGuard<'a> {
    inner: &'a Inner,
    armed: bool,
}

impl Drop for AttemptGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut st = self.inner.lock();
        st.handshaking = None;
        if matches!(st.phase, Phase::Connecting) {
            st.attempt_failed("the connector panicked".to_string(), true);
        }
        self.inner.changed.notify_all();
    }
}

/// A gRPC channel: one HTTP/2 connection (made on demand, made again
/// with backoff after it is lost) shared by every clone, from any number
/// of threads, each call a stream on it.
///
/// ```no_run
/// use grpc_sansio::codec::BytesCodec;
/// use grpc_sansio_blocking::{CallOptions, Channel};
///
/// let channel = Channel::connect("http://127.0.0.1:50051")?;
/// let reply = channel.unary(
///     "/echo.Echo/Say",
///     BytesCodec,
///     &bytes::Bytes::from_static(b"hi"),
///     CallOptions::new(),
/// )?;
/// println!("{:?}", reply.message);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Guarded>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("state", &self.state())
            .field("authority", &self.inner.0.config.authority)
            .finish()
    }
}

impl Channel {
    /// Connect to `target` (`http://host:port`, `host:port` or
    /// `unix:/path`) now, with default settings.
    pub fn connect(target: &str) -> io::Result<Channel> {
        Channel::builder(target).connect()
    }

    /// A builder for a channel to `target`.
    pub fn builder(target: &str) -> ChannelBuilder {
        ChannelBuilder::with_target(target::parse(target))
    }

    /// A builder for a channel whose connections come from `connect`
    /// (called with the connect timeout for each attempt): any transport,
    /// such as an in-memory pipe or a TLS stream.
    pub fn builder_with_connector(
        authority: &str,
        connect: impl Fn(Duration) -> io::Result<Box<dyn Transport>> + Send + Sync + 'static,
    ) -> ChannelBuilder {
        ChannelBuilder::with_target(Ok(Target {
            connector: Arc::new(connect),
            authority: authority.to_string(),
            scheme: "http",
            tcp: None,
        }))
    }

    /// The connectivity state now.
    pub fn state(&self) -> ConnectivityState {
        let st = self.inner.0.lock();
        match st.phase {
            Phase::Shutdown => ConnectivityState::Shutdown,
            Phase::Connecting => ConnectivityState::Connecting,
            Phase::Failed { .. } => ConnectivityState::TransientFailure,
            Phase::Ready if st.current.as_ref().is_some_and(|c| c.is_usable()) => {
                ConnectivityState::Ready
            }
            Phase::Ready | Phase::Idle => ConnectivityState::Idle,
        }
    }

    /// Connect now if idle (waiting up to `timeout`); the state after.
    /// A connection is READY once the server has acknowledged our HTTP/2
    /// SETTINGS, not merely once the transport is up.
    pub fn ready(&self, timeout: Duration) -> ConnectivityState {
        let _ = self
            .inner
            .0
            .connection(Instant::now().checked_add(timeout), true);
        self.state()
    }

    /// Close the channel: no new calls; calls in progress finish, then the
    /// connection closes.
    pub fn close(&self) {
        let mut st = self.inner.0.lock();
        st.phase = Phase::Shutdown;
        if let Some(c) = st.current.take() {
            c.shutdown();
        }
        if let Some(c) = st.handshaking.take() {
            c.close();
        }
        self.inner.0.changed.notify_all();
    }

    /// Start a call of `kind` to `path` (`/package.Service/Method`). The
    /// returned [`Call`] sends and receives in both directions.
    pub fn call<C: Codec>(
        &self,
        path: &str,
        kind: CallKind,
        codec: C,
        options: CallOptions,
    ) -> Result<Call<C>, Status> {
        self.start(path, kind, codec, options, Opening::Flush)
    }

    /// Start a call whose whole request is `request`: head, message and
    /// end of request go out at once.
    fn start_whole<C: Codec>(
        &self,
        path: &str,
        kind: CallKind,
        codec: C,
        request: &C::Encode,
        options: CallOptions,
    ) -> Result<Call<C>, Status> {
        self.start(path, kind, codec, options, Opening::Whole(request))
    }

    /// Start a call, opening it as `opening` says.
    fn start<C: Codec>(
        &self,
        path: &str,
        kind: CallKind,
        codec: C,
        options: CallOptions,
        opening: Opening<'_, C::Encode>,
    ) -> Result<Call<C>, Status> {
        let inner = &self.inner.0;
        let started = Instant::now();
        let deadline = options.effective_deadline(started);
        let mut metadata = inner.default_metadata.clone();
        metadata.extend(options.metadata);
        for i in &inner.interceptors {
            i(path, &mut metadata)?;
        }
        let mut core_opts = CoreCallOptions::new(kind).with_metadata(metadata);
        core_opts.deadline = deadline;
        core_opts.compression = options.compression;
        core_opts.authority = options.authority;
        let wait_for_ready = options.wait_for_ready.unwrap_or(inner.wait_for_ready);
        // The request is encoded after the interceptors ran, as it was
        // when it was sent after the start.
        let request = match opening {
            Opening::Whole(request) => Some(codec.encode(request)?),
            Opening::Flush => None,
        };
        // A connection can go away between being picked and the call
        // starting; a few tries cover that race.
        let mut last = Status::unavailable("no connection");
        for _ in 0..3 {
            let conn = inner.connection(deadline, wait_for_ready)?;
            let mut g = conn.shared.lock();
            let opened = match &request {
                Some(request) => g.conn.start_call_with_message(
                    path,
                    core_opts.clone(),
                    request.clone(),
                    Instant::now(),
                ),
                None => g.conn.start_call(path, core_opts.clone(), Instant::now()),
            };
            match opened {
                Ok(id) => {
                    let cv = g.add_call(id);
                    // The call may have ended at once (a deadline already
                    // past): its events say so.
                    g.process_events();
                    conn.shared.flush(g);
                    return Ok(Call {
                        core: Arc::new(CallCore {
                            conn: Arc::clone(&conn.shared),
                            id,
                            cv,
                        }),
                        codec: Arc::new(codec),
                        started,
                    });
                }
                Err(CallError::GoingAway) | Err(CallError::ConnectionClosed) => {
                    g.process_events();
                    last = Status::unavailable("connection closed before the call started");
                }
                Err(CallError::InvalidPath) => {
                    return Err(Status::new(
                        Code::Unimplemented,
                        format!("invalid method path {path:?}"),
                    ));
                }
                Err(e @ (CallError::MessageTooLarge { .. } | CallError::Compression(_))) => {
                    return Err(call::send_error(&e));
                }
                Err(e) => return Err(Status::resource_exhausted(e.to_string())),
            }
        }
        Err(last)
    }

    /// A unary call: one request, one response.
    pub fn unary<C: Codec>(
        &self,
        path: &str,
        codec: C,
        request: &C::Encode,
        options: CallOptions,
    ) -> Result<Response<C::Decode>, RpcError> {
        let call = self.start_whole(path, CallKind::Unary, codec, request, options)?;
        call.response()
    }

    /// A server-streaming call: one request, a blocking iterator of
    /// responses.
    pub fn server_streaming<C: Codec>(
        &self,
        path: &str,
        codec: C,
        request: &C::Encode,
        options: CallOptions,
    ) -> Result<Streaming<C>, Status> {
        let call = self.start_whole(path, CallKind::ServerStreaming, codec, request, options)?;
        Ok(call.into_stream())
    }

    /// A client-streaming call fed from an iterator; returns the single
    /// response. Use [`call`](Self::call) with
    /// [`CallKind::ClientStreaming`] to send from a handle instead.
    pub fn client_streaming<C: Codec>(
        &self,
        path: &str,
        codec: C,
        requests: impl IntoIterator<Item = C::Encode>,
        options: CallOptions,
    ) -> Result<Response<C::Decode>, RpcError> {
        let call = self.call(path, CallKind::ClientStreaming, codec, options)?;
        for r in requests {
            send_or_end(&call, &r, false)?;
        }
        call.close_send()?;
        call.response()
    }

    /// A bidirectional call: send with [`Call::send`] (or
    /// [`Call::split`] for two threads), read with [`Call::recv`].
    pub fn bidi_streaming<C: Codec>(
        &self,
        path: &str,
        codec: C,
        options: CallOptions,
    ) -> Result<Call<C>, Status> {
        self.call(path, CallKind::BidiStreaming, codec, options)
    }
}

/// Send (and with `last`, close the request side), or give the call's
/// final status (with its headers and trailers) if the server ended it
/// first.
fn send_or_end<C: Codec>(call: &Call<C>, message: &C::Encode, last: bool) -> Result<(), RpcError> {
    let sent = if last {
        call.send_last(message)
    } else {
        call.send(message)
    };
    match sent {
        Ok(()) => Ok(()),
        Err(s) => match call.core.try_end() {
            Some((end, _)) if !end.is_ok() => {
                // Ended: the headers, if any came, are there to take.
                let metadata = call.core.headers().unwrap_or_default();
                Err(call.core.failed(end, metadata))
            }
            _ => Err(RpcError::new(s)),
        },
    }
}

/// How [`Channel::start`] opens a call.
enum Opening<'a, T> {
    /// The head goes out now.
    Flush,
    /// The whole request goes out with the head.
    Whole(&'a T),
}
