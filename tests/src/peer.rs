//! Real peers over loopback TCP: finding the Python interpreter that has the
//! peer packages, running a peer script as a child process, and a small
//! blocking driver that moves bytes between a [`TcpStream`] and an
//! [`h2::Connection`](grpc_sansio::h2::Connection) on real time.
//!
//! The peers are installed by `.ci/install-peers` into `target/peers-venv`.
//! A test asks for them with [`python_with`]:
//!
//! ```no_run
//! # fn test() {
//! let Some(python) = grpc_sansio_tests::peer::python_with(&["h2"]) else {
//!     return; // skipped, and said so on stderr
//! };
//! # }
//! ```
//!
//! When they are missing the test is skipped with a message, unless
//! `GRPC_SANSIO_REQUIRE_PEERS=1` (CI sets it), in which case it fails.
//!
//! Everything here is bounded: every loop has a wall-clock budget and an
//! iteration budget, sockets have read and write timeouts, and a child
//! process is killed when its handle is dropped.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use grpc_sansio::h2::{Connection, Event};

use crate::workspace_root;

/// The environment variable naming the Python interpreter to use.
pub const PYTHON_ENV: &str = "GRPC_SANSIO_PYTHON";
/// The environment variable that turns a missing peer into a failure.
pub const REQUIRE_ENV: &str = "GRPC_SANSIO_REQUIRE_PEERS";

/// The default budget of one peer scenario.
pub const DEFAULT_WALL: Duration = Duration::from_secs(10);

/// The Python interpreter with the peer packages: `$GRPC_SANSIO_PYTHON` if
/// set, else `target/peers-venv/bin/python` in the workspace.
pub fn python_path() -> PathBuf {
    match std::env::var_os(PYTHON_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join("target/peers-venv/bin/python"),
    }
}

/// The folder of the Python peer scripts.
pub fn scripts_dir() -> PathBuf {
    workspace_root().join("tests/peers/python")
}

/// The interpreter, if it exists and imports every module in `modules`.
///
/// Otherwise: with `GRPC_SANSIO_REQUIRE_PEERS=1` this panics with a message
/// that says how to install the peers; without it, it prints
/// `skipped: python <module> not installed; run .ci/install-peers` and
/// returns `None`, and the caller returns early.
pub fn python_with(modules: &[&str]) -> Option<PathBuf> {
    let python = python_path();
    let script: String = modules.iter().map(|m| format!("import {m}\n")).collect();
    let ok = Command::new(&python)
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(python);
    }
    let names = modules.join(", ");
    let require = std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1");
    if require {
        panic!(
            "{REQUIRE_ENV}=1 but {} cannot import python {names}; run .ci/install-peers \
             (or point {PYTHON_ENV} at a python that has them)",
            python.display()
        );
    }
    eprintln!("skipped: python {names} not installed; run .ci/install-peers");
    None
}

/// The environment variable naming the `node_modules` folder that holds
/// `@grpc/grpc-js` and `@grpc/proto-loader`.
pub const NODE_MODULES_ENV: &str = "GRPC_SANSIO_NODE_MODULES";

/// The `node_modules` of the grpc-js peers: `$GRPC_SANSIO_NODE_MODULES` if
/// set, else `target/node-peers/node_modules` (where `.ci/install-peers`
/// puts them).
pub fn node_modules_path() -> PathBuf {
    match std::env::var_os(NODE_MODULES_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join("target/node-peers/node_modules"),
    }
}

/// `node`, if it runs and can load every package in `packages` from
/// [`node_modules_path`]; otherwise skipped or failed exactly as
/// [`python_with`] does. Returns the node_modules folder to pass on in
/// [`NODE_MODULES_ENV`].
pub fn node_with(packages: &[&str]) -> Option<PathBuf> {
    let modules = node_modules_path();
    let script: String = packages
        .iter()
        .map(|p| format!("require({:?});\n", modules.join(p).display().to_string()))
        .collect();
    let ok = Command::new("node")
        .arg("-e")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(modules);
    }
    let names = packages.join(", ");
    let require = std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1");
    if require {
        panic!(
            "{REQUIRE_ENV}=1 but node cannot load {names} from {}; run .ci/install-peers \
             (or point {NODE_MODULES_ENV} at a node_modules that has them)",
            modules.display()
        );
    }
    eprintln!("skipped: node {names} not installed; run .ci/install-peers");
    None
}

