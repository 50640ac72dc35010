//! Fuzz body: length-prefixed message deframing, then decompression.
//!
//! Input layout: byte 0 picks the receive limit, byte 1 a chunk size; the
//! rest is the stream. Checks that the decoder never panics, that every
//! byte it takes is accounted for, that chunking does not change the
//! result, and that decompression respects its limit.

use bytes::Bytes;
use grpc_sansio::grpc::compression::{CompressionRegistry, decompress_message};
use grpc_sansio::grpc::message::{Message, MessageDecoder};

type Outcome = (
    Vec<Message>,
    Option<grpc_sansio::grpc::message::MessageError>,
);

fn deframe(max: usize, stream: &[u8], chunk: usize) -> Outcome {
    let mut decoder = MessageDecoder::with_max_message_size(max);
    let mut messages = Vec::new();
    let mut taken = 0usize;
    let mut delivered = 0usize;
    for piece in stream.chunks(chunk.max(1)) {
        let mut input = Bytes::copy_from_slice(piece);
        loop {
            let before = input.len();
            let result = decoder.decode(&mut input);
            taken += before - input.len();
            match result {
                Ok(Some(m)) => {
                    assert!(m.payload.len() <= max);
                    delivered += m.wire_len();
                    messages.push(m);
                }
                Ok(None) => break,
                Err(e) => return (messages, Some(e)),
            }
        }
        assert!(input.is_empty());
        assert_eq!(taken, delivered + decoder.buffered_len());
        assert!(decoder.buffered_len() <= max.saturating_add(5));
    }
    (messages, decoder.finish().err())
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let (&limit_byte, rest) = match data.split_first() {
        Some(x) => x,
        None => return,
    };
    let (&chunk_byte, stream) = match rest.split_first() {
        Some(x) => x,
        None => return,
    };
    let max = match limit_byte % 4 {
        0 => 0,
        1 => usize::from(limit_byte),
        2 => 4096,
        _ => 4 << 20,
    };
    let whole = deframe(max, stream, stream.len());
    let split = deframe(max, stream, usize::from(chunk_byte));
    assert_eq!(whole, split);

    let registry = CompressionRegistry::default();
    for name in [&b"gzip"[..], b"identity"] {
        let Ok(compressor) = registry.for_receive(Some(name)) else {
            continue;
        };
        for m in &whole.0 {
            let limit = 1 << 16;
            if let Ok(out) = decompress_message(compressor.as_ref(), m.clone(), limit) {
                assert!(out.len() <= limit);
            }
        }
    }
}
