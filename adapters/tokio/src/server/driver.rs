//! The task that owns one server connection: it feeds the transport's
//! bytes to [`ServerConnection`], starts a handler task per call (on a
//! one-worker runtime, after polling the handler once itself), and
//! carries the handlers' responses back. No protocol rule lives here.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use grpc_sansio::call::{CallError, CallId, CallIdMap, Received};
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::server::{CancelReason, RequestHead, ServerConnection, ServerEvent};
use tokio::sync::{mpsc, oneshot};

use super::Peer;
use tokio::task::AbortHandle;

use super::Inner;
use super::call::{RawRequests, RawResponder};
use super::context::{CancelState, RequestContext};
use super::routes::ServerCall;
use crate::error::call_error_status;
use crate::sync::{Control, Inbox, Pending, lock};
use crate::transport::{Io, Transport, Wake};

/// How long a handler may run on after its connection ended (it is told
/// through its cancellation signal) before it is aborted.
const HANDLER_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

/// The fewest orphaned handler tasks kept before finished ones are
/// dropped from the list.
const ORPHANS_PRUNE_MIN: usize = 16;

/// Commands a connection takes from its handlers (bounded channel).
const COMMAND_QUEUE: usize = 64;

/// What a handler receives.
#[derive(Debug)]
pub(crate) enum SItem {
    /// A message (still compressed if it arrived so) and its
    /// flow-control credit.
    Message(Received, u32),
    End,
    Cancelled(CancelReason),
}

impl SItem {
    /// The flow-control credit the item holds (a message's).
    pub(crate) fn credit(&self) -> Option<u32> {
        match self {
            SItem::Message(_, flow) => Some(*flow),
            _ => None,
        }
    }
}

type Reply = oneshot::Sender<Result<(), Status>>;

/// The most handler commands taken in one go before output is written.
const MAX_BATCH: usize = 256;

pub(crate) enum SCmd {
    Headers {
        call: CallId,
        metadata: Box<MetadataMap>,
        reply: Reply,
    },
    Message {
        call: CallId,
        message: Bytes,
        /// False: this message goes uncompressed even if the call
        /// compresses.
        compress: bool,
        reply: Reply,
    },
    /// The status ends the call (boxed: every connection's command queue
    /// holds a block of commands, so they are kept small).
    Status {
        call: CallId,
        end: Box<(Status, MetadataMap)>,
    },
    /// A whole response in one command: headers (if any), one message,
    /// then the status; nobody waits for an answer.
    Reply(Box<WholeReply>),
}

/// What [`SCmd::Reply`] carries.
pub(crate) struct WholeReply {
    pub(crate) call: CallId,
    pub(crate) headers: Option<MetadataMap>,
    pub(crate) message: Bytes,
    pub(crate) status: Status,
    pub(crate) trailers: MetadataMap,
}

/// How a send went.
enum Sent {
    /// Queued in the core.
    Out,
    /// Waiting for the core's Writable.
    Blocked,
    /// Refused; the status says why.
    Refused(Status),
}

struct Slot {
    inbox: Arc<Inbox<SItem>>,
    cancel: Arc<CancelState>,
    /// A message the core refused with Blocked, sent again on Writable;
    /// the handler waiting on it, if one is.
    blocked: Option<(Bytes, bool, Option<Reply>)>,
    /// The status of a whole-response command, sent once the blocked
    /// message is out.
    then: Option<(Status, MetadataMap)>,
    task: Option<AbortHandle>,
    /// No response command has come yet (the handler's choice of
    /// compression is looked at once, with the first).
    first_response: bool,
}

