//! Many threads on one blocking Channel, and a slow handler that must not
//! hold up other calls on the same connection.

#[path = "support/blocking.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio_blocking::{BytesCodec, CallKind, CallOptions, Status};
use grpc_sansio_tests::wait_for;
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
        wait_for(Duration::from_secs(2), || svc.server.busy_handlers() > 0);
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

/// Calls whose requests arrive together each get a handler thread at
/// once. The requests leave in one write of the core client driven by
/// hand (the server reads them in a few reads of several calls each),
/// twice: the first burst starts the pool's threads, the second
/// finds them idle, and the pool's chain of wake-ups must reach as many of
/// them as there are calls. Each handler waits (5 s at most) until all
/// have started; run one after another, they would answer UNAVAILABLE.
/// Then four times as many calls as threads: the rest wait in the queue
/// and succeed.
#[test]
fn calls_arriving_together_run_on_as_many_handler_threads_at_once() {
    use grpc_sansio::call::CallKind as CoreKind;
    use grpc_sansio::client::{
        CallOptions as CoreOptions, ClientConfig, ClientConnection, ClientEvent,
    };
    use grpc_sansio_blocking::{Handler, Router, RouterExt, Server};
    use grpc_sansio_tests::by_hand::turn;
    use std::collections::HashMap;
    use std::sync::{Condvar, Mutex};
    const CALLS: usize = 8;

    /// Start `calls` unary calls on a fresh connection, write them in one
    /// go, and return each call's reply (or status) by its number.
    fn burst(addr: std::net::SocketAddr, method: &str, calls: usize) -> Vec<Result<Bytes, String>> {
        let mut sock = std::net::TcpStream::connect(addr).unwrap();
        let now = Instant::now();
        let mut client = ClientConnection::new(ClientConfig::default(), now);
        let mut ids = HashMap::new();
        for i in 0..calls {
            let opts = CoreOptions::new(CoreKind::Unary).with_timeout(now, Duration::from_secs(20));
            let id = client.start_call(method, opts, now).unwrap();
            client.send_message(id, b(&i.to_string())).unwrap();
            client.half_close(id).unwrap();
            ids.insert(id, i);
        }
        let mut out: Vec<Result<Bytes, String>> = vec![Err("no answer".into()); calls];
        let mut done = 0;
        let until = Instant::now() + Duration::from_secs(20);
        while done < calls && Instant::now() < until {
            assert!(turn(&mut sock, &mut client, Duration::from_millis(50)).unwrap());
            while let Some(ev) = client.poll_event() {
                match ev {
                    ClientEvent::Message {
                        call,
                        message,
                        flow_len,
                        ..
                    } => {
                        client.release_capacity(call, flow_len);
                        out[ids[&call]] = message
                            .decompress()
                            .map_err(|s| format!("{:?} {}", s.code(), s.message()));
                    }
                    ClientEvent::Finished { call, status, .. } => {
                        done += 1;
                        if !status.is_ok() {
                            out[ids[&call]] =
                                Err(format!("{:?} {}", status.code(), status.message()));
                        }
                    }
                    _ => {}
                }
            }
        }
        out
    }

    within(Duration::from_secs(60), || {
        let gate = Arc::new((Mutex::new(0usize), Condvar::new()));
        let mut router: Router<Handler> = Router::new();
        let g = Arc::clone(&gate);
        router.unary(
            "test.Burst",
            "Wait",
            BytesCodec,
            move |_call, req: Bytes| {
                let (started, cv) = &*g;
                let mut n = started.lock().unwrap();
                *n += 1;
                cv.notify_all();
                let target = (*n).div_ceil(CALLS) * CALLS;
                let (n, wait) = cv
                    .wait_timeout_while(n, Duration::from_secs(5), |n| *n < target)
                    .unwrap();
                if wait.timed_out() {
                    return Err(Status::unavailable(format!(
                        "{} of {target} handlers ran at once",
                        *n
                    )));
                }
                Ok(req)
            },
        );
        router.unary("test.Burst", "Nap", BytesCodec, |_call, req: Bytes| {
            std::thread::sleep(Duration::from_millis(20));
            Ok(req)
        });
        let server = Server::builder().max_handlers(CALLS).build(router);
        let addr = server.bind("127.0.0.1:0").unwrap();
        for (method, calls) in [
            ("/test.Burst/Wait", CALLS),
            ("/test.Burst/Wait", CALLS),
            ("/test.Burst/Nap", 4 * CALLS),
        ] {
            for (i, r) in burst(addr, method, calls).into_iter().enumerate() {
                assert_eq!(r, Ok(b(&i.to_string())), "{method} call {i}");
            }
        }
        assert_eq!(*gate.0.lock().unwrap(), 2 * CALLS);
    });
}

