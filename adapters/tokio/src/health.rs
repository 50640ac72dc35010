//! The standard health checking service, `grpc.health.v1.Health`, on the
//! tokio server: what load balancers, Kubernetes' gRPC probes and
//! `grpc_health_probe` ask.
//!
//! ```no_run
//! use grpc_sansio_tokio::health::{HealthReporter, ServingStatus};
//! use grpc_sansio_tokio::{Routes, Server};
//!
//! # async fn run() -> std::io::Result<()> {
//! let mut routes = Routes::new();
//! // ... the application's services ...
//! let health = HealthReporter::new();
//! health.add_to(&mut routes);
//! health.set("echo.Echo", ServingStatus::Serving);
//! let server = Server::builder().build(routes);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
//! server.serve(listener).await
//! # }
//! ```
//!
//! The server as a whole (the empty service name) starts `SERVING`.
//! `Check` answers NOT_FOUND for a name never set; `Watch` streams
//! `SERVICE_UNKNOWN` for it, then each change, until the client cancels.
//! [`HealthReporter::shut_down`] turns every status to `NOT_SERVING` for
//! good (call it before a graceful shutdown, as grpc-go does).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use grpc_sansio::health::{HealthServerCodec, HealthTable, SERVICE};
use tokio::sync::watch;

use crate::{Response, Routes, RpcError};

pub use grpc_sansio::health::{HealthClientCodec, ServingStatus};

/// Sets the statuses the health service reports. Cheap to clone; every
/// clone is the same table.
#[derive(Clone, Debug)]
pub struct HealthReporter {
    table: Arc<watch::Sender<HealthTable>>,
    watches: Arc<AtomicUsize>,
}

/// Counts a `Watch` out when it ends (or its task is dropped).
struct Watching(Arc<AtomicUsize>);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Default for HealthReporter {
    fn default() -> Self {
        HealthReporter::new()
    }
}

impl HealthReporter {
    /// A table where only the server as a whole is known, `SERVING`.
    pub fn new() -> HealthReporter {
        HealthReporter {
            table: Arc::new(watch::Sender::new(HealthTable::new())),
            watches: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Set `service`'s status ("" is the server as a whole); watchers
    /// hear of a change.
    pub fn set(&self, service: &str, status: ServingStatus) {
        self.table.send_if_modified(|t| t.set(service, status));
    }

    /// Forget `service`: NOT_FOUND to `Check`, `SERVICE_UNKNOWN` to
    /// `Watch`.
    pub fn clear(&self, service: &str) {
        self.table.send_if_modified(|t| t.clear(service));
    }

    /// Every service `NOT_SERVING` from now on; later changes are ignored.
    pub fn shut_down(&self) {
        self.table.send_modify(HealthTable::shut_down);
    }

    /// What `Check(service)` answers now.
    pub fn status(&self, service: &str) -> Option<ServingStatus> {
        self.table.borrow().check(service).ok()
    }

    /// `Watch` calls in progress. Each has read its service's status:
    /// a change made after this counts one hears of it.
    pub fn watches(&self) -> usize {
        self.watches.load(Ordering::Acquire)
    }

    /// Serve `grpc.health.v1.Health` (`Check` and `Watch`) from this
    /// table on `routes`.
    pub fn add_to(&self, routes: &mut Routes) {
        let table = Arc::clone(&self.table);
        routes.unary(SERVICE, "Check", HealthServerCodec, move |req| {
            let answer = table.borrow().check(req.get_ref());
            async move { answer.map(Response::new).map_err(RpcError::from) }
        });
        let table = Arc::clone(&self.table);
        let watches = Arc::clone(&self.watches);
        routes.server_streaming(SERVICE, "Watch", HealthServerCodec, move |req, mut sink| {
            let mut rx = table.subscribe();
            let watches = Arc::clone(&watches);
            async move {
                let (ctx, service) = req.into_parts();
                let mut last = None;
                let mut watching = None;
                loop {
                    let now = rx.borrow_and_update().watch(&service);
                    if watching.is_none() {
                        // Counted once the first status is read.
                        watches.fetch_add(1, Ordering::AcqRel);
                        watching = Some(Watching(Arc::clone(&watches)));
                    }
                    if last != Some(now) {
                        sink.send(now).await?;
                        last = Some(now);
                    }
                    tokio::select! {
                        changed = rx.changed() => {
                            if changed.is_err() {
                                // The reporter is gone: nothing will change.
                                ctx.cancelled().await;
                                return Ok(());
                            }
                        }
                        _ = ctx.cancelled() => return Ok(()),
                    }
                }
            }
        });
    }
}
