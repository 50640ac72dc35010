//! The body of the `pair` fuzz target, shared by the cargo-fuzz binary and
//! by the corpus replay test in the `tests` crate.
//!
//! A [`ClientConnection`] and a [`ServerConnection`] wired in memory on a
//! virtual clock. The input is a script of operations on both sides: the
//! client starts calls of every kind, sends messages, half-closes, cancels;
//! the server handler sends headers, messages and statuses with any code;
//! either gives flow control back; bytes cross in either direction in
//! pieces of any size; time advances; either side shuts down.
//!
//! Input layout: one flags octet, then operations until the input ends.
//! - flags bits 0-1: the server's stream limit (1, 2, 8 or 100); bit 2:
//!   small windows, send buffers and message limits; bit 3: the server
//!   handler tells the core each call's kind (from its path); bit 4: both
//!   applications give flow control back as soon as a message arrives.
//! - each operation is an opcode octet and its operands (see
//!   [`Pair::act`]).
//!
//! Invariants, after every step: no panic; no connection error between
//! these two well-behaved peers (a side is closed only after a shutdown,
//! and then cleanly, even when the other side's transport closes after
//! its last bytes); each call gets at most one `Finished` on the client;
//! events name live calls only; the active call counts match the events.
//! At the end, after everything is delivered and every call is finished by
//! both applications: every call the client started had exactly one
//! `Finished`, and both sides have no call and no HTTP/2 stream left.
#![allow(unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use grpc_sansio::call::{CallId, CallKind};
use grpc_sansio::client::{CallOptions, ClientConfig, ClientConnection, ClientEvent};
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::server::{ServerConfig, ServerConnection, ServerEvent};

use super::script::{Reader, body, duration, origin, registry};

/// The methods the client calls; the server handler learns the kind from
/// the path, as a router would.
const METHODS: [(&str, CallKind); 4] = [
    ("/fuzz.Pair/Unary", CallKind::Unary),
    ("/fuzz.Pair/ClientStreaming", CallKind::ClientStreaming),
    ("/fuzz.Pair/ServerStreaming", CallKind::ServerStreaming),
    ("/fuzz.Pair/Bidi", CallKind::BidiStreaming),
];

fn kind_of(path: &str) -> CallKind {
    METHODS
        .iter()
        .find(|(p, _)| *p == path)
        .map_or(CallKind::BidiStreaming, |(_, k)| *k)
}

struct Pair {
    client: ClientConnection,
    server: ServerConnection,
    now: Instant,
    /// Bytes on the wire, not yet delivered.
    to_server: BytesMut,
    to_client: BytesMut,
    /// Client calls live, with the flow credit their messages hold.
    c_live: BTreeMap<CallId, u32>,
    /// Calls `finish_all` has half-closed.
    c_half_closed: BTreeSet<CallId>,
    c_started: BTreeSet<CallId>,
    c_finished: BTreeSet<CallId>,
    /// Server calls live, with the flow credit their messages hold.
    s_live: BTreeMap<CallId, u32>,
    s_seen: BTreeSet<CallId>,
    server_sets_kind: bool,
    eager_release: bool,
    /// Output is collected only when the other side is about to read it
    /// (and at the end): frames wait in a side's output while input
    /// arrives, as with a slow writer.
    lazy: bool,
    /// A side has begun a graceful shutdown: closing is then allowed.
    shutdown: bool,
    c_closed: bool,
    s_closed: bool,
    /// End of file delivered to the client / the server.
    c_eof: bool,
    s_eof: bool,
}

/// The most calls an input keeps live at once.
const MAX_LIVE_CALLS: usize = 64;

fn pick(map: &BTreeMap<CallId, u32>, b: u8) -> Option<CallId> {
    let n = map.len();
    (n > 0).then(|| *map.keys().nth(usize::from(b) % n).expect("in range"))
}

impl Pair {
    /// Move what both sides have to send onto the wire.
    fn transmit(&mut self) {
        if self.lazy {
            return;
        }
        self.transmit_now();
    }

