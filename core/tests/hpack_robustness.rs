//! Any input, well-formed or not: the decoder returns `Ok` or a typed error,
//! never panics, never appends more than the list limit, and never lets its
//! table pass the size we allow.

use bytes::{Bytes, BytesMut};
use grpc_sansio::hpack::{DecodeError, Decoder, Encoder, HeaderField};
use proptest::prelude::*;

/// Decodes `blocks` in order like a connection would (stopping at the first
/// connection error) and checks the invariants after each.
fn check_blocks(table_size: usize, limit: usize, blocks: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let mut decoder = Decoder::new(table_size);
    for block in blocks {
        let mut out = Vec::new();
        let result = decoder.decode(&Bytes::copy_from_slice(block), limit, &mut out);
        let total: usize = out.iter().map(HeaderField::size).sum();
        prop_assert!(total <= limit, "{total} > {limit}");
        prop_assert!(decoder.table_size() <= decoder.table_capacity());
        prop_assert!(decoder.table_capacity() <= table_size);
        match result {
            Ok(()) => {}
            Err(DecodeError::HeaderListTooLarge) => {}
            Err(e) => {
                prop_assert!(e.is_connection_error());
                let _ = e.to_string();
                break;
            }
        }
    }
    Ok(())
}

/// A valid block for a random list, so mutations start from something the
/// decoder gets deep into.
fn valid_block() -> impl Strategy<Value = Vec<u8>> {
    let field = (
        prop::sample::select(vec![
            ":path",
            ":authority",
            "content-type",
            "x-a",
            "grpc-timeout",
            "cookie",
        ]),
        prop::collection::vec(any::<u8>(), 0..200),
        any::<bool>(),
    );
    prop::collection::vec(field, 0..12).prop_map(|fields| {
        let mut enc = Encoder::new();
        let mut dst = BytesMut::new();
        // Twice, so the second block refers to the dynamic table.
        for _ in 0..2 {
            dst.clear();
            enc.encode(
                fields.iter().map(|(n, v, s)| (n.as_bytes(), &v[..], *s)),
                &mut dst,
            );
        }
        dst.to_vec()
    })
}

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        valid_block(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
    )
        .prop_map(|(mut block, edits)| {
            for (at, byte) in edits {
                if !block.is_empty() {
                    let i = at.index(block.len());
                    block[i] = byte;
                }
            }
            block
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes(
        table_size in prop::sample::select(vec![0usize, 64, 256, 4096]),
        limit in 0usize..2000,
        blocks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..4),
    ) {
        check_blocks(table_size, limit, &blocks)?;
    }

    #[test]
    fn mutated_valid_blocks(
        table_size in prop::sample::select(vec![0usize, 100, 4096]),
        limit in prop::sample::select(vec![0usize, 40, 300, 1000, usize::MAX]),
        blocks in prop::collection::vec(mutated(), 1..4),
    ) {
        check_blocks(table_size, limit, &blocks)?;
    }

    /// Whatever our encoder produces decodes back to the same list, with
    /// sensitive fields still marked sensitive.
    #[test]
    fn encoder_round_trip(
        lists in prop::collection::vec(
            prop::collection::vec(
                ("[a-z:-]{0,12}", prop::collection::vec(any::<u8>(), 0..100), any::<bool>()),
                0..10,
            ),
            1..5,
        ),
    ) {
        let mut enc = Encoder::new();
        let mut dec = Decoder::new(4096);
        for list in &lists {
            let mut block = BytesMut::new();
            enc.encode(list.iter().map(|(n, v, s)| (n.as_bytes(), &v[..], *s)), &mut block);
            let mut out = Vec::new();
            dec.decode(&block.freeze(), usize::MAX, &mut out).unwrap();
            prop_assert_eq!(out.len(), list.len());
            for (f, (n, v, s)) in out.iter().zip(list) {
                prop_assert_eq!(&f.name[..], n.as_bytes());
                prop_assert_eq!(&f.value[..], &v[..]);
                prop_assert!(f.sensitive || !s);
            }
            prop_assert_eq!(enc.table_size(), dec.table_size());
        }
    }
}
