//! Messages flagged compressed that do not inflate, where the adapters take
//! them: a tokio handler that ignores the error still ends its call with
//! INTERNAL and sends no response (the failure goes to the connection ahead
//! of whatever the handler sends next), as a blocking one does; and a
//! client whose first response does not inflate reports INTERNAL as the
//! call's status even when the server's OK trailers were in already (both
//! clients, and the demo's by-hand client).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use grpc_sansio_tests::attack::raw::{data, request_head};
use grpc_sansio_tests::attack::{Attacker, PROMPT};
use grpc_sansio_tokio::{BytesCodec, Response, Routes, Server};

/// A tokio server on 127.0.0.1 (its own thread and one-thread runtime,
/// where a handler's first poll runs inside the connection's driver), as
/// `build` makes it.
fn tokio_server(build: impl FnOnce() -> Server + Send + 'static) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let _ = build().serve(listener).await;
        });
    });
    rx.recv().unwrap()
}

/// A request flagged gzip whose payload is not gzip, on a raw connection:
/// the status the peer gets, and how many response messages came first.
fn bad_gzip_request(addr: SocketAddr, path: &str) -> (String, usize) {
    let mut a = Attacker::open(addr);
    let h = a.headers(1, &request_head(path, &[("grpc-encoding", "gzip")]), false);
    let payload = b"this is not gzip at all";
    let mut body = vec![1u8];
    body.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    body.extend_from_slice(payload);
    a.send_all([h, data(1, body, true)]).unwrap();
    let got = a.wait_for(PROMPT, |r| {
        r.header(1, "grpc-status").is_some() || r.is_end()
    });
    let status = got
        .as_ref()
        .and_then(|r| r.header(1, "grpc-status"))
        .unwrap_or_else(|| panic!("no status: {}", a.transcript()))
        .to_string();
    let data_frames = a.count(|f| matches!(f, grpc_sansio::frame::Frame::Data(d) if d.stream_id.value() == 1 && !d.data.is_empty()));
    (status, data_frames)
}

#[test]
fn tokio_client_streaming_handler_ignoring_the_error_still_ends_internal() {
    let mut routes = Routes::new();
    routes.client_streaming("t.S", "Ignore", BytesCodec, |req| async move {
        let mut s = req.into_inner();
        let r = s.message().await; // the bad message: an error, ignored
        Ok(Response::new(Bytes::from(format!(
            "ignored: {}",
            r.is_err()
        ))))
    });
    let addr = tokio_server(move || Server::builder().build(routes));
    let (status, data_frames) = bad_gzip_request(addr, "/t.S/Ignore");
    assert_eq!(
        (status.as_str(), data_frames),
        ("13", 0),
        "the peer must get INTERNAL, no response"
    );
}

#[test]
fn tokio_bidi_handler_ignoring_the_error_still_ends_internal() {
    let mut routes = Routes::new();
    routes.streaming("t.S", "Ignore", BytesCodec, |req, _sink| async move {
        let mut s = req.into_inner();
        let _ = s.message().await;
        Ok(())
    });
    let addr = tokio_server(move || Server::builder().build(routes));
    let (status, _) = bad_gzip_request(addr, "/t.S/Ignore");
    assert_eq!(status, "13", "the peer must get INTERNAL");
}

#[test]
fn blocking_client_streaming_handler_ignoring_the_error_ends_internal() {
    use grpc_sansio_blocking::{RouterExt, Server as BServer};
    let mut router = grpc_sansio::router::Router::new();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let seen_tx = std::sync::Mutex::new(seen_tx);
    router.client_streaming("t.S", "Ignore", BytesCodec, move |_call, reqs| {
        // The bad message, then a second read: the same error again, not
        // an end of stream that looks clean.
        let codes: Vec<Option<Result<usize, grpc_sansio::grpc::Code>>> = (0..2)
            .map(|_| {
                reqs.next()
                    .map(|r| r.map(|m| m.len()).map_err(|s| s.code()))
            })
            .collect();
        let _ = seen_tx.lock().unwrap().send(codes);
        Ok(Bytes::from_static(b"ignored"))
    });
    let server = BServer::builder().build(router);
    let addr = server.bind("127.0.0.1:0").unwrap();
    let (status, data_frames) = bad_gzip_request(addr, "/t.S/Ignore");
    assert_eq!((status.as_str(), data_frames), ("13", 0));
    let internal = Some(Err(grpc_sansio::grpc::Code::Internal));
    assert_eq!(
        seen_rx.recv_timeout(PROMPT).unwrap(),
        vec![internal, internal]
    );
}

