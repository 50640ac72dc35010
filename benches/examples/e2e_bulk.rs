//! Large messages and idle connections end to end over 127.0.0.1, for
//! three stacks, each stack's own client against its own server: our
//! tokio adapter (`tokio`), our blocking adapter (`blocking`) and tonic
//! 0.14 (`tonic`). Driven by `benches/bulk.sh`, which runs the server and
//! the client as separate processes pinned to different CPUs so that the
//! server's RSS and CPU time are its own.
//!
//! One binary, two subcommands:
//!
//! ```text
//! e2e_bulk serve --stack tokio|blocking|tonic --port P [--window-kib N]
//! e2e_bulk drive --stack S --addr 127.0.0.1:P --what echo|stream|idle [--pid SERVER_PID] [--window-kib N]
//! ```
//!
//! Every server serves the same two methods on raw bytes (no protobuf:
//! `BytesCodec` for ours, a pass-through codec for tonic):
//!
//! * `/bench.Bulk/Echo` (unary) answers with the request message itself.
//! * `/bench.Bulk/Stream` (server streaming) reads `[count u32 BE, size
//!   u32 BE]` and sends `count` messages of `size` bytes (byte `j` of each
//!   is `j % 251`), all clones of one buffer.
//!
//! Message size limits are raised to 16 MiB on both sides of every stack;
//! everything else is each stack's default, the HTTP/2 receive windows too
//! (ours: 4 MiB per stream and per connection on both sides; tonic through
//! hyper: 1 MiB and 1 MiB on the server, 2 MiB and 5 MiB on the client)
//! unless `--window-kib N` (given to both `serve` and `drive`) sets every
//! window of every stack to N KiB. The tokio and tonic servers (and the
//! async clients) run on a multi-thread runtime with one worker thread.
//!
//! What `drive` measures (one line of `key=value` pairs on stdout):
//!
//! * `echo`: after `--warmup` calls (4), `--calls` (64) sequential unary
//!   echoes of a `--echo-kib` (4096 = 4 MiB) payload of pseudo-random bytes,
//!   its first 8 bytes stamped with the call number. Every answer is
//!   compared with its request byte for byte, outside the timed part.
//!   `echo_mbps` is payload MB/s (10^6 bytes): calls x payload size
//!   divided by the sum of the calls' times (request sent to echo
//!   received), counting the payload once, not once per direction.
//! * `stream`: after one small warm-up stream, one server-streaming call of
//!   `--stream-mib` (1024 = 1 GiB) in `--msg-kib` (64 KiB) messages. The
//!   client takes every message, checks its length and its first and last
//!   bytes, and counts bytes and messages; both counts must be exact and
//!   the call must end OK. `stream_mbps` is MB/s from the call's start to
//!   its end.
//! * `idle`: the server's VmRSS (`/proc/PID/status`), then `--conns`
//!   (1,000) connections, each a plain `std::net::TcpStream` that completes
//!   the HTTP/2 handshake by hand (client preface and an empty SETTINGS;
//!   the server's SETTINGS read and acknowledged; the acknowledgement of
//!   ours read), the same client for all three servers. After a settle
//!   time (`--settle-ms`, 3 s: the blocking server's writer threads end
//!   about two seconds after the handshake) the server's VmRSS again, and
//!   a check that every connection is still open. `bytes_per_conn` is the RSS difference over the count.
//!
//! With `--pid`, `echo` and `stream` also report the server's CPU seconds
//! (user + system from `/proc/PID/stat`, ticks of `--clk-tck`, default 100)
//! over the timed part.
//!
//! Everything is bounded: every call has a 60 s deadline on the client
//! (and a timer around it), connections a 10 s connect timeout, socket
//! reads and writes 10 s timeouts, and each process a watchdog that ends
//! it (`drive` after 300 s, `serve` after `--lifetime` seconds, default
//! 1,800).
#[path = "../benches/tonic_peer/mod.rs"]
mod tonic_peer;

use std::convert::Infallible;
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use tonic_peer::RawCodec;

