//! The blocking adapter against itself over 127.0.0.1 and in memory: the
//! four call kinds, metadata both ways, status with details, deadlines,
//! cancellation, compression, interceptors, unknown methods and the
//! handler-pool bound.

#[path = "support/blocking.rs"]
mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio_blocking::{
    BytesCodec, CallKind, CallOptions, Channel, Code, Handler, MetadataMap, Router, RouterExt,
    Server, Status,
};
use support::{Seen, b, opts, serve, serve_with, start_sleep, within};

#[test]
fn unary_with_metadata_both_ways() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = svc.channel();
        let mut md = MetadataMap::new();
        md.insert("x-echo", "hello there").unwrap();
        md.insert_bin("x-bin-bin", Bytes::from_static(&[0, 1, 2, 0xfe]))
            .unwrap();
        let r = ch
            .unary(
                "/test.Echo/Unary",
                BytesCodec,
                &b("ping"),
                opts().metadata(md),
            )
            .expect("unary");
        assert_eq!(r.message, b("ping"));
        assert_eq!(r.metadata.get("x-echo-back"), Some("hello there"));
        assert_eq!(
            r.metadata.get_bin("x-bin-back-bin").map(|b| &b[..]),
            Some(&[0u8, 1, 2, 0xfe][..])
        );
        assert_eq!(r.trailers.get("x-trailer"), Some("done"));
        assert_eq!(
            r.trailers.get_bin("x-trailer-bin").map(|b| &b[..]),
            Some(&[0u8, 0xff][..])
        );
        assert_eq!(r.get_ref(), &b("ping"));
        assert_eq!(r.into_inner(), b("ping"));
    });
}

#[test]
fn status_with_message_details_and_trailers() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = svc.channel();
        let err = ch
            .unary("/test.Echo/Fail", BytesCodec, &b("x"), opts())
            .expect_err("fails");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(err.message(), "bad thing: ü");
        assert_eq!(err.details(), &[8, 3]);
        // The error carries the trailers (a trailers-only answer: no
        // headers came before it).
        assert_eq!(err.trailers.get("x-why"), Some("because"));
        assert!(err.metadata.is_empty());
        // And the headers, when some came first.
        let err = ch
            .unary("/test.Echo/Fail", BytesCodec, &b("headers"), opts())
            .expect_err("fails");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(err.metadata.get("x-before"), Some("yes"));
        assert_eq!(err.trailers.get("x-why"), Some("because"));
        // Trailers through the call handle.
        let call = ch
            .call("/test.Echo/Fail", CallKind::Unary, BytesCodec, opts())
            .unwrap();
        call.send(&b("x")).unwrap();
        call.close_send().unwrap();
        let (status, trailers) = call.finish();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(trailers.get("x-why"), Some("because"));
    });
}

#[test]
fn server_streaming_is_a_blocking_iterator() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = svc.channel();
        let got: Vec<Bytes> = ch
            .server_streaming("/test.Echo/Count", BytesCodec, &b("100"), opts())
            .unwrap()
            .collect::<Result<_, Status>>()
            .unwrap();
        assert_eq!(got.len(), 100);
        assert_eq!(got[0], b("0"));
        assert_eq!(got[99], b("99"));
        // An error status ends the iteration with one Err.
        let mut s = ch
            .server_streaming("/test.Echo/Count", BytesCodec, &b("nope"), opts())
            .unwrap();
        let e = s.next().unwrap().unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(s.next().is_none());
    });
}

#[test]
fn client_streaming_from_iterator_and_from_handle() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = svc.channel();
        let r = ch
            .client_streaming(
                "/test.Echo/Concat",
                BytesCodec,
                ["a", "b", "c"].map(b),
                opts(),
            )
            .unwrap();
        assert_eq!(r.message, b("a,b,c"));
        let call = ch
            .call(
                "/test.Echo/Concat",
                CallKind::ClientStreaming,
                BytesCodec,
                opts(),
            )
            .unwrap();
        for i in 0..50 {
            call.send(&b(&i.to_string())).unwrap();
        }
        call.close_send().unwrap();
        let r = call.response().unwrap();
        let expect: Vec<String> = (0..50).map(|i| i.to_string()).collect();
        assert_eq!(r.message, b(&expect.join(",")));
    });
}

