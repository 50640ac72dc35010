//! The attacker: a raw HTTP/2 client on its own TCP connection that
//! writes frames built with [`grpc_sansio::frame`] and header blocks from
//! [`hpack::Encoder`] (or hand-made with [`Block`]), and decodes what the
//! server sends back on a reader thread.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use grpc_sansio::frame::{self, Frame, FrameDecoder, GoAway, Reason, Settings, StreamId};
use grpc_sansio::hpack;

/// Something the server sent, or the end of its byte stream.
#[derive(Debug, Clone)]
pub enum Received {
    /// A frame; for HEADERS, `fields` is its decoded header list.
    Frame {
        /// The frame.
        frame: Frame,
        /// Decoded fields of a HEADERS frame (empty otherwise).
        fields: Vec<(String, String)>,
    },
    /// The server closed the connection (end of file).
    Eof,
    /// Reading failed (a reset connection).
    Error(io::ErrorKind),
    /// Bytes that are not HTTP/2 frames.
    Garbage(String),
}

impl Received {
    /// The frame, if this is one.
    pub fn frame(&self) -> Option<&Frame> {
        match self {
            Received::Frame { frame, .. } => Some(frame),
            _ => None,
        }
    }

    /// Whether the connection ended here.
    pub fn is_end(&self) -> bool {
        matches!(self, Received::Eof | Received::Error(_))
    }

    /// The value of header `name` in a HEADERS frame on `stream`.
    pub fn header(&self, stream: u32, name: &str) -> Option<&str> {
        match self {
            Received::Frame {
                frame: Frame::Headers(h),
                fields,
            } if h.stream_id.value() == stream => fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }
}

/// A raw HTTP/2 client.
pub struct Attacker {
    stream: TcpStream,
    /// The HPACK encoder for [`Attacker::headers`].
    pub enc: hpack::Encoder,
    rx: Option<Receiver<Received>>,
    /// Everything received so far, in order.
    pub seen: Vec<Received>,
}

impl Attacker {
    /// Connect; nothing is written and nothing read yet.
    pub fn connect(addr: SocketAddr) -> Attacker {
        let stream = TcpStream::connect(addr).expect("attacker connects");
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
        Attacker {
            stream,
            enc: hpack::Encoder::new(),
            rx: None,
            seen: Vec::new(),
        }
    }

    /// Connect, start reading, and do the handshake with empty SETTINGS.
    pub fn open(addr: SocketAddr) -> Attacker {
        let mut a = Attacker::connect(addr);
        a.start_reader();
        a.handshake(Settings::default())
            .expect("attacker handshake written");
        a
    }

    /// Decode everything the server sends on a thread of its own. An
    /// attacker that never calls this never reads its socket.
    pub fn start_reader(&mut self) {
        let (tx, rx) = mpsc::channel();
        let mut s = self.stream.try_clone().expect("clone socket");
        thread::spawn(move || {
            let mut frames = FrameDecoder::new();
            frames.set_max_frame_size(frame::MAX_MAX_FRAME_SIZE);
            let mut hpack = hpack::Decoder::new(64 << 10);
            let mut buf = BytesMut::new();
            let mut chunk = vec![0u8; 64 << 10];
            let mut http2 = None;
            loop {
                let n = match s.read(&mut chunk) {
                    Ok(0) => {
                        if !buf.is_empty() && http2 != Some(true) {
                            let text = String::from_utf8_lossy(&buf).into_owned();
                            let _ = tx.send(Received::Garbage(text));
                        }
                        let _ = tx.send(Received::Eof);
                        return;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        if !buf.is_empty() && http2 != Some(true) {
                            let text = String::from_utf8_lossy(&buf).into_owned();
                            let _ = tx.send(Received::Garbage(text));
                        }
                        let _ = tx.send(Received::Error(e.kind()));
                        return;
                    }
                };
                buf.extend_from_slice(&chunk[..n]);
                // A server that answers HTTP/1.1 is not decoded as frames.
                if http2.is_none() && buf.len() >= 5 {
                    http2 = Some(&buf[..5] != b"HTTP/");
                }
                if http2 != Some(true) {
                    continue;
                }
                loop {
                    match frames.decode(&mut buf) {
                        Ok(Some(frame)) => {
                            let mut fields = Vec::new();
                            if let Frame::Headers(h) = &frame {
                                let mut list = Vec::new();
                                if hpack.decode(&h.fragment, 1 << 20, &mut list).is_ok() {
                                    fields = list
                                        .iter()
                                        .map(|f| {
                                            (
                                                String::from_utf8_lossy(&f.name).into_owned(),
                                                String::from_utf8_lossy(&f.value).into_owned(),
                                            )
                                        })
                                        .collect();
                                }
                            }
                            if tx.send(Received::Frame { frame, fields }).is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            let _ = tx.send(Received::Garbage(e.to_string()));
                            buf.clear();
                            break;
                        }
                    }
                }
            }
        });
        self.rx = Some(rx);
    }

