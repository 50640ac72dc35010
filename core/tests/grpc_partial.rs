//! The connection-wide bound on messages received in part
//! (`max_receive_memory`): a peer that starts large messages on many
//! calls and never finishes them gets RESOURCE_EXHAUSTED on the call that
//! would go past the bound, the calls within it go on, and the bytes are
//! given back however a call ends. Each side is driven by a hand-driven
//! HTTP/2 peer so that messages can be left unfinished on purpose.

mod support;

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use grpc_sansio::call::{CallId, CallKind};
use grpc_sansio::client::{CallOptions, ClientConfig, ClientConnection, ClientEvent};
use grpc_sansio::frame::{Reason, StreamId};
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::h2::{self, Event, Initiator};
use grpc_sansio::server::{CancelReason, ServerConfig, ServerConnection, ServerEvent};
use support::{Clock, field, request_head};

/// Payload length every test message announces.
const LEN: usize = 1_000_000;
/// How much of it is sent before the message is left unfinished.
const PART: usize = 800_000;
/// What the peer sends of each message: its prefix and the part.
const SENT: usize = 5 + PART;
/// What one unfinished message is charged: the memory its decoder holds,
/// a buffer grown by doubling up to the announced length, and the prefix.
const HELD: usize = 5 + LEN;

/// The message of `LEN` bytes (byte `i` is `i % 251`), framed.
fn framed() -> Bytes {
    let mut v = Vec::with_capacity(5 + LEN);
    v.push(0);
    v.extend_from_slice(&(LEN as u32).to_be_bytes());
    v.extend((0..LEN).map(|i| (i % 251) as u8));
    v.into()
}

fn payload() -> Bytes {
    framed().slice(5..)
}

/// Limits under which three unfinished messages fit and a fourth does not.
fn server_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.max_receive_message_size = LEN;
    config.max_receive_memory = 3 * HELD + HELD / 2;
    config
}

/// One side of the gRPC layer under test, as the harness drives it.
trait Side {
    type Event;
    fn transmit(&mut self, dst: &mut BytesMut) -> usize;
    fn feed(&mut self, bytes: &[u8], now: Instant);
    /// The next event, with its message's credit given back if `release`.
    fn next_event(&mut self, release: bool) -> Option<Self::Event>;
}

impl Side for ServerConnection {
    type Event = ServerEvent;
    fn transmit(&mut self, dst: &mut BytesMut) -> usize {
        self.poll_transmit(dst)
    }
    fn feed(&mut self, bytes: &[u8], now: Instant) {
        let _ = self.receive(bytes, now);
    }
    fn next_event(&mut self, release: bool) -> Option<ServerEvent> {
        let e = self.poll_event()?;
        if let (true, ServerEvent::Message { call, flow_len, .. }) = (release, &e) {
            self.release_capacity(*call, *flow_len);
        }
        Some(e)
    }
}

impl Side for ClientConnection {
    type Event = ClientEvent;
    fn transmit(&mut self, dst: &mut BytesMut) -> usize {
        self.poll_transmit(dst)
    }
    fn feed(&mut self, bytes: &[u8], now: Instant) {
        let _ = self.receive(bytes, now);
    }
    fn next_event(&mut self, release: bool) -> Option<ClientEvent> {
        let e = self.poll_event()?;
        if let (true, ClientEvent::Message { call, flow_len, .. }) = (release, &e) {
            self.release_capacity(*call, *flow_len);
        }
        Some(e)
    }
}

/// A gRPC connection and a raw HTTP/2 peer on one virtual instant.
struct Wired<G: Side> {
    peer: h2::Connection,
    conn: G,
    clock: Clock,
    events: Vec<G::Event>,
    peer_events: Vec<Event>,
    /// The application reads (releases) every message at once.
    reads: bool,
}

impl<G: Side> Wired<G> {
    fn new(peer: h2::Connection, conn: G, clock: Clock) -> Self {
        let mut t = Wired {
            peer,
            conn,
            clock,
            events: Vec::new(),
            peer_events: Vec::new(),
            reads: true,
        };
        t.drive();
        t
    }