    /// Collect what both sides have to send.
    fn transmit_now(&mut self) {
        for _ in 0..100_000 {
            let a = self.client.poll_transmit(&mut self.to_server);
            let b = self.server.poll_transmit(&mut self.to_client);
            if a == 0 && b == 0 {
                return;
            }
        }
        panic!("poll_transmit never runs dry");
    }

    /// A side that has closed and whose last bytes have been delivered
    /// closes its transport, as an adapter does: the other side reads end
    /// of file.
    fn close_transports(&mut self) {
        // What a closed side still has to write goes out first.
        self.transmit();
        if self.server.is_closed()
            && self.to_client.is_empty()
            && !self.server.has_output()
            && !self.c_eof
        {
            self.c_eof = true;
            self.client.receive_eof(self.now);
        }
        if self.client.is_closed()
            && self.to_server.is_empty()
            && !self.client.has_output()
            && !self.s_eof
        {
            self.s_eof = true;
            self.server.receive_eof(self.now);
        }
    }

    /// Deliver up to `n` bytes one way, in pieces whose sizes the input
    /// gives.
    fn deliver(&mut self, to_server: bool, n: usize, r: &mut Reader<'_>) {
        if self.lazy {
            // A lazy writer writes only what the other side is about to
            // read: the side that receives keeps its own output unsent,
            // so that input arrives while its frames still wait.
            for _ in 0..100_000 {
                let n = if to_server {
                    self.client.poll_transmit(&mut self.to_server)
                } else {
                    self.server.poll_transmit(&mut self.to_client)
                };
                if n == 0 {
                    break;
                }
            }
        }
        let wire = if to_server {
            &mut self.to_server
        } else {
            &mut self.to_client
        };
        let mut bytes = wire.split_to(n.min(wire.len()));
        let split = r.u8();
        while !bytes.is_empty() {
            let piece = match split {
                0 => bytes.len(),
                s => usize::from(s) * usize::from(1 + (r.u8() & 0x3f)),
            };
            let chunk = bytes.split_to(piece.min(bytes.len()));
            let result = if to_server {
                self.server.receive(&chunk, self.now)
            } else {
                self.client.receive(&chunk, self.now)
            };
            if let Err(e) = result {
                panic!(
                    "connection error between well-behaved peers ({} side): {e:?}",
                    if to_server { "server" } else { "client" }
                );
            }
        }
    }

