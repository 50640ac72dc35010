//! Runs N server-streaming calls of 4096 messages of 64 bytes in memory
//! (for profilers, like `rpc_loop`): `cargo run --release -p
//! grpc-sansio-benches --example stream_loop -- 20`
use bytes::Bytes;
use grpc_sansio_benches::MemPair;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let size: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(64);
    let mut pair = MemPair::for_streaming();
    let message = Bytes::from(vec![0x5a; size]);
    let start = std::time::Instant::now();
    for _ in 0..n {
        assert_eq!(pair.server_stream(4096, &message), 4096 * size);
    }
    let el = start.elapsed();
    println!(
        "{n} calls of 4096 messages of {size} B in {el:?}: {:?} per message",
        el / (n * 4096) as u32
    );
}
