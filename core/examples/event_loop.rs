//! A gRPC echo server and a client in one process and one thread, over
//! real TCP sockets on 127.0.0.1, driven by a hand-written readiness loop:
//! no async runtime, no poller, only std's non-blocking sockets and a short
//! sleep when nothing is ready.
//!
//! The core is sans-I/O: this file owns the sockets and the clock. Each
//! turn of the loop reads every socket until it would block and feeds the
//! bytes to the connection (`receive`, or `receive_eof` at end of file),
//! runs the application on the events that came out (`poll_event`), runs
//! the timers that are due (`poll_timeout`, `handle_timeout`), and writes
//! what the connections have to say (`poll_transmit`) until the socket
//! would block. Sends refused with `CallError::Blocked` wait for the call's
//! `Writable` event; every message taken gives its flow-control credit back
//! (`release_capacity`).
//!
//! The client makes six calls at once: a unary call with metadata, a
//! server-streaming call, a client-streaming call, a bidi call in lockstep,
//! a call whose deadline the server lets expire, and a call the server
//! fails with a status, a message and trailers.
//!
//! Run it with `cargo run -p grpc-sansio --example event_loop`.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use grpc_sansio::Endpoint;
use grpc_sansio::call::{CallError, CallId, CallKind};
use grpc_sansio::client::{CallOptions, ClientConfig, ClientConnection, ClientEvent};
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::h2::ConnectionError;
use grpc_sansio::server::{CancelReason, ServerConfig, ServerConnection, ServerEvent};

/// The whole run must be over by then, or the example fails.
const TIME_LIMIT: Duration = Duration::from_secs(5);
/// How long to sleep when no socket and no timer had anything to do.
const IDLE_SLEEP: Duration = Duration::from_millis(1);
/// Stop asking a connection for output while this much is still unwritten:
/// a socket that cannot keep up pushes back on the connection, and the
/// connection on the application (`CallError::Blocked`).
const OUT_HIGH_WATER: usize = 256 << 10;
/// A send queue per stream smaller than the default (1 MiB), so that the
/// streaming calls below run into `Blocked` and `Writable`.
const SEND_BUFFER: usize = 128 << 10;

/// The streaming calls move this many messages of `BIG` bytes each way:
/// more than the flow-control windows and the send queues hold.
pub(crate) const STREAM_COUNT: usize = 24;
/// The size of each streamed message.
pub(crate) const BIG: usize = 48 << 10;
/// The deadline of the call the server never answers.
pub(crate) const SLEEP_TIMEOUT: Duration = Duration::from_millis(200);
/// The messages of the bidi call, sent one at a time, each after the
/// answer to the one before.
pub(crate) const BIDI: [&str; 3] = ["one", "two", "three"];

fn main() {
    match run() {
        Ok(report) => {
            for c in &report.calls {
                println!("{}: {:?} {:?}", c.name, c.code, c.message);
                if let Some(h) = &c.headers {
                    println!("  headers:  {h:?}");
                }
                if !c.trailers.is_empty() {
                    println!("  trailers: {:?}", c.trailers);
                }
                let total: usize = c.messages.iter().map(Bytes::len).sum();
                match c.messages.as_slice() {
                    [] => {}
                    [one] if one.len() <= 64 => println!("  message:  {one:?}"),
                    many if many.iter().all(|m| m.len() <= 64) => {
                        println!("  messages: {many:?}")
                    }
                    many => println!("  messages: {} ({total} bytes)", many.len()),
                }
            }
            println!(
                "blocked sends: client {}, server {}; credit released: client {} bytes, server {} bytes",
                report.client_blocked,
                report.server_blocked,
                report.client_released,
                report.server_released
            );
            for (method, reason) in &report.server_cancelled {
                println!("server saw {method} end without it: {reason:?}");
            }
            println!("server connections closed: {:?}", report.server_closed);
            println!("client connection closed: {:?}", report.client_closed);
        }
        Err(e) => {
            eprintln!("event_loop: {e}");
            std::process::exit(1);
        }
    }
}

/// What one call returned to the client.
#[derive(Debug)]
pub(crate) struct CallReport {
    /// Which call (`unary`, `server_streaming`, ...).
    pub(crate) name: &'static str,
    /// Its status code.
    pub(crate) code: Code,
    /// Its status message.
    pub(crate) message: String,
    /// The response headers' metadata, if the server sent headers.
    pub(crate) headers: Option<MetadataMap>,
    /// The trailers' metadata.
    pub(crate) trailers: MetadataMap,
    /// The response messages.
    pub(crate) messages: Vec<Bytes>,
}