#[test]
fn bidi_from_two_threads_with_large_messages() {
    within(Duration::from_secs(30), || {
        let svc = serve();
        let ch = svc.channel();
        let call = ch
            .bidi_streaming("/test.Echo/Echo", BytesCodec, opts())
            .unwrap();
        let (tx, rx) = call.split();
        // 64 messages of 256 KiB: 16 MiB each way, far past the windows,
        // so flow control and Blocked/Writable are exercised.
        let sender = std::thread::spawn(move || {
            for i in 0..64u8 {
                tx.send(&Bytes::from(vec![i; 256 << 10])).unwrap();
            }
            tx.close().unwrap();
        });
        let mut n = 0u8;
        for m in rx {
            let m = m.unwrap();
            assert_eq!(m.len(), 256 << 10);
            assert!(m.iter().all(|&x| x == n));
            n += 1;
        }
        assert_eq!(n, 64);
        sender.join().unwrap();
    });
}

#[test]
fn deadline_exceeded_on_both_sides() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = svc.channel();
        let start = Instant::now();
        let err = ch
            .unary(
                "/test.Echo/Sleep",
                BytesCodec,
                &b("3000"),
                CallOptions::new().timeout(Duration::from_millis(200)),
            )
            .expect_err("deadline");
        let took = start.elapsed();
        assert_eq!(err.code(), Code::DeadlineExceeded);
        assert!(took < Duration::from_millis(1500), "took {took:?}");
        // The handler saw its call end (the server's own deadline timer).
        let seen = svc
            .next_seen(Duration::from_secs(3))
            .expect("handler report");
        assert!(
            matches!(seen, Seen::Cancelled(ref m, _) if m == "Sleep"),
            "{seen:?}"
        );
        // The server saw the deadline.
        let r = ch
            .unary("/test.Echo/Info", BytesCodec, &b(""), opts())
            .unwrap();
        assert!(String::from_utf8_lossy(&r.message).contains("deadline=true"));
    });
}

#[test]
fn dropping_a_stream_cancels_the_call_on_the_server() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = svc.channel();
        let mut s = ch
            .server_streaming("/test.Echo/Hang", BytesCodec, &b(""), opts())
            .unwrap();
        assert_eq!(s.next().unwrap().unwrap(), b("first"));
        let dropped = Instant::now();
        drop(s);
        let seen = svc
            .next_seen(Duration::from_secs(3))
            .expect("handler report");
        match seen {
            // RST_STREAM CANCEL is code 8.
            Seen::Cancelled(m, why) => {
                assert_eq!(m, "Hang");
                assert!(why.contains("(8)"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        assert!(dropped.elapsed() < Duration::from_secs(2));
        // The connection is still fine.
        let r = ch.unary("/test.Echo/Unary", BytesCodec, &b("after"), opts());
        assert_eq!(r.unwrap().message, b("after"));
    });
}

#[test]
fn explicit_cancel_ends_the_call_with_cancelled() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = svc.channel();
        let call = start_sleep(&ch, "3000");
        std::thread::sleep(Duration::from_millis(50));
        call.cancel();
        let (status, _) = call.finish();
        assert_eq!(status.code(), Code::Cancelled);
        let seen = svc
            .next_seen(Duration::from_secs(3))
            .expect("handler report");
        assert!(matches!(seen, Seen::Cancelled(..)), "{seen:?}");
    });
}

#[test]
fn gzip_both_ways() {
    within(Duration::from_secs(20), || {
        let svc = serve_with(Server::builder().send_compression("gzip"));
        compressed_both_ways(&svc.channel(), "gzip");
    });
}

