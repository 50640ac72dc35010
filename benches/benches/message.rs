//! Deframing of length-prefixed gRPC messages: 1 KiB and 1 MiB payloads,
//! delivered whole (zero-copy path) and in 16 KiB DATA-frame-sized chunks
//! (assembly path).

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use grpc_sansio::grpc::message::{MessageDecoder, encode_message};

const FRAME_SIZE: usize = 16 * 1024;

fn stream_of(payload_len: usize, count: usize) -> Bytes {
    let payload: Vec<u8> = (0..payload_len).map(|i| i as u8).collect();
    let mut out = BytesMut::new();
    for _ in 0..count {
        encode_message(&payload, false, &mut out).expect("encode");
    }
    out.freeze()
}

fn deframe(chunks: &[Bytes], max: usize) -> usize {
    let mut decoder = MessageDecoder::with_max_message_size(max);
    let mut total = 0;
    for chunk in chunks {
        let mut input = chunk.clone();
        while let Some(m) = decoder.decode(&mut input).expect("decode") {
            total += black_box(m.payload).len();
        }
    }
    total
}

fn bench_deframe(c: &mut Criterion) {
    let mut group = c.benchmark_group("message_deframe");
    // About 1 MiB of stream per iteration for the small messages.
    for (name, payload_len, count) in [("1KiB", 1024, 1024), ("1MiB", 1024 * 1024, 1)] {
        let stream = stream_of(payload_len, count);
        group.throughput(Throughput::Bytes(stream.len() as u64));
        let whole = vec![stream.clone()];
        let framed: Vec<Bytes> = (0..stream.len())
            .step_by(FRAME_SIZE)
            .map(|i| stream.slice(i..(i + FRAME_SIZE).min(stream.len())))
            .collect();
        let max = 4 * 1024 * 1024;
        group.bench_with_input(BenchmarkId::new("whole", name), &whole, |b, chunks| {
            b.iter(|| deframe(chunks, max))
        });
        group.bench_with_input(
            BenchmarkId::new("16KiB_chunks", name),
            &framed,
            |b, chunks| b.iter(|| deframe(chunks, max)),
        );
    }
    group.finish();
}

criterion_group!(benches, bench_deframe);
criterion_main!(benches);