    fn events(&mut self) {
        while let Some(ev) = self.client.poll_event() {
            assert!(!self.c_closed, "client event after Closed: {ev:?}");
            match ev {
                ClientEvent::Ready | ClientEvent::GoAway { .. } | ClientEvent::PingAcked { .. } => {
                }
                ClientEvent::Headers { call, .. } | ClientEvent::Writable { call } => {
                    assert!(self.c_live.contains_key(&call), "client event for {call}");
                }
                ClientEvent::Message {
                    call,
                    flow_len,
                    message,
                } => {
                    assert!(
                        message.decompress().is_ok(),
                        "a response did not decompress"
                    );
                    let held = self
                        .c_live
                        .get_mut(&call)
                        .unwrap_or_else(|| panic!("client message for {call} not live"));
                    if self.eager_release {
                        self.client.release_capacity(call, flow_len);
                    } else {
                        *held = held.saturating_add(flow_len);
                    }
                }
                ClientEvent::Finished { call, status, .. } => {
                    // Between two running peers no call is lost: only a
                    // shutdown can end one as UNAVAILABLE.
                    assert!(
                        self.shutdown || status.code() != Code::Unavailable,
                        "call {call} lost without a shutdown: {status}"
                    );
                    assert!(self.c_finished.insert(call), "second Finished for {call}");
                    let held = self
                        .c_live
                        .remove(&call)
                        .unwrap_or_else(|| panic!("Finished for {call} never started"));
                    self.client.release_capacity(call, held);
                }
                ClientEvent::Closed { error } => {
                    assert!(error.is_none(), "client connection error: {error:?}");
                    assert!(self.shutdown, "client closed without a shutdown");
                    self.c_closed = true;
                }
                other => panic!("unexpected client event {other:?}"),
            }
        }
        while let Some(ev) = self.server.poll_event() {
            assert!(!self.s_closed, "server event after Closed: {ev:?}");
            match ev {
                ServerEvent::CallStarted { call, head } => {
                    assert!(self.s_seen.insert(call), "server call id reused: {call}");
                    self.s_live.insert(call, 0);
                    if self.server_sets_kind {
                        let _ = self.server.set_call_kind(call, kind_of(&head.path));
                    }
                }
                ServerEvent::Message {
                    call,
                    flow_len,
                    message,
                } => {
                    assert!(message.decompress().is_ok(), "a request did not decompress");
                    let held = self
                        .s_live
                        .get_mut(&call)
                        .unwrap_or_else(|| panic!("server message for {call} not live"));
                    if self.eager_release {
                        self.server.release_capacity(call, flow_len);
                    } else {
                        *held = held.saturating_add(flow_len);
                    }
                }
                ServerEvent::HalfClosed { call } | ServerEvent::Writable { call } => {
                    assert!(self.s_live.contains_key(&call), "server event for {call}");
                }
                ServerEvent::Cancelled { call, .. } => {
                    let held = self
                        .s_live
                        .remove(&call)
                        .unwrap_or_else(|| panic!("cancel of {call} not live"));
                    self.server.release_capacity(call, held);
                }
                ServerEvent::Closed { error } => {
                    assert!(error.is_none(), "server connection error: {error:?}");
                    assert!(self.shutdown, "server closed without a shutdown");
                    self.s_closed = true;
                }
                other => panic!("unexpected server event {other:?}"),
            }
        }
        // set_call_kind may have ended calls; their events come next time.
        assert_eq!(self.client.active_calls(), self.c_live.len());
        assert_eq!(self.client.is_closed(), self.c_closed);
        assert_eq!(self.server.is_closed(), self.s_closed);
        if !self.shutdown {
            assert!(!self.client.is_closed() && !self.server.is_closed());
        }
    }

    fn start(&mut self, op: u8, r: &mut Reader<'_>) {
        let b = r.u8();
        if self.c_live.len() >= MAX_LIVE_CALLS {
            // Enough to exercise concurrency; more only slows each run.
            return;
        }
        let (path, kind) = METHODS[usize::from(b) % METHODS.len()];
        let mut options = CallOptions::new(kind);
        if b & 0x04 != 0 {
            options = options.with_timeout(self.now, duration(r.u8()));
        }
        if b & 0x08 != 0 {
            options = options.with_compression("gzip");
        }
        if b & 0x10 != 0 {
            let mut md = MetadataMap::new();
            let _ = md.append("x-fuzz", "1");
            let _ = md.append_bin("x-fuzz-bin", Bytes::from_static(b"\x00\xff"));
            options = options.with_metadata(md);
        }
        // Message and end of request at the start: sent whole.
        let whole = op & 0x70 == 0x70;
        let started = if whole {
            let request = Bytes::from_static(b"request");
            self.client
                .start_call_with_message(path, options, request, self.now)
        } else {
            self.client.start_call(path, options, self.now)
        };
        if let Ok(call) = started {
            assert!(self.c_started.insert(call), "client call id reused: {call}");
            self.c_live.insert(call, 0);
            if whole {
                self.c_half_closed.insert(call);
                return;
            }
            if op & 0x10 != 0 {
                let _ = self
                    .client
                    .send_message(call, Bytes::from_static(b"request"));
            }
            if op & 0x20 != 0 {
                let _ = self.client.half_close(call);
            }
        }
    }

