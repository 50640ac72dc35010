//! Runs N in-memory unary RPCs (for profilers: `valgrind --tool=callgrind`
//! or `perf record` on this binary). `cargo run --release -p
//! grpc-sansio-benches --example rpc_loop -- 100000`
use bytes::Bytes;
use grpc_sansio_benches::MemPair;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let mut pair = MemPair::new();
    let req = Bytes::from_static(b"0123456789abcdef");
    let start = std::time::Instant::now();
    for _ in 0..n {
        let r = pair.unary(req.clone());
        assert_eq!(r.len(), 16);
    }
    let el = start.elapsed();
    println!("{n} RPCs in {el:?}: {:?} per RPC", el / n as u32);
}