    /// Write the preface and `settings`, then acknowledge the server's
    /// SETTINGS without waiting for it (a peer that never reads can still
    /// finish the handshake).
    pub fn handshake(&mut self, settings: Settings) -> io::Result<()> {
        let mut out = BytesMut::from(frame::PREFACE);
        settings.encode(&mut out);
        Settings::ack().encode(&mut out);
        self.write_raw(&out)
    }

    /// Write bytes as they are.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Write one frame.
    pub fn send(&mut self, f: Frame) -> io::Result<()> {
        self.send_all([f])
    }

    /// Write frames in one batch.
    pub fn send_all(&mut self, frames: impl IntoIterator<Item = Frame>) -> io::Result<()> {
        let mut out = BytesMut::new();
        for f in frames {
            f.encode(&mut out);
        }
        self.write_raw(&out)
    }

    /// Write `count` frames made by `make(i)`, `batch` per write, until
    /// done or a write fails (the server closed). Returns how many were
    /// written.
    pub fn flood(&mut self, count: u32, batch: u32, mut make: impl FnMut(u32) -> Frame) -> u32 {
        let mut i = 0;
        while i < count {
            let end = (i + batch.max(1)).min(count);
            let mut out = BytesMut::new();
            for j in i..end {
                make(j).encode(&mut out);
            }
            if self.write_raw(&out).is_err() {
                return i;
            }
            i = end;
        }
        count
    }

    /// Close both directions of the socket.
    pub fn shutdown(&self, how: Shutdown) {
        let _ = self.stream.shutdown(how);
    }