/// The server sees `encoding` on a request, and a large compressible
/// echo comes back whole, compressed both ways.
#[track_caller]
fn compressed_both_ways(ch: &Channel, encoding: &str) {
    let r = ch
        .unary(
            "/test.Echo/Info",
            BytesCodec,
            &Bytes::from(vec![b'z'; 10_000]),
            opts().compression(encoding),
        )
        .unwrap();
    let text = String::from_utf8_lossy(&r.message).into_owned();
    assert!(text.starts_with(&format!("encoding={encoding};")), "{text}");
    let big = Bytes::from(vec![b'a'; 1 << 20]);
    let r = ch
        .unary(
            "/test.Echo/Unary",
            BytesCodec,
            &big,
            opts().compression(encoding),
        )
        .unwrap();
    assert_eq!(r.message, big);
}

/// gRPC compresses message by message: in calls that compress, a client
/// and a handler each send one message uncompressed, and both sides see
/// every message's compressed flag.
#[test]
fn per_message_compression_both_ways() {
    within(Duration::from_secs(20), || {
        let (seen_tx, seen) = std::sync::mpsc::channel::<Vec<Option<bool>>>();
        let mut router: Router<Handler> = Router::new();
        let tx = seen_tx.clone();
        router.unary("t.C", "Unary", BytesCodec, move |call, req: Bytes| {
            tx.send(vec![call.last_message_compressed()]).unwrap();
            Ok(req)
        });
        router.bidi_streaming("t.C", "Bidi", BytesCodec, move |call, reqs, sink| {
            let mut flags = Vec::new();
            for m in reqs {
                let m = m?;
                flags.push(call.last_message_compressed());
                // Echo each message, the second one uncompressed.
                if flags.len() == 2 {
                    sink.send_uncompressed(&m)?;
                } else {
                    sink.send(&m)?;
                }
            }
            seen_tx.send(flags).unwrap();
            Ok(())
        });
        let server = Server::builder().send_compression("gzip").build(router);
        let addr = server.bind("127.0.0.1:0").unwrap();
        let ch = Channel::connect(&format!("http://{addr}")).unwrap();
        let big = Bytes::from(vec![b'z'; 50_000]);
        let gzip = || opts().compression("gzip");

        let r = ch.unary("/t.C/Unary", BytesCodec, &big, gzip()).unwrap();
        assert_eq!(r.message, big);
        assert_eq!(r.message_compressed(), Some(true));
        assert_eq!(seen.recv().unwrap(), [Some(true)]);
        let r = ch.unary("/t.C/Unary", BytesCodec, &big, opts()).unwrap();
        assert_eq!(r.message_compressed(), Some(true), "the server compresses");
        assert_eq!(seen.recv().unwrap(), [Some(false)]);

        let call = ch.bidi_streaming("/t.C/Bidi", BytesCodec, gzip()).unwrap();
        assert_eq!(call.last_message_compressed(), None);
        call.send(&big).unwrap();
        call.send_uncompressed(&big).unwrap();
        let (sender, mut responses) = call.split();
        sender.send(&big).unwrap();
        sender.close().unwrap();
        let mut flags = Vec::new();
        while let Some(m) = responses.message() {
            assert_eq!(m.unwrap(), big);
            flags.push(responses.last_message_compressed());
        }
        assert_eq!(flags, [Some(true), Some(false), Some(true)]);
        assert_eq!(seen.recv().unwrap(), [Some(true), Some(false), Some(true)]);
    });
}

/// deflate, registered on both ends (`compressor`), used both ways; a
/// channel without it cannot send it, and a server without it refuses it.
#[test]
fn deflate_when_both_ends_register_it() {
    within(Duration::from_secs(20), || {
        let deflate = || std::sync::Arc::new(grpc_sansio_blocking::Deflate::new());
        let svc = serve_with(
            Server::builder()
                .compressor(deflate())
                .send_compression("deflate"),
        );
        let ch = Channel::builder(&svc.target())
            .compressor(deflate())
            .build_lazy()
            .unwrap();
        compressed_both_ways(&ch, "deflate");

        // A plain server: deflated requests are refused, and it says what
        // it takes.
        let plain = serve();
        let ch = Channel::builder(&plain.target())
            .compressor(deflate())
            .build_lazy()
            .unwrap();
        let e = ch
            .unary(
                "/test.Echo/Unary",
                BytesCodec,
                &Bytes::from(vec![b'a'; 1 << 20]),
                opts().compression("deflate"),
            )
            .unwrap_err();
        assert_eq!(e.code(), Code::Unimplemented, "{e:?}");
    });
}

