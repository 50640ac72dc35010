//! Shared by the `blocking_*` tests: a test service on the blocking
//! server, and helpers. Included with `#[path]`; as its own test target it
//! holds no tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio_blocking::{
    BytesCodec, Call, CallKind, CallOptions, Channel, Code, Handler, MetadataMap, Router,
    RouterExt, Server, ServerBuilder, Status,
};

/// What handlers report to the test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// A handler noticed its call was cancelled, with the status it got.
    Cancelled(String, String),
    /// A handler finished sleeping without a cancellation.
    SleptFully(String),
}

pub struct Service {
    pub server: Server,
    pub addr: std::net::SocketAddr,
    pub seen: Receiver<Seen>,
}

impl Service {
    pub fn target(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn channel(&self) -> Channel {
        Channel::builder(&self.target())
            .connect_timeout(Duration::from_secs(5))
            .build_lazy()
            .expect("channel")
    }

    /// The next report within `within`.
    pub fn next_seen(&self, within: Duration) -> Option<Seen> {
        self.seen.recv_timeout(within).ok()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.server.shutdown(Duration::from_millis(200));
    }
}

pub fn opts() -> CallOptions {
    CallOptions::new().timeout(Duration::from_secs(10))
}

pub fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn text(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The test service, `test.Echo`, with raw-bytes messages:
///
/// - `Unary`: echoes the request; response headers `x-echo-back` = the
///   request's `x-echo` and `x-bin-back-bin` = its `x-bin-bin`; trailers
///   `x-trailer: done` and `x-trailer-bin: 00 ff`;
/// - `Fail`: INVALID_ARGUMENT "bad thing: ü" with details `08 03` and a
///   trailer `x-why: because`; to the request "headers", response headers
///   `x-before: yes` go out first;
/// - `Sleep`: sleeps the milliseconds given in the request unless
///   cancelled (reports which), then replies "slept";
/// - `Info`: replies `encoding=<grpc-encoding>;deadline=<bool>;peer=<addr>`
///   and compresses the reply with gzip;
/// - `Count`: server streaming, "n" -> messages "0".."n-1";
/// - `Hang`: server streaming, one message "first", then waits up to 5 s
///   for a cancellation (reported);
/// - `Concat`: client streaming, the requests joined with ",";
/// - `Refuse`: client streaming, reads nothing: headers `x-before: yes`,
///   then FAILED_PRECONDITION with a trailer `x-why: early`;
/// - `First`: client streaming, answers OK with the first request and
///   reads no more;
/// - `Echo`: bidi, each request echoed.
pub fn router(seen: Sender<Seen>) -> Router<Handler> {
    let seen = Arc::new(Mutex::new(seen));
    let mut r: Router<Handler> = Router::new();
    r.unary("test.Echo", "Unary", BytesCodec, |call, req: Bytes| {
        let mut md = MetadataMap::new();
        if let Some(v) = call.metadata().get("x-echo") {
            md.insert("x-echo-back", v)
                .map_err(|e| Status::internal(e.to_string()))?;
        }
        if let Some(v) = call.metadata().get_bin("x-bin-bin") {
            md.insert_bin("x-bin-back-bin", v.clone())
                .map_err(|e| Status::internal(e.to_string()))?;
        }
        call.send_initial_metadata(md)?;
        let mut t = MetadataMap::new();
        t.insert("x-trailer", "done").expect("ascii");
        t.insert_bin("x-trailer-bin", Bytes::from_static(&[0, 0xff]))
            .expect("bin");
        call.set_trailers(t);
        Ok(req)
    });
    r.unary("test.Echo", "Peer", BytesCodec, |call, _req: Bytes| {
        Ok(Bytes::from(call.peer_addr().to_string()))
    });
    r.unary("test.Echo", "Fail", BytesCodec, |call, req: Bytes| {
        if req == b"headers"[..] {
            let mut md = MetadataMap::new();
            md.insert("x-before", "yes").expect("ascii");
            call.send_initial_metadata(md)?;
        }
        let mut t = MetadataMap::new();
        t.insert("x-why", "because").expect("ascii");
        call.set_trailers(t);
        Err(Status::new(Code::InvalidArgument, "bad thing: ü")
            .with_details(Bytes::from_static(&[8, 3])))
    });
    let s = Arc::clone(&seen);
    r.unary("test.Echo", "Sleep", BytesCodec, move |call, req: Bytes| {
        let ms: u64 = text(&req).parse().unwrap_or(0);
        if call.wait_cancelled(Duration::from_millis(ms)) {
            let status = call.recv_raw().and_then(|r| r.err());
            let _ = s.lock().expect("seen").send(Seen::Cancelled(
                "Sleep".into(),
                status
                    .map(|s| s.code().as_str().to_string())
                    .unwrap_or_default(),
            ));
            return Err(Status::cancelled("noticed"));
        }
        let _ = s.lock().expect("seen").send(Seen::SleptFully(text(&req)));
        Ok(b("slept"))
    });
    r.unary("test.Echo", "Info", BytesCodec, |call, _req: Bytes| {
        call.set_compression("gzip")?;
        Ok(b(&format!(
            "encoding={};deadline={};peer={}",
            call.head().encoding.as_deref().unwrap_or("identity"),
            call.deadline().is_some(),
            call.peer_addr()
        )))
    });
    r.server_streaming(
        "test.Echo",
        "Count",
        BytesCodec,
        |_call, req: Bytes, out| {
            let n: u32 = text(&req)
                .parse()
                .map_err(|_| Status::invalid_argument("n"))?;
            for i in 0..n {
                out.send(&b(&i.to_string()))?;
            }
            Ok(())
        },
    );
    let s = Arc::clone(&seen);
    r.server_streaming(
        "test.Echo",
        "Hang",
        BytesCodec,
        move |call, _req: Bytes, out| {
            out.send(&b("first"))?;
            if call.wait_cancelled(Duration::from_secs(5)) {
                let status = call.recv_raw().and_then(|r| r.err());
                let _ = s.lock().expect("seen").send(Seen::Cancelled(
                    "Hang".into(),
                    status.map(|s| s.message().to_string()).unwrap_or_default(),
                ));
            } else {
                let _ = s
                    .lock()
                    .expect("seen")
                    .send(Seen::SleptFully("Hang".into()));
            }
            Ok(())
        },
    );
    r.client_streaming("test.Echo", "Concat", BytesCodec, |_call, reqs| {
        let parts = reqs
            .map(|r| r.map(|b| text(&b)))
            .collect::<Result<Vec<_>, Status>>()?;
        Ok(b(&parts.join(",")))
    });
    r.client_streaming("test.Echo", "Refuse", BytesCodec, |call, _reqs| {
        let mut md = MetadataMap::new();
        md.insert("x-before", "yes").expect("ascii");
        call.send_initial_metadata(md)?;
        let mut t = MetadataMap::new();
        t.insert("x-why", "early").expect("ascii");
        call.set_trailers(t);
        Err(Status::new(Code::FailedPrecondition, "not reading"))
    });
    r.client_streaming("test.Echo", "First", BytesCodec, |_call, reqs| {
        match reqs.next() {
            Some(first) => first,
            None => Err(Status::invalid_argument("no request")),
        }
    });
    r.bidi_streaming("test.Echo", "Echo", BytesCodec, |_call, reqs, out| {
        for r in reqs {
            out.send(&r?)?;
        }
        Ok(())
    });
    r
}

/// The test service on 127.0.0.1 with `builder`'s settings.
pub fn serve_with(builder: ServerBuilder) -> Service {
    let (tx, rx) = mpsc::channel();
    let server = builder.build(router(tx));
    let addr = server.bind("127.0.0.1:0").expect("bind");
    Service {
        server,
        addr,
        seen: rx,
    }
}

/// The test service on 127.0.0.1.
pub fn serve() -> Service {
    serve_with(Server::builder())
}

/// Wait (up to 5 s) until exactly `n` handlers of `server` run or wait.
/// The count can pass `n` for a moment: a handler whose reply the client
/// already has may not have finished its own bookkeeping yet.
pub fn wait_busy(server: &Server, n: usize) {
    let start = Instant::now();
    while server.busy_handlers() != n && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(server.busy_handlers(), n, "busy handlers");
}

/// Starts a `Sleep` call of `ms` milliseconds on `ch`, its request sent
/// whole: its handler holds a thread that long unless cancelled.
pub fn start_sleep(ch: &Channel, ms: &str) -> Call<BytesCodec> {
    let call = ch
        .call("/test.Echo/Sleep", CallKind::Unary, BytesCodec, opts())
        .unwrap();
    call.send(&b(ms)).unwrap();
    call.close_send().unwrap();
    call
}

/// Run `f` on a thread and fail if it takes longer than `limit`.
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("the test body panicked after {:?}", start.elapsed())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("timed out after {:?}", start.elapsed()),
    }
}
