//! The server: [`Server`] accepts connections, routes calls by path to
//! blocking [`Handler`]s that run on a bounded thread pool, and shuts down
//! gracefully.

mod conn;
mod handler;
mod pool;

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use grpc_sansio::grpc::Status;
use grpc_sansio::h2::PingPolicy;
use grpc_sansio::router::Router;
use grpc_sansio::server::{RequestHead, ServerConfig, ServerConnection};

pub use handler::{Handler, Requests, ResponseSink, RouterExt, ServerCall};

use conn::ServerMachine;
use pool::Pool;

use crate::io::{Machine, Park, Shared, start_parkable};
use crate::transport::{PeerCerts, Transport, TransportParts};

/// A server interceptor: runs on the handler thread before the handler;
/// may read and change the request head (its metadata), or end the call
/// with a status (for example UNAUTHENTICATED).
pub type ServerInterceptor =
    Arc<dyn Fn(&mut RequestHead) -> Result<(), Status> + Send + Sync + 'static>;

/// What every connection of a server shares.
pub(crate) struct Context {
    pub(crate) router: Router<Handler>,
    pub(crate) pool: Arc<Pool>,
    pub(crate) send_compression: Option<String>,
    pub(crate) interceptors: Arc<[ServerInterceptor]>,
}

/// Builds a [`Server`].
pub struct ServerBuilder {
    config: ServerConfig,
    max_handlers: usize,
    queue: usize,
    queue_timeout: Duration,
    max_connections: usize,
    send_compression: Option<String>,
    interceptors: Vec<ServerInterceptor>,
    park_idle_after: Option<Duration>,
}

/// How long a plain TCP connection is quiet before its reader thread
/// parks it (see [`ServerBuilder::park_idle_after`]).
const PARK_IDLE_AFTER: Duration = Duration::from_secs(2);

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("max_handlers", &self.max_handlers)
            .field("queue", &self.queue)
            .field("queue_timeout", &self.queue_timeout)
            .field("max_connections", &self.max_connections)
            .field("park_idle_after", &self.park_idle_after)
            .finish_non_exhaustive()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            config: ServerConfig::default(),
            max_handlers: 64,
            queue: 8192,
            queue_timeout: Duration::from_secs(5),
            max_connections: 1024,
            send_compression: None,
            interceptors: Vec::new(),
            park_idle_after: Some(PARK_IDLE_AFTER),
        }
    }
}

impl ServerBuilder {
    /// Handler threads running at once, over all connections. Default 64.
    pub fn max_handlers(mut self, n: usize) -> Self {
        self.max_handlers = n.max(1);
        self
    }

    /// When every handler thread is busy, up to `calls` new calls wait at
    /// most `timeout` for one; others are answered RESOURCE_EXHAUSTED at
    /// once. `calls == 0` refuses at once; a `timeout` of `Duration::MAX`
    /// lets calls wait as long as it takes. Default 8,192 calls (the
    /// streams eight connections may have open at once), 5 s. A queued
    /// call holds its request head and message.
    pub fn handler_queue(mut self, calls: usize, timeout: Duration) -> Self {
        self.queue = calls;
        self.queue_timeout = timeout;
        self
    }

    /// Open connections at most; more are closed on accept. Default 1024.
    /// Each connection has a reader thread, and a writer thread while it
    /// has output or timers.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// A plain TCP connection (from [`Server::bind`] or
    /// [`Server::serve_listener`]) with no call in progress, nothing to
    /// write, no writer thread (it ends about a second after the last
    /// output) and no timer set, that then reads nothing for this long,
    /// gives up its reader thread: one server thread watches all such
    /// connections with `poll(2)`, and a new reader thread takes over when
    /// the client sends again (the first read then waits for that thread
    /// to start). An idle connection then costs its state and its socket,
    /// not a thread. Default 2 s (at least 10 ms); `None` keeps a reader
    /// thread per connection.
    ///
    /// Unix only. Not parked: TLS connections, transports given to
    /// [`Server::serve_transport`], and every connection of a server with
    /// a timer always set ([`max_connection_idle`](Self::max_connection_idle),
    /// [`max_connection_age`](Self::max_connection_age), keepalive pings
    /// while idle). A reader wakes once per period while its connection
    /// is quiet but busy (a long call), to look again. `poll(2)` costs
    /// time in proportion to the parked connections each time one parks
    /// or wakes.
    pub fn park_idle_after(mut self, idle: Option<Duration>) -> Self {
        self.park_idle_after = idle.map(|d| d.max(Duration::from_millis(10)));
        self
    }