#[test]
fn unknown_method_is_unimplemented() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = svc.channel();
        let e = ch
            .unary("/test.Echo/Nope", BytesCodec, &b(""), opts())
            .unwrap_err();
        assert_eq!(e.code(), Code::Unimplemented);
        assert_eq!(e.message(), "unknown method Nope for service test.Echo");
        let e = ch
            .unary("/other.Svc/X", BytesCodec, &b(""), opts())
            .unwrap_err();
        assert_eq!(e.code(), Code::Unimplemented);
    });
}

#[test]
fn interceptors_on_both_sides() {
    within(Duration::from_secs(20), || {
        let svc =
            serve_with(Server::builder().interceptor(
                |head| match head.metadata.get("authorization") {
                    Some("Bearer good") => {
                        head.metadata.insert("x-echo", "from interceptor").unwrap();
                        Ok(())
                    }
                    _ => Err(Status::unauthenticated("no token")),
                },
            ));
        let plain = svc.channel();
        let e = plain
            .unary("/test.Echo/Unary", BytesCodec, &b("x"), opts())
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
        assert_eq!(e.message(), "no token");
        let authed = Channel::builder(&svc.target())
            .interceptor(|path, md| {
                if path.ends_with("/Fail") {
                    return Err(Status::permission_denied("client says no"));
                }
                md.insert("authorization", "Bearer good").unwrap();
                Ok(())
            })
            .build_lazy()
            .unwrap();
        let r = authed
            .unary("/test.Echo/Unary", BytesCodec, &b("x"), opts())
            .unwrap();
        assert_eq!(r.metadata.get("x-echo-back"), Some("from interceptor"));
        let e = authed
            .unary("/test.Echo/Fail", BytesCodec, &b("x"), opts())
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
    });
}

#[test]
fn default_metadata_and_user_agent() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let mut md = MetadataMap::new();
        md.insert("x-echo", "default").unwrap();
        let ch = Channel::builder(&svc.target())
            .default_metadata(md)
            .user_agent("test-agent/1")
            .build_lazy()
            .unwrap();
        let r = ch
            .unary("/test.Echo/Unary", BytesCodec, &b("x"), opts())
            .unwrap();
        assert_eq!(r.metadata.get("x-echo-back"), Some("default"));
    });
}

#[test]
fn full_pool_answers_resource_exhausted() {
    within(Duration::from_secs(20), || {
        let svc = serve_with(
            Server::builder()
                .max_handlers(1)
                .handler_queue(0, Duration::ZERO),
        );
        let ch = svc.channel();
        let busy = start_sleep(&ch, "1000");
        // Wait until the handler runs.
        let start = Instant::now();
        while svc.server.busy_handlers() == 0 && start.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let e = ch
            .unary("/test.Echo/Unary", BytesCodec, &b("x"), opts())
            .unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted);
        assert_eq!(busy.response().unwrap().message, b("slept"));
    });
}

