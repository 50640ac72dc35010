//! One client connection: the core's [`ClientConnection`] and the
//! receive-side state of each call, behind the connection's lock.

use crate::io::{Signal, wait};
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use grpc_sansio::call::{CallId, CallIdMap, Received};
use grpc_sansio::client::{ChannelKeepalive, ClientConfig, ClientConnection, ClientEvent};
use grpc_sansio::grpc::Status;
use grpc_sansio::grpc::metadata::MetadataMap;

use crate::io::{Machine, Shared, WriteState, start};
use crate::transport::Transport;

/// What a call has received and not yet handed to the application.
///
/// `messages` is bounded by flow control: the core holds a message's
/// bytes against the stream and connection windows until
/// [`ClientConnection::release_capacity`], which we call when the
/// application takes the message. So at most the stream window's worth of
/// messages waits here.
pub(crate) struct Slot {
    pub(crate) cv: Arc<Signal>,
    pub(crate) headers: Option<MetadataMap>,
    /// Each message (still compressed if it arrived so) with its
    /// flow-control credit.
    pub(crate) messages: VecDeque<(Received, u32)>,
    /// Whether the message last handed to the application arrived
    /// compressed.
    pub(crate) last_compressed: Option<bool>,
    pub(crate) end: Option<(Status, MetadataMap)>,
    pub(crate) writable: bool,
}

pub(crate) struct ClientMachine {
    pub(crate) conn: ClientConnection,
    pub(crate) calls: CallIdMap<Slot>,
    /// Cleared once the connection can take no new calls (GOAWAY, closed),
    /// read by the channel without taking this lock.
    usable: Arc<AtomicBool>,
    write: WriteState,
    /// Woken when the handshake ends (the server acknowledged our
    /// SETTINGS) or the connection does.
    handshake: Arc<Signal>,
    /// The channel's keepalive interval for new connections.
    keepalive: Arc<ChannelKeepalive>,
    /// This connection's keepalive interval.
    interval: Option<Duration>,
    /// Why reading the transport failed, if it did (a TLS alert, such as
    /// the server's refusal of our certificate).
    read_error: Option<String>,
}

impl ClientMachine {
    /// Register a call just started so that its events are kept.
    pub(crate) fn add_call(&mut self, call: CallId) -> Arc<Signal> {
        let cv = Arc::new(Signal::new());
        self.calls.insert(
            call,
            Slot {
                cv: Arc::clone(&cv),
                headers: None,
                messages: VecDeque::new(),
                last_compressed: None,
                end: None,
                writable: false,
            },
        );
        self.process_events();
        cv
    }

    /// The application is done with the call: forget it, give back the
    /// flow-control credit of what it did not read, and cancel it if it
    /// has not ended (RST_STREAM CANCEL).
    pub(crate) fn drop_call(&mut self, call: CallId) {
        self.discard_messages(call);
        if let Some(slot) = self.calls.remove(&call) {
            if slot.end.is_none() {
                self.conn.cancel(call);
            }
        }
        self.process_events();
    }

    /// Drop the messages of `call` not read yet, giving their
    /// flow-control credit back; whether there were any.
    pub(crate) fn discard_messages(&mut self, call: CallId) -> bool {
        let Some(slot) = self.calls.get_mut(&call) else {
            return false;
        };
        let unread = std::mem::take(&mut slot.messages);
        let any = !unread.is_empty();
        for (_, flow) in unread {
            self.conn.release_capacity(call, flow);
        }
        any
    }

    fn update_usable(&self) {
        if !self.conn.accepts_calls() {
            self.usable.store(false, Ordering::Release);
        }
    }
}

impl Machine for ClientMachine {
    type Held = ();

    fn receive(&mut self, bytes: &[u8], now: Instant) {
        // A connection error finishes every call; the events say so.
        let _ = self.conn.receive(bytes, now);
    }

    fn receive_eof(&mut self, now: Instant) {
        self.conn.receive_eof(now);
    }

