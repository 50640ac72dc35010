//! The task that owns one client connection: it feeds the transport's
//! bytes and the application's commands to [`ClientConnection`] and hands
//! the connection's events to the calls. No protocol rule lives here.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio::call::{CallError, CallId, CallIdMap, Received};
use grpc_sansio::client::{
    CallOptions as CoreOptions, ChannelKeepalive, ClientConnection, ClientEvent,
};
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::call_error_status;
use crate::sync::{Control, Inbox, Pending, lock};
use crate::transport::{Io, Transport, Wake};

/// Commands a connection takes from its calls (bounded channel).
pub(crate) const COMMAND_QUEUE: usize = 64;

/// What a call receives from its connection.
#[derive(Debug)]
pub(crate) enum Item {
    Headers(MetadataMap),
    /// A message (still compressed if it arrived so) and its
    /// flow-control credit.
    Message(Received, u32),
    Finished(Status, MetadataMap),
}

impl Item {
    /// The flow-control credit the item holds (a message's).
    pub(crate) fn credit(&self) -> Option<u32> {
        match self {
            Item::Message(_, flow) => Some(*flow),
            _ => None,
        }
    }
}

/// What a call shares with the driver.
#[derive(Debug)]
pub(crate) struct CallShared {
    pub(crate) inbox: Inbox<Item>,
    /// The call's status once it has finished.
    pub(crate) outcome: Mutex<Option<Status>>,
}

impl CallShared {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(CallShared {
            inbox: Inbox::new(),
            outcome: Mutex::new(None),
        })
    }

    pub(crate) fn outcome(&self) -> Option<Status> {
        lock(&self.outcome).clone()
    }
}

type Reply<T> = oneshot::Sender<T>;
/// A send the core refused with Blocked: the message, whether it ends the
/// requests, and who waits for the outcome.
/// A message the core refused with Blocked: the message, whether it
/// ends the requests, whether it is compressed (if the call compresses),
/// and who waits for it.
type BlockedSend = (Bytes, bool, bool, Reply<Result<(), Status>>);

pub(crate) enum Cmd {
    Start {
        path: String,
        options: CoreOptions,
        /// The first request message, and whether it is also the last.
        first: Option<Bytes>,
        end: bool,
        shared: Arc<CallShared>,
        reply: Reply<Result<CallId, CallError>>,
    },
    Send {
        call: CallId,
        message: Bytes,
        end: bool,
        /// False: this message goes uncompressed even if the call
        /// compresses.
        compress: bool,
        reply: Reply<Result<(), Status>>,
    },
}

/// The life of a connection, as its channel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnState {
    /// Transport up, SETTINGS not yet acknowledged.
    Handshaking,
    /// Calls may start.
    Ready,
    /// GOAWAY received or sent: calls in progress go on, new ones go
    /// elsewhere.
    Draining,
    /// Over, with the reason.
    Closed(String),
}

/// A handle on a running connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnHandle {
    pub(crate) cmds: mpsc::Sender<Cmd>,
    pub(crate) control: Arc<Control>,
    pub(crate) state: watch::Receiver<ConnState>,
}

