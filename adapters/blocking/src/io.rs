//! The threads that drive one connection, for either role, and the rule
//! for who writes.
//!
//! The state machine and the application-side state of its calls live in
//! one `Mutex` ([`Shared`]). The lock is never held across I/O:
//!
//! - the **reader** thread blocks in `read`, then takes the lock, feeds
//!   the bytes (`receive`), files the events, and wakes the writer. A
//!   server's idle plain TCP connection may give its socket to the
//!   server's parker instead ([`crate::park`]), which starts a new reader
//!   thread when the socket is readable again;
//! - the **writer** thread takes the lock, runs due timers
//!   (`handle_timeout`), takes the pending output (`poll_transmit`),
//!   releases the lock and writes. With nothing to write it sleeps on a
//!   condition variable until there is output or `poll_timeout` is due.
//!   It is started when first needed and ends after [`WRITER_LINGER`]
//!   with nothing to write and no timer set, so an idle connection holds
//!   one thread (its reader), not two; whoever next queues output or a
//!   timer for it starts a new one.
//! - an **application or handler thread** that queued output (a request,
//!   a reply, a status) writes it itself with [`Shared::flush`] when no
//!   other thread is writing and its call is alone on the connection: a
//!   unary reply then leaves from the handler's thread without waking the
//!   writer (with other calls in progress, the writer thread batches). It writes one small batch (16 KiB)
//!   at most, and none while the peer is not reading; larger output, and
//!   whatever the socket did not take at once, is the writer thread's, so
//!   it waits for a slow peer one write slice at most.
//!
//! One thread writes at a time: the `writing` flag under the state lock
//! says who, and whoever clears it with output left wakes the writer.
//! The reader never writes, so a peer that is slow to read cannot stop us
//! from reading (the deadlock of "both sides blocked in write").

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;

/// Output taken from the state machine per write.
const MAX_BATCH: usize = 256 << 10;
/// The most an application or handler thread writes itself; more goes to
/// the writer thread.
const DIRECT_MAX: usize = 16 << 10;
/// The largest read buffer of a connection.
const READ_BUF: usize = 64 << 10;
/// The read buffer a connection starts with.
const READ_START: usize = 512;
/// How long a writer thread with nothing to write and no timer to watch
/// waits for work before it ends.
pub(crate) const WRITER_LINGER: Duration = Duration::from_secs(1);

/// A state machine plus the application-side state of its calls.
pub(crate) trait Machine: Send + 'static {
    fn receive(&mut self, bytes: &[u8], now: Instant);
    fn receive_eof(&mut self, now: Instant);
    /// Reading the transport failed with `error` (a TLS alert, say); the
    /// end of input follows. Default: nothing is kept.
    fn read_failed(&mut self, error: &io::Error) {
        let _ = error;
    }
    fn poll_transmit(&mut self, out: &mut BytesMut) -> usize;
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
    fn is_closed(&self) -> bool;
    /// The machine has output for `poll_transmit`.
    fn has_output(&self) -> bool;
    /// Other calls are in progress: output goes to the writer thread,
    /// which writes theirs with it, rather than out on its own.
    fn crowded(&self) -> bool;
    /// Who writes and what is left to write (see [`WriteState`]).
    fn write_state(&mut self) -> &mut WriteState;
    /// Drain the state machine's events into per-call state and wake
    /// whoever waits on them.
    fn process_events(&mut self);
    /// No call is in progress: the connection's reader may be parked
    /// when nothing else goes on (see [`crate::park`]). Default: never.
    fn parkable(&self) -> bool {
        false
    }
    /// Work the reader starts after it releases the lock.
    type Held: Default + Send;
    /// As [`process_events`](Self::process_events), but work that wakes
    /// other threads (a handler job) is put in `held` rather than started
    /// under the lock, where the woken thread would block on it at once.
    fn process_events_held(&mut self, held: &mut Self::Held) {
        let _ = held;
        self.process_events();
    }
    /// Start the work `process_events_held` put aside, without the lock.
    fn start_held(shared: &Shared<Self>, held: &mut Self::Held)
    where
        Self: Sized,
    {
        let _ = (shared, held);
    }
}

