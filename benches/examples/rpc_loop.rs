//! Runs N in-memory unary RPCs (for profilers: `valgrind --tool=callgrind`
//! or `perf record` on this binary). `cargo run --release -p
//! grpc-sansio-benches --example rpc_loop -- 100000`; a second argument
//! `deadline` gives every call a deadline (a different one each time, so
//! that every request head carries a new `grpc-timeout`).
use bytes::Bytes;
use grpc_sansio_benches::MemPair;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let deadline = std::env::args().nth(2).as_deref() == Some("deadline");
    let mut pair = MemPair::new();
    let req = Bytes::from_static(b"0123456789abcdef");
    let start = std::time::Instant::now();
    for i in 0..n {
        let r = if deadline {
            let timeout = std::time::Duration::from_millis(1000 + (i % 1000) as u64);
            pair.unary_with_timeout(req.clone(), timeout)
        } else {
            pair.unary(req.clone())
        };
        assert_eq!(r.len(), 16);
    }
    let el = start.elapsed();
    println!("{n} RPCs in {el:?}: {:?} per RPC", el / n as u32);
}