    fn read_failed(&mut self, error: &io::Error) {
        self.read_error.get_or_insert_with(|| error.to_string());
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> usize {
        self.conn.poll_transmit(out)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.conn.handle_timeout(now);
    }

    fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    fn has_output(&self) -> bool {
        self.conn.has_output()
    }

    fn crowded(&self) -> bool {
        self.calls.len() > 1
    }

    fn write_state(&mut self) -> &mut WriteState {
        &mut self.write
    }

    fn process_events(&mut self) {
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                ClientEvent::Headers { call, metadata } => {
                    if let Some(s) = self.calls.get_mut(&call) {
                        s.headers = Some(metadata);
                        s.cv.notify_all();
                    }
                }
                ClientEvent::Message {
                    call,
                    message,
                    flow_len,
                } => match self.calls.get_mut(&call) {
                    Some(s) => {
                        s.messages.push_back((message, flow_len));
                        s.cv.notify_all();
                    }
                    None => self.conn.release_capacity(call, flow_len),
                },
                ClientEvent::Finished {
                    call,
                    status,
                    trailers,
                } => {
                    if let Some(s) = self.calls.get_mut(&call) {
                        // A call ended here first (a response that did not
                        // decompress) keeps that reason.
                        s.end.get_or_insert((status, trailers));
                        s.cv.notify_all();
                    }
                }
                ClientEvent::Writable { call } => {
                    if let Some(s) = self.calls.get_mut(&call) {
                        s.writable = true;
                        s.cv.notify_all();
                    }
                }
                ClientEvent::GoAway { code, debug_data } => {
                    self.keepalive.on_goaway(self.interval, code, &debug_data);
                    self.usable.store(false, Ordering::Release);
                    self.handshake.notify_all();
                }
                ClientEvent::Closed { .. } => {
                    self.usable.store(false, Ordering::Release);
                    self.handshake.notify_all();
                }
                ClientEvent::Ready => self.handshake.notify_all(),
                _ => {}
            }
        }
        self.update_usable();
    }
}

/// A connection of a channel.
pub(crate) struct ClientConn {
    pub(crate) shared: Arc<Shared<ClientMachine>>,
    usable: Arc<AtomicBool>,
    handshake: Arc<Signal>,
}

impl ClientConn {
    /// Run a client connection over `transport`, pinging at the
    /// channel's `keepalive` interval (which a GOAWAY "too_many_pings"
    /// raises).
    pub(crate) fn open(
        transport: Box<dyn Transport>,
        mut config: ClientConfig,
        keepalive: &Arc<ChannelKeepalive>,
    ) -> io::Result<Self> {
        config.h2.keepalive_interval = keepalive.interval();
        let interval = config.h2.keepalive_interval;
        let parts = transport.into_parts()?;
        let usable = Arc::new(AtomicBool::new(true));
        let handshake = Arc::new(Signal::new());
        let machine = ClientMachine {
            conn: ClientConnection::new(config, Instant::now()),
            calls: CallIdMap::default(),
            usable: Arc::clone(&usable),
            write: WriteState::default(),
            handshake: Arc::clone(&handshake),
            keepalive: Arc::clone(keepalive),
            interval,
            read_error: None,
        };
        let shared = Shared::new(machine, parts.writer, parts.closer, "grpc-client");
        start(&shared, parts.reader)?;
        Ok(ClientConn {
            shared,
            usable,
            handshake,
        })
    }

    /// Wait until the server has acknowledged our SETTINGS (the
    /// connection is then READY, as grpc-go and the tokio adapter have
    /// it), until the connection ends, or until `until`.
    pub(crate) fn wait_handshake(&self, until: Instant) -> io::Result<()> {
        let mut g = self.shared.lock();
        loop {
            if g.conn.is_ready() {
                return Ok(());
            }
            if g.conn.is_closed() {
                let what = "the connection ended during the HTTP/2 handshake";
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    match &g.read_error {
                        Some(e) => format!("{what}: {e}"),
                        None => what.to_string(),
                    },
                ));
            }
            if Instant::now() >= until {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the server did not complete the HTTP/2 handshake in time",
                ));
            }
            g = wait(&self.handshake, g, Some(until));
        }
    }

    /// New calls may start here.
    pub(crate) fn is_usable(&self) -> bool {
        self.usable.load(Ordering::Acquire)
    }

    /// Close at once: the transport goes, the threads end.
    pub(crate) fn close(&self) {
        self.usable.store(false, Ordering::Release);
        self.shared.close_transport();
    }

    /// Graceful close: GOAWAY, calls in progress finish, then the
    /// transport closes.
    pub(crate) fn shutdown(&self) {
        self.usable.store(false, Ordering::Release);
        let mut g = self.shared.lock();
        g.conn.shutdown(Instant::now());
        g.process_events();
        drop(g);
        self.shared.wake_writer();
    }
}
