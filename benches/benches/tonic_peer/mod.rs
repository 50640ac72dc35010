//! A tonic 0.14 client and server joined by `tokio::io::duplex` on one
//! current-thread runtime: the in-process round trip we compare with.
//!
//! No protobuf on either side: the service is hand-written (the same shape
//! as tonic's generated code: `tonic::server::Grpc` over a `Service`) and
//! both ends use a codec that passes the message bytes through, so tonic
//! carries exactly the payload our in-memory pair carries.
//!
//! Shared by several bench targets; each uses a part of it.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint, Server, Uri};
use tonic::{Request, Response, Status};

/// Message bytes in, message bytes out.
#[derive(Clone, Copy, Default)]
pub(crate) struct RawCodec;

/// The encoding half of [`RawCodec`].
pub(crate) struct RawEncoder;

/// The decoding half of [`RawCodec`].
pub(crate) struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n)))
    }
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// `/bench.Echo/Unary` echoes the request; `/bench.Echo/Stream` answers
/// a request `[count u32 BE, size u32 BE]` with `count` messages of
/// `size` bytes.
#[derive(Clone, Default)]
pub(crate) struct EchoService;

struct UnaryEcho;

impl tower::Service<Request<Bytes>> for UnaryEcho {
    type Response = Response<Bytes>;
    type Error = Status;
    type Future = std::future::Ready<Result<Response<Bytes>, Status>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        std::future::ready(Ok(Response::new(req.into_inner())))
    }
}

/// A stream of `left` copies of one message.
pub(crate) struct Repeat {
    msg: Bytes,
    left: u32,
}

impl tokio_stream::Stream for Repeat {
    type Item = Result<Bytes, Status>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(self.msg.clone())))
    }
}

struct StreamOut;

impl tower::Service<Request<Bytes>> for StreamOut {
    type Response = Response<Repeat>;
    type Error = Status;
    type Future = std::future::Ready<Result<Response<Repeat>, Status>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let mut b = req.into_inner();
        let (count, size) = if b.len() >= 8 {
            (b.get_u32(), b.get_u32() as usize)
        } else {
            (0, 0)
        };
        let msg = Bytes::from(vec![0x5a; size]);
        std::future::ready(Ok(Response::new(Repeat { msg, left: count })))
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for EchoService {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFut<Result<Self::Response, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        match req.uri().path() {
            "/bench.Echo/Unary" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(RawCodec);
                Ok(grpc.unary(UnaryEcho, req).await)
            }),
            "/bench.Echo/Stream" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(RawCodec);
                Ok(grpc.server_streaming(StreamOut, req).await)
            }),
            _ => Box::pin(async move { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// A tonic client connected to a tonic server through an in-memory
/// duplex pipe, both on `rt` (a current-thread runtime).
pub(crate) async fn connect() -> tonic::client::Grpc<Channel> {
    let (client_io, server_io) = tokio::io::duplex(64 << 10);
    tokio::spawn(async move {
        let incoming = tokio_stream::iter([Ok::<_, std::io::Error>(server_io)]);
        let _ = Server::builder()
            .serve_with_incoming(EchoService, incoming)
            .await;
    });
    let mut client_io = Some(client_io);
    let channel = Endpoint::from_static("http://in-memory.invalid")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let io = client_io.take();
            async move {
                io.map(hyper_util::rt::TokioIo::new)
                    .ok_or_else(|| std::io::Error::other("the pipe is used"))
            }
        }))
        .await
        .expect("connect over the duplex pipe");
    tonic::client::Grpc::new(channel)
}

/// One unary echo through tonic.
pub(crate) async fn unary(client: &mut tonic::client::Grpc<Channel>, request: Bytes) -> Bytes {
    client.ready().await.expect("ready");
    let path = http::uri::PathAndQuery::from_static("/bench.Echo/Unary");
    client
        .unary(Request::new(request), path, RawCodec)
        .await
        .expect("unary")
        .into_inner()
}

/// Asks for `count` messages of `size` bytes and drains them; returns the
/// bytes received.
pub(crate) async fn stream(
    client: &mut tonic::client::Grpc<Channel>,
    count: u32,
    size: u32,
) -> usize {
    client.ready().await.expect("ready");
    let path = http::uri::PathAndQuery::from_static("/bench.Echo/Stream");
    let mut req = Vec::with_capacity(8);
    req.put_u32(count);
    req.put_u32(size);
    let mut s = client
        .server_streaming(Request::new(Bytes::from(req)), path, RawCodec)
        .await
        .expect("stream")
        .into_inner();
    let mut total = 0;
    while let Some(m) = s.message().await.expect("message") {
        total += m.len();
    }
    total
}
