//! Shared pieces of the grpc-sansio benchmarks (see `benches/README.md`):
//! an in-memory client/server pair that runs whole RPCs through both
//! state machines with no I/O.
#![forbid(unsafe_code)]

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use grpc_sansio::call::{CallError, CallKind};
use grpc_sansio::client::{CallOptions, ClientConfig, ClientConnection, ClientEvent};
use grpc_sansio::grpc::Status;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::server::{ServerConfig, ServerConnection, ServerEvent};

/// A client and a server connection wired back to back in memory.
pub struct MemPair {
    /// The client side.
    pub client: ClientConnection,
    /// The server side.
    pub server: ServerConnection,
    now: Instant,
    buf: BytesMut,
}

impl MemPair {
    /// A pair with default configurations, handshake done.
    pub fn new() -> Self {
        Self::with_configs(ClientConfig::default(), ServerConfig::default())
    }

    /// A pair for streaming benchmarks (default configurations: the
    /// WINDOW_UPDATE flood limit counts only updates that DATA did not
    /// earn, so fast streams do not trip it).
    pub fn for_streaming() -> Self {
        Self::with_configs(ClientConfig::default(), ServerConfig::default())
    }

    /// A pair with these configurations, handshake done.
    pub fn with_configs(client: ClientConfig, server: ServerConfig) -> Self {
        let now = Instant::now();
        let mut p = MemPair {
            client: ClientConnection::new(client, now),
            server: ServerConnection::new(server, now),
            now,
            buf: BytesMut::with_capacity(64 << 10),
        };
        p.flush();
        while p.client.poll_event().is_some() {}
        while p.server.poll_event().is_some() {}
        p
    }

    /// Move bytes both ways until both sides are quiet.
    pub fn flush(&mut self) {
        loop {
            self.buf.clear();
            while self.client.poll_transmit(&mut self.buf) > 0 {}
            let a = self.buf.len();
            if a > 0 {
                let _ = self.server.receive(&self.buf, self.now);
            }
            self.buf.clear();
            while self.server.poll_transmit(&mut self.buf) > 0 {}
            let b = self.buf.len();
            if b > 0 {
                let _ = self.client.receive(&self.buf, self.now);
            }
            if a == 0 && b == 0 {
                return;
            }
        }
    }

    /// One unary RPC: `request` goes out, the server echoes it, the client
    /// gets the reply and an OK status. Returns the reply.
    pub fn unary(&mut self, request: Bytes) -> Bytes {
        self.unary_with(request, CallOptions::new(CallKind::Unary))
    }

    /// [`unary`](Self::unary) with a deadline `timeout` from now: the
    /// request head then carries a `grpc-timeout`.
    pub fn unary_with_timeout(&mut self, request: Bytes, timeout: std::time::Duration) -> Bytes {
        let options = CallOptions::new(CallKind::Unary).with_timeout(self.now, timeout);
        self.unary_with(request, options)
    }

    fn unary_with(&mut self, request: Bytes, options: CallOptions) -> Bytes {
        self.client
            .start_call_with_message("/bench.Echo/Unary", options, request, self.now)
            .expect("start");
        self.client_to_server();
        let mut scall = None;
        let mut msg = Bytes::new();
        while let Some(e) = self.server.poll_event() {
            match e {
                ServerEvent::CallStarted { call, .. } => scall = Some(call),
                ServerEvent::Message {
                    call,
                    message,
                    flow_len,
                    ..
                } => {
                    self.server.release_capacity(call, flow_len);
                    msg = message.decompress().expect("an uncompressed request");
                }
                _ => {}
            }
        }
        let scall = scall.expect("call arrived");
        self.server
            .send_response(scall, msg, Status::ok(), MetadataMap::new())
            .expect("reply");
        self.server_to_client();
        let mut reply = Bytes::new();
        let mut done = false;
        while let Some(e) = self.client.poll_event() {
            match e {
                ClientEvent::Message {
                    call,
                    message,
                    flow_len,
                    ..
                } => {
                    self.client.release_capacity(call, flow_len);
                    reply = message.decompress().expect("an uncompressed reply");
                }
                ClientEvent::Finished { status, .. } => {
                    assert!(status.is_ok(), "{status}");
                    done = true;
                }
                _ => {}
            }
        }
        assert!(done, "the call finished");
        reply
    }