/// Who writes a connection's output now, and what was taken from the
/// machine but not yet written. Kept in the machine, under its lock.
#[derive(Debug, Default)]
pub(crate) struct WriteState {
    /// A thread holds the write half (it is writing or about to).
    writing: bool,
    /// Bytes taken from the machine and not yet written; whoever writes
    /// next starts with them. Its capacity is reused between writes.
    buf: BytesMut,
    /// The write half may hold bytes (TLS records) that a flush must push.
    unflushed: bool,
    /// When the writer thread, asleep, next looks at the timers.
    wakes_at: Option<Instant>,
    /// The last write timed out with bytes left: the peer is not reading.
    stalled: bool,
    /// A writer thread runs for this connection (or is being started).
    thread: bool,
}

impl WriteState {
    fn has_work(&self) -> bool {
        !self.buf.is_empty() || self.unflushed
    }

    /// A timer now due at `at` needs the writer thread sooner than it
    /// planned (an action started a deadline, a call's end started the
    /// idle limit).
    fn timer_moved(&self, at: Option<Instant>) -> bool {
        match (at, self.wakes_at) {
            (Some(t), Some(w)) => t < w,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// What a change under the lock asks of the writer thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Nothing.
    No,
    /// It runs: wake it if it sleeps.
    Notify,
    /// None runs: the caller starts one (it was counted as running).
    Start,
}

/// One connection's state, shared by its threads and the application.
pub(crate) struct Shared<M> {
    state: Mutex<M>,
    /// The write half; locked only by the thread whose `writing` flag is
    /// set, so never contended, and never taken while holding `state`.
    write_half: Mutex<Box<dyn Write + Send>>,
    writer: Signal,
    closer: Box<dyn Fn() + Send + Sync>,
    /// The connection's reader thread and writer thread (if any) still
    /// running; a parked connection (see [`crate::park`]) keeps its
    /// reader's count while it has no reader thread.
    threads: AtomicUsize,
    /// This connection, for the writer threads it starts.
    me: Weak<Shared<M>>,
    /// The prefix of its threads' names.
    name: &'static str,
}

impl<M: Machine> Shared<M> {
    pub(crate) fn new(
        machine: M,
        write_half: Box<dyn Write + Send>,
        closer: Box<dyn Fn() + Send + Sync>,
        name: &'static str,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Shared {
            state: Mutex::new(machine),
            write_half: Mutex::new(write_half),
            writer: Signal::new(),
            closer,
            threads: AtomicUsize::new(0),
            me: me.clone(),
            name,
        })
    }

    /// The connection's threads are still running, or it is parked: its
    /// transport may be open, or have bytes being written to it.
    pub(crate) fn is_running(&self) -> bool {
        self.threads.load(Ordering::Acquire) > 0
    }

    /// The state. A panic elsewhere never leaves it unusable: our code
    /// does not panic while holding it, and user code never runs under it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, M> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Have a writer thread look at the connection: there may be output,
    /// a new timer, or an end to act on.
    pub(crate) fn wake_writer(&self) {
        let wake = Self::claim_any(&mut *self.lock());
        self.wake(wake);
    }

    /// `Notify` if a writer thread runs, else `Start` (counted as running
    /// at once, so that only one thread is started).
    fn claim_any(g: &mut M) -> Wake {
        let ws = g.write_state();
        if ws.thread {
            Wake::Notify
        } else {
            ws.thread = true;
            Wake::Start
        }
    }

    /// Decide under `g` what the writer thread must do after a change
    /// ([`writer_needed`](Self::writer_needed)).
    pub(crate) fn claim_writer(g: &mut M) -> Wake {
        if Self::writer_needed(g) {
            Self::claim_any(g)
        } else {
            Wake::No
        }
    }

    /// Act on a [`claim_writer`](Self::claim_writer), without the lock.
    pub(crate) fn wake(&self, wake: Wake) {
        match wake {
            Wake::No => {}
            Wake::Notify => self.writer.notify_one(),
            Wake::Start => self.start_writer(),
        }
    }

