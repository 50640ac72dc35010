//! An idle blocking connection keeps one thread: its writer thread ends
//! once there is nothing to write and no timer to watch, and the next
//! output that needs one starts another. Threads are counted by name in
//! `/proc/self/task`, so this file holds a single test (tests of one file
//! share a process).
#![cfg(target_os = "linux")]

mod idle_support;

use std::time::Duration;

use grpc_sansio_blocking::{CallOptions, Channel, Server};
use grpc_sansio_tests::wait_for;
use idle_support::{CLIENT_WRITER, SERVER_READER, SERVER_WRITER, threads};

/// Calls with a deadline far beyond the test's waits: a writer thread
/// sleeping toward a deadline whose call has ended must still let go.
fn opts() -> CallOptions {
    CallOptions::new().timeout(Duration::from_secs(60))
}

fn echo(ch: &Channel, text: &str) {
    idle_support::echo(ch, text, opts());
}

fn big_stream(ch: &Channel) {
    idle_support::big_stream(ch, opts());
}

#[test]
fn idle_connections_give_up_their_writer_threads_and_get_them_back() {
    // Keepalive pings from the client every 200 ms are allowed.
    // Readers stay (parking idle connections is `blocking_park.rs`'s).
    let server = Server::builder()
        .keepalive_policy(Duration::from_millis(100), true)
        .park_idle_after(None)
        .build(idle_support::router());
    let addr = server.bind("127.0.0.1:0").expect("bind");
    let target = format!("http://{addr}");
    let ch = Channel::connect(&target).expect("channel");
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
    idle_support::slow(&ch, opts());
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
