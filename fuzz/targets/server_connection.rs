//! The body of the `server_connection` fuzz target, shared by the
//! cargo-fuzz binary and by the corpus replay test in the `tests` crate.
//!
//! A [`ServerConnection`] is driven through its public API by a script read
//! from the input: chunks of peer bytes, virtual-clock advances, the
//! handler's actions on the calls that exist, shutdown and end of file.
//!
//! Input layout: one flags octet, then operations until the input ends.
//! - flags bit 0: feed a valid client preface and empty SETTINGS first;
//!   bit 1: also acknowledge our SETTINGS; bit 2: the handler gives flow
//!   control back as soon as a message arrives; bits 3-4: the stream limit
//!   we advertise (1, 2, 8 or 100); bit 5: small windows and send buffers.
//! - each operation is an opcode octet and its operands (see [`run`]).
//!
//! Invariants: no panic; every frame we send decodes; `active_calls()`
//! never exceeds the advertised stream limit and always equals the calls
//! the events say are live; events only name live calls; call ids are
//! never reused; once the connection is closed, exactly one `Closed` event
//! comes and nothing after it.
#![allow(unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use grpc_sansio::call::{CallId, CallKind};
use grpc_sansio::frame::{FrameDecoder, MAX_MAX_FRAME_SIZE};
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::server::{ServerConfig, ServerConnection, ServerEvent};

/// The client connection preface followed by an empty SETTINGS frame.
const CLIENT_PREFACE_AND_SETTINGS: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
/// A SETTINGS acknowledgement.
const SETTINGS_ACK: &[u8] = b"\x00\x00\x00\x04\x01\x00\x00\x00\x00";

use super::script::{Reader, body, duration, kind, origin, registry};

/// What the harness knows from the events so far.
struct Model {
    /// Live calls and the flow-control credit their messages hold.
    live: BTreeMap<CallId, u32>,
    /// Every call id ever started.
    seen: BTreeSet<CallId>,
    closed_events: usize,
    eager_release: bool,
}

struct Harness {
    conn: ServerConnection,
    model: Model,
    now: Instant,
    max_streams: usize,
    /// What we have sent and not yet decoded.
    sent: BytesMut,
    decoder: FrameDecoder,
}

impl Harness {
    fn pick(&self, b: u8) -> Option<CallId> {
        let n = self.model.live.len();
        (n > 0).then(|| {
            *self
                .model
                .live
                .keys()
                .nth(usize::from(b) % n)
                .expect("in range")
        })
    }

    /// Drain what we send and check that it is a sequence of valid frames.
    fn transmit(&mut self) {
        let mut rounds = 0;
        while self.conn.poll_transmit(&mut self.sent) > 0 {
            rounds += 1;
            assert!(rounds < 100_000, "poll_transmit never runs dry");
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
            assert_eq!(self.model.closed_events, 0, "event after Closed: {ev:?}");
            match ev {
                ServerEvent::CallStarted { call, .. } => {
                    assert!(self.model.seen.insert(call), "call id reused: {call}");
                    self.model.live.insert(call, 0);
                }
                ServerEvent::Message {
                    call,
                    flow_len,
                    message,
                } => {
                    // Taken as an application would: inflated now. A
                    // hostile peer's may fail, but must not panic.
                    let _ = message.decompress();
                    let held = self
                        .model
                        .live
                        .get_mut(&call)
                        .unwrap_or_else(|| panic!("message for a call not live: {call}"));
                    if self.model.eager_release {
                        self.conn.release_capacity(call, flow_len);
                    } else {
                        *held = held.saturating_add(flow_len);
                    }
                }
                ServerEvent::HalfClosed { call } | ServerEvent::Writable { call } => {
                    assert!(
                        self.model.live.contains_key(&call),
                        "event for a call not live: {call}"
                    );
                }
                ServerEvent::Cancelled { call, .. } => {
                    let held = self
                        .model
                        .live
                        .remove(&call)
                        .unwrap_or_else(|| panic!("cancel of a call not live: {call}"));
                    // The application gives back what it held.
                    self.conn.release_capacity(call, held);
                }
                ServerEvent::Closed { .. } => {
                    self.model.closed_events += 1;
                    assert!(self.model.live.is_empty(), "Closed with calls still live");
                }
                other => panic!("unexpected event {other:?}"),
            }
        }
        assert_eq!(
            self.conn.active_calls(),
            self.model.live.len(),
            "active_calls() disagrees with the events"
        );
        assert!(
            self.conn.active_calls() <= self.max_streams,
            "more calls than the advertised stream limit"
        );
        if self.conn.active_calls() == 0 {
            assert_eq!(
                self.conn.receive_memory_charged(),
                0,
                "received memory charged with no call in progress"
            );
        }
        assert_eq!(
            self.conn.is_closed(),
            self.model.closed_events == 1,
            "is_closed() disagrees with the Closed event"
        );
    }

