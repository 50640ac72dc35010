//! The two threads that drive one connection, for either role.
//!
//! The state machine and the application-side state of its calls live in
//! one `Mutex` ([`Shared`]). The lock is never held across I/O:
//!
//! - the **reader** thread blocks in `read`, then takes the lock, feeds
//!   the bytes (`receive`), files the events, and wakes the writer;
//! - the **writer** thread takes the lock, runs due timers
//!   (`handle_timeout`), takes the pending output (`poll_transmit`),
//!   releases the lock and writes. With nothing to write it sleeps on a
//!   `Condvar` until an action queues output or `poll_timeout` is due.
//!
//! Application threads act on the state machine under the lock and wake
//! the writer; they never touch the socket. Because nobody waits for a
//! write while holding the lock, a peer that is slow to read cannot stop
//! us from reading (the deadlock of "both sides blocked in write").

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Instant;

use bytes::BytesMut;

/// Output taken from the state machine per write.
const MAX_BATCH: usize = 256 << 10;
/// The largest read buffer of a connection.
const READ_BUF: usize = 64 << 10;
/// The read buffer a connection starts with.
const READ_START: usize = 2 << 10;

/// A state machine plus the application-side state of its calls.
pub(crate) trait Machine: Send + 'static {
    fn receive(&mut self, bytes: &[u8], now: Instant);
    fn receive_eof(&mut self, now: Instant);
    fn poll_transmit(&mut self, out: &mut BytesMut) -> usize;
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
    fn is_closed(&self) -> bool;
    /// Drain the state machine's events into per-call state and wake
    /// whoever waits on them.
    fn process_events(&mut self);
}

/// One connection's state, shared by its two threads and the application.
pub(crate) struct Shared<M> {
    state: Mutex<M>,
    writer: Signal,
    closer: Box<dyn Fn() + Send + Sync>,
    /// The connection's reader and writer threads still running.
    threads: AtomicUsize,
}

impl<M: Machine> Shared<M> {
    pub(crate) fn new(machine: M, closer: Box<dyn Fn() + Send + Sync>) -> Self {
        Shared {
            state: Mutex::new(machine),
            writer: Signal::new(),
            closer,
            threads: AtomicUsize::new(0),
        }
    }

    /// The connection's threads are still running: its transport may be
    /// open, or have bytes being written to it.
    pub(crate) fn is_running(&self) -> bool {
        self.threads.load(Ordering::Acquire) > 0
    }

    /// The state. A panic elsewhere never leaves it unusable: our code
    /// does not panic while holding it, and user code never runs under it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, M> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tell the writer thread that there may be output or a new timer.
    pub(crate) fn wake_writer(&self) {
        self.writer.notify_one();
    }

    /// Close the transport in both directions (the reader wakes up).
    pub(crate) fn close_transport(&self) {
        (self.closer)();
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

/// Start the reader and writer threads of a connection.
pub(crate) fn start<M: Machine>(
    shared: &Arc<Shared<M>>,
    reader: Box<dyn Read + Send>,
    writer: Box<dyn Write + Send>,
    name: &str,
) -> io::Result<()> {
    let s = Arc::clone(shared);
    shared.threads.fetch_add(1, Ordering::AcqRel);
    let spawned = thread::Builder::new()
        .name(format!("{name}-write"))
        .spawn(move || {
            let _running = Running(&s.threads);
            write_loop(&s, writer);
        });
    if let Err(e) = spawned {
        shared.threads.fetch_sub(1, Ordering::AcqRel);
        return Err(e);
    }
    let s = Arc::clone(shared);
    shared.threads.fetch_add(1, Ordering::AcqRel);
    let spawned = thread::Builder::new()
        .name(format!("{name}-read"))
        .spawn(move || {
            let _running = Running(&s.threads);
            read_loop(&s, reader);
        });
    if let Err(e) = spawned {
        shared.threads.fetch_sub(1, Ordering::AcqRel);
        // The writer thread ends once the connection is closed.
        let mut g = shared.lock();
        g.receive_eof(Instant::now());
        g.process_events();
        drop(g);
        shared.wake_writer();
        shared.close_transport();
        return Err(e);
    }
    Ok(())
}

/// Counts a connection thread out when it ends, panic or not.
struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn read_loop<M: Machine>(s: &Shared<M>, mut r: Box<dyn Read + Send>) {
    // Start small and double (up to READ_BUF) whenever a read fills the
    // buffer: idle connections stay small, busy ones read in big chunks.
    let mut buf = vec![0u8; READ_START];
    loop {
        let res = r.read(&mut buf);
        let mut g = s.lock();
        let now = Instant::now();
        match res {
            Ok(0) => {
                g.receive_eof(now);
                g.process_events();
                drop(g);
                s.wake_writer();
                return;
            }
            Ok(n) => {
                g.receive(&buf[..n], now);
                g.process_events();
                let closed = g.is_closed();
                drop(g);
                s.wake_writer();
                if closed {
                    return;
                }
                if n == buf.len() && n < READ_BUF {
                    buf = vec![0u8; (n * 2).min(READ_BUF)];
                }
            }
            Err(e) if is_transient(&e) => {
                if g.is_closed() {
                    return;
                }
            }
            Err(_) => {
                g.receive_eof(now);
                g.process_events();
                drop(g);
                s.wake_writer();
                return;
            }
        }
    }
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

fn write_loop<M: Machine>(s: &Shared<M>, mut w: Box<dyn Write + Send>) {
    let mut out = BytesMut::new();
    loop {
        out.clear();
        {
            let mut g = s.lock();
            loop {
                run_timers(&mut *g);
                while out.len() < MAX_BATCH && g.poll_transmit(&mut out) > 0 {}
                // Sending can make calls writable again.
                g.process_events();
                if !out.is_empty() {
                    break;
                }
                if g.is_closed() {
                    drop(g);
                    let _ = w.flush();
                    s.close_transport();
                    return;
                }
                let at = g.poll_timeout();
                g = wait(&s.writer, g, at);
            }
        }
        if write_all(s, &mut *w, &out).is_err() {
            let mut g = s.lock();
            g.receive_eof(Instant::now());
            g.process_events();
            drop(g);
            s.close_transport();
            return;
        }
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
