//! Stream-identifier exhaustion, from both ends, against both adapters on
//! 127.0.0.1.
//!
//! - A client that jumps straight to the last identifier (2^31-1) is
//!   served there; an identifier below it afterwards is a connection error
//!   (GOAWAY PROTOCOL_ERROR naming 2^31-1 as the last stream), while a
//!   benign client keeps calling on its own connection.
//! - Our own channels, configured to start three identifiers short of the
//!   end, run out after three calls: every later call goes over a new
//!   connection and succeeds, and the spent connection is closed once its
//!   calls are done.

use std::time::Duration;

use grpc_sansio::client::ClientConfig;
use grpc_sansio::frame::{Frame, Reason};
use grpc_sansio_tests::attack::raw::{data, grpc_message, request_head};
use grpc_sansio_tests::attack::server::path;
use grpc_sansio_tests::attack::{Adapter, Attacker, PROMPT, Scenario, TestServer, exclusive};
use grpc_sansio_tests::attack_both;

const LAST_ID: u32 = (1 << 31) - 1;

/// The `grpc-status` of `stream`, waiting for it.
fn status_of(a: &mut Attacker, stream: u32) -> String {
    let got = a.wait_for(PROMPT, |r| {
        r.header(stream, "grpc-status").is_some() || r.is_end()
    });
    match got.as_ref().and_then(|r| r.header(stream, "grpc-status")) {
        Some(s) => s.to_string(),
        None => panic!("no grpc-status on stream {stream}; saw {}", a.transcript()),
    }
}

fn echo(a: &mut Attacker, stream: u32, payload: &[u8]) {
    let p = path("Unary");
    let h = a.headers(stream, &request_head(&p, &[]), false);
    a.send_all([h, data(stream, grpc_message(payload), true)])
        .expect("request written");
    assert_eq!(status_of(a, stream), "0", "{}", a.transcript());
}

fn last_identifier(adapter: Adapter) {
    Scenario::start(adapter).sustain("stream-ID exhaustion", |addr| {
        let mut a = Attacker::open(addr);
        echo(&mut a, 1, b"first");
        echo(&mut a, LAST_ID, b"last");
        // Nothing is left above 2^31-1; going back down is not allowed.
        let p = path("Unary");
        let h = a.headers(5, &request_head(&p, &[]), false);
        let _ = a.send_all([h, data(5, grpc_message(b"again"), true)]);
        let g = a.expect_goaway_and_close(Reason::PROTOCOL_ERROR, "");
        assert_eq!(g.last_stream_id.value(), LAST_ID, "{}", a.transcript());
        // The call on the last identifier was answered in full.
        let statuses = a
            .seen
            .iter()
            .filter(|r| matches!(r.frame(), Some(Frame::Headers(h)) if h.stream_id.value() == LAST_ID && h.end_stream))
            .count();
        assert_eq!(statuses, 1, "{}", a.transcript());
    });
}
attack_both!(attack_stream_id_exhaustion, last_identifier);

/// A client configuration with three stream identifiers left.
fn nearly_spent() -> ClientConfig {
    let mut c = ClientConfig::default();
    c.h2.first_stream_id = LAST_ID - 4;
    c
}

const CALLS: usize = 10;

fn client_runs_out(adapter: Adapter) {
    let _turn = exclusive();
    let server = TestServer::start(adapter, Default::default());
    let target = format!("http://{}", server.addr);
    let p = path("Peer");
    let replies: Vec<Result<Vec<u8>, String>> = match adapter {
        Adapter::Tokio => {
            use grpc_sansio_tokio::{BytesCodec, CallOptions, Channel};
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let channel = Channel::builder(&target)
                    .client_config(nearly_spent())
                    .build()
                    .expect("channel");
                let mut out = Vec::new();
                for i in 0..CALLS {
                    let r = channel
                        .unary(
                            &p,
                            BytesCodec,
                            bytes::Bytes::from(format!("call {i}")),
                            CallOptions::new().timeout(Duration::from_secs(5)),
                        )
                        .await;
                    out.push(
                        r.map(|r| r.into_inner().to_vec())
                            .map_err(|e| format!("{:?}: {}", e.code(), e.message())),
                    );
                }
                // With the channel still open, only its newest connection
                // is left.
                let until = std::time::Instant::now() + PROMPT;
                while server.connections() > 1 && std::time::Instant::now() < until {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                assert_eq!(server.connections(), 1, "spent connections stay open");
                out
            })
        }
        Adapter::Blocking => {
            use grpc_sansio_blocking::{BytesCodec, CallOptions, Channel};
            let channel = Channel::builder(&target)
                .core_config(|c| *c = nearly_spent())
                .build_lazy()
                .expect("channel");
            let out = (0..CALLS)
                .map(|i| {
                    channel
                        .unary(
                            &p,
                            BytesCodec,
                            &bytes::Bytes::from(format!("call {i}")),
                            CallOptions::new().timeout(Duration::from_secs(5)),
                        )
                        .map(|r| r.message.to_vec())
                        .map_err(|e| format!("{:?}: {}", e.code(), e.message()))
                })
                .collect();
            // With the channel still open, only its newest connection is
            // left.
            server.assert_settles_to(1, "spent connections");
            out
        }
    };
    // Every call succeeded; the server saw them come from one client
    // address per connection, three calls per connection.
    let peers: Vec<String> = replies
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let peer = r.unwrap_or_else(|e| panic!("{adapter:?} call {i}: {e}"));
            String::from_utf8(peer).expect("an address")
        })
        .collect();
    let mut runs: Vec<(String, usize)> = Vec::new();
    for p in peers {
        match runs.last_mut() {
            Some((last, n)) if *last == p => *n += 1,
            _ => runs.push((p, 1)),
        }
    }
    let sizes: Vec<usize> = runs.iter().map(|(_, n)| *n).collect();
    assert_eq!(sizes, [3, 3, 3, 1], "{adapter:?}: {runs:?}");
    let mut distinct: Vec<&String> = runs.iter().map(|(p, _)| p).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{adapter:?}: {runs:?}");
    // The spent connections are closed (the channel is gone too by now).
    server.assert_settles_to(0, "spent connections");
}

#[test]
fn attack_client_stream_ids_run_out_tokio() {
    client_runs_out(Adapter::Tokio);
}

#[test]
fn attack_client_stream_ids_run_out_blocking() {
    client_runs_out(Adapter::Blocking);
}
