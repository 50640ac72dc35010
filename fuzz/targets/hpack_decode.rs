//! Fuzz body for the HPACK decoder, shared by the cargo-fuzz target
//! (`fuzz/fuzz_targets/hpack_decode.rs`) and the corpus replay test
//! (`tests/tests/fuzz_replay_hpack.rs`).
//!
//! Input layout: the first byte picks the table size (bits 0-2), the header
//! list limit (bits 3-4), the number of blocks (bits 5-6) and the echo mode
//! (bit 7). Without echo, 1 to 4 blocks: every block but the last is
//! preceded by a one-byte length; the last takes the rest. With echo, 3 to
//! 9 blocks, each preceded by two bytes, `keep` and `add`: the block is the
//! first `keep` bytes of the block before it followed by the next `add`
//! bytes of input (the last block takes the rest), so that blocks repeat
//! in whole or up to a point with a new tail, as a peer's request heads
//! do, and the decoder's memo of recent blocks answers them.
//!
//! The blocks go through one decoder, as on a connection, and through a
//! reference decoder that never answers from its memo (each block reaches
//! it behind a dynamic table size update to the size it already has, which
//! changes nothing in the table but counts as a change, so its memo is
//! always empty): both must give the same fields, errors and table size.
//! Each list that decodes is re-encoded with our encoder and decoded again
//! by a second pair, which must give it back. Any Huffman string that
//! decodes must re-encode to exactly the same bytes (the code and the
//! padding rule leave one valid encoding per string).

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
    let count = usize::from((config >> 5) & 3);
    let echo = config & 0x80 != 0;

    let mut blocks: Vec<Vec<u8>> = Vec::new();
    if echo {
        let n_blocks = 3 + 2 * count;
        for i in 0..n_blocks {
            let [keep, add, tail @ ..] = rest else {
                break;
            };
            let kept = blocks
                .last()
                .map_or(&[][..], |b| &b[..usize::from(*keep).min(b.len())]);
            let add = if i + 1 == n_blocks {
                tail.len()
            } else {
                usize::from(*add).min(tail.len())
            };
            let (new, tail) = tail.split_at(add);
            blocks.push([kept, new].concat());
            rest = tail;
        }
    } else {
        let n_blocks = 1 + count;
        for i in 0..n_blocks {
            if i + 1 == n_blocks {
                blocks.push(rest.to_vec());
                break;
            }
            let Some((&len, tail)) = rest.split_first() else {
                break;
            };
            let len = usize::from(len).min(tail.len());
            let (block, tail) = tail.split_at(len);
            blocks.push(block.to_vec());
            rest = tail;
        }
    }

    check_huffman(rest);

    let mut decoder = Decoder::new(table_size);
    let mut reference = Decoder::new(table_size);
    let mut encoder = Encoder::new();
    let mut again = Decoder::new(4096);
    for block in blocks {
        let mut fields = Vec::new();
        let result = decoder.decode(&Bytes::copy_from_slice(&block), limit, &mut fields);
        let mut unremembered = Vec::new();
        let mut update = Vec::new();
        size_update(reference.table_capacity(), &mut update);
        update.extend_from_slice(&block);
        let expected = reference.decode(&Bytes::from(update), limit, &mut unremembered);
        assert_eq!(result, expected, "the memo changed the outcome");
        assert_eq!(fields, unremembered, "the memo changed the fields");
        assert_eq!(decoder.table_size(), reference.table_size());
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

/// Appends a dynamic table size update to `size` (RFC 7541 §6.3: a 5-bit
/// prefix integer under the pattern 001).
fn size_update(size: usize, dst: &mut Vec<u8>) {
    if size < 31 {
        dst.push(0x20 | size as u8);
        return;
    }
    dst.push(0x20 | 31);
    let mut rest = size - 31;
    while rest >= 0x80 {
        dst.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    dst.push(rest as u8);
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