/// Requests refused because the pool is full give their flow-control
/// credit back: after twice the connection's window (64 KiB) in refused
/// requests, each in one DATA frame (so its whole length is held until the
/// handler side gives it back), the same connection still carries a call.
#[test]
fn refused_requests_do_not_leak_the_connection_window() {
    within(Duration::from_secs(30), || {
        let svc = serve_with(
            Server::builder()
                .max_handlers(1)
                .handler_queue(0, Duration::ZERO)
                .initial_connection_window(65_535),
        );
        let ch = svc.channel();
        // One handler thread: before each call that needs it, wait until
        // the previous call's thread is back in the pool.
        let wait_idle = || {
            let start = Instant::now();
            while svc.server.busy_handlers() > 0 && start.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        let peer = |ch: &Channel| {
            wait_idle();
            ch.unary("/test.Echo/Peer", BytesCodec, &Bytes::new(), opts())
                .expect("peer")
                .message
        };
        let before = peer(&ch);
        wait_idle();
        let busy = start_sleep(&ch, "1500");
        let start = Instant::now();
        while svc.server.busy_handlers() == 0 && start.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let big = Bytes::from(vec![3u8; 16_000]);
        for i in 0..8 {
            let e = ch
                .unary("/test.Echo/Unary", BytesCodec, &big, opts())
                .unwrap_err();
            assert_eq!(e.code(), Code::ResourceExhausted, "refusal {i}");
        }
        assert_eq!(busy.response().unwrap().message, b("slept"));
        wait_idle();
        let r = ch
            .unary("/test.Echo/Unary", BytesCodec, &big, opts())
            .expect("a call after 128 KB of refused requests");
        assert_eq!(r.message, big);
        // On the same connection all along.
        assert_eq!(peer(&ch), before);
    });
}

#[test]
fn queued_call_waits_for_a_free_handler_within_the_bound() {
    within(Duration::from_secs(20), || {
        let svc = serve_with(
            Server::builder()
                .max_handlers(1)
                .handler_queue(4, Duration::from_secs(5)),
        );
        let ch = svc.channel();
        let _busy = start_sleep(&ch, "300");
        std::thread::sleep(Duration::from_millis(50));
        let r = ch
            .unary("/test.Echo/Unary", BytesCodec, &b("queued"), opts())
            .unwrap();
        assert_eq!(r.message, b("queued"));
        // And a queue wait longer than the bound is refused.
        let svc2 = serve_with(
            Server::builder()
                .max_handlers(1)
                .handler_queue(4, Duration::from_millis(100)),
        );
        let ch2 = svc2.channel();
        let _busy2 = start_sleep(&ch2, "1000");
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        let e = ch2
            .unary("/test.Echo/Unary", BytesCodec, &b("late"), opts())
            .unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted);
        assert!(start.elapsed() < Duration::from_millis(800));
    });
}

/// `Duration::MAX` is "no limit" for the handler queue's wait, as for
/// the other limits: calls go on being served (queued ones too). The
/// reader thread added it to the current instant and panicked, killing
/// the connection's reader with every call of the read.
#[test]
fn a_queue_timeout_of_duration_max_queues_calls_without_a_limit() {
    within(Duration::from_secs(20), || {
        let svc = serve_with(
            Server::builder()
                .max_handlers(1)
                .handler_queue(4, Duration::MAX),
        );
        let ch = svc.channel();
        let r = ch
            .unary("/test.Echo/Unary", BytesCodec, &b("first"), opts())
            .expect("a call with a free handler");
        assert_eq!(r.message, b("first"));
        // One call holds the only handler; the next waits in the queue.
        let busy = start_sleep(&ch, "300");
        support::wait_busy(&svc.server, 1);
        let r = ch
            .unary("/test.Echo/Unary", BytesCodec, &b("queued"), opts())
            .expect("a queued call");
        assert_eq!(r.message, b("queued"));
        assert_eq!(busy.response().unwrap().message, b("slept"));
    });
}

/// `wait_cancelled(Duration::MAX)` waits for the cancellation however
/// long it takes; it panicked adding the timeout to the current instant
/// (the call then ended UNKNOWN "handler panicked").
#[test]
fn wait_cancelled_for_duration_max_waits_for_the_cancellation() {
    within(Duration::from_secs(20), || {
        let (seen_tx, seen) = std::sync::mpsc::channel();
        let seen_tx = std::sync::Mutex::new(seen_tx);
        let mut router: Router<Handler> = Router::new();
        router.unary(
            "test.Wait",
            "Forever",
            BytesCodec,
            move |call, _req: Bytes| {
                let cancelled = call.wait_cancelled(Duration::MAX);
                let _ = seen_tx.lock().unwrap().send(cancelled);
                Err(Status::cancelled("noticed"))
            },
        );
        let server = Server::builder().build(router);
        let addr = server.bind("127.0.0.1:0").unwrap();
        let ch = Channel::connect(&format!("http://{addr}")).unwrap();
        let e = ch
            .unary(
                "/test.Wait/Forever",
                BytesCodec,
                &b("x"),
                CallOptions::new().timeout(Duration::from_millis(300)),
            )
            .unwrap_err();
        assert_eq!(e.code(), Code::DeadlineExceeded, "{e}");
        assert_eq!(
            seen.recv_timeout(Duration::from_secs(3)),
            Ok(true),
            "the handler saw its call end"
        );
        server.shutdown(Duration::from_millis(200));
    });
}

