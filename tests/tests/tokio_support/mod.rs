//! A test service for the tokio adapter tests, served by our server and
//! called by our channel (in memory or over 127.0.0.1).
#![allow(dead_code)]

pub(crate) mod pki;

use std::time::Duration;

use bytes::Bytes;
use grpc_sansio_tokio::{
    BytesCodec, CancelReason, Code, MetadataMap, Response, Routes, RpcError, Status,
};
use tokio::sync::mpsc;

pub(crate) const SERVICE: &str = "test.Test";

pub(crate) fn path(method: &str) -> String {
    format!("/{SERVICE}/{method}")
}

/// What handlers report to the test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// A Sleep call was cancelled, and why.
    Cancelled(Option<CancelReason>),
    /// A Sleep call ran to the end.
    Slept,
    /// A call's deadline as the handler saw it (remaining, in ms).
    Deadline(Option<u128>),
}

/// The test service. `probe` receives what handlers observed.
pub(crate) fn routes(probe: mpsc::Sender<Seen>) -> Routes {
    let mut r = Routes::new();
    // Echo the request; metadata starting with "x-" comes back in the
    // headers, and "x-trailer: done" plus the request's binary "x-bin-bin"
    // in the trailers.
    r.unary(SERVICE, "Echo", BytesCodec, |req| async move {
        let mut headers = MetadataMap::new();
        let mut trailers = MetadataMap::new();
        for (k, v) in req.metadata() {
            if k.as_str().starts_with("x-") {
                if k.is_binary() {
                    trailers
                        .append_bin(k.as_str(), v.as_bytes().clone())
                        .unwrap();
                } else if let Some(s) = v.to_str() {
                    headers.append(k.as_str(), s).unwrap();
                }
            }
        }
        trailers.insert("x-trailer", "done").unwrap();
        Ok(Response::new(req.into_inner())
            .with_metadata(headers)
            .with_trailers(trailers))
    });
    // Fail with a status, details and trailing metadata.
    r.unary(SERVICE, "Fail", BytesCodec, |_req| async move {
        let mut trailers = MetadataMap::new();
        trailers.insert("x-why", "because").unwrap();
        trailers
            .insert_bin("x-raw-bin", Bytes::from_static(&[0, 1, 2, 255]))
            .unwrap();
        Err::<Response<Bytes>, _>(
            RpcError::new(
                Status::new(Code::InvalidArgument, "bad \"request\": ü%")
                    .with_details(Bytes::from_static(b"\x08\x03\x12\x07details")),
            )
            .with_trailers(trailers),
        )
    });
    // Sleep for the number of milliseconds in the request, or until
    // cancelled; report which.
    let p = probe.clone();
    r.unary(SERVICE, "Sleep", BytesCodec, move |req| {
        let p = p.clone();
        async move {
            let ms: u64 = std::str::from_utf8(req.get_ref())
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let ctx = req.context().clone();
            let left = ctx.deadline().map(|d| {
                d.saturating_duration_since(std::time::Instant::now())
                    .as_millis()
            });
            let _ = p.send(Seen::Deadline(left)).await;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(ms)) => {
                    let _ = p.send(Seen::Slept).await;
                    Ok(Response::new(Bytes::from_static(b"slept")))
                }
                _ = ctx.cancelled() => {
                    let _ = p.send(Seen::Cancelled(ctx.cancel_reason())).await;
                    Err(Status::cancelled("gave up").into())
                }
            }
        }
    });
    // Count: the request is a number n; respond with n messages "0".."n-1",
    // then trailers.
    r.server_streaming(SERVICE, "Count", BytesCodec, |req, mut sink| async move {
        let n: usize = std::str::from_utf8(req.get_ref())
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut md = MetadataMap::new();
        md.insert("x-count", &n.to_string()).unwrap();
        sink.send_headers(md).await?;
        for i in 0..n {
            sink.send(Bytes::from(i.to_string())).await?;
        }
        let mut t = MetadataMap::new();
        t.insert("x-sent", &n.to_string()).unwrap();
        sink.set_trailers(t);
        Ok(())
    });
    // Join: concatenate every request with ','.
    r.client_streaming(SERVICE, "Join", BytesCodec, |req| async move {
        let mut stream = req.into_inner();
        let mut parts = Vec::new();
        while let Some(m) = stream.message().await? {
            parts.push(String::from_utf8_lossy(&m).into_owned());
        }
        Ok(Response::new(Bytes::from(parts.join(","))))
    });
    // First: the first request comes back, OK, and no more are read.
    r.client_streaming(SERVICE, "First", BytesCodec, |req| async move {
        let mut stream = req.into_inner();
        match stream.message().await? {
            Some(first) => Ok(Response::new(first)),
            None => Err(Status::invalid_argument("no request").into()),
        }
    });
    // Shout: each request comes back upper-cased; "fail" ends the call
    // with ABORTED.
    r.streaming(SERVICE, "Shout", BytesCodec, |req, mut sink| async move {
        let mut stream = req.into_inner();
        while let Some(m) = stream.message().await? {
            if &m[..] == b"fail" {
                return Err(Status::aborted("asked to fail").into());
            }
            sink.send(Bytes::from(m.to_ascii_uppercase())).await?;
        }
        Ok(())
    });
    // Big: respond with as many bytes as the request says, in 64 KiB
    // messages (flow control both ways).
    r.server_streaming(SERVICE, "Big", BytesCodec, |req, mut sink| async move {
        let n: usize = std::str::from_utf8(req.get_ref())
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut left = n;
        let mut i = 0u8;
        while left > 0 {
            let k = left.min(64 << 10);
            sink.send(Bytes::from(vec![i; k])).await?;
            i = i.wrapping_add(1);
            left -= k;
        }
        Ok(())
    });
    r
}

/// Run `f` with a time limit: every test is bounded.
pub(crate) async fn bounded<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test took too long")
}
