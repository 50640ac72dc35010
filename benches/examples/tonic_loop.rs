//! Runs N tonic unary RPCs in process (client and server over
//! `tokio::io::duplex`, one current-thread runtime), the same round trip
//! as `rpc/tonic_unary_16B_in_process`, for instruction counts beside
//! `rpc_loop`: `valgrind --tool=callgrind target/release/examples/tonic_loop 2000`.
//! With a second argument `stream`, each of the N calls is a server stream
//! of 4096 messages of 64 bytes (a third argument sets the size), the
//! work of `stream_loop`.
#[path = "../benches/tonic_peer/mod.rs"]
mod tonic_peer;

use bytes::Bytes;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut client = rt.block_on(tonic_peer::connect());
    if std::env::args().nth(2).as_deref() == Some("stream") {
        let size: u32 = std::env::args()
            .nth(3)
            .and_then(|a| a.parse().ok())
            .unwrap_or(64);
        rt.block_on(tonic_peer::stream(&mut client, 4096, size));
        let start = std::time::Instant::now();
        for _ in 0..n {
            let got = rt.block_on(tonic_peer::stream(&mut client, 4096, size));
            assert_eq!(got, 4096 * size as usize);
        }
        let el = start.elapsed();
        println!(
            "{n} calls of 4096 messages of {size} B in {el:?}: {:?} per message",
            el / (n * 4096) as u32
        );
        return;
    }
    let req = Bytes::from_static(b"0123456789abcdef");
    // Warm the connection (HPACK tables, buffers) as criterion's warm-up does.
    for _ in 0..100 {
        rt.block_on(tonic_peer::unary(&mut client, req.clone()));
    }
    let start = std::time::Instant::now();
    for _ in 0..n {
        let r = rt.block_on(tonic_peer::unary(&mut client, req.clone()));
        assert_eq!(r.len(), 16);
    }
    let el = start.elapsed();
    println!("{n} RPCs in {el:?}: {:?} per RPC", el / n as u32);
}
