//! The gRPC interop test client on grpc-sansio: runs the credential-free
//! cases of gRPC's interop descriptions against a server.
//!
//! ```text
//! interop-client --server_host 127.0.0.1 --server_port 50051 \
//!     [--test_case all|name,name] [--transport tokio|blocking] \
//!     [--server_host_override H] [--soak_iterations 10] [--use_tls false] [--use_test_ca false]
//!     [--test_ca_file ca.pem]
//! ```
//!
//! One line per case (`CASE <name> PASS|FAIL <detail>`), a `SUMMARY` line,
//! and a non-zero exit status when any case failed. TLS
//! (`--use_tls=true --use_test_ca=true`) trusts the CA in `--test_ca_file`
//! instead of gRPC's bundled test CA: see `interop::tls`.

use std::process::ExitCode;
use std::time::Instant;

use grpc_sansio_tests::interop::cases::{self, ALL_CASES};
use grpc_sansio_tests::interop::flags::Flags;
use grpc_sansio_tests::interop::report;
use grpc_sansio_tests::interop::tls;
use grpc_sansio_tests::interop::transport::Transport;
use grpc_sansio_tests::interop::{bind_blocking, bind_tokio};

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("interop-client: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, String> {
    let mut defaults = vec![
        ("server_host", "127.0.0.1"),
        ("server_port", "50051"),
        ("server_host_override", ""),
        ("test_case", "all"),
        ("use_tls", "false"),
        ("use_test_ca", "false"),
        ("transport", "tokio"),
        ("soak_iterations", "10"),
    ];
    defaults.extend_from_slice(tls::CLIENT_FLAGS);
    let flags = Flags::parse(std::env::args().skip(1), &defaults)?;
    let tls = tls::client_from_flags(&flags)?;
    let names: Vec<&str> = match flags.get("test_case") {
        "all" => ALL_CASES.to_vec(),
        list => list.split(',').filter(|s| !s.is_empty()).collect(),
    };
    if let Some(bad) = names.iter().find(|n| !ALL_CASES.contains(n)) {
        return Err(format!("unknown test case {bad:?}"));
    }
    let soak: usize = flags.number("soak_iterations")?;
    let port: u16 = flags.number("server_port")?;
    let host = flags.get("server_host");
    let authority = Some(flags.get("server_host_override")).filter(|s| !s.is_empty());
    let transport: Box<dyn Transport> = match flags.get("transport") {
        "tokio" => {
            let rt = bind_tokio::runtime().map_err(|e| e.to_string())?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            let target = format!("{scheme}://{host}:{port}");
            Box::new(bind_tokio::TokioTransport::connect(
                rt,
                &target,
                authority,
                tls.as_ref(),
            )?)
        }
        "blocking" => Box::new(bind_blocking::BlockingTransport::connect(
            &format!("{host}:{port}"),
            authority,
            tls.as_ref(),
        )?),
        other => return Err(format!("unknown --transport {other:?} (tokio or blocking)")),
    };
    let (mut passed, mut failed) = (0, 0);
    for name in names {
        let started = Instant::now();
        let result = cases::run(name, transport.as_ref(), soak);
        if result.is_ok() {
            passed += 1;
        } else {
            failed += 1;
        }
        println!(
            "{}",
            report::format_line(name, &result, started.elapsed().as_millis())
        );
    }
    println!("SUMMARY {{\"passed\": {passed}, \"failed\": {failed}}}");
    Ok(failed == 0)
}
