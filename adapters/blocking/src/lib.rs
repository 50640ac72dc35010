//! Blocking `std::net` adapter for grpc-sansio.
//!
//! Not implemented yet: this crate is a placeholder that compiles so the
//! workspace layout is in place. It will bind the core's client and server
//! state machines to `std::net` sockets and threads, with no async runtime
//! anywhere in its dependency tree.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