    /// Concurrent calls per connection (SETTINGS_MAX_CONCURRENT_STREAMS).
    /// Default 1024.
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

    /// The largest response message sent. Default `i32::MAX`.
    pub fn max_send_message_size(mut self, bytes: usize) -> Self {
        self.config.max_send_message_size = bytes;
        self
    }

    /// Per-call receive window. Default 4 MiB.
    pub fn initial_stream_window(mut self, bytes: u32) -> Self {
        self.config.h2.initial_stream_window = bytes;
        self
    }

    /// Per-connection receive window. Default 16 MiB (four streams' worth).
    pub fn initial_connection_window(mut self, bytes: u32) -> Self {
        self.config.h2.connection_window = bytes;
        self
    }

    /// Send keepalive PINGs after `interval` without traffic; close the
    /// connection if one is not answered within `timeout`. Connections
    /// without a call in progress are pinged too (as grpc-go's servers
    /// do), so that a client that vanished while idle is found out; such
    /// connections then always have a timer set and are not parked (see
    /// [`park_idle_after`](Self::park_idle_after)). To ping only while
    /// calls are in progress, set the core's
    /// `h2.keepalive_while_idle` to false through
    /// [`core_config`](Self::core_config) after this.
    pub fn keepalive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.config.h2.keepalive_interval = Some(interval);
        self.config.h2.keepalive_timeout = timeout;
        self.config.h2.keepalive_while_idle = true;
        self
    }

    /// Keepalive enforcement: clients may ping at most every
    /// `min_interval`, and while no call is open at most every two hours
    /// unless `permit_without_calls`; repeat offenders get GOAWAY
    /// `ENHANCE_YOUR_CALM` "too_many_pings". Our responses forgive the
    /// next PING. Default 5 minutes, not permitted without calls.
    pub fn keepalive_policy(mut self, min_interval: Duration, permit_without_calls: bool) -> Self {
        let mut p: PingPolicy = self.config.h2.ping_policy.unwrap_or_default();
        p.min_interval = min_interval;
        p.permit_without_streams = permit_without_calls;
        self.config.h2.ping_policy = Some(p);
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

    /// Compress responses with `name` (`"gzip"`) when the client accepts
    /// it. Handlers can choose per call with
    /// [`ServerCall::set_compression`].
    pub fn send_compression(mut self, name: &str) -> Self {
        self.send_compression = Some(name.to_string());
        self
    }

    /// Run `f` before every handler (in the order added).
    pub fn interceptor(
        mut self,
        f: impl Fn(&mut RequestHead) -> Result<(), Status> + Send + Sync + 'static,
    ) -> Self {
        self.interceptors.push(Arc::new(f));
        self
    }

    /// The core's server settings, for what has no method here.
    pub fn core_config(mut self, f: impl FnOnce(&mut ServerConfig)) -> Self {
        f(&mut self.config);
        self
    }

    /// A server for `router`; nothing is bound yet.
    pub fn build(self, router: Router<Handler>) -> Server {
        let pool = Pool::new(self.max_handlers, self.queue, self.queue_timeout);
        let ctx = Arc::new(Context {
            router,
            pool,
            send_compression: self.send_compression,
            interceptors: self.interceptors.into(),
        });
        #[cfg(unix)]
        let park = self.park_idle_after.and_then(|idle| {
            let parker = crate::park::Parker::new().ok()?;
            Some((parker, idle))
        });
        Server {
            inner: Arc::new(Inner {
                ctx,
                config: self.config,
                max_connections: self.max_connections,
                #[cfg(unix)]
                park,
                conns: Mutex::new(Vec::new()),
                listeners: Mutex::new(Vec::new()),
                stopping: AtomicBool::new(false),
                done: Mutex::new(false),
                done_cv: Condvar::new(),
            }),
        }
    }
}

/// An accepted connection, ready to serve.
enum Accepted {
    /// Plain TCP, which the server may park while idle.
    Tcp(TcpStream),
    /// Any other transport (TLS), with the client's certificates.
    #[cfg(feature = "tls")]
    Other(Box<dyn Transport>, Option<PeerCerts>),
}