/// What the whole run saw.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// The calls, in the order they were started.
    pub(crate) calls: Vec<CallReport>,
    /// Client sends refused with `Blocked` (each later retried).
    pub(crate) client_blocked: usize,
    /// Server sends refused with `Blocked` (each later retried).
    pub(crate) server_blocked: usize,
    /// Flow-control credit the client gave back.
    pub(crate) client_released: u64,
    /// Flow-control credit the server gave back.
    pub(crate) server_released: u64,
    /// Calls that ended on the server without the handler ending them:
    /// the method and why.
    pub(crate) server_cancelled: Vec<(String, CancelReason)>,
    /// How each server connection ended.
    pub(crate) server_closed: Vec<Option<ConnectionError>>,
    /// How the client connection ended.
    pub(crate) client_closed: Option<Option<ConnectionError>>,
}

// ---------------------------------------------------------------------
// The transport: a non-blocking socket and the bytes not yet written.
// ---------------------------------------------------------------------

/// One socket and what is still to be written to it.
struct Transport {
    sock: TcpStream,
    out: BytesMut,
    read_eof: bool,
    /// The socket was shut down: the connection is over.
    done: bool,
}

impl Transport {
    fn new(sock: TcpStream) -> io::Result<Transport> {
        sock.set_nonblocking(true)?;
        sock.set_nodelay(true)?;
        Ok(Transport {
            sock,
            out: BytesMut::with_capacity(64 << 10),
            read_eof: false,
            done: false,
        })
    }

    /// Read until the socket would block, feeding `conn`. Returns whether
    /// anything happened.
    fn read(&mut self, conn: &mut impl Endpoint, buf: &mut [u8], now: Instant) -> io::Result<bool> {
        let mut progress = false;
        while !self.read_eof && !self.done {
            match self.sock.read(buf) {
                Ok(0) => {
                    self.read_eof = true;
                    conn.receive_eof(now);
                    progress = true;
                }
                Ok(n) => {
                    // A connection error is also reported as an event
                    // (`Closed`, calls finished or cancelled), and the
                    // GOAWAY it queued goes out below: nothing to do here.
                    let _ = conn.receive(&buf[..n], now);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    self.read_eof = true;
                    conn.receive_eof(now);
                    progress = true;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(progress)
    }

    /// Take output from `conn` and write it until the socket would block
    /// (or `conn` has nothing more). Shuts the socket down once the
    /// connection is closed and its last bytes are written. Returns
    /// whether anything happened.
    fn write(&mut self, conn: &mut impl Endpoint) -> io::Result<bool> {
        let mut progress = false;
        while !self.done {
            while self.out.len() < OUT_HIGH_WATER && conn.poll_transmit(&mut self.out) > 0 {
                progress = true;
            }
            if self.out.is_empty() {
                break;
            }
            match self.sock.write(&self.out) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out.advance(n);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    // The peer is gone: what we had to say is moot.
                    self.out.clear();
                    conn.receive_eof(Instant::now());
                }
                Err(e) => return Err(e),
            }
        }
        if !self.done && conn.is_closed() && self.out.is_empty() {
            let _ = self.sock.shutdown(Shutdown::Both);
            self.done = true;
            progress = true;
        }
        Ok(progress)
    }
}

/// Run the connection's timers if one is due. Returns whether one was.
fn timers(conn: &mut impl Endpoint, now: Instant) -> bool {
    if conn.poll_timeout().is_some_and(|t| t <= now) {
        conn.handle_timeout(now);
        true
    } else {
        false
    }
}

/// The earlier of two optional instants.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

// ---------------------------------------------------------------------
// The server: an echo service.
// ---------------------------------------------------------------------

/// The methods of `/echo.Echo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// Echo the message; request metadata comes back in the headers.
    Unary,
    /// `"<count>x<size>"` in, that many messages of that size out.
    ServerStream,
    /// Messages in, one summary out.
    ClientStream,
    /// Each message back in upper case.
    Bidi,
    /// Never answers: the call's deadline ends it.
    Sleep,
    /// Always fails with INVALID_ARGUMENT.
    Fail,
}