const SERVICE: &str = "bench.Bulk";
const ECHO_PATH: &str = "/bench.Bulk/Echo";
const STREAM_PATH: &str = "/bench.Bulk/Stream";
/// Message size limit on both sides, for every stack.
const MAX_MESSAGE: usize = 16 << 20;
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);
const DRIVE_WATCHDOG: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stack {
    Tokio,
    Blocking,
    Tonic,
}

impl Stack {
    fn parse(s: &str) -> Result<Stack, String> {
        match s {
            "tokio" => Ok(Stack::Tokio),
            "blocking" => Ok(Stack::Blocking),
            "tonic" => Ok(Stack::Tonic),
            other => Err(format!("unknown stack {other:?} (tokio, blocking, tonic)")),
        }
    }
}

/// The value after `--name` on the command line.
fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn num_arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match arg(args, name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("{name}: not a number: {v:?}")),
    }
}

/// Ends the process after `after`, whatever it is doing.
fn watchdog(after: Duration, what: &'static str) {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        eprintln!("e2e_bulk {what}: watchdog after {after:?}, exiting");
        std::process::exit(3);
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("serve") => serve(&args),
        Some("drive") => drive(&args),
        _ => Err("usage: e2e_bulk serve --stack S --port P | \
                  e2e_bulk drive --stack S --addr A --what echo|stream|idle [--pid P]"
            .to_string()),
    };
    if let Err(e) = r {
        eprintln!("e2e_bulk: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------
// What the servers send

/// Byte `j` of every streamed message.
fn pattern_byte(j: usize) -> u8 {
    (j % 251) as u8
}

fn stream_message(size: usize) -> Bytes {
    Bytes::from((0..size).map(pattern_byte).collect::<Vec<u8>>())
}

fn stream_request(count: u32, size: u32) -> Bytes {
    let mut b = Vec::with_capacity(8);
    b.put_u32(count);
    b.put_u32(size);
    Bytes::from(b)
}

/// `(count, size)` from a stream request, if it is one within bounds.
fn parse_stream_request(mut b: Bytes) -> Option<(u32, usize)> {
    if b.len() != 8 {
        return None;
    }
    let count = b.get_u32();
    let size = b.get_u32() as usize;
    (size <= MAX_MESSAGE).then_some((count, size))
}

fn bad_stream_request() -> grpc_sansio_tokio::Status {
    grpc_sansio_tokio::Status::new(
        grpc_sansio_tokio::Code::InvalidArgument,
        "expected [count u32, size u32] with size <= 16 MiB",
    )
}

// ---------------------------------------------------------------------
// Servers

fn serve(args: &[String]) -> Result<(), String> {
    let stack = Stack::parse(&arg(args, "--stack").ok_or("--stack is required")?)?;
    let port: u16 = num_arg(args, "--port", 50090)?;
    let lifetime: u64 = num_arg(args, "--lifetime", 1800)?;
    let window = window_arg(args)?;
    watchdog(Duration::from_secs(lifetime), "serve");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let r = match stack {
        Stack::Tokio => serve_tokio(addr, window),
        Stack::Blocking => serve_blocking(addr, window),
        Stack::Tonic => serve_tonic(addr, window),
    };
    r.map_err(|e| format!("serve {stack:?}: {e}"))
}

/// `--window-kib`: the HTTP/2 receive windows (stream and connection)
/// for every stack, in bytes; `None` leaves each stack's defaults.
fn window_arg(args: &[String]) -> Result<Option<u32>, String> {
    match arg(args, "--window-kib") {
        None => Ok(None),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|k| (64..=1 << 21).contains(k))
            .map(|k| Some(k * 1024))
            .ok_or_else(|| format!("--window-kib: 64 to {}, not {v:?}", 1 << 21)),
    }
}

fn one_worker_runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
}