impl ConnHandle {
    /// Start a driver task for `conn` over `io`.
    /// Drive `conn` over `io`; it pings every `interval` (its keepalive
    /// setting), and a GOAWAY "too_many_pings" raises `keepalive`.
    pub(crate) fn spawn<T: Io>(
        conn: ClientConnection,
        io: T,
        keepalive: Arc<ChannelKeepalive>,
        interval: Option<Duration>,
    ) -> ConnHandle {
        let (cmds, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (control, bell) = Control::new();
        let control = Arc::new(control);
        let (state_tx, state) = watch::channel(ConnState::Handshaking);
        let driver = Driver {
            conn,
            calls: CallIdMap::default(),
            control: control.clone(),
            state: state_tx,
            shutting_down: false,
            keepalive,
            interval,
        };
        tokio::spawn(driver.run(Transport::new(io), cmd_rx, bell));
        ConnHandle {
            cmds,
            control,
            state,
        }
    }
}

/// The most commands taken in one go before output is written.
const MAX_BATCH: usize = 256;

struct Slot {
    shared: Arc<CallShared>,
    /// A message the core refused with Blocked, sent again on Writable.
    blocked: Option<BlockedSend>,
    /// The application has given the call up (dropped or cancelled it):
    /// responses that still arrive give their credit back at once.
    given_up: bool,
}

struct Driver {
    conn: ClientConnection,
    calls: CallIdMap<Slot>,
    control: Arc<Control>,
    state: watch::Sender<ConnState>,
    shutting_down: bool,
    /// The channel's keepalive interval for new connections.
    keepalive: Arc<ChannelKeepalive>,
    /// This connection's keepalive interval.
    interval: Option<Duration>,
}

impl Driver {
    async fn run<T: Io>(
        mut self,
        mut t: Transport<T>,
        mut cmds: mpsc::Receiver<Cmd>,
        mut bell: mpsc::Receiver<()>,
    ) {
        let mut p = Pending::default();
        let reason = loop {
            self.control.take_into(&mut p);
            if p.abort {
                break "connection aborted by the channel".to_string();
            }
            if p.shutdown {
                self.shutdown();
            }
            for (call, n) in p.released.drain() {
                self.conn.release_capacity(call, n);
            }
            for call in p.half_closed.drain() {
                // A send given up while blocked is dropped by
                // `retry_blocked`, never sent after this end.
                let _ = self.conn.half_close(call);
            }
            for call in p.cancelled.drain() {
                // The application has given the call up: the responses
                // nobody will read give their credit back.
                if let Some(s) = self.calls.get_mut(&call) {
                    s.given_up = true;
                    let credit = s.shared.inbox.drain_credit(Item::credit);
                    self.conn.release_capacity(call, credit);
                }
                self.conn.cancel(call);
            }
            // Events can make output and output can make events: settle.
            loop {
                let had = self.events();
                t.gather(|b| self.conn.poll_transmit(b));
                if !had && !self.events() {
                    break;
                }
            }
            // What ended reading, if it failed (a TLS alert, such as the
            // server's refusal of our certificate), says more than that
            // the connection closed.
            let why = |what: &str, t: &Transport<T>| match t.read_error() {
                Some(e) => format!("{what}: {e}"),
                None => what.to_string(),
            };
            if self.conn.is_closed() {
                t.close().await;
                break why("connection closed", &t);
            }
            if t.is_dead() {
                break why("transport closed", &t);
            }
            let wake = t
                .wait(Some(&mut cmds), &mut bell, self.conn.poll_timeout())
                .await;
            match wake {
                Wake::Read(n) => {
                    let _ = self.conn.receive(t.read_buf(n), Instant::now());
                }
                Wake::Eof => self.conn.receive_eof(Instant::now()),
                Wake::Wrote | Wake::Bell => {}
                Wake::Timer => self.conn.handle_timeout(Instant::now()),
                Wake::Cmd(cmd) => {
                    self.command(cmd);
                    // Batch: take what other calls have queued, let those
                    // that are ready run once and take theirs too, so that
                    // one write carries many requests.
                    self.drain(&mut cmds);
                    if !self.calls.is_empty() {
                        tokio::task::yield_now().await;
                        self.drain(&mut cmds);
                    }
                }
            }
            if !self.shutting_down && !self.conn.accepts_calls() && self.conn.is_ready() {
                // Out of stream identifiers (or going away): the channel
                // moves new calls to a new connection; these finish here.
                self.state.send_if_modified(|s| {
                    let was_ready = matches!(s, ConnState::Ready);
                    if was_ready {
                        *s = ConnState::Draining;
                    }
                    was_ready
                });
            }
            if cmds.is_closed() && self.conn.active_calls() == 0 {
                // Nobody can start a call here any more.
                self.shutdown();
            }
        };
        let _ = self.events();
        // Calls still here never got their Finished (the core was dropped
        // with them open): end them.
        for (_, slot) in self.calls.drain() {
            finish(
                &slot,
                Status::new(Code::Unavailable, reason.clone()),
                MetadataMap::new(),
            );
        }
        let _ = self.state.send(ConnState::Closed(reason));
    }

    fn shutdown(&mut self) {
        if !self.shutting_down {
            self.shutting_down = true;
            self.conn.shutdown(Instant::now());
            let _ = self.state.send(ConnState::Draining);
        }
    }

    /// Handle the commands already queued, at most [`MAX_BATCH`].
    fn drain(&mut self, cmds: &mut mpsc::Receiver<Cmd>) {
        for _ in 0..MAX_BATCH {
            match cmds.try_recv() {
                Ok(cmd) => self.command(cmd),
                Err(_) => return,
            }
        }
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Start {
                path,
                options,
                first,
                end,
                shared,
                reply,
            } => {
                let r = self.start(&path, options, first, end, shared);
                if let Err(Ok(call)) = reply.send(r) {
                    // The caller went away before it heard of its call.
                    self.calls.remove(&call);
                    self.conn.cancel(call);
                }
            }
            Cmd::Send {
                call,
                message,
                end,
                compress,
                reply,
            } => self.send(call, message, end, compress, reply),
        }
    }

    fn start(
        &mut self,
        path: &str,
        options: CoreOptions,
        first: Option<Bytes>,
        end: bool,
        shared: Arc<CallShared>,
    ) -> Result<CallId, CallError> {
        let call = match first {
            // The whole request at once: one HEADERS and one DATA frame.
            Some(m) if end => {
                self.conn
                    .start_call_with_message(path, options, m, Instant::now())?
            }
            first => {
                let call = self.conn.start_call(path, options, Instant::now())?;
                if let Some(m) = first {
                    if let Err(e) = self.conn.send_message(call, m) {
                        // The call is not registered yet, so the Finished
                        // the cancel makes is dropped: the caller gets `e`.
                        self.conn.cancel(call);
                        return Err(e);
                    }
                }
                if end {
                    let _ = self.conn.half_close(call);
                }
                call
            }
        };
        self.calls.insert(
            call,
            Slot {
                shared,
                blocked: None,
                given_up: false,
            },
        );
        Ok(call)
    }

