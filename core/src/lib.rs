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
//! Beside them, shapes both adapters use: [`codec`] (typed messages to
//! bytes) and [`router`] (handlers by path); and the standard services'
//! wire pieces: [`health`] (health checking) and [`reflection`] (server
//! reflection).
//!
//! # Driving it by hand
//!
//! The whole contract fits in one loop: bytes from the transport go to
//! `receive`, bytes for the transport come from `poll_transmit`, what
//! happened comes from `poll_event`, and the clock goes in with every
//! call that needs it (`poll_timeout` says when to call `handle_timeout`).
//! Here a client and a server are wired back to back in memory for one
//! unary call; a real embedder moves the same bytes through its sockets.
//! (`tests/src/by_hand.rs` in the repository is a longer example over
//! TCP, with deadlines and every call kind.)
//!
//! ```
//! use std::time::Instant;
//!
//! use bytes::{Bytes, BytesMut};
//! use grpc_sansio::call::CallKind;
//! use grpc_sansio::client::{CallOptions, ClientConfig, ClientConnection, ClientEvent};
//! use grpc_sansio::grpc::Status;
//! use grpc_sansio::grpc::metadata::MetadataMap;
//! use grpc_sansio::server::{ServerConfig, ServerConnection, ServerEvent};
//!
//! // The clock is read by the embedder, never by the core.
//! let now = Instant::now();
//! let mut client = ClientConnection::new(ClientConfig::default(), now);
//! let mut server = ServerConnection::new(ServerConfig::default(), now);
//!
//! // Moves everything each side has to say to the other until both are
//! // quiet (the handshake, then the call's frames).
//! fn pump(client: &mut ClientConnection, server: &mut ServerConnection, now: Instant) {
//!     let mut wire = BytesMut::new();
//!     loop {
//!         wire.clear();
//!         while client.poll_transmit(&mut wire) > 0 {}
//!         let to_server = !wire.is_empty();
//!         if to_server {
//!             server.receive(&wire, now).expect("the client speaks HTTP/2");
//!         }
//!         wire.clear();
//!         while server.poll_transmit(&mut wire) > 0 {}
//!         let to_client = !wire.is_empty();
//!         if to_client {
//!             client.receive(&wire, now).expect("the server speaks HTTP/2");
//!         }
//!         if !to_server && !to_client {
//!             return;
//!         }
//!     }
//! }
//!
//! // The client: head, message and end of request in one go.
//! let request = Bytes::from_static(b"ping");
//! let options = CallOptions::new(CallKind::Unary);
//! let call = client
//!     .start_call_with_message("/demo.Echo/Say", options, request, now)
//!     .unwrap();
//! pump(&mut client, &mut server, now);
//!
//! // The server: a call starts, its message arrives; the answer is the
//! // message back and an OK status.
//! let mut started = None;
//! let mut got = None;
//! while let Some(event) = server.poll_event() {
//!     match event {
//!         ServerEvent::CallStarted { call, head } => {
//!             assert_eq!(head.method(), "Say");
//!             started = Some(call);
//!         }
//!         ServerEvent::Message { call, message, flow_len } => {
//!             // Taken: its flow-control credit goes back to the client.
//!             server.release_capacity(call, flow_len);
//!             got = Some(message.decompress().unwrap());
//!         }
//!         _ => {}
//!     }
//! }
//! let (scall, message) = (started.unwrap(), got.unwrap());
//! server
//!     .send_response(scall, message, Status::ok(), MetadataMap::new())
//!     .unwrap();
//! pump(&mut client, &mut server, now);
//!
//! // The client: the reply, then the status (exactly one `Finished` per
//! // call, however it ends).
//! let mut reply = None;
//! let mut status = None;
//! while let Some(event) = client.poll_event() {
//!     match event {
//!         ClientEvent::Message { call: c, message, flow_len } if c == call => {
//!             client.release_capacity(c, flow_len);
//!             reply = Some(message.decompress().unwrap());
//!         }
//!         ClientEvent::Finished { call: c, status: s, .. } if c == call => status = Some(s),
//!         _ => {}
//!     }
//! }
//! assert_eq!(reply.as_deref(), Some(&b"ping"[..]));
//! assert!(status.unwrap().is_ok());
//! // The call is over on the client side.
//! assert_eq!(client.active_calls(), 0);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod call;
pub mod client;
pub mod codec;
mod deadlines;
pub mod frame;
pub mod grpc;
pub mod h2;
pub mod health;
pub mod hpack;
mod protowire;
mod recent;
pub mod reflection;
pub mod router;
pub mod server;

#[cfg(test)]
mod test_clock;