struct Listener {
    wake: Box<dyn Fn() + Send + Sync>,
    thread: Option<JoinHandle<()>>,
}

struct Inner {
    ctx: Arc<Context>,
    config: ServerConfig,
    max_connections: usize,
    /// Where idle plain TCP connections are parked, and after how long.
    #[cfg(unix)]
    park: Option<(crate::park::Parker, Duration)>,
    conns: Mutex<Vec<Weak<Shared<ServerMachine>>>>,
    listeners: Mutex<Vec<Listener>>,
    stopping: AtomicBool,
    done: Mutex<bool>,
    done_cv: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    fn serve(&self, transport: Box<dyn Transport>, certs: Option<PeerCerts>) -> io::Result<()> {
        // A transport that ran TLS itself may know its peer already.
        let certs = certs.or_else(|| {
            let known = transport.peer_certs()?;
            let cell = PeerCerts::default();
            let _ = cell.set(known);
            Some(cell)
        });
        self.serve_with(certs, None, || transport.into_parts())
    }

    /// Serve a plain TCP connection, parked while idle where the server
    /// parks them.
    fn serve_tcp(&self, stream: TcpStream) -> io::Result<()> {
        #[cfg(unix)]
        if let Some((parker, idle)) = self.park.as_ref().filter(|_| self.may_park()) {
            let (parts, socket) = crate::transport::tcp_parts_parkable(stream, *idle)?;
            let park = crate::io::Park {
                parker: parker.clone(),
                socket,
            };
            return self.serve_with(None, Some(park), || Ok(parts));
        }
        self.serve(Box::new(stream), None)
    }

    fn serve_with(
        &self,
        certs: Option<PeerCerts>,
        park: Option<Park>,
        parts: impl FnOnce() -> io::Result<TransportParts>,
    ) -> io::Result<()> {
        let mut conns = lock(&self.conns);
        // Checked under the connections' lock, which `shutdown` takes to
        // find the connections after it has set `stopping`: it either
        // finds this one or is seen here.
        if self.stopping.load(Ordering::Acquire) {
            return Err(io::Error::other("server is shutting down"));
        }
        conns.retain(|w| w.upgrade().is_some_and(|c| c.is_running()));
        if conns.len() >= self.max_connections {
            return Err(io::Error::other("too many connections"));
        }
        let parts = parts()?;
        let machine = ServerMachine::new(
            ServerConnection::new(self.config.clone(), Instant::now()),
            Arc::clone(&self.ctx),
            parts.peer,
            certs,
        );
        let shared = Shared::new(machine, parts.writer, parts.closer, "grpc-server");
        shared.lock().set_self(Arc::downgrade(&shared));
        start_parkable(&shared, parts.reader, park)?;
        conns.push(Arc::downgrade(&shared));
        Ok(())
    }

    /// No timer is set on every connection for its whole life, so an
    /// idle one can be parked.
    fn may_park(&self) -> bool {
        let h2 = &self.config.h2;
        self.config.max_connection_idle.is_none()
            && self.config.max_connection_age.is_none()
            && !(h2.keepalive_while_idle && h2.keepalive_interval.is_some())
    }

    /// Connections whose threads still run.
    fn live(&self) -> Vec<Arc<Shared<ServerMachine>>> {
        lock(&self.conns)
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|c| c.is_running())
            .collect()
    }
}

/// A gRPC server: a router of blocking handlers, a bounded handler pool,
/// and the connections it accepts. Cheap to clone; every clone is the
/// same server.
///
/// ```no_run
/// use bytes::Bytes;
/// use grpc_sansio::codec::BytesCodec;
/// use grpc_sansio::router::Router;
/// use grpc_sansio_blocking::{Handler, RouterExt, Server};
///
/// let mut router: Router<Handler> = Router::new();
/// router.unary("echo.Echo", "Say", BytesCodec, |_call, req: Bytes| Ok(req));
/// let server = Server::builder().build(router);
/// let addr = server.bind("127.0.0.1:50051")?;
/// println!("listening on {addr}");
/// server.wait();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("connections", &self.connections())
            .finish()
    }
}

