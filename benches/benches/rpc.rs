//! Whole RPCs through a client and a server state machine wired in memory,
//! with no I/O: the cost of the protocol itself; beside it, tonic's
//! in-process round trip (client and server over `tokio::io::duplex` on one
//! current-thread runtime) with the same 16-byte payload.

mod tonic_peer;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use grpc_sansio_benches::MemPair;

fn unary(c: &mut Criterion) {
    let mut g = c.benchmark_group("rpc");
    g.throughput(Throughput::Elements(1));
    let request = Bytes::from_static(b"0123456789abcdef");

    let mut pair = MemPair::new();
    g.bench_function("unary_16B_in_memory", |b| {
        b.iter(|| {
            let reply = pair.unary(request.clone());
            assert_eq!(reply.len(), 16);
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut client = rt.block_on(tonic_peer::connect());
    g.bench_function("tonic_unary_16B_in_process", |b| {
        b.iter(|| {
            let reply = rt.block_on(tonic_peer::unary(&mut client, request.clone()));
            assert_eq!(reply.len(), 16);
        })
    });
    g.finish();
}

criterion_group!(benches, unary);
criterion_main!(benches);
