//! The server under attack: either adapter's server on 127.0.0.1:0 with a
//! small raw-bytes service, `attack.Svc`:
//!
//! - `Unary`: echoes the request;
//! - `Firehose`: server streaming; the request `"n:size"` asks for `n`
//!   messages of `size` zero bytes (the work a zero-window peer stalls);
//! - `Hang`: server streaming; sends `"first"`, then `"tick"` every 20 ms
//!   for at most 10 s, until a send fails (the call is over);
//! - `Sink`: client streaming; reads no request message, waits until the
//!   call is cancelled (at most 10 s), then answers `"done"` (a handler
//!   that is slow to read);
//! - `Peer`: answers with the client's address as the handler sees it
//!   (one per connection);
//! - `Metadata`: answers with the request metadata whose keys start with
//!   `x-`, as the handler sees it (see [`describe_metadata`]).
//!
//! Every handler holds a guard on a live-handler count while it runs, so
//! tests can check that nothing outlives its connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::server::ServerConfig;

/// The service's path prefix.
pub const SERVICE: &str = "attack.Svc";

/// The path of one of the service's methods.
pub fn path(method: &str) -> String {
    format!("/{SERVICE}/{method}")
}

/// Which adapter's server is under attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// `grpc-sansio-tokio`, on its own multi-thread runtime.
    Tokio,
    /// `grpc-sansio-blocking`.
    Blocking,
}

/// Counts handlers that are running; a guard per handler.
#[derive(Debug, Clone, Default)]
pub struct LiveHandlers(Arc<AtomicUsize>);

/// Held by a running handler.
#[derive(Debug)]
pub struct LiveGuard(Arc<AtomicUsize>);

impl LiveHandlers {
    fn enter(&self) -> LiveGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        LiveGuard(self.0.clone())
    }

    /// Handlers running now.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn firehose_request(req: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(req);
    let mut parts = text.split(':').map(|p| p.parse::<usize>().unwrap_or(0));
    let n = parts.next().unwrap_or(0).min(100_000);
    let size = parts.next().unwrap_or(0).min(1 << 20);
    (n, size)
}

/// One line per metadata entry whose key starts with `x-`, sorted:
/// `key=value` for text values, `key=hex` of the decoded bytes for binary
/// ones.
pub fn describe_metadata(metadata: &MetadataMap) -> Bytes {
    let mut lines: Vec<String> = metadata
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-"))
        .map(|(k, v)| {
            let value = if v.is_binary() {
                v.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
            } else {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            };
            format!("{}={value}\n", k.as_str())
        })
        .collect();
    lines.sort();
    Bytes::from(lines.concat())
}

const HANG_LIMIT: Duration = Duration::from_secs(10);
const TICK: Duration = Duration::from_millis(20);

enum Running {
    Tokio {
        rt: Option<tokio::runtime::Runtime>,
        server: grpc_sansio_tokio::Server,
    },
    Blocking {
        server: grpc_sansio_blocking::Server,
    },
}

/// A server of one adapter, serving `attack.Svc` on 127.0.0.1.
pub struct TestServer {
    /// Which adapter.
    pub adapter: Adapter,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Handlers running now.
    pub live: LiveHandlers,
    running: Running,
}

impl TestServer {
    /// Start a server of `adapter` with `config`.
    pub fn start(adapter: Adapter, config: ServerConfig) -> TestServer {
        let live = LiveHandlers::default();
        match adapter {
            Adapter::Tokio => start_tokio(config, live),
            Adapter::Blocking => start_blocking(config, live),
        }
    }

    /// Connections the server is serving now.
    pub fn connections(&self) -> usize {
        match &self.running {
            Running::Tokio { server, .. } => server.connections(),
            Running::Blocking { server } => server.connections(),
        }
    }