/// A keepalive timeout of `Duration::MAX` waits for the PING's
/// acknowledgement without a limit. The writer thread panicked adding it
/// to the current instant when it sent the first keepalive PING, and the
/// connection, its writer marked running, never wrote a large reply
/// again (the call ran into its deadline).
#[test]
fn a_keepalive_timeout_of_duration_max_keeps_the_connection_writing() {
    within(Duration::from_secs(20), || {
        let svc =
            serve_with(Server::builder().keepalive(Duration::from_millis(100), Duration::MAX));
        let ch = svc.channel();
        // A call longer than the keepalive interval: a PING goes out.
        let r = ch
            .unary("/test.Echo/Sleep", BytesCodec, &b("400"), opts())
            .expect("a call across a keepalive ping");
        assert_eq!(r.message, b("slept"));
        // A reply larger than a handler writes itself needs the writer.
        let big = Bytes::from(vec![5u8; 1 << 20]);
        let r = ch
            .unary(
                "/test.Echo/Unary",
                BytesCodec,
                &big,
                CallOptions::new().timeout(Duration::from_secs(3)),
            )
            .expect("a large reply after the keepalive ping");
        assert_eq!(r.message, big);
    });
}

#[cfg(unix)]
#[test]
fn in_memory_pair_serves_all_kinds() {
    within(Duration::from_secs(20), || {
        let (tx, _rx) = std::sync::mpsc::channel();
        let server = Server::builder().build(support::router(tx));
        let ch = server.in_memory_channel().build_lazy().unwrap();
        let r = ch
            .unary("/test.Echo/Info", BytesCodec, &b(""), opts())
            .unwrap();
        assert!(String::from_utf8_lossy(&r.message).ends_with("peer=in-memory"));
        let n = ch
            .server_streaming("/test.Echo/Count", BytesCodec, &b("5"), opts())
            .unwrap()
            .count();
        assert_eq!(n, 5);
        server.shutdown(Duration::from_millis(200));
    });
}

