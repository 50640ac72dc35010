//! Streaming both ways in one process: a server with a bidirectional
//! "chat" method and the greeter's server-streaming method, reached over
//! an in-memory channel (no network).
//!
//! ```sh
//! cargo run -p grpc-sansio-tokio --example streaming
//! ```

mod helloworld;

use grpc_sansio_tokio::{CallOptions, ProstCodec, Routes, Server};
use helloworld::{HelloReply, HelloRequest, SAY_HELLO_MANY};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut routes = Routes::new();
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
    routes.streaming(
        "helloworld.Greeter",
        "Chat",
        ProstCodec::<HelloReply, HelloRequest>::new(),
        |req, mut sink| async move {
            let mut requests = req.into_inner();
            while let Some(r) = requests.message().await? {
                sink.send(HelloReply {
                    message: format!("Hello {}", r.name),
                })
                .await?;
            }
            Ok(())
        },
    );
    let server = Server::builder().build(routes);
    let channel = server.in_memory_channel();
    let codec = ProstCodec::<HelloRequest, HelloReply>::new();

    let mut replies = channel
        .server_streaming(
            SAY_HELLO_MANY,
            codec.clone(),
            HelloRequest {
                name: "stream".into(),
            },
            CallOptions::new(),
        )
        .await?;
    while let Some(r) = replies.message().await? {
        println!("server stream: {}", r.message);
    }

    let (mut tx, mut rx) = channel
        .streaming("/helloworld.Greeter/Chat", codec, CallOptions::new())
        .await?;
    for name in ["alice", "bob", "carol"] {
        tx.send(HelloRequest { name: name.into() }).await?;
        if let Some(r) = rx.message().await? {
            println!("chat: {}", r.message);
        }
    }
    tx.close();
    while let Some(r) = rx.message().await? {
        println!("chat (late): {}", r.message);
    }
    Ok(())
}
