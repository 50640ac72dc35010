//! The body of the `client_connection` fuzz target, shared by the
//! cargo-fuzz binary and by the corpus replay test in the `tests` crate.
//!
//! A [`ClientConnection`] is driven through its public API by a script read
//! from the input: chunks of peer (server) bytes, virtual-clock advances,
//! and the application's actions: start calls, send messages, half-close,
//! cancel, give flow control back, ping, shut down, end of file.
//!
//! Input layout: one flags octet, then operations until the input ends.
//! - flags bit 0: feed a valid server SETTINGS first; bit 1: also
//!   acknowledge our SETTINGS; bit 2: the application gives flow control
//!   back as soon as a message arrives; bit 3: small windows, send buffers
//!   and pending-call limit.
//! - each operation is an opcode octet and its operands (see
//!   [`Harness::act`]).
//!
//! Invariants: no panic; every frame we send decodes; every started call
//! gets at most one `Finished`, and once the connection is closed every
//! started call has had exactly one; events name only live calls;
//! `active_calls()` equals the calls started and not finished; exactly one
//! `Closed` event once closed, and nothing after it.
#![allow(unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use grpc_sansio::call::{CallError, CallId};
use grpc_sansio::client::{CallOptions, ClientConfig, ClientConnection, ClientEvent};
use grpc_sansio::frame::{FrameDecoder, MAX_MAX_FRAME_SIZE, PREFACE};
use grpc_sansio::grpc::metadata::MetadataMap;

/// An empty server SETTINGS frame.
const SERVER_SETTINGS: &[u8] = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00";
/// A SETTINGS acknowledgement.
const SETTINGS_ACK: &[u8] = b"\x00\x00\x00\x04\x01\x00\x00\x00\x00";

use super::script::{Reader, body, duration, kind, origin, registry};

const PATHS: [&str; 4] = [
    "/helloworld.Greeter/SayHello",
    "/grpc.testing.TestService/FullDuplexCall",
    "/a/b",
    "no-slash",
];

struct Harness {
    conn: ClientConnection,
    now: Instant,
    /// Live calls and the flow-control credit their messages hold.
    live: BTreeMap<CallId, u32>,
    /// Calls that have had their `Finished`.
    finished: BTreeSet<CallId>,
    closed_events: usize,
    eager_release: bool,
    /// What we have sent and not yet decoded (the preface stripped).
    sent: BytesMut,
    preface_seen: bool,
    decoder: FrameDecoder,
}

impl Harness {
    fn pick(&self, b: u8) -> Option<CallId> {
        let n = self.live.len();
        (n > 0).then(|| *self.live.keys().nth(usize::from(b) % n).expect("in range"))
    }

