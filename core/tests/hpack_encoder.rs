//! The encoder's choices, checked byte by byte: representation per field,
//! dynamic table use across blocks, size updates.

use bytes::BytesMut;
use grpc_sansio::hpack::{Decoder, Encoder, huffman};

fn huff(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    huffman::encode(s, &mut out);
    out
}

fn encode(encoder: &mut Encoder, fields: &[(&str, &str, bool)]) -> Vec<u8> {
    let mut dst = BytesMut::new();
    encoder.encode(
        fields
            .iter()
            .map(|(n, v, s)| (n.as_bytes(), v.as_bytes(), *s)),
        &mut dst,
    );
    dst.to_vec()
}

const REQUEST: &[(&str, &str, bool)] = &[
    (":method", "POST", false),
    (":scheme", "http", false),
    (":path", "/x", false),
    ("te", "trailers", false),
    ("grpc-timeout", "1S", false),
    ("authorization", "secret", false),
    ("x-id", "7", true),
];

#[test]
fn grpc_request_cold_then_warm() {
    let mut encoder = Encoder::new();
    let cold = encode(&mut encoder, REQUEST);

    let mut want = vec![0x83, 0x86]; // static :method POST, :scheme http
    want.extend([0x44, 0x02, b'/', b'x']); // :path, indexed, raw (Huffman no shorter)
    want.extend([0x40, 0x02, b't', b'e']); // te: new name, indexed
    let trailers = huff(b"trailers");
    want.push(0x80 | trailers.len() as u8);
    want.extend(&trailers);
    let name = huff(b"grpc-timeout");
    // grpc-timeout: the first one is inserted (so that later ones name it
    // by index); its short value goes raw, not Huffman-coded.
    want.push(0x40);
    want.push(0x80 | name.len() as u8);
    want.extend(&name);
    want.extend([0x02, b'1', b'S']);
    let secret = huff(b"secret");
    want.extend([0x1f, 0x08]); // authorization (static 23): never indexed
    want.push(0x80 | secret.len() as u8);
    want.extend(&secret);
    let x_id = huff(b"x-id");
    want.extend([0x10, 0x80 | x_id.len() as u8]); // sensitive: never indexed
    want.extend(&x_id);
    want.extend([0x01, b'7']);
    assert_eq!(cold, want);
    assert_eq!(
        encoder.table_size(),
        (5 + 2 + 32) + (2 + 8 + 32) + (12 + 2 + 32)
    );

    let warm = encode(&mut encoder, REQUEST);
    let mut want = vec![0x83, 0x86, 0xc0, 0xbf]; // :path is 64, te is 63
    // grpc-timeout (62) by name, its value a literal even though the table
    // holds this very value: volatile values are never matched whole.
    want.push(0x0f);
    want.push(62 - 15);
    want.extend([0x02, b'1', b'S']);
    want.extend([0x1f, 0x08, 0x80 | secret.len() as u8]);
    want.extend(&secret);
    want.extend([0x10, 0x80 | x_id.len() as u8]);
    want.extend(&x_id);
    want.extend([0x01, b'7']);
    assert_eq!(warm, want);

    // And the decoder agrees, flagging the never-indexed fields.
    let mut decoder = Decoder::new(4096);
    for block in [cold, warm] {
        let mut out = Vec::new();
        decoder.decode(&block.into(), usize::MAX, &mut out).unwrap();
        let got: Vec<_> = out
            .iter()
            .map(|f| (&f.name[..], &f.value[..], f.sensitive))
            .collect();
        let authorization = (&b"authorization"[..], &b"secret"[..], true);
        assert_eq!(got[5], authorization);
        assert!(got[6].2);
        assert_eq!(got.len(), REQUEST.len());
    }
}

#[test]
fn bin_metadata_is_never_indexed_and_big_values_are_not_indexed() {
    let mut encoder = Encoder::new();
    let big = "v".repeat(2100);
    let block = encode(
        &mut encoder,
        &[("trace-bin", "AAEC", false), ("x-big", &big, false)],
    );
    assert_eq!(block[0], 0x10, "-bin field never indexed");
    assert_eq!(encoder.table_size(), 0, "2 KB field not indexed");
    let mut out = Vec::new();
    Decoder::new(4096)
        .decode(&block.into(), usize::MAX, &mut out)
        .unwrap();
    assert!(out[0].sensitive && !out[1].sensitive);
    assert_eq!(out[1].value.len(), 2100);
}

#[test]
fn size_updates() {
    let mut encoder = Encoder::new();
    encode(&mut encoder, &[("a", "1", false)]);
    assert_eq!(encoder.table_size(), 34);

    // Shrink to 0: one update, table emptied.
    encoder.set_max_table_size(0);
    assert_eq!(
        encode(&mut encoder, &[(":method", "GET", false)]),
        [0x20, 0x82]
    );
    assert_eq!(encoder.table_size(), 0);

    // Shrink then grow before the next block: the minimum, then the final.
    encoder.set_max_table_size(100);
    encoder.set_max_table_size(10);
    encoder.set_max_table_size(4096);
    assert_eq!(
        encode(&mut encoder, &[(":method", "GET", false)]),
        [0x20 | 10, 0x3f, 0xe1, 0x1f, 0x82]
    );

    // Growing past our own limit changes nothing.
    encoder.set_max_table_size(65536);
    assert_eq!(encode(&mut encoder, &[(":method", "GET", false)]), [0x82]);

    // A smaller own limit is announced in the first block.
    let mut small = Encoder::with_table_limit(256);
    assert_eq!(
        encode(&mut small, &[(":method", "GET", false)]),
        [0x3f, 0xe1, 0x01, 0x82]
    );
}
