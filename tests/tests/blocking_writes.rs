//! Who writes in the blocking adapter: a unary request leaves in one write
//! from the caller's thread, and its reply in one write from the
//! handler's thread, without a hop through the connection's writer thread.
//! Both ends of an in-memory connection count their writes and note the
//! thread that made each.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use grpc_sansio_blocking::{
    BytesCodec, CallOptions, Channel, Code, Handler, Router, RouterExt, Server, Transport,
    TransportParts, in_memory_pair,
};
use grpc_sansio_tests::wait_for;

/// The threads that made each non-empty write, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn writers(&self) -> Vec<String> {
        self.0.lock().expect("log").clone()
    }
}

struct CountingWriter {
    inner: Box<dyn Write + Send>,
    log: Log,
}

impl Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Logged under the lock held across the write: the peer may act on
        // the bytes at once, and the test must then find the write logged.
        let mut log = self.log.0.lock().expect("log");
        let n = self.inner.write(buf)?;
        if n > 0 {
            log.push(std::thread::current().name().unwrap_or("").to_string());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn counting(t: Box<dyn Transport>, log: &Log) -> Box<dyn Transport> {
    let parts = t.into_parts().expect("parts");
    Box::new(TransportParts {
        writer: Box::new(CountingWriter {
            inner: parts.writer,
            log: log.clone(),
        }),
        ..parts
    })
}

const CALLS: usize = 200;

/// A channel to `server` whose connections log both ends' writes.
fn counted_channel(server: &Server) -> (Channel, Log, Log) {
    let (client_log, server_log) = (Log::default(), Log::default());
    let (cl, sl, srv) = (client_log.clone(), server_log.clone(), server.clone());
    let channel = Channel::builder_with_connector("in-memory", move |_timeout| {
        let (client, server_side) = in_memory_pair()?;
        srv.serve_transport(counting(server_side, &sl))?;
        Ok(counting(client, &cl))
    })
    .build_lazy()
    .expect("channel");
    (channel, client_log, server_log)
}

#[test]
fn unary_calls_take_one_write_each_way_from_the_calling_threads() {
    let mut router: Router<Handler> = Router::new();
    router.unary("test.Echo", "Unary", BytesCodec, |_call, req: Bytes| {
        Ok(req)
    });
    let server = Server::builder().build(router);
    let (channel, client_log, server_log) = counted_channel(&server);
    let opts = || CallOptions::new().timeout(Duration::from_secs(10));
    // The handshake and a first call, then a quiet moment: what follows
    // is only the calls' own traffic.
    let r = channel
        .unary(
            "/test.Echo/Unary",
            BytesCodec,
            &Bytes::from_static(b"hi"),
            opts(),
        )
        .expect("first call");
    assert_eq!(&r.message[..], b"hi");
    std::thread::sleep(Duration::from_millis(100));
    let (c0, s0) = (client_log.writers().len(), server_log.writers().len());
    for i in 0..CALLS {
        let req = Bytes::from(format!("request {i}"));
        let r = channel
            .unary("/test.Echo/Unary", BytesCodec, &req, opts())
            .expect("call");
        assert_eq!(r.message, req);
        assert!(r.trailers.is_empty());
    }
    let client = client_log.writers().split_off(c0);
    let server = server_log.writers().split_off(s0);
    // One write per request and per reply; a few more may carry
    // WINDOW_UPDATEs as the connection window is used up.
    assert!(
        (CALLS..CALLS + 8).contains(&client.len()),
        "{} client writes for {CALLS} calls",
        client.len()
    );
    assert!(
        (CALLS..CALLS + 8).contains(&server.len()),
        "{} server writes for {CALLS} calls",
        server.len()
    );
    // Now and then the connection's writer thread is busy (with a
    // WINDOW_UPDATE, say) just as a reply is ready, and takes the reply
    // along: nearly all, not all, come from the calling threads.
    let me = std::thread::current().name().unwrap_or("").to_string();
    let from_caller = client.iter().filter(|t| **t == me).count();
    let from_handlers = server.iter().filter(|t| *t == "grpc-handler").count();
    assert!(
        from_caller >= CALLS * 9 / 10,
        "{from_caller} of {} client writes from the calling thread {me:?}: {client:?}",
        client.len()
    );
    assert!(
        from_handlers >= CALLS * 9 / 10,
        "{from_handlers} of {} server writes from handler threads: {server:?}",
        server.len()
    );
}

#[test]
fn the_reader_thread_never_writes_not_even_a_refusal() {
    // One handler thread and no queue: while it sleeps, the next call is
    // refused at once, from the reader thread's turn. The refusal is still
    // written by another thread: a reader blocked in a write could stop
    // reading from a peer that is itself blocked writing to us.
    let mut router: Router<Handler> = Router::new();
    router.unary("test.Echo", "Sleep", BytesCodec, |_call, req: Bytes| {
        std::thread::sleep(Duration::from_millis(400));
        Ok(req)
    });
    let server = Server::builder()
        .max_handlers(1)
        .handler_queue(0, Duration::ZERO)
        .build(router);
    let (channel, _client_log, server_log) = counted_channel(&server);
    let opts = || CallOptions::new().timeout(Duration::from_secs(10));
    let ch = channel.clone();
    let sleeper = std::thread::spawn(move || {
        ch.unary(
            "/test.Echo/Sleep",
            BytesCodec,
            &Bytes::from_static(b"z"),
            opts(),
        )
    });
    assert!(wait_for(Duration::from_secs(10), || server.busy_handlers() > 0));
    for _ in 0..5 {
        let e = channel
            .unary(
                "/test.Echo/Sleep",
                BytesCodec,
                &Bytes::from_static(b"x"),
                opts(),
            )
            .expect_err("refused");
        assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
        assert_eq!(e.message(), "server handler pool exhausted");
    }
    let r = sleeper.join().expect("thread").expect("the first call");
    assert_eq!(&r.message[..], b"z");
    let writers = server_log.writers();
    assert!(!writers.is_empty());
    assert!(
        writers.iter().all(|t| t != "grpc-server-read"),
        "{writers:?}"
    );
}