#[cfg(unix)]
#[test]
fn unix_socket_transport() {
    within(Duration::from_secs(20), || {
        let (tx, _rx) = std::sync::mpsc::channel();
        let server = Server::builder().build(support::router(tx));
        let dir = std::env::temp_dir().join(format!("grpc-blocking-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        server.bind_unix(&path).unwrap();
        let ch = Channel::connect(&format!("unix:{}", path.display())).unwrap();
        let r = ch
            .unary("/test.Echo/Unary", BytesCodec, &b("over unix"), opts())
            .unwrap();
        assert_eq!(r.message, b("over unix"));
        server.shutdown(Duration::from_millis(200));
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// A unary reply goes out with its status under one lock when it can; a
/// reply larger than the client's windows takes the waiting path, and
/// its headers, bytes and trailers all arrive in order.
#[test]
fn large_unary_reply_through_small_windows() {
    within(Duration::from_secs(30), || {
        let svc = serve_with(Server::builder().max_receive_message_size(8 << 20));
        let ch = Channel::builder(&svc.target())
            .initial_stream_window(65_535)
            .initial_connection_window(65_535)
            .max_receive_message_size(8 << 20)
            .build_lazy()
            .expect("channel");
        let body: Bytes = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut md = MetadataMap::new();
        md.insert("x-echo", "big").unwrap();
        let r = ch
            .unary("/test.Echo/Unary", BytesCodec, &body, opts().metadata(md))
            .expect("unary");
        assert_eq!(r.metadata.get("x-echo-back"), Some("big"));
        assert_eq!(r.trailers.get("x-trailer"), Some("done"));
        assert_eq!(r.message, body);
    });
}

/// A unary reply over the server's send limit ends the call with
/// RESOURCE_EXHAUSTED, and the connection serves on.
#[test]
fn unary_reply_over_the_servers_send_limit() {
    within(Duration::from_secs(20), || {
        let svc = serve_with(Server::builder().max_send_message_size(1000));
        let ch = svc.channel();
        let e = ch
            .unary(
                "/test.Echo/Unary",
                BytesCodec,
                &Bytes::from(vec![7; 2000]),
                opts(),
            )
            .unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
        let ok = ch
            .unary("/test.Echo/Unary", BytesCodec, &b("small"), opts())
            .expect("unary");
        assert_eq!(ok.message, b("small"));
    });
}

/// A request over the channel's send limit ends the call with
/// RESOURCE_EXHAUSTED, the send's status, on every path that reports it:
/// the client-streaming helper and the response of a call sent by hand
/// (not CANCELLED, the status of the cancel that ends the stream).
#[test]
fn a_request_over_the_send_limit_is_resource_exhausted_everywhere() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = Channel::builder(&svc.target())
            .max_send_message_size(10)
            .build_lazy()
            .unwrap();
        let e = ch
            .client_streaming(
                "/test.Echo/Concat",
                BytesCodec,
                [b("a"), b("more than ten bytes")],
                opts(),
            )
            .unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
        let call = ch
            .call(
                "/test.Echo/Concat",
                CallKind::ClientStreaming,
                BytesCodec,
                opts(),
            )
            .unwrap();
        call.send(&b("a")).unwrap();
        let e = call.send(&b("more than ten bytes")).unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
        let _ = call.close_send();
        let e = call.response().unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    });
}

/// `Call::finish` drops the messages not read, as it says: their
/// flow-control credit goes back, so a server with more to send than the
/// windows hold can finish, and `finish` returns its status instead of
/// waiting for the deadline (or for ever without one).
#[test]
fn finish_without_reading_drops_the_messages_and_ends() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = Channel::builder(&svc.target())
            .initial_stream_window(65_535)
            .initial_connection_window(65_535)
            .build_lazy()
            .expect("channel");
        // About 170 KB of small messages: more than the windows.
        let call = ch
            .call(
                "/test.Echo/Count",
                CallKind::ServerStreaming,
                BytesCodec,
                CallOptions::new().timeout(Duration::from_secs(3)),
            )
            .unwrap();
        call.send(&b("20000")).unwrap();
        call.close_send().unwrap();
        let start = Instant::now();
        let (status, _) = call.finish();
        assert_eq!(status.code(), Code::Ok, "{status:?}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    });
}

/// A client-streaming call the server ends while requests are still
/// going out fails with the server's status, its headers and trailers,
/// whether the end is seen by a send or by the wait for the response.
#[test]
fn a_client_stream_the_server_ends_early_fails_with_its_metadata() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = svc.channel();
        let many = (0..2_000).map(|_| Bytes::from(vec![7u8; 1024]));
        let e = ch
            .client_streaming("/test.Echo/Refuse", BytesCodec, many, opts())
            .unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
        assert_eq!(e.message(), "not reading");
        assert_eq!(e.metadata.get("x-before"), Some("yes"));
        assert_eq!(e.trailers.get("x-why"), Some("early"));
    });
}

/// A request message the call's compressor refuses ends the call with the
/// compressor's status, on the send and on the response, as one over the
/// size limit does.
#[test]
fn a_request_the_compressor_refuses_ends_the_call() {
    within(Duration::from_secs(20), || {
        let picky = || std::sync::Arc::new(grpc_sansio_tests::PickyCompressor);
        let svc = serve_with(Server::builder().compressor(picky()));
        let ch = Channel::builder(&svc.target())
            .compressor(picky())
            .build_lazy()
            .unwrap();
        let call = ch
            .call(
                "/test.Echo/Concat",
                CallKind::ClientStreaming,
                BytesCodec,
                opts().compression("picky"),
            )
            .unwrap();
        call.send(&b("a")).unwrap();
        let e = call.send(&b("a bad one")).unwrap_err();
        assert_eq!(e.code(), Code::Internal, "{e:?}");
        let _ = call.close_send();
        let e = call.response().unwrap_err();
        assert_eq!(e.code(), Code::Internal, "{e:?}");
    });
}

