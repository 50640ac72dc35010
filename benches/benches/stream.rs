//! Server-streaming throughput in memory: one call, many messages, through
//! both of our state machines wired back to back (flow control, framing,
//! deframing; no I/O); beside it, tonic's in-process client and server
//! over `tokio::io::duplex` on one current-thread runtime.

mod tonic_peer;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use grpc_sansio_benches::MemPair;

/// (label, message size, messages per call)
const CASES: [(&str, usize, usize); 2] = [("64B", 64, 4096), ("64KiB", 64 << 10, 64)];

fn stream(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut tonic_client = rt.block_on(tonic_peer::connect());
    let mut pair = MemPair::for_streaming();
    for (label, size, count) in CASES {
        let mut g = c.benchmark_group(format!("stream_{label}"));
        g.throughput(Throughput::ElementsAndBytes {
            elements: count as u64,
            bytes: (count * size) as u64,
        });
        let message = Bytes::from(vec![0x5a; size]);
        g.bench_function("in_memory", |b| {
            b.iter(|| assert_eq!(pair.server_stream(count, &message), count * size))
        });
        g.bench_function("tonic_in_process", |b| {
            b.iter(|| {
                let n = rt.block_on(tonic_peer::stream(
                    &mut tonic_client,
                    count as u32,
                    size as u32,
                ));
                assert_eq!(n, count * size);
            })
        });
        g.finish();
    }
}

criterion_group!(benches, stream);
criterion_main!(benches);