/// A peer script running as a child process. Its stdout and stderr are
/// collected line by line; it is killed when dropped.
#[derive(Debug)]
pub struct PeerProcess {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    out_lines: Vec<String>,
}

/// What a finished peer said.
#[derive(Debug)]
pub struct PeerOutput {
    /// The exit status (`None`: it was killed at the deadline).
    pub status: Option<ExitStatus>,
    /// Every stdout line.
    pub stdout: Vec<String>,
    /// Every stderr line.
    pub stderr: Vec<String>,
}

impl PeerOutput {
    /// The JSON after `SUMMARY ` on the last such stdout line.
    pub fn summary(&self) -> Option<&str> {
        self.stdout
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("SUMMARY "))
    }

    /// Whether the script exited with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// Stdout and stderr for a failure message.
    pub fn transcript(&self) -> String {
        format!(
            "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout.join("\n"),
            self.stderr.join("\n")
        )
    }
}

fn lines_of(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl PeerProcess {
    /// Run `python <scripts_dir>/<script> <args...>`.
    pub fn spawn(python: &Path, script: &str, args: &[&str]) -> io::Result<Self> {
        let mut child = Command::new(python)
            .arg("-u")
            .arg(scripts_dir().join(script))
            .args(args)
            .current_dir(scripts_dir())
            // Keep the source tree free of __pycache__ folders.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = lines_of(child.stdout.take().expect("piped stdout"));
        let stderr = lines_of(child.stderr.take().expect("piped stderr"));
        Ok(PeerProcess {
            child,
            stdout,
            stderr,
            out_lines: Vec::new(),
        })
    }

    /// Run any program (node, one of our binaries) the same way: stdout
    /// and stderr collected line by line, killed when dropped.
    pub fn spawn_program(
        program: &Path,
        args: &[&str],
        cwd: &Path,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> io::Result<Self> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(cwd)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn()?;
        let stdout = lines_of(child.stdout.take().expect("piped stdout"));
        let stderr = lines_of(child.stderr.take().expect("piped stderr"));
        Ok(PeerProcess {
            child,
            stdout,
            stderr,
            out_lines: Vec::new(),
        })
    }

    /// Wait up to `within` for a stdout line starting with `prefix`;
    /// returns the rest of that line.
    pub fn wait_line(&mut self, prefix: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    let rest = line.strip_prefix(prefix).map(str::to_owned);
                    self.out_lines.push(line);
                    if rest.is_some() {
                        return rest;
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    return None;
                }
            }
        }
    }

    /// Wait up to `within` for the script to exit (killing it after that)
    /// and collect what it printed.
    pub fn finish(mut self, within: Duration) -> PeerOutput {
        let deadline = Instant::now() + within;
        let mut status = None;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(s)) => {
                    status = Some(s);
                    break;
                }
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(_) => break,
            }
        }
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // The reader threads end at EOF, which follows the exit.
        let mut stdout = std::mem::take(&mut self.out_lines);
        let grace = Instant::now() + Duration::from_secs(1);
        collect(&self.stdout, &mut stdout, grace);
        let mut stderr = Vec::new();
        collect(&self.stderr, &mut stderr, grace);
        PeerOutput {
            status,
            stdout,
            stderr,
        }
    }
}

fn collect(rx: &Receiver<String>, into: &mut Vec<String>, until: Instant) {
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => into.push(line),
            Err(_) => break,
        }
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A listener on 127.0.0.1 with an ephemeral port.
pub fn listen_local() -> io::Result<(TcpListener, u16)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}

