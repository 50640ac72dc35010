//! Serves `helloworld.Greeter/SayHello` (and the server-streaming
//! `SayHelloMany` of the streaming example) on 127.0.0.1 until ctrl-c.
//!
//! ```sh
//! cargo run --release -p grpc-sansio-tokio --example greeter_server -- --port 50051
//! ```
//!
//! `--workers N` sets the runtime's worker threads (default: one per CPU);
//! the load test runs it with one, like the tonic greeter beside it.
//! `--report-ms N` prints how many calls it answered OK every N ms.

mod helloworld;

use grpc_sansio_tokio::{ProstCodec, Response, Routes, Server};
use helloworld::{HelloReply, HelloRequest, arg, replied, report_replies};

fn main() -> std::io::Result<()> {
    report_replies();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = arg("--workers").and_then(|n| n.parse().ok()) {
        rt.worker_threads(n);
    }
    rt.enable_all().build()?.block_on(serve())
}

async fn serve() -> std::io::Result<()> {
    let port: u16 = arg("--port").and_then(|p| p.parse().ok()).unwrap_or(50051);
    let mut routes = Routes::new();
    routes.unary(
        "helloworld.Greeter",
        "SayHello",
        ProstCodec::<HelloReply, HelloRequest>::new(),
        |req| async move {
            let name = req.into_inner().name;
            replied();
            Ok(Response::new(HelloReply {
                message: format!("Hello {name}"),
            }))
        },
    );
    routes.server_streaming(
        "helloworld.Greeter",
        "SayHelloMany",
        ProstCodec::<HelloReply, HelloRequest>::new(),
        |req, mut sink| async move {
            let name = req.into_inner().name;
            for i in 1..=3 {
                sink.send(HelloReply {
                    message: format!("Hello {name} #{i}"),
                })
                .await?;
            }
            Ok(())
        },
    );
    let server = Server::builder().build(routes);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {}", listener.local_addr()?);
    server
        .serve_with_shutdown(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
