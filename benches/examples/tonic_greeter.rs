//! A tonic 0.14 greeter on 127.0.0.1 for the end-to-end comparison
//! (`benches/loadtest.sh`): `helloworld.Greeter/SayHello` decodes a
//! `HelloRequest` and replies `Hello <name>`, exactly as our greeter
//! examples do. One worker thread, so that pinning it to one CPU compares
//! like with like. `--report-ms N` prints how many calls it answered OK
//! every N ms, as our greeters do.
//!
//! `cargo run --release -p grpc-sansio-benches --example tonic_greeter -- --port 50053`
#[path = "../benches/tonic_peer/mod.rs"]
mod tonic_peer;
// The same messages and command-line helpers as our tokio greeter.
#[path = "../../adapters/tokio/examples/helloworld/mod.rs"]
mod helloworld;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use prost::Message;
use tonic::{Request, Response, Status};

use helloworld::{HelloReply, HelloRequest, arg, replied, report_replies};

struct SayHello;

impl tower::Service<Request<Bytes>> for SayHello {
    type Response = Response<Bytes>;
    type Error = Status;
    type Future = std::future::Ready<Result<Response<Bytes>, Status>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let r = HelloRequest::decode(req.into_inner())
            .map_err(|e| Status::internal(e.to_string()))
            .map(|r| {
                replied();
                let reply = HelloReply {
                    message: format!("Hello {}", r.name),
                };
                Response::new(Bytes::from(reply.encode_to_vec()))
            });
        std::future::ready(r)
    }
}

#[derive(Clone)]
struct Greeter;

impl tonic::server::NamedService for Greeter {
    const NAME: &'static str = "helloworld.Greeter";
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower::Service<http::Request<tonic::body::Body>> for Greeter {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFut<Result<Self::Response, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        match req.uri().path() {
            "/helloworld.Greeter/SayHello" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(tonic_peer::RawCodec);
                Ok(grpc.unary(SayHello, req).await)
            }),
            _ => Box::pin(async move { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

fn main() -> std::io::Result<()> {
    report_replies();
    let port: u16 = arg("--port").and_then(|p| p.parse().ok()).unwrap_or(50053);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        println!("tonic greeter listening on {addr}");
        let incoming = tonic::transport::server::TcpIncoming::bind(addr)?.with_nodelay(Some(true));
        tonic::transport::Server::builder()
            .serve_with_incoming(Greeter, incoming)
            .await
            .map_err(std::io::Error::other)
    })
}
