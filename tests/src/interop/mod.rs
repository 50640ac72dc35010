//! The gRPC interop suite: the `grpc.testing` messages ([`pb`]), the
//! client cases ([`cases`]) written once against a small blocking
//! [`Transport`](transport::Transport), the TestService behaviour
//! ([`service`]) written once as plain functions, the per-case report
//! format ([`report`]) shared with the peer drivers in `tests/peers`, and
//! the bindings of both to each adapter, and TLS for both ([`tls`]).
//!
//! The `interop-client` and `interop-server` binaries and the matrix test
//! (`tests/tests/interop_matrix.rs`) are built from these.

pub mod bind_blocking;
pub mod bind_tokio;
pub mod cases;
pub mod flags;
pub mod pb;
pub mod report;
pub mod service;
pub mod tls;
pub mod transport;
