//! Transports that die mid-call, on both adapters over 127.0.0.1: the
//! client's connection reset or half-closed under open server-streaming
//! calls (seen by the server, and by the adapter's own client through a
//! relay that is cut), and the server dying under the client. Every call
//! in flight must end with UNAVAILABLE or CANCELLED within a bounded
//! time, and the server must drop back to no connection and no handler.

use std::net::{Shutdown, SocketAddr};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use grpc_sansio::frame::Frame;
use grpc_sansio::server::ServerConfig;
use grpc_sansio_tests::attack::raw::{data, grpc_message, request_head};
use grpc_sansio_tests::attack::server::path;
use grpc_sansio_tests::attack::{Adapter, Attacker, PROMPT, Relay, TestServer, exclusive};
use grpc_sansio_tests::attack_both;

const CALLS: usize = 3;

/// A raw client with `CALLS` `Hang` calls that have each received their
/// first message.
fn hanging_raw_client(addr: SocketAddr) -> Attacker {
    let mut a = Attacker::open(addr);
    let p = path("Hang");
    for i in 0..CALLS as u32 {
        let id = 2 * i + 1;
        let h = a.headers(id, &request_head(&p, &[]), false);
        a.send_all([h, data(id, grpc_message(b""), true)])
            .expect("request written");
    }
    for i in 0..CALLS as u32 {
        let id = 2 * i + 1;
        let got = a.wait_for(
            PROMPT,
            |r| matches!(r.frame(), Some(Frame::Data(d)) if d.stream_id.value() == id),
        );
        assert!(got.is_some(), "no message on {id}: {}", a.transcript());
    }
    a
}

/// The client's connection reset (both directions shut) under open
/// calls: the server ends them and drops the connection.
fn client_reset(adapter: Adapter) {
    let _turn = exclusive();
    let server = TestServer::start(adapter, ServerConfig::default());
    for _ in 0..3 {
        let a = hanging_raw_client(server.addr);
        assert_eq!(server.live.count(), CALLS);
        a.shutdown(Shutdown::Both);
        drop(a);
        server.assert_settles_to(0, "client reset");
    }
}
attack_both!(attack_fault_client_reset, client_reset);

/// The client half-closes TCP (shutdown(Write)) under open calls: the
/// server reads end of file with calls open, ends them and the
/// connection, and closes its side (the client reads end of file).
fn client_half_close(adapter: Adapter) {
    let _turn = exclusive();
    let server = TestServer::start(adapter, ServerConfig::default());
    for _ in 0..3 {
        let mut a = hanging_raw_client(server.addr);
        a.shutdown(Shutdown::Write);
        a.expect_close(PROMPT);
        server.assert_settles_to(0, "client half-close");
    }
}
attack_both!(attack_fault_client_half_close, client_half_close);

/// How a relayed connection is broken.
#[derive(Debug, Clone, Copy)]
enum Break {
    /// Both sockets shut both ways.
    Cut,
    /// The server reads end of file.
    HalfCloseToServer,
    /// The client reads end of file.
    HalfCloseToClient,
    /// The server dies (runtime dropped, or shut down with no grace).
    KillServer,
}

