//! Test support shared by the core's integration tests: a virtual clock, a
//! scripted raw HTTP/2 peer (a small frame DSL), and an in-memory pair of
//! connections.
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use grpc_sansio::frame::{self, Frame, FrameDecoder, Reason, Settings, StreamId};
use grpc_sansio::h2::{Config, Connection, Event};
use grpc_sansio::hpack::{self, HeaderField};

/// A clock that moves only when a test moves it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: Instant,
}

impl Clock {
    pub fn new() -> Self {
        // The one real reading: an arbitrary origin for virtual time.
        Clock {
            now: Instant::now(),
        }
    }

    pub fn advance(&mut self, d: Duration) -> Instant {
        self.now += d;
        self.now
    }
}

pub fn sid(n: u32) -> StreamId {
    StreamId::new(n)
}

pub fn field(name: &str, value: &str) -> HeaderField {
    HeaderField {
        name: Bytes::copy_from_slice(name.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
        sensitive: false,
    }
}

pub fn fields(list: &[(&str, &str)]) -> Vec<HeaderField> {
    list.iter().map(|(n, v)| field(n, v)).collect()
}

/// A typical request head.
pub fn request_head(path: &str) -> Vec<HeaderField> {
    fields(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", "localhost"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ])
}

pub fn get_head() -> Vec<HeaderField> {
    fields(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "localhost"),
    ])
}

pub fn as_pairs(list: &[HeaderField]) -> Vec<(String, String)> {
    list.iter()
        .map(|f| {
            (
                String::from_utf8_lossy(&f.name).into_owned(),
                String::from_utf8_lossy(&f.value).into_owned(),
            )
        })
        .collect()
}

/// A scripted peer that speaks raw frames to one of our connections.
pub struct RawPeer {
    pub enc: hpack::Encoder,
    pub dec: hpack::Decoder,
    pub frames: FrameDecoder,
    pub inbox: BytesMut,
    pub clock: Clock,
    /// Whether our side has closed the transport (saw `is_closed`).
    pub closed: bool,
}

impl RawPeer {
    pub fn new() -> Self {
        let mut frames = FrameDecoder::new();
        frames.set_max_frame_size(16_777_215);
        RawPeer {
            enc: hpack::Encoder::new(),
            dec: hpack::Decoder::new(4096),
            frames,
            inbox: BytesMut::new(),
            clock: Clock::new(),
            closed: false,
        }
    }

    /// A server connection under test, with the client preface and an
    /// empty SETTINGS sent and the server's SETTINGS acknowledged.
    pub fn server(config: Config) -> (Self, Connection) {
        let mut peer = RawPeer::new();
        let mut conn = Connection::server(config, peer.clock.now);
        let mut out = BytesMut::from(frame::PREFACE);
        Settings::default().encode(&mut out);
        conn.receive(&out, peer.clock.now)
            .expect("preface accepted");
        let got = peer.read(&mut conn);
        assert!(
            matches!(got.first(), Some(Frame::Settings(s)) if !s.ack),
            "server speaks SETTINGS first: {got:?}"
        );
        peer.send(&mut conn, Frame::Settings(Settings::ack()))
            .expect("ack accepted");
        peer.read(&mut conn);
        while conn.poll_event().is_some() {}
        (peer, conn)
    }

    /// Encode and feed frames to the connection.
    pub fn send(
        &mut self,
        conn: &mut Connection,
        frame: Frame,
    ) -> Result<(), grpc_sansio::h2::ConnectionError> {
        let mut out = BytesMut::new();
        frame.encode(&mut out);
        conn.receive(&out, self.clock.now)
    }

    pub fn send_raw(
        &mut self,
        conn: &mut Connection,
        bytes: &[u8],
    ) -> Result<(), grpc_sansio::h2::ConnectionError> {
        conn.receive(bytes, self.clock.now)
    }

    /// A HEADERS frame carrying `list`, encoded with this peer's HPACK
    /// state.
    pub fn headers(&mut self, id: u32, list: &[HeaderField], end_stream: bool) -> Frame {
        let block = self.block(list);
        Frame::Headers(frame::Headers {
            stream_id: sid(id),
            fragment: block,
            end_stream,
            end_headers: true,
            priority: None,
            pad_len: None,
        })
    }

    pub fn block(&mut self, list: &[HeaderField]) -> Bytes {
        let mut block = BytesMut::new();
        self.enc.encode(
            list.iter()
                .map(|f| (&f.name[..], &f.value[..], f.sensitive)),
            &mut block,
        );
        block.freeze()
    }

