//! Connection life of the tokio adapter over 127.0.0.1: channel states,
//! reconnection after the server restarts, wait-for-ready, graceful
//! shutdown that lets a call in progress finish, and the grace period
//! that cuts a call off.

mod tokio_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use grpc_sansio_tokio::{
    BackoffConfig, BytesCodec, CallOptions, CancelReason, Channel, ChannelState, Code, Server,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_support::{Seen, bounded, path, routes};

struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    server: Server,
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        bounded(20, self.task).await.unwrap().unwrap();
    }
}

async fn start(addr: SocketAddr, grace: Duration) -> (Running, mpsc::Receiver<Seen>, SocketAddr) {
    let (tx, seen) = mpsc::channel(64);
    let server = Server::builder().grace_period(grace).build(routes(tx));
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let s = server.clone();
    let task = tokio::spawn(async move {
        s.serve_with_shutdown(listener, async {
            let _ = stopped.await;
        })
        .await
    });
    (
        Running {
            stop: Some(stop),
            task,
            server,
        },
        seen,
        addr,
    )
}

fn fast_backoff() -> BackoffConfig {
    BackoffConfig {
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        min_connect_timeout: Duration::from_secs(2),
        ..BackoffConfig::default()
    }
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_server_restarts() {
    let (running, _seen, addr) =
        start("127.0.0.1:0".parse().unwrap(), Duration::from_secs(5)).await;
    let channel = Channel::builder(&format!("http://{addr}"))
        .backoff(fast_backoff())
        .build()
        .unwrap();
    assert_eq!(channel.state(), ChannelState::Idle);
    let r = channel
        .unary(&path("Echo"), BytesCodec, b("one"), CallOptions::new())
        .await
        .unwrap();
    assert_eq!(r.message, b("one"));
    assert_eq!(channel.state(), ChannelState::Ready);

    running.stop().await;
    // The GOAWAY and the close take the channel out of Ready.
    bounded(10, channel.state_changed(ChannelState::Ready)).await;

    // Down: a call that does not wait for ready fails with UNAVAILABLE.
    let e = bounded(
        10,
        channel.unary(&path("Echo"), BytesCodec, b("x"), CallOptions::new()),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e}");
    assert_eq!(channel.state(), ChannelState::TransientFailure);

    // A call that waits for ready rides out the restart.
    let ch = channel.clone();
    let waiting = tokio::spawn(async move {
        ch.unary(
            &path("Echo"),
            BytesCodec,
            b("two"),
            CallOptions::new()
                .wait_for_ready(true)
                .timeout(Duration::from_secs(10)),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (running, _seen, _) = start(addr, Duration::from_secs(5)).await;
    let r = bounded(15, waiting).await.unwrap().unwrap();
    assert_eq!(r.message, b("two"));
    assert_eq!(channel.state(), ChannelState::Ready);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_lets_a_call_in_progress_finish() {
    let (running, mut seen, addr) =
        start("127.0.0.1:0".parse().unwrap(), Duration::from_secs(5)).await;
    let channel = Channel::connect(&format!("http://{addr}")).unwrap();
    let ch = channel.clone();
    let call = tokio::spawn(async move {
        ch.unary(&path("Sleep"), BytesCodec, b("400"), CallOptions::new())
            .await
    });
    // The handler is running.
    assert!(matches!(
        bounded(10, seen.recv()).await,
        Some(Seen::Deadline(None))
    ));
    let server = running.server.clone();
    let stopping = tokio::spawn(running.stop());
    let r = bounded(10, call).await.unwrap().unwrap();
    assert_eq!(r.message, b("slept"));
    assert_eq!(seen.recv().await, Some(Seen::Slept));
    bounded(10, stopping).await.unwrap();
    assert_eq!(server.connections(), 0);
    // Nothing listens any more.
    let e = channel
        .unary(&path("Echo"), BytesCodec, b("x"), CallOptions::new())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_period_cuts_off_a_long_call() {
    let (running, mut seen, addr) =
        start("127.0.0.1:0".parse().unwrap(), Duration::from_millis(300)).await;
    let channel = Channel::connect(&format!("http://{addr}")).unwrap();
    let ch = channel.clone();
    let call = tokio::spawn(async move {
        ch.unary(&path("Sleep"), BytesCodec, b("20000"), CallOptions::new())
            .await
    });
    assert!(matches!(
        bounded(10, seen.recv()).await,
        Some(Seen::Deadline(None))
    ));
    let started = std::time::Instant::now();
    running.stop().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let e = bounded(10, call).await.unwrap().unwrap_err();
    assert!(
        matches!(e.code(), Code::Unavailable | Code::Cancelled),
        "{e}"
    );
    let s = bounded(10, seen.recv()).await.unwrap();
    assert_eq!(s, Seen::Cancelled(Some(CancelReason::ConnectionLost)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn states_and_ready() {
    let (running, _seen, addr) =
        start("127.0.0.1:0".parse().unwrap(), Duration::from_secs(5)).await;
    let channel = Channel::connect(&format!("http://{addr}")).unwrap();
    assert_eq!(channel.state(), ChannelState::Idle);
    bounded(10, channel.ready(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(channel.state(), ChannelState::Ready);
    channel.close();
    assert_eq!(
        bounded(10, channel.state_changed(ChannelState::Ready)).await,
        ChannelState::Shutdown
    );
    let e = channel
        .unary(&path("Echo"), BytesCodec, b("x"), CallOptions::new())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    running.stop().await;
}

#[tokio::test]
async fn connection_refused_is_a_transient_failure_and_backs_off() {
    // A port nothing listens on: bind, note it, close.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let channel = Channel::builder(&format!("http://{addr}"))
        .backoff(fast_backoff())
        .build()
        .unwrap();
    let e = channel
        .unary(&path("Echo"), BytesCodec, b("x"), CallOptions::new())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    assert!(e.message().contains("connect"), "{e}");
    // wait_for_ready with a deadline ends with DEADLINE_EXCEEDED.
    let e = channel
        .unary(
            &path("Echo"),
            BytesCodec,
            b("x"),
            CallOptions::new()
                .wait_for_ready(true)
                .timeout(Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_channel_closes_the_connection() {
    let (running, _seen, addr) =
        start("127.0.0.1:0".parse().unwrap(), Duration::from_secs(5)).await;
    let channel = Channel::connect(&format!("http://{addr}")).unwrap();
    channel
        .unary(&path("Echo"), BytesCodec, b("x"), CallOptions::new())
        .await
        .unwrap();
    assert_eq!(running.server.connections(), 1);
    let t = std::time::Instant::now();
    drop(channel);
    bounded(10, async {
        while running.server.connections() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    eprintln!("closed in {:?}", t.elapsed());
    let t = std::time::Instant::now();
    running.stop().await;
    eprintln!("stopped in {:?}", t.elapsed());
}

/// A server on a runtime of its own, and a channel to it whose
/// connection was made (with one call) on `first`: the runtime the
/// connection's tasks run on, for a test to drop.
fn channel_used_on(
    first: &tokio::runtime::Runtime,
) -> (
    tokio::runtime::Runtime,
    Running,
    mpsc::Receiver<Seen>,
    Channel,
) {
    let server_rt = tokio::runtime::Runtime::new().unwrap();
    let (running, seen, addr) = server_rt.block_on(start(
        "127.0.0.1:0".parse().unwrap(),
        Duration::from_secs(1),
    ));
    let channel = Channel::connect(&format!("http://{addr}")).unwrap();
    let r = first.block_on(channel.unary(&path("Echo"), BytesCodec, b("one"), CallOptions::new()));
    assert_eq!(r.unwrap().into_inner(), b("one"));
    (server_rt, running, seen, channel)
}

/// A channel kept (in a static, say) after the runtime that first used
/// it is gone, its connection and reconnecting task with it, and used
/// from another runtime (each `#[tokio::test]` has its own): calls work
/// there, rather than spinning for ever on the dead connection whatever
/// their deadline.
#[test]
fn a_channel_outlives_the_runtime_that_first_used_it() {
    let first = tokio::runtime::Runtime::new().unwrap();
    let (server_rt, running, _seen, channel) = channel_used_on(&first);
    drop(first);
    let (tx, rx) = std::sync::mpsc::channel();
    let ch = channel.clone();
    std::thread::spawn(move || {
        let second = tokio::runtime::Runtime::new().unwrap();
        let r = second.block_on(ch.unary(
            &path("Echo"),
            BytesCodec,
            b("two"),
            CallOptions::new().timeout(Duration::from_secs(2)),
        ));
        let _ = tx.send(r.map(|r| r.into_inner()).map_err(|e| e.status));
    });
    let r = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the call on the second runtime never ended");
    assert_eq!(r, Ok(b("two")));
    server_rt.block_on(running.stop());
}

/// A connector that panics (a bug in the application's transport) fails
/// the channel: calls end with UNAVAILABLE instead of waiting for ever
/// for a connection nobody is making any more.
#[tokio::test]
async fn a_connector_that_panics_fails_the_calls() {
    struct Panics;
    impl grpc_sansio_tokio::Connector for Panics {
        fn connect(&self) -> grpc_sansio_tokio::ConnectFuture<'_> {
            Box::pin(async { panic!("this connector panics (on purpose)") })
        }
    }
    let channel = Channel::with_connector(Panics).build().unwrap();
    let e = bounded(
        5,
        channel.unary(&path("Echo"), BytesCodec, b("x"), CallOptions::new()),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e}");
    assert_eq!(channel.state(), ChannelState::TransientFailure);
}

/// `Server::shutdown` itself, with no signal, stops `serve` too: the
/// listener is closed, and a connection handed to the server afterwards
/// is turned away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_serve_and_takes_no_new_connections() {
    let (tx, _seen) = mpsc::channel(64);
    let server = Server::builder()
        .grace_period(Duration::from_secs(5))
        .build(routes(tx));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server.clone();
    let task = tokio::spawn(async move { s.serve(listener).await });
    let channel = Channel::connect(&format!("http://{addr}")).unwrap();
    let echo = |ch: Channel| async move {
        let options = CallOptions::new().timeout(Duration::from_secs(5));
        ch.unary(&path("Echo"), BytesCodec, b("one"), options).await
    };
    assert_eq!(
        bounded(10, echo(channel.clone())).await.unwrap().message,
        b("one")
    );
    bounded(10, server.shutdown()).await;
    // `serve` has returned, its listener closed.
    bounded(10, task).await.unwrap().unwrap();
    assert_eq!(server.connections(), 0);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    let e = bounded(10, echo(channel)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    // A connection handed in after shutdown gets GOAWAY, not a call.
    let e = bounded(10, echo(server.in_memory_channel()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
}

/// A call in progress on a connection whose runtime is dropped (the
/// channel is shared with another runtime, as above) ends with
/// UNAVAILABLE: its connection task is gone with its responses, and its
/// deadline, which that task enforced, with it. It used to wait for ever.
#[test]
fn a_call_in_progress_ends_when_its_connections_runtime_goes() {
    let first = tokio::runtime::Runtime::new().unwrap();
    // The connection is made, and driven, on `first`.
    let (server_rt, running, mut seen, channel) = channel_used_on(&first);
    // A call from another runtime rides on that connection.
    let (tx, rx) = std::sync::mpsc::channel();
    let ch = channel.clone();
    std::thread::spawn(move || {
        let second = tokio::runtime::Runtime::new().unwrap();
        let r = second.block_on(ch.unary(
            &path("Sleep"),
            BytesCodec,
            b("10000"),
            CallOptions::new().timeout(Duration::from_secs(2)),
        ));
        let _ = tx.send(r.map(|r| r.into_inner()).map_err(|e| e.code()));
    });
    // The server has the call.
    let got = server_rt.block_on(bounded(5, seen.recv()));
    assert!(matches!(got, Some(Seen::Deadline(_))), "{got:?}");
    drop(first);
    let r = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the call never ended");
    assert_eq!(r, Err(Code::Unavailable));
    server_rt.block_on(running.stop());
}

/// A channel closed while its runtime still had to run the close, then
/// left by that runtime: it is shut down all the same. Calls fail at once
/// with UNAVAILABLE, rather than waiting for their deadline on a
/// connection that no task drives any more.
#[test]
fn a_channel_closed_as_its_runtime_goes_is_shut_down() {
    let server_rt = tokio::runtime::Runtime::new().unwrap();
    let (running, _seen, addr) = server_rt.block_on(start(
        "127.0.0.1:0".parse().unwrap(),
        Duration::from_secs(1),
    ));
    let channel = Channel::connect(&format!("http://{addr}")).unwrap();
    // A runtime that only runs inside block_on: the manager has not seen
    // the close when the runtime goes.
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = first.block_on(channel.unary(&path("Echo"), BytesCodec, b("one"), CallOptions::new()));
    assert_eq!(r.unwrap().into_inner(), b("one"));
    channel.close();
    drop(first);
    assert_eq!(channel.state(), ChannelState::Shutdown);
    let second = tokio::runtime::Runtime::new().unwrap();
    let e = second
        .block_on(bounded(
            5,
            channel.unary(
                &path("Echo"),
                BytesCodec,
                b("two"),
                CallOptions::new().timeout(Duration::from_secs(3)),
            ),
        ))
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e}");
    server_rt.block_on(running.stop());
}

/// A connector that panics once fails that attempt only: the channel
/// backs off and tries again, as after any failed attempt (and as the
/// blocking adapter does), so a call that waits for ready gets through.
/// It used to leave the channel in TRANSIENT_FAILURE for good, nobody
/// connecting any more: such a call waited for its deadline, and
/// `close` never took the channel to SHUTDOWN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_that_panics_once_does_not_fail_the_channel_for_good() {
    use std::sync::atomic::{AtomicBool, Ordering};
    struct PanicsOnce {
        panicked: AtomicBool,
        server: Server,
    }
    impl grpc_sansio_tokio::Connector for PanicsOnce {
        fn connect(&self) -> grpc_sansio_tokio::ConnectFuture<'_> {
            Box::pin(async move {
                if !self.panicked.swap(true, Ordering::SeqCst) {
                    panic!("this connector panics once (on purpose)");
                }
                let (client, server) = tokio::io::duplex(64 << 10);
                self.server.serve_connection(server, None);
                Ok(Box::new(client) as grpc_sansio_tokio::BoxIo)
            })
        }
    }
    let (tx, _seen) = mpsc::channel(64);
    let server = Server::builder().build(routes(tx));
    let channel = Channel::with_connector(PanicsOnce {
        panicked: AtomicBool::new(false),
        server,
    })
    .backoff(fast_backoff())
    .build()
    .unwrap();
    // The first attempt panics: a call that does not wait fails.
    let e = bounded(
        5,
        channel.unary(&path("Echo"), BytesCodec, b("x"), CallOptions::new()),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e}");
    // One that waits for ready gets the next attempt's connection.
    let r = bounded(
        10,
        channel.unary(
            &path("Echo"),
            BytesCodec,
            b("y"),
            CallOptions::new()
                .wait_for_ready(true)
                .timeout(Duration::from_secs(5)),
        ),
    )
    .await;
    assert_eq!(r.map(|r| r.into_inner()).map_err(|e| e.status), Ok(b("y")));
    channel.close();
    let state = bounded(5, channel.state_changed(ChannelState::Ready)).await;
    assert_eq!(state, ChannelState::Shutdown);
}

/// A connection handed in after `shutdown` has returned is shut down as
/// it starts, and, like every connection of a server shutting down, cut
/// off after the grace period: a call its client sent with its preface,
/// before the GOAWAY could reach it, does not run on for ever after the
/// server has said it is done (here a 60 s sleep, grace 300 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_handed_in_after_shutdown_is_cut_off_after_the_grace_period() {
    use grpc_sansio::call::CallKind;
    use grpc_sansio::client::{
        CallOptions as CoreOptions, ClientConfig, ClientConnection, ClientEvent,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (tx, _seen) = mpsc::channel(64);
    let server = Server::builder()
        .grace_period(Duration::from_millis(300))
        .build(routes(tx));
    bounded(5, server.shutdown()).await;
    let (mut io, theirs) = tokio::io::duplex(64 << 10);
    server.serve_connection(theirs, None);
    // A client that pipelines its call behind its preface.
    let now = std::time::Instant::now();
    let mut client = ClientConnection::new(ClientConfig::default(), now);
    let call = client
        .start_call_with_message(
            &path("Sleep"),
            CoreOptions::new(CallKind::Unary),
            b("60000"),
            now,
        )
        .unwrap();
    let mut out = bytes::BytesMut::new();
    let mut buf = vec![0u8; 16 << 10];
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut status = None;
    while status.is_none() {
        out.clear();
        while client.poll_transmit(&mut out) > 0 {}
        if !out.is_empty() && io.write_all(&out).await.is_err() {
            client.receive_eof(std::time::Instant::now());
        }
        match tokio::time::timeout_at(until, io.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => client.receive_eof(std::time::Instant::now()),
            Ok(Ok(n)) => {
                let _ = client.receive(&buf[..n], std::time::Instant::now());
            }
            Err(_) => break,
        }
        while let Some(ev) = client.poll_event() {
            if let ClientEvent::Finished {
                call: c, status: s, ..
            } = ev
            {
                if c == call {
                    status = Some(s);
                }
            }
        }
    }
    let status = status.expect("the call was still running 5 s after shutdown");
    assert_ne!(status.code(), Code::Ok, "{status:?}");
    bounded(5, async {
        while server.connections() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// `close` is a plain function: called with no runtime around (here
/// after the runtime that used the channel is gone), it closes the
/// channel rather than panicking on a task it cannot spawn.
#[test]
fn close_with_no_runtime_around_does_not_panic() {
    let first = tokio::runtime::Runtime::new().unwrap();
    let (server_rt, running, _seen, channel) = channel_used_on(&first);
    drop(first);
    channel.close();
    assert_eq!(channel.state(), ChannelState::Shutdown);
    server_rt.block_on(running.stop());
}

/// Counts the `Stubborn` handlers running now.
#[derive(Clone, Default)]
struct Live(Arc<AtomicUsize>);

struct Alive(Arc<AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Live {
    fn enter(&self) -> Alive {
        self.0.fetch_add(1, Ordering::SeqCst);
        Alive(self.0.clone())
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Wait up to `within` for no handler to run; whether that happened.
    async fn settles(&self, within: Duration) -> bool {
        let until = std::time::Instant::now() + within;
        while self.count() > 0 && std::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.count() == 0
    }
}

/// A server whose one method, `s.S/Stubborn`, sends one message and then
/// works on without ever looking at its cancellation.
fn stubborn_server(live: &Live) -> Server {
    let mut r = grpc_sansio_tokio::Routes::new();
    let live = live.clone();
    r.server_streaming("s.S", "Stubborn", BytesCodec, move |_req, mut sink| {
        let alive = live.enter();
        async move {
            let _alive = alive;
            sink.send(b("first")).await?;
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    Server::builder().build(r)
}

/// A handler that does not watch its cancellation is aborted a moment
/// after its connection ends (the connection task's promise: it is told,
/// then aborted if still running 200 ms later), whether the transport
/// was cut under its call or the client cancelled the call and then went
/// away. Such handlers used to run for ever: the connection's end (or the
/// client's cancel) reached them as a cancellation that dropped their
/// task's handle, so nothing was left to abort when the connection ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_that_ignore_cancellation_are_aborted_after_their_connection_ends() {
    // The transport cut under the call.
    let live = Live::default();
    let server = stubborn_server(&live);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server.clone();
    tokio::spawn(async move { s.serve(listener).await });
    let relay = grpc_sansio_tests::attack::Relay::start(addr);
    let channel = Channel::connect(&format!("http://{}", relay.addr)).unwrap();
    let mut call = bounded(
        10,
        channel.server_streaming("/s.S/Stubborn", BytesCodec, b(""), CallOptions::new()),
    )
    .await
    .unwrap();
    assert_eq!(bounded(10, call.message()).await.unwrap(), Some(b("first")));
    assert_eq!(live.count(), 1);
    relay.cut();
    let e = bounded(10, call.message()).await.unwrap_err();
    assert!(
        matches!(e.code(), Code::Unavailable | Code::Cancelled),
        "{e}"
    );
    bounded(10, async {
        while server.connections() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        live.settles(Duration::from_secs(2)).await,
        "the handler outlived its connection (transport cut)"
    );

    // The client cancels the call, then goes.
    let live = Live::default();
    let server = stubborn_server(&live);
    let channel = server.in_memory_channel();
    let mut call = bounded(
        10,
        channel.server_streaming("/s.S/Stubborn", BytesCodec, b(""), CallOptions::new()),
    )
    .await
    .unwrap();
    assert_eq!(bounded(10, call.message()).await.unwrap(), Some(b("first")));
    drop(call);
    drop(channel);
    bounded(10, async {
        while server.connections() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        live.settles(Duration::from_secs(2)).await,
        "the handler outlived its connection (call cancelled, then the client went)"
    );
}

/// The task `serve_connection` returns, aborted (the application's way to
/// drop one connection), takes the connection's calls with it: their
/// handlers are told (ConnectionLost), as when the connection ends any
/// other way. They used to wait for ever on a cancellation nobody would
/// signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborting_a_connections_task_cancels_its_calls() {
    let (probe, mut seen) = mpsc::channel(64);
    let server = Server::builder().build(routes(probe));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server.clone();
    let (task_tx, task_rx) = oneshot::channel();
    tokio::spawn(async move {
        let (io, peer) = listener.accept().await.unwrap();
        let _ = task_tx.send(s.serve_connection(io, Some(peer)));
    });
    let channel = Channel::connect(&format!("http://{addr}")).unwrap();
    let ch = channel.clone();
    let call = tokio::spawn(async move {
        ch.unary(&path("Sleep"), BytesCodec, b("20000"), CallOptions::new())
            .await
    });
    assert!(matches!(
        bounded(10, seen.recv()).await,
        Some(Seen::Deadline(None))
    ));
    let task = bounded(10, task_rx).await.unwrap();
    task.abort();
    let s = bounded(5, seen.recv()).await.unwrap();
    assert_eq!(s, Seen::Cancelled(Some(CancelReason::ConnectionLost)));
    let e = bounded(10, call).await.unwrap().unwrap_err();
    assert!(
        matches!(e.code(), Code::Unavailable | Code::Cancelled),
        "{e}"
    );
    // The aborted task is dropped on a worker of its own: its count goes
    // soon after, not necessarily before the handler hears.
    for _ in 0..500 {
        if server.connections() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.connections(), 0);
}