    /// Start a writer thread. Should the system refuse one, the
    /// connection cannot write and ends: the transport is closed (the
    /// reader sees it and finishes).
    fn start_writer(&self) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        self.threads.fetch_add(1, Ordering::AcqRel);
        let spawned = thread::Builder::new()
            .name(format!("{}-write", self.name))
            .spawn(move || {
                let _running = CountOut(&me.threads);
                write_loop(&me);
            });
        if spawned.is_err() {
            self.threads.fetch_sub(1, Ordering::AcqRel);
            let mut g = self.lock();
            g.write_state().thread = false;
            g.receive_eof(Instant::now());
            g.process_events();
            drop(g);
            self.close_transport();
        }
    }

    /// Whether the writer thread has something to do after a change made
    /// under `g`: output with nobody writing it, an end to act on, or a
    /// timer earlier than the one it sleeps until.
    pub(crate) fn writer_needed(g: &mut M) -> bool {
        let ws_busy = g.write_state().writing;
        let output = !ws_busy && (g.has_output() || g.write_state().has_work());
        let at = g.poll_timeout();
        output || g.is_closed() || g.write_state().timer_moved(at)
    }

    /// Write the output that an action under `g` queued, on this thread,
    /// unless another thread is writing (it will take the output too).
    /// Only a small batch (a unary reply, a request) of a call alone on
    /// its connection is written here, and only while the peer reads: a
    /// larger one, one with other calls in progress (their output shares
    /// the writer thread's writes), or any while the last write timed out
    /// goes to the writer thread, so an application or handler thread
    /// waits for the socket one write slice at most.
    pub(crate) fn flush(&self, mut g: MutexGuard<'_, M>) {
        let direct = !g.crowded() && {
            let ws = g.write_state();
            !ws.writing && !ws.stalled
        };
        if !direct || !(g.has_output() || g.write_state().has_work()) {
            self.wake_if_needed(g);
            return;
        }
        let ws = g.write_state();
        let mut buf = std::mem::take(&mut ws.buf);
        let mut unflushed = std::mem::take(&mut ws.unflushed);
        while buf.len() < DIRECT_MAX && g.poll_transmit(&mut buf) > 0 {}
        // Sending can make calls writable again.
        g.process_events();
        if buf.len() > DIRECT_MAX || (buf.is_empty() && !unflushed) {
            let ws = g.write_state();
            ws.buf = buf;
            ws.unflushed = unflushed;
            self.wake_if_needed(g);
            return;
        }
        g.write_state().writing = true;
        drop(g);
        // Should the transport's writer panic, the connection must not be
        // left with `writing` set and nobody writing.
        let mut guard = WritingGuard {
            shared: self,
            armed: true,
        };
        let res = {
            let mut w = self.write_half();
            write_now(&mut **w, &mut buf, &mut unflushed)
        };
        guard.armed = false;
        let mut g = self.lock();
        let ws = g.write_state();
        ws.writing = false;
        match res {
            Ok(stalled) => {
                ws.stalled = stalled;
                // With no writer thread to reuse it, an emptied buffer is
                // given back: the connection may now be idle.
                ws.buf = if buf.is_empty() && !ws.thread {
                    BytesMut::new()
                } else {
                    buf
                };
                ws.unflushed = unflushed;
                self.wake_if_needed(g);
            }
            Err(_) => self.transport_ended(g, true),
        }
    }

    /// Release `g`, waking (or starting) the writer thread if it has
    /// something to do.
    pub(crate) fn wake_if_needed(&self, mut g: MutexGuard<'_, M>) {
        let wake = Self::claim_writer(&mut *g);
        drop(g);
        self.wake(wake);
    }

    fn write_half(&self) -> MutexGuard<'_, Box<dyn Write + Send>> {
        self.write_half
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Close the transport in both directions (the reader wakes up).
    pub(crate) fn close_transport(&self) {
        (self.closer)();
    }

    /// The transport has ended (end of file, an error): the machine hears
    /// of it, the writer thread wakes to finish, and with `close` the
    /// transport is shut in both directions.
    fn transport_ended(&self, mut g: MutexGuard<'_, M>, close: bool) {
        g.receive_eof(Instant::now());
        g.process_events();
        // The writer finishes the connection.
        let wake = Self::claim_any(&mut *g);
        drop(g);
        self.wake(wake);
        if close {
            self.close_transport();
        }
    }
}

