//! A wire tap: a TCP proxy on 127.0.0.1 that forwards bytes between a
//! client and a server and decodes every HTTP/2 frame that crosses it,
//! header blocks included, into one readable line each, with the gRPC
//! messages that each DATA frame completes (length, compressed flag and
//! payload). The demo prints these lines; tests can assert on them.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use bytes::BytesMut;
use grpc_sansio::frame::{self, Frame, FrameDecoder};
use grpc_sansio::grpc::message::MessageDecoder;
use grpc_sansio::hpack;

/// Which way bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the server.
    ToServer,
    /// From the server to the client.
    ToClient,
}

/// The lines the tap has written, shared with its forwarding threads.
pub type Transcript = Arc<Mutex<Vec<String>>>;

/// A running tap.
#[derive(Debug)]
pub struct Tap {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Every frame seen, one line each, in the order seen.
    pub transcript: Transcript,
}

impl Tap {
    /// Listen on 127.0.0.1 and forward each accepted connection to
    /// `upstream`. With `echo`, lines are also printed as they come.
    pub fn start(upstream: SocketAddr, echo: bool) -> std::io::Result<Tap> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let transcript: Transcript = Arc::default();
        let t = transcript.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { break };
                let Ok(server) = TcpStream::connect(upstream) else {
                    break;
                };
                for (from, to, dir) in [
                    (client.try_clone(), server.try_clone(), Direction::ToServer),
                    (server.try_clone(), client.try_clone(), Direction::ToClient),
                ] {
                    let (Ok(from), Ok(to)) = (from, to) else {
                        continue;
                    };
                    let t = t.clone();
                    thread::spawn(move || forward(from, to, dir, &t, echo));
                }
            }
        });
        Ok(Tap { addr, transcript })
    }

    /// A copy of the lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.transcript
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }
}

fn forward(mut from: TcpStream, mut to: TcpStream, dir: Direction, t: &Transcript, echo: bool) {
    let mut decoder = Decoder::new(dir);
    let mut buf = [0u8; 16 << 10];
    let _ = from.set_read_timeout(Some(Duration::from_secs(60)));
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for line in decoder.feed(&buf[..n]) {
            if echo {
                println!("    {line}");
            }
            if let Ok(mut l) = t.lock() {
                l.push(line);
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Turns one direction's bytes into frame lines.
pub struct Decoder {
    dir: Direction,
    frames: FrameDecoder,
    hpack: hpack::Decoder,
    buf: BytesMut,
    preface: bool,
    /// Each stream's messages so far (a message may span DATA frames).
    messages: HashMap<u32, MessageDecoder>,
}

impl Decoder {
    /// A decoder for bytes going `dir`.
    pub fn new(dir: Direction) -> Self {
        let mut frames = FrameDecoder::new();
        frames.set_max_frame_size(frame::MAX_MAX_FRAME_SIZE);
        Decoder {
            dir,
            frames,
            hpack: hpack::Decoder::new(64 << 10),
            buf: BytesMut::new(),
            preface: dir == Direction::ToServer,
            messages: HashMap::new(),
        }
    }

    /// Lines for the frames completed by `bytes`.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let arrow = match self.dir {
            Direction::ToServer => "C->S",
            Direction::ToClient => "S->C",
        };
        let mut out = Vec::new();
        if self.preface {
            if self.buf.len() < frame::PREFACE.len() {
                return out;
            }
            let _ = self.buf.split_to(frame::PREFACE.len());
            self.preface = false;
            out.push(format!("{arrow} connection preface"));
        }
        loop {
            match self.frames.decode(&mut self.buf) {
                Ok(Some(f)) => out.push(format!("{arrow} {}", self.describe(f))),
                Ok(None) => break,
                Err(e) => {
                    out.push(format!("{arrow} undecodable frame: {e}"));
                    self.buf.clear();
                    break;
                }
            }
        }
        out
    }

    fn describe(&mut self, f: Frame) -> String {
        match f {
            Frame::Headers(h) => {
                let mut fields = Vec::new();
                let list = match self.hpack.decode(&h.fragment, 1 << 20, &mut fields) {
                    Ok(()) => fields
                        .iter()
                        .map(|f| {
                            format!(
                                "{}: {}",
                                String::from_utf8_lossy(&f.name),
                                String::from_utf8_lossy(&f.value)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                    Err(e) => format!("<hpack error: {e}>"),
                };
                let end = if h.end_stream { " END_STREAM" } else { "" };
                format!("HEADERS stream={}{end} [{list}]", h.stream_id)
            }
            Frame::Data(d) => {
                let end = if d.end_stream { " END_STREAM" } else { "" };
                let shown: String = d.data.iter().take(24).map(|b| format!("{b:02x}")).collect();
                let more = if d.data.len() > 24 { "…" } else { "" };
                let id = d.stream_id.value();
                let messages = self.messages_in(id, d.data.clone());
                if d.end_stream {
                    self.messages.remove(&id);
                }
                format!(
                    "DATA stream={} len={}{end} {shown}{more}{messages}",
                    d.stream_id,
                    d.data.len()
                )
            }
            Frame::Settings(s) if s.ack => "SETTINGS ACK".to_string(),
            Frame::Settings(s) => {
                let p: Vec<String> = s.params().map(|(id, v)| format!("{id:#x}={v}")).collect();
                format!("SETTINGS [{}]", p.join(" "))
            }
            Frame::WindowUpdate(w) => {
                format!("WINDOW_UPDATE stream={} +{}", w.stream_id, w.increment)
            }
            Frame::Ping(p) => format!("PING{}", if p.ack { " ACK" } else { "" }),
            Frame::RstStream(r) => {
                self.messages.remove(&r.stream_id.value());
                format!("RST_STREAM stream={} {}", r.stream_id, r.code)
            }
            Frame::GoAway(g) => format!(
                "GOAWAY last_stream={} {} {:?}",
                g.last_stream_id,
                g.code,
                String::from_utf8_lossy(&g.debug_data)
            ),
            other => format!(
                "frame type {:#x} stream={}",
                other.frame_type(),
                other.stream_id()
            ),
        }
    }

    /// The gRPC messages that `data` completes on stream `id`, as text:
    /// ` | message 5 B "hello"`, `compressed` when the flag is set.
    fn messages_in(&mut self, id: u32, mut data: bytes::Bytes) -> String {
        let decoder = self
            .messages
            .entry(id)
            .or_insert_with(|| MessageDecoder::with_max_message_size(64 << 20));
        let mut out = String::new();
        loop {
            match decoder.decode(&mut data) {
                Ok(Some(m)) => {
                    let flag = if m.compressed { " compressed" } else { "" };
                    let text = std::str::from_utf8(&m.payload)
                        .ok()
                        .filter(|t| t.chars().all(|c| !c.is_control()));
                    let shown = match text {
                        Some(t) if t.chars().count() <= 40 => format!(" {t:?}"),
                        Some(t) => format!(" {:?}…", t.chars().take(40).collect::<String>()),
                        None => String::new(),
                    };
                    out.push_str(&format!(" | message {} B{flag}{shown}", m.payload.len()));
                }
                Ok(None) => return out,
                Err(e) => {
                    out.push_str(&format!(" | bad message: {e}"));
                    self.messages.remove(&id);
                    return out;
                }
            }
        }
    }
}
