//! The streaming call kinds on one in-process server over TCP: a server
//! stream of countdown replies, a client stream summed up, and a bidi
//! echo driven from two threads.
//!
//! ```text
//! cargo run --release -p grpc-sansio-blocking --example blocking_streaming
//! ```

#[path = "common/helloworld.rs"]
mod helloworld;

use std::thread;
use std::time::Duration;

use grpc_sansio_blocking::{
    CallOptions, Channel, Handler, ProstCodec, Router, RouterExt, Server, Status,
};
use helloworld::{HelloReply, HelloRequest};

type ServerCodec = ProstCodec<HelloReply, HelloRequest>;
type ClientCodec = ProstCodec<HelloRequest, HelloReply>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut router: Router<Handler> = Router::new();
    router
        .server_streaming(
            "helloworld.Greeter",
            "Countdown",
            ServerCodec::new(),
            |_call, req: HelloRequest, out| {
                for i in (1..=3).rev() {
                    out.send(&HelloReply {
                        message: format!("{i}... {}", req.name),
                    })?;
                }
                Ok(())
            },
        )
        .client_streaming(
            "helloworld.Greeter",
            "Gather",
            ServerCodec::new(),
            |_call, reqs| {
                let names = reqs
                    .map(|r| r.map(|r| r.name))
                    .collect::<Result<Vec<_>, Status>>()?;
                Ok(HelloReply {
                    message: format!("Hello {}", names.join(" and ")),
                })
            },
        )
        .bidi_streaming(
            "helloworld.Greeter",
            "Chat",
            ServerCodec::new(),
            |_call, reqs, out| {
                for r in reqs {
                    out.send(&HelloReply {
                        message: format!("Hello {}", r?.name),
                    })?;
                }
                Ok(())
            },
        );
    let server = Server::builder().build(router);
    let addr = server.bind("127.0.0.1:0")?;
    let channel = Channel::connect(&format!("http://{addr}"))?;
    let opts = || CallOptions::new().timeout(Duration::from_secs(10));

    let replies = channel.server_streaming(
        "/helloworld.Greeter/Countdown",
        ClientCodec::new(),
        &HelloRequest {
            name: "liftoff".into(),
        },
        opts(),
    )?;
    for r in replies {
        println!("server stream: {}", r?.message);
    }

    let names = ["ada", "grace", "barbara"].map(|n| HelloRequest { name: n.into() });
    let reply = channel.client_streaming(
        "/helloworld.Greeter/Gather",
        ClientCodec::new(),
        names,
        opts(),
    )?;
    println!("client stream: {}", reply.message.message);

    let call = channel.bidi_streaming("/helloworld.Greeter/Chat", ClientCodec::new(), opts())?;
    let (tx, rx) = call.split();
    let sender = thread::spawn(move || -> Result<(), Status> {
        for n in ["one", "two", "three"] {
            tx.send(&HelloRequest { name: n.into() })?;
        }
        tx.close()
    });
    for r in rx {
        println!("bidi: {}", r?.message);
    }
    sender.join().expect("sender thread")?;
    server.shutdown(Duration::from_secs(1));
    Ok(())
}