/// Clears `writing` and closes the connection if a thread writing for
/// it unwinds.
struct WritingGuard<'a, M: Machine> {
    shared: &'a Shared<M>,
    armed: bool,
}

impl<M: Machine> Drop for WritingGuard<'_, M> {
    fn drop(&mut self) {
        if self.armed {
            let mut g = self.shared.lock();
            g.write_state().writing = false;
            self.shared.transport_ended(g, true);
        }
    }
}

/// A condition variable that knows whether anyone waits on it. A
/// `Condvar` notification is a system call even with no waiter, and the
/// reader, handlers and callers notify after almost every change; counting
/// waiters makes the common case (nobody waiting) free.
///
/// Waiters count themselves while holding the mutex that guards the state
/// they wait on, and notifiers change that state under the same mutex
/// before they look at the count, so no notification a waiter needs is
/// skipped.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    cv: Condvar,
    waiters: AtomicUsize,
}

impl Signal {
    pub(crate) fn new() -> Signal {
        Signal::default()
    }

    /// Wake one waiter, if any.
    pub(crate) fn notify_one(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.cv.notify_one();
        }
    }

    /// Wake every waiter, if any.
    pub(crate) fn notify_all(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.cv.notify_all();
        }
    }
}

/// Wait on `signal` (which must only ever be used with this mutex) until
/// woken or until `deadline`.
pub(crate) fn wait<'a, M>(
    signal: &Signal,
    guard: MutexGuard<'a, M>,
    deadline: Option<Instant>,
) -> MutexGuard<'a, M> {
    signal.waiters.fetch_add(1, Ordering::SeqCst);
    let guard = match deadline {
        None => signal
            .cv
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            signal
                .cv
                .wait_timeout(guard, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0)
        }
    };
    signal.waiters.fetch_sub(1, Ordering::SeqCst);
    guard
}

/// Start a connection: its reader thread, and a writer thread for its
/// first output (the connection preface).
pub(crate) fn start<M: Machine>(
    shared: &Arc<Shared<M>>,
    reader: Box<dyn Read + Send>,
) -> io::Result<()> {
    start_parkable(shared, reader, None)
}

/// [`start`], for a connection whose reader may hand its socket to
/// `park` when the connection is idle (see [`crate::park`]).
pub(crate) fn start_parkable<M: Machine>(
    shared: &Arc<Shared<M>>,
    reader: Box<dyn Read + Send>,
    park: Option<Park>,
) -> io::Result<()> {
    shared.threads.fetch_add(1, Ordering::AcqRel);
    if let Err(e) = spawn_reader(Arc::clone(shared), reader, park) {
        shared.threads.fetch_sub(1, Ordering::AcqRel);
        shared.close_transport();
        return Err(e);
    }
    shared.wake_if_needed(shared.lock());
    Ok(())
}

/// Where an idle connection's reader may put its socket: a server's
/// parker, and the socket (see [`crate::park`]).
#[cfg(unix)]
#[derive(Clone)]
pub(crate) struct Park {
    pub(crate) parker: crate::park::Parker,
    pub(crate) socket: Arc<std::net::TcpStream>,
}

/// Without `poll(2)`, connections are never parked.
#[cfg(not(unix))]
#[derive(Clone)]
pub(crate) enum Park {}

/// A reader thread for a connection whose thread count already includes
/// it. A reader that parks its connection leaves the count to it: the
/// thread that resumes the connection reads under the same count. Should
/// the parker be unable to take the connection (no thread to watch it),
/// this thread goes on reading it, and does not try to park it again.
fn spawn_reader<M: Machine>(
    s: Arc<Shared<M>>,
    reader: Box<dyn Read + Send>,
    park: Option<Park>,
) -> io::Result<()> {
    let name = format!("{}-read", s.name);
    thread::Builder::new().name(name).spawn(move || {
        let running = CountOut(&s.threads);
        let mut reader = reader;
        let mut park = park;
        while let Some(idle) = read_loop(&s, reader, park.is_some()) {
            let mut slot = Some(idle);
            #[cfg(unix)]
            if let Some(p) = park.take() {
                if park_reader(&s, &mut slot, p) {
                    std::mem::forget(running);
                    return;
                }
            }
            let Some(back) = slot else {
                return;
            };
            reader = back;
        }
    })?;
    Ok(())
}

