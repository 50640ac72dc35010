//! The attack suite's harness: a server of either adapter on 127.0.0.1
//! with a small service ([`server`]), a raw HTTP/2 attacker that writes
//! hand-made frames on its own TCP connection ([`raw`]), a benign client
//! that keeps making unary calls on another connection and a memory
//! watch over this process's resident set ([`watch`]), and a TCP relay
//! that can cut a connection mid-call ([`relay`]).
//!
//! An attack test runs as a [`Scenario`]: server up, benign load and
//! memory watch started, the attack, then [`Scenario::finish`] checks that
//! every benign call succeeded within [`MAX_BENIGN_LATENCY`] (not counting
//! time the whole process was stalled, see [`BenignReport::assert_healthy`])
//! and that the resident set grew by less than [`MEMORY_BOUND`]. Attacks run one at a
//! time ([`exclusive`]) so that latencies and memory are their own.

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use grpc_sansio::server::ServerConfig;

pub mod raw;
pub mod relay;
pub mod server;
pub mod watch;

pub use raw::{Attacker, Block, Received};
pub use relay::Relay;
pub use server::{Adapter, TestServer};
pub use watch::{Benign, BenignReport, MemoryWatch};

/// The most any benign call may take while an attack runs, beyond the time
/// the whole process was stalled meanwhile.
pub const MAX_BENIGN_LATENCY: Duration = Duration::from_secs(1);

/// How long a sustained attack repeats itself.
pub const ATTACK_TIME: Duration = Duration::from_millis(400);

/// The most rounds of a sustained attack.
pub const MAX_ROUNDS: usize = 200;

/// The most the resident set may grow during one attack.
pub const MEMORY_BOUND: u64 = 64 << 20;

/// How long the suite waits for anything the server should do at once
/// (a GOAWAY, a close, a cleanup).
pub const PROMPT: Duration = Duration::from_secs(3);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Hold this while attacking: attacks in one test binary run one at a
/// time, so each one's latencies and memory growth are its own.
pub fn exclusive() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running attack: the server, the benign client, the memory watch.
pub struct Scenario {
    /// The server under attack.
    pub server: TestServer,
    benign: Option<Benign>,
    memory: Option<MemoryWatch>,
    _turn: MutexGuard<'static, ()>,
}

impl Scenario {
    /// A server of `adapter` with the default configuration, a benign
    /// client already served once, and the memory watch running.
    pub fn start(adapter: Adapter) -> Scenario {
        Scenario::with_config(adapter, ServerConfig::default())
    }

    /// As [`start`](Self::start), with `config`.
    pub fn with_config(adapter: Adapter, config: ServerConfig) -> Scenario {
        let turn = exclusive();
        let server = TestServer::start(adapter, config);
        let benign = Benign::start(adapter, server.addr);
        let memory = MemoryWatch::start();
        Scenario {
            server,
            benign: Some(benign),
            memory: Some(memory),
            _turn: turn,
        }
    }

    /// Repeat `once` (one attack on a fresh connection, with its own
    /// assertions) for [`ATTACK_TIME`] (at least once, at most
    /// [`MAX_ROUNDS`] times), so that the benign client's calls overlap
    /// the attack; then check that every attacker's connection is gone
    /// and no handler is left running, and [`finish`](Self::finish).
    pub fn sustain(self, attack: &str, mut once: impl FnMut(SocketAddr)) -> BenignReport {
        let until = Instant::now() + ATTACK_TIME;
        let mut rounds = 0;
        while rounds == 0 || (Instant::now() < until && rounds < MAX_ROUNDS) {
            once(self.server.addr);
            rounds += 1;
        }
        eprintln!("[{attack} / {:?}] {rounds} rounds", self.server.adapter);
        // The benign client keeps its one connection.
        self.server.assert_settles_to(1, attack);
        self.finish(attack)
    }

    /// Stop the benign client and the memory watch; assert that every
    /// benign call succeeded in time and that memory stayed bounded.
    /// Returns the benign report (printed too).
    pub fn finish(mut self, attack: &str) -> BenignReport {
        let report = self.benign.take().map(Benign::stop).unwrap_or_default();
        let growth = self.memory.take().map(MemoryWatch::stop).unwrap_or(0);
        eprintln!(
            "[{attack} / {:?}] benign calls: {} ok, p99 {:?}, max {:?} ({:?} unstalled); {} stalls, longest {:?}; rss growth {} KiB",
            self.server.adapter,
            report.ok,
            report.p99(),
            report.max(),
            report.max_unstalled().0,
            report.stalls.len(),
            report.longest_stall(),
            growth >> 10
        );
        report.assert_healthy(attack);
        assert!(
            growth < MEMORY_BOUND,
            "{attack}: resident set grew by {growth} bytes (bound {MEMORY_BOUND})"
        );
        report
    }
}

/// Define `mod $name { fn tokio(); fn blocking(); }` running `$body` (a
/// `fn(Adapter)`) against each adapter's server.
#[macro_export]
macro_rules! attack_both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[test]
            fn tokio() {
                super::$body($crate::attack::Adapter::Tokio);
            }
            #[test]
            fn blocking() {
                super::$body($crate::attack::Adapter::Blocking);
            }
        }
    };
}
