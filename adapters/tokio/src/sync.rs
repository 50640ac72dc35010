//! Small synchronisation pieces shared by the client and server drivers:
//! the per-call inbox, the per-connection control block (doorbell plus
//! actions that come from synchronous code such as `Drop`), and a
//! cancellation signal.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use grpc_sansio::call::{CallId, CallIdMap, CallIdSet};
use tokio::sync::{Notify, mpsc};

/// Lock a mutex, ignoring poisoning: every critical section here leaves
/// the data consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the connection driver hands to one call: items pushed by the
/// driver, popped by the application.
///
/// The queue needs no count bound of its own: every message in it holds
/// HTTP/2 flow-control credit that is given back only when the
/// application pops it (or drops its reader), so its bytes are bounded by
/// the stream's receive window (`h2.initial_stream_window`), and its
/// length by that window over the 5-byte message prefix.
#[derive(Debug)]
pub(crate) struct Inbox<T> {
    state: Mutex<InboxState<T>>,
}

#[derive(Debug)]
struct InboxState<T> {
    items: VecDeque<T>,
    waker: Option<Waker>,
    closed: bool,
}

impl<T> Inbox<T> {
    pub(crate) fn new() -> Self {
        Inbox {
            state: Mutex::new(InboxState {
                items: VecDeque::new(),
                waker: None,
                closed: false,
            }),
        }
    }

    /// Add an item and wake the reader (dropped if the inbox is closed).
    pub(crate) fn push(&self, item: T) {
        let _ = self.try_push(item);
    }

    /// Add an item and wake the reader; a closed inbox hands it back (for
    /// the caller to give back the credit it holds).
    pub(crate) fn try_push(&self, item: T) -> Result<(), T> {
        let mut s = lock(&self.state);
        if s.closed {
            return Err(item);
        }
        s.items.push_back(item);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
        Ok(())
    }

    /// Drop every item not read yet, and return the flow-control credit
    /// they held (`credit` says each item's), for the caller to give back.
    pub(crate) fn drain_credit(&self, credit: impl Fn(&T) -> Option<u32>) -> u32 {
        let items = std::mem::take(&mut lock(&self.state).items);
        items
            .iter()
            .filter_map(credit)
            .fold(0u32, u32::saturating_add)
    }

    /// No more items will come; the reader sees `None` after the last.
    pub(crate) fn close(&self) {
        let mut s = lock(&self.state);
        s.closed = true;
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }

    pub(crate) fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut s = lock(&self.state);
        if let Some(item) = s.items.pop_front() {
            return Poll::Ready(Some(item));
        }
        if s.closed {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    pub(crate) async fn pop(&self) -> Option<T> {
        poll_fn(|cx| self.poll_pop(cx)).await
    }
}

/// Requests to a connection driver from synchronous code (drops and
/// message consumption). Its sets are keyed by call, so their size is
/// bounded by the number of calls on the connection.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Flow-control credit the application has consumed, per call.
    pub(crate) released: CallIdMap<u32>,
    /// Calls whose application side was dropped before the call ended.
    pub(crate) cancelled: CallIdSet,
    /// Server calls whose handler panicked.
    pub(crate) panicked: CallIdSet,
    /// Client calls whose request sender was dropped: half-close them.
    pub(crate) half_closed: CallIdSet,
    /// Begin a graceful shutdown of the connection.
    pub(crate) shutdown: bool,
    /// Stop now: cancel every call and drop the transport.
    pub(crate) abort: bool,
}

impl Pending {
    /// Empty, keeping the sets' room.
    fn clear(&mut self) {
        self.released.clear();
        self.cancelled.clear();
        self.panicked.clear();
        self.half_closed.clear();
        self.shutdown = false;
        self.abort = false;
    }
}

/// The per-connection control block: [`Pending`] plus a doorbell that
/// wakes the driver. The doorbell is a channel of capacity one: ringing a
/// rung bell does nothing, so it never grows.
#[derive(Debug)]
pub(crate) struct Control {
    pending: Mutex<Pending>,
    bell: mpsc::Sender<()>,
}

impl Control {
    pub(crate) fn new() -> (Control, mpsc::Receiver<()>) {
        let (bell, rx) = mpsc::channel(1);
        (
            Control {
                pending: Mutex::new(Pending::default()),
                bell,
            },
            rx,
        )
    }

    fn with(&self, f: impl FnOnce(&mut Pending)) {
        f(&mut lock(&self.pending));
        let _ = self.bell.try_send(());
    }

    pub(crate) fn release(&self, call: CallId, flow_len: u32) {
        if flow_len == 0 {
            return;
        }
        self.with(|p| {
            let e = p.released.entry(call).or_insert(0);
            *e = e.saturating_add(flow_len);
        });
    }

    pub(crate) fn cancel(&self, call: CallId) {
        self.with(|p| {
            p.cancelled.insert(call);
        });
    }

    pub(crate) fn panicked(&self, call: CallId) {
        self.with(|p| {
            p.panicked.insert(call);
        });
    }

    pub(crate) fn half_close(&self, call: CallId) {
        self.with(|p| {
            p.half_closed.insert(call);
        });
    }

    pub(crate) fn shutdown(&self) {
        self.with(|p| p.shutdown = true);
    }

    pub(crate) fn abort(&self) {
        self.with(|p| p.abort = true);
    }

    /// Everything requested since the last call, swapped into `into`.
    /// `into` is emptied first and its sets take the requests that come
    /// next, so that their room is reused rather than allocated anew on
    /// every wake-up (drain what this returns, do not drop it).
    pub(crate) fn take_into(&self, into: &mut Pending) {
        into.clear();
        std::mem::swap(&mut *lock(&self.pending), into);
    }
}

/// A one-way "this call is over" signal with any number of waiters.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    set: AtomicBool,
    notify: Notify,
}

impl Signal {
    pub(crate) fn fire(&self) {
        self.set.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    pub(crate) fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}
