//! The demo stack with no adapter: the core's state machines driven by
//! hand over `std::net` (see [`crate::by_hand`] for the loop).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio::call::{CallId, CallKind};
use grpc_sansio::client::{CallOptions, ClientConfig, ClientConnection, ClientEvent};
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::server::{ServerConfig, ServerConnection, ServerEvent};

use super::{DemoClient, Outcome, SERVICE, fail_status, kind_of};
use crate::by_hand;

/// Start the by-hand server on 127.0.0.1; returns its address.
pub fn start_server() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            thread::spawn(move || serve(conn));
        }
    });
    Ok(addr)
}

/// A by-hand client over one TCP connection.
pub struct Client {
    sock: TcpStream,
    conn: ClientConnection,
}

impl Client {
    /// Connect to `addr`.
    pub fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        let sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        Ok(Client {
            sock,
            conn: ClientConnection::new(ClientConfig::default(), Instant::now()),
        })
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.conn.shutdown(Instant::now());
        let _ = by_hand::flush(&mut self.sock, &mut self.conn);
    }
}

impl DemoClient for Client {
    fn call(
        &mut self,
        method: &str,
        kind: CallKind,
        metadata: MetadataMap,
        timeout: Option<Duration>,
        requests: &[&'static [u8]],
    ) -> Outcome {
        let start = Instant::now();
        let mut out = Outcome::default();
        let mut opts = CallOptions::new(kind).with_metadata(metadata);
        if let Some(t) = timeout {
            opts = opts.with_timeout(start, t);
        }
        let path = format!("/{SERVICE}/{method}");
        let id = match self.conn.start_call(&path, opts, start) {
            Ok(id) => id,
            Err(e) => {
                out.status = Some(Status::new(Code::Internal, format!("could not start: {e}")));
                return out;
            }
        };
        for r in requests {
            let _ = self.conn.send_message(id, Bytes::from_static(r));
        }
        let _ = self.conn.half_close(id);
        let mut failed: Option<Status> = None;
        while out.status.is_none() && start.elapsed() < Duration::from_secs(10) {
            match by_hand::turn(&mut self.sock, &mut self.conn, Duration::from_millis(50)) {
                Ok(true) => {}
                _ => break,
            }
            while let Some(ev) = self.conn.poll_event() {
                match ev {
                    ClientEvent::Headers { call, metadata } if call == id => {
                        out.headers = Some(metadata)
                    }
                    ClientEvent::Message {
                        call,
                        message,
                        flow_len,
                        ..
                    } if call == id => {
                        self.conn.release_capacity(call, flow_len);
                        // Still compressed if it arrived so: inflate it now.
                        // One that does not ends the call with the reason
                        // (kept over the Finished the cancel brings, and
                        // over one that came already).
                        match message.decompress() {
                            Ok(m) if failed.is_none() => out.messages.push(m),
                            Ok(_) => {}
                            Err(status) => {
                                self.conn.cancel(call);
                                failed.get_or_insert(status);
                            }
                        }
                    }
                    ClientEvent::Finished {
                        call,
                        status,
                        trailers,
                    } if call == id => {
                        out.status = Some(status);
                        out.trailers = trailers;
                    }
                    _ => {}
                }
            }
        }
        if let Some(status) = failed {
            out.status = Some(status);
        }
        out.elapsed = start.elapsed();
        out
    }
}

/// The echo service, written straight against the server state machine.
fn serve(mut sock: TcpStream) {
    let _ = sock.set_nodelay(true);
    let mut conn = ServerConnection::new(ServerConfig::default(), Instant::now());
    let mut calls: HashMap<CallId, (String, MetadataMap, Vec<Bytes>)> = HashMap::new();
    while let Ok(true) = by_hand::turn(&mut sock, &mut conn, Duration::from_millis(100)) {
        while let Some(ev) = conn.poll_event() {
            match ev {
                ServerEvent::CallStarted { call, head } => {
                    let Some(kind) = kind_of(head.method()).filter(|_| head.service() == SERVICE)
                    else {
                        let s = Status::new(
                            Code::Unimplemented,
                            format!("unknown method {}", head.method()),
                        );
                        let _ = conn.send_status(call, s, MetadataMap::new());
                        continue;
                    };
                    let _ = conn.set_call_kind(call, kind);
                    calls.insert(
                        call,
                        (head.method().to_string(), head.metadata.clone(), Vec::new()),
                    );
                }
                ServerEvent::Message {
                    call,
                    message,
                    flow_len,
                    ..
                } => {
                    conn.release_capacity(call, flow_len);
                    let Some((method, _, got)) = calls.get_mut(&call) else {
                        continue;
                    };
                    // Still compressed if it arrived so: inflate it now.
                    let message = match message.decompress() {
                        Ok(m) => m,
                        Err(status) => {
                            calls.remove(&call);
                            let _ = conn.send_status(call, status, MetadataMap::new());
                            continue;
                        }
                    };
                    if method == "Bidi" {
                        let mut reply = message.to_vec();
                        reply.push(b'!');
                        let _ = conn.send_message(call, Bytes::from(reply));
                    } else {
                        got.push(message);
                    }
                }
                ServerEvent::HalfClosed { call } => {
                    let Some((method, md, got)) = calls.remove(&call) else {
                        continue;
                    };
                    answer(&mut conn, call, &method, &md, &got);
                }
                ServerEvent::Cancelled { call, .. } => {
                    calls.remove(&call);
                }
                _ => {}
            }
        }
    }
}

fn answer(
    conn: &mut ServerConnection,
    call: CallId,
    method: &str,
    md: &MetadataMap,
    got: &[Bytes],
) {
    let ok = Status::ok();
    let first = got.first().cloned().unwrap_or_default();
    match method {
        "Unary" => {
            let mut initial = MetadataMap::new();
            let _ = initial.insert("x-served-by", "by-hand");
            let _ = conn.send_headers(call, initial);
            let mut reply = b"echo: ".to_vec();
            reply.extend_from_slice(&first);
            let _ = conn.send_message(call, Bytes::from(reply));
            let mut trailers = MetadataMap::new();
            let _ = trailers.insert("x-seen-user", md.get("x-user").unwrap_or("?"));
            let _ = conn.send_status(call, ok, trailers);
        }
        "ServerStream" => {
            let word = String::from_utf8_lossy(&first).into_owned();
            for i in 1..=3 {
                let _ = conn.send_message(call, Bytes::from(format!("{word} {i}")));
            }
            let _ = conn.send_status(call, ok, MetadataMap::new());
        }
        "ClientStream" => {
            let total: usize = got.iter().map(Bytes::len).sum();
            let reply = format!("{total} bytes in {} messages", got.len());
            let _ = conn.send_message(call, Bytes::from(reply));
            let _ = conn.send_status(call, ok, MetadataMap::new());
        }
        "Bidi" => {
            let _ = conn.send_status(call, ok, MetadataMap::new());
        }
        "Fail" => {
            let _ = conn.send_status(call, fail_status(), MetadataMap::new());
        }
        // "Slow" never answers: its deadline ends it.
        _ => {}
    }
}
