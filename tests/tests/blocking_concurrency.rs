//! Many threads on one blocking Channel, and a slow handler that must not
//! hold up other calls on the same connection.

#[path = "support/blocking.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio_blocking::{BytesCodec, CallKind, CallOptions, Status};
use support::{b, opts, serve, within};

#[test]
fn thirty_two_threads_share_one_channel_for_all_kinds() {
    within(Duration::from_secs(60), || {
        let svc = serve();
        let ch = svc.channel();
        let done = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..32)
            .map(|t| {
                let ch = ch.clone();
                let done = Arc::clone(&done);
                std::thread::spawn(move || {
                    for round in 0..10 {
                        let tag = format!("{t}-{round}");
                        match (t + round) % 4 {
                            0 => {
                                let r = ch
                                    .unary("/test.Echo/Unary", BytesCodec, &b(&tag), opts())
                                    .unwrap();
                                assert_eq!(r.message, b(&tag));
                            }
                            1 => {
                                let n = (t % 7 + 1).to_string();
                                let got: Vec<Bytes> = ch
                                    .server_streaming(
                                        "/test.Echo/Count",
                                        BytesCodec,
                                        &b(&n),
                                        opts(),
                                    )
                                    .unwrap()
                                    .collect::<Result<_, Status>>()
                                    .unwrap();
                                assert_eq!(got.len(), t % 7 + 1);
                            }
                            2 => {
                                let parts = [b(&tag), b("x"), b("y")];
                                let r = ch
                                    .client_streaming(
                                        "/test.Echo/Concat",
                                        BytesCodec,
                                        parts,
                                        opts(),
                                    )
                                    .unwrap();
                                assert_eq!(r.message, b(&format!("{tag},x,y")));
                            }
                            _ => {
                                let call = ch
                                    .call(
                                        "/test.Echo/Echo",
                                        CallKind::BidiStreaming,
                                        BytesCodec,
                                        opts(),
                                    )
                                    .unwrap();
                                for i in 0..5 {
                                    let m = b(&format!("{tag}/{i}"));
                                    call.send(&m).unwrap();
                                    assert_eq!(call.recv().unwrap().unwrap(), m);
                                }
                                call.close_send().unwrap();
                                assert!(call.recv().is_none());
                                assert!(call.finish().0.is_ok());
                            }
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("worker thread");
        }
        assert_eq!(done.load(Ordering::Relaxed), 320);
        // Every call went over one connection.
        assert_eq!(svc.server.connections(), 1);
    });
}

#[test]
fn a_handler_blocked_for_two_seconds_does_not_delay_another_call() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = svc.channel();
        // Connect first so the timing below is only about the calls.
        ch.unary("/test.Echo/Unary", BytesCodec, &b("warm"), opts())
            .unwrap();
        let slow_ch = ch.clone();
        let slow = std::thread::spawn(move || {
            let start = Instant::now();
            let r = slow_ch
                .unary("/test.Echo/Sleep", BytesCodec, &b("2000"), opts())
                .unwrap();
            (r.message, start.elapsed())
        });
        // Let the slow handler start.
        let start = Instant::now();
        while svc.server.busy_handlers() == 0 && start.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(svc.server.busy_handlers(), 1);
        let start = Instant::now();
        let r = ch
            .unary(
                "/test.Echo/Unary",
                BytesCodec,
                &b("fast"),
                CallOptions::new().timeout(Duration::from_secs(5)),
            )
            .unwrap();
        let fast = start.elapsed();
        assert_eq!(r.message, b("fast"));
        assert!(fast < Duration::from_millis(300), "fast call took {fast:?}");
        let (msg, slow_took) = slow.join().unwrap();
        assert_eq!(msg, b("slept"));
        assert!(slow_took >= Duration::from_secs(2));
        assert_eq!(svc.server.connections(), 1);
    });
}
