//! Calls `helloworld.Greeter/SayHello` and prints the reply's message.
//!
//! ```sh
//! cargo run --release -p grpc-sansio-tokio --example greeter_client -- --addr http://127.0.0.1:50051 --name world
//! ```

mod helloworld;

use std::time::Duration;

use grpc_sansio_tokio::{CallOptions, Channel, ProstCodec};
use helloworld::{HelloReply, HelloRequest, SAY_HELLO, arg};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = arg("--addr").unwrap_or_else(|| "http://127.0.0.1:50051".to_string());
    let name = arg("--name").unwrap_or_else(|| "world".to_string());
    let channel = Channel::connect(&addr)?;
    let reply = channel
        .unary(
            SAY_HELLO,
            ProstCodec::<HelloRequest, HelloReply>::new(),
            HelloRequest { name },
            CallOptions::new().timeout(Duration::from_secs(10)),
        )
        .await?;
    println!("{}", reply.message.message);
    Ok(())
}