    /// Wait up to `within` until at most `conns` connections are served
    /// and no handler runs. Returns whether that happened.
    pub fn settles_to(&self, conns: usize, within: Duration) -> bool {
        let until = Instant::now() + within;
        loop {
            if self.connections() <= conns && self.live.count() == 0 {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Assert that the server settles to `conns` connections and no
    /// handler within [`super::PROMPT`].
    pub fn assert_settles_to(&self, conns: usize, what: &str) {
        assert!(
            self.settles_to(conns, super::PROMPT),
            "{what}: the {:?} server did not settle: {} connections (want <= {conns}), {} live handlers",
            self.adapter,
            self.connections(),
            self.live.count()
        );
    }

    /// End the server abruptly: the tokio runtime is dropped with every
    /// task on it (sockets closed, no GOAWAY); the blocking server shuts
    /// down with no grace period.
    pub fn kill(&mut self) {
        match &mut self.running {
            Running::Tokio { rt, .. } => {
                if let Some(rt) = rt.take() {
                    rt.shutdown_background();
                }
            }
            Running::Blocking { server } => server.shutdown(Duration::ZERO),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        match &mut self.running {
            Running::Tokio { rt, .. } => {
                if let Some(rt) = rt.take() {
                    rt.shutdown_timeout(Duration::from_millis(500));
                }
            }
            Running::Blocking { server } => server.shutdown(Duration::from_millis(100)),
        }
    }
}

fn start_tokio(config: ServerConfig, live: LiveHandlers) -> TestServer {
    use grpc_sansio_tokio::{BytesCodec, Response, Routes, Server};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    let mut routes = Routes::new();
    let l = live.clone();
    routes.unary(SERVICE, "Unary", BytesCodec, move |req| {
        let guard = l.enter();
        async move {
            let _guard = guard;
            Ok(Response::new(req.into_inner()))
        }
    });
    let l = live.clone();
    routes.server_streaming(SERVICE, "Firehose", BytesCodec, move |req, mut sink| {
        let guard = l.enter();
        async move {
            let _guard = guard;
            let (n, size) = firehose_request(req.get_ref());
            let chunk = Bytes::from(vec![0u8; size]);
            for _ in 0..n {
                sink.send(chunk.clone()).await?;
            }
            Ok(())
        }
    });
    let l = live.clone();
    routes.server_streaming(SERVICE, "Hang", BytesCodec, move |_req, mut sink| {
        let guard = l.enter();
        async move {
            let _guard = guard;
            let until = Instant::now() + HANG_LIMIT;
            sink.send(Bytes::from_static(b"first")).await?;
            while Instant::now() < until {
                tokio::time::sleep(TICK).await;
                sink.send(Bytes::from_static(b"tick")).await?;
            }
            Ok(())
        }
    });
    let l = live.clone();
    routes.client_streaming(SERVICE, "Sink", BytesCodec, move |req| {
        let guard = l.enter();
        async move {
            let _guard = guard;
            let _ = tokio::time::timeout(HANG_LIMIT, req.context().cancelled()).await;
            Ok(Response::new(Bytes::from_static(b"done")))
        }
    });
    routes.unary(SERVICE, "Peer", BytesCodec, |req| async move {
        let peer = req.peer_addr().map(|a| a.to_string()).unwrap_or_default();
        Ok(Response::new(Bytes::from(peer)))
    });
    routes.unary(SERVICE, "Metadata", BytesCodec, |req| async move {
        Ok(Response::new(describe_metadata(req.metadata())))
    });
    let server = Server::builder().server_config(config).build(routes);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("local address");
    let s = server.clone();
    rt.spawn(async move { s.serve(listener).await });
    TestServer {
        adapter: Adapter::Tokio,
        addr,
        live,
        running: Running::Tokio {
            rt: Some(rt),
            server,
        },
    }
}

fn start_blocking(config: ServerConfig, live: LiveHandlers) -> TestServer {
    use grpc_sansio_blocking::{BytesCodec, Handler, Router, RouterExt, Server};
    let mut router: Router<Handler> = Router::new();
    let l = live.clone();
    router.unary(SERVICE, "Unary", BytesCodec, move |_call, req: Bytes| {
        let _guard = l.enter();
        Ok(req)
    });
    let l = live.clone();
    router.server_streaming(
        SERVICE,
        "Firehose",
        BytesCodec,
        move |_call, req: Bytes, out| {
            let _guard = l.enter();
            let (n, size) = firehose_request(&req);
            let chunk = Bytes::from(vec![0u8; size]);
            for _ in 0..n {
                out.send(&chunk)?;
            }
            Ok(())
        },
    );
    let l = live.clone();
    router.server_streaming(
        SERVICE,
        "Hang",
        BytesCodec,
        move |_call, _req: Bytes, out| {
            let _guard = l.enter();
            let until = Instant::now() + HANG_LIMIT;
            out.send(&Bytes::from_static(b"first"))?;
            while Instant::now() < until {
                std::thread::sleep(TICK);
                out.send(&Bytes::from_static(b"tick"))?;
            }
            Ok(())
        },
    );
    let l = live.clone();
    router.client_streaming(SERVICE, "Sink", BytesCodec, move |call, _reqs| {
        let _guard = l.enter();
        call.wait_cancelled(HANG_LIMIT);
        Ok(Bytes::from_static(b"done"))
    });
    router.unary(SERVICE, "Peer", BytesCodec, |call, _req: Bytes| {
        Ok(Bytes::from(call.peer_addr().to_string()))
    });
    router.unary(SERVICE, "Metadata", BytesCodec, |call, _req: Bytes| {
        Ok(describe_metadata(call.metadata()))
    });
    let server = Server::builder().core_config(|c| *c = config).build(router);
    let addr = server.bind("127.0.0.1:0").expect("bind");
    TestServer {
        adapter: Adapter::Blocking,
        addr,
        live,
        running: Running::Blocking { server },
    }
}