/// Hand an idle connection's socket to the parker; when it is readable
/// again, a new reader thread takes over (see [`crate::park`]). On
/// success the reader leaves `slot`, and the connection's reader count
/// goes with it; `false` leaves both with the caller.
#[cfg(unix)]
fn park_reader<M: Machine>(
    s: &Arc<Shared<M>>,
    slot: &mut Option<Box<dyn Read + Send>>,
    park: Park,
) -> bool {
    let parker = park.parker.clone();
    let socket = Arc::clone(&park.socket);
    parker.park(socket, || {
        let s = Arc::clone(s);
        let reader = slot.take();
        Box::new(move || {
            let Some(reader) = reader else {
                return;
            };
            if spawn_reader(Arc::clone(&s), reader, Some(park)).is_err() {
                // No thread to read with: the connection ends.
                let _running = CountOut(&s.threads);
                s.transport_ended(s.lock(), true);
            }
        })
    })
}

/// Counts one out of a counter when dropped, panic or not: a connection
/// thread that ends, a health watch or a reflection call that is over.
pub(crate) struct CountOut<'a>(pub(crate) &'a AtomicUsize);

impl Drop for CountOut<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The read buffer's size after a read of `n` bytes into `len` (see
/// `read_loop`), and the burst size to return to: a read that fills the
/// buffer doubles it (up to [`READ_BUF`]), or goes straight back to the
/// burst size if the buffer was made small; a read small enough for the
/// starting buffer (what trails a burst: acknowledgements, window
/// updates, pings, a short call) gives a large buffer back while the
/// reader waits. Reads of any other size leave the buffer as it is, so a
/// steady stream does not reallocate, and the burst size is kept, so a
/// burst after a pause costs one small read and one allocation.
fn next_read_size(len: usize, n: usize, burst: usize) -> (usize, usize) {
    if n == len {
        if len < burst {
            (burst, burst)
        } else {
            let grown = (len * 2).min(READ_BUF).max(len);
            (grown, grown)
        }
    } else if len > READ_START && n < READ_START {
        (READ_START, burst)
    } else {
        (len, burst)
    }
}

/// Read and feed the connection until it ends (`None`), or, when
/// `parkable`, until a read times out (the socket's read timeout is the
/// idle time before parking) with the connection idle: the reader is
/// then given back to be parked.
fn read_loop<M: Machine>(
    s: &Shared<M>,
    mut r: Box<dyn Read + Send>,
    parkable: bool,
) -> Option<Box<dyn Read + Send>> {
    // Start small and grow while reads fill the buffer; give a large
    // buffer back when reads stop filling it (`next_read_size`): an idle
    // connection holds a small buffer, even after a large message.
    let mut buf = vec![0u8; READ_START];
    let mut burst = READ_START;
    let mut held = M::Held::default();
    loop {
        let res = r.read(&mut buf);
        let mut g = s.lock();
        match res {
            Ok(0) => {
                // The writer closes the transport once it has written what
                // is left.
                s.transport_ended(g, false);
                return None;
            }
            Ok(n) => {
                g.receive(&buf[..n], Instant::now());
                g.process_events_held(&mut held);
                let closed = g.is_closed();
                let wake = Shared::claim_writer(&mut *g);
                drop(g);
                // Handlers first: starting a writer thread (to watch a new
                // call's deadline, say) can wait until they run.
                M::start_held(s, &mut held);
                s.wake(wake);
                if closed {
                    return None;
                }
                let (len, b) = next_read_size(buf.len(), n, burst);
                burst = b;
                if len != buf.len() {
                    buf = vec![0u8; len];
                }
            }
            Err(e) if is_transient(&e) => {
                if g.is_closed() {
                    return None;
                }
                if parkable && idle(&mut *g) {
                    return Some(r);
                }
            }
            Err(e) => {
                g.read_failed(&e);
                s.transport_ended(g, false);
                return None;
            }
        }
    }
}

