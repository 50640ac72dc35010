//! The server side: [`Server`] serves [`Routes`] over any listener or
//! transport, with graceful shutdown.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use grpc_sansio_tokio::{BytesCodec, Response, Routes, Server};
//!
//! let mut routes = Routes::new();
//! routes.unary("echo.Echo", "Say", BytesCodec, |req| async move {
//!     Ok(Response::new(req.into_inner()))
//! });
//! let server = Server::builder().build(routes);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
//! server.serve_with_shutdown(listener, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

mod call;
mod context;
mod driver;
mod routes;

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use grpc_sansio::grpc::Status;
use grpc_sansio::h2::PingPolicy;
use grpc_sansio::server::ServerConfig;
use tokio::sync::watch;

pub use call::{RequestStream, ResponseSink};
pub use context::{Request, RequestContext};
pub use routes::Routes;

use crate::sync::{Control, lock};
use crate::transport::{BoxIo, Io};

/// A server interceptor: runs before the handler of every call; may read
/// and change the request metadata, or refuse the call with a status.
/// It runs in the connection's task, so it should not wait; one that
/// panics ends its call with UNKNOWN.
pub trait ServerInterceptor: Send + Sync + 'static {
    /// Inspect the call; an `Err` is sent to the client as the call's
    /// status and the handler does not run.
    fn intercept(&self, request: &mut RequestContext) -> Result<(), Status>;
}

impl<F> ServerInterceptor for F
where
    F: Fn(&mut RequestContext) -> Result<(), Status> + Send + Sync + 'static,
{
    fn intercept(&self, request: &mut RequestContext) -> Result<(), Status> {
        self(request)
    }
}

/// What a server knows of the client at the other end of a connection:
/// given to every call's [`RequestContext`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Peer {
    /// The client's address (TCP only).
    pub addr: Option<SocketAddr>,
    /// The certificate chain the client presented in the TLS handshake,
    /// leaf first, each certificate as DER (mutual TLS; `None` without
    /// TLS or when the client presented none).
    pub certs: Option<Arc<[Bytes]>>,
}

impl Peer {
    /// A peer known by its address only.
    pub fn from_addr(addr: Option<SocketAddr>) -> Self {
        Peer { addr, certs: None }
    }
}

/// Something a server accepts connections from.
pub trait Listener: Send {
    /// The next connection and the peer's address if it has one.
    fn accept(&mut self) -> impl Future<Output = io::Result<(BoxIo, Option<SocketAddr>)>> + Send;

    /// The next connection and what is known of its peer: the address,
    /// and the client's certificates where the listener runs TLS. The
    /// server accepts through this; the default gives the address only,
    /// so a listener that wraps a `TlsListener` (feature `tls`)
    /// must forward this method too, or its handlers see no certificates.
    fn accept_peer(&mut self) -> impl Future<Output = io::Result<(BoxIo, Peer)>> + Send {
        let next = self.accept();
        async move {
            let (io, addr) = next.await?;
            Ok((io, Peer::from_addr(addr)))
        }
    }
}

impl Listener for tokio::net::TcpListener {
    async fn accept(&mut self) -> io::Result<(BoxIo, Option<SocketAddr>)> {
        let (s, addr) = tokio::net::TcpListener::accept(self).await?;
        let _ = s.set_nodelay(true);
        Ok((Box::new(s), Some(addr)))
    }
}

#[cfg(unix)]
impl Listener for tokio::net::UnixListener {
    async fn accept(&mut self) -> io::Result<(BoxIo, Option<SocketAddr>)> {
        let (s, _) = tokio::net::UnixListener::accept(self).await?;
        Ok((Box::new(s), None))
    }
}

pub(crate) struct Inner {
    pub(crate) config: ServerConfig,
    pub(crate) routes: Routes,
    pub(crate) interceptors: Vec<Arc<dyn ServerInterceptor>>,
    pub(crate) response_compression: Option<String>,
    grace: Duration,
    conns: Mutex<HashMap<u64, Arc<Control>>>,
    next_conn: AtomicU64,
    live: watch::Sender<usize>,
    /// Set once by [`Server::shutdown`]: accept loops stop, and a
    /// connection handed in afterwards is shut down as it starts.
    stopping: watch::Sender<bool>,
}

/// Builds a [`Server`].
pub struct ServerBuilder {
    config: ServerConfig,
    interceptors: Vec<Arc<dyn ServerInterceptor>>,
    response_compression: Option<String>,
    grace: Duration,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder").finish_non_exhaustive()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            config: ServerConfig::default(),
            interceptors: Vec::new(),
            response_compression: None,
            grace: Duration::from_secs(10),
        }
    }
}

impl ServerBuilder {
    /// Calls one client may have open at once
    /// (SETTINGS_MAX_CONCURRENT_STREAMS). Default 1024.
    pub fn max_concurrent_streams(mut self, n: u32) -> Self {
        self.config.h2.max_concurrent_streams = n;
        self
    }

