//! Server connection lifetime limits, against both adapters on
//! 127.0.0.1: `max_connection_idle` closes a connection with no call in
//! progress, `max_connection_age` (with a grace) retires a busy one, and in
//! both cases the client's channel moves to a new connection for the next
//! call.

use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio::grpc::Code;
use grpc_sansio::server::ServerConfig;
use grpc_sansio_tests::attack::server::path;
use grpc_sansio_tests::attack::{Adapter, TestServer, exclusive};

const TIMEOUT: Duration = Duration::from_secs(5);

/// The server's idle limit in [`idle_limit`].
const IDLE: Duration = Duration::from_millis(300);

/// The pause between calls that must keep the connection.
const SPACING: Duration = Duration::from_millis(100);

/// Calls in one run that must share a connection.
const CALLS: usize = 5;

/// Runs of [`CALLS`] calls before giving up on one whose calls all came
/// closer together than [`IDLE`].
const RUNS: usize = 5;

/// Wait up to `within` for the server to hold `n` connections.
fn wait_connections(server: &TestServer, n: usize, within: Duration) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if server.connections() == n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    server.connections() == n
}

/// What a client does in these tests, on either adapter's channel.
enum Client {
    Tokio(tokio::runtime::Runtime, grpc_sansio_tokio::Channel),
    Blocking(grpc_sansio_blocking::Channel),
}

impl Client {
    fn new(adapter: Adapter, server: &TestServer) -> Client {
        let target = format!("http://{}", server.addr);
        match adapter {
            Adapter::Tokio => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("runtime");
                let ch = rt
                    .block_on(async { grpc_sansio_tokio::Channel::connect(&target) })
                    .expect("channel");
                Client::Tokio(rt, ch)
            }
            Adapter::Blocking => Client::Blocking(
                grpc_sansio_blocking::Channel::builder(&target)
                    .build_lazy()
                    .expect("channel"),
            ),
        }
    }

    /// The client address the server saw for a call.
    fn peer(&self) -> String {
        self.try_peer().expect("Peer call")
    }

    /// The client address the server saw for a call, or how the call
    /// failed.
    fn try_peer(&self) -> Result<String, Code> {
        let p = path("Peer");
        let reply = match self {
            Client::Tokio(rt, ch) => {
                use grpc_sansio_tokio::{BytesCodec, CallOptions};
                rt.block_on(ch.unary(
                    &p,
                    BytesCodec,
                    Bytes::new(),
                    CallOptions::new().timeout(TIMEOUT),
                ))
                .map(|r| r.into_inner())
                .map_err(|e| e.code())
            }
            Client::Blocking(ch) => {
                use grpc_sansio_blocking::{BytesCodec, CallOptions};
                ch.unary(
                    &p,
                    BytesCodec,
                    &Bytes::new(),
                    CallOptions::new().timeout(TIMEOUT),
                )
                .map(|r| r.into_inner())
                .map_err(|e| e.code())
            }
        };
        reply.map(|r| String::from_utf8(r.to_vec()).expect("an address"))
    }

    /// Run `Hang` (a server stream that never ends by itself) and return
    /// how many messages came and how it ended.
    fn hang(&self) -> (usize, Code) {
        let p = path("Hang");
        match self {
            Client::Tokio(rt, ch) => {
                use grpc_sansio_tokio::{BytesCodec, CallOptions};
                rt.block_on(async {
                    let mut s = ch
                        .server_streaming(
                            &p,
                            BytesCodec,
                            Bytes::new(),
                            CallOptions::new().timeout(TIMEOUT),
                        )
                        .await
                        .expect("call started");
                    let mut n = 0;
                    loop {
                        match s.message().await {
                            Ok(Some(_)) => n += 1,
                            Ok(None) => return (n, Code::Ok),
                            Err(e) => return (n, e.code()),
                        }
                    }
                })
            }
            Client::Blocking(ch) => {
                use grpc_sansio_blocking::{BytesCodec, CallOptions};
                let mut s = ch
                    .server_streaming(
                        &p,
                        BytesCodec,
                        &Bytes::new(),
                        CallOptions::new().timeout(TIMEOUT),
                    )
                    .expect("call started");
                let mut n = 0;
                loop {
                    match s.message() {
                        Some(Ok(_)) => n += 1,
                        None => return (n, Code::Ok),
                        Some(Err(e)) => return (n, e.code()),
                    }
                }
            }
        }
    }
}