/// Nothing is going on on the connection: no call, nothing to write, no
/// writer thread, no timer. Its reader may go.
fn idle<M: Machine>(g: &mut M) -> bool {
    let ws = g.write_state();
    let quiet = !ws.writing && !ws.thread && !ws.has_work();
    quiet && g.parkable() && !g.has_output() && g.poll_timeout().is_none()
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn run_timers<M: Machine>(g: &mut M) {
    let now = Instant::now();
    if g.poll_timeout().is_some_and(|t| t <= now) {
        g.handle_timeout(now);
        g.process_events();
    }
}

fn write_loop<M: Machine>(s: &Shared<M>) {
    let mut g = s.lock();
    // The far timer this thread last looked at early, and the gap before
    // its next look (see `sleep`).
    let mut looks = None;
    loop {
        run_timers(&mut *g);
        if g.write_state().writing {
            // Another thread writes; it wakes us if it leaves work.
            g = sleep(s, g, &mut looks);
            continue;
        }
        let ws = g.write_state();
        let mut buf = std::mem::take(&mut ws.buf);
        // `write_all` flushes at its end.
        let unflushed = std::mem::take(&mut ws.unflushed);
        while buf.len() < MAX_BATCH && g.poll_transmit(&mut buf) > 0 {}
        // Sending can make calls writable again.
        g.process_events();
        if buf.is_empty() && !unflushed {
            g.write_state().buf = buf;
            if g.is_closed() {
                drop(g);
                let _ = s.write_half().flush();
                s.close_transport();
                return;
            }
            if g.poll_timeout().is_some() {
                g = sleep(s, g, &mut looks);
                continue;
            }
            let (g2, left) = linger(s, g);
            g = g2;
            if left {
                return;
            }
            continue;
        }
        if g.is_closed() && g.write_state().stalled {
            // The last bytes (a GOAWAY) cannot reach a peer that stopped
            // reading; waiting another write slice would only hold on to
            // the connection.
            drop(g);
            s.close_transport();
            return;
        }
        g.write_state().writing = true;
        drop(g);
        let res = {
            let mut w = s.write_half();
            write_all(s, &mut **w, &buf)
        };
        g = s.lock();
        g.write_state().writing = false;
        g.write_state().stalled = false;
        if res.is_err() {
            s.transport_ended(g, true);
            return;
        }
        buf.clear();
        g.write_state().buf = buf;
    }
}

/// The writer thread waits for work or its next timer, saying when that
/// is so that an action that starts an earlier timer wakes it.
///
/// A timer that goes away (the SETTINGS acknowledgement came, a call with
/// a deadline ended) does not wake it, so the thread looks early whether a
/// far timer is still set: [`WRITER_LINGER`] after it starts waiting for
/// it, then after gaps that double (`looks` keeps the timer and the next
/// gap). A connection that went idle lets its thread go within about
/// twice the time it has been busy, not at the timer's time, and a timer
/// that stays set (a keepalive, an age limit, a long call's deadline)
/// costs a few looks, not one a second. Work that wakes the thread sooner
/// spends no look.
fn sleep<'a, M: Machine>(
    s: &Shared<M>,
    mut g: MutexGuard<'a, M>,
    looks: &mut Option<(Instant, Duration)>,
) -> MutexGuard<'a, M> {
    let at = g.poll_timeout();
    g.write_state().wakes_at = at;
    let gap = match (*looks, at) {
        (Some((t, gap)), Some(a)) if t == a => gap,
        _ => WRITER_LINGER,
    };
    let look = Instant::now() + gap;
    let early = at.is_some_and(|t| t > look);
    // With no timer at all (another thread was writing), look again after
    // the linger: that thread may finish with nothing left and not wake
    // us, and this thread must then end rather than sleep for ever.
    let until = if early { Some(look) } else { at.or(Some(look)) };
    let mut g = wait(&s.writer, g, until);
    if early && Instant::now() >= look {
        *looks = at.map(|t| (t, gap.saturating_mul(2)));
    }
    g.write_state().wakes_at = None;
    g
}