pub(crate) struct Driver {
    conn: ServerConnection,
    server: Arc<Inner>,
    peer: Peer,
    calls: CallIdMap<Slot>,
    control: Arc<Control>,
    /// The handlers' command queue, made with the first call (an idle
    /// connection holds none); the receiver goes to the run loop.
    cmds: Option<mpsc::Sender<SCmd>>,
    new_rx: Option<mpsc::Receiver<SCmd>>,
    shutting_down: bool,
    /// On a runtime with one worker, a handler's first poll runs here,
    /// in the connection's task, after the events that started it: a
    /// handler that answers at once (most unary ones) then costs no task
    /// and no wake-ups, and its reply leaves in this turn's write. (With
    /// more workers, spawning lets the calls of one connection run in
    /// parallel.)
    inline: bool,
    /// Handlers started by this turn's events, not yet polled.
    fresh: Vec<CatchPanic>,
    /// The tasks of handlers whose call ended under them (cancelled by
    /// the client, its deadline, the connection's end): told, they may
    /// still be running, and are aborted with the others when the
    /// connection ends. Finished ones are dropped now and then.
    orphans: Vec<AbortHandle>,
    /// `orphans` is pruned when it reaches this length.
    prune_at: usize,
}

impl Driver {
    /// Run a connection to its end.
    pub(crate) async fn run<T: Io>(
        server: Arc<Inner>,
        io: T,
        peer: Peer,
        control: Arc<Control>,
        mut bell: mpsc::Receiver<()>,
    ) {
        let mut cmd_rx: Option<mpsc::Receiver<SCmd>> = None;
        let conn = ServerConnection::new(server.config.clone(), Instant::now());
        let mut d = Driver {
            conn,
            server,
            peer,
            calls: CallIdMap::default(),
            control,
            cmds: None,
            new_rx: None,
            shutting_down: false,
            inline: tokio::runtime::Handle::current().metrics().num_workers() == 1,
            fresh: Vec::new(),
            orphans: Vec::new(),
            prune_at: ORPHANS_PRUNE_MIN,
        };
        let mut t = Transport::new(io);
        let mut p = Pending::default();
        loop {
            d.control.take_into(&mut p);
            if p.abort {
                break;
            }
            if p.shutdown && !d.shutting_down {
                d.shutting_down = true;
                d.conn.shutdown(Instant::now());
            }
            for (call, n) in p.released.drain() {
                d.conn.release_capacity(call, n);
            }
            for call in p.panicked.drain() {
                if d.calls.contains_key(&call) {
                    d.end(
                        call,
                        Status::new(Code::Unknown, "the handler panicked"),
                        MetadataMap::new(),
                    );
                }
            }
            for call in p.cancelled.drain() {
                // The handler's task was dropped before it finished the
                // call (the runtime is shutting down, or the task was
                // aborted): the server side cancelled it.
                if d.calls.contains_key(&call) {
                    d.end(
                        call,
                        Status::new(
                            Code::Cancelled,
                            "the handler was stopped before it finished",
                        ),
                        MetadataMap::new(),
                    );
                }
            }
            loop {
                let had = d.events();
                if d.run_fresh() {
                    cmd_rx = d.new_rx.take().or(cmd_rx);
                    if let Some(rx) = cmd_rx.as_mut() {
                        d.drain(rx);
                    }
                }
                t.gather(|b| d.conn.poll_transmit(b));
                if !had && !d.events() {
                    break;
                }
            }
            if d.conn.is_closed() {
                t.close().await;
                break;
            }
            if t.is_dead() {
                break;
            }
            cmd_rx = d.new_rx.take().or(cmd_rx);
            let wake = t
                .wait(cmd_rx.as_mut(), &mut bell, d.conn.poll_timeout())
                .await;
            match wake {
                Wake::Read(n) => {
                    let _ = d.conn.receive(t.read_buf(n), Instant::now());
                }
                Wake::Eof => d.conn.receive_eof(Instant::now()),
                Wake::Wrote | Wake::Bell => {}
                Wake::Timer => d.conn.handle_timeout(Instant::now()),
                Wake::Cmd(cmd) => {
                    d.command(cmd);
                    // Batch: take what other handlers have queued, let
                    // those that are ready run once and take theirs too,
                    // so that one write carries many responses.
                    if let Some(rx) = cmd_rx.as_mut() {
                        d.drain(rx);
                        if !d.calls.is_empty() {
                            tokio::task::yield_now().await;
                            d.drain(rx);
                        }
                    }
                }
            }
        }
        // Whatever is still running is cut off with the connection (when
        // `d` drops, however the task ends: see `Drop for Driver`).
    }

