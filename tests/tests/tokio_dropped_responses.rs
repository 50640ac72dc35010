//! A tokio client call dropped while a response it never read is still in
//! the transport: the driver may read that response after the drop and
//! before it handles the cancel, and its flow-control credit must come back
//! all the same (a leak would shrink the connection window for good). The
//! transport's reads are held back so that the two land in one wake-up.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use grpc_sansio_tokio::{
    BoxIo, BytesCodec, CallOptions, Channel, ConnectFuture, Connector, Routes, Server,
};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::sync::mpsc;

#[derive(Default)]
struct GateState {
    closed: bool,
    waker: Option<Waker>,
}
#[derive(Clone, Default)]
struct Gate(Arc<Mutex<GateState>>);
impl Gate {
    fn close(&self) {
        self.0.lock().unwrap().closed = true;
    }
    fn open(&self) {
        let mut s = self.0.lock().unwrap();
        s.closed = false;
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

struct Gated {
    io: DuplexStream,
    gate: Gate,
}
impl AsyncRead for Gated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        {
            let mut s = self.gate.0.lock().unwrap();
            if s.closed {
                s.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}
impl AsyncWrite for Gated {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, b)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

struct GatedConnector {
    server: Server,
    gate: Gate,
}
impl Connector for GatedConnector {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            let (a, b) = tokio::io::duplex(1 << 20);
            self.server.serve_connection(b, None);
            Ok(Box::new(Gated {
                io: a,
                gate: self.gate.clone(),
            }) as BoxIo)
        })
    }
}

/// The application drops a streaming call while a response it never read
/// is in the transport: the driver reads that response after the drop but
/// before it handles the cancel. Its credit must still come back.
#[tokio::test]
async fn response_read_between_drop_and_cancel_gives_credit_back() {
    let (go_tx, go_rx) = mpsc::channel::<mpsc::Sender<()>>(1);
    let go_rx = Arc::new(tokio::sync::Mutex::new(go_rx));
    let mut routes = Routes::new();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    routes.streaming("t.S", "Bidi", BytesCodec, move |_req, mut sink| {
        let go_rx = go_rx.clone();
        let i = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let i = if i == 400 { 1000 } else { i };

        async move {
            // Headers on their own in some calls: one more read for the
            // client's driver, so that its read/bell alternation differs.
            if i % 2 == 1 {
                sink.send_headers(Default::default()).await?;
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            sink.send(Bytes::from(vec![1u8; 10])).await?;
            if i == 1000 {
                // The last call: one response that needs the whole
                // connection window.
                sink.send(Bytes::from(vec![2u8; 65_000])).await?;
                return Ok(());
            }
            let done = go_rx.lock().await.recv().await.unwrap();
            sink.send(Bytes::from(vec![0u8; 480])).await?;
            let _ = done.send(()).await;
            tokio::time::sleep(Duration::from_secs(30)).await; // keep the call open
            Ok(())
        }
    });
    let server = Server::builder().build(routes);
    let gate = Gate::default();
    let channel = Channel::with_connector(GatedConnector {
        server,
        gate: gate.clone(),
    })
    .initial_stream_window(65_535)
    .initial_connection_window(65_535)
    .build()
    .unwrap();
    for i in 0..400 {
        let r = tokio::time::timeout(Duration::from_secs(3), async {
            let (tx, mut s) = channel
                .streaming("/t.S/Bidi", BytesCodec, CallOptions::new())
                .await
                .unwrap();
            let n = s.message().await.unwrap().unwrap().len();
            // An odd number of driver wake-ups in odd iterations, so that
            // the driver's read/bell alternation differs below.
            tokio::time::sleep(Duration::from_millis(3)).await;
            gate.close();
            let (dtx, mut drx) = mpsc::channel(1);
            go_tx.send(dtx).await.unwrap();
            drx.recv().await.unwrap();
            tokio::time::sleep(Duration::from_millis(3)).await; // the response is in the pipe
            drop(s); // the cancel is pending and rings the bell
            gate.open(); // and the response is readable: both in one turn
            drop(tx);
            n
        })
        .await;
        assert_eq!(
            r.unwrap_or_else(|_| panic!("call {i} stalled: connection window leaked")),
            10
        );
    }
    let r = tokio::time::timeout(Duration::from_secs(3), async {
        let (_tx, mut s) = channel
            .streaming("/t.S/Bidi", BytesCodec, CallOptions::new())
            .await
            .unwrap();
        s.message().await.unwrap().unwrap();
        s.message().await.unwrap().unwrap().len()
    })
    .await;
    assert_eq!(
        r.expect("a 65,000-byte response stalled: the connection window leaked"),
        65_000
    );
}
