//! An idle blocking connection keeps one thread: its writer thread ends
//! once there is nothing to write and no timer to watch, and the next
//! output that needs one starts another. Threads are counted by name in
//! `/proc/self/task`, so this file holds a single test (tests of one file
//! share a process).
#![cfg(target_os = "linux")]

use std::time::Duration;

use bytes::Bytes;
use grpc_sansio_blocking::{
    BytesCodec, CallOptions, Channel, Handler, Router, RouterExt, Server, Status,
};
use grpc_sansio_tests::wait_for;

/// Threads of this process whose name starts with `prefix` (the kernel
/// keeps the first 15 bytes of a name).
fn threads(prefix: &str) -> usize {
    let prefix = &prefix[..prefix.len().min(15)];
    std::fs::read_dir("/proc/self/task")
        .expect("task list")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

const SERVER_WRITER: &str = "grpc-server-write";
const CLIENT_WRITER: &str = "grpc-client-write";
const SERVER_READER: &str = "grpc-server-read";

/// Calls with a deadline far beyond the test's waits: a writer thread
/// sleeping toward a deadline whose call has ended must still let go.
fn opts() -> CallOptions {
    CallOptions::new().timeout(Duration::from_secs(60))
}

/// 64 messages of 64 KiB, each filled with its number: far more than a
/// handler thread writes itself, so a writer thread must carry them.
fn big_stream(ch: &Channel) {
    let got: Vec<Bytes> = ch
        .server_streaming("/test.Idle/Big", BytesCodec, &Bytes::new(), opts())
        .expect("stream")
        .collect::<Result<_, Status>>()
        .expect("messages");
    assert_eq!(got.len(), 64);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.len(), 64 << 10);
        assert!(m.iter().all(|b| *b == i as u8), "message {i}");
    }
}

#[test]
fn idle_connections_give_up_their_writer_threads_and_get_them_back() {
    let mut router: Router<Handler> = Router::new();
    router.unary("test.Idle", "Echo", BytesCodec, |_call, req: Bytes| Ok(req));
    router.unary("test.Idle", "Slow", BytesCodec, |_call, req: Bytes| {
        std::thread::sleep(Duration::from_millis(1500));
        Ok(req)
    });
    router.server_streaming(
        "test.Idle",
        "Big",
        BytesCodec,
        |_call, _req: Bytes, sink| {
            for i in 0..64u8 {
                sink.send(&Bytes::from(vec![i; 64 << 10]))?;
            }
            Ok(())
        },
    );
    // Keepalive pings from the client every 200 ms are allowed.
    // Readers stay (parking idle connections is `blocking_park.rs`'s).
    let server = Server::builder()
        .keepalive_policy(Duration::from_millis(100), true)
        .park_idle_after(None)
        .build(router);
    let addr = server.bind("127.0.0.1:0").expect("bind");
    let target = format!("http://{addr}");
    let ch = Channel::connect(&target).expect("channel");
    let echo = |ch: &Channel, text: &'static str| {
        let r = ch
            .unary(
                "/test.Idle/Echo",
                BytesCodec,
                &Bytes::from_static(text.as_bytes()),
                opts(),
            )
            .expect("echo");
        assert_eq!(&r.message[..], text.as_bytes());
    };
    echo(&ch, "first");
    big_stream(&ch);

    // Quiet: both ends' writer threads end (long before the calls'
    // deadlines would have come); the connection stays, read by one
    // thread on each end.
    let quiet = Duration::from_secs(10);
    assert!(
        wait_for(quiet, || threads(SERVER_WRITER) == 0
            && threads(CLIENT_WRITER) == 0),
        "writer threads left on an idle connection: server {}, client {}",
        threads(SERVER_WRITER),
        threads(CLIENT_WRITER)
    );
    assert_eq!(server.connections(), 1);
    assert_eq!(threads(SERVER_READER), 1);

    // The same connection carries calls again: a small one, and one whose
    // output needs a writer thread on the server.
    echo(&ch, "after a quiet moment");
    big_stream(&ch);
    assert_eq!(server.connections(), 1);

    // A call that outlasts the writers' first early look at its deadline:
    // they look again later, and still let go long before the deadline.
    let r = ch
        .unary(
            "/test.Idle/Slow",
            BytesCodec,
            &Bytes::from_static(b"slow"),
            opts(),
        )
        .expect("slow call");
    assert_eq!(&r.message[..], b"slow");
    assert!(
        wait_for(quiet, || threads(SERVER_WRITER) == 0
            && threads(CLIENT_WRITER) == 0),
        "writer threads left after a slow call: server {}, client {}",
        threads(SERVER_WRITER),
        threads(CLIENT_WRITER)
    );

    // A connection with a timer to watch (the client's keepalive) keeps
    // its writer thread while idle, and stays up.
    assert!(wait_for(quiet, || threads(CLIENT_WRITER) == 0));
    let kept = Channel::builder(&target)
        .keepalive(Duration::from_millis(200), Duration::from_secs(5))
        .keepalive_while_idle(true)
        .connect()
        .expect("keepalive channel");
    echo(&kept, "kept");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(threads(CLIENT_WRITER), 1, "the keepalive channel's writer");
    echo(&kept, "still here");
    echo(&ch, "and the first one too");
    assert_eq!(server.connections(), 2);
}