/// Accept one connection within `within`.
pub fn accept_within(listener: &TcpListener, within: Duration) -> io::Result<TcpStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + within;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no connection within the deadline",
                    ));
                }
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// How long and how many turns a driver may run.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Wall-clock time.
    pub wall: Duration,
    /// Turns of the loop (each waits at most `poll` for bytes).
    pub turns: usize,
    /// The longest wait for bytes in one turn.
    pub poll: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            wall: DEFAULT_WALL,
            turns: 200_000,
            poll: Duration::from_millis(5),
        }
    }
}

/// Why a driver stopped before the connection was done.
#[derive(Debug)]
pub enum DriveError {
    /// The wall-clock budget ran out.
    Timeout,
    /// The turn budget ran out.
    TooManyTurns,
    /// A socket error other than a timeout or a reset.
    Io(io::Error),
}

/// Moves bytes between a TCP stream and a connection, on real time.
#[derive(Debug)]
pub struct Driver {
    /// The connection under test.
    pub conn: Connection,
    sock: TcpStream,
    out: BytesMut,
    buf: Vec<u8>,
    /// The peer closed its side of TCP.
    pub eof: bool,
    /// Bytes read from and written to the socket so far.
    pub bytes_in: usize,
    /// Bytes written so far.
    pub bytes_out: usize,
}

impl Driver {
    /// Wrap a connected socket (read timeout set per turn, write timeout
    /// 5 s, Nagle off).
    pub fn new(conn: Connection, sock: TcpStream) -> io::Result<Self> {
        sock.set_nodelay(true)?;
        sock.set_write_timeout(Some(Duration::from_secs(5)))?;
        Ok(Driver {
            conn,
            sock,
            out: BytesMut::new(),
            buf: vec![0; 64 << 10],
            eof: false,
            bytes_in: 0,
            bytes_out: 0,
        })
    }

    /// Write everything the connection has to send.
    pub fn flush(&mut self) -> io::Result<()> {
        loop {
            self.out.clear();
            if self.conn.poll_transmit(&mut self.out) == 0 {
                return Ok(());
            }
            self.sock.write_all(&self.out)?;
            self.bytes_out += self.out.len();
        }
    }

    /// One turn: flush, run due timers, wait up to `poll` for bytes and
    /// feed them (or the end of file), flush again. Returns the events.
    pub fn turn(&mut self, poll: Duration) -> io::Result<Vec<Event>> {
        self.flush()?;
        if let Some(at) = self.conn.poll_timeout() {
            let now = Instant::now();
            if now >= at {
                self.conn.handle_timeout(now);
            }
        }
        if !self.eof && !self.conn.is_closed() {
            self.sock
                .set_read_timeout(Some(poll.max(Duration::from_millis(1))))?;
            match self.sock.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    self.conn.receive_eof();
                }
                Ok(n) => {
                    self.bytes_in += n;
                    // A connection error is reported as Event::Closed too.
                    let _ = self.conn.receive(&self.buf[..n], Instant::now());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    self.eof = true;
                    self.conn.receive_eof();
                }
                Err(e) => return Err(e),
            }
        }
        let events: Vec<Event> = std::iter::from_fn(|| self.conn.poll_event()).collect();
        self.flush()?;
        Ok(events)
    }

    /// Turn until the connection has closed, handing every event to `app`
    /// (which may act on the connection). Then flush what is left and close
    /// the socket. Returns every event seen.
    pub fn run(
        &mut self,
        budget: Budget,
        mut app: impl FnMut(&mut Connection, &Event),
    ) -> Result<Vec<Event>, DriveError> {
        let start = Instant::now();
        let mut all = Vec::new();
        for _ in 0..budget.turns {
            if start.elapsed() > budget.wall {
                return Err(DriveError::Timeout);
            }
            let events = self.turn(budget.poll).map_err(DriveError::Io)?;
            for ev in &events {
                app(&mut self.conn, ev);
            }
            all.extend(events);
            if self.conn.is_closed() {
                // Late bytes (a GOAWAY) go out before the close.
                self.flush().map_err(DriveError::Io)?;
                let _ = self.sock.shutdown(Shutdown::Write);
                return Ok(all);
            }
        }
        Err(DriveError::TooManyTurns)
    }
}
