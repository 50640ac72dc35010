//! Whole RPCs through a client and a server state machine wired in memory,
//! with no I/O: the cost of the protocol itself.

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use grpc_sansio_benches::MemPair;

fn unary(c: &mut Criterion) {
    let mut g = c.benchmark_group("rpc");
    g.throughput(Throughput::Elements(1));
    let mut pair = MemPair::new();
    let request = Bytes::from_static(b"0123456789abcdef");
    g.bench_function("unary_16B_in_memory", |b| {
        b.iter(|| {
            let reply = pair.unary(request.clone());
            assert_eq!(reply.len(), 16);
        })
    });
    g.finish();
}

criterion_group!(benches, unary);
criterion_main!(benches);
