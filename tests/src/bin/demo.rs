//! The main demo: one process starts a gRPC server on 127.0.0.1, puts a
//! wire tap in front of it, and drives every call kind, metadata, a
//! deadline and an error status through it, printing each HTTP/2 frame
//! that crossed the wire and checking each result.
//!
//! `cargo run --release -p grpc-sansio-tests --bin demo`

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio::call::{CallId, CallKind};
use grpc_sansio::client::{CallOptions, ClientConfig, ClientConnection, ClientEvent};
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::server::{ServerConfig, ServerConnection, ServerEvent};
use grpc_sansio_tests::by_hand;
use grpc_sansio_tests::tap::Tap;

/// What one call came back with.
#[derive(Debug, Default)]
struct Outcome {
    headers: Option<MetadataMap>,
    messages: Vec<Bytes>,
    status: Option<Status>,
    trailers: MetadataMap,
    elapsed: Duration,
}

fn main() -> ExitCode {
    println!("grpc-sansio demo: a server on 127.0.0.1, a wire tap in front of it,");
    println!("and a client making every kind of call through the tap.\n");
    let listener = match TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server_addr = listener.local_addr().expect("bound address");
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            thread::spawn(move || serve_by_hand(conn));
        }
    });
    let tap = Tap::start(server_addr, false).expect("tap");
    println!(
        "server (core driven by hand over std::net) on {server_addr}, tap on {}\n",
        tap.addr
    );

    let mut failures = 0;
    let mut passes = 0;
    let mut shown = 0;
    let mut check = |name: &str, ok: bool, detail: String, tap: &Tap| {
        // Let the tap's threads catch up, then print what crossed.
        let mut last = usize::MAX;
        for _ in 0..50 {
            let n = tap.lines().len();
            if n == last {
                break;
            }
            last = n;
            thread::sleep(Duration::from_millis(20));
        }
        let lines = tap.lines();
        for l in &lines[shown..] {
            println!("    {l}");
        }
        shown = lines.len();
        println!(
            "  => {name}: {} ({detail})\n",
            if ok { "ok" } else { "FAILED" }
        );
        if ok {
            passes += 1;
        } else {
            failures += 1;
        }
    };

    let Ok(mut sock) = TcpStream::connect(tap.addr) else {
        eprintln!("cannot connect to the tap");
        return ExitCode::FAILURE;
    };
    let _ = sock.set_nodelay(true);
    let mut client = ClientConnection::new(ClientConfig::default(), Instant::now());

    println!("-- unary call with metadata both ways");
    let mut md = MetadataMap::new();
    md.insert("x-user", "demo").expect("valid metadata");
    md.insert_bin("x-token-bin", Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef]))
        .expect("valid metadata");
    let o = call(
        &mut sock,
        &mut client,
        "/demo.Echo/Unary",
        CallOptions::unary().with_metadata(md),
        &[b"hello"],
    );
    let ok = o.messages == [Bytes::from_static(b"echo: hello")]
        && o.status.as_ref().is_some_and(Status::is_ok)
        && o.headers.as_ref().and_then(|h| h.get("x-served-by")) == Some("by-hand")
        && o.trailers.get("x-seen-user") == Some("demo");
    check(
        "unary",
        ok,
        format!(
            "reply {:?}, trailers {:?}",
            o.messages,
            o.trailers.get("x-seen-user")
        ),
        &tap,
    );

    println!("-- server streaming: one request, three replies");
    let o = call(
        &mut sock,
        &mut client,
        "/demo.Echo/ServerStream",
        CallOptions::new(CallKind::ServerStreaming),
        &[b"tick"],
    );
    let ok = o.messages
        == [
            Bytes::from_static(b"tick 1"),
            Bytes::from_static(b"tick 2"),
            Bytes::from_static(b"tick 3"),
        ]
        && o.status.as_ref().is_some_and(Status::is_ok);
    check(
        "server streaming",
        ok,
        format!("{} replies", o.messages.len()),
        &tap,
    );

    println!("-- client streaming: three requests, one reply");
    let o = call(
        &mut sock,
        &mut client,
        "/demo.Echo/ClientStream",
        CallOptions::new(CallKind::ClientStreaming),
        &[b"a", b"bb", b"ccc"],
    );
    let ok = o.messages == [Bytes::from_static(b"6 bytes in 3 messages")]
        && o.status.as_ref().is_some_and(Status::is_ok);
    check(
        "client streaming",
        ok,
        format!("reply {:?}", o.messages),
        &tap,
    );

    println!("-- bidirectional streaming");
    let o = call(
        &mut sock,
        &mut client,
        "/demo.Echo/Bidi",
        CallOptions::new(CallKind::BidiStreaming),
        &[b"x", b"y"],
    );
    let ok = o.messages == [Bytes::from_static(b"x!"), Bytes::from_static(b"y!")]
        && o.status.as_ref().is_some_and(Status::is_ok);
    check(
        "bidi streaming",
        ok,
        format!("replies {:?}", o.messages),
        &tap,
    );

    println!("-- deadline: 200 ms against a handler that never answers");
    let opts = CallOptions::unary().with_timeout(Instant::now(), Duration::from_millis(200));
    let o = call(&mut sock, &mut client, "/demo.Echo/Slow", opts, &[b"wait"]);
    let code = o.status.as_ref().map(Status::code);
    let ok = code == Some(Code::DeadlineExceeded)
        && o.elapsed >= Duration::from_millis(200)
        && o.elapsed < Duration::from_secs(2);
    check(
        "deadline",
        ok,
        format!("{code:?} after {:?}", o.elapsed),
        &tap,
    );

    println!("-- error status with a message and details");
    let o = call(
        &mut sock,
        &mut client,
        "/demo.Echo/Fail",
        CallOptions::unary(),
        &[b"?"],
    );
    let ok = o.status.as_ref().is_some_and(|s| {
        s.code() == Code::InvalidArgument
            && s.message() == "no such thing: 100% sure"
            && &s.details()[..] == b"\x08\x03"
    });
    check("error status", ok, format!("{:?}", o.status), &tap);

    println!("-- unknown method");
    let o = call(
        &mut sock,
        &mut client,
        "/demo.Echo/Nope",
        CallOptions::unary(),
        &[b"?"],
    );
    let ok = o.status.as_ref().map(Status::code) == Some(Code::Unimplemented);
    check("unimplemented", ok, format!("{:?}", o.status), &tap);

    client.shutdown(Instant::now());
    let _ = by_hand::flush(&mut sock, &mut client);
    println!("{passes} passed, {failures} failed");
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Make one call and drive the connection until it finishes.
fn call(
    sock: &mut TcpStream,
    client: &mut ClientConnection,
    path: &str,
    opts: CallOptions,
    requests: &[&'static [u8]],
) -> Outcome {
    let start = Instant::now();
    let mut out = Outcome::default();
    let id = match client.start_call(path, opts, start) {
        Ok(id) => id,
        Err(e) => {
            out.status = Some(Status::new(Code::Internal, format!("could not start: {e}")));
            return out;
        }
    };
    for r in requests {
        let _ = client.send_message(id, Bytes::from_static(r));
    }
    let _ = client.half_close(id);
    while out.status.is_none() && start.elapsed() < Duration::from_secs(10) {
        match by_hand::turn(sock, client, Duration::from_millis(50)) {
            Ok(true) => {}
            _ => break,
        }
        while let Some(ev) = client.poll_event() {
            match ev {
                ClientEvent::Headers { call, metadata } if call == id => {
                    out.headers = Some(metadata)
                }
                ClientEvent::Message {
                    call,
                    message,
                    flow_len,
                } if call == id => {
                    client.release_capacity(call, flow_len);
                    out.messages.push(message);
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
    out.elapsed = start.elapsed();
    out
}

/// The demo service, written straight against the server state machine.
fn serve_by_hand(mut sock: TcpStream) {
    let _ = sock.set_nodelay(true);
    let mut conn = ServerConnection::new(ServerConfig::default(), Instant::now());
    let mut calls: HashMap<CallId, (String, MetadataMap, Vec<Bytes>)> = HashMap::new();
    while let Ok(true) = by_hand::turn(&mut sock, &mut conn, Duration::from_millis(100)) {
        while let Some(ev) = conn.poll_event() {
            match ev {
                ServerEvent::CallStarted { call, head } => {
                    let kind = match head.method() {
                        "Unary" | "Slow" | "Fail" => CallKind::Unary,
                        "ServerStream" => CallKind::ServerStreaming,
                        "ClientStream" => CallKind::ClientStreaming,
                        "Bidi" => CallKind::BidiStreaming,
                        _ => {
                            let s = Status::new(
                                Code::Unimplemented,
                                format!("unknown method {}", head.method()),
                            );
                            let _ = conn.send_status(call, s, MetadataMap::new());
                            continue;
                        }
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
                } => {
                    conn.release_capacity(call, flow_len);
                    let Some((method, _, got)) = calls.get_mut(&call) else {
                        continue;
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
    match method {
        "Unary" => {
            let mut initial = MetadataMap::new();
            let _ = initial.insert("x-served-by", "by-hand");
            let _ = conn.send_headers(call, initial);
            let mut reply = b"echo: ".to_vec();
            reply.extend_from_slice(got.first().map_or(&b""[..], |b| &b[..]));
            let _ = conn.send_message(call, Bytes::from(reply));
            let mut trailers = MetadataMap::new();
            let _ = trailers.insert("x-seen-user", md.get("x-user").unwrap_or("?"));
            let _ = conn.send_status(call, ok, trailers);
        }
        "ServerStream" => {
            let word =
                String::from_utf8_lossy(got.first().map_or(&b""[..], |b| &b[..])).into_owned();
            for i in 1..=3 {
                let _ = conn.send_message(call, Bytes::from(format!("{word} {i}")));
            }
            let _ = conn.send_status(call, ok, MetadataMap::new());
        }
        "ClientStream" => {
            let total: usize = got.iter().map(Bytes::len).sum();
            let _ = conn.send_message(
                call,
                Bytes::from(format!("{total} bytes in {} messages", got.len())),
            );
            let _ = conn.send_status(call, ok, MetadataMap::new());
        }
        "Bidi" => {
            let _ = conn.send_status(call, ok, MetadataMap::new());
        }
        "Fail" => {
            let s = Status::new(Code::InvalidArgument, "no such thing: 100% sure")
                .with_details(Bytes::from_static(b"\x08\x03"));
            let _ = conn.send_status(call, s, MetadataMap::new());
        }
        // "Slow" never answers: its deadline ends it.
        _ => {}
    }
}