    /// Handle the commands already queued, at most [`MAX_BATCH`].
    fn drain(&mut self, cmds: &mut mpsc::Receiver<SCmd>) {
        for _ in 0..MAX_BATCH {
            match cmds.try_recv() {
                Ok(cmd) => self.command(cmd),
                Err(_) => return,
            }
        }
    }

    fn command(&mut self, cmd: SCmd) {
        // A compression the handler chose goes on before its first
        // response; refused (the client does not accept it, or the server
        // does not have it), it is dropped and the call's compression
        // stays as it was (the server's default, if any).
        let call = match &cmd {
            SCmd::Headers { call, .. } | SCmd::Message { call, .. } => Some(*call),
            SCmd::Reply(r) => Some(r.call),
            SCmd::Status { .. } => None,
        };
        if let Some(call) = call
            && let Some(slot) = self.calls.get_mut(&call)
            && std::mem::take(&mut slot.first_response)
            && let Some(name) = lock(&slot.cancel.compression).take()
        {
            let _ = self.conn.set_send_compression(call, &name);
        }
        match cmd {
            SCmd::Headers {
                call,
                metadata,
                reply,
            } => {
                let r = self
                    .conn
                    .send_headers(call, *metadata)
                    .map_err(|e| self.refused(call, &e));
                let _ = reply.send(r);
            }
            SCmd::Message {
                call,
                message,
                compress,
                reply,
            } => {
                self.send(call, message, compress, Some(reply));
            }
            SCmd::Status { call, end } => {
                let (status, trailers) = *end;
                self.end(call, status, trailers);
            }
            SCmd::Reply(r) => {
                let WholeReply {
                    call,
                    headers,
                    message,
                    status,
                    trailers,
                } = *r;
                self.reply(call, headers, message, status, trailers);
            }
        }
    }

    fn reply(
        &mut self,
        call: CallId,
        headers: Option<MetadataMap>,
        message: Bytes,
        status: Status,
        trailers: MetadataMap,
    ) {
        if let Some(metadata) = headers {
            if let Err(e) = self.conn.send_headers(call, metadata) {
                let s = self.refused(call, &e);
                self.end(call, s, MetadataMap::new());
                return;
            }
        }
        if self.conn.is_writable(call) && self.calls.get(&call).is_some_and(|s| s.blocked.is_none())
        {
            // Head (if not sent), message and trailers at once.
            match self.conn.send_response(call, message, status, trailers) {
                Ok(()) => self.forget(call),
                Err(e) => {
                    let s = self.refused(call, &e);
                    self.end(call, s, MetadataMap::new());
                }
            }
            return;
        }
        match self.send(call, message, true, None) {
            Sent::Out => self.end(call, status, trailers),
            Sent::Blocked => {
                if let Some(slot) = self.calls.get_mut(&call) {
                    slot.then = Some((status, trailers));
                }
            }
            Sent::Refused(s) => self.end(call, s, MetadataMap::new()),
        }
    }

    /// The status a handler's refused send reports.
    fn refused(&self, _call: CallId, e: &CallError) -> Status {
        match e {
            CallError::UnknownCall(_) | CallError::SendClosed(_) => {
                Status::new(Code::Cancelled, "the call is over")
            }
            other => call_error_status(other),
        }
    }

    /// Queue `message` on `call` (uncompressed if not `compress`);
    /// `reply` (a waiting handler) hears how it went, except while it is
    /// blocked.
    fn send(&mut self, call: CallId, message: Bytes, compress: bool, reply: Option<Reply>) -> Sent {
        let answer = |reply: Option<Reply>, r: Result<(), Status>| {
            if let Some(reply) = reply {
                let _ = reply.send(r);
            }
        };
        let Some(slot) = self.calls.get_mut(&call) else {
            let s = Status::new(Code::Cancelled, "the call is over");
            answer(reply, Err(s.clone()));
            return Sent::Refused(s);
        };
        if slot.blocked.is_some() {
            let s = Status::new(Code::Internal, "a send is already in progress");
            answer(reply, Err(s.clone()));
            return Sent::Refused(s);
        }
        match self.conn.send_message_with(call, message.clone(), compress) {
            Ok(()) => {
                answer(reply, Ok(()));
                Sent::Out
            }
            Err(CallError::Blocked(_)) => {
                slot.blocked = Some((message, compress, reply));
                Sent::Blocked
            }
            Err(e) => {
                let s = self.refused(call, &e);
                answer(reply, Err(s.clone()));
                Sent::Refused(s)
            }
        }
    }