/// The writer thread, with nothing to write and no timer, waits up to
/// [`WRITER_LINGER`] for work; `true` (and the thread must return) if none
/// came, the connection then having no writer thread and no write buffer.
fn linger<'a, M: Machine>(s: &Shared<M>, g: MutexGuard<'a, M>) -> (MutexGuard<'a, M>, bool) {
    let until = Instant::now() + WRITER_LINGER;
    let mut g = g;
    loop {
        g.write_state().wakes_at = None;
        g = wait(&s.writer, g, Some(until));
        let idle = !g.has_output()
            && !g.write_state().has_work()
            && !g.is_closed()
            && g.poll_timeout().is_none();
        if !idle {
            return (g, false);
        }
        if Instant::now() >= until {
            let ws = g.write_state();
            ws.thread = false;
            ws.buf = BytesMut::new();
            return (g, true);
        }
    }
}

/// Write what the socket takes without waiting (beyond one write slice),
/// then flush. What is left stays in `buf` (and `unflushed` says whether a
/// flush is still due) for the writer thread. A short write means the
/// socket is full (or the slice ran out): the rest is left too.
/// `Ok(true)`: a write timed out, the peer is not reading.
fn write_now(w: &mut dyn Write, buf: &mut BytesMut, unflushed: &mut bool) -> io::Result<bool> {
    if !buf.is_empty() {
        match w.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                let _ = buf.split_to(n);
                *unflushed = true;
                if !buf.is_empty() {
                    return Ok(false);
                }
            }
            Err(e) if is_transient(&e) => return Ok(true),
            Err(e) => return Err(e),
        }
    }
    match w.flush() {
        Ok(()) => {
            *unflushed = false;
            Ok(false)
        }
        Err(e) if is_transient(&e) => {
            *unflushed = true;
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

/// Write `buf` whole. While the peer does not read, the timers keep
/// running: a keepalive timeout ends the connection instead of blocking
/// this thread forever.
fn write_all<M: Machine>(s: &Shared<M>, w: &mut dyn Write, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match w.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if is_transient(&e) => {
                let mut g = s.lock();
                run_timers(&mut *g);
                if g.is_closed() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection ended while the peer was not reading",
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
    // A TLS writer may still hold ciphertext that timed out.
    loop {
        match w.flush() {
            Ok(()) => return Ok(()),
            Err(e) if is_transient(&e) => {
                let mut g = s.lock();
                run_timers(&mut *g);
                if g.is_closed() {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_buffer_grows_while_reads_fill_it_and_shrinks_when_they_stop() {
        let (mut len, mut burst) = (READ_START, READ_START);
        let mut sizes = Vec::new();
        for _ in 0..9 {
            (len, burst) = next_read_size(len, len, burst);
            sizes.push(len);
        }
        assert_eq!(
            sizes,
            [1024, 2048, 4096, 8192, 16384, 32768, 65536, 65536, 65536]
        );
        assert_eq!(burst, READ_BUF);
        // Reads that do not fill it, down to the small buffer's size:
        // kept (a steady stream does not reallocate).
        for n in [READ_BUF - 1, READ_BUF / 2, 4096, READ_START] {
            assert_eq!(next_read_size(READ_BUF, n, burst), (READ_BUF, READ_BUF));
        }
        // A read the small buffer holds (what trails a burst): small
        // again while waiting, the burst size remembered.
        (len, burst) = next_read_size(len, READ_START - 1, burst);
        assert_eq!((len, burst), (READ_START, READ_BUF));
        // Reads that fit the small buffer keep it small.
        assert_eq!(next_read_size(len, 100, burst), (READ_START, READ_BUF));
        // The burst goes on: straight back to its size.
        assert_eq!(next_read_size(len, len, burst), (READ_BUF, READ_BUF));
        // A small buffer never shrinks.
        assert_eq!(
            next_read_size(READ_START, 1, READ_START),
            (READ_START, READ_START)
        );
    }
}
