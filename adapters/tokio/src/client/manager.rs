//! The task that keeps a channel connected: connects when a call wants
//! a connection, publishes the channel's state, backs off between failed
//! attempts, and lets a draining connection finish while the next one is
//! made.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use grpc_sansio::client::ClientConnection;

use super::backoff::Backoff;
use super::driver::{ConnHandle, ConnState};
use super::{ChannelState, Shared};

/// Stops a half-made connection's driver if the attempt is abandoned.
struct AbortGuard(Option<ConnHandle>);

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.control.abort();
        }
    }
}

/// One attempt: transport, then the HTTP/2 handshake.
async fn connect(shared: &Shared) -> Result<ConnHandle, String> {
    let io = shared
        .connector
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut config = shared.settings.config.clone();
    config.h2.keepalive_interval = shared.keepalive.interval();
    let interval = config.h2.keepalive_interval;
    let conn = ClientConnection::new(config, Instant::now());
    let handle = ConnHandle::spawn(conn, io, Arc::clone(&shared.keepalive), interval);
    let mut guard = AbortGuard(Some(handle.clone()));
    let mut st = handle.state.clone();
    loop {
        let now = st.borrow_and_update().clone();
        match now {
            ConnState::Ready => {
                guard.0 = None;
                return Ok(handle);
            }
            ConnState::Closed(why) => return Err(why),
            ConnState::Draining => return Err("server refused the connection".into()),
            ConnState::Handshaking => {}
        }
        if st.changed().await.is_err() {
            return Err("connection ended during the handshake".into());
        }
    }
}

/// [`connect`] on a task of its own, so that a connector that panics
/// fails that attempt, which is backed off and tried again like any
/// other (as on the blocking adapter), rather than the manager, after
/// which nobody would connect again.
async fn attempt(shared: &Arc<Shared>) -> Result<ConnHandle, String> {
    /// An attempt given up (timed out, or the channel closed) stops.
    struct Abandon(tokio::task::AbortHandle);
    impl Drop for Abandon {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let s = shared.clone();
    let task = tokio::spawn(async move { connect(&s).await });
    let _abandon = Abandon(task.abort_handle());
    match task.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err("the connector panicked".to_string()),
        Err(_) => Err("connection attempt cancelled".to_string()),
    }
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9e37_79b9);
    t ^ (std::process::id() as u64).rotate_left(32)
}

/// Says so when the manager task is dropped without having shut the
/// channel down. If the runtime it ran on is gone, the channel forgets
/// its connection, whose driver went with that runtime, and the next
/// call starts a manager again, on its own runtime. If it panicked (a
/// bug of its own: a connector that panics fails only its attempt), the
/// channel is failed, not restarted in a loop: calls end with
/// UNAVAILABLE rather than wait for ever.
struct Gone(Arc<Shared>);

impl Drop for Gone {
    fn drop(&mut self) {
        if self.0.closing.is_set() {
            // Closed, though the manager may have gone (with its runtime)
            // before it could say so: calls must not wait on its
            // connection, which went with it.
            self.0.publish(ChannelState::Shutdown, None);
            return;
        }
        if std::thread::panicking() {
            self.0
                .fail("the channel's connection task panicked".to_string());
            return;
        }
        // Cleared before Idle is published: a call that sees Idle must
        // find no manager running, and start one (the other way round, a
        // call could see Idle, find `started` still set, and wait for a
        // manager that nobody starts).
        self.0.started.store(false, Ordering::Release);
        self.0.publish(ChannelState::Idle, None);
    }
}

pub(crate) async fn run(shared: Arc<Shared>) {
    let _gone = Gone(shared.clone());
    let settings = &shared.settings;
    let mut backoff = Backoff::new(settings.backoff, Instant::now(), seed());
    'idle: loop {
        // Idle until a call wants a connection. A call that saw Idle has
        // left a permit in `want`, so none is missed.
        if shared.snapshot.borrow().state != ChannelState::Idle {
            shared.publish(ChannelState::Idle, None);
        }
        tokio::select! {
            _ = shared.want.notified() => {}
            _ = shared.closing.wait() => {}
        }
        if shared.closing.is_set() {
            shared.publish(ChannelState::Shutdown, None);
            return;
        }
        backoff.reset(Instant::now());
        loop {
            shared.publish(ChannelState::Connecting, None);
            let now = Instant::now();
            let limit = settings
                .connect_timeout
                .unwrap_or_else(|| backoff.attempt_timeout(now));
            let attempt = tokio::select! {
                r = tokio::time::timeout(limit, attempt(&shared)) => match r {
                    Ok(r) => r,
                    Err(_) => Err(format!("connect timed out after {limit:?}")),
                },
                _ = shared.closing.wait() => {
                    shared.publish(ChannelState::Shutdown, None);
                    return;
                }
            };
            match attempt {
                Ok(handle) => {
                    shared.publish(ChannelState::Ready, Some(handle.clone()));
                    let mut st = handle.state.clone();
                    loop {
                        tokio::select! {
                            r = st.changed() => {
                                let over = r.is_err() || matches!(*st.borrow(), ConnState::Draining | ConnState::Closed(_));
                                if over {
                                    // Calls in progress finish on the old
                                    // connection; the next call makes a new one.
                                    continue 'idle;
                                }
                            }
                            _ = shared.closing.wait() => {
                                handle.control.shutdown();
                                shared.publish(ChannelState::Shutdown, None);
                                return;
                            }
                        }
                    }
                }
                Err(why) => {
                    shared.fail(why);
                    let wait = tokio::time::Instant::from_std(backoff.deadline);
                    tokio::select! {
                        _ = tokio::time::sleep_until(wait) => {}
                        _ = shared.closing.wait() => {
                            shared.publish(ChannelState::Shutdown, None);
                            return;
                        }
                    }
                    backoff.advance(Instant::now());
                }
            }
        }
    }
}