fn serve_tokio(addr: SocketAddr, window: Option<u32>) -> io::Result<()> {
    use grpc_sansio_tokio::{BytesCodec, Response, Routes, RpcError, Server};

    let mut routes = Routes::new();
    routes.unary(SERVICE, "Echo", BytesCodec, |req| async move {
        Ok(Response::new(req.into_inner()))
    });
    routes.server_streaming(SERVICE, "Stream", BytesCodec, |req, mut sink| async move {
        let (count, size) = parse_stream_request(req.into_inner())
            .ok_or_else(|| RpcError::new(bad_stream_request()))?;
        let msg = stream_message(size);
        for _ in 0..count {
            sink.send(msg.clone()).await?;
        }
        Ok(())
    });
    let mut builder = Server::builder()
        .max_receive_message_size(MAX_MESSAGE)
        .max_send_message_size(MAX_MESSAGE);
    if let Some(w) = window {
        builder = builder
            .initial_stream_window(w)
            .initial_connection_window(w);
    }
    let server = builder.build(routes);
    one_worker_runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("tokio server listening on {}", listener.local_addr()?);
        server.serve(listener).await
    })
}

fn serve_blocking(addr: SocketAddr, window: Option<u32>) -> io::Result<()> {
    use grpc_sansio_blocking::{BytesCodec, Handler, Router, RouterExt, Server, Status};

    let mut router: Router<Handler> = Router::new();
    router.unary(SERVICE, "Echo", BytesCodec, |_call, req: Bytes| Ok(req));
    router.server_streaming(
        SERVICE,
        "Stream",
        BytesCodec,
        |_call, req: Bytes, sink| -> Result<(), Status> {
            let (count, size) = parse_stream_request(req).ok_or_else(bad_stream_request)?;
            let msg = stream_message(size);
            for _ in 0..count {
                sink.send(&msg)?;
            }
            Ok(())
        },
    );
    // Room for the idle connections and the calls' own: the default bound
    // (1,024 connections) is close to the 1,000 idle ones.
    let mut builder = Server::builder()
        .max_receive_message_size(MAX_MESSAGE)
        .max_send_message_size(MAX_MESSAGE)
        .max_connections(4096);
    if let Some(w) = window {
        builder = builder
            .initial_stream_window(w)
            .initial_connection_window(w);
    }
    let server = builder.build(router);
    let bound = server.bind(addr)?;
    println!("blocking server listening on {bound}");
    server.wait();
    Ok(())
}

fn serve_tonic(addr: SocketAddr, window: Option<u32>) -> io::Result<()> {
    one_worker_runtime()?.block_on(async move {
        let incoming = tonic::transport::server::TcpIncoming::bind(addr)?.with_nodelay(Some(true));
        println!("tonic server listening on {addr}");
        tonic::transport::Server::builder()
            .initial_stream_window_size(window)
            .initial_connection_window_size(window)
            .serve_with_incoming(TonicBulk, incoming)
            .await
            .map_err(io::Error::other)
    })
}

/// The tonic service: hand-written, the shape of tonic's generated code.
#[derive(Clone)]
struct TonicBulk;

struct TonicEcho;

impl tower::Service<tonic::Request<Bytes>> for TonicEcho {
    type Response = tonic::Response<Bytes>;
    type Error = tonic::Status;
    type Future = std::future::Ready<Result<tonic::Response<Bytes>, tonic::Status>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), tonic::Status>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: tonic::Request<Bytes>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(req.into_inner())))
    }
}

/// `left` more clones of one message.
struct Copies {
    msg: Bytes,
    left: u32,
}

impl tokio_stream::Stream for Copies {
    type Item = Result<Bytes, tonic::Status>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(self.msg.clone())))
    }
}

struct TonicStream;

impl tower::Service<tonic::Request<Bytes>> for TonicStream {
    type Response = tonic::Response<Copies>;
    type Error = tonic::Status;
    type Future = std::future::Ready<Result<tonic::Response<Copies>, tonic::Status>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), tonic::Status>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: tonic::Request<Bytes>) -> Self::Future {
        let r = match parse_stream_request(req.into_inner()) {
            Some((count, size)) => Ok(tonic::Response::new(Copies {
                msg: stream_message(size),
                left: count,
            })),
            None => Err(tonic::Status::invalid_argument(
                "expected [count u32, size u32] with size <= 16 MiB",
            )),
        };
        std::future::ready(r)
    }
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