/// Calls [`SPACING`] apart keep the connection; left idle past the limit
/// it is closed, and the next call goes over a new one. A sleep can last
/// far longer than asked on a loaded machine, so the spacing is measured:
/// the server's idle stretch between two calls lies within the span from
/// the first one's start to the second one's end, and only a run in which
/// every such span stayed under [`IDLE`] must have kept its connection.
/// Every run must end with the idle close and a new connection.
fn idle_limit(adapter: Adapter) {
    let _turn = exclusive();
    let mut config = ServerConfig::default();
    config.max_connection_idle = Some(IDLE);
    let server = TestServer::start(adapter, config);
    let client = Client::new(adapter, &server);
    // (start, end, peer or failure) of each call in a run.
    let timed = |client: &Client| {
        let start = Instant::now();
        let peer = client.try_peer();
        (start, Instant::now(), peer)
    };
    let opening = |client: &Client| {
        let call = timed(client);
        assert!(call.2.is_ok(), "{adapter:?}: {:?}", call.2);
        call
    };
    let mut calls = vec![opening(&client)];
    let mut kept = false;
    for run in 0..RUNS {
        // Calls closer together than the limit keep the connection.
        while calls.len() < CALLS {
            std::thread::sleep(SPACING);
            calls.push(timed(&client));
        }
        let widest = calls
            .windows(2)
            .map(|w| w[1].1.duration_since(w[0].0))
            .max()
            .unwrap_or_default();
        let first = &calls[0].2;
        if widest < IDLE {
            // Not one failed (UNAVAILABLE from a close under it) or came
            // over a new connection.
            for (i, (.., peer)) in calls.iter().enumerate() {
                assert_eq!(
                    peer, first,
                    "{adapter:?}: call {i} of run {run}, though no two calls spanned {IDLE:?} (widest {widest:?})"
                );
            }
            kept = true;
        } else {
            // The server may have been idle long enough: no verdict on
            // this run's calls, only on its close.
            eprintln!("{adapter:?}: run {run}: two calls spanned {widest:?}, not under {IDLE:?}");
        }
        // Idle past the limit: the server closes it.
        assert!(
            wait_connections(&server, 0, Duration::from_secs(3)),
            "{adapter:?}: {} connections",
            server.connections()
        );
        // The next call goes over a new connection, and begins the next
        // run.
        let last = calls.iter().rev().find_map(|(.., peer)| peer.clone().ok());
        calls = vec![opening(&client)];
        assert_ne!(calls[0].2.as_ref().ok(), last.as_ref(), "{adapter:?}");
        if kept {
            break;
        }
    }
    assert!(
        kept,
        "{adapter:?}: in {RUNS} runs, calls never came closer together than {IDLE:?}"
    );
}

fn age_limit(adapter: Adapter) {
    let _turn = exclusive();
    let mut config = ServerConfig::default();
    config.max_connection_age = Some(Duration::from_millis(300));
    config.max_connection_age_grace = Some(Duration::from_millis(300));
    let server = TestServer::start(adapter, config);
    let client = Client::new(adapter, &server);
    let first = client.peer();
    // A call that would run for 10 s is cut off at age + grace.
    let started = Instant::now();
    let (ticks, code) = client.hang();
    let took = started.elapsed();
    assert_eq!(code, Code::Unavailable, "{adapter:?}");
    assert!(ticks >= 1, "{adapter:?}: {ticks} messages");
    assert!(took < Duration::from_secs(3), "{adapter:?}: took {took:?}");
    assert!(
        server.settles_to(0, Duration::from_secs(3)),
        "{adapter:?}: {} connections, {} handlers",
        server.connections(),
        server.live.count()
    );
    let second = client.peer();
    assert_ne!(second, first, "{adapter:?}");
}

#[test]
fn max_connection_idle_tokio() {
    idle_limit(Adapter::Tokio);
}

#[test]
fn max_connection_idle_blocking() {
    idle_limit(Adapter::Blocking);
}

#[test]
fn max_connection_age_tokio() {
    age_limit(Adapter::Tokio);
}

#[test]
fn max_connection_age_blocking() {
    age_limit(Adapter::Blocking);
}
