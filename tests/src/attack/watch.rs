//! What an attack must not disturb: a benign client's unary calls on
//! another connection, and this process's resident memory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::MAX_BENIGN_LATENCY;
use super::server::{Adapter, path};

/// How long one benign call may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause between benign calls.
const PAUSE: Duration = Duration::from_millis(5);
/// How long the stall probe sleeps at a time.
const PROBE_TICK: Duration = Duration::from_millis(2);
/// How much later than asked the stall probe must wake for the time to
/// count as a stall (scheduling noise stays well below this).
const STALL_MIN: Duration = Duration::from_millis(20);

/// What the benign client saw.
#[derive(Debug, Default, Clone)]
pub struct BenignReport {
    /// Calls that succeeded with the right echo.
    pub ok: usize,
    /// Calls that failed, and why.
    pub errors: Vec<String>,
    /// When every successful call started, and how long it took.
    pub calls: Vec<(Instant, Duration)>,
    /// Stretches in which this process did not run (seen by a probe thread that notes each late wake-up).
    pub stalls: Vec<(Instant, Instant)>,
}

impl BenignReport {
    /// The 99th percentile latency.
    pub fn p99(&self) -> Duration {
        let mut l: Vec<Duration> = self.calls.iter().map(|(_, took)| *took).collect();
        l.sort();
        l.get((l.len() * 99).div_ceil(100).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    }

    /// The slowest call.
    pub fn max(&self) -> Duration {
        self.calls
            .iter()
            .map(|(_, took)| *took)
            .max()
            .unwrap_or_default()
    }

    /// How much of the span from `start` for `took` this process spent
    /// stalled.
    pub fn stalled(&self, start: Instant, took: Duration) -> Duration {
        let end = start + took;
        self.stalls
            .iter()
            .map(|&(from, to)| to.min(end).saturating_duration_since(from.max(start)))
            .sum()
    }

    /// The slowest call with the time this process was stalled meanwhile
    /// taken out (what the server, not the machine, made it wait), and that
    /// call's whole latency.
    pub fn max_unstalled(&self) -> (Duration, Duration) {
        self.calls
            .iter()
            .map(|&(start, took)| (took.saturating_sub(self.stalled(start, took)), took))
            .max()
            .unwrap_or_default()
    }

    /// The longest stall.
    pub fn longest_stall(&self) -> Duration {
        self.stalls
            .iter()
            .map(|&(from, to)| to.saturating_duration_since(from))
            .max()
            .unwrap_or_default()
    }

    /// Every call succeeded, at least a few ran, none took longer than
    /// [`MAX_BENIGN_LATENCY`] beyond the time this process was stalled
    /// while it ran (a loaded machine can stop the whole process for a
    /// second; a flood that starves the benign connection holds it up while
    /// the process runs).
    pub fn assert_healthy(&self, attack: &str) {
        assert!(
            self.errors.is_empty(),
            "{attack}: benign calls failed: {:?}",
            self.errors
        );
        assert!(
            self.ok >= 3,
            "{attack}: only {} benign calls completed",
            self.ok
        );
        let (unstalled, took) = self.max_unstalled();
        assert!(
            unstalled < MAX_BENIGN_LATENCY,
            "{attack}: a benign call took {took:?}, {unstalled:?} of it with the process running (p99 {:?}, {} stalls, longest {:?})",
            self.p99(),
            self.stalls.len(),
            self.longest_stall()
        );
    }
}

/// A client on its own connection that makes unary calls in a loop until
/// stopped.
pub struct Benign {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<BenignReport>,
    probe: StallProbe,
}

impl Benign {
    /// Start calling the server at `addr` with `adapter`'s channel. Returns
    /// once a first call has succeeded (the connection is made), so the
    /// report covers only calls made on an established connection.
    pub fn start(adapter: Adapter, addr: SocketAddr) -> Benign {
        let probe = StallProbe::start();
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let s = stop.clone();
        let thread = thread::Builder::new()
            .name("benign-client".into())
            .spawn(move || match adapter {
                Adapter::Tokio => run_tokio(addr, &s, ready_tx),
                Adapter::Blocking => run_blocking(addr, &s, ready_tx),
            })
            .expect("benign thread");
        let ready = ready_rx.recv_timeout(Duration::from_secs(10));
        assert!(
            matches!(ready, Ok(Ok(()))),
            "the benign client's first call failed: {ready:?}"
        );
        Benign {
            stop,
            thread,
            probe,
        }
    }