fn tonic_server_grpc() -> tonic::server::Grpc<RawCodec> {
    tonic::server::Grpc::new(RawCodec)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

impl tower::Service<http::Request<tonic::body::Body>> for TonicBulk {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFut<Result<Self::Response, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        match req.uri().path() {
            ECHO_PATH => {
                Box::pin(async move { Ok(tonic_server_grpc().unary(TonicEcho, req).await) })
            }
            STREAM_PATH => {
                Box::pin(
                    async move { Ok(tonic_server_grpc().server_streaming(TonicStream, req).await) },
                )
            }
            _ => Box::pin(
                async move { Ok(tonic::Status::unimplemented("no such method").into_http()) },
            ),
        }
    }
}

// ---------------------------------------------------------------------
// Clients

/// Each stack's own client, connected to its own server.
enum Client {
    Tokio {
        rt: tokio::runtime::Runtime,
        channel: grpc_sansio_tokio::Channel,
    },
    Blocking {
        channel: grpc_sansio_blocking::Channel,
    },
    Tonic {
        rt: tokio::runtime::Runtime,
        grpc: tonic::client::Grpc<tonic::transport::Channel>,
    },
}

/// `fut`, or an error once `CALL_TIMEOUT` has passed.
async fn bounded<T, E: std::fmt::Display>(
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
    }
}

impl Client {
    fn connect(stack: Stack, addr: SocketAddr, window: Option<u32>) -> Result<Client, String> {
        let target = format!("http://{addr}");
        match stack {
            Stack::Tokio => {
                let rt = one_worker_runtime().map_err(|e| e.to_string())?;
                let channel = rt.block_on(async {
                    let mut builder = grpc_sansio_tokio::Channel::builder(&target)
                        .connect_timeout(CONNECT_TIMEOUT)
                        .max_receive_message_size(MAX_MESSAGE)
                        .max_send_message_size(MAX_MESSAGE);
                    if let Some(w) = window {
                        builder = builder
                            .initial_stream_window(w)
                            .initial_connection_window(w);
                    }
                    let channel = builder.build().map_err(|e| e.to_string())?;
                    channel
                        .ready(CONNECT_TIMEOUT)
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok::<_, String>(channel)
                })?;
                Ok(Client::Tokio { rt, channel })
            }
            Stack::Blocking => {
                let mut builder = grpc_sansio_blocking::Channel::builder(&target)
                    .connect_timeout(CONNECT_TIMEOUT)
                    .max_receive_message_size(MAX_MESSAGE)
                    .max_send_message_size(MAX_MESSAGE);
                if let Some(w) = window {
                    builder = builder
                        .initial_stream_window(w)
                        .initial_connection_window(w);
                }
                let channel = builder.connect().map_err(|e| e.to_string())?;
                Ok(Client::Blocking { channel })
            }
            Stack::Tonic => {
                let rt = one_worker_runtime().map_err(|e| e.to_string())?;
                let grpc = rt.block_on(async {
                    let channel = tonic::transport::Endpoint::from_shared(target)
                        .map_err(|e| e.to_string())?
                        .connect_timeout(CONNECT_TIMEOUT)
                        .tcp_nodelay(true)
                        .initial_stream_window_size(window)
                        .initial_connection_window_size(window)
                        .connect()
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok::<_, String>(
                        tonic::client::Grpc::new(channel)
                            .max_decoding_message_size(MAX_MESSAGE)
                            .max_encoding_message_size(MAX_MESSAGE),
                    )
                })?;
                Ok(Client::Tonic { rt, grpc })
            }
        }
    }

