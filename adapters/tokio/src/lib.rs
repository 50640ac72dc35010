//! # grpc-sansio-tokio
//!
//! The tokio adapter of [`grpc_sansio`]: an async [`Channel`] (client)
//! and [`Server`]. It does I/O, timers and wake-ups only; every rule of
//! the protocol is in the core crate, driven here one task per
//! connection over any `AsyncRead + AsyncWrite` transport.
//!
//! - Client: [`Channel::connect`] (lazy), [`Channel::builder`], the four
//!   call kinds ([`Channel::unary`], [`Channel::server_streaming`],
//!   [`Channel::client_streaming`], [`Channel::streaming`]), typed by a
//!   [`Codec`] (`ProstCodec` for protobuf, feature `prost`, on by
//!   default; [`BytesCodec`] for raw bytes); reconnection with gRPC's
//!   backoff; [`ChannelState`].
//! - Compression: gzip by default, [`Deflate`] or any [`Compressor`] when
//!   registered; chosen per call, and any message may go uncompressed
//!   (`send_uncompressed`); every received message tells whether it
//!   arrived compressed (`last_message_compressed`, `message_compressed`).
//! - Server: [`Routes`] of handlers by path, [`Server::builder`],
//!   [`Server::serve_with_shutdown`] with graceful shutdown,
//!   interceptors both sides.
//! - Standard services: [`health`] (`grpc.health.v1.Health`) and
//!   [`reflection`] (`grpc.reflection.v1` and `v1alpha`), added to any
//!   [`Routes`].
//! - Tests: [`Server::in_memory_channel`] connects a channel to a server
//!   through in-memory pipes.
//!
//! Flow control is replenished as the application consumes messages: a
//! message taken from a response stream (or request stream) gives its
//! window back; nothing is acknowledged by hand.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
mod error;
pub mod health;
mod memory;
pub mod reflection;
pub mod server;
mod sync;
#[cfg(feature = "tls")]
pub mod tls;
mod transport;

pub use client::{
    BackoffConfig, CallOptions, Channel, ChannelBuilder, ChannelState, ClientInterceptor,
    ClientStreamingCall, ConnectFuture, Connector, InvalidTarget, RequestSink, Streaming, Target,
};
pub use error::{Response, RpcError};
pub use server::{
    Listener, Peer, Request, RequestContext, RequestStream, ResponseSink, Routes, Server,
    ServerBuilder, ServerInterceptor,
};
pub use transport::{BoxIo, Io};

#[cfg(feature = "prost")]
pub use grpc_sansio::codec::ProstCodec;
pub use grpc_sansio::codec::{BytesCodec, Codec};
pub use grpc_sansio::grpc::compression::{Compressor, Deflate};
pub use grpc_sansio::grpc::metadata::MetadataMap;
pub use grpc_sansio::grpc::{Code, Status};
pub use grpc_sansio::server::CancelReason;

/// The core crate, for configuration types and everything else.
pub use grpc_sansio as core;
