//! HPACK benchmarks, grpc-sansio beside the `hpack` crate:
//!
//! * decode and encode of a typical gRPC request header block with a warm
//!   dynamic table (time per block);
//! * Huffman decoding of a 64 KiB value (throughput).
//!
//! Both decoders read the same bytes (produced by our encoder); each
//! encoder uses its own policy.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use grpc_sansio::hpack::{Decoder, Encoder, huffman};

const REQUEST: &[(&str, &str)] = &[
    (":method", "POST"),
    (":scheme", "http"),
    (":path", "/helloworld.Greeter/SayHello"),
    (":authority", "greeter.example.internal:50051"),
    ("content-type", "application/grpc"),
    ("te", "trailers"),
    ("user-agent", "grpc-rust-sansio/0.1.0"),
    ("grpc-timeout", "990m"),
    ("grpc-accept-encoding", "identity,deflate,gzip"),
    ("x-tenant-id", "tenant-4f1c2a"),
];

fn request() -> impl Iterator<Item = (&'static [u8], &'static [u8], bool)> {
    REQUEST
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes(), false))
}

/// The first (cold) and second (warm) request blocks from our encoder.
fn blocks() -> (Bytes, Bytes) {
    let mut encoder = Encoder::new();
    let mut first = BytesMut::new();
    encoder.encode(request(), &mut first);
    let mut second = BytesMut::new();
    encoder.encode(request(), &mut second);
    (first.freeze(), second.freeze())
}

fn decode_request(c: &mut Criterion) {
    let (first, warm) = blocks();
    let mut group = c.benchmark_group("hpack/decode_grpc_request_warm");

    let mut ours = Decoder::new(4096);
    ours.decode(&first, usize::MAX, &mut Vec::new()).unwrap();
    let mut out = Vec::with_capacity(16);
    group.bench_function("grpc-sansio", |b| {
        b.iter(|| {
            out.clear();
            ours.decode(black_box(&warm), 16 * 1024, &mut out).unwrap();
            black_box(out.len())
        })
    });

    let mut theirs = hpack::Decoder::new();
    theirs.decode(&first).unwrap();
    group.bench_function("hpack-crate", |b| {
        b.iter(|| black_box(theirs.decode(black_box(&warm)).unwrap().len()))
    });

    // The hpack crate on blocks from its own encoder, for comparison.
    let mut own_encoder = hpack::Encoder::new();
    let pairs = || REQUEST.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()));
    let own_first = own_encoder.encode(pairs());
    let own_warm = own_encoder.encode(pairs());
    let mut own = hpack::Decoder::new();
    own.decode(&own_first).unwrap();
    group.bench_function("hpack-crate-own-blocks", |b| {
        b.iter(|| black_box(own.decode(black_box(&own_warm)).unwrap().len()))
    });
    group.finish();
}

fn encode_request(c: &mut Criterion) {
    let mut group = c.benchmark_group("hpack/encode_grpc_request_warm");

    let mut ours = Encoder::new();
    let mut dst = BytesMut::with_capacity(256);
    ours.encode(request(), &mut dst);
    group.bench_function("grpc-sansio", |b| {
        b.iter(|| {
            dst.clear();
            ours.encode(black_box(request()), &mut dst);
            black_box(dst.len())
        })
    });

    let mut theirs = hpack::Encoder::new();
    let pairs = || REQUEST.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()));
    let mut out = Vec::with_capacity(256);
    theirs.encode_into(pairs(), &mut out).unwrap();
    group.bench_function("hpack-crate", |b| {
        b.iter(|| {
            out.clear();
            theirs.encode_into(black_box(pairs()), &mut out).unwrap();
            black_box(out.len())
        })
    });
    group.finish();
}

fn huffman_decode(c: &mut Criterion) {
    // 64 KiB of header-like text: base64url tokens, paths and dates.
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_/.:;= ,";
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let value: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            alphabet[(state % alphabet.len() as u64) as usize]
        })
        .collect();
    let mut coded = Vec::new();
    huffman::encode(&value, &mut coded);

    let mut group = c.benchmark_group("hpack/huffman_decode_64KiB");
    group.throughput(Throughput::Bytes(value.len() as u64));
    let mut out = Vec::with_capacity(value.len());
    group.bench_function("grpc-sansio", |b| {
        b.iter(|| {
            out.clear();
            huffman::decode(black_box(&coded), &mut out).unwrap();
            black_box(out.len())
        })
    });
    group.bench_function("hpack-crate", |b| {
        let mut decoder = hpack::huffman::HuffmanDecoder::new();
        b.iter(|| black_box(decoder.decode(black_box(&coded)).unwrap().len()))
    });

    let mut sink = Vec::with_capacity(coded.len());
    group.bench_function("grpc-sansio-encode", |b| {
        b.iter(|| {
            sink.clear();
            huffman::encode(black_box(&value), &mut sink);
            black_box(sink.len())
        })
    });
    group.finish();
}

criterion_group!(benches, decode_request, encode_request, huffman_decode);
criterion_main!(benches);