    /// One unary echo.
    fn echo(&mut self, request: Bytes) -> Result<Bytes, String> {
        match self {
            Client::Tokio { rt, channel } => rt.block_on(async {
                let options = grpc_sansio_tokio::CallOptions::new().timeout(CALL_TIMEOUT);
                let call =
                    channel.unary(ECHO_PATH, grpc_sansio_tokio::BytesCodec, request, options);
                bounded(call).await.map(|r| r.into_inner())
            }),
            Client::Blocking { channel } => {
                let options = grpc_sansio_blocking::CallOptions::new().timeout(CALL_TIMEOUT);
                channel
                    .unary(
                        ECHO_PATH,
                        grpc_sansio_blocking::BytesCodec,
                        &request,
                        options,
                    )
                    .map(|r| r.into_message())
                    .map_err(|e| e.to_string())
            }
            Client::Tonic { rt, grpc } => rt.block_on(async {
                bounded(grpc.ready()).await?;
                let mut req = tonic::Request::new(request);
                req.set_timeout(CALL_TIMEOUT);
                let path = http::uri::PathAndQuery::from_static(ECHO_PATH);
                bounded(grpc.unary(req, path, RawCodec))
                    .await
                    .map(|r| r.into_inner())
            }),
        }
    }

    /// One server-streaming call of `count` messages of `size` bytes;
    /// `each` sees every message. An error unless the call ends OK.
    fn stream(
        &mut self,
        count: u32,
        size: u32,
        each: &mut dyn FnMut(&Bytes) -> Result<(), String>,
    ) -> Result<(), String> {
        let request = stream_request(count, size);
        match self {
            Client::Tokio { rt, channel } => rt.block_on(async {
                let options = grpc_sansio_tokio::CallOptions::new().timeout(CALL_TIMEOUT);
                let deadline = tokio::time::Instant::now() + CALL_TIMEOUT;
                let work = async {
                    let mut s = channel
                        .server_streaming(
                            STREAM_PATH,
                            grpc_sansio_tokio::BytesCodec,
                            request,
                            options,
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                    while let Some(m) = s.message().await.map_err(|e| e.to_string())? {
                        each(&m)?;
                    }
                    Ok(())
                };
                tokio::time::timeout_at(deadline, work)
                    .await
                    .map_err(|_| format!("stream not over within {CALL_TIMEOUT:?}"))?
            }),
            Client::Blocking { channel } => {
                let options = grpc_sansio_blocking::CallOptions::new().timeout(CALL_TIMEOUT);
                let s = channel
                    .server_streaming(
                        STREAM_PATH,
                        grpc_sansio_blocking::BytesCodec,
                        &request,
                        options,
                    )
                    .map_err(|e| e.to_string())?;
                for m in s {
                    each(&m.map_err(|e| e.to_string())?)?;
                }
                Ok(())
            }
            Client::Tonic { rt, grpc } => rt.block_on(async {
                let deadline = tokio::time::Instant::now() + CALL_TIMEOUT;
                let work = async {
                    grpc.ready().await.map_err(|e| e.to_string())?;
                    let mut req = tonic::Request::new(request);
                    req.set_timeout(CALL_TIMEOUT);
                    let path = http::uri::PathAndQuery::from_static(STREAM_PATH);
                    let mut s = grpc
                        .server_streaming(req, path, RawCodec)
                        .await
                        .map_err(|e| e.to_string())?
                        .into_inner();
                    while let Some(m) = s.message().await.map_err(|e| e.to_string())? {
                        each(&m)?;
                    }
                    Ok(())
                };
                tokio::time::timeout_at(deadline, work)
                    .await
                    .map_err(|_| format!("stream not over within {CALL_TIMEOUT:?}"))?
            }),
        }
    }
}

// ---------------------------------------------------------------------
// The measurements

fn drive(args: &[String]) -> Result<(), String> {
    watchdog(DRIVE_WATCHDOG, "drive");
    let stack = Stack::parse(&arg(args, "--stack").ok_or("--stack is required")?)?;
    let addr: SocketAddr = arg(args, "--addr")
        .ok_or("--addr is required")?
        .parse()
        .map_err(|e| format!("--addr: {e}"))?;
    let what = arg(args, "--what").ok_or("--what is required (echo, stream, idle)")?;
    let pid: Option<u32> = match arg(args, "--pid") {
        Some(p) => Some(p.parse().map_err(|_| format!("--pid: {p:?}"))?),
        None => None,
    };
    let clk_tck: f64 = num_arg(args, "--clk-tck", 100.0)?;
    let window = window_arg(args)?;
    let cpu = |pid: Option<u32>| -> Result<Option<f64>, String> {
        pid.map(|p| server_cpu_ticks(p).map(|t| t as f64 / clk_tck))
            .transpose()
    };
    match what.as_str() {
        "echo" => {
            let calls: u32 = num_arg(args, "--calls", 64)?;
            let warmup: u32 = num_arg(args, "--warmup", 4)?;
            let kib: usize = num_arg(args, "--echo-kib", 4096)?;
            if kib == 0 || kib > MAX_MESSAGE >> 10 {
                return Err("--echo-kib: 1 to 16384".to_string());
            }
            let mut client = Client::connect(stack, addr, window)?;
            let base = pseudo_random(kib << 10);
            let mut timed = Duration::ZERO;
            let mut cpu_start = None;
            for i in 0..warmup + calls {
                if i == warmup {
                    cpu_start = cpu(pid)?;
                }
                let mut v = base.clone();
                v[..8].copy_from_slice(&u64::from(i).to_be_bytes());
                let request = Bytes::from(v);
                let start = Instant::now();
                let reply = client.echo(request.clone())?;
                let took = start.elapsed();
                if reply != request {
                    return Err(format!(
                        "echo {i}: the answer ({} bytes) differs from the request ({} bytes)",
                        reply.len(),
                        request.len()
                    ));
                }
                if i >= warmup {
                    timed += took;
                }
            }
            let cpu_s = cpu_delta(cpu_start, cpu(pid)?);
            let bytes = u64::from(calls) * (kib as u64) * 1024;
            println!(
                "echo_mbps={:.1} echo_calls={calls} echo_bytes={bytes} echo_secs={:.3} echo_server_cpu_s={cpu_s}",
                bytes as f64 / timed.as_secs_f64() / 1e6,
                timed.as_secs_f64()
            );
        }
        "stream" => {
            let mib: u64 = num_arg(args, "--stream-mib", 1024)?;
            let msg_kib: u32 = num_arg(args, "--msg-kib", 64)?;
            if msg_kib == 0 || msg_kib > 16 * 1024 {
                return Err("--msg-kib: 1 to 16384".to_string());
            }
            let size = msg_kib * 1024;
            let count = u32::try_from(mib * 1024 / u64::from(msg_kib))
                .map_err(|_| "--stream-mib too large".to_string())?;
            let mut client = Client::connect(stack, addr, window)?;
            // Warm-up: a short stream on the same connection.
            let mut warm = Tally::new(size);
            client.stream(64, size, &mut |m| warm.take(m))?;
            if warm.messages != 64 {
                return Err(format!("warm-up stream: {} of 64 messages", warm.messages));
            }
            let mut tally = Tally::new(size);
            let cpu_start = cpu(pid)?;
            let start = Instant::now();
            client.stream(count, size, &mut |m| tally.take(m))?;
            let took = start.elapsed();
            let cpu_s = cpu_delta(cpu_start, cpu(pid)?);
            let expected = u64::from(count) * u64::from(size);
            let Tally {
                messages, bytes, ..
            } = tally;
            if messages != u64::from(count) || bytes != expected {
                return Err(format!(
                    "stream: {messages} messages and {bytes} bytes, expected {count} and {expected}"
                ));
            }
            println!(
                "stream_mbps={:.1} stream_messages={messages} stream_bytes={bytes} stream_secs={:.3} stream_server_cpu_s={cpu_s}",
                bytes as f64 / took.as_secs_f64() / 1e6,
                took.as_secs_f64()
            );
        }
        "idle" => {
            let pid = pid.ok_or("idle needs --pid of the server")?;
            let conns: usize = num_arg(args, "--conns", 1000)?;
            let settle_ms: u64 = num_arg(args, "--settle-ms", 3000)?;
            let before = vm_rss_kib(pid)?;
            let mut held = Vec::with_capacity(conns);
            for i in 0..conns {
                held.push(h2_handshake(addr).map_err(|e| format!("idle connection {i}: {e}"))?);
            }
            std::thread::sleep(Duration::from_millis(settle_ms));
            let after = vm_rss_kib(pid)?;
            let alive = held.iter().filter(|s| still_open(s)).count();
            if alive != conns {
                return Err(format!(
                    "idle: only {alive} of {conns} connections still open after {settle_ms} ms"
                ));
            }
            let per_conn = (after as f64 - before as f64) * 1024.0 / conns as f64;
            println!(
                "rss_before_kib={before} rss_after_kib={after} conns={conns} alive={alive} bytes_per_conn={per_conn:.0}"
            );
        }
        other => return Err(format!("--what {other:?}: echo, stream or idle")),
    }
    Ok(())
}

/// What a stream brought: messages and bytes, each message checked.
struct Tally {
    size: usize,
    messages: u64,
    bytes: u64,
}

impl Tally {
    fn new(size: u32) -> Tally {
        Tally {
            size: size as usize,
            messages: 0,
            bytes: 0,
        }
    }