    /// Shut a connection down gracefully (GOAWAY) once it has had no
    /// call in progress for `idle` (gRPC's `MAX_CONNECTION_IDLE`).
    /// Default: idle connections stay.
    pub fn max_connection_idle(mut self, idle: Duration) -> Self {
        self.config.max_connection_idle = Some(idle);
        self
    }

    /// Shut a connection down gracefully once it is `age` old, so that
    /// clients reconnect and rebalance (gRPC's `MAX_CONNECTION_AGE`);
    /// calls in progress then have `grace` to finish before the
    /// connection closes under them (`None`: as long as they take).
    /// Default: no age limit.
    pub fn max_connection_age(mut self, age: Duration, grace: Option<Duration>) -> Self {
        self.config.max_connection_age = Some(age);
        self.config.max_connection_age_grace = grace;
        self
    }

    /// The largest request message accepted. Default 4 MiB.
    pub fn max_receive_message_size(mut self, bytes: usize) -> Self {
        self.config.max_receive_message_size = bytes;
        self
    }

    /// The most memory one connection holds for request messages beyond
    /// what the flow-control windows count (messages still arriving, and
    /// the early-credited part of an unread message); the call that
    /// would go past it ends with RESOURCE_EXHAUSTED. Default 64 MiB (see
    /// [`ServerConfig::max_receive_memory`]).
    pub fn max_receive_memory(mut self, bytes: usize) -> Self {
        self.config.max_receive_memory = bytes;
        self
    }

    /// The most bytes of response messages one connection queues over all
    /// its calls before handlers wait for the client to read. Default
    /// 16 MiB (see the HTTP/2 layer's `max_connection_send_buffer`).
    pub fn max_connection_send_buffer(mut self, bytes: usize) -> Self {
        self.config.h2.max_connection_send_buffer = bytes;
        self
    }

    /// The largest response message a handler may send.
    pub fn max_send_message_size(mut self, bytes: usize) -> Self {
        self.config.max_send_message_size = bytes;
        self
    }

    /// HTTP/2 receive window of each call.
    pub fn initial_stream_window(mut self, bytes: u32) -> Self {
        self.config.h2.initial_stream_window = bytes;
        self
    }

    /// HTTP/2 receive window of each connection.
    pub fn initial_connection_window(mut self, bytes: u32) -> Self {
        self.config.h2.connection_window = bytes;
        self
    }

    /// The largest request header list accepted.
    pub fn max_header_list_size(mut self, bytes: u32) -> Self {
        self.config.h2.max_header_list_size = bytes;
        self
    }

    /// Send keepalive PINGs after `interval` without traffic, and end
    /// connections whose PING is not answered in `timeout`. Connections
    /// without a call in progress are pinged too (as grpc-go's and
    /// hyper's servers do), so that a client that vanished while idle is
    /// found out. To ping only while calls are in progress, give
    /// [`server_config`](Self::server_config) a configuration whose
    /// `h2.keepalive_while_idle` is false.
    pub fn keepalive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.config.h2.keepalive_interval = Some(interval);
        self.config.h2.keepalive_timeout = timeout;
        self.config.h2.keepalive_while_idle = true;
        self
    }

    /// Keepalive enforcement: client PINGs closer than `min_interval`
    /// (or, while no call is open and not `permit_without_calls`, closer
    /// than two hours) are strikes; too many end the connection with
    /// GOAWAY `too_many_pings`. Our responses forgive the next PING.
    /// Default 5 minutes, not permitted without calls.
    pub fn keepalive_enforcement(
        mut self,
        min_interval: Duration,
        permit_without_calls: bool,
    ) -> Self {
        let mut p = self.config.h2.ping_policy.unwrap_or_default();
        p.min_interval = min_interval;
        p.permit_without_streams = permit_without_calls;
        self.config.h2.ping_policy = Some(PingPolicy { ..p });
        self
    }

    /// Offer `compressor` besides gzip (and identity) for requests and
    /// responses, for example
    /// [`Deflate`](grpc_sansio::grpc::compression::Deflate); one of the
    /// same name is replaced.
    pub fn compressor(
        mut self,
        compressor: Arc<dyn grpc_sansio::grpc::compression::Compressor>,
    ) -> Self {
        self.config.compression.register(compressor);
        self
    }

    /// Compress responses with `name` (for example `"gzip"`) when the
    /// client accepts it.
    pub fn response_compression(mut self, name: &str) -> Self {
        self.response_compression = Some(name.to_string());
        self
    }

    /// How long a graceful shutdown lets calls in progress run before it
    /// cancels them. Default 10 s.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Run `interceptor` before every handler (in the order added).
    pub fn interceptor(mut self, interceptor: impl ServerInterceptor) -> Self {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    /// Replace the whole core configuration. The builder's other setters
    /// change this value.
    pub fn server_config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// The server, serving `routes`.
    pub fn build(self, routes: Routes) -> Server {
        let (live, _) = watch::channel(0);
        let (stopping, _) = watch::channel(false);
        Server {
            inner: Arc::new(Inner {
                config: self.config,
                routes,
                interceptors: self.interceptors,
                response_compression: self.response_compression,
                grace: self.grace,
                conns: Mutex::new(HashMap::new()),
                next_conn: AtomicU64::new(0),
                live,
                stopping,
            }),
        }
    }
}