impl Server {
    /// A builder with default settings.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Listen on `addr` (one accept thread) and return the bound address.
    /// Fails once [`shutdown`](Self::shutdown) has begun, as every way of
    /// adding a listener or a connection does.
    pub fn bind(&self, addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr)?;
        self.serve_listener(listener)
    }

    /// Accept connections from `listener` on a new thread.
    pub fn serve_listener(&self, listener: TcpListener) -> io::Result<SocketAddr> {
        self.accept_on(listener, |s| Ok(Accepted::Tcp(s)))
    }

    /// Listen on `addr` for TLS connections (ALPN `h2`) and return the
    /// bound address.
    #[cfg(feature = "tls")]
    pub fn bind_tls(
        &self,
        addr: impl ToSocketAddrs,
        tls: &crate::tls::ServerTlsConfig,
    ) -> io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr)?;
        self.serve_listener_tls(listener, tls)
    }

    /// Accept TLS connections from `listener` on a new thread. Each
    /// handshake runs on its connection's reader thread, bounded to 10 s,
    /// so a slow client holds up no one; a connection in its handshake
    /// counts against [`ServerBuilder::max_connections`].
    #[cfg(feature = "tls")]
    pub fn serve_listener_tls(
        &self,
        listener: TcpListener,
        tls: &crate::tls::ServerTlsConfig,
    ) -> io::Result<SocketAddr> {
        let config = tls.server_config()?;
        self.accept_on(listener, move |s| {
            let tls = crate::tls::accept(s, &config)?;
            let certs = tls.peer_certs();
            Ok(Accepted::Other(Box::new(tls), Some(certs)))
        })
    }

    fn accept_on(
        &self,
        listener: TcpListener,
        wrap: impl Fn(TcpStream) -> io::Result<Accepted> + Send + 'static,
    ) -> io::Result<SocketAddr> {
        let local = listener.local_addr()?;
        // Checked under the listeners' lock: a `shutdown` that has begun
        // takes the lock after it set `stopping`, so it either refuses
        // this listener here or finds it in the list and stops it.
        let mut listeners = self.listeners_open()?;
        let inner = Arc::clone(&self.inner);
        let thread = thread::Builder::new()
            .name("grpc-accept".to_string())
            .spawn(move || {
                for stream in listener.incoming() {
                    if inner.stopping.load(Ordering::Acquire) {
                        break;
                    }
                    match stream {
                        // A refused connection is closed by the drop.
                        Ok(s) => {
                            let _ = wrap(s).and_then(|a| match a {
                                Accepted::Tcp(s) => inner.serve_tcp(s),
                                #[cfg(feature = "tls")]
                                Accepted::Other(t, certs) => inner.serve(t, certs),
                            });
                        }
                        // Out of descriptors and the like: wait a little.
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            })?;
        let mut wake_addr = local;
        if wake_addr.ip().is_unspecified() {
            wake_addr.set_ip(match wake_addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        listeners.push(Listener {
            wake: Box::new(move || {
                let _ = TcpStream::connect_timeout(&wake_addr, Duration::from_secs(1));
            }),
            thread: Some(thread),
        });
        Ok(local)
    }

    /// The listeners, locked, if the server takes new ones (it has not
    /// begun to shut down).
    fn listeners_open(&self) -> io::Result<MutexGuard<'_, Vec<Listener>>> {
        let listeners = lock(&self.inner.listeners);
        if self.inner.stopping.load(Ordering::Acquire) {
            return Err(io::Error::other("server is shutting down"));
        }
        Ok(listeners)
    }

    /// Listen on a Unix socket at `path` (removed first if it exists).
    ///
    /// The accept thread waits in `poll(2)` on the socket and on a pair of
    /// its own, which [`shutdown`](Self::shutdown) writes to: whatever
    /// becomes of `path` meanwhile (removed, or bound by another server),
    /// the thread is stopped, and no stray connection is made to `path`.
    #[cfg(unix)]
    pub fn bind_unix(&self, path: impl AsRef<std::path::Path>) -> io::Result<()> {
        use std::io::Write as _;
        use std::os::unix::net::{UnixListener, UnixStream};
        let path = path.as_ref().to_path_buf();
        // Before the path is touched: a server that is shutting down
        // leaves alone a socket another server may be listening on.
        drop(self.listeners_open()?);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        let mut listeners = self.listeners_open()?;
        let inner = Arc::clone(&self.inner);
        let thread = thread::Builder::new()
            .name("grpc-accept-unix".to_string())
            .spawn(move || accept_unix(&inner, &listener, &wake_rx))?;
        listeners.push(Listener {
            wake: Box::new(move || {
                let _ = (&wake_tx).write(&[1]);
            }),
            thread: Some(thread),
        });
        Ok(())
    }

    /// Serve one connection over `transport` (already connected).
    pub fn serve_transport(&self, transport: Box<dyn Transport>) -> io::Result<()> {
        self.inner.serve(transport, None)
    }

    /// A channel to this server over in-memory transports (no network):
    /// each connection the channel makes is a fresh pair, served here.
    #[cfg(unix)]
    pub fn in_memory_channel(&self) -> crate::ChannelBuilder {
        let server = self.clone();
        crate::Channel::builder_with_connector("in-memory", move |_timeout| {
            let (client, server_side) = crate::transport::in_memory_pair()?;
            server.serve_transport(server_side)?;
            Ok(client)
        })
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.inner.live().len()
    }

    /// Idle connections parked now: open, but without a reader thread
    /// (see [`ServerBuilder::park_idle_after`]). They count in
    /// [`connections`](Self::connections) too.
    pub fn parked_connections(&self) -> usize {
        #[cfg(unix)]
        if let Some((parker, _)) = &self.inner.park {
            return parker.parked();
        }
        0
    }

    /// Handlers running or queued now.
    pub fn busy_handlers(&self) -> usize {
        self.inner.ctx.pool.busy()
    }

    /// Graceful shutdown: stop accepting, tell every client (two-phase
    /// GOAWAY), let calls in progress finish for up to `grace`, then close
    /// what is left (its handlers see their calls cancelled). Blocks until
    /// done; a second call waits for the first. A `grace` of
    /// `Duration::MAX` waits for the calls however long they take.
    pub fn shutdown(&self, grace: Duration) {
        let inner = &self.inner;
        if inner.stopping.swap(true, Ordering::AcqRel) {
            self.wait();
            return;
        }
        let listeners: Vec<Listener> = lock(&inner.listeners).drain(..).collect();
        for mut l in listeners {
            (l.wake)();
            if let Some(t) = l.thread.take() {
                let _ = t.join();
            }
        }
        // A grace too large to add to the current instant
        // (`Duration::MAX`) lets the calls take as long as they need.
        let until = Instant::now().checked_add(grace);
        let conns = inner.live();
        for c in &conns {
            let mut g = c.lock();
            g.conn.shutdown(Instant::now());
            g.process_events();
            drop(g);
            c.wake_writer();
        }
        loop {
            let open = conns.iter().filter(|c| !c.lock().is_closed()).count();
            if open == 0 || until.is_some_and(|u| Instant::now() >= u) {
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
        for c in &conns {
            if !c.lock().is_closed() {
                c.close_transport();
            }
        }
        // The threads write what is left (the last GOAWAY) and close the
        // transport; once they are gone, so is every connection. A writer
        // whose peer stopped reading gives up within a write slice.
        let until = Instant::now() + crate::transport::WRITE_SLICE * 2;
        while conns.iter().any(|c| c.is_running()) && Instant::now() < until {
            thread::sleep(Duration::from_millis(1));
        }
        inner.ctx.pool.shutdown();
        *lock(&inner.done) = true;
        inner.done_cv.notify_all();
    }

    /// Block until [`shutdown`](Self::shutdown) has finished.
    pub fn wait(&self) {
        let mut done = lock(&self.inner.done);
        while !*done {
            done = self
                .inner
                .done_cv
                .wait(done)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// The accept loop of a Unix-socket listener (non-blocking): wait until
/// a client connects or `wake` is written to (shutdown), accept, serve.
#[cfg(unix)]
fn accept_unix(
    inner: &Inner,
    listener: &std::os::unix::net::UnixListener,
    wake: &std::os::unix::net::UnixStream,
) {
    use rustix::event::{PollFd, PollFlags, poll};
    loop {
        let mut fds = [
            PollFd::new(listener, PollFlags::IN),
            PollFd::new(wake, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
        let woken = !fds[1].revents().is_empty();
        if woken || inner.stopping.load(Ordering::Acquire) {
            return;
        }
        match listener.accept() {
            Ok((s, _)) => {
                // Where accepted sockets inherit the listener's mode.
                if s.set_nonblocking(false).is_ok() {
                    let _ = inner.serve(Box::new(s), None);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Out of descriptors and the like: wait a little.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}
