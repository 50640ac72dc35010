//! tokio adapter for grpc-sansio.
//!
//! Not implemented yet: this crate is a placeholder that compiles so the
//! workspace layout is in place. It will bind the core's client and server
//! state machines to tokio: I/O, timers and wake-ups only.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