    /// Drain what we send and check that it is the preface and a sequence
    /// of valid frames.
    fn transmit(&mut self) {
        let mut rounds = 0;
        while self.conn.poll_transmit(&mut self.sent) > 0 {
            rounds += 1;
            assert!(rounds < 100_000, "poll_transmit never runs dry");
        }
        if !self.preface_seen {
            if self.sent.len() < PREFACE.len() {
                return;
            }
            assert_eq!(
                &self.sent[..PREFACE.len()],
                PREFACE,
                "we send the preface first"
            );
            let _ = self.sent.split_to(PREFACE.len());
            self.preface_seen = true;
        }
        loop {
            match self.decoder.decode(&mut self.sent) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => panic!("we sent a malformed frame: {e:?}"),
            }
        }
    }

    fn events(&mut self) {
        while let Some(ev) = self.conn.poll_event() {
            assert_eq!(self.closed_events, 0, "event after Closed: {ev:?}");
            match ev {
                ClientEvent::Ready | ClientEvent::GoAway { .. } | ClientEvent::PingAcked { .. } => {
                }
                ClientEvent::Headers { call, .. } | ClientEvent::Writable { call } => {
                    assert!(
                        self.live.contains_key(&call),
                        "event for a call not live: {call}"
                    );
                }
                ClientEvent::Message {
                    call,
                    flow_len,
                    message,
                } => {
                    // Taken as an application would: inflated now. A
                    // hostile peer's may fail, but must not panic.
                    let _ = message.decompress();
                    let held = self
                        .live
                        .get_mut(&call)
                        .unwrap_or_else(|| panic!("message for a call not live: {call}"));
                    if self.eager_release {
                        self.conn.release_capacity(call, flow_len);
                    } else {
                        *held = held.saturating_add(flow_len);
                    }
                }
                ClientEvent::Finished { call, .. } => {
                    assert!(!self.finished.contains(&call), "second Finished for {call}");
                    let held = self
                        .live
                        .remove(&call)
                        .unwrap_or_else(|| panic!("Finished for a call never started: {call}"));
                    self.finished.insert(call);
                    self.conn.release_capacity(call, held);
                }
                ClientEvent::Closed { .. } => {
                    self.closed_events += 1;
                    assert!(
                        self.live.is_empty(),
                        "Closed before every call had its Finished"
                    );
                }
                other => panic!("unexpected event {other:?}"),
            }
        }
        assert_eq!(
            self.conn.active_calls(),
            self.live.len(),
            "active_calls() disagrees with the events"
        );
        if self.live.is_empty() {
            assert_eq!(
                self.conn.receive_memory_charged(),
                0,
                "received memory charged with no call in progress"
            );
        }
        assert_eq!(
            self.conn.is_closed(),
            self.closed_events == 1,
            "is_closed() disagrees with the Closed event"
        );
    }

    fn start(&mut self, op: u8, r: &mut Reader<'_>) {
        let b = r.u8();
        let mut options = CallOptions::new(kind(b));
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
        let path = PATHS[usize::from(b >> 5) % PATHS.len()];
        // Message and end of request at the start: sent whole.
        let whole = op & 0x70 == 0x70;
        let started = if whole {
            let request = Bytes::from_static(b"request");
            self.conn
                .start_call_with_message(path, options, request, self.now)
        } else {
            self.conn.start_call(path, options, self.now)
        };
        match started {
            Ok(call) => {
                assert!(
                    !self.live.contains_key(&call) && !self.finished.contains(&call),
                    "call id reused: {call}"
                );
                self.live.insert(call, 0);
                if whole {
                    // The request is over: more is refused.
                    assert!(self.conn.send_message(call, Bytes::new()).is_err());
                    assert!(self.conn.half_close(call).is_err());
                    return;
                }
                if op & 0x10 != 0 {
                    let _ = self.conn.send_message(call, Bytes::from_static(b"request"));
                }
                if op & 0x20 != 0 {
                    let _ = self.conn.half_close(call);
                }
            }
            Err(CallError::InvalidPath) => assert_eq!(path, "no-slash"),
            Err(_) => {}
        }
    }

    fn act(&mut self, r: &mut Reader<'_>) {
        let op = r.u8();
        match op % 16 {
            // Peer bytes: the most common operation.
            0..=5 => {
                let n = match op >> 4 {
                    0 => usize::from(r.u16()),
                    k => usize::from(k) * 8,
                };
                let chunk = r.bytes(n);
                let _ = self.conn.receive(chunk, self.now);
            }
            6 => {
                self.now += duration(r.u8());
                self.conn.handle_timeout(self.now);
            }
            7 => {
                // Jump to the next timer, as an adapter would.
                if let Some(t) = self.conn.poll_timeout() {
                    self.now = self.now.max(t);
                }
                self.conn.handle_timeout(self.now);
            }
            8 | 9 => self.start(op, r),
            10 => {
                let b = r.u8();
                let v = r.u16();
                let len = usize::from(v >> 2);
                if let Some(call) = self.pick(b) {
                    // The low bit: this message uncompressed.
                    let _ = self.conn.send_message_with(call, body(len), v & 1 == 0);
                }
            }
            11 => {
                if let Some(call) = self.pick(r.u8()) {
                    let _ = self.conn.half_close(call);
                }
            }
            12 => {
                if let Some(call) = self.pick(r.u8()) {
                    self.conn.cancel(call);
                }
            }
            13 => {
                if let Some(call) = self.pick(r.u8()) {
                    let held = self.live.get_mut(&call).expect("live");
                    let n = std::mem::take(held);
                    self.conn.release_capacity(call, n);
                }
            }
            14 => match op >> 4 {
                0..=7 => {
                    let _ = self.conn.ping(self.now);
                }
                _ => self.conn.shutdown(self.now),
            },
            _ => self.conn.receive_eof(self.now),
        }
        // Actions on calls that have ended are refused, never a panic.
        if op & 0x80 != 0 {
            let n = self.finished.len();
            if let Some(&call) = self.finished.iter().nth(usize::from(op & 0x0f) % n.max(1)) {
                assert!(self.conn.send_message(call, Bytes::new()).is_err());
                assert!(self.conn.half_close(call).is_err());
                self.conn.cancel(call);
            }
        }
    }
}

/// Runs one fuzz input. Panics on any broken invariant.
pub fn run(data: &[u8]) {
    let mut r = Reader { data };
    let flags = r.u8();
    let mut config = ClientConfig::default();
    config.compression = registry();
    if flags & 8 != 0 {
        config.h2.initial_stream_window = 1024;
        config.h2.connection_window = 4096;
        config.h2.max_send_buffer = 2048;
        config.h2.max_connection_send_buffer = 5000;
        config.max_receive_message_size = 3000;
        config.max_receive_memory = 4000;
        config.max_pending_calls = 4;
    }
    let now = origin();
    let mut h = Harness {
        conn: ClientConnection::new(config, now),
        now,
        live: BTreeMap::new(),
        finished: BTreeSet::new(),
        closed_events: 0,
        eager_release: flags & 4 != 0,
        sent: BytesMut::new(),
        preface_seen: false,
        decoder: FrameDecoder::new(),
    };
    h.decoder.set_max_frame_size(MAX_MAX_FRAME_SIZE);
    if flags & 1 != 0 {
        let _ = h.conn.receive(SERVER_SETTINGS, now);
        if flags & 2 != 0 {
            let _ = h.conn.receive(SETTINGS_ACK, now);
        }
    }
    h.transmit();
    h.events();
    let mut ops = 0;
    while !r.is_empty() && ops < 2000 {
        ops += 1;
        h.act(&mut r);
        h.transmit();
        h.events();
    }
    // The end: the transport goes away; every call finishes.
    h.conn.receive_eof(h.now);
    h.transmit();
    h.events();
    assert!(h.conn.is_closed(), "end of file closes the connection");
    assert!(
        h.live.is_empty(),
        "calls left without Finished after the connection closed"
    );
    assert_eq!(h.conn.active_calls(), 0);
}