    pub fn data(&self, id: u32, bytes: &[u8], end_stream: bool) -> Frame {
        Frame::Data(frame::Data {
            stream_id: sid(id),
            data: Bytes::copy_from_slice(bytes),
            end_stream,
            pad_len: None,
        })
    }

    /// Everything the connection wants to send, decoded.
    pub fn read(&mut self, conn: &mut Connection) -> Vec<Frame> {
        loop {
            if conn.poll_transmit(&mut self.inbox) == 0 {
                break;
            }
        }
        let mut got = Vec::new();
        while let Ok(Some(f)) = self.frames.decode(&mut self.inbox) {
            got.push(f);
        }
        if conn.is_closed() {
            self.closed = true;
        }
        got
    }

    /// Decode a header block the connection sent.
    pub fn decode(&mut self, block: &Bytes) -> Vec<(String, String)> {
        let mut out = Vec::new();
        self.dec
            .decode(block, 1 << 20, &mut out)
            .expect("our header block decodes");
        as_pairs(&out)
    }
}

/// Drain all events.
pub fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// The GOAWAY code in a list of frames, if any.
pub fn goaway_code(frames: &[Frame]) -> Option<Reason> {
    frames.iter().find_map(|f| match f {
        Frame::GoAway(g) => Some(g.code),
        _ => None,
    })
}

/// The RST_STREAM (stream, code) pairs in a list of frames.
pub fn resets(frames: &[Frame]) -> Vec<(u32, Reason)> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::RstStream(r) => Some((r.stream_id.value(), r.code)),
            _ => None,
        })
        .collect()
}

/// A deterministic pseudo-random source for split points (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// A client and a server connection wired in memory on a virtual clock.
/// Bytes cross in chunks of random size so that every layer sees frames
/// split at arbitrary points.
pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub clock: Clock,
    pub rng: Rng,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// Bytes moved in each direction so far.
    pub to_server: usize,
    pub to_client: usize,
}

impl Pair {
    pub fn new(client: Config, server: Config) -> Self {
        let clock = Clock::new();
        Pair {
            client: Connection::client(client, clock.now),
            server: Connection::server(server, clock.now),
            clock,
            rng: Rng(0x9e37_79b9_7f4a_7c15),
            client_events: Vec::new(),
            server_events: Vec::new(),
            to_server: 0,
            to_client: 0,
        }
    }

    /// Move bytes both ways until neither side has anything to send.
    /// Returns the number of rounds; panics past `max_rounds` (livelock).
    pub fn drive_bounded(&mut self, max_rounds: usize) -> usize {
        for round in 0..max_rounds {
            let a = self.transfer(true);
            let b = self.transfer(false);
            self.client_events.extend(events(&mut self.client));
            self.server_events.extend(events(&mut self.server));
            if a == 0 && b == 0 {
                return round;
            }
        }
        panic!("pair did not go idle within {max_rounds} rounds");
    }

    pub fn drive(&mut self) -> usize {
        self.drive_bounded(100_000)
    }

    fn transfer(&mut self, client_to_server: bool) -> usize {
        let (from, to) = if client_to_server {
            (&mut self.client, &mut self.server)
        } else {
            (&mut self.server, &mut self.client)
        };
        let mut buf = BytesMut::new();
        while from.poll_transmit(&mut buf) > 0 {}
        let total = buf.len();
        let mut rest = &buf[..];
        while !rest.is_empty() {
            let n = 1 + self.rng.below(rest.len().min(4096));
            let (chunk, tail) = rest.split_at(n);
            let _ = to.receive(chunk, self.clock.now);
            rest = tail;
        }
        if client_to_server {
            self.to_server += total;
        } else {
            self.to_client += total;
        }
        total
    }

    pub fn take_client_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.client_events)
    }

    pub fn take_server_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.server_events)
    }
}

/// The messages of `call` among a gRPC client's events.
pub fn messages_client(
    events: &[grpc_sansio::client::ClientEvent],
    call: grpc_sansio::call::CallId,
) -> Vec<Bytes> {
    use grpc_sansio::client::ClientEvent;
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Message {
                call: c, message, ..
            } if *c == call => Some(message.clone().decompress().expect("message decompresses")),
            _ => None,
        })
        .collect()
}

/// The messages of `call` among a gRPC server's events.
pub fn messages_server(
    events: &[grpc_sansio::server::ServerEvent],
    call: grpc_sansio::call::CallId,
) -> Vec<Bytes> {
    use grpc_sansio::server::ServerEvent;
    events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Message {
                call: c, message, ..
            } if *c == call => Some(message.clone().decompress().expect("message decompresses")),
            _ => None,
        })
        .collect()
}