    fn drive(&mut self) {
        for _ in 0..10_000 {
            let mut a = BytesMut::new();
            while self.peer.poll_transmit(&mut a) > 0 {}
            let mut b = BytesMut::new();
            while self.conn.transmit(&mut b) > 0 {}
            if !a.is_empty() {
                self.conn.feed(&a, self.clock.now);
            }
            if !b.is_empty() {
                let _ = self.peer.receive(&b, self.clock.now);
            }
            while let Some(e) = self.conn.next_event(self.reads) {
                self.events.push(e);
            }
            while let Some(e) = self.peer.poll_event() {
                if let Event::Data { stream, data, .. } = &e {
                    self.peer.release_capacity(*stream, data.len() as u32);
                }
                self.peer_events.push(e);
            }
            if a.is_empty() && b.is_empty() {
                return;
            }
        }
        panic!("livelock");
    }
}

/// A gRPC server and a raw HTTP/2 client.
type ToServer = Wired<ServerConnection>;

impl ToServer {
    fn server(config: ServerConfig) -> Self {
        let clock = Clock::new();
        let peer = h2::Connection::client(h2::Config::default(), clock.now);
        let conn = ServerConnection::new(config, clock.now);
        Wired::new(peer, conn, clock)
    }

    /// Opens a unary call and sends the first `PART` bytes of its message.
    fn start_partial(&mut self) -> StreamId {
        let stream = self
            .peer
            .open_stream(request_head("/t.S/Upload"), false)
            .unwrap();
        self.peer
            .send_data(stream, framed().slice(..SENT), false)
            .unwrap();
        self.drive();
        stream
    }

    /// Sends the rest of the stream's message and ends the request.
    fn finish(&mut self, stream: StreamId) {
        self.peer
            .send_data(stream, framed().slice(SENT..), true)
            .unwrap();
        self.drive();
    }

    fn call_of(&self, stream: StreamId) -> CallId {
        let n = self
            .events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::CallStarted { call, .. } => Some(*call),
                _ => None,
            })
            .collect::<Vec<_>>();
        n[usize::try_from(stream.value() / 2).unwrap()]
    }

    /// The `grpc-status` of the trailers the peer got on `stream`.
    fn status_on(&self, stream: StreamId) -> Option<(String, String)> {
        self.peer_events.iter().find_map(|e| match e {
            Event::Headers {
                stream: s,
                fields,
                end_stream: true,
            } if *s == stream => {
                let list = fields.clone().into_vec();
                let get = |name: &str| {
                    list.iter()
                        .find(|f| &f.name[..] == name.as_bytes())
                        .map(|f| String::from_utf8_lossy(&f.value).into_owned())
                        .unwrap_or_default()
                };
                Some((get("grpc-status"), get("grpc-message")))
            }
            _ => None,
        })
    }
}

#[test]
fn server_refuses_the_unfinished_message_past_the_bound_and_keeps_the_others() {
    let mut t = ToServer::server(server_config());
    let streams: Vec<StreamId> = (0..3).map(|_| t.start_partial()).collect();
    assert_eq!(t.conn.receive_memory_charged(), 3 * HELD);
    assert_eq!(t.conn.active_calls(), 3);

    // The fourth call would take the connection past its bound.
    let fourth = t.start_partial();
    let (code, message) = t.status_on(fourth).expect("trailers on the fourth stream");
    assert_eq!(code, "8", "RESOURCE_EXHAUSTED");
    assert!(message.contains("beyond flow control"), "{message}");
    let call4 = t.call_of(fourth);
    assert!(t.events.iter().any(|e| matches!(e,
        ServerEvent::Cancelled { call, reason: CancelReason::Protocol(s) }
            if *call == call4 && s.code() == Code::ResourceExhausted)));
    assert_eq!(t.conn.receive_memory_charged(), 3 * HELD);
    for &s in &streams {
        assert_eq!(t.status_on(s), None, "stream {} went on", s.value());
    }

    // The first call finishes its message: it arrives whole, and its
    // bytes leave the bound.
    t.finish(streams[0]);
    let call1 = t.call_of(streams[0]);
    let got = support::messages_server(&t.events, call1);
    assert_eq!(got, vec![payload()]);
    assert_eq!(t.conn.receive_memory_charged(), 2 * HELD);
    t.conn
        .send_response(
            call1,
            Bytes::from_static(b"ok"),
            Status::ok(),
            MetadataMap::new(),
        )
        .unwrap();
    t.drive();
    assert_eq!(t.status_on(streams[0]).unwrap().0, "0");

    // Room again for a new unfinished message.
    let fifth = t.start_partial();
    assert_eq!(t.status_on(fifth), None);
    assert_eq!(t.conn.receive_memory_charged(), 3 * HELD);

    // A call the client resets gives its bytes back.
    t.peer.reset(streams[1], Reason::CANCEL);
    t.drive();
    assert_eq!(t.conn.receive_memory_charged(), 2 * HELD);
    // So does a call the server ends before its message is whole.
    let call3 = t.call_of(streams[2]);
    t.conn
        .send_status(
            call3,
            Status::new(Code::Aborted, "no more"),
            MetadataMap::new(),
        )
        .unwrap();
    t.drive();
    assert_eq!(t.status_on(streams[2]).unwrap().0, "10");
    assert_eq!(t.conn.receive_memory_charged(), HELD);

    // And a connection that ends gives back everything.
    t.conn.receive_eof(t.clock.now);
    assert_eq!(t.conn.receive_memory_charged(), 0);
}

