//! Calls `helloworld.Greeter/SayHello` and prints the reply message.
//!
//! ```text
//! cargo run --release -p grpc-sansio-blocking --example blocking_greeter_client -- --addr http://127.0.0.1:50052 --name world
//! ```

#[path = "common/helloworld.rs"]
mod helloworld;

use std::time::Duration;

use grpc_sansio_blocking::{CallOptions, Channel, ProstCodec};
use helloworld::{HelloReply, HelloRequest, arg};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = arg("--addr").unwrap_or_else(|| "http://127.0.0.1:50052".to_string());
    let name = arg("--name").unwrap_or_else(|| "world".to_string());
    let channel = Channel::builder(&addr)
        .connect_timeout(Duration::from_secs(5))
        .connect()?;
    let reply = channel.unary(
        "/helloworld.Greeter/SayHello",
        ProstCodec::<HelloRequest, HelloReply>::new(),
        &HelloRequest { name },
        CallOptions::new().timeout(Duration::from_secs(10)),
    )?;
    println!("{}", reply.message.message);
    Ok(())
}
