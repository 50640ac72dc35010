//! Frame codec throughput: decoding a receive buffer of 16 KiB DATA frames
//! (the payloads should come out as slices, so this measures header parsing
//! and bookkeeping, not copying), and encoding the same body.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use grpc_sansio::frame::{
    DEFAULT_MAX_FRAME_SIZE, Frame, FrameDecoder, StreamId, encode_data, encode_header_block,
};

/// Frames per buffer.
const FRAMES: usize = 64;
/// Payload per frame: the default maximum frame size, 16 KiB.
const PAYLOAD: usize = DEFAULT_MAX_FRAME_SIZE as usize;

fn body() -> Vec<u8> {
    (0..FRAMES * PAYLOAD).map(|i| (i % 251) as u8).collect()
}

fn decode_data(c: &mut Criterion) {
    let mut wire = BytesMut::new();
    encode_data(
        StreamId::new(1),
        &body(),
        true,
        DEFAULT_MAX_FRAME_SIZE,
        &mut wire,
    );
    let wire = wire.freeze();

    let mut group = c.benchmark_group("frame");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("decode_data_16k", |b| {
        // The copy into a fresh receive buffer is setup, not measured.
        let fresh = || BytesMut::from(&wire[..]);
        b.iter_batched(
            fresh,
            |mut buf| {
                let mut decoder = FrameDecoder::new();
                let mut payload = 0;
                while let Ok(Some(frame)) = decoder.decode(&mut buf) {
                    if let Frame::Data(data) = frame {
                        payload += data.data.len();
                    }
                }
                black_box(payload)
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let body = body();
    let block = vec![0x82u8; 40_000];
    let mut group = c.benchmark_group("frame");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("encode_data_16k", |b| {
        let mut out = BytesMut::with_capacity(body.len() + FRAMES * 9);
        b.iter(|| {
            out.clear();
            encode_data(
                StreamId::new(1),
                black_box(&body),
                true,
                DEFAULT_MAX_FRAME_SIZE,
                &mut out,
            );
            black_box(out.len())
        });
    });
    group.throughput(Throughput::Bytes(block.len() as u64));
    group.bench_function("encode_header_block_40k", |b| {
        let mut out = BytesMut::with_capacity(block.len() + 64);
        b.iter(|| {
            out.clear();
            encode_header_block(
                StreamId::new(1),
                black_box(&block),
                false,
                DEFAULT_MAX_FRAME_SIZE,
                &mut out,
            );
            black_box(out.len())
        });
    });
    group.finish();
}

criterion_group!(benches, decode_data, encode);
criterion_main!(benches);