    fn act(&mut self, r: &mut Reader<'_>) {
        let op = r.u8();
        match op % 16 {
            // Peer bytes: the most common operation.
            0..=6 => {
                let n = match op >> 4 {
                    0 => usize::from(r.u16()),
                    k => usize::from(k) * 8,
                };
                let chunk = r.bytes(n);
                let _ = self.conn.receive(chunk, self.now);
            }
            7 => {
                self.now += duration(r.u8());
                self.conn.handle_timeout(self.now);
            }
            8 => {
                // Jump to the next timer, as an adapter would.
                if let Some(t) = self.conn.poll_timeout() {
                    self.now = self.now.max(t);
                }
                self.conn.handle_timeout(self.now);
            }
            9 => {
                if let Some(call) = self.pick(r.u8()) {
                    let mut md = MetadataMap::new();
                    if op & 0x10 != 0 {
                        let _ = md.append("x-fuzz", "1");
                        let _ = md.append_bin("x-fuzz-bin", Bytes::from_static(b"\x00\xff"));
                    }
                    let _ = self.conn.send_headers(call, md);
                }
            }
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
                let b = r.u8();
                let code = Code::from_i32(i32::from(r.u8() % 20));
                if let Some(call) = self.pick(b) {
                    let mut trailers = MetadataMap::new();
                    if op & 0x10 != 0 {
                        let _ = trailers.append("x-trailer", "t");
                    }
                    let status = Status::new(code, "fuzz status \u{7f} é");
                    // With a reply message, sent whole.
                    let sent = if op & 0x20 != 0 {
                        let reply = body(usize::from(op >> 6) * 700);
                        self.conn.send_response(call, reply, status, trailers)
                    } else {
                        self.conn.send_status(call, status, trailers)
                    };
                    if sent.is_ok() {
                        let held = self.model.live.remove(&call).expect("live");
                        self.conn.release_capacity(call, held);
                    }
                }
            }
            12 => {
                if let Some(call) = self.pick(r.u8()) {
                    let held = self.model.live.get_mut(&call).expect("live");
                    let n = std::mem::take(held);
                    self.conn.release_capacity(call, n);
                }
            }
            13 => {
                let b = r.u8();
                if let Some(call) = self.pick(b) {
                    let _ = self.conn.set_call_kind(call, kind(b >> 4));
                    if op & 0x10 != 0 {
                        let _ = self.conn.set_send_compression(call, "gzip");
                    }
                }
            }
            14 => self.conn.shutdown(self.now),
            _ => self.conn.receive_eof(self.now),
        }
        // Actions on calls that have ended are refused, never a panic.
        if op & 0x80 != 0 {
            let ended: Vec<CallId> = self
                .model
                .seen
                .iter()
                .filter(|c| !self.model.live.contains_key(c))
                .copied()
                .collect();
            if let Some(&call) = ended.get(usize::from(op & 0x0f) % ended.len().max(1)) {
                assert!(self.conn.send_headers(call, MetadataMap::new()).is_err());
                assert!(self.conn.send_message(call, Bytes::new()).is_err());
                assert!(
                    self.conn
                        .send_status(call, Status::ok(), MetadataMap::new())
                        .is_err()
                );
                assert!(
                    self.conn
                        .send_response(call, Bytes::new(), Status::ok(), MetadataMap::new())
                        .is_err()
                );
                assert!(self.conn.set_call_kind(call, CallKind::Unary).is_err());
            }
        }
    }
}

/// Runs one fuzz input. Panics on any broken invariant.
pub fn run(data: &[u8]) {
    let mut r = Reader { data };
    let flags = r.u8();
    let max_streams = [1u32, 2, 8, 100][usize::from((flags >> 3) & 3)];
    let mut config = ServerConfig::default();
    config.compression = registry();
    config.h2.max_concurrent_streams = max_streams;
    if flags & 0x20 != 0 {
        config.h2.initial_stream_window = 1024;
        config.h2.connection_window = 4096;
        config.h2.max_send_buffer = 2048;
        config.h2.max_connection_send_buffer = 5000;
        config.max_receive_message_size = 3000;
        config.max_receive_memory = 4000;
    }
    let now = origin();
    let mut h = Harness {
        conn: ServerConnection::new(config, now),
        model: Model {
            live: BTreeMap::new(),
            seen: BTreeSet::new(),
            closed_events: 0,
            eager_release: flags & 4 != 0,
        },
        now,
        max_streams: max_streams as usize,
        sent: BytesMut::new(),
        decoder: FrameDecoder::new(),
    };
    h.decoder.set_max_frame_size(MAX_MAX_FRAME_SIZE);
    if flags & 1 != 0 {
        let _ = h.conn.receive(CLIENT_PREFACE_AND_SETTINGS, now);
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
    // The end: the transport goes away; everything ends.
    h.conn.receive_eof(h.now);
    h.transmit();
    h.events();
    assert!(h.conn.is_closed(), "end of file closes the connection");
    assert!(h.model.live.is_empty());
}