impl Method {
    fn by_name(name: &str) -> Option<Method> {
        Some(match name {
            "Unary" => Method::Unary,
            "ServerStream" => Method::ServerStream,
            "ClientStream" => Method::ClientStream,
            "Bidi" => Method::Bidi,
            "Sleep" => Method::Sleep,
            "Fail" => Method::Fail,
            _ => return None,
        })
    }

    fn kind(self) -> CallKind {
        match self {
            Method::Unary | Method::Sleep | Method::Fail => CallKind::Unary,
            Method::ServerStream => CallKind::ServerStreaming,
            Method::ClientStream => CallKind::ClientStreaming,
            Method::Bidi => CallKind::BidiStreaming,
        }
    }
}

/// One call's handler state: what it still has to send.
struct Handler {
    method: Method,
    /// Request metadata (echoed by `Unary`).
    metadata: MetadataMap,
    out: VecDeque<Bytes>,
    /// The last send was refused with `Blocked`: wait for `Writable`.
    blocked: bool,
    /// The status to end with once `out` is empty.
    end: Option<(Status, MetadataMap)>,
    /// `ClientStream`: messages and bytes received.
    received: (usize, usize),
}

/// One accepted connection.
struct ServerSide {
    t: Transport,
    conn: ServerConnection,
    handlers: BTreeMap<CallId, Handler>,
    closed: bool,
}

fn server_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.h2.max_send_buffer = SEND_BUFFER;
    config
}

impl ServerSide {
    /// Run the echo service on what came in.
    fn on_events(&mut self, report: &mut Report) -> Result<(), String> {
        while let Some(event) = self.conn.poll_event() {
            match event {
                ServerEvent::CallStarted { call, head } => {
                    let Some(method) =
                        Method::by_name(head.method()).filter(|_| head.service() == "echo.Echo")
                    else {
                        let status = Status::unimplemented(format!("no method {}", head.path));
                        self.conn
                            .send_status(call, status, MetadataMap::new())
                            .map_err(|e| format!("send_status: {e:?}"))?;
                        continue;
                    };
                    // The core then enforces the message counts.
                    self.conn
                        .set_call_kind(call, method.kind())
                        .map_err(|e| format!("set_call_kind: {e:?}"))?;
                    self.handlers.insert(
                        call,
                        Handler {
                            method,
                            metadata: head.metadata.clone(),
                            out: VecDeque::new(),
                            blocked: false,
                            end: None,
                            received: (0, 0),
                        },
                    );
                }
                ServerEvent::Message {
                    call,
                    message,
                    flow_len,
                } => {
                    // Taken at once: its credit goes back to the client.
                    self.conn.release_capacity(call, flow_len);
                    report.server_released += u64::from(flow_len);
                    let Some(h) = self.handlers.get_mut(&call) else {
                        // Ended already (send_status): a Message queued
                        // before it may still come out.
                        continue;
                    };
                    let message = match message.decompress() {
                        Ok(m) => m,
                        Err(status) => {
                            h.out.clear();
                            h.end = Some((status, MetadataMap::new()));
                            continue;
                        }
                    };
                    match h.method {
                        Method::Unary => {
                            let mut headers = MetadataMap::new();
                            for (k, v) in h.metadata.iter() {
                                let key = format!("echo-{k}");
                                let r = match v.to_str() {
                                    Some(s) => headers.append(&key, s),
                                    None => headers.append_bin(&key, v.as_bytes().clone()),
                                };
                                r.map_err(|e| format!("metadata: {e}"))?;
                            }
                            self.conn
                                .send_headers(call, headers)
                                .map_err(|e| format!("send_headers: {e:?}"))?;
                            let mut trailers = MetadataMap::new();
                            trailers
                                .insert("served-by", "event-loop")
                                .map_err(|e| format!("metadata: {e}"))?;
                            h.out.push_back(message);
                            h.end = Some((Status::ok(), trailers));
                        }
                        Method::ServerStream => {
                            let spec = std::str::from_utf8(&message).unwrap_or("");
                            let parsed = spec.split_once('x').and_then(|(n, size)| {
                                Some((n.parse::<usize>().ok()?, size.parse::<usize>().ok()?))
                            });
                            match parsed {
                                Some((n, size)) if n <= 1000 && size <= 1 << 20 => {
                                    for i in 0..n {
                                        h.out.push_back(Bytes::from(vec![
                                            b'a' + (i % 26) as u8;
                                            size
                                        ]));
                                    }
                                    h.end = Some((Status::ok(), MetadataMap::new()));
                                }
                                _ => {
                                    let status = Status::invalid_argument(format!(
                                        "want <count>x<size>, got {spec:?}"
                                    ));
                                    h.end = Some((status, MetadataMap::new()));
                                }
                            }
                        }
                        Method::ClientStream => {
                            h.received.0 += 1;
                            h.received.1 += message.len();
                        }
                        Method::Bidi => {
                            h.out.push_back(Bytes::from(message.to_ascii_uppercase()));
                        }
                        Method::Sleep => {}
                        Method::Fail => {
                            let mut trailers = MetadataMap::new();
                            trailers
                                .insert("error-detail", "the echo refuses")
                                .map_err(|e| format!("metadata: {e}"))?;
                            let status = Status::invalid_argument(format!(
                                "cannot echo {:?}",
                                String::from_utf8_lossy(&message)
                            ));
                            h.end = Some((status, trailers));
                        }
                    }
                }
                ServerEvent::HalfClosed { call } => {
                    let Some(h) = self.handlers.get_mut(&call) else {
                        continue;
                    };
                    match h.method {
                        Method::ClientStream => {
                            let (n, bytes) = h.received;
                            h.out
                                .push_back(Bytes::from(format!("{n} messages, {bytes} bytes")));
                            h.end = Some((Status::ok(), MetadataMap::new()));
                        }
                        Method::Bidi => h.end = Some((Status::ok(), MetadataMap::new())),
                        _ => {}
                    }
                }
                ServerEvent::Cancelled { call, reason } => {
                    if let Some(h) = self.handlers.remove(&call) {
                        report
                            .server_cancelled
                            .push((format!("{:?}", h.method), reason));
                    }
                }
                ServerEvent::Writable { call } => {
                    if let Some(h) = self.handlers.get_mut(&call) {
                        h.blocked = false;
                    }
                }
                ServerEvent::Closed { error } => {
                    self.closed = true;
                    report.server_closed.push(error);
                }
                _ => {}
            }
        }
        self.flush(report)
    }