#[test]
fn one_message_as_large_as_the_receive_limit_always_fits() {
    // A bound set below one message is raised to one message.
    let mut config = server_config();
    config.max_receive_memory = 10;
    let mut t = ToServer::server(config);
    let stream = t.start_partial();
    assert_eq!(t.conn.receive_memory_charged(), HELD);
    t.finish(stream);
    let call = t.call_of(stream);
    assert_eq!(support::messages_server(&t.events, call), vec![payload()]);
    assert_eq!(t.conn.receive_memory_charged(), 0);
    // A second unfinished message beside one is refused.
    let a = t.start_partial();
    let b = t.start_partial();
    assert_eq!(t.status_on(a), None);
    assert_eq!(t.status_on(b).unwrap().0, "8");
}

/// A gRPC client and a raw HTTP/2 server.
type ToClient = Wired<ClientConnection>;

impl ToClient {
    fn client(config: ClientConfig) -> Self {
        let clock = Clock::new();
        let peer = h2::Connection::server(h2::Config::default(), clock.now);
        let conn = ClientConnection::new(config, clock.now);
        Wired::new(peer, conn, clock)
    }

    /// Starts a server-streaming call; the raw server answers with a
    /// response head and the first `PART` bytes of a message.
    fn start_partial(&mut self) -> (CallId, StreamId) {
        let now = self.clock.now;
        let call = self
            .conn
            .start_call_with_message(
                "/t.S/Download",
                CallOptions::new(CallKind::ServerStreaming),
                Bytes::from_static(b"go"),
                now,
            )
            .unwrap();
        self.drive();
        let stream = self
            .peer_events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::Headers { stream, .. } => Some(*stream),
                _ => None,
            })
            .unwrap();
        let head = vec![
            field(":status", "200"),
            field("content-type", "application/grpc"),
        ];
        self.peer.send_headers(stream, head, false).unwrap();
        self.peer
            .send_data(stream, framed().slice(..SENT), false)
            .unwrap();
        self.drive();
        (call, stream)
    }

    fn finished(&self, call: CallId) -> Option<Status> {
        self.events.iter().find_map(|e| match e {
            ClientEvent::Finished {
                call: c, status, ..
            } if *c == call => Some(status.clone()),
            _ => None,
        })
    }
}

#[test]
fn client_cancels_the_call_whose_response_goes_past_the_bound() {
    let mut config = ClientConfig::default();
    config.max_receive_message_size = LEN;
    config.max_receive_memory = 2 * HELD + HELD / 2;
    let mut t = ToClient::client(config);
    let (c1, s1) = t.start_partial();
    let (c2, _) = t.start_partial();
    assert_eq!(t.conn.receive_memory_charged(), 2 * HELD);
    let (c3, s3) = t.start_partial();
    let status = t.finished(c3).expect("the third call ended");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(t.peer_events.iter().any(|e| matches!(e,
        Event::StreamReset { stream, code: Reason::CANCEL, initiator: Initiator::Remote }
            if *stream == s3)));
    assert_eq!(t.finished(c1), None);
    assert_eq!(t.finished(c2), None);
    assert_eq!(t.conn.receive_memory_charged(), 2 * HELD);

    // The first call's message completes and its status arrives.
    t.peer.send_data(s1, framed().slice(SENT..), false).unwrap();
    t.peer
        .send_headers(s1, vec![field("grpc-status", "0")], true)
        .unwrap();
    t.drive();
    assert_eq!(support::messages_client(&t.events, c1), vec![payload()]);
    assert!(t.finished(c1).unwrap().is_ok());
    assert_eq!(t.conn.receive_memory_charged(), HELD);

    // A cancelled call gives its bytes back.
    t.conn.cancel(c2);
    t.drive();
    assert_eq!(t.conn.receive_memory_charged(), 0);
}

