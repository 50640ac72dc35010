//! gzip per message: ours (`Gzip`, pooled deflate states reset between
//! messages; level 0 written as stored blocks) beside what tonic 0.14
//! does for every compressed message (a fresh flate2 `GzEncoder`), at
//! the default level 6, for 16 B, 1 KiB and 64 KiB messages.

use std::hint::black_box;
use std::io::Read;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use grpc_sansio::grpc::compression::{Compressor, Gzip};

/// Text-like input that deflate shrinks (about 3x at level 6).
fn input(len: usize) -> Vec<u8> {
    let words = [
        "grpc ", "message ", "payload ", "hello ", "world ", "status ", "ok ",
    ];
    let mut out = Vec::with_capacity(len + 16);
    let mut i = 0usize;
    while out.len() < len {
        out.extend_from_slice(words[(i * 7 + i / 3) % words.len()].as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

fn bench_gzip(c: &mut Criterion) {
    let mut group = c.benchmark_group("gzip_compress");
    for (name, len) in [("16B", 16), ("1KiB", 1024), ("64KiB", 64 * 1024)] {
        let data = input(len);
        group.throughput(Throughput::Bytes(len as u64));
        let ours = Gzip::new();
        let mut out = Vec::new();
        group.bench_with_input(BenchmarkId::new("ours_level6", name), &data, |b, d| {
            b.iter(|| {
                out.clear();
                ours.compress(d, &mut out).expect("compress");
                black_box(out.len())
            })
        });
        let stored = Gzip::with_level(0);
        group.bench_with_input(BenchmarkId::new("ours_level0", name), &data, |b, d| {
            b.iter(|| {
                out.clear();
                stored.compress(d, &mut out).expect("compress");
                black_box(out.len())
            })
        });
        group.bench_with_input(BenchmarkId::new("tonic_way_level6", name), &data, |b, d| {
            b.iter(|| {
                out.clear();
                let mut z = flate2::read::GzEncoder::new(&d[..], flate2::Compression::new(6));
                z.read_to_end(&mut out).expect("compress");
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_gzip);
criterion_main!(benches);
