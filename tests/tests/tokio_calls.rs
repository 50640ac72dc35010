//! The tokio adapter's Channel against its Server, in memory and over
//! 127.0.0.1: the four call kinds, metadata both ways (ASCII and binary),
//! statuses with details, deadlines, cancellation, interceptors,
//! unknown methods, and many concurrent calls on one connection.

mod tokio_support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use grpc_sansio_tokio::{
    BytesCodec, CallOptions, CancelReason, Channel, ChannelState, Code, MetadataMap, Request,
    RequestSink, RequestStream, Response, ResponseSink, Routes, Server, Status,
};
use tokio::sync::mpsc;
use tokio_support::{Seen, bounded, path, routes};

fn server() -> (Server, mpsc::Receiver<Seen>) {
    let (tx, rx) = mpsc::channel(64);
    (Server::builder().build(routes(tx)), rx)
}

/// A channel over 127.0.0.1 to a fresh server.
async fn loopback() -> (Channel, Server, mpsc::Receiver<Seen>) {
    let (server, seen) = server();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server.clone();
    tokio::spawn(async move { s.serve(listener).await });
    let channel = Channel::connect(&format!("http://{addr}")).unwrap();
    (channel, server, seen)
}

async fn in_memory() -> (Channel, Server, mpsc::Receiver<Seen>) {
    let (server, seen) = server();
    (server.in_memory_channel(), server, seen)
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn four_kinds(channel: Channel) {
    // Unary with metadata both ways.
    let mut md = MetadataMap::new();
    md.insert("x-hello", "world").unwrap();
    md.insert_bin("x-bin-bin", Bytes::from_static(&[0, 159, 146, 150, 255]))
        .unwrap();
    let r = channel
        .unary(
            &path("Echo"),
            BytesCodec,
            b("ping"),
            CallOptions::new().metadata(md),
        )
        .await
        .unwrap();
    assert_eq!(r.message, b("ping"));
    assert_eq!(r.metadata.get("x-hello"), Some("world"));
    assert_eq!(r.trailers.get("x-trailer"), Some("done"));
    assert_eq!(
        r.trailers.get_bin("x-bin-bin").map(|v| &v[..]),
        Some(&[0u8, 159, 146, 150, 255][..])
    );

    // Server streaming.
    let mut s = channel
        .server_streaming(&path("Count"), BytesCodec, b("5"), CallOptions::new())
        .await
        .unwrap();
    assert_eq!(s.headers().await.unwrap().get("x-count"), Some("5"));
    let mut got = Vec::new();
    while let Some(m) = s.message().await.unwrap() {
        got.push(m);
    }
    assert_eq!(got, ["0", "1", "2", "3", "4"].map(b));
    assert_eq!(s.status().unwrap().code(), Code::Ok);
    assert_eq!(s.trailers().unwrap().get("x-sent"), Some("5"));

    // Client streaming.
    let mut c = channel
        .client_streaming(&path("Join"), BytesCodec, CallOptions::new())
        .await
        .unwrap();
    for w in ["a", "bb", "ccc"] {
        c.send(b(w)).await.unwrap();
    }
    let r = c.finish().await.unwrap();
    assert_eq!(r.message, b("a,bb,ccc"));

    // Bidi, interleaved: each reply is read before the next request.
    let (mut tx, mut rx) = channel
        .streaming(&path("Shout"), BytesCodec, CallOptions::new())
        .await
        .unwrap();
    for w in ["one", "two", "three"] {
        tx.send(b(w)).await.unwrap();
        assert_eq!(rx.message().await.unwrap(), Some(b(&w.to_uppercase())));
    }
    tx.close();
    assert_eq!(rx.message().await.unwrap(), None);
    assert!(rx.status().unwrap().is_ok());
}

#[tokio::test]
async fn four_kinds_in_memory() {
    let (channel, _server, _seen) = in_memory().await;
    bounded(10, four_kinds(channel)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_kinds_over_loopback() {
    let (channel, _server, _seen) = loopback().await;
    bounded(10, four_kinds(channel.clone())).await;
    assert_eq!(channel.state(), ChannelState::Ready);
}

#[tokio::test]
async fn status_with_message_details_and_trailers() {
    let (channel, _server, _seen) = in_memory().await;
    let e = bounded(
        10,
        channel.unary(&path("Fail"), BytesCodec, b(""), CallOptions::new()),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.message(), "bad \"request\": ü%");
    assert_eq!(e.details(), b"\x08\x03\x12\x07details");
    assert_eq!(e.trailers.get("x-why"), Some("because"));
    assert_eq!(
        e.trailers.get_bin("x-raw-bin").map(|v| &v[..]),
        Some(&[0u8, 1, 2, 255][..])
    );

    // A bidi handler's error status after some messages.
    let (mut tx, mut rx) = channel
        .streaming(&path("Shout"), BytesCodec, CallOptions::new())
        .await
        .unwrap();
    tx.send(b("hi")).await.unwrap();
    assert_eq!(rx.message().await.unwrap(), Some(b("HI")));
    tx.send(b("fail")).await.unwrap();
    let e = bounded(10, rx.message()).await.unwrap_err();
    assert_eq!(e.code(), Code::Aborted);
    assert_eq!(e.message(), "asked to fail");
}

#[tokio::test]
async fn unknown_method_and_service_are_unimplemented() {
    let (channel, _server, _seen) = in_memory().await;
    let e = channel
        .unary("/test.Test/Nope", BytesCodec, b(""), CallOptions::new())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unimplemented);
    assert_eq!(e.message(), "unknown method Nope for service test.Test");
    let e = channel
        .unary("/no.Such/Thing", BytesCodec, b(""), CallOptions::new())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unimplemented);
    assert_eq!(e.message(), "unknown service no.Such");
}

#[tokio::test]
async fn deadline_exceeded_on_both_sides() {
    let (channel, _server, mut seen) = in_memory().await;
    let started = std::time::Instant::now();
    let e = bounded(
        10,
        channel.unary(
            &path("Sleep"),
            BytesCodec,
            b("5000"),
            CallOptions::new().timeout(Duration::from_millis(200)),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded);
    assert!(started.elapsed() < Duration::from_secs(3));
    // The handler saw the deadline, then was cancelled by it.
    match seen.recv().await.unwrap() {
        Seen::Deadline(Some(ms)) => assert!(ms <= 200, "{ms}"),
        other => panic!("{other:?}"),
    }
    let s = bounded(10, seen.recv()).await.unwrap();
    assert!(
        matches!(
            s,
            Seen::Cancelled(Some(
                CancelReason::DeadlineExceeded | CancelReason::Reset(_)
            ))
        ),
        "{s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_call_cancels_it_on_the_server() {
    let (channel, _server, mut seen) = loopback().await;
    let sleep = path("Sleep");
    let call = channel.unary(&sleep, BytesCodec, b("10000"), CallOptions::new());
    // Run the call until the handler has started, then drop it.
    tokio::select! {
        _ = call => panic!("the call should not finish"),
        s = seen.recv() => assert!(matches!(s, Some(Seen::Deadline(None)))),
    }
    let s = bounded(10, seen.recv()).await.unwrap();
    assert_eq!(
        s,
        Seen::Cancelled(Some(CancelReason::Reset(
            grpc_sansio::frame::Reason::CANCEL
        )))
    );
    // The connection is still good.
    let r = channel
        .unary(&path("Echo"), BytesCodec, b("after"), CallOptions::new())
        .await
        .unwrap();
    assert_eq!(r.message, b("after"));
}

#[tokio::test]
async fn dropping_a_response_stream_cancels_it() {
    let (channel, _server, _seen) = in_memory().await;
    let mut s = channel
        .server_streaming(&path("Big"), BytesCodec, b("100000000"), CallOptions::new())
        .await
        .unwrap();
    assert_eq!(s.message().await.unwrap().unwrap().len(), 64 << 10);
    drop(s);
    // Other calls go on.
    let r = bounded(
        10,
        channel.unary(&path("Echo"), BytesCodec, b("x"), CallOptions::new()),
    )
    .await
    .unwrap();
    assert_eq!(r.message, b("x"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_calls_share_one_connection() {
    let (channel, server, _seen) = loopback().await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let ch = channel.clone();
        tasks.push(tokio::spawn(async move {
            let m = format!("m{i}");
            let r = ch
                .unary(&path("Echo"), BytesCodec, b(&m), CallOptions::new())
                .await
                .unwrap();
            assert_eq!(r.message, b(&m));
        }));
    }
    bounded(20, async {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await;
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn large_responses_flow_through_small_windows() {
    let (server, _seen) = server();
    let channel = small_window_channel(&server);
    let mut s = channel
        .server_streaming(&path("Big"), BytesCodec, b("3000000"), CallOptions::new())
        .await
        .unwrap();
    let mut total = 0;
    bounded(20, async {
        while let Some(m) = s.message().await.unwrap() {
            total += m.len();
        }
    })
    .await;
    assert_eq!(total, 3_000_000);
}

#[tokio::test]
async fn interceptors_add_metadata_and_reject() {
    let (tx, _seen) = mpsc::channel(64);
    let server = Server::builder()
        .interceptor(|ctx: &mut grpc_sansio_tokio::RequestContext| {
            if ctx.metadata().get("authorization") != Some("Bearer good") {
                return Err(Status::unauthenticated("who are you?"));
            }
            ctx.metadata_mut().insert("x-user", "alice").unwrap();
            Ok(())
        })
        .build(routes(tx));
    let mut defaults = MetadataMap::new();
    defaults.insert("x-default", "yes").unwrap();
    let channel = server
        .in_memory_channel_builder()
        .default_metadata(defaults)
        .interceptor(|path: &str, md: &mut MetadataMap| {
            if path.ends_with("/Fail") {
                return Err(Status::permission_denied("not from here"));
            }
            md.insert("authorization", "Bearer good").unwrap();
            Ok(())
        })
        .build()
        .unwrap();
    let r = channel
        .unary(&path("Echo"), BytesCodec, b("x"), CallOptions::new())
        .await
        .unwrap();
    // The server interceptor's metadata reached the handler, which echoes
    // x- headers; the channel's default metadata was sent too.
    assert_eq!(r.metadata.get("x-user"), Some("alice"));
    assert_eq!(r.metadata.get("x-default"), Some("yes"));
    let e = channel
        .unary(&path("Fail"), BytesCodec, b("x"), CallOptions::new())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    // Without the client interceptor, the server refuses.
    let plain = server.in_memory_channel();
    let e = plain
        .unary(&path("Echo"), BytesCodec, b("x"), CallOptions::new())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(e.message(), "who are you?");
}

#[tokio::test]
async fn gzip_requests_and_responses() {
    let (tx, _seen) = mpsc::channel(64);
    let server = Server::builder()
        .response_compression("gzip")
        .build(routes(tx));
    let channel = server.in_memory_channel();
    let big = Bytes::from(vec![b'z'; 100_000]);
    let r = channel
        .unary(
            &path("Echo"),
            BytesCodec,
            big.clone(),
            CallOptions::new().compression("gzip"),
        )
        .await
        .unwrap();
    assert_eq!(r.message, big);
}

/// gRPC compresses message by message: in calls that compress, a client
/// and a handler each send one message uncompressed, and both sides see
/// every message's compressed flag, on single messages and on streams.
#[tokio::test]
async fn per_message_compression_both_ways() {
    let (seen_tx, mut seen) = mpsc::channel::<Vec<Option<bool>>>(8);
    let mut routes = Routes::new();
    let tx = seen_tx.clone();
    routes.unary("t.C", "Unary", BytesCodec, move |req: Request<Bytes>| {
        let tx = tx.clone();
        async move {
            tx.send(vec![req.message_compressed()]).await.unwrap();
            req.context().set_response_compression("gzip");
            Ok(Response::new(req.into_inner()))
        }
    });
    let tx = seen_tx.clone();
    routes.streaming(
        "t.C",
        "Bidi",
        BytesCodec,
        move |req: Request<RequestStream<BytesCodec>>, mut sink: ResponseSink<BytesCodec>| {
            let tx = tx.clone();
            async move {
                req.context().set_response_compression("gzip");
                let mut requests = req.into_inner();
                let mut flags = Vec::new();
                while let Some(m) = requests.message().await? {
                    flags.push(requests.last_message_compressed());
                    // Echo each message, the second one uncompressed.
                    if flags.len() == 2 {
                        sink.send_uncompressed(m).await?;
                    } else {
                        sink.send(m).await?;
                    }
                }
                tx.send(flags).await.unwrap();
                Ok(())
            }
        },
    );
    let server = Server::builder().build(routes);
    let channel = server.in_memory_channel();
    let big = Bytes::from(vec![b'z'; 50_000]);
    let gzip = || CallOptions::new().compression("gzip");

    let r = channel
        .unary("/t.C/Unary", BytesCodec, big.clone(), gzip())
        .await
        .unwrap();
    assert_eq!(r.message, big);
    assert_eq!(r.message_compressed(), Some(true));
    assert_eq!(seen.recv().await.unwrap(), [Some(true)]);
    let r = channel
        .unary("/t.C/Unary", BytesCodec, big.clone(), CallOptions::new())
        .await
        .unwrap();
    assert_eq!(r.message_compressed(), Some(true), "the handler compresses");
    assert_eq!(seen.recv().await.unwrap(), [Some(false)]);

    let (mut requests, mut responses) = channel
        .streaming("/t.C/Bidi", BytesCodec, gzip())
        .await
        .unwrap();
    assert_eq!(responses.last_message_compressed(), None);
    requests.send(big.clone()).await.unwrap();
    requests.send_uncompressed(big.clone()).await.unwrap();
    requests.send(big.clone()).await.unwrap();
    requests.close();
    let mut flags = Vec::new();
    while let Some(m) = responses.message().await.unwrap() {
        assert_eq!(m, big);
        flags.push(responses.last_message_compressed());
    }
    assert_eq!(flags, [Some(true), Some(false), Some(true)]);
    assert_eq!(
        seen.recv().await.unwrap(),
        [Some(true), Some(false), Some(true)]
    );
}

/// A handler's choice of response compression that the client does not
/// accept leaves the responses as they would have gone, as
/// `set_response_compression` says: compressed with the server's default
/// (gzip, which the client accepts), not uncompressed.
#[tokio::test]
async fn a_handlers_compression_the_client_refuses_keeps_the_servers_default() {
    let mut routes = Routes::new();
    routes.unary(
        "t.C",
        "Unary",
        BytesCodec,
        |req: Request<Bytes>| async move {
            req.context().set_response_compression("deflate");
            Ok(Response::new(req.into_inner()))
        },
    );
    routes.server_streaming(
        "t.C",
        "Stream",
        BytesCodec,
        |req: Request<Bytes>, mut sink: ResponseSink<BytesCodec>| async move {
            req.context().set_response_compression("deflate");
            sink.send(req.into_inner()).await?;
            Ok(())
        },
    );
    // The server offers deflate besides gzip; our channel accepts gzip only.
    let server = Server::builder()
        .compressor(Arc::new(grpc_sansio_tokio::Deflate::new()))
        .response_compression("gzip")
        .build(routes);
    let channel = server.in_memory_channel();
    let big = Bytes::from(vec![b'z'; 50_000]);
    let r = bounded(
        10,
        channel.unary("/t.C/Unary", BytesCodec, big.clone(), CallOptions::new()),
    )
    .await
    .unwrap();
    assert_eq!(r.message, big);
    assert_eq!(
        r.message_compressed(),
        Some(true),
        "unary: sent uncompressed"
    );
    let mut s = bounded(
        10,
        channel.server_streaming("/t.C/Stream", BytesCodec, big.clone(), CallOptions::new()),
    )
    .await
    .unwrap();
    assert_eq!(bounded(10, s.message()).await.unwrap(), Some(big));
    assert_eq!(
        s.last_message_compressed(),
        Some(true),
        "streaming: sent uncompressed"
    );
}

#[tokio::test]
async fn deadline_propagates_from_a_handler_to_an_outgoing_call() {
    // A front service calls the test service with its own deadline.
    let (tx, mut seen) = mpsc::channel(64);
    let backend = Server::builder().build(routes(tx));
    let backend_channel = backend.in_memory_channel();
    let mut front = grpc_sansio_tokio::Routes::new();
    front.unary("front.Front", "Relay", BytesCodec, move |req| {
        let ch = backend_channel.clone();
        async move {
            let opts = CallOptions::new().propagate(req.context());
            let r = ch
                .unary(&path("Sleep"), BytesCodec, req.into_inner(), opts)
                .await?;
            Ok(grpc_sansio_tokio::Response::new(r.message))
        }
    });
    let front = Server::builder().build(front);
    let channel = front.in_memory_channel();
    let e = bounded(
        10,
        channel.unary(
            "/front.Front/Relay",
            BytesCodec,
            b("5000"),
            CallOptions::new().timeout(Duration::from_millis(300)),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded);
    match seen.recv().await.unwrap() {
        Seen::Deadline(Some(ms)) => assert!(ms <= 300, "{ms}"),
        other => panic!("{other:?}"),
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_kinds_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("grpc-sansio-tokio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("uds.sock");
    let _ = std::fs::remove_file(&sock);
    let (server, _seen) = server();
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    let s = server.clone();
    tokio::spawn(async move { s.serve(listener).await });
    let channel = Channel::connect(&format!("unix://{}", sock.display())).unwrap();
    bounded(10, four_kinds(channel)).await;
    let _ = std::fs::remove_file(&sock);
    let _ = std::fs::remove_dir(&dir);
}

#[tokio::test]
async fn client_streaming_backpressure_through_small_windows() {
    // Small windows on the server's receive side make our sends block
    // and resume on Writable.
    let (tx, _seen) = mpsc::channel(64);
    let server = Server::builder()
        .initial_stream_window(65_535)
        .initial_connection_window(65_535)
        .build(routes(tx));
    let channel = server.in_memory_channel();
    let mut c = channel
        .client_streaming(&path("Join"), BytesCodec, CallOptions::new())
        .await
        .unwrap();
    let chunk = "x".repeat(100_000);
    bounded(20, async {
        for _ in 0..30 {
            c.send(b(&chunk)).await.unwrap();
        }
    })
    .await;
    let r = bounded(20, c.finish()).await.unwrap();
    assert_eq!(r.message.len(), 30 * 100_000 + 29);
}

/// A unary response travels as one command (headers, message, status);
/// when the message must wait for flow control, its headers, all its
/// bytes and then its trailers still arrive, in order.
#[tokio::test]
async fn large_unary_replies_wait_for_windows_then_end() {
    let (server, _seen) = server();
    let channel = server
        .in_memory_channel_builder()
        .initial_stream_window(65_535)
        .initial_connection_window(65_535)
        .max_receive_message_size(8 << 20)
        .build()
        .unwrap();
    let body: Bytes = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let mut md = MetadataMap::new();
    md.insert("x-head", "h").unwrap();
    md.insert_bin("x-bin-bin", Bytes::from_static(&[1, 2]))
        .unwrap();
    let r = bounded(
        20,
        channel.unary(
            &path("Echo"),
            BytesCodec,
            body.clone(),
            CallOptions::new().metadata(md),
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.metadata.get("x-head"), Some("h"));
    assert_eq!(
        r.trailers.get_bin("x-bin-bin").map(|b| &b[..]),
        Some(&[1u8, 2][..])
    );
    assert_eq!(r.trailers.get("x-trailer"), Some("done"));
    assert_eq!(r.into_inner(), body);
}

/// A unary reply over the server's send limit ends the call with
/// RESOURCE_EXHAUSTED instead of a message.
#[tokio::test]
async fn unary_reply_over_the_servers_send_limit() {
    let (tx, _seen) = mpsc::channel(64);
    let server = Server::builder()
        .max_send_message_size(1000)
        .build(routes(tx));
    let channel = server.in_memory_channel();
    let e = bounded(
        10,
        channel.unary(
            &path("Echo"),
            BytesCodec,
            Bytes::from(vec![7; 2000]),
            CallOptions::new(),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
    // The connection serves on.
    let ok = bounded(
        10,
        channel.unary(&path("Echo"), BytesCodec, b("small"), CallOptions::new()),
    )
    .await
    .unwrap();
    assert_eq!(ok.into_inner(), b("small"));
}

#[tokio::test]
async fn message_size_limits_both_ways() {
    let (tx, _seen) = mpsc::channel(64);
    let server = Server::builder()
        .max_receive_message_size(1000)
        .build(routes(tx));
    let channel = server
        .in_memory_channel_builder()
        .max_receive_message_size(50_000)
        .build()
        .unwrap();
    // The server refuses a request over its limit.
    let e = channel
        .unary(
            &path("Echo"),
            BytesCodec,
            Bytes::from(vec![1; 2000]),
            CallOptions::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
    // The client refuses a response over its limit.
    let mut s = channel
        .server_streaming(&path("Big"), BytesCodec, b("100000"), CallOptions::new())
        .await
        .unwrap();
    let e = bounded(10, s.message()).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
    // A request over the channel's send limit never leaves.
    let small = server
        .in_memory_channel_builder()
        .max_send_message_size(10)
        .build()
        .unwrap();
    let e = small
        .unary(
            &path("Echo"),
            BytesCodec,
            b("more than ten bytes"),
            CallOptions::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
}

#[tokio::test]
async fn calls_wait_for_the_servers_stream_limit() {
    let (tx, _seen) = mpsc::channel(64);
    let server = Server::builder()
        .max_concurrent_streams(2)
        .build(routes(tx));
    let channel = server.in_memory_channel();
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let ch = channel.clone();
        tasks.push(tokio::spawn(async move {
            ch.unary(&path("Sleep"), BytesCodec, b("100"), CallOptions::new())
                .await
                .map(|r| r.message)
        }));
    }
    for t in tasks {
        assert_eq!(bounded(10, t).await.unwrap().unwrap(), b("slept"));
    }
    // Two at a time: three rounds of 100 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(290),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn keepalive_pings_and_their_enforcement() {
    // The default server policy allows no pings without calls: an eager
    // client is sent away (GOAWAY too_many_pings).
    let (tx, _seen) = mpsc::channel(64);
    let strict = Server::builder().build(routes(tx));
    let channel = strict
        .in_memory_channel_builder()
        .keepalive_time(Duration::from_millis(20))
        .keepalive_permit_without_calls(true)
        .build()
        .unwrap();
    channel.ready(Duration::from_secs(5)).await.unwrap();
    let next = bounded(10, channel.state_changed(ChannelState::Ready)).await;
    assert_ne!(next, ChannelState::Ready);

    // A server that permits them keeps the connection.
    let (tx, _seen) = mpsc::channel(64);
    let lenient = Server::builder()
        .keepalive_enforcement(Duration::from_millis(1), true)
        .build(routes(tx));
    let channel = lenient
        .in_memory_channel_builder()
        .keepalive_time(Duration::from_millis(20))
        .keepalive_permit_without_calls(true)
        .build()
        .unwrap();
    channel.ready(Duration::from_secs(5)).await.unwrap();
    let stayed = tokio::time::timeout(
        Duration::from_millis(500),
        channel.state_changed(ChannelState::Ready),
    )
    .await;
    assert!(stayed.is_err(), "the connection should have stayed up");
}

#[tokio::test]
async fn a_panicking_handler_ends_its_call_with_unknown() {
    let mut r = grpc_sansio_tokio::Routes::new();
    r.unary("p.P", "Boom", BytesCodec, |req| async move {
        if req.get_ref().is_empty() {
            panic!("handler panicked on purpose");
        }
        Ok(grpc_sansio_tokio::Response::new(req.into_inner()))
    });
    let server = Server::builder().build(r);
    let channel = server.in_memory_channel();
    let e = bounded(
        10,
        channel.unary("/p.P/Boom", BytesCodec, b(""), CallOptions::new()),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::Unknown);
    assert_eq!(e.message(), "the handler panicked");
    // The connection and server go on.
    let r = bounded(
        10,
        channel.unary("/p.P/Boom", BytesCodec, b("ok"), CallOptions::new()),
    )
    .await
    .unwrap();
    assert_eq!(r.message, b("ok"));
}

/// An interceptor that panics (a bug in the application, as a panicking
/// handler is) ends its own call with UNKNOWN, as a panicking handler
/// does and as on the blocking adapter: the connection and the other
/// calls on it go on. It used to panic the connection's task: every call
/// on the connection ended UNAVAILABLE, and the handlers of those calls
/// were never told.
#[tokio::test]
async fn a_panicking_interceptor_ends_its_own_call_only() {
    let (probe, _seen) = mpsc::channel(64);
    let server = Server::builder()
        .interceptor(|ctx: &mut grpc_sansio_tokio::RequestContext| {
            if ctx.metadata().get("x-boom").is_some() {
                panic!("interceptor panicked on purpose");
            }
            Ok::<(), Status>(())
        })
        .build(routes(probe));
    let channel = server.in_memory_channel();
    let (mut tx, mut rx) = bounded(
        10,
        channel.streaming(&path("Shout"), BytesCodec, CallOptions::new()),
    )
    .await
    .unwrap();
    tx.send(b("a")).await.unwrap();
    assert_eq!(bounded(10, rx.message()).await.unwrap(), Some(b("A")));
    let mut md = MetadataMap::new();
    md.insert("x-boom", "1").unwrap();
    let e = bounded(
        10,
        channel.unary(
            &path("Echo"),
            BytesCodec,
            b("x"),
            CallOptions::new().metadata(md),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::Unknown, "{e}");
    // The call in progress on the same connection goes on.
    tx.send(b("b")).await.unwrap();
    assert_eq!(bounded(10, rx.message()).await.unwrap(), Some(b("B")));
    tx.close();
    assert_eq!(bounded(10, rx.message()).await.unwrap(), None);
    assert!(rx.status().unwrap().is_ok());
    let r = bounded(
        10,
        channel.unary(&path("Echo"), BytesCodec, b("y"), CallOptions::new()),
    )
    .await
    .unwrap();
    assert_eq!(r.message, b("y"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_see_peer_address_authority_and_user_agent() {
    let mut r = grpc_sansio_tokio::Routes::new();
    r.unary("ctx.Ctx", "Who", BytesCodec, |req| async move {
        let c = req.context();
        let text = format!(
            "{}|{}|{}|{}",
            c.peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
            c.authority().unwrap_or(""),
            c.user_agent().unwrap_or(""),
            c.path(),
        );
        Ok(grpc_sansio_tokio::Response::new(Bytes::from(text)))
    });
    let server = Server::builder().build(r);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server.clone();
    tokio::spawn(async move { s.serve(listener).await });
    let channel = Channel::builder(&format!("http://{addr}"))
        .user_agent("tokio-test/1.0")
        .build()
        .unwrap();
    let got = bounded(
        10,
        channel.unary("/ctx.Ctx/Who", BytesCodec, b(""), CallOptions::new()),
    )
    .await
    .unwrap()
    .message;
    assert_eq!(
        got,
        b(&format!("127.0.0.1|{addr}|tokio-test/1.0|/ctx.Ctx/Who"))
    );
    let got = bounded(
        10,
        channel.unary(
            "/ctx.Ctx/Who",
            BytesCodec,
            b(""),
            CallOptions::new().authority("example.test"),
        ),
    )
    .await
    .unwrap()
    .message;
    assert_eq!(got, b("127.0.0.1|example.test|tokio-test/1.0|/ctx.Ctx/Who"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_dropped_at_any_moment_are_all_cancelled() {
    // Drop calls after varying numbers of polls, including between the
    // connection opening the stream and the caller hearing of it: every
    // handler that started must be cancelled.
    let (channel, _server, mut seen) = in_memory().await;
    channel.ready(Duration::from_secs(5)).await.unwrap();
    let sleep = path("Sleep");
    for i in 0..60u64 {
        let call = channel.unary(&sleep, BytesCodec, b("20000"), CallOptions::new());
        let _ = tokio::time::timeout(Duration::from_micros(i * 37 % 900), call).await;
    }
    let mut started = 0;
    let mut cancelled = 0;
    bounded(20, async {
        loop {
            match seen.recv().await.unwrap() {
                Seen::Deadline(_) => started += 1,
                Seen::Cancelled(_) => cancelled += 1,
                Seen::Slept => panic!("a dropped call ran to the end"),
            }
            if cancelled == started {
                // Let stragglers arrive, then check again.
                match tokio::time::timeout(Duration::from_millis(500), seen.recv()).await {
                    Err(_) => break,
                    Ok(Some(Seen::Deadline(_))) => started += 1,
                    Ok(other) => panic!("{other:?}"),
                }
            }
        }
    })
    .await;
    assert_eq!(started, cancelled);
}

/// The task each call of `calls` ran its handler in (first poll).
async fn handler_tasks(calls: usize) -> Vec<tokio::task::Id> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut r = grpc_sansio_tokio::Routes::new();
    r.unary("t.T", "Where", BytesCodec, move |req| {
        let _ = tx.send(tokio::task::id());
        async move { Ok(grpc_sansio_tokio::Response::new(req.into_inner())) }
    });
    let server = Server::builder().build(r);
    let channel = server.in_memory_channel();
    let mut ids = Vec::new();
    for i in 0..calls {
        let r = bounded(
            10,
            channel.unary(
                "/t.T/Where",
                BytesCodec,
                b(&i.to_string()),
                CallOptions::new(),
            ),
        )
        .await
        .unwrap();
        assert_eq!(r.message, b(&i.to_string()));
        ids.push(rx.recv().await.expect("handler ran"));
    }
    ids
}

#[tokio::test]
async fn on_one_worker_handlers_start_in_the_connection_task() {
    // No task per call: every handler starts in the same (connection) task.
    let ids = handler_tasks(3).await;
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_several_workers_each_handler_gets_its_own_task() {
    let ids = handler_tasks(3).await;
    assert!(ids.windows(2).all(|w| w[0] != w[1]), "{ids:?}");
}

/// A client-streaming handler that reads its first request and answers
/// without reading the rest: the unread requests' flow-control credit goes
/// back when the call ends, so later calls on the connection are not
/// starved of window (small windows make a leak show at once).
#[tokio::test]
async fn requests_a_handler_leaves_unread_give_their_credit_back() {
    let mut routes = Routes::new();
    routes.client_streaming("t.S", "First", BytesCodec, |req| async move {
        let mut s = req.into_inner();
        let first = s.message().await?.unwrap_or_default();
        // Let the rest arrive, then answer without reading it.
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(Response::new(Bytes::from(first.len().to_string())))
    });
    let server = Server::builder()
        .initial_stream_window(65_535)
        .initial_connection_window(65_535)
        .build(routes);
    let channel = server.in_memory_channel();
    for i in 0..10 {
        let r = tokio::time::timeout(Duration::from_secs(5), async {
            let mut c = channel
                .client_streaming("/t.S/First", BytesCodec, CallOptions::new())
                .await
                .unwrap();
            c.send(Bytes::from(vec![1u8; 100])).await.unwrap();
            c.send(Bytes::from(vec![0u8; 30_000])).await.unwrap();
            c.finish().await
        })
        .await;
        let r = r.unwrap_or_else(|_| panic!("call {i} stalled: the connection window leaked"));
        assert_eq!(r.unwrap().into_inner(), Bytes::from("100"), "call {i}");
    }
}

/// A client that reads the first response of a stream and drops the call
/// with the second unread: its credit goes back, so later calls on the
/// connection are not starved of window.
#[tokio::test]
async fn responses_a_dropped_call_leaves_unread_give_their_credit_back() {
    let mut routes = Routes::new();
    routes.server_streaming("t.S", "Two", BytesCodec, |_req, mut sink| async move {
        sink.send(Bytes::from(vec![1u8; 100])).await?;
        sink.send(Bytes::from(vec![0u8; 30_000])).await?;
        Ok(())
    });
    let server = Server::builder().build(routes);
    let channel = small_window_channel(&server);
    for i in 0..10 {
        let r = tokio::time::timeout(Duration::from_secs(5), async {
            let mut s = channel
                .server_streaming("/t.S/Two", BytesCodec, Bytes::new(), CallOptions::new())
                .await
                .unwrap();
            let first = s.message().await.unwrap().unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            first.len()
        })
        .await;
        assert_eq!(r.unwrap_or_else(|_| panic!("call {i} stalled")), 100);
    }
}

/// A streaming handler that reads its first request, drops its request
/// stream and goes on sending responses (a subscription, say): requests
/// the client still sends can never be read, so their flow-control credit
/// goes back as they arrive. It stayed with them in the call's queue until
/// the call ended: with the default windows (the connection's as large as
/// a stream's) that one call held the whole connection window, and every
/// other call on the connection stalled.
#[tokio::test]
async fn requests_after_the_handler_dropped_its_stream_give_their_credit_back() {
    let (probe, _seen) = mpsc::channel(64);
    let mut r = routes(probe);
    r.streaming("s.S", "Feed", BytesCodec, |req, mut sink| async move {
        let (ctx, mut requests) = req.into_parts();
        let first = requests.message().await?.unwrap_or_default();
        drop(requests);
        sink.send(first).await?;
        loop {
            tokio::select! {
                _ = ctx.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            sink.send(b("tick")).await?;
        }
    });
    let server = Server::builder().build(r);
    let channel = server.in_memory_channel();
    let (mut tx, mut rx) = bounded(
        10,
        channel.streaming("/s.S/Feed", BytesCodec, CallOptions::new()),
    )
    .await
    .unwrap();
    tx.send(b("hello")).await.unwrap();
    assert_eq!(bounded(10, rx.message()).await.unwrap(), Some(b("hello")));
    // More than both windows' worth of requests nobody reads.
    let sent = tokio::spawn(async move {
        for _ in 0..6 {
            tx.send(Bytes::from(vec![7u8; 1 << 20])).await.unwrap();
        }
        tx
    });
    let _tx = bounded(5, sent).await.unwrap();
    // Another call on the connection is not starved of window.
    let r = bounded(
        5,
        channel.unary(&path("Echo"), BytesCodec, b("x"), CallOptions::new()),
    )
    .await
    .unwrap();
    assert_eq!(r.message, b("x"));
    assert_eq!(bounded(10, rx.message()).await.unwrap(), Some(b("tick")));
}

/// An in-memory channel to `server` whose receive windows are the
/// protocol's initial 65,535 bytes.
fn small_window_channel(server: &Server) -> Channel {
    server
        .in_memory_channel_builder()
        .initial_stream_window(65_535)
        .initial_connection_window(65_535)
        .build()
        .unwrap()
}

/// A request message over the channel's send limit on a streaming call
/// cannot go: the call is over with RESOURCE_EXHAUSTED on both halves
/// (as the send's error says), rather than going on without it, so the
/// server never answers a request stream that silently lost a message.
#[tokio::test]
async fn a_request_over_the_send_limit_ends_a_streaming_call() {
    let (server, _seen) = server();
    let channel = server
        .in_memory_channel_builder()
        .max_send_message_size(10)
        .build()
        .unwrap();
    // Client streaming: the response is the send's error, not "a".
    let mut call = channel
        .client_streaming(&path("Join"), BytesCodec, CallOptions::new())
        .await
        .unwrap();
    call.send(b("a")).await.unwrap();
    let e = bounded(5, call.send(b("more than ten bytes")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
    let r = bounded(5, call.finish()).await;
    assert_eq!(
        r.as_ref().map_err(|e| e.code()).map(|r| r.message.clone()),
        Err(Code::ResourceExhausted),
        "{r:?}"
    );
    // Bidi: the response stream ends with the same status.
    let (mut sink, mut stream) = channel
        .streaming(&path("Shout"), BytesCodec, CallOptions::new())
        .await
        .unwrap();
    sink.send(b("a")).await.unwrap();
    assert_eq!(bounded(5, stream.message()).await.unwrap(), Some(b("A")));
    let e = bounded(5, sink.send(b("more than ten bytes")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
    drop(sink);
    let e = bounded(5, stream.message()).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
}

/// A send given up while it waits for flow control (a timeout or a
/// `select!` around it) leaves the call usable: the next send waits its
/// turn instead of failing with INTERNAL "a send is already in progress"
/// on a call that is not over.
#[tokio::test]
async fn a_send_given_up_while_blocked_does_not_break_the_next_one() {
    let (server, _seen) = server();
    let channel = small_window_channel(&server);
    let (mut sink, mut stream) = channel
        .streaming(&path("Shout"), BytesCodec, CallOptions::new())
        .await
        .unwrap();
    // Nobody reads the responses: the server stops reading requests, and
    // a send ends up waiting for the window.
    let big = Bytes::from(vec![b'a'; 32 << 10]);
    let sent = send_until_one_waits(&mut sink, &big).await;
    // Reading again frees the windows.
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(m) = stream.message().await? {
            got.push(m);
        }
        Ok::<Vec<Bytes>, grpc_sansio_tokio::RpcError>(got)
    });
    let r = bounded(5, sink.send(b("last"))).await;
    assert!(r.is_ok(), "{r:?}");
    drop(sink);
    let got = bounded(5, reader).await.unwrap().unwrap();
    // The message given up was not sent; the others were, in order.
    assert_eq!(got.len(), sent + 1);
    assert_eq!(got.last(), Some(&b("LAST")));
}

/// Cancelling a call that the server has already finished does nothing
/// (as on the blocking adapter, and in gRPC): the messages and the
/// server's status and trailers are still there to read, rather than a
/// CANCELLED that never went on the wire.
#[tokio::test]
async fn cancelling_a_call_already_finished_keeps_its_status_and_trailers() {
    let (channel, _server, _seen) = in_memory().await;
    let mut s = channel
        .server_streaming(&path("Count"), BytesCodec, b("3"), CallOptions::new())
        .await
        .unwrap();
    bounded(5, s.headers()).await.unwrap();
    // The server is done well within this (three small messages in
    // memory); nothing public says when the driver has seen the end, so
    // the margin is wide for a loaded machine.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    s.cancel();
    let mut got = Vec::new();
    while let Some(m) = bounded(5, s.message()).await.unwrap() {
        got.push(m);
    }
    assert_eq!(got, vec![b("0"), b("1"), b("2")]);
    assert_eq!(s.status().map(|s| s.code()), Some(Code::Ok));
    assert_eq!(s.trailers().and_then(|t| t.get("x-sent")), Some("3"));
}

/// Sends `message` until a send has waited 100 ms for flow control, and
/// gives that one up (drops its future); how many were sent before it.
async fn send_until_one_waits(sink: &mut RequestSink<BytesCodec>, message: &Bytes) -> usize {
    for sent in 0..200 {
        let send = sink.send(message.clone());
        match tokio::time::timeout(Duration::from_millis(100), send).await {
            Ok(r) => r.unwrap(),
            Err(_) => return sent,
        }
    }
    panic!("a send never had to wait");
}

/// A send given up while it waits for flow control is not sent later
/// either, when the window opens with no other send behind it: the server
/// sees exactly the messages whose sends returned Ok.
#[tokio::test]
async fn a_send_given_up_while_blocked_is_not_sent_when_the_window_opens() {
    let (server, _seen) = server();
    let channel = small_window_channel(&server);
    let (mut sink, mut stream) = channel
        .streaming(&path("Shout"), BytesCodec, CallOptions::new())
        .await
        .unwrap();
    let big = Bytes::from(vec![b'a'; 32 << 10]);
    let sent = send_until_one_waits(&mut sink, &big).await;
    // Reading the answers opens the windows again; nothing more is sent.
    for _ in 0..sent {
        bounded(5, stream.message()).await.unwrap().unwrap();
    }
    let more = tokio::time::timeout(Duration::from_millis(500), stream.message()).await;
    assert!(more.is_err(), "the message given up went out: {more:?}");
    drop(sink);
    assert_eq!(bounded(5, stream.message()).await.unwrap(), None);
}

/// A response that does not decode ends the stream with the codec's
/// status: that is the error, then and afterwards, and the call's status.
#[tokio::test]
async fn a_response_that_does_not_decode_ends_the_stream_with_its_status() {
    struct NoOnes;
    impl grpc_sansio::codec::Codec for NoOnes {
        type Encode = Bytes;
        type Decode = Bytes;
        fn encode(&self, item: &Bytes) -> Result<Bytes, Status> {
            Ok(item.clone())
        }
        fn decode(&self, payload: Bytes) -> Result<Bytes, Status> {
            if &payload[..] == b"1" {
                return Err(Status::new(Code::Internal, "no ones here"));
            }
            Ok(payload)
        }
    }
    let (channel, _server, _seen) = in_memory().await;
    let mut s = channel
        .server_streaming(&path("Count"), NoOnes, b("3"), CallOptions::new())
        .await
        .unwrap();
    assert_eq!(bounded(5, s.message()).await.unwrap(), Some(b("0")));
    // Time for the whole response to arrive (it does not matter whether it has).
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..2 {
        let e = bounded(5, s.message()).await.unwrap_err();
        assert_eq!((e.code(), e.message()), (Code::Internal, "no ones here"));
    }
    assert_eq!(s.status().map(|s| s.code()), Some(Code::Internal));
}

/// A request message the call's compressor refuses ends a streaming call
/// with the compressor's status on both halves, as one over the size
/// limit does.
#[tokio::test]
async fn a_request_the_compressor_refuses_ends_a_streaming_call() {
    let (tx, _seen) = mpsc::channel(64);
    let server = Server::builder()
        .compressor(Arc::new(grpc_sansio_tests::PickyCompressor))
        .build(routes(tx));
    let channel = server
        .in_memory_channel_builder()
        .compressor(Arc::new(grpc_sansio_tests::PickyCompressor))
        .build()
        .unwrap();
    let mut call = channel
        .client_streaming(
            &path("Join"),
            BytesCodec,
            CallOptions::new().compression("picky"),
        )
        .await
        .unwrap();
    call.send(b("a")).await.unwrap();
    let e = bounded(5, call.send(b("a bad one"))).await.unwrap_err();
    assert_eq!(e.code(), Code::Internal, "{e}");
    let r = bounded(5, call.finish()).await;
    assert_eq!(
        r.as_ref().map_err(|e| e.code()).map(|r| r.message.clone()),
        Err(Code::Internal),
        "{r:?}"
    );
}

/// A call whose responses nobody reads holds its stream's window, not
/// the whole connection's: the other calls on the connection go on (the
/// connection's window is several streams' worth).
#[tokio::test]
async fn an_unread_stream_does_not_stall_the_connections_other_calls() {
    let (channel, _server, _seen) = in_memory().await;
    let mut unread = channel
        .server_streaming(&path("Big"), BytesCodec, b("64000000"), CallOptions::new())
        .await
        .unwrap();
    bounded(5, unread.headers()).await.unwrap();
    // The server sends what the windows let it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        let r = bounded(
            5,
            channel.unary(&path("Echo"), BytesCodec, b("x"), CallOptions::new()),
        )
        .await
        .unwrap();
        assert_eq!(r.message, b("x"));
    }
    // The unread call itself is fine: its first message is there.
    let first = bounded(5, unread.message()).await.unwrap().unwrap();
    assert_eq!(first.len(), 64 << 10);
}

/// A send on a call the server has already answered with OK fails with
/// INTERNAL: the message was not sent, and an error whose status says OK
/// would read as success. The response is still the server's answer. The
/// blocking adapter says the same (`blocking_calls.rs`).
#[tokio::test]
async fn a_send_after_the_server_answered_ok_is_internal() {
    let (server, _seen) = server();
    let channel = server.in_memory_channel_builder().build().unwrap();
    let mut call = channel
        .client_streaming(&path("First"), BytesCodec, CallOptions::new())
        .await
        .unwrap();
    call.send(b("a")).await.unwrap();
    let mut failed = None;
    for _ in 0..500 {
        match bounded(5, call.send(b("more"))).await {
            Ok(()) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let e = failed.expect("a send fails once the server has answered");
    assert_eq!(e.code(), Code::Internal, "{e}");
    assert_eq!(e.message(), "the call ended before the message was sent");
    let r = bounded(5, call.finish()).await.unwrap();
    assert_eq!(r.message, b("a"));
}

/// Cancelling a call that is still going on ends it at once: responses
/// already received but not read are dropped, and the next read is
/// CANCELLED, as with the blocking adapter.
#[tokio::test]
async fn cancel_drops_responses_not_yet_read() {
    let (server, _seen) = server();
    let channel = server.in_memory_channel_builder().build().unwrap();
    let (mut sink, mut stream) = channel
        .streaming(&path("Shout"), BytesCodec, CallOptions::new())
        .await
        .unwrap();
    for m in ["a", "b", "c"] {
        sink.send(b(m)).await.unwrap();
    }
    assert_eq!(bounded(5, stream.message()).await.unwrap(), Some(b("A")));
    // Let the other two answers arrive, unread.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.cancel();
    let e = bounded(5, stream.message()).await.unwrap_err();
    assert_eq!(e.code(), Code::Cancelled, "{e}");
    // The connection still carries calls.
    let r = channel
        .unary(&path("Echo"), BytesCodec, b("after"), CallOptions::new())
        .await
        .unwrap();
    assert_eq!(r.message, b("after"));
}

/// A call with a deadline that waits for the server's only stream starts
/// as soon as the call holding it is cancelled, with what is left of its
/// deadline (the connection opens it from a fresh clock reading, which
/// the driver's timer gives it at once).
#[tokio::test]
async fn a_waiting_call_with_a_deadline_starts_when_the_stream_frees() {
    let (probe, mut seen) = mpsc::channel(64);
    let server = Server::builder()
        .max_concurrent_streams(1)
        .build(routes(probe));
    let channel = server.in_memory_channel_builder().build().unwrap();
    let ch = channel.clone();
    let holder = tokio::spawn(async move {
        ch.unary(&path("Sleep"), BytesCodec, b("10000"), CallOptions::new())
            .await
    });
    assert_eq!(bounded(5, seen.recv()).await, Some(Seen::Deadline(None)));
    let ch = channel.clone();
    let waiting = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let r = ch
            .unary(
                &path("Sleep"),
                BytesCodec,
                b("0"),
                CallOptions::new().timeout(Duration::from_secs(8)),
            )
            .await;
        (r.map(|r| r.message), started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    holder.abort();
    let (r, took) = bounded(10, waiting).await.unwrap();
    assert_eq!(r.map_err(|e| e.code()), Ok(b("slept")));
    assert!(took < Duration::from_secs(4), "took {took:?}");
    // The holder's handler is told, then the waiting call's reports what
    // is left of its deadline: less than the whole.
    let left = loop {
        match bounded(5, seen.recv()).await {
            Some(Seen::Deadline(Some(ms))) => break ms,
            Some(_) => continue,
            None => panic!("no report of the waiting call"),
        }
    };
    assert!(left <= 7_600, "{left} ms left of an 8 s deadline");
}
