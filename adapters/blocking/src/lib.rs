//! # grpc-sansio-blocking
//!
//! gRPC over `std::net` and plain threads, for programs that do not want
//! an async runtime: no tokio, no futures executor anywhere in this
//! crate's dependency tree. The protocol is the sans-I/O core
//! [`grpc_sansio`]; this crate only moves bytes, runs timers and wakes
//! threads.
//!
//! - [`Channel`]: a client. Clone it and share it across threads; every
//!   call from every clone is a stream on one HTTP/2 connection, made on
//!   demand and made again (with gRPC's connection backoff) after it is
//!   lost. Unary calls return the response; streaming responses are
//!   blocking iterators ([`Streaming`]); requests are sent from a handle
//!   ([`Call`], [`RequestSender`]) or taken from an iterator.
//! - [`Server`]: routes calls by path (a core [`Router`] of
//!   [`Handler`]s) to blocking handlers on a bounded thread pool, with
//!   graceful shutdown.
//! - Compression: gzip by default, [`Deflate`] or any [`Compressor`] when
//!   registered; chosen per call, and any message may go uncompressed
//!   (`send_uncompressed`); every received message tells whether it
//!   arrived compressed (`last_message_compressed`, `message_compressed`).
//! - TLS (feature `tls`): rustls with its `ring` provider, ALPN `h2`,
//!   custom roots, client certificates, a server name override
//!   (`ChannelBuilder::tls`, `Server::bind_tls`; see the `tls` module for
//!   how it shares the socket between a connection's two threads).
//! - Standard services: [`health`] (`grpc.health.v1.Health`) and
//!   [`reflection`] (`grpc.reflection.v1` and `v1alpha`), added to any
//!   [`Router`].
//! - Transports: TCP, Unix sockets, an in-memory pair for tests
//!   ([`Server::in_memory_channel`]), or any [`Transport`].
//!
//! ## Thread model
//!
//! Every connection, client or server, has up to **two threads**:
//!
//! - a **reader** that blocks in `read` and feeds the bytes to the state
//!   machine, for the connection's whole life, except on a server's idle
//!   plain TCP connection (Unix): after two quiet seconds with no call,
//!   nothing to write and no timer, the reader hands the socket to one
//!   thread per server that waits in `poll(2)` on every such socket, and a
//!   new reader takes over when the client sends again
//!   ([`ServerBuilder::park_idle_after`]);
//! - a **writer** that sends what the state machine has to send and runs
//!   its timers (call deadlines, keepalive, the SETTINGS acknowledgement
//!   timeout, idle and age limits, graceful-shutdown phases): it sleeps on
//!   a `Condvar` until there is output or [`poll_timeout`] is due. No
//!   async runtime is needed for any timer. It is started when there is
//!   something to write or a timer to watch, and ends a second after the
//!   last of them; a far timer that goes away unannounced (a finished
//!   call's deadline) is noticed at looks a second, then two, four, ...
//!   apart. An idle connection without timers holds one thread (none on
//!   a server's parked TCP connection).
//!
//! A small piece of output made by an application or handler thread (a
//! request, a unary reply) is written by that thread itself when nobody
//! else is writing and the peer is reading, which saves a thread switch
//! per message; everything else is the writer's. The reader never writes.
//!
//! The state machine and the per-call state sit behind one `Mutex` per
//! connection; application threads act on it under that lock and wait on
//! per-call `Condvar`s for messages, headers, writability or the end of a
//! call. Nobody holds the lock during I/O or while running user code, so
//! a peer that reads slowly cannot stop the connection from reading, and
//! a slow handler never delays the other calls of its connection.
//!
//! On a server, handlers run on a **bounded pool** shared by all
//! connections ([`ServerBuilder::max_handlers`], default 64 threads,
//! started on demand). When every thread is busy, a new call waits in a
//! bounded queue for a bounded time ([`ServerBuilder::handler_queue`],
//! default 8,192 calls, 5 s) and is answered `RESOURCE_EXHAUSTED` when
//! the queue is full or the wait runs out. The default is deep enough that
//! a burst of calls (eight connections' worth of concurrent streams) waits
//! its turn rather than fails, as it would run with tonic or grpc-go; a
//! queued call holds its request head and message (the messages' bytes
//! count against their connection's flow-control window, so the whole
//! queue holds at most a window per connection, plus the heads). A call
//! that ends while it waits (cancelled, reset, past its deadline) is
//! closed without running its interceptors or its handler. Connections are bounded too
//! ([`ServerBuilder::max_connections`], default 1024), so a server uses at
//! most `2 x max_connections + max_handlers + 2` threads plus one accept
//! thread per listener.
//!
//! Received messages wait for the application in per-call queues that
//! flow control bounds: a message holds its bytes against the HTTP/2
//! windows until the application takes it, and only then is its credit
//! given back to the peer. Nobody acknowledges messages by hand.
//!
//! [`poll_timeout`]: grpc_sansio::client::ClientConnection::poll_timeout
//! [`Router`]: grpc_sansio::router::Router
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
pub mod health;
mod io;
#[cfg(unix)]
mod park;
pub mod reflection;
mod server;
#[cfg(feature = "tls")]
pub mod tls;
mod transport;

pub use client::{
    BackoffConfig, Call, CallOptions, Channel, ChannelBuilder, ClientInterceptor,
    ConnectivityState, RequestSender, Response, Streaming,
};
pub use server::{
    Handler, Requests, ResponseSink, RouterExt, Server, ServerBuilder, ServerCall,
    ServerInterceptor,
};
#[cfg(unix)]
pub use transport::in_memory_pair;
pub use transport::{PeerAddr, Transport, TransportParts};

/// Shapes shared with the core (and the tokio adapter).
pub use grpc_sansio::call::{CallKind, RpcError};
#[cfg(feature = "prost")]
pub use grpc_sansio::codec::ProstCodec;
pub use grpc_sansio::codec::{BytesCodec, Codec};
pub use grpc_sansio::grpc::compression::{Compressor, Deflate};
pub use grpc_sansio::grpc::metadata::MetadataMap;
pub use grpc_sansio::grpc::{Code, Status};
pub use grpc_sansio::router::Router;
pub use grpc_sansio::server::RequestHead;

/// The `user-agent` of our requests.
pub const USER_AGENT: &str = concat!("grpc-sansio-blocking/", env!("CARGO_PKG_VERSION"));