/// A gRPC server: routes, settings, and the connections it is serving.
/// Cheap to clone; clones serve the same routes and share shutdown.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("connections", &self.connections())
            .finish()
    }
}

/// Unregisters a connection when its task ends, however it ends.
struct Registered {
    inner: Arc<Inner>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        lock(&self.inner.conns).remove(&self.id);
        self.inner.live.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Server {
    /// A builder with default settings.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Connections being served now.
    pub fn connections(&self) -> usize {
        *self.inner.live.borrow()
    }

    /// Serve one already-accepted connection (any transport) on a new
    /// task.
    pub fn serve_connection<T: Io>(
        &self,
        io: T,
        peer: Option<SocketAddr>,
    ) -> tokio::task::JoinHandle<()> {
        self.serve_connection_from(io, Peer::from_addr(peer))
    }

    /// [`serve_connection`](Self::serve_connection) with what is known of
    /// the peer (its certificates, say, for a transport that ran TLS).
    pub fn serve_connection_from<T: Io>(&self, io: T, peer: Peer) -> tokio::task::JoinHandle<()> {
        let (control, bell) = Control::new();
        let control = Arc::new(control);
        let id = self.inner.next_conn.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.conns).insert(id, control.clone());
        self.inner.live.send_modify(|n| *n += 1);
        if *self.inner.stopping.borrow() {
            // After shutdown began: GOAWAY at once, no calls taken. (Seen
            // after the insert, so that shutdown finds it or it finds
            // shutdown.)
            control.shutdown();
            // `shutdown` may have returned already (it waited for the
            // connections it knew of): nobody else cuts this one off
            // after the grace period. A call its client sent before the
            // GOAWAY reached it would otherwise run on for ever.
            let control = control.clone();
            let grace = self.inner.grace;
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                control.abort();
            });
        }
        let reg = Registered {
            inner: self.inner.clone(),
            id,
        };
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let _reg = reg;
            driver::Driver::run(inner, io, peer, control, bell).await;
        })
    }

    /// Accept and serve connections until accepting fails or
    /// [`shutdown`](Self::shutdown) is called (on any clone).
    pub async fn serve<L: Listener>(&self, listener: L) -> io::Result<()> {
        self.serve_with_shutdown(listener, std::future::pending())
            .await
    }

    /// Accept and serve connections until `signal` completes or
    /// [`shutdown`](Self::shutdown) is called (on any clone), then shut
    /// down gracefully: the listener is closed first, so nothing new
    /// connects.
    pub async fn serve_with_shutdown<L: Listener, F: Future<Output = ()> + Send>(
        &self,
        mut listener: L,
        signal: F,
    ) -> io::Result<()> {
        tokio::pin!(signal);
        let mut stopping = self.inner.stopping.subscribe();
        loop {
            tokio::select! {
                _ = &mut signal => break,
                _ = async { let _ = stopping.wait_for(|s| *s).await; } => break,
                r = listener.accept_peer() => match r {
                    Ok((io, peer)) => {
                        self.serve_connection_from(io, peer);
                    }
                    Err(e) if is_transient(&e) => {
                        // Out of descriptors and the like: wait, go on.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => return Err(e),
                },
            }
        }
        drop(listener);
        self.shutdown().await;
        Ok(())
    }

    /// Graceful shutdown of the server: every `serve` loop stops
    /// accepting and closes its listener, and every connection gets
    /// GOAWAY in two phases; calls in progress run for up to the grace
    /// period, then the rest are cancelled and the connections closed.
    /// Returns when every connection has ended. The server takes no more
    /// connections after this (one handed to
    /// [`serve_connection`](Self::serve_connection) is shut down as it
    /// starts).
    pub async fn shutdown(&self) {
        self.inner.stopping.send_replace(true);
        let controls: Vec<Arc<Control>> = lock(&self.inner.conns).values().cloned().collect();
        for c in &controls {
            c.shutdown();
        }
        let mut live = self.inner.live.subscribe();
        let all_done = async {
            let _ = live.wait_for(|n| *n == 0).await;
        };
        if tokio::time::timeout(self.inner.grace, all_done)
            .await
            .is_err()
        {
            let controls: Vec<Arc<Control>> = lock(&self.inner.conns).values().cloned().collect();
            for c in &controls {
                c.abort();
            }
            let mut live = self.inner.live.subscribe();
            let _ = tokio::time::timeout(Duration::from_secs(5), live.wait_for(|n| *n == 0)).await;
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || e.raw_os_error().is_some_and(|c| c == 24 || c == 23)
}
