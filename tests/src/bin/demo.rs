//! The main demo: for each stack (the core driven by hand, the blocking
//! adapter and the tokio adapter), one process starts a
//! gRPC server on 127.0.0.1, puts a wire tap in front of it, and drives
//! every call kind, metadata, a deadline and an error status through it,
//! printing each HTTP/2 frame that crossed the wire and checking each
//! result.
//!
//! `cargo run --release -p grpc-sansio-tests --bin demo`

use std::net::SocketAddr;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use grpc_sansio_tests::demo::{self, DemoClient, Verdict};
use grpc_sansio_tests::tap::Tap;

fn main() -> ExitCode {
    println!("grpc-sansio demo: for each stack, a server on 127.0.0.1, a wire tap in");
    println!("front of it, and a client making every kind of call through the tap.");
    let mut passed = 0;
    let mut failed = 0;

    match demo::by_hand::start_server() {
        Ok(addr) => run_stack(
            "core driven by hand over std::net (no adapter)",
            "by-hand",
            addr,
            |tap| {
                demo::by_hand::Client::connect(tap)
                    .map(|c| Box::new(c) as Box<dyn DemoClient>)
                    .map_err(|e| e.to_string())
            },
            &mut passed,
            &mut failed,
        ),
        Err(e) => {
            println!("cannot start the by-hand server: {e}");
            failed += 1;
        }
    }

    match demo::blocking::start_server() {
        Ok((server, addr)) => {
            run_stack(
                "blocking adapter (grpc-sansio-blocking, no async runtime)",
                "blocking",
                addr,
                |tap| {
                    demo::blocking::Client::connect(tap)
                        .map(|c| Box::new(c) as Box<dyn DemoClient>)
                        .map_err(|e| e.to_string())
                },
                &mut passed,
                &mut failed,
            );
            server.shutdown(Duration::from_secs(1));
        }
        Err(e) => {
            println!("cannot start the blocking server: {e}");
            failed += 1;
        }
    }

    match demo::tokio::Stack::start() {
        Ok(stack) => run_stack(
            "tokio adapter (grpc-sansio-tokio)",
            "tokio",
            stack.addr(),
            |tap| {
                stack
                    .client(tap)
                    .map(|c| Box::new(c) as Box<dyn DemoClient + '_>)
            },
            &mut passed,
            &mut failed,
        ),
        Err(e) => {
            println!("cannot start the tokio server: {e}");
            failed += 1;
        }
    }

    println!("\n{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_stack<'a>(
    title: &str,
    stack: &str,
    server: SocketAddr,
    connect: impl FnOnce(SocketAddr) -> Result<Box<dyn DemoClient + 'a>, String>,
    passed: &mut usize,
    failed: &mut usize,
) {
    println!("\n==== {title} ====");
    let tap = match Tap::start(server, false) {
        Ok(t) => t,
        Err(e) => {
            println!("cannot start the tap: {e}");
            *failed += 1;
            return;
        }
    };
    println!("server on {server}, tap on {}\n", tap.addr);
    let mut client = match connect(tap.addr) {
        Ok(c) => c,
        Err(e) => {
            println!("cannot connect: {e}");
            *failed += 1;
            return;
        }
    };
    let mut shown = 0;
    let verdicts = demo::run_scenarios(client.as_mut(), stack, |title, v: &Verdict| {
        println!("-- {title}");
        // Let the tap's threads catch up, then print what crossed.
        let mut last = usize::MAX;
        for _ in 0..50 {
            let n = tap.lines().len();
            if n == last {
                break;
            }
            last = n;
            thread::sleep(Duration::from_millis(20));
        }
        let lines = tap.lines();
        for l in lines.iter().skip(shown) {
            println!("    {l}");
        }
        shown = lines.len();
        println!(
            "  => {}: {} ({})\n",
            v.name,
            if v.ok { "ok" } else { "FAILED" },
            v.detail
        );
    });
    for v in verdicts {
        if v.ok {
            *passed += 1;
        } else {
            *failed += 1;
        }
    }
}