    /// Count `m` if it is a message as the server makes them.
    fn take(&mut self, m: &Bytes) -> Result<(), String> {
        let n = m.len();
        if n != self.size || m[0] != pattern_byte(0) || m[n - 1] != pattern_byte(n - 1) {
            return Err(format!(
                "message {}: {n} bytes, not the ones sent",
                self.messages
            ));
        }
        self.messages += 1;
        self.bytes += n as u64;
        Ok(())
    }
}

fn cpu_delta(start: Option<f64>, end: Option<f64>) -> String {
    match (start, end) {
        (Some(a), Some(b)) => format!("{:.2}", b - a),
        _ => "na".to_string(),
    }
}

/// `n` bytes from xorshift64: incompressible, and a wrong byte shows.
fn pseudo_random(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// The VmRSS of process `pid`, in KiB.
fn vm_rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{path}: no VmRSS line"))
}

/// User + system CPU time of process `pid`, in clock ticks.
fn server_cpu_ticks(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // Fields after the command name (which may hold spaces) start with
    // the state (field 3); utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| format!("{path}: unexpected format"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{path}: no field {}", i + 3))
    };
    Ok(field(11)? + field(12)?)
}

/// A 9-byte HTTP/2 frame header.
fn frame_header(len: u32, kind: u8, flags: u8, stream: u32) -> [u8; 9] {
    let l = len.to_be_bytes();
    let s = stream.to_be_bytes();
    [l[1], l[2], l[3], kind, flags, s[0], s[1], s[2], s[3]]
}