    /// Stop and report.
    pub fn stop(self) -> BenignReport {
        self.stop.store(true, Ordering::SeqCst);
        let mut report = self.thread.join().unwrap_or_else(|_| BenignReport {
            errors: vec!["the benign client panicked".into()],
            ..BenignReport::default()
        });
        report.stalls = self.probe.stop();
        report
    }
}

/// A thread that sleeps [`PROBE_TICK`] at a time and notes each time it
/// woke more than [`STALL_MIN`] late: stretches in which this process did
/// not get a CPU (a loaded machine, another VM's turn), which hold up every
/// thread, the benign client's and the server's alike.
struct StallProbe {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(Instant, Instant)>>,
}

impl StallProbe {
    fn start() -> StallProbe {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = thread::Builder::new()
            .name("stall-probe".into())
            .spawn(move || {
                let mut stalls = Vec::new();
                while !s.load(Ordering::SeqCst) {
                    let due = Instant::now() + PROBE_TICK;
                    thread::sleep(PROBE_TICK);
                    let woke = Instant::now();
                    if woke.saturating_duration_since(due) > STALL_MIN {
                        stalls.push((due, woke));
                    }
                }
                stalls
            })
            .expect("stall probe thread");
        StallProbe { stop, thread }
    }

    /// Stop; the stalls seen.
    fn stop(self) -> Vec<(Instant, Instant)> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or_default()
    }
}

type Ready = std::sync::mpsc::Sender<Result<(), String>>;

/// Run calls until `stop`; the first one's outcome goes to `ready`, the
/// rest into the report.
fn call_loop(
    stop: &AtomicBool,
    ready: Ready,
    mut call: impl FnMut(Bytes) -> Result<Bytes, String>,
) -> BenignReport {
    let mut report = BenignReport::default();
    let first = call(Bytes::from_static(b"warm-up"));
    let failed = first.is_err();
    let _ = ready.send(first.map(|_| ()));
    if failed {
        return report;
    }
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let payload = Bytes::from(format!("benign-{n}"));
        let started = Instant::now();
        match call(payload.clone()) {
            Ok(reply) if reply == payload => {
                report.ok += 1;
                report.calls.push((started, started.elapsed()));
            }
            Ok(reply) => report.errors.push(format!("wrong echo {reply:?}")),
            Err(e) => report
                .errors
                .push(format!("after {:?}: {e}", started.elapsed())),
        }
        thread::sleep(PAUSE);
    }
    report
}

fn run_tokio(addr: SocketAddr, stop: &AtomicBool, ready: Ready) -> BenignReport {
    use grpc_sansio_tokio::{BytesCodec, CallOptions, Channel};
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return BenignReport::default();
        }
    };
    let channel = match rt.block_on(async { Channel::connect(&format!("http://{addr}")) }) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return BenignReport::default();
        }
    };
    let p = path("Unary");
    call_loop(stop, ready, |payload| {
        rt.block_on(channel.unary(
            &p,
            BytesCodec,
            payload,
            CallOptions::new().timeout(CALL_TIMEOUT),
        ))
        .map(|r| r.into_inner())
        .map_err(|e| format!("{:?}: {}", e.code(), e.message()))
    })
}

fn run_blocking(addr: SocketAddr, stop: &AtomicBool, ready: Ready) -> BenignReport {
    use grpc_sansio_blocking::{BytesCodec, CallOptions, Channel};
    let channel = match Channel::builder(&format!("http://{addr}"))
        .connect_timeout(CALL_TIMEOUT)
        .build_lazy()
    {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return BenignReport::default();
        }
    };
    let p = path("Unary");
    call_loop(stop, ready, |payload| {
        channel
            .unary(
                &p,
                BytesCodec,
                &payload,
                CallOptions::new().timeout(CALL_TIMEOUT),
            )
            .map(|r| r.message)
            .map_err(|e| format!("{:?}: {}", e.code(), e.message()))
    })
}

/// This process's resident set size in bytes (`VmRSS` of
/// /proc/self/status), if it can be read.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}

/// Samples the resident set every 10 ms and reports the peak growth over
/// the value at the start. (VmHWM is the process's all-time peak, which
/// earlier tests in the same binary may have set; sampling measures this
/// attack alone.)
pub struct MemoryWatch {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl MemoryWatch {
    /// Start sampling.
    pub fn start() -> MemoryWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let base = resident_bytes().unwrap_or(0);
        let thread = thread::spawn(move || {
            let mut peak = base;
            while !s.load(Ordering::SeqCst) {
                peak = peak.max(resident_bytes().unwrap_or(0));
                thread::sleep(Duration::from_millis(10));
            }
            peak = peak.max(resident_bytes().unwrap_or(0));
            peak.saturating_sub(base)
        });
        MemoryWatch { stop, thread }
    }

    /// Stop; the peak growth in bytes.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or(u64::MAX)
    }
}
