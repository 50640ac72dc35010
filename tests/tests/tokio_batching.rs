//! What the tokio server writes, counted at the server's end of an
//! in-memory pipe (writes that carried bytes, and bytes): many unary calls
//! in flight on one connection are answered with far fewer writes than
//! calls (before the batching, each response took two writes of its own);
//! a handler's choice of response compression shows in the bytes.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use grpc_sansio_tokio::{
    BoxIo, BytesCodec, CallOptions, Channel, ConnectFuture, Connector, Response, Routes, Server,
};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

/// A pipe end that counts its non-empty writes and their bytes.
struct Counting {
    inner: DuplexStream,
    writes: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counting {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            if n > 0 {
                self.writes.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(n, Ordering::Relaxed);
            }
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[derive(Clone)]
struct CountingConnector {
    server: Server,
    writes: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
}

impl CountingConnector {
    fn new(server: Server) -> Self {
        CountingConnector {
            server,
            writes: Arc::new(AtomicUsize::new(0)),
            bytes: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Connector for CountingConnector {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            let (client, server) = tokio::io::duplex(1 << 20);
            self.server.serve_connection(
                Counting {
                    inner: server,
                    writes: self.writes.clone(),
                    bytes: self.bytes.clone(),
                },
                None,
            );
            Ok::<BoxIo, io::Error>(Box::new(client))
        })
    }
}

const CALLS: usize = 400;

#[test]
fn responses_of_concurrent_calls_share_writes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut routes = Routes::new();
        routes.unary("t.Echo", "Unary", BytesCodec, |req| async move {
            Ok(Response::new(req.into_inner()))
        });
        let server = Server::builder().build(routes);
        let connector = CountingConnector::new(server);
        let writes = connector.writes.clone();
        let channel = Channel::with_connector(connector).build().expect("channel");
        // Warm up: the handshake's writes are not counted.
        channel
            .unary(
                "/t.Echo/Unary",
                BytesCodec,
                Bytes::from_static(b"hi"),
                CallOptions::new(),
            )
            .await
            .expect("warm-up call");
        let before = writes.load(Ordering::Relaxed);
        let mut tasks = Vec::new();
        for i in 0..CALLS {
            let ch = channel.clone();
            tasks.push(tokio::spawn(async move {
                let body = Bytes::from(format!("call {i}"));
                let r = ch
                    .unary(
                        "/t.Echo/Unary",
                        BytesCodec,
                        body.clone(),
                        CallOptions::new(),
                    )
                    .await
                    .expect("call");
                assert_eq!(r.into_inner(), body);
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let used = writes.load(Ordering::Relaxed) - before;
        eprintln!("{CALLS} calls answered in {used} writes");
        // Unbatched: two writes per call (800), or one with a single
        // reply command (400). Batched: 19 on a quiet machine, 142 seen
        // under CI load.
        assert!(
            used * 4 < CALLS * 3,
            "{CALLS} calls took {used} writes: responses are not batched"
        );
    });
}

#[tokio::test]
async fn a_handler_chooses_gzip_for_its_responses() {
    let mut routes = Routes::new();
    routes.unary("t.Echo", "Big", BytesCodec, |req| async move {
        if req.get_ref() == &b"gzip"[..] {
            req.context().set_response_compression("gzip");
        }
        Ok(Response::new(Bytes::from(vec![b'z'; 100_000])))
    });
    let connector = CountingConnector::new(Server::builder().build(routes));
    let bytes = connector.bytes.clone();
    let channel = Channel::with_connector(connector).build().expect("channel");
    let mut sizes = Vec::new();
    for ask in ["plain", "gzip", "plain"] {
        let before = bytes.load(Ordering::Relaxed);
        let r = channel
            .unary(
                "/t.Echo/Big",
                BytesCodec,
                Bytes::from(ask),
                CallOptions::new(),
            )
            .await
            .expect("call");
        assert_eq!(r.into_inner(), Bytes::from(vec![b'z'; 100_000]));
        sizes.push(bytes.load(Ordering::Relaxed) - before);
    }
    // 100,000 identical bytes gzip to a few hundred; the choice is the
    // call's own (the next call goes plain again).
    assert!(sizes[0] > 100_000, "{sizes:?}");
    assert!(sizes[1] < 2_000, "{sizes:?}");
    assert!(sizes[2] > 100_000, "{sizes:?}");
}