    /// Send what the handlers have queued, as far as the connection takes.
    fn flush(&mut self, report: &mut Report) -> Result<(), String> {
        let mut ended = Vec::new();
        for (&call, h) in self.handlers.iter_mut() {
            while !h.blocked {
                let Some(message) = h.out.front() else { break };
                match self.conn.send_message(call, message.clone()) {
                    Ok(()) => {
                        h.out.pop_front();
                    }
                    Err(CallError::Blocked(_)) => {
                        h.blocked = true;
                        report.server_blocked += 1;
                    }
                    Err(CallError::UnknownCall(_)) => {
                        // The call ended under us (a Cancelled follows).
                        h.out.clear();
                        h.end = None;
                        break;
                    }
                    Err(e) => return Err(format!("server send_message: {e:?}")),
                }
            }
            if h.out.is_empty() {
                if let Some((status, trailers)) = h.end.take() {
                    match self.conn.send_status(call, status, trailers) {
                        Ok(()) | Err(CallError::UnknownCall(_)) => ended.push(call),
                        Err(e) => return Err(format!("server send_status: {e:?}")),
                    }
                }
            }
        }
        for call in ended {
            self.handlers.remove(&call);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------
// The client: six calls at once.
// ---------------------------------------------------------------------

/// One call as the client application sees it.
struct ClientCall {
    name: &'static str,
    id: CallId,
    /// Messages still to send.
    out: VecDeque<Bytes>,
    /// Half-close once `out` is empty.
    half_close: bool,
    /// The last send was refused with `Blocked`: wait for `Writable`.
    blocked: bool,
    /// Bidi: messages sent one at a time, each after the answer before.
    lockstep: VecDeque<Bytes>,
    headers: Option<MetadataMap>,
    messages: Vec<Bytes>,
    finished: Option<(Status, MetadataMap)>,
}

impl ClientCall {
    fn new(name: &'static str, id: CallId) -> ClientCall {
        ClientCall {
            name,
            id,
            out: VecDeque::new(),
            half_close: false,
            blocked: false,
            lockstep: VecDeque::new(),
            headers: None,
            messages: Vec::new(),
            finished: None,
        }
    }
}

struct ClientSide {
    t: Transport,
    conn: ClientConnection,
    calls: Vec<ClientCall>,
    shutdown: bool,
}

fn client_config(addr: SocketAddr) -> ClientConfig {
    let mut config = ClientConfig::default();
    config.authority = addr.to_string();
    config.h2.max_send_buffer = SEND_BUFFER;
    config
}

fn call_err(what: &str) -> impl Fn(CallError) -> String + '_ {
    move |e| format!("{what}: {e:?}")
}

impl ClientSide {
    /// Start the six calls. Calls may start before the handshake is
    /// over: their frames are queued.
    fn start(&mut self, now: Instant) -> Result<(), String> {
        let conn = &mut self.conn;

        let mut metadata = MetadataMap::new();
        metadata
            .insert("request-id", "42")
            .and_then(|()| metadata.insert_bin("trace-bin", &[0u8, 1, 2, 255][..]))
            .map_err(|e| format!("metadata: {e}"))?;
        let options = CallOptions::unary().with_metadata(metadata);
        let id = conn
            .start_call_with_message("/echo.Echo/Unary", options, Bytes::from("hello"), now)
            .map_err(call_err("unary"))?;
        self.calls.push(ClientCall::new("unary", id));

        let options = CallOptions::new(CallKind::ServerStreaming);
        let spec = Bytes::from(format!("{STREAM_COUNT}x{BIG}"));
        let id = conn
            .start_call_with_message("/echo.Echo/ServerStream", options, spec, now)
            .map_err(call_err("server_streaming"))?;
        self.calls.push(ClientCall::new("server_streaming", id));

        let options = CallOptions::new(CallKind::ClientStreaming);
        let id = conn
            .start_call("/echo.Echo/ClientStream", options, now)
            .map_err(call_err("client_streaming"))?;
        let mut call = ClientCall::new("client_streaming", id);
        call.out = (0..STREAM_COUNT)
            .map(|i| Bytes::from(vec![b'A' + (i % 26) as u8; BIG]))
            .collect();
        call.half_close = true;
        self.calls.push(call);

        let options = CallOptions::new(CallKind::BidiStreaming);
        let id = conn
            .start_call("/echo.Echo/Bidi", options, now)
            .map_err(call_err("bidi"))?;
        let mut call = ClientCall::new("bidi", id);
        call.lockstep = BIDI
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        call.out.extend(call.lockstep.pop_front());
        self.calls.push(call);

        let options = CallOptions::unary().with_timeout(now, SLEEP_TIMEOUT);
        let id = conn
            .start_call_with_message("/echo.Echo/Sleep", options, Bytes::from("zzz"), now)
            .map_err(call_err("deadline"))?;
        self.calls.push(ClientCall::new("deadline", id));

        let id = conn
            .start_call_with_message(
                "/echo.Echo/Fail",
                CallOptions::unary(),
                Bytes::from("bad"),
                now,
            )
            .map_err(call_err("failing"))?;
        self.calls.push(ClientCall::new("failing", id));
        Ok(())
    }

    fn call_mut(&mut self, id: CallId) -> Option<&mut ClientCall> {
        self.calls.iter_mut().find(|c| c.id == id)
    }

    /// Take the client's events, then send what the calls have queued.
    fn on_events(&mut self, report: &mut Report, now: Instant) -> Result<(), String> {
        while let Some(event) = self.conn.poll_event() {
            match event {
                ClientEvent::Headers { call, metadata } => {
                    if let Some(c) = self.call_mut(call) {
                        c.headers = Some(metadata);
                    }
                }
                ClientEvent::Message {
                    call,
                    message,
                    flow_len,
                } => {
                    // Taken at once: its credit goes back to the server.
                    self.conn.release_capacity(call, flow_len);
                    report.client_released += u64::from(flow_len);
                    let message = message
                        .decompress()
                        .map_err(|s| format!("decompress: {s:?}"))?;
                    if let Some(c) = self.call_mut(call) {
                        c.messages.push(message);
                        if let Some(next) = c.lockstep.pop_front() {
                            c.out.push_back(next);
                        } else if c.name == "bidi" {
                            c.half_close = true;
                        }
                    }
                }
                ClientEvent::Finished {
                    call,
                    status,
                    trailers,
                } => {
                    if let Some(c) = self.call_mut(call) {
                        c.finished = Some((status, trailers));
                        c.out.clear();
                        c.half_close = false;
                    }
                }
                ClientEvent::Writable { call } => {
                    if let Some(c) = self.call_mut(call) {
                        c.blocked = false;
                    }
                }
                ClientEvent::Closed { error } => report.client_closed = Some(error),
                // Ready, GoAway, PingAcked: nothing to do here.
                _ => {}
            }
        }
        for c in &mut self.calls {
            while !c.blocked && c.finished.is_none() {
                let Some(message) = c.out.front() else { break };
                match self.conn.send_message(c.id, message.clone()) {
                    Ok(()) => {
                        c.out.pop_front();
                    }
                    Err(CallError::Blocked(_)) => {
                        c.blocked = true;
                        report.client_blocked += 1;
                    }
                    Err(e) => return Err(format!("{} send_message: {e:?}", c.name)),
                }
            }
            if c.out.is_empty() && c.half_close {
                c.half_close = false;
                self.conn
                    .half_close(c.id)
                    .map_err(|e| format!("{} half_close: {e:?}", c.name))?;
            }
        }
        // All answered: close the connection gracefully.
        if !self.shutdown && self.calls.iter().all(|c| c.finished.is_some()) {
            self.shutdown = true;
            self.conn.shutdown(now);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------
// The loop.
// ---------------------------------------------------------------------

/// Serve the echo service on a fresh port, make the six calls against it,
/// and report what they returned. Fails if the run takes longer than a
/// few seconds.
pub(crate) fn run() -> Result<Report, String> {
    let started = Instant::now();
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("listener: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("addr: {e}"))?;

    // Connecting to a listener on this machine does not wait for an
    // accept (the kernel completes the handshake), so a blocking connect
    // is fine here; the socket is non-blocking from then on.
    let sock = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    let mut client = ClientSide {
        t: Transport::new(sock).map_err(|e| format!("client socket: {e}"))?,
        conn: ClientConnection::new(client_config(addr), Instant::now()),
        calls: Vec::new(),
        shutdown: false,
    };
    client.start(Instant::now())?;

    let mut servers: Vec<ServerSide> = Vec::new();
    let mut report = Report::default();
    let mut buf = vec![0u8; 64 << 10];

    loop {
        let now = Instant::now();
        if now.duration_since(started) > TIME_LIMIT {
            let pending: Vec<_> = client
                .calls
                .iter()
                .filter(|c| c.finished.is_none())
                .map(|c| c.name)
                .collect();
            return Err(format!(
                "still running after {TIME_LIMIT:?}: calls {pending:?}, client {:?}, {} server connection(s)",
                client.conn,
                servers.len()
            ));
        }
        let mut progress = false;

        // New connections.
        loop {
            match listener.accept() {
                Ok((sock, _)) => {
                    servers.push(ServerSide {
                        t: Transport::new(sock).map_err(|e| format!("accepted socket: {e}"))?,
                        conn: ServerConnection::new(server_config(), now),
                        handlers: BTreeMap::new(),
                        closed: false,
                    });
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("accept: {e}")),
            }
        }

        // Each server connection: bytes in, timers, the service, bytes out.
        for s in &mut servers {
            progress |=
                s.t.read(&mut s.conn, &mut buf, now)
                    .map_err(|e| format!("server read: {e}"))?;
            progress |= timers(&mut s.conn, now);
            s.on_events(&mut report)?;
            progress |=
                s.t.write(&mut s.conn)
                    .map_err(|e| format!("server write: {e}"))?;
        }
        servers.retain(|s| !(s.t.done && s.closed));

        // The client, the same way.
        progress |= client
            .t
            .read(&mut client.conn, &mut buf, now)
            .map_err(|e| format!("client read: {e}"))?;
        progress |= timers(&mut client.conn, now);
        client.on_events(&mut report, now)?;
        progress |= client
            .t
            .write(&mut client.conn)
            .map_err(|e| format!("client write: {e}"))?;

        if client.t.done && report.client_closed.is_some() && servers.is_empty() {
            break;
        }
        if !progress {
            // Nothing was ready: sleep a little, but not past a timer.
            let next = servers
                .iter()
                .map(|s| s.conn.poll_timeout())
                .fold(client.conn.poll_timeout(), earliest);
            let now = Instant::now();
            let nap = next.map_or(IDLE_SLEEP, |t| {
                t.saturating_duration_since(now).min(IDLE_SLEEP)
            });
            std::thread::sleep(nap);
        }
    }

    for c in client.calls {
        let (status, trailers) = c.finished.expect("every call finished");
        report.calls.push(CallReport {
            name: c.name,
            code: status.code(),
            message: status.message().to_string(),
            headers: c.headers,
            trailers,
            messages: c.messages,
        });
    }
    Ok(report)
}