const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const ACK: u8 = 0x1;

/// A TCP connection with the HTTP/2 handshake done both ways: our
/// preface and empty SETTINGS sent, the server's SETTINGS read and
/// acknowledged, the acknowledgement of ours read.
fn h2_handshake(addr: SocketAddr) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    s.set_write_timeout(Some(SOCKET_TIMEOUT))?;
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&frame_header(0, SETTINGS, 0, 0));
    s.write_all(&hello)?;
    let (mut theirs, mut acked) = (false, false);
    let mut payload = Vec::new();
    while !(theirs && acked) {
        let mut h = [0u8; 9];
        s.read_exact(&mut h)?;
        let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
        if len > 1 << 20 {
            return Err(io::Error::other(format!(
                "a {len}-byte frame in the handshake"
            )));
        }
        payload.resize(len, 0);
        s.read_exact(&mut payload)?;
        match (h[3], h[4] & ACK) {
            (SETTINGS, 0) => {
                theirs = true;
                s.write_all(&frame_header(0, SETTINGS, ACK, 0))?;
            }
            (SETTINGS, _) => acked = true,
            (GOAWAY, _) => return Err(io::Error::other("GOAWAY during the handshake")),
            _ => {}
        }
    }
    Ok(s)
}

/// Whether the server has not closed `s`: nothing but "would block" (or
/// bytes) to read, no end of stream.
fn still_open(mut s: &TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return false;
    }
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return false,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}
