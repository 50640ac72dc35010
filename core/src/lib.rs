//! # grpc-sansio
//!
//! A gRPC implementation whose whole protocol is a pure state machine: bytes
//! and time go in; bytes, events and timer deadlines come out. This crate
//! never opens a socket, spawns a thread, reads a clock or sleeps. Adapter
//! crates (the async and the blocking adapters in `adapters/`) bind it to a
//! runtime; anyone can bind it to another.
//!
//! The layers, bottom to top, each a module that can be used and tested on
//! its own:
//!
//! 1. [`frame`]: HTTP/2 frames (RFC 9113 §4, §6): decoder, encoder, and every
//!    rule that a single frame can break.
//! 2. [`hpack`]: header compression (RFC 7541) with a decoded-size limit that
//!    is enforced while decoding.
//! 3. [`h2`]: one HTTP/2 connection (RFC 9113), either role: streams, flow
//!    control, SETTINGS, PING, GOAWAY, header validation, flood limits.
//! 4. [`grpc`]: the gRPC wire format pieces that do not need a connection:
//!    length-prefixed messages, metadata, `grpc-timeout`, status,
//!    compression.
//!
//! 5. [`client`] and [`server`]: the public state machines that adapters
//!    and embedders drive, one per connection ([`client::ClientConnection`],
//!    [`server::ServerConnection`]), with [`call`] holding what they share.
//!
//! Both implement [`Endpoint`], their byte-and-time side, so that a
//! driver's transport code can serve either role.
//!
//! Beside them, shapes both adapters use: [`codec`] (typed messages to
//! bytes) and [`router`] (handlers by path); and the standard services'
//! wire pieces: [`health`] (health checking) and [`reflection`] (server
//! reflection).
// The "Driving it by hand" section lives in doc/by_hand.md: its example
// is an embedder's code, which reads the clock, so it stays out of src/.
#![doc = ""]
#![doc = include_str!("../doc/by_hand.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod call;
pub mod client;
pub mod codec;
mod deadlines;
mod endpoint;
pub mod frame;
pub mod grpc;
pub mod h2;
pub mod health;
pub mod hpack;
mod protowire;
mod queue;
mod recent;
pub mod reflection;
pub mod router;
pub mod server;

pub use endpoint::Endpoint;

#[cfg(test)]
mod test_clock;
#[cfg(test)]
mod test_rng;
