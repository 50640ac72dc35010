//! Differential tests against the `hpack` crate (a test oracle only): random
//! header lists encoded by it decode identically with our decoder, and
//! encoded by us decode identically with it. Several lists share one
//! compression context, so dynamic table indexing and eviction are covered.

use bytes::{Bytes, BytesMut};
use grpc_sansio::hpack::{Decoder, Encoder};
use proptest::prelude::*;

type List = Vec<(Vec<u8>, Vec<u8>)>;

/// Header names: a pool of common ones (so the tables get hits) and random
/// lowercase tokens. "accept-" and "accept-charset" are left out: the
/// oracle's static table has the former where RFC 7541 has the latter.
fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            ":method",
            ":path",
            ":authority",
            ":scheme",
            ":status",
            "content-type",
            "te",
            "user-agent",
            "grpc-timeout",
            "grpc-encoding",
            "grpc-accept-encoding",
            "authorization",
            "cookie",
            "x-trace-bin",
            "accept-encoding",
            "cache-control",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        "[a-z0-9][a-z0-9-]{0,20}"
            .prop_filter("oracle static table bug", |s| s != "accept-"
                && s != "accept-charset")
            .prop_map(String::into_bytes),
    ]
}

/// Values: common ones, printable text, and arbitrary bytes (non-ASCII
/// included), sometimes long enough to evict.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "POST",
            "GET",
            "http",
            "200",
            "application/grpc",
            "trailers",
            "gzip"
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        "[ -~]{0,40}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(any::<u8>(), 0..3000),
    ]
}

fn lists() -> impl Strategy<Value = Vec<List>> {
    let list = prop::collection::vec((name(), value()), 0..16);
    prop::collection::vec(list, 1..6)
}

fn ours_decode(decoder: &mut Decoder, block: Vec<u8>) -> List {
    let mut out = Vec::new();
    decoder
        .decode(&Bytes::from(block), usize::MAX, &mut out)
        .expect("our decoder rejected a valid block");
    out.into_iter()
        .map(|f| (f.name.to_vec(), f.value.to_vec()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn oracle_encodes_we_decode(lists in lists()) {
        let mut theirs = hpack::Encoder::new();
        let mut ours = Decoder::new(4096);
        for list in &lists {
            let block = theirs.encode(list.iter().map(|(n, v)| (&n[..], &v[..])));
            prop_assert_eq!(&ours_decode(&mut ours, block), list);
        }
    }

    #[test]
    fn we_encode_oracle_decodes(lists in lists()) {
        let mut ours = Encoder::new();
        let mut theirs = hpack::Decoder::new();
        let mut check = Decoder::new(4096);
        for list in &lists {
            let mut block = BytesMut::new();
            ours.encode(list.iter().map(|(n, v)| (&n[..], &v[..], false)), &mut block);
            let got = theirs.decode(&block).expect("oracle rejected our block");
            prop_assert_eq!(&got, list);
            prop_assert_eq!(&ours_decode(&mut check, block.to_vec()), list);
        }
    }

    /// Table size changes: our encoder's size updates are accepted by the
    /// oracle and by us.
    #[test]
    fn size_updates_agree(lists in lists(), sizes in prop::collection::vec(0usize..5000, 6)) {
        let mut ours = Encoder::new();
        let mut theirs = hpack::Decoder::new();
        let mut check = Decoder::new(4096);
        for (list, size) in lists.iter().zip(sizes) {
            ours.set_max_table_size(size);
            theirs.set_max_table_size(size);
            check.set_max_table_size(size);
            let mut block = BytesMut::new();
            ours.encode(list.iter().map(|(n, v)| (&n[..], &v[..], false)), &mut block);
            let got = theirs.decode(&block).expect("oracle rejected our block");
            prop_assert_eq!(&got, list);
            prop_assert_eq!(&ours_decode(&mut check, block.to_vec()), list);
            prop_assert_eq!(ours.table_size(), check.table_size());
        }
    }
}
