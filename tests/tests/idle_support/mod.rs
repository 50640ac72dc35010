//! What the idle-connection tests share: a service with a fast, a slow and
//! a large method, the calls to it, and a count of this process's threads
//! by name (which is why each of those test files holds a single test:
//! the tests of one file share a process).
#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use grpc_sansio_blocking::{BytesCodec, CallOptions, Channel, Handler, Router, RouterExt, Status};

pub(crate) const SERVER_WRITER: &str = "grpc-server-write";
pub(crate) const CLIENT_WRITER: &str = "grpc-client-write";
pub(crate) const SERVER_READER: &str = "grpc-server-read";
pub(crate) const PARKER: &str = "grpc-server-park";

/// The service's name.
pub(crate) const SERVICE: &str = "test.Idle";

/// Messages of the large stream: 64 of 64 KiB, each filled with its
/// number, far more than a handler thread writes itself, so a writer
/// thread must carry them.
pub(crate) const BIG: usize = 64;

/// Threads of this process whose name starts with `prefix` (the kernel
/// keeps the first 15 bytes of a name).
pub(crate) fn threads(prefix: &str) -> usize {
    let prefix = &prefix[..prefix.len().min(15)];
    std::fs::read_dir("/proc/self/task")
        .expect("task list")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// `Echo` answers at once, `Slow` after 1.5 s, `Big` streams [`BIG`]
/// messages of 64 KiB.
pub(crate) fn router() -> Router<Handler> {
    let mut router: Router<Handler> = Router::new();
    router.unary(SERVICE, "Echo", BytesCodec, |_call, req: Bytes| Ok(req));
    router.unary(SERVICE, "Slow", BytesCodec, |_call, req: Bytes| {
        std::thread::sleep(Duration::from_millis(1500));
        Ok(req)
    });
    router.server_streaming(SERVICE, "Big", BytesCodec, |_call, _req: Bytes, sink| {
        for i in 0..BIG as u8 {
            sink.send(&Bytes::from(vec![i; 64 << 10]))?;
        }
        Ok(())
    });
    router
}

/// An echo of `text`, checked.
pub(crate) fn echo(ch: &Channel, text: &str, opts: CallOptions) {
    let r = ch
        .unary(
            &format!("/{SERVICE}/Echo"),
            BytesCodec,
            &Bytes::copy_from_slice(text.as_bytes()),
            opts,
        )
        .expect("echo");
    assert_eq!(&r.message[..], text.as_bytes());
}

/// The large stream, every message checked.
pub(crate) fn big_stream(ch: &Channel, opts: CallOptions) {
    let got: Vec<Bytes> = ch
        .server_streaming(&format!("/{SERVICE}/Big"), BytesCodec, &Bytes::new(), opts)
        .expect("stream")
        .collect::<Result<_, Status>>()
        .expect("messages");
    assert_eq!(got.len(), BIG);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.len(), 64 << 10);
        assert!(m.iter().all(|b| *b == i as u8), "message {i}");
    }
}

/// The slow call, checked.
pub(crate) fn slow(ch: &Channel, opts: CallOptions) {
    let r = ch
        .unary(
            &format!("/{SERVICE}/Slow"),
            BytesCodec,
            &Bytes::from_static(b"slow"),
            opts,
        )
        .expect("slow call");
    assert_eq!(&r.message[..], b"slow");
}