/// A call that ends while it waits in the handler queue (here its
/// deadline passes) is closed without running its handler.
#[test]
fn a_queued_call_that_ended_never_runs_its_handler() {
    use grpc_sansio_blocking::{Channel, Code, Handler, Router, RouterExt, Server};
    use std::sync::mpsc;
    within(Duration::from_secs(30), || {
        let (release, released) = mpsc::channel::<()>();
        let released = std::sync::Mutex::new(released);
        let ran = Arc::new(AtomicUsize::new(0));
        let mut router: Router<Handler> = Router::new();
        router.unary(
            "test.Queue",
            "Hold",
            BytesCodec,
            move |_call, req: Bytes| {
                let _ = released
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(10));
                Ok(req)
            },
        );
        let r = Arc::clone(&ran);
        router.unary(
            "test.Queue",
            "Count",
            BytesCodec,
            move |_call, req: Bytes| {
                r.fetch_add(1, Ordering::SeqCst);
                Ok(req)
            },
        );
        let server = Server::builder().max_handlers(1).build(router);
        let addr = server.bind("127.0.0.1:0").unwrap();
        let ch = Channel::connect(&format!("http://{addr}")).unwrap();
        let holder = {
            let ch = ch.clone();
            std::thread::spawn(move || ch.unary("/test.Queue/Hold", BytesCodec, &b("held"), opts()))
        };
        wait_for(Duration::from_secs(5), || server.busy_handlers() > 0);
        assert_eq!(server.busy_handlers(), 1);
        let late = ch
            .unary(
                "/test.Queue/Count",
                BytesCodec,
                &b("late"),
                CallOptions::new().timeout(Duration::from_millis(200)),
            )
            .unwrap_err();
        assert_eq!(late.code(), Code::DeadlineExceeded);
        // The client reset the late call before it sends the next one, so
        // once the server has queued the next call (three busy: the held
        // one running, two queued) it has seen the late one end.
        let next = {
            let ch = ch.clone();
            std::thread::spawn(move || {
                ch.unary("/test.Queue/Count", BytesCodec, &b("next"), opts())
            })
        };
        wait_for(Duration::from_secs(5), || server.busy_handlers() >= 3);
        assert_eq!(server.busy_handlers(), 3);
        release.send(()).unwrap();
        assert_eq!(holder.join().unwrap().unwrap().message, b("held"));
        assert_eq!(next.join().unwrap().unwrap().message, b("next"));
        assert_eq!(
            ran.load(Ordering::SeqCst),
            1,
            "only the last call's handler ran"
        );
    });
}

/// Calls that ended while they waited in the handler queue (here their
/// deadlines passed) give up their places in it: a new call finds room
/// and waits for the handler. They kept their places until the queue
/// timeout, so the new call was refused RESOURCE_EXHAUSTED although no
/// call was waiting.
#[test]
fn calls_that_ended_in_the_queue_leave_room_for_new_ones() {
    use grpc_sansio_blocking::{Channel, Code, Handler, Router, RouterExt, Server};
    use std::sync::mpsc;
    within(Duration::from_secs(20), || {
        let (release, released) = mpsc::channel::<()>();
        let released = std::sync::Mutex::new(released);
        let mut router: Router<Handler> = Router::new();
        router.unary(
            "test.Queue",
            "Hold",
            BytesCodec,
            move |_call, req: Bytes| {
                let _ = released
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(10));
                Ok(req)
            },
        );
        router.unary("test.Queue", "Echo", BytesCodec, |_call, req: Bytes| {
            Ok(req)
        });
        let server = Server::builder()
            .max_handlers(1)
            .handler_queue(2, Duration::from_secs(10))
            .build(router);
        let addr = server.bind("127.0.0.1:0").unwrap();
        let ch = Channel::connect(&format!("http://{addr}")).unwrap();
        let holder = {
            let ch = ch.clone();
            std::thread::spawn(move || ch.unary("/test.Queue/Hold", BytesCodec, &b("held"), opts()))
        };
        wait_for(Duration::from_secs(5), || server.busy_handlers() > 0);
        // Two calls fill the queue, and their deadlines pass there.
        for i in 0..2 {
            let e = ch
                .unary(
                    "/test.Queue/Echo",
                    BytesCodec,
                    &b("late"),
                    CallOptions::new().timeout(Duration::from_millis(100)),
                )
                .unwrap_err();
            assert_eq!(e.code(), Code::DeadlineExceeded, "late call {i}");
        }
        // No call waits now: a new one is queued, and runs once the
        // handler is free.
        let next = {
            let ch = ch.clone();
            std::thread::spawn(move || ch.unary("/test.Queue/Echo", BytesCodec, &b("next"), opts()))
        };
        std::thread::sleep(Duration::from_millis(200));
        release.send(()).unwrap();
        assert_eq!(holder.join().unwrap().unwrap().message, b("held"));
        let next = next.join().unwrap();
        assert_eq!(
            next.map(|r| r.message).map_err(|e| e.code()),
            Ok(b("next")),
            "the new call"
        );
        server.shutdown(Duration::from_millis(200));
    });
}
