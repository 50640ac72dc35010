//! The gRPC interop test server on grpc-sansio: `grpc.testing.TestService`
//! with the behaviours of gRPC's interop descriptions.
//!
//! ```text
//! interop-server --port 50051 [--transport tokio|blocking] [--use_tls false] [--host 127.0.0.1]
//!     [--tls_cert_file cert.pem --tls_key_file key.pem]
//! ```
//!
//! `--port 0` picks a free port. Prints `PORT <n>` once it accepts calls and
//! serves until killed. `--use_tls=true` serves TLS (ALPN h2) with the
//! certificate and key given, in place of gRPC's bundled `server1.pem`:
//! see `interop::tls`.

use std::process::ExitCode;

use grpc_sansio_tests::interop::flags::Flags;
use grpc_sansio_tests::interop::tls;
use grpc_sansio_tests::interop::{bind_blocking, bind_tokio};

fn main() -> ExitCode {
    let mut defaults = vec![
        ("port", "50051"),
        ("use_tls", "false"),
        ("transport", "tokio"),
        ("host", "127.0.0.1"),
    ];
    defaults.extend_from_slice(tls::SERVER_FLAGS);
    let parsed = Flags::parse(std::env::args().skip(1), &defaults)
        .and_then(|f| tls::server_from_flags(&f).map(|t| (f, t)));
    let (flags, tls) = match parsed {
        Ok(f) => f,
        Err(e) => {
            eprintln!("interop-server: {e}");
            return ExitCode::from(2);
        }
    };
    let port: u16 = match flags.number("port") {
        Ok(p) => p,
        Err(e) => {
            eprintln!("interop-server: {e}");
            return ExitCode::from(2);
        }
    };
    let host = flags.get("host").to_string();
    let result = match flags.get("transport") {
        "tokio" => bind_tokio::runtime().and_then(|rt| {
            bind_tokio::serve(&rt, &host, port, tls.as_ref(), |p| println!("PORT {p}"))
        }),
        "blocking" => bind_blocking::serve(&host, port, tls.as_ref()).map(|(server, addr)| {
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