    fn send(
        &mut self,
        call: CallId,
        message: Bytes,
        end: bool,
        compress: bool,
        reply: Reply<Result<(), Status>>,
    ) {
        let Some(slot) = self.calls.get_mut(&call) else {
            let _ = reply.send(Err(Status::new(
                Code::Cancelled,
                "the call has already finished",
            )));
            return;
        };
        if reply.is_closed() {
            // Given up before it was taken: not sent.
            return;
        }
        if slot.blocked.as_ref().is_some_and(|b| b.3.is_closed()) {
            // The send waiting here was given up by its caller (its
            // future dropped): its message is not sent, and this one
            // takes its place.
            slot.blocked = None;
        }
        if slot.blocked.is_some() {
            let _ = reply.send(Err(Status::new(
                Code::Internal,
                "a send is already in progress on this call",
            )));
            return;
        }
        match self.conn.send_message_with(call, message.clone(), compress) {
            Ok(()) => {
                if end {
                    let _ = self.conn.half_close(call);
                }
                let _ = reply.send(Ok(()));
            }
            Err(CallError::Blocked(_)) => slot.blocked = Some((message, end, compress, reply)),
            Err(e @ (CallError::MessageTooLarge { .. } | CallError::Compression(_))) => {
                // The message cannot go, and the call must not go on
                // without it: it ends here, with this status on both
                // halves, and the server sees it cancelled.
                let status = call_error_status(&e);
                if let Some(slot) = self.calls.remove(&call) {
                    finish(&slot, status.clone(), MetadataMap::new());
                }
                self.conn.cancel(call);
                let _ = reply.send(Err(status));
            }
            Err(e) => {
                let _ = reply.send(Err(call_error_status(&e)));
            }
        }
    }

    /// Hand the connection's events out. Returns whether there were any.
    fn events(&mut self) -> bool {
        let mut any = false;
        while let Some(ev) = self.conn.poll_event() {
            any = true;
            match ev {
                ClientEvent::Ready if !self.shutting_down => {
                    let _ = self.state.send(ConnState::Ready);
                }
                ClientEvent::GoAway { code, debug_data } => {
                    self.keepalive.on_goaway(self.interval, code, &debug_data);
                    let _ = self.state.send(ConnState::Draining);
                }
                ClientEvent::Headers { call, metadata } => {
                    if let Some(s) = self.calls.get(&call) {
                        s.shared.inbox.push(Item::Headers(metadata));
                    }
                }
                ClientEvent::Message {
                    call,
                    message,
                    flow_len,
                } => match self.calls.get(&call) {
                    Some(s) if !s.given_up => s.shared.inbox.push(Item::Message(message, flow_len)),
                    // Nobody will read it: the credit goes back now.
                    _ => self.conn.release_capacity(call, flow_len),
                },
                ClientEvent::Finished {
                    call,
                    status,
                    trailers,
                } => {
                    if let Some(slot) = self.calls.remove(&call) {
                        finish(&slot, status, trailers);
                        if let Some((_, _, _, reply)) = slot.blocked {
                            let _ = reply.send(Err(slot.shared.outcome().unwrap_or_else(|| {
                                Status::new(Code::Cancelled, "the call has finished")
                            })));
                        }
                    }
                }
                ClientEvent::Writable { call } => self.retry_blocked(call),
                _ => {}
            }
        }
        any
    }

    fn retry_blocked(&mut self, call: CallId) {
        let Some(slot) = self.calls.get_mut(&call) else {
            return;
        };
        let Some((message, end, compress, reply)) = slot.blocked.take() else {
            return;
        };
        if reply.is_closed() {
            // Its caller gave up waiting: the message is not sent.
            return;
        }
        self.send(call, message, end, compress, reply);
    }
}

impl Drop for Driver {
    /// A driver dropped before its end (its runtime is gone) gives its
    /// calls their Finished all the same: a call waiting from another
    /// runtime would otherwise wait for ever, its deadline being this
    /// task's to enforce. (At the end of `run` no call is left here.)
    fn drop(&mut self) {
        for (_, slot) in self.calls.drain() {
            finish(
                &slot,
                Status::new(Code::Unavailable, "connection task gone with its runtime"),
                MetadataMap::new(),
            );
        }
    }
}

fn finish(slot: &Slot, status: Status, trailers: MetadataMap) {
    *lock(&slot.shared.outcome) = Some(status.clone());
    slot.shared.inbox.push(Item::Finished(status, trailers));
    slot.shared.inbox.close();
}
