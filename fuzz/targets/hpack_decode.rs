//! Fuzz body for the HPACK decoder, shared by the cargo-fuzz target
//! (`fuzz/fuzz_targets/hpack_decode.rs`) and the corpus replay test
//! (`tests/tests/fuzz_replay_hpack.rs`).
//!
//! Input layout: the first byte picks the table size (bits 0-2), the header
//! list limit (bits 3-4) and the number of blocks, 1 to 4 (bits 5-6). Every
//! block but the last is preceded by a one-byte length; the last takes the
//! rest. The blocks go through one decoder, as on a connection. Each list
//! that decodes is re-encoded with our encoder and decoded again by a
//! second pair, which must give it back. Any Huffman string that decodes
//! must re-encode to exactly the same bytes (the code and the padding rule
//! leave one valid encoding per string).

use bytes::{Bytes, BytesMut};
use grpc_sansio::hpack::{DecodeError, Decoder, Encoder, HeaderField, huffman};

const TABLE_SIZES: [usize; 8] = [4096, 0, 64, 256, 1024, 4096, 16384, 65536];
const LIMITS: [usize; 4] = [usize::MAX, 16384, 1024, 64];

/// Runs one fuzz input. Panics on any broken invariant.
pub fn run(data: &[u8]) {
    let Some((&config, mut rest)) = data.split_first() else {
        return;
    };
    let table_size = TABLE_SIZES[usize::from(config & 7)];
    let limit = LIMITS[usize::from((config >> 3) & 3)];
    let n_blocks = 1 + usize::from((config >> 5) & 3);

    let mut blocks = Vec::new();
    for i in 0..n_blocks {
        if i + 1 == n_blocks {
            blocks.push(rest);
            break;
        }
        let Some((&len, tail)) = rest.split_first() else {
            break;
        };
        let len = usize::from(len).min(tail.len());
        let (block, tail) = tail.split_at(len);
        blocks.push(block);
        rest = tail;
    }

    check_huffman(rest);

    let mut decoder = Decoder::new(table_size);
    let mut encoder = Encoder::new();
    let mut again = Decoder::new(4096);
    for block in blocks {
        let mut fields = Vec::new();
        let result = decoder.decode(&Bytes::copy_from_slice(block), limit, &mut fields);
        let total: usize = fields.iter().map(HeaderField::size).sum();
        assert!(
            total <= limit,
            "list of {total} bytes passed the limit {limit}"
        );
        assert!(decoder.table_size() <= decoder.table_capacity());
        assert!(decoder.table_capacity() <= table_size);
        match result {
            Ok(()) => {}
            Err(DecodeError::HeaderListTooLarge) => continue,
            Err(e) => {
                assert!(e.is_connection_error());
                assert!(!e.to_string().is_empty());
                return;
            }
        }
        let mut wire = BytesMut::new();
        encoder.encode_fields(&fields, &mut wire);
        let mut decoded = Vec::new();
        again
            .decode(&wire.freeze(), usize::MAX, &mut decoded)
            .expect("our decoder rejected our encoder's block");
        assert_eq!(decoded.len(), fields.len());
        for (a, b) in fields.iter().zip(&decoded) {
            assert_eq!(a.name, b.name);
            assert_eq!(a.value, b.value);
            assert!(b.sensitive || !a.sensitive, "sensitive flag lost");
        }
        assert_eq!(encoder.table_size(), again.table_size());
    }
}

fn check_huffman(data: &[u8]) {
    let mut decoded = Vec::new();
    if huffman::decode(data, &mut decoded).is_ok() {
        assert!(decoded.len() <= data.len() * 8 / 5);
        let mut encoded = Vec::new();
        huffman::encode(&decoded, &mut encoded);
        assert_eq!(encoded, data, "Huffman decode/encode is not the identity");
        assert_eq!(huffman::encoded_len(&decoded), data.len());
    }
}
