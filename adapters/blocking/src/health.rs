//! The standard health checking service, `grpc.health.v1.Health`, on the
//! blocking server: what load balancers, Kubernetes' gRPC probes and
//! `grpc_health_probe` ask.
//!
//! ```no_run
//! use grpc_sansio_blocking::health::{HealthReporter, ServingStatus};
//! use grpc_sansio_blocking::{Handler, Router, Server};
//!
//! let mut router: Router<Handler> = Router::new();
//! // ... the application's services ...
//! let health = HealthReporter::new();
//! health.add_to(&mut router);
//! health.set("echo.Echo", ServingStatus::Serving);
//! let server = Server::builder().build(router);
//! server.bind("127.0.0.1:50051")?;
//! server.wait();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The server as a whole (the empty service name) starts `SERVING`.
//! `Check` answers NOT_FOUND for a name never set; `Watch` streams
//! `SERVICE_UNKNOWN` for it, then each change, until the client cancels.
//! A `Watch` holds a handler thread while it lasts and notices a
//! cancellation within [`WATCH_POLL`]; at most [`MAX_WATCHES`] run at
//! once. [`HealthReporter::shut_down`] turns
//! every status to `NOT_SERVING` for good (call it before a graceful
//! shutdown, as grpc-go does).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use grpc_sansio::health::{HealthServerCodec, HealthTable, SERVICE};

use crate::io::CountOut;
use crate::{Handler, Router, RouterExt, Status};

pub use grpc_sansio::health::{HealthClientCodec, ServingStatus};

/// How often a `Watch` handler looks for its call's cancellation.
pub const WATCH_POLL: Duration = Duration::from_millis(100);

/// The most `Watch` calls a reporter serves at once. Each holds a
/// handler thread; past this, or past half of the server's handler
/// threads (none on a server with one), a `Watch` is refused
/// RESOURCE_EXHAUSTED so that watchers cannot take the whole pool (and
/// `Check` with it).
pub const MAX_WATCHES: usize = 8;

#[derive(Debug, Default)]
struct Shared {
    table: Mutex<HealthTable>,
    changed: Condvar,
    /// `Watch` calls in progress (changed under `table`'s lock).
    watches: AtomicUsize,
}

/// Sets the statuses the health service reports. Cheap to clone; every
/// clone is the same table.
#[derive(Clone, Debug, Default)]
pub struct HealthReporter {
    shared: Arc<Shared>,
}

impl HealthReporter {
    /// A table where only the server as a whole is known, `SERVING`.
    pub fn new() -> HealthReporter {
        HealthReporter::default()
    }

    fn table(&self) -> MutexGuard<'_, HealthTable> {
        lock(&self.shared)
    }

    fn changed(&self, changed: bool) {
        if changed {
            self.shared.changed.notify_all();
        }
    }

    /// Set `service`'s status ("" is the server as a whole); watchers
    /// hear of a change.
    pub fn set(&self, service: &str, status: ServingStatus) {
        let changed = self.table().set(service, status);
        self.changed(changed);
    }

    /// Forget `service`: NOT_FOUND to `Check`, `SERVICE_UNKNOWN` to
    /// `Watch`.
    pub fn clear(&self, service: &str) {
        let changed = self.table().clear(service);
        self.changed(changed);
    }

    /// Every service `NOT_SERVING` from now on; later changes are ignored.
    pub fn shut_down(&self) {
        self.table().shut_down();
        self.changed(true);
    }

    /// What `Check(service)` answers now.
    pub fn status(&self, service: &str) -> Option<ServingStatus> {
        self.table().check(service).ok()
    }

    /// `Watch` calls in progress. Each has read its service's status:
    /// a change made after this counts one hears of it.
    pub fn watches(&self) -> usize {
        self.shared.watches.load(Ordering::Acquire)
    }

    /// Serve `grpc.health.v1.Health` (`Check` and `Watch`) from this
    /// table on `router`.
    pub fn add_to(&self, router: &mut Router<Handler>) {
        let shared = Arc::clone(&self.shared);
        router.unary(
            SERVICE,
            "Check",
            HealthServerCodec,
            move |_call, service| lock(&shared).check(&service),
        );
        let shared = Arc::clone(&self.shared);
        router.server_streaming(
            SERVICE,
            "Watch",
            HealthServerCodec,
            move |call, service, out| {
                let mut last = None;
                let cap = MAX_WATCHES.min(call.max_handlers() / 2);
                let mut table = lock(&shared);
                if shared.watches.load(Ordering::Acquire) >= cap {
                    return Err(Status::resource_exhausted(
                        "too many health watches in progress",
                    ));
                }
                shared.watches.fetch_add(1, Ordering::AcqRel);
                let _watching = CountOut(&shared.watches);
                loop {
                    let now = table.watch(&service);
                    if last != Some(now) {
                        drop(table);
                        out.send(&now)?;
                        last = Some(now);
                        table = lock(&shared);
                        continue;
                    }
                    if call.is_cancelled() {
                        return Ok(());
                    }
                    table = shared
                        .changed
                        .wait_timeout(table, WATCH_POLL)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
            },
        );
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, HealthTable> {
    shared.table.lock().unwrap_or_else(PoisonError::into_inner)
}
