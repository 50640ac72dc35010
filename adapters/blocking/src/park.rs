//! Idle server connections without a thread each.
//!
//! A server connection's reader thread blocks in `read`. When a plain TCP
//! connection has been quiet for a while ([`ServerBuilder::park_idle_after`],
//! two seconds by default) and has nothing in progress (no call, no
//! output, no timer), its reader hands the socket to the server's
//! [`Parker`] and ends. The parker is one thread that waits in `poll(2)` on
//! every parked socket at once; when one becomes readable (a new request,
//! the peer closing it, or our own side closing it at shutdown), it starts
//! a new reader thread for that connection, which reads as before.
//!
//! So an idle connection costs its state and a socket, not a thread's
//! stack: the parker thread exists only while some connection is parked.
//! TLS connections are not parked (their reader may hold decrypted bytes
//! that `poll` cannot see), and neither are transports given to
//! `serve_transport`.
//!
//! [`ServerBuilder::park_idle_after`]: crate::ServerBuilder::park_idle_after

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;

use rustix::event::{PollFd, PollFlags, poll};

/// What a parked connection needs to come back: its socket, watched for
/// readability, and the work that starts its reader again.
struct Parked {
    socket: Arc<TcpStream>,
    resume: Box<dyn FnOnce() + Send>,
}

/// The server's parked connections and the thread that watches them.
/// Cheap to clone; every clone is the same parker.
#[derive(Clone)]
pub(crate) struct Parker {
    inner: Arc<Inner>,
}

struct Inner {
    list: Mutex<List>,
    /// Written to (one byte, without blocking) when the list changes, so
    /// that the watching thread polls the new list.
    wake_tx: UnixStream,
    /// The watching thread's end of the wake-up pair.
    wake_rx: UnixStream,
}

#[derive(Default)]
struct List {
    parked: Vec<Parked>,
    /// The watching thread runs (or is being started).
    running: bool,
}

impl Parker {
    /// A parker with nothing parked and no thread yet.
    pub(crate) fn new() -> io::Result<Parker> {
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        wake_tx.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        Ok(Parker {
            inner: Arc::new(Inner {
                list: Mutex::new(List::default()),
                wake_tx,
                wake_rx,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, List> {
        self.inner
            .list
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Park a connection: `resume` makes the work that starts its reader
    /// again, and is called only if the connection is parked. `false`
    /// when no thread could be started to watch it (the caller's reader
    /// goes on reading).
    pub(crate) fn park(
        &self,
        socket: Arc<TcpStream>,
        resume: impl FnOnce() -> Box<dyn FnOnce() + Send>,
    ) -> bool {
        let mut list = self.lock();
        if !list.running {
            let me = self.clone();
            let spawned = thread::Builder::new()
                .name("grpc-server-park".to_string())
                .spawn(move || me.watch());
            if spawned.is_err() {
                return false;
            }
            list.running = true;
        }
        list.parked.push(Parked {
            socket,
            resume: resume(),
        });
        drop(list);
        self.wake();
        true
    }

    /// Connections parked now.
    pub(crate) fn parked(&self) -> usize {
        self.lock().parked.len()
    }

    fn wake(&self) {
        // A full pair means a wake-up is pending already.
        let _ = (&self.inner.wake_tx).write(&[1]);
    }

    /// The watching thread: poll the wake-up pair and every parked socket;
    /// resume the connections whose socket is readable (or closed, or in
    /// error); end when none is left.
    fn watch(&self) {
        loop {
            let sockets: Vec<Arc<TcpStream>> = {
                let mut list = self.lock();
                if list.parked.is_empty() {
                    list.running = false;
                    return;
                }
                list.parked.iter().map(|p| Arc::clone(&p.socket)).collect()
            };
            let mut fds = Vec::with_capacity(sockets.len() + 1);
            fds.push(PollFd::new(&self.inner.wake_rx, PollFlags::IN));
            fds.extend(sockets.iter().map(|s| PollFd::new(&**s, PollFlags::IN)));
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => {
                    // Nothing sensible to wait on: give every connection
                    // back to a reader thread.
                    let all = std::mem::take(&mut self.lock().parked);
                    resume_all(all);
                    continue;
                }
            }
            let mut drain = [0u8; 64];
            while matches!((&self.inner.wake_rx).read(&mut drain), Ok(n) if n > 0) {}
            // Only this thread removes entries, and others only append:
            // the first `sockets.len()` entries are still the ones polled,
            // in order. Removed from the highest index down, so that each
            // `swap_remove` moves in an entry not yet looked at or not
            // ready.
            let ready: Vec<usize> = fds
                .iter()
                .skip(1)
                .enumerate()
                .filter(|(_, fd)| !fd.revents().is_empty())
                .map(|(i, _)| i)
                .collect();
            if ready.is_empty() {
                continue;
            }
            let mut woken = Vec::with_capacity(ready.len());
            {
                let mut list = self.lock();
                for &i in ready.iter().rev() {
                    if i < list.parked.len() {
                        woken.push(list.parked.swap_remove(i));
                    }
                }
            }
            drop(fds);
            resume_all(woken);
        }
    }
}

fn resume_all(parked: Vec<Parked>) {
    for p in parked {
        (p.resume)();
    }
}
