//! `helloworld.Greeter/SayHello` on a blocking server.
//!
//! ```text
//! cargo run --release -p grpc-sansio-blocking --example blocking_greeter_server -- --port 50052
//! ```
//!
//! `--report-ms N` prints how many calls it answered OK every N ms.

#[path = "common/helloworld.rs"]
mod helloworld;

use grpc_sansio_blocking::{Handler, ProstCodec, Router, RouterExt, Server};
use helloworld::{HelloReply, HelloRequest, arg, replied, report_replies};

fn main() -> std::io::Result<()> {
    report_replies();
    let port: u16 = arg("--port").and_then(|p| p.parse().ok()).unwrap_or(50052);
    let mut router: Router<Handler> = Router::new();
    router.unary(
        "helloworld.Greeter",
        "SayHello",
        ProstCodec::<HelloReply, HelloRequest>::new(),
        |_call, req: HelloRequest| {
            replied();
            Ok(HelloReply {
                message: format!("Hello {}", req.name),
            })
        },
    );
    let server = Server::builder().build(router);
    let addr = server.bind(("127.0.0.1", port))?;
    println!("blocking greeter listening on {addr}");
    server.wait();
    Ok(())
}
