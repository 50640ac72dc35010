//! The bounded pool of handler threads a server shares across its
//! connections.
//!
//! At most `max_threads` handlers run at once; threads are started on
//! demand and end after a minute idle. When all are busy a new call waits
//! in a queue of at most `queue` calls for at most `queue_timeout`; a call
//! that finds the queue full, or waits longer, is answered
//! RESOURCE_EXHAUSTED. Nothing here grows without a bound. A call that
//! ends while it waits (its client cancelled it, its deadline passed)
//! keeps its place until a thread takes it up, unless the queue is full:
//! a full queue is first swept of such calls, so that they do not crowd
//! out calls someone still waits for.
//!
//! Queued calls are taken up by a chain of wake-ups: one idle thread is
//! woken at a time, and a woken thread that leaves calls in the queue
//! wakes the next. A burst of calls from one read costs the reader one
//! wake-up, and no thread wakes to find the queue already empty.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use grpc_sansio::grpc::Status;

use super::ServerInterceptor;
use super::handler::{Handler, ServerCall};

const IDLE_EXIT: Duration = Duration::from_secs(60);
/// How often at most a full queue is swept of the calls that ended in it
/// (a sweep looks at every queued call, under the pool's lock).
const SWEEP_EVERY: Duration = Duration::from_millis(10);

/// A call for a handler thread.
pub(crate) struct Job {
    pub(crate) call: ServerCall,
    pub(crate) handler: Handler,
    pub(crate) interceptors: Arc<[ServerInterceptor]>,
}

impl Job {
    fn run(self) {
        let Job {
            mut call,
            handler,
            interceptors,
        } = self;
        // A call that ended while it waited (the client cancelled or reset
        // it, its deadline passed) is only closed: its handler would work
        // for nobody.
        if call.is_cancelled() {
            call.finish(Status::cancelled("call ended before its handler started"));
            return;
        }
        // A panicking handler ends its call with UNKNOWN (the call's drop
        // does it) and leaves the thread usable.
        let _ = catch_unwind(AssertUnwindSafe(move || {
            for i in interceptors.iter() {
                if let Err(status) = i(call.head_mut()) {
                    call.finish(status);
                    return;
                }
            }
            handler.run(call)
        }));
    }

    fn reject(self) {
        self.call
            .finish_now(Status::resource_exhausted("server handler pool exhausted"));
    }
}

struct PoolState {
    /// Jobs and when they expire: `None` for a job handed to an idle
    /// thread (it waits for nothing), the queue timeout for one that waits
    /// because every thread is busy (`None` too if that timeout is too
    /// large to fall due).
    queue: VecDeque<(Box<Job>, Option<Instant>)>,
    threads: usize,
    idle: usize,
    /// A wake-up is on its way to an idle thread.
    waking: bool,
    expiry_thread: bool,
    shutdown: bool,
    /// Calls that ended while they waited, swept out of a full queue: the
    /// expiry thread closes them (the thread that swept them out may hold
    /// a connection's lock, which closing a call takes).
    ended: Vec<Job>,
    /// When a full queue was last swept.
    swept: Option<Instant>,
}

pub(crate) struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
    expiry: Condvar,
    max_threads: usize,
    max_queue: usize,
    queue_timeout: Duration,
}

impl Pool {
    /// The most handlers that run at once.
    pub(crate) fn max_threads(&self) -> usize {
        self.max_threads
    }