/// A send on a call the server has already answered with OK fails with
/// INTERNAL: the message was not sent, and an error whose status says OK
/// would read as success. The response is still the server's answer. The
/// tokio adapter says the same (`tokio_calls.rs`).
#[test]
fn a_send_after_the_server_answered_ok_is_internal() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = svc.channel();
        let call = ch
            .call(
                "/test.Echo/First",
                CallKind::ClientStreaming,
                BytesCodec,
                opts(),
            )
            .unwrap();
        call.send(&b("a")).unwrap();
        let mut failed = None;
        for _ in 0..500 {
            match call.send(&b("more")) {
                Ok(()) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let e = failed.expect("a send fails once the server has answered");
        assert_eq!(e.code(), Code::Internal, "{e:?}");
        assert_eq!(e.message(), "the call ended before the message was sent");
        let r = call.response().unwrap();
        assert_eq!(r.message, b("a"));
    });
}

/// Cancelling a call that is still going on ends it at once: responses
/// already received but not read are dropped, and the next read is
/// CANCELLED, as with the tokio adapter. Their flow-control credit goes
/// back: here they hold nearly all of the connection's window, which a
/// later call's response needs.
#[test]
fn cancel_drops_responses_not_yet_read() {
    within(Duration::from_secs(20), || {
        let svc = serve();
        let ch = Channel::builder(&svc.target())
            .connect_timeout(Duration::from_secs(5))
            .initial_connection_window(65_535)
            .initial_stream_window(65_535)
            .build_lazy()
            .expect("channel");
        let call = ch
            .call(
                "/test.Echo/Echo",
                CallKind::BidiStreaming,
                BytesCodec,
                opts(),
            )
            .unwrap();
        // 1,700 echoes of 35 bytes each on the wire: 59,500 of the
        // window's 65,535.
        let small = Bytes::from(vec![b'x'; 30]);
        call.send(&b("a")).unwrap();
        for _ in 0..1_700 {
            call.send(&small).unwrap();
        }
        let first = call.recv().expect("a response").expect("echoed");
        assert_eq!(first, b("a"));
        // Let the other echoes arrive, unread.
        std::thread::sleep(Duration::from_millis(300));
        call.cancel();
        let next = call.recv().expect("the end");
        assert_eq!(next.map_err(|s| s.code()), Err(Code::Cancelled));
        let (status, _) = call.finish();
        assert_eq!(status.code(), Code::Cancelled);
        // A 20,000-byte response fits the window only if the dropped
        // echoes gave their credit back.
        let big = Bytes::from(vec![b'y'; 20_000]);
        let r = ch.unary(
            "/test.Echo/Unary",
            BytesCodec,
            &big,
            opts().timeout(Duration::from_secs(3)),
        );
        assert_eq!(r.map(|r| r.message.len()).map_err(|e| e.code()), Ok(20_000));
    });
}

/// A call with a deadline that waits for the server's only stream starts
/// as soon as the call holding it is cancelled (the connection opens it
/// from a fresh clock reading, which the adapter's timer gives it at
/// once; the core's tests check the `grpc-timeout` it then sends).
#[test]
fn a_waiting_call_with_a_deadline_starts_when_the_stream_frees() {
    within(Duration::from_secs(20), || {
        let svc = serve_with(Server::builder().max_concurrent_streams(1));
        let ch = svc.channel();
        let holder = start_sleep(&ch, "10000");
        std::thread::sleep(Duration::from_millis(300));
        let ch2 = ch.clone();
        let waiting = std::thread::spawn(move || {
            let started = Instant::now();
            let r = ch2.unary(
                "/test.Echo/Unary",
                BytesCodec,
                &b("next"),
                opts().timeout(Duration::from_secs(8)),
            );
            (r.map(|r| r.message), started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(500));
        holder.cancel();
        let (r, took) = waiting.join().unwrap();
        assert_eq!(r.map_err(|e| e.code()), Ok(b("next")));
        assert!(took < Duration::from_secs(4), "took {took:?}");
    });
}