    fn act(&mut self, r: &mut Reader<'_>) {
        let op = r.u8();
        match op % 16 {
            0 | 1 => self.start(op, r),
            2 => {
                let b = r.u8();
                let v = r.u16();
                let len = usize::from(v >> 2);
                if let Some(call) = pick(&self.c_live, b) {
                    // The low bit: this message uncompressed.
                    let _ = self.client.send_message_with(call, body(len), v & 1 == 0);
                }
            }
            3 => {
                if let Some(call) = pick(&self.c_live, r.u8()) {
                    let _ = self.client.half_close(call);
                }
            }
            4 => {
                if let Some(call) = pick(&self.c_live, r.u8()) {
                    self.client.cancel(call);
                }
            }
            5 => {
                if let Some(call) = pick(&self.c_live, r.u8()) {
                    let n = std::mem::take(self.c_live.get_mut(&call).expect("live"));
                    self.client.release_capacity(call, n);
                }
                if let Some(call) = pick(&self.s_live, r.u8()) {
                    let n = std::mem::take(self.s_live.get_mut(&call).expect("live"));
                    self.server.release_capacity(call, n);
                }
            }
            6 => {
                if let Some(call) = pick(&self.s_live, r.u8()) {
                    if op & 0x10 != 0 {
                        let _ = self.server.set_send_compression(call, "gzip");
                    }
                    let mut md = MetadataMap::new();
                    if op & 0x20 != 0 {
                        let _ = md.append("x-head", "h");
                    }
                    let _ = self.server.send_headers(call, md);
                }
            }
            7 => {
                let b = r.u8();
                let v = r.u16();
                let len = usize::from(v >> 2);
                if let Some(call) = pick(&self.s_live, b) {
                    // The low bit: this message uncompressed.
                    let _ = self.server.send_message_with(call, body(len), v & 1 == 0);
                }
            }
            8 => {
                let b = r.u8();
                // Any code but UNAVAILABLE, which the client must only
                // see when a connection goes away (checked in `events`).
                let code = match Code::from_i32(i32::from(r.u8() % 18)) {
                    Code::Unavailable => Code::Internal,
                    code => code,
                };
                if let Some(call) = pick(&self.s_live, b) {
                    let mut trailers = MetadataMap::new();
                    if op & 0x10 != 0 {
                        let _ = trailers.append("x-trailer", "t");
                        let _ = trailers.append_bin("x-trailer-bin", Bytes::from_static(b"\x01"));
                    }
                    let status = Status::new(code, "fuzz: ünïcode % status");
                    // With a reply message, sent whole.
                    let sent = if op & 0x20 != 0 {
                        let reply = body(usize::from(op >> 6) * 700);
                        self.server.send_response(call, reply, status, trailers)
                    } else {
                        self.server.send_status(call, status, trailers)
                    };
                    if sent.is_ok() {
                        let held = self.s_live.remove(&call).expect("live");
                        self.server.release_capacity(call, held);
                    }
                }
            }
            9..=11 => {
                let n = usize::from(r.u16());
                self.deliver(true, n, r);
            }
            12 | 13 => {
                let n = usize::from(r.u16());
                self.deliver(false, n, r);
            }
            14 => {
                self.now += duration(r.u8());
                self.client.handle_timeout(self.now);
                self.server.handle_timeout(self.now);
            }
            _ => {
                self.shutdown = true;
                if op & 0x10 != 0 {
                    self.client.shutdown(self.now);
                } else {
                    self.server.shutdown(self.now);
                }
            }
        }
    }

    /// Deliver everything both ways until neither side has anything to
    /// send.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            // Timers already due run, as the driving contract asks (calls
            // waiting for a stream may open from one).
            if self.client.poll_timeout().is_some_and(|t| t <= self.now) {
                self.client.handle_timeout(self.now);
            }
            if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
                self.server.handle_timeout(self.now);
            }
            self.transmit_now();
            if self.to_server.is_empty() && self.to_client.is_empty() {
                self.close_transports();
                self.events();
                return;
            }
            let mut none = Reader { data: &[] };
            self.deliver(true, usize::MAX, &mut none);
            self.deliver(false, usize::MAX, &mut none);
            self.close_transports();
            self.events();
        }
        panic!("livelock: the pair never goes quiet");
    }

    /// Both applications finish every call and give back all credit.
    fn finish_all(&mut self) {
        // Called round after round while calls drain: each call is
        // half-closed once, and credit is given back only where held.
        for (call, held) in self.c_live.iter_mut() {
            if *held > 0 {
                self.client.release_capacity(*call, std::mem::take(held));
            }
            if self.c_half_closed.insert(*call) {
                let _ = self.client.half_close(*call);
            }
        }
        for (call, held) in self.s_live.iter_mut() {
            if *held > 0 {
                self.server.release_capacity(*call, std::mem::take(held));
            }
        }
        let calls: Vec<CallId> = self.s_live.keys().copied().collect();
        for call in calls {
            if self
                .server
                .send_status(call, Status::ok(), MetadataMap::new())
                .is_ok()
            {
                self.s_live.remove(&call);
            }
        }
    }
}