    fn end(&mut self, call: CallId, status: Status, trailers: MetadataMap) {
        let _ = self.conn.send_status(call, status, trailers);
        self.forget(call);
    }

    /// The call has ended on the connection: drop its slot.
    fn forget(&mut self, call: CallId) {
        if let Some(slot) = self.calls.remove(&call) {
            // Requests the handler did not read: their credit goes back.
            self.release_unread(call, &slot.inbox);
            slot.inbox.close();
            if let Some((_, _, Some(reply))) = slot.blocked {
                let _ = reply.send(Err(Status::new(Code::Cancelled, "the call is over")));
            }
        }
    }

    /// Give back the credit of the messages in `inbox` nobody will read.
    fn release_unread(&mut self, call: CallId, inbox: &Inbox<SItem>) {
        let credit = inbox.drain_credit(SItem::credit);
        self.conn.release_capacity(call, credit);
    }

    fn events(&mut self) -> bool {
        let mut any = false;
        while let Some(ev) = self.conn.poll_event() {
            any = true;
            match ev {
                ServerEvent::CallStarted { call, head } => {
                    self.start(call, Arc::unwrap_or_clone(head))
                }
                ServerEvent::Message {
                    call,
                    message,
                    flow_len,
                } => match self.calls.get(&call) {
                    Some(s) => {
                        // A closed inbox: the handler dropped its request
                        // stream, nobody will read this.
                        if s.inbox.try_push(SItem::Message(message, flow_len)).is_err() {
                            self.conn.release_capacity(call, flow_len);
                        }
                    }
                    None => self.conn.release_capacity(call, flow_len),
                },
                ServerEvent::HalfClosed { call } => {
                    if let Some(s) = self.calls.get(&call) {
                        s.inbox.push(SItem::End);
                    }
                }
                ServerEvent::Cancelled { call, reason } => {
                    if let Some(mut slot) = self.calls.remove(&call) {
                        if let Some(task) = slot.task.take() {
                            self.orphan(task);
                        }
                        slot.cancel.cancel(reason.clone());
                        // The messages the handler has not read go now
                        // (the core no longer counts their memory): it
                        // learns of the cancellation at its next read.
                        self.release_unread(call, &slot.inbox);
                        slot.inbox.push(SItem::Cancelled(reason));
                        slot.inbox.close();
                        if let Some((_, _, Some(reply))) = slot.blocked {
                            let _ = reply
                                .send(Err(Status::new(Code::Cancelled, "the call was cancelled")));
                        }
                    }
                }
                ServerEvent::Writable { call } => {
                    if let Some((m, compress, reply)) =
                        self.calls.get_mut(&call).and_then(|s| s.blocked.take())
                    {
                        let sent = self.send(call, m, compress, reply);
                        let then = match sent {
                            Sent::Blocked => None,
                            _ => self.calls.get_mut(&call).and_then(|s| s.then.take()),
                        };
                        match (sent, then) {
                            (Sent::Out, Some((status, trailers))) => {
                                self.end(call, status, trailers)
                            }
                            (Sent::Refused(s), Some(_)) => self.end(call, s, MetadataMap::new()),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        any
    }

    /// Keep the task of a handler whose call ended under it, to abort it
    /// with the connection if it is still running then.
    fn orphan(&mut self, task: AbortHandle) {
        if task.is_finished() {
            return;
        }
        self.orphans.push(task);
        if self.orphans.len() >= self.prune_at {
            self.orphans.retain(|t| !t.is_finished());
            self.prune_at = (self.orphans.len() * 2).max(ORPHANS_PRUNE_MIN);
        }
    }

    fn start(&mut self, call: CallId, head: RequestHead) {
        let server = self.server.clone();
        let route = match server.routes.router.route(&head.path) {
            Ok(r) => r,
            Err(status) => {
                let _ = self.conn.send_status(call, status, MetadataMap::new());
                return;
            }
        };
        let _ = self.conn.set_call_kind(call, route.kind);
        if let Some(name) = &server.response_compression {
            let _ = self.conn.set_send_compression(call, name);
        }
        let mut ctx = RequestContext::new(head, &self.peer);
        // Interceptors run here, in the connection's task: one that panics
        // ends its call with UNKNOWN (as a panicking handler does), not the
        // connection with every call on it.
        let intercepted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            server
                .interceptors
                .iter()
                .try_for_each(|i| i.intercept(&mut ctx))
        }))
        .unwrap_or_else(|_| Err(Status::new(Code::Unknown, "the interceptor panicked")));
        if let Err(status) = intercepted {
            let _ = self.conn.send_status(call, status, MetadataMap::new());
            return;
        }
        let inbox = Arc::new(Inbox::new());
        let cancel = ctx.cancel.clone();
        let cmds = match &self.cmds {
            Some(tx) => tx.clone(),
            None => {
                let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
                self.cmds = Some(tx.clone());
                self.new_rx = Some(rx);
                tx
            }
        };
        let rx = RawRequests::new(inbox.clone(), self.control.clone(), cmds.clone(), call);
        let tx = RawResponder::new(cmds, self.control.clone(), call);
        let fut = CatchPanic {
            fut: (route.handler)(ServerCall { ctx, rx, tx }),
            control: self.control.clone(),
            call,
        };
        let task = if self.inline {
            self.fresh.push(fut);
            None
        } else {
            Some(tokio::spawn(fut).abort_handle())
        };
        self.calls.insert(
            call,
            Slot {
                inbox,
                cancel,
                blocked: None,
                then: None,
                task,
                first_response: true,
            },
        );
    }

    /// Poll each handler started by this turn's events once, here; spawn
    /// those that are not done. True if any ran.
    fn run_fresh(&mut self) -> bool {
        if self.fresh.is_empty() {
            return false;
        }
        // The spawned task polls again with its own waker, so nothing
        // this poll registers is needed.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        for mut fut in std::mem::take(&mut self.fresh) {
            if std::pin::Pin::new(&mut fut).poll(&mut cx).is_ready() {
                continue;
            }
            let call = fut.call;
            let task = tokio::spawn(fut).abort_handle();
            match self.calls.get_mut(&call) {
                Some(slot) => slot.task = Some(task),
                // The call ended in this turn, before its handler's task.
                None => self.orphan(task),
            }
        }
        true
    }
}

impl Drop for Driver {
    /// Whatever is still running is cut off with the connection, however
    /// its task ends (returned, panicked, or aborted by the application
    /// through the handle `serve_connection` gives): each call's handler
    /// is told, and aborted if it is still running a moment later (as are
    /// the handlers of calls that ended under them).
    fn drop(&mut self) {
        let mut tasks = std::mem::take(&mut self.orphans);
        tasks.retain(|t| !t.is_finished());
        for (_, slot) in self.calls.drain() {
            slot.cancel.cancel(CancelReason::ConnectionLost);
            slot.inbox
                .push(SItem::Cancelled(CancelReason::ConnectionLost));
            slot.inbox.close();
            tasks.extend(slot.task);
        }
        if tasks.is_empty() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    tokio::time::sleep(HANDLER_GRACE).await;
                    for t in tasks {
                        t.abort();
                    }
                });
            }
            // No runtime to wait on: now.
            Err(_) => tasks.iter().for_each(AbortHandle::abort),
        }
    }
}

/// A handler's future, with its panics turned into an UNKNOWN status for
/// its call (the task ends normally; the driver sends the status).
struct CatchPanic {
    fut: super::routes::BoxFuture,
    control: Arc<Control>,
    call: CallId,
}

impl std::future::Future for CatchPanic {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.fut.as_mut().poll(cx)));
        match polled {
            Ok(p) => p,
            Err(_) => {
                self.control.panicked(self.call);
                std::task::Poll::Ready(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every connection's command queue allocates a block of commands up
    /// front: keep them small.
    #[test]
    fn commands_are_small() {
        assert!(std::mem::size_of::<super::SCmd>() <= 64);
    }
}
