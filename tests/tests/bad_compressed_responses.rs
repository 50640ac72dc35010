//! Responses flagged compressed that do not decompress, from a hand-driven
//! HTTP/2 server on 127.0.0.1, to both adapters' clients. Messages inflate
//! when the caller takes them, so that is where each call ends: INTERNAL
//! for garbage in place of gzip, RESOURCE_EXHAUSTED for a gzip bomb past
//! the receive limit; the stream is reset with CANCEL, and the next call
//! on the same connection works.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use grpc_sansio::codec::BytesCodec;
use grpc_sansio::frame::Reason;
use grpc_sansio::grpc::compression::{Compressor, Gzip};
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::h2::{self, Event};
use grpc_sansio::hpack::HeaderField;

fn field(name: &'static str, value: impl Into<Bytes>) -> HeaderField {
    HeaderField {
        name: Bytes::from_static(name.as_bytes()),
        value: value.into(),
        sensitive: false,
    }
}

/// The payload a call's path asks for: `/t.S/Garbage`, `/t.S/Bomb`, or
/// anything else for a good gzip message `ok`.
fn answer(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match path {
        b"/t.S/Garbage" => out.extend_from_slice(b"this is not gzip at all"),
        b"/t.S/Bomb" => Gzip::new()
            .compress(&vec![0u8; 5 << 20], &mut out)
            .expect("compressed"),
        _ => Gzip::new().compress(b"ok", &mut out).expect("compressed"),
    }
    out
}

/// A server that answers every call on one connection with a message
/// flagged compressed (gzip), and status OK for the good one, and reports
/// the streams the client reset. Serves until the client goes away.
fn serve_one(listener: TcpListener, resets: std::sync::mpsc::Sender<(u32, Reason)>) {
    let (mut sock, _) = listener.accept().expect("accept");
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    let mut conn = h2::Connection::server(h2::Config::default(), Instant::now());
    let mut buf = vec![0u8; 64 << 10];
    let mut out = BytesMut::new();
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until && !conn.is_closed() {
        match sock.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let _ = conn.receive(&buf[..n], Instant::now());
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
        while let Some(ev) = conn.poll_event() {
            match ev {
                Event::Headers { stream, fields, .. } => {
                    let path = fields
                        .clone()
                        .into_vec()
                        .into_iter()
                        .find(|f| &f.name[..] == b":path")
                        .map(|f| f.value.to_vec())
                        .unwrap_or_default();
                    let payload = answer(&path);
                    let mut message = vec![1u8];
                    message.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                    message.extend_from_slice(&payload);
                    let head = vec![
                        field(":status", "200"),
                        field("content-type", "application/grpc"),
                        field("grpc-encoding", "gzip"),
                    ];
                    let _ = conn.send_headers(stream, head, false);
                    let _ = conn.send_data(stream, Bytes::from(message), false);
                    // The bad ones leave the stream open: the client's
                    // reset is what ends it.
                    if path == b"/t.S/Good" {
                        let _ = conn.send_headers(stream, vec![field("grpc-status", "0")], true);
                    }
                }
                Event::Data { stream, data, .. } => {
                    conn.release_capacity(stream, data.len() as u32);
                }
                Event::StreamReset { stream, code, .. } => {
                    let _ = resets.send((stream.value(), code));
                }
                _ => {}
            }
        }
        out.clear();
        while conn.poll_transmit(&mut out) > 0 {}
        if !out.is_empty() && sock.write_all(&out).is_err() {
            return;
        }
    }
}

fn start() -> (SocketAddr, std::sync::mpsc::Receiver<(u32, Reason)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || serve_one(listener, tx));
    (addr, rx)
}

/// The three calls in order, each one's outcome.
fn check(outcomes: Vec<Result<Bytes, Status>>, resets: &std::sync::mpsc::Receiver<(u32, Reason)>) {
    let codes: Vec<Result<Bytes, Code>> = outcomes
        .into_iter()
        .map(|r| r.map_err(|s| s.code()))
        .collect();
    assert_eq!(
        codes,
        vec![
            Err(Code::Internal),
            Err(Code::ResourceExhausted),
            Ok(Bytes::from_static(b"ok")),
        ]
    );
    let mut got = Vec::new();
    while let Ok(r) = resets.recv_timeout(Duration::from_millis(500)) {
        got.push(r);
        if got.len() == 2 {
            break;
        }
    }
    got.sort_unstable_by_key(|r| r.0);
    assert_eq!(got, vec![(1, Reason::CANCEL), (3, Reason::CANCEL)]);
}

#[test]
fn tokio_client_ends_the_call_whose_response_does_not_decompress() {
    let (addr, resets) = start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let outcomes = rt.block_on(async {
        let channel = grpc_sansio_tokio::Channel::connect(&format!("http://{addr}")).unwrap();
        let mut out = Vec::new();
        for path in ["/t.S/Garbage", "/t.S/Bomb", "/t.S/Good"] {
            let r = channel
                .unary(
                    path,
                    BytesCodec,
                    Bytes::from_static(b"q"),
                    grpc_sansio_tokio::CallOptions::new(),
                )
                .await;
            out.push(r.map(|r| r.into_inner()).map_err(|e| e.status));
        }
        out
    });
    check(outcomes, &resets);
}

#[test]
fn blocking_client_ends_the_call_whose_response_does_not_decompress() {
    let (addr, resets) = start();
    let channel = grpc_sansio_blocking::Channel::connect(&format!("http://{addr}")).unwrap();
    let outcomes = ["/t.S/Garbage", "/t.S/Bomb", "/t.S/Good"]
        .iter()
        .map(|path| {
            channel
                .unary(
                    path,
                    BytesCodec,
                    &Bytes::from_static(b"q"),
                    grpc_sansio_blocking::CallOptions::new(),
                )
                .map(|r| r.into_message())
                .map_err(Status::from)
        })
        .collect();
    check(outcomes, &resets);
}