/// Runs one fuzz input. Panics on any broken invariant.
pub fn run(data: &[u8]) {
    let mut r = Reader { data };
    let flags = r.u8();
    let mut sconfig = ServerConfig::default();
    let mut cconfig = ClientConfig::default();
    sconfig.compression = registry();
    cconfig.compression = registry();
    sconfig.h2.max_concurrent_streams = [1u32, 2, 8, 100][usize::from(flags & 3)];
    // Deliveries may leave half a frame in flight while time advances: a
    // frame timeout would then be right, not a fault of the pair.
    sconfig.h2.frame_timeout = None;
    cconfig.h2.frame_timeout = None;
    if flags & 4 != 0 {
        for h2 in [&mut sconfig.h2, &mut cconfig.h2] {
            h2.initial_stream_window = 1024;
            h2.connection_window = 4096;
            h2.max_send_buffer = 2048;
            h2.max_connection_send_buffer = 5000;
        }
        sconfig.max_receive_message_size = 3000;
        cconfig.max_receive_message_size = 3000;
        sconfig.max_receive_memory = 4000;
        cconfig.max_receive_memory = 4000;
        cconfig.max_pending_calls = 4;
    }
    let now = origin();
    let mut p = Pair {
        client: ClientConnection::new(cconfig, now),
        server: ServerConnection::new(sconfig, now),
        now,
        to_server: BytesMut::new(),
        to_client: BytesMut::new(),
        c_live: BTreeMap::new(),
        c_half_closed: BTreeSet::new(),
        c_started: BTreeSet::new(),
        c_finished: BTreeSet::new(),
        s_live: BTreeMap::new(),
        s_seen: BTreeSet::new(),
        server_sets_kind: flags & 8 != 0,
        eager_release: flags & 0x10 != 0,
        lazy: flags & 0x20 != 0,
        shutdown: false,
        c_closed: false,
        s_closed: false,
        c_eof: false,
        s_eof: false,
    };
    // The handshake completes before the script runs, so that no time
    // advance can make it time out.
    p.settle();
    assert!(p.client.is_ready());
    let mut ops = 0;
    // Bounded so that the script cannot legitimately trip the server's
    // rapid-reset limit (1000 resets per 10 s).
    while !r.is_empty() && ops < 600 {
        ops += 1;
        p.act(&mut r);
        p.transmit();
        p.close_transports();
        p.events();
    }
    // The end: deliver everything, then both applications finish every
    // call, until nothing is left.
    for _ in 0..1000 {
        p.settle();
        if p.c_live.is_empty() && p.s_live.is_empty() {
            break;
        }
        p.finish_all();
    }
    p.settle();
    assert!(p.c_live.is_empty(), "client calls never finished");
    assert!(p.s_live.is_empty(), "server calls never finished");
    assert_eq!(
        p.c_started, p.c_finished,
        "every started call has exactly one Finished"
    );
    assert_eq!(p.client.active_calls(), 0);
    assert_eq!(p.server.active_calls(), 0);
    assert_eq!(p.client.h2().active_streams(), 0, "client streams left");
    assert_eq!(p.server.h2().active_streams(), 0, "server streams left");
    assert_eq!(
        p.client.receive_memory_charged(),
        0,
        "client received-memory charge left"
    );
    assert_eq!(
        p.server.receive_memory_charged(),
        0,
        "server received-memory charge left"
    );
}