    pub(crate) fn new(max_threads: usize, max_queue: usize, queue_timeout: Duration) -> Arc<Self> {
        Arc::new(Pool {
            state: Mutex::new(PoolState {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                waking: false,
                expiry_thread: false,
                shutdown: false,
                ended: Vec::new(),
                swept: None,
            }),
            work: Condvar::new(),
            expiry: Condvar::new(),
            max_threads: max_threads.max(1),
            max_queue,
            queue_timeout,
        })
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Handlers running or waiting now.
    pub(crate) fn busy(&self) -> usize {
        let st = self.lock();
        st.threads - st.idle + st.queue.len()
    }

    /// Hand `job` to a thread. Never blocks. `Err` gives the job back when
    /// it cannot run (pool and queue full, or shut down): the caller
    /// answers it.
    pub(crate) fn submit(self: &Arc<Self>, job: Box<Job>) -> Result<(), Box<Job>> {
        match self.submit_all([((), job)]).pop() {
            Some(((), job)) => Err(job),
            None => Ok(()),
        }
    }

    /// Run or queue every job, taking the pool's lock once; returns the
    /// jobs refused (pool and queue full, or shutting down), in order,
    /// each with its tag.
    pub(crate) fn submit_all<T>(
        self: &Arc<Self>,
        jobs: impl IntoIterator<Item = (T, Box<Job>)>,
    ) -> Vec<(T, Box<Job>)> {
        let mut st = self.lock();
        if st.shutdown {
            return jobs.into_iter().collect();
        }
        let mut refused = Vec::new();
        let mut start = Vec::new();
        // A timeout too large to add to the current instant
        // (`Duration::MAX`): queued calls wait as long as it takes.
        let expires = Instant::now().checked_add(self.queue_timeout);
        for (tag, job) in jobs {
            if st.queue.len() < st.idle {
                st.queue.push_back((job, None));
            } else if st.threads < self.max_threads {
                st.threads += 1;
                start.push((tag, job));
            } else if self.queue_timeout.is_zero()
                || self.max_queue == 0
                || !self.make_room(&mut st)
            {
                refused.push((tag, job));
            } else {
                st.queue.push_back((job, expires));
                if expires.is_some() {
                    self.start_expiry(&mut st);
                }
                self.expiry.notify_one();
            }
        }
        let wake = Self::claim_wake(&mut st);
        drop(st);
        if wake {
            self.work.notify_one();
        }
        for (tag, job) in start {
            if let Err(job) = self.start_thread(job) {
                self.lock().threads -= 1;
                refused.push((tag, job));
            }
        }
        refused
    }

    /// The thread that answers queued calls that waited too long, and
    /// closes those swept out of the queue, unless it runs already;
    /// whether it runs.
    fn start_expiry(self: &Arc<Self>, st: &mut PoolState) -> bool {
        if !st.expiry_thread {
            let pool = Arc::clone(self);
            if thread::Builder::new()
                .name("grpc-handler-queue".to_string())
                .spawn(move || pool.expire())
                .is_ok()
            {
                st.expiry_thread = true;
            }
        }
        st.expiry_thread
    }

    /// Whether the queue has room for one more call. A full one is first
    /// swept (at most once per [`SWEEP_EVERY`]) of the calls that ended
    /// while they waited; the expiry thread closes them.
    fn make_room(self: &Arc<Self>, st: &mut PoolState) -> bool {
        if st.queue.len() < self.max_queue {
            return true;
        }
        let now = Instant::now();
        let recent = st
            .swept
            .is_some_and(|t| now.saturating_duration_since(t) < SWEEP_EVERY);
        if recent || !self.start_expiry(st) {
            return false;
        }
        st.swept = Some(now);
        let before = st.ended.len();
        for (job, expires) in std::mem::take(&mut st.queue) {
            if job.call.is_cancelled() {
                st.ended.push(*job);
            } else {
                st.queue.push_back((job, expires));
            }
        }
        if st.ended.len() > before {
            self.expiry.notify_one();
        }
        st.queue.len() < self.max_queue
    }

    /// Whether to wake an idle thread now: calls wait, and no wake-up is
    /// already on its way (see the module docs).
    fn claim_wake(st: &mut PoolState) -> bool {
        let wake = !st.queue.is_empty() && st.idle > 0 && !st.waking;
        if wake {
            st.waking = true;
        }
        wake
    }

    /// A new handler thread (already counted) that runs `job` first.
    fn start_thread(self: &Arc<Self>, job: Box<Job>) -> Result<(), Box<Job>> {
        let pool = Arc::clone(self);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Box<Job>>(1);
        let spawned = thread::Builder::new()
            .name("grpc-handler".to_string())
            .spawn(move || {
                if let Ok(job) = rx.recv() {
                    job.run();
                }
                pool.worker();
            });
        match spawned {
            Ok(_) => {
                let _ = tx.send(job);
                Ok(())
            }
            Err(_) => Err(job),
        }
    }

    fn worker(&self) {
        let mut st = self.lock();
        loop {
            if let Some((job, expires)) = st.queue.pop_front() {
                let wake = Self::claim_wake(&mut st);
                drop(st);
                if wake {
                    self.work.notify_one();
                }
                if expires.is_some_and(|e| Instant::now() > e) {
                    job.reject();
                } else {
                    job.run();
                }
                st = self.lock();
                continue;
            }
            if st.shutdown {
                break;
            }
            st.idle += 1;
            let (g, timeout) = self
                .work
                .wait_timeout(st, IDLE_EXIT)
                .unwrap_or_else(PoisonError::into_inner);
            st = g;
            st.idle -= 1;
            // The wake-up on its way has come (or this one is spurious or
            // timed out, and the next claim may wake one more: harmless).
            st.waking = false;
            if timeout.timed_out() && st.queue.is_empty() {
                break;
            }
        }
        st.threads -= 1;
    }

    /// Answer queued calls that waited too long, and close those that
    /// ended while they waited.
    fn expire(&self) {
        let mut st = self.lock();
        loop {
            if !st.ended.is_empty() {
                let ended = std::mem::take(&mut st.ended);
                drop(st);
                for job in ended {
                    // Cancelled: closed without running its handler.
                    job.run();
                }
                st = self.lock();
                continue;
            }
            let now = Instant::now();
            let mut expired = Vec::new();
            while st
                .queue
                .front()
                .is_some_and(|(_, e)| e.is_some_and(|e| e <= now))
            {
                if let Some((job, _)) = st.queue.pop_front() {
                    expired.push(job);
                }
            }
            if !expired.is_empty() {
                drop(st);
                for job in expired {
                    job.reject();
                }
                st = self.lock();
                continue;
            }
            if st.shutdown && st.queue.is_empty() {
                st.expiry_thread = false;
                return;
            }
            let next = st.queue.iter().find_map(|(_, e)| *e);
            st = match next {
                Some(at) => {
                    self.expiry
                        .wait_timeout(st, at.saturating_duration_since(now))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self.expiry.wait(st).unwrap_or_else(PoisonError::into_inner),
            };
        }
    }

    /// Stop taking calls; idle threads end; queued calls are refused.
    pub(crate) fn shutdown(&self) {
        let mut st = self.lock();
        st.shutdown = true;
        let queued: Vec<Box<Job>> = st.queue.drain(..).map(|(j, _)| j).collect();
        let ended = std::mem::take(&mut st.ended);
        drop(st);
        self.work.notify_all();
        self.expiry.notify_all();
        for job in queued {
            job.reject();
        }
        for job in ended {
            job.run();
        }
    }
}