    /// A HEADERS frame with `fields` encoded by this attacker's HPACK
    /// encoder.
    pub fn headers(&mut self, id: u32, fields: &[(&str, &str)], end_stream: bool) -> Frame {
        let mut block = BytesMut::new();
        self.enc.encode(
            fields
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes(), false)),
            &mut block,
        );
        headers_frame(id, block.freeze(), end_stream, true)
    }

    /// Wait up to `within` for something matching `want`; everything
    /// received meanwhile is kept in [`seen`](Self::seen).
    pub fn wait_for(
        &mut self,
        within: Duration,
        want: impl Fn(&Received) -> bool,
    ) -> Option<Received> {
        if let Some(r) = self.seen.iter().find(|r| want(r)) {
            return Some(r.clone());
        }
        let rx = self.rx.as_ref().expect("start_reader first");
        let until = Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(r) => {
                    let hit = want(&r);
                    self.seen.push(r.clone());
                    if hit {
                        return Some(r);
                    }
                }
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// The next thing received (kept in [`seen`](Self::seen) too), within
    /// `within`.
    pub fn next_within(&mut self, within: Duration) -> Option<Received> {
        let rx = self.rx.as_ref().expect("start_reader first");
        let r = rx.recv_timeout(within).ok()?;
        self.seen.push(r.clone());
        Some(r)
    }

    /// The server's GOAWAY, within `within`; panics (with a transcript)
    /// without one.
    pub fn expect_goaway(&mut self, within: Duration) -> GoAway {
        match self.wait_for(within, |r| {
            matches!(r.frame(), Some(Frame::GoAway(_))) || r.is_end()
        }) {
            Some(Received::Frame {
                frame: Frame::GoAway(g),
                ..
            }) => g,
            other => panic!("expected GOAWAY, got {other:?} after {}", self.transcript()),
        }
    }

    /// Assert a GOAWAY with `code` (and debug data containing `debug`),
    /// then the end of the connection.
    pub fn expect_goaway_and_close(&mut self, code: Reason, debug: &str) -> GoAway {
        let g = self.expect_goaway(super::PROMPT);
        assert_eq!(
            g.code,
            code,
            "GOAWAY code (debug {:?})",
            String::from_utf8_lossy(&g.debug_data)
        );
        let text = String::from_utf8_lossy(&g.debug_data);
        assert!(
            text.contains(debug),
            "GOAWAY debug data {text:?} lacks {debug:?}"
        );
        self.expect_close(super::PROMPT);
        g
    }

    /// Assert that the server ends the connection within `within`.
    pub fn expect_close(&mut self, within: Duration) {
        let end = self.wait_for(within, Received::is_end);
        assert!(
            end.is_some(),
            "the server did not close the connection; saw {}",
            self.transcript()
        );
    }

    /// A short description of what was received, for failure messages.
    pub fn transcript(&self) -> String {
        let n = self.seen.len();
        let tail: Vec<String> = self
            .seen
            .iter()
            .skip(n.saturating_sub(12))
            .map(|r| match r {
                Received::Frame { frame, fields } if !fields.is_empty() => {
                    format!("HEADERS stream={} {fields:?}", frame.stream_id())
                }
                Received::Frame { frame, .. } => describe(frame),
                other => format!("{other:?}"),
            })
            .collect();
        format!("{n} items, last: {tail:?}")
    }

    /// RST_STREAM frames received so far: (stream, code).
    pub fn resets(&self) -> Vec<(u32, Reason)> {
        self.seen
            .iter()
            .filter_map(|r| match r.frame() {
                Some(Frame::RstStream(r)) => Some((r.stream_id.value(), r.code)),
                _ => None,
            })
            .collect()
    }

    /// How many received frames match `f`.
    pub fn count(&self, f: impl Fn(&Frame) -> bool) -> usize {
        self.seen
            .iter()
            .filter(|r| r.frame().is_some_and(&f))
            .count()
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

fn describe(f: &Frame) -> String {
    match f {
        Frame::GoAway(g) => format!(
            "GOAWAY {} {:?}",
            g.code,
            String::from_utf8_lossy(&g.debug_data)
        ),
        Frame::RstStream(r) => format!("RST_STREAM stream={} {}", r.stream_id, r.code),
        Frame::Data(d) => format!("DATA stream={} len={}", d.stream_id, d.data.len()),
        other => format!(
            "type {:#x} stream={}",
            other.frame_type(),
            other.stream_id()
        ),
    }
}

/// A HEADERS frame carrying `block`.
pub fn headers_frame(id: u32, block: Bytes, end_stream: bool, end_headers: bool) -> Frame {
    Frame::Headers(frame::Headers {
        stream_id: StreamId::new(id),
        fragment: block,
        end_stream,
        end_headers,
        priority: None,
        pad_len: None,
    })
}

/// A CONTINUATION frame carrying `fragment`.
pub fn continuation(id: u32, fragment: Bytes, end_headers: bool) -> Frame {
    Frame::Continuation(frame::Continuation {
        stream_id: StreamId::new(id),
        fragment,
        end_headers,
    })
}

/// A DATA frame.
pub fn data(id: u32, bytes: impl Into<Bytes>, end_stream: bool) -> Frame {
    Frame::Data(frame::Data {
        stream_id: StreamId::new(id),
        data: bytes.into(),
        end_stream,
        pad_len: None,
    })
}

/// A gRPC length-prefixed message (uncompressed).
pub fn grpc_message(payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(0);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// The head of a gRPC request to `path`, plus `extra` fields.
pub fn request_head<'a>(path: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", "localhost"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ];
    v.extend_from_slice(extra);
    v
}

/// A hand-made HPACK block (RFC 7541), for blocks the encoder would not
/// write: dynamic-table inserts and references chosen by the test.
#[derive(Debug, Default)]
pub struct Block(Vec<u8>);

impl Block {
    /// An empty block.
    pub fn new() -> Block {
        Block::default()
    }

    fn int(&mut self, prefix_bits: u8, first: u8, mut v: usize) {
        let max = (1usize << prefix_bits) - 1;
        if v < max {
            self.0.push(first | v as u8);
            return;
        }
        self.0.push(first | max as u8);
        v -= max;
        while v >= 128 {
            self.0.push((v % 128) as u8 | 0x80);
            v /= 128;
        }
        self.0.push(v as u8);
    }

    fn string(&mut self, s: &[u8]) {
        self.int(7, 0, s.len());
        self.0.extend_from_slice(s);
    }

    /// An indexed field (§6.1): `index` in the static table (1..=61) or
    /// the dynamic table (62..).
    pub fn indexed(mut self, index: usize) -> Block {
        self.int(7, 0x80, index);
        self
    }

    /// A literal with a new name, not added to the table (§6.2.2).
    pub fn literal(mut self, name: &str, value: &[u8]) -> Block {
        self.0.push(0);
        self.string(name.as_bytes());
        self.string(value);
        self
    }

    /// A literal with a new name added to the dynamic table (§6.2.1).
    pub fn literal_indexed(mut self, name: &str, value: &[u8]) -> Block {
        self.0.push(0x40);
        self.string(name.as_bytes());
        self.string(value);
        self
    }

    /// A whole request head to `path` as literals that leave the dynamic
    /// table alone.
    pub fn request(self, path: &str) -> Block {
        request_head(path, &[])
            .into_iter()
            .fold(self, |b, (n, v)| b.literal(n, v.as_bytes()))
    }

    /// The encoded block.
    pub fn bytes(self) -> Bytes {
        Bytes::from(self.0)
    }
}

/// The SETTINGS a peer sends to advertise `initial_window_size`.
pub fn settings_with_window(initial_window_size: u32) -> Settings {
    Settings {
        initial_window_size: Some(initial_window_size),
        ..Settings::default()
    }
}

/// How a reset by the server reads: the stream's RST_STREAM code.
pub fn reset_code(seen: &[Received], stream: u32) -> Option<Reason> {
    seen.iter().find_map(|r| match r.frame() {
        Some(Frame::RstStream(rst)) if rst.stream_id.value() == stream => Some(rst.code),
        _ => None,
    })
}