/// Compressed messages that would inflate a thousandfold, sent to a
/// handler that reads none of them: they are delivered still compressed,
/// so what the application holds is what the windows count, and nothing
/// is charged to the connection's bound; each inflates when it is taken.
#[cfg(feature = "gzip")]
#[test]
fn unread_compressed_messages_wait_compressed() {
    use grpc_sansio::grpc::compression::{Compressor, Gzip};
    let mut config = ServerConfig::default();
    config.max_receive_message_size = 1 << 20;
    config.max_receive_memory = 8 << 20;
    let mut t = ToServer::server(config);
    t.reads = false;
    let mut zipped = Vec::new();
    Gzip::new()
        .compress(&vec![9u8; 1 << 20], &mut zipped)
        .unwrap();
    assert!(zipped.len() < 2 << 10, "{} bytes", zipped.len());
    let mut framed = vec![1u8];
    framed.extend_from_slice(&(zipped.len() as u32).to_be_bytes());
    framed.extend_from_slice(&zipped);
    let mut head = request_head("/t.S/Upload");
    head.push(field("grpc-encoding", "gzip"));
    let stream = t.peer.open_stream(head, false).unwrap();
    // 32 MiB once inflated, in about 32 KiB on the wire, one message per
    // DATA frame (so that each holds all its credit).
    for _ in 0..32 {
        t.peer
            .send_data(stream, Bytes::from(framed.clone()), false)
            .unwrap();
        t.drive();
    }
    let held: Vec<(CallId, u32, grpc_sansio::call::Received)> = t
        .events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Message {
                call,
                message,
                flow_len,
            } => Some((*call, *flow_len, message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(held.len(), 32);
    let wire: usize = held.iter().map(|m| m.2.wire_payload().len()).sum();
    let credit: usize = held.iter().map(|m| m.1 as usize).sum();
    assert_eq!(wire, 32 * zipped.len());
    assert!(
        wire <= credit,
        "{wire} bytes held against {credit} of credit"
    );
    assert!(held.iter().all(|m| m.2.is_compressed()));
    assert_eq!(t.conn.receive_memory_charged(), 0);
    assert_eq!(t.status_on(stream), None, "the call goes on");
    for (call, flow, message) in held {
        t.conn.release_capacity(call, flow);
        assert_eq!(message.decompress().unwrap(), vec![9u8; 1 << 20]);
    }
}

/// A message whose first part was given back while it arrived (the
/// application held nothing then) holds more memory than its credit once
/// delivered: that part stays charged until the application releases the
/// message, and only then.
#[test]
fn an_early_credited_message_is_charged_until_released() {
    let mut config = server_config();
    config.max_receive_memory = 8 * HELD;
    let mut t = ToServer::server(config);
    t.reads = false;
    let stream = t.start_partial();
    assert_eq!(t.conn.receive_memory_charged(), HELD);
    t.finish(stream);
    let (call, flow) = t
        .events
        .iter()
        .find_map(|e| match e {
            ServerEvent::Message { call, flow_len, .. } => Some((*call, *flow_len)),
            _ => None,
        })
        .expect("the message arrived");
    // Only the part in the last DATA frame still holds credit; the rest of
    // the message is memory beyond it.
    assert!((flow as usize) < LEN + 5 - SENT, "{flow}");
    assert_eq!(t.conn.receive_memory_charged(), LEN - flow as usize);
    t.conn.release_capacity(call, flow - 1);
    assert_eq!(t.conn.receive_memory_charged(), LEN - flow as usize);
    t.conn.release_capacity(call, 1);
    assert_eq!(t.conn.receive_memory_charged(), 0);
}