    /// One server-streaming call: the server answers a one-message request
    /// with `count` copies of `message` and an OK status, sending as fast
    /// as flow control lets it; the client consumes each message as it
    /// arrives (releasing its flow-control credit). Returns the payload
    /// bytes the client received.
    pub fn server_stream(&mut self, count: usize, message: &Bytes) -> usize {
        // The flood limits (WINDOW_UPDATEs per ten seconds, for one) count
        // against the clock: let it run, or a long benchmark looks like a
        // flood to a connection that sees no time pass.
        self.now = Instant::now();
        let call = self
            .client
            .start_call(
                "/bench.Echo/Stream",
                CallOptions::new(CallKind::ServerStreaming),
                self.now,
            )
            .expect("start");
        self.client
            .send_message(call, Bytes::from_static(b"go"))
            .expect("send");
        self.client.half_close(call).expect("half close");
        self.client_to_server();
        let mut scall = None;
        while let Some(e) = self.server.poll_event() {
            match e {
                ServerEvent::CallStarted { call, .. } => scall = Some(call),
                ServerEvent::Message { call, flow_len, .. } => {
                    self.server.release_capacity(call, flow_len)
                }
                _ => {}
            }
        }
        let scall = scall.expect("call arrived");
        let (mut sent, mut received, mut status_sent, mut done) = (0, 0, false, false);
        let mut idle_rounds = 0;
        while !done {
            let before = (sent, received);
            while sent < count {
                match self.server.send_message(scall, message.clone()) {
                    Ok(()) => sent += 1,
                    Err(CallError::Blocked(_)) => break,
                    Err(e) => panic!("send: {e}"),
                }
            }
            if sent == count && !status_sent {
                self.server
                    .send_status(scall, Status::ok(), MetadataMap::new())
                    .expect("status");
                status_sent = true;
            }
            self.buf.clear();
            while self.server.poll_transmit(&mut self.buf) > 0 {}
            if !self.buf.is_empty() {
                let _ = self.client.receive(&self.buf, self.now);
            }
            while let Some(e) = self.client.poll_event() {
                match e {
                    ClientEvent::Message {
                        call,
                        message,
                        flow_len,
                        ..
                    } => {
                        received += message.wire_payload().len();
                        self.client.release_capacity(call, flow_len);
                    }
                    ClientEvent::Finished { status, .. } => {
                        assert!(status.is_ok(), "{status}");
                        done = true;
                    }
                    _ => {}
                }
            }
            // WINDOW_UPDATEs back to the server.
            self.buf.clear();
            while self.client.poll_transmit(&mut self.buf) > 0 {}
            if !self.buf.is_empty() {
                if let Err(e) = self.server.receive(&self.buf, self.now) {
                    panic!("server: {e}");
                }
            }
            while self.server.poll_event().is_some() {}
            idle_rounds = if (sent, received) == before {
                idle_rounds + 1
            } else {
                0
            };
            assert!(idle_rounds < 3, "the stream stalled");
        }
        received
    }

    fn client_to_server(&mut self) {
        self.buf.clear();
        while self.client.poll_transmit(&mut self.buf) > 0 {}
        let _ = self.server.receive(&self.buf, self.now);
    }

    fn server_to_client(&mut self) {
        self.buf.clear();
        while self.server.poll_transmit(&mut self.buf) > 0 {}
        let _ = self.client.receive(&self.buf, self.now);
        // WINDOW_UPDATEs and the like go back too.
        self.flush();
    }
}

impl Default for MemPair {
    fn default() -> Self {
        Self::new()
    }
}