/// `CALLS` `Hang` calls from `adapter`'s channel to `addr`, each on a
/// thread or task of its own: `started` gets one message per call that
/// received its first response; the returned receiver gets each call's
/// final code.
fn hang_calls(
    adapter: Adapter,
    addr: SocketAddr,
    started: mpsc::Sender<()>,
) -> mpsc::Receiver<String> {
    let (done_tx, done_rx) = mpsc::channel();
    let target = format!("http://{addr}");
    thread::spawn(move || match adapter {
        Adapter::Tokio => {
            use grpc_sansio_tokio::{BytesCodec, CallOptions, Channel};
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("client runtime");
            rt.block_on(async move {
                let channel = Channel::connect(&target).expect("channel");
                let mut tasks = Vec::new();
                for _ in 0..CALLS {
                    let (channel, started, done) =
                        (channel.clone(), started.clone(), done_tx.clone());
                    tasks.push(tokio::spawn(async move {
                        let opts = CallOptions::new().timeout(Duration::from_secs(20));
                        let code = match channel
                            .server_streaming(&path("Hang"), BytesCodec, Bytes::new(), opts)
                            .await
                        {
                            Ok(mut s) => loop {
                                match s.message().await {
                                    Ok(Some(m)) if &m[..] == b"first" => {
                                        let _ = started.send(());
                                    }
                                    Ok(Some(_)) => {}
                                    Ok(None) => break "OK (the call finished)".to_string(),
                                    Err(e) => break format!("{:?}", e.code()),
                                }
                            },
                            Err(e) => format!("{:?}", e.code()),
                        };
                        let _ = done.send(code);
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
            });
        }
        Adapter::Blocking => {
            use grpc_sansio_blocking::{BytesCodec, CallOptions, Channel};
            let channel = Channel::builder(&target)
                .connect_timeout(Duration::from_secs(5))
                .build_lazy()
                .expect("channel");
            let mut threads = Vec::new();
            for _ in 0..CALLS {
                let (channel, started, done) = (channel.clone(), started.clone(), done_tx.clone());
                threads.push(thread::spawn(move || {
                    let opts = CallOptions::new().timeout(Duration::from_secs(20));
                    let code = match channel.server_streaming(
                        &path("Hang"),
                        BytesCodec,
                        &Bytes::new(),
                        opts,
                    ) {
                        Ok(mut s) => loop {
                            match s.message() {
                                Some(Ok(m)) if &m[..] == b"first" => {
                                    let _ = started.send(());
                                }
                                Some(Ok(_)) => {}
                                None => break "OK (the call finished)".to_string(),
                                Some(Err(e)) => break format!("{:?}", e.code()),
                            }
                        },
                        Err(e) => format!("{:?}", e.code()),
                    };
                    let _ = done.send(code);
                }));
            }
            for t in threads {
                let _ = t.join();
            }
        }
    });
    done_rx
}

/// The adapter's own client with calls in flight through a relay, then
/// the transport broken as `how` says: every call ends UNAVAILABLE or
/// CANCELLED within the bound; the server lets everything go.
fn broken_in_flight(adapter: Adapter, how: Break) {
    let _turn = exclusive();
    let mut server = TestServer::start(adapter, ServerConfig::default());
    let relay = Relay::start(server.addr);
    let (started_tx, started_rx) = mpsc::channel();
    let done = hang_calls(adapter, relay.addr, started_tx);
    for _ in 0..CALLS {
        started_rx
            .recv_timeout(PROMPT)
            .expect("every call has its first message");
    }
    match how {
        Break::Cut => relay.cut(),
        Break::HalfCloseToServer => relay.half_close_to_server(),
        Break::HalfCloseToClient => relay.half_close_to_client(),
        Break::KillServer => server.kill(),
    }
    for i in 0..CALLS {
        let code = done
            .recv_timeout(PROMPT)
            .unwrap_or_else(|_| panic!("{how:?}: call {i} did not end within {PROMPT:?}"));
        assert!(
            code == "Unavailable" || code == "Cancelled",
            "{how:?}: a call ended with {code}"
        );
    }
    if !matches!(how, Break::KillServer) {
        server.assert_settles_to(0, &format!("{how:?}"));
    }
}

fn relay_cut(adapter: Adapter) {
    broken_in_flight(adapter, Break::Cut);
}
attack_both!(attack_fault_transport_cut, relay_cut);

fn relay_half_close_to_server(adapter: Adapter) {
    broken_in_flight(adapter, Break::HalfCloseToServer);
}
attack_both!(
    attack_fault_half_closed_towards_server,
    relay_half_close_to_server
);

fn relay_half_close_to_client(adapter: Adapter) {
    broken_in_flight(adapter, Break::HalfCloseToClient);
}
attack_both!(
    attack_fault_half_closed_towards_client,
    relay_half_close_to_client
);

fn server_dies(adapter: Adapter) {
    broken_in_flight(adapter, Break::KillServer);
}
attack_both!(attack_fault_server_dies, server_dies);