/// Calls itself gzip, writes bytes as they are: what it sends is flagged
/// compressed and does not inflate.
struct FakeGzip;
impl grpc_sansio::grpc::compression::Compressor for FakeGzip {
    fn name(&self) -> &'static str {
        "gzip"
    }
    fn compress(
        &self,
        i: &[u8],
        o: &mut Vec<u8>,
    ) -> Result<(), grpc_sansio::grpc::compression::CompressionError> {
        o.extend_from_slice(i);
        Ok(())
    }
    fn decompress(
        &self,
        i: &[u8],
        _l: usize,
        o: &mut Vec<u8>,
    ) -> Result<(), grpc_sansio::grpc::compression::CompressionError> {
        o.extend_from_slice(i);
        Ok(())
    }
}

/// A tokio server whose `ServerStream` answers `first` (flagged compressed
/// by a "gzip" that writes bytes as they are, so it does not inflate) and
/// `second` (uncompressed), then OK.
fn fake_gzip_streaming_server() -> SocketAddr {
    tokio_server(|| {
        let mut routes = Routes::new();
        routes.server_streaming(
            "demo.Echo",
            "ServerStream",
            BytesCodec,
            |_req, mut sink| async move {
                sink.send(Bytes::from_static(b"first")).await?;
                sink.send_uncompressed(Bytes::from_static(b"second"))
                    .await?;
                Ok(())
            },
        );
        Server::builder()
            .compressor(std::sync::Arc::new(FakeGzip))
            .response_compression("gzip")
            .build(routes)
    })
}

/// The whole response (both messages and the OK trailers) is in before the
/// caller reads: the first message does not inflate.
#[test]
fn blocking_client_status_after_a_response_that_does_not_inflate() {
    use grpc_sansio_blocking::{CallKind, CallOptions, Channel};
    let addr = fake_gzip_streaming_server();
    let ch = Channel::connect(&format!("http://{addr}")).unwrap();
    let call = ch
        .call(
            "/demo.Echo/ServerStream",
            CallKind::ServerStreaming,
            BytesCodec,
            CallOptions::new(),
        )
        .unwrap();
    call.send(&Bytes::from_static(b"q")).unwrap();
    call.close_send().unwrap();
    std::thread::sleep(Duration::from_millis(200)); // everything has arrived
    let first = call.recv().map(|r| r.map_err(|s| s.code()));
    let second = call.recv().map(|r| r.map_err(|s| s.code()));
    let (status, _) = call.finish();

    assert_eq!(first, Some(Err(grpc_sansio::grpc::Code::Internal)));
    assert!(
        !matches!(second, Some(Ok(_))),
        "a message after the failure: {second:?}"
    );
    assert_eq!(
        status.code(),
        grpc_sansio::grpc::Code::Internal,
        "the call failed, yet finish() says"
    );
}

/// Same with the tokio client, for comparison.
#[test]
fn tokio_client_status_after_a_response_that_does_not_inflate() {
    let addr = fake_gzip_streaming_server();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let ch = grpc_sansio_tokio::Channel::connect(&format!("http://{addr}")).unwrap();
        let mut s = ch
            .server_streaming(
                "/demo.Echo/ServerStream",
                BytesCodec,
                Bytes::from_static(b"q"),
                grpc_sansio_tokio::CallOptions::new(),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let first = s.message().await.map_err(|e| e.status.code());
        let second = s.message().await.map_err(|e| e.status.code());

        assert_eq!(first, Err(grpc_sansio::grpc::Code::Internal));
        assert_eq!(second, Err(grpc_sansio::grpc::Code::Internal));
        assert_eq!(
            s.status().map(|s| s.code()),
            Some(grpc_sansio::grpc::Code::Internal)
        );
    });
}

/// The demo's by-hand client: a response that does not inflate.
#[test]
fn the_by_hand_demo_client_reports_the_failure() {
    use grpc_sansio_tests::demo::DemoClient;
    let addr = fake_gzip_streaming_server();
    let mut c = grpc_sansio_tests::demo::by_hand::Client::connect(addr).unwrap();
    let out = c.call(
        "ServerStream",
        grpc_sansio::call::CallKind::ServerStreaming,
        Default::default(),
        None,
        &[b"q"],
    );
    let status = out.status.expect("a status");

    assert_eq!(status.code(), grpc_sansio::grpc::Code::Internal);
}
