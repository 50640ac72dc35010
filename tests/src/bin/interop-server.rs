//! The gRPC interop test server on grpc-sansio: `grpc.testing.TestService`
//! with the behaviours of gRPC's interop descriptions.
//!
//! ```text
//! interop-server --port 50051 [--transport tokio|blocking] [--use_tls false] [--host 127.0.0.1]
//! ```
//!
//! `--port 0` picks a free port. Prints `PORT <n>` once it accepts calls and
//! serves until killed. TLS is not offered yet: `--use_tls true` is refused.

use std::process::ExitCode;

use grpc_sansio_tests::interop::flags::Flags;
use grpc_sansio_tests::interop::{bind_blocking, bind_tokio};

fn main() -> ExitCode {
    let flags = match Flags::parse(
        std::env::args().skip(1),
        &[
            ("port", "50051"),
            ("use_tls", "false"),
            ("transport", "tokio"),
            ("host", "127.0.0.1"),
        ],
    ) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("interop-server: {e}");
            return ExitCode::from(2);
        }
    };
    if flags.bool("use_tls") {
        eprintln!("interop-server: --use_tls=true is not supported yet");
        return ExitCode::from(2);
    }
    let port: u16 = match flags.number("port") {
        Ok(p) => p,
        Err(e) => {
            eprintln!("interop-server: {e}");
            return ExitCode::from(2);
        }
    };
    let host = flags.get("host").to_string();
    let result = match flags.get("transport") {
        "tokio" => bind_tokio::runtime()
            .and_then(|rt| bind_tokio::serve(&rt, &host, port, |p| println!("PORT {p}"))),
        "blocking" => bind_blocking::serve(&host, port).map(|(server, addr)| {
            println!("PORT {}", addr.port());
            server.wait();
        }),
        other => {
            eprintln!("interop-server: unknown --transport {other:?} (tokio or blocking)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("interop-server: {e}");
            ExitCode::FAILURE
        }
    }
}
