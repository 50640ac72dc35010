//! HPACK bombs: small blocks that would expand to a huge header list. The
//! decoder must stop producing fields at the limit, return the soft
//! `HeaderListTooLarge`, and keep its table in step so that the connection
//! goes on.

use std::time::Instant;

use bytes::Bytes;
use grpc_sansio::hpack::{DecodeError, Decoder, HeaderField, huffman};

const LIMIT: usize = 16 * 1024;

fn literal_with_indexing(dst: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    dst.push(0x40);
    push_string(dst, name);
    push_string(dst, value);
}

fn push_string(dst: &mut Vec<u8>, s: &[u8]) {
    push_int(dst, s.len(), 7, 0);
    dst.extend_from_slice(s);
}

fn push_int(dst: &mut Vec<u8>, mut v: usize, prefix: u8, flags: u8) {
    let max = (1 << prefix) - 1;
    if v < max {
        dst.push(flags | v as u8);
        return;
    }
    dst.push(flags | max as u8);
    v -= max;
    while v >= 128 {
        dst.push(0x80 | (v & 0x7f) as u8);
        v >>= 7;
    }
    dst.push(v as u8);
}

#[test]
fn one_entry_referenced_thousands_of_times() {
    // A 4,033-byte entry (name "x", 4,000-byte value), then 16,000
    // references to it: a 20 KB block that names 64.5 MB of fields.
    let value = vec![b'a'; 4000];
    let mut block = Vec::new();
    literal_with_indexing(&mut block, b"x", &value);
    block.extend(std::iter::repeat_n(0xbe, 16_000));
    let expanded = 16_001 * (1 + 4000 + 32);
    assert!(block.len() < 21_000 && expanded > 60 << 20);

    let mut decoder = Decoder::new(4096);
    let mut out = Vec::new();
    let started = Instant::now();
    let result = decoder.decode(&Bytes::from(block), LIMIT, &mut out);
    let elapsed = started.elapsed();

    assert_eq!(result, Err(DecodeError::HeaderListTooLarge));
    assert!(!result.unwrap_err().is_connection_error());
    // Output: what fits the limit (4 fields of 4,033 bytes), no more.
    let total: usize = out.iter().map(HeaderField::size).sum();
    assert!(total <= LIMIT, "{total}");
    assert_eq!(out.len(), 4);
    assert!(
        out.capacity() <= 16,
        "output vector grew to {}",
        out.capacity()
    );
    // No copies: every field shares the table entry's one allocation.
    let ptr = out[0].value.as_ptr();
    assert!(
        out.iter()
            .all(|f| f.value.as_ptr() == ptr && f.value == value)
    );
    assert!(elapsed.as_secs() < 2, "{elapsed:?}");

    // The table is in step with the peer: the next block refers to the
    // entry again and decodes in full.
    let mut next = Vec::new();
    decoder
        .decode(&Bytes::from_static(b"\xbe\x83"), LIMIT, &mut next)
        .unwrap();
    assert_eq!(next.len(), 2);
    assert_eq!(
        (&next[0].name[..], &next[0].value[..]),
        (&b"x"[..], &value[..])
    );
    assert_eq!(
        (&next[1].name[..], &next[1].value[..]),
        (&b":method"[..], &b"POST"[..])
    );
}

#[test]
fn huffman_entries_inserted_after_the_limit_are_still_tracked() {
    // Past the limit, literal fields with indexing still go into the table
    // (they have to: the peer's encoder inserted them). Huffman-coded ones
    // too. Oversized ones empty it, as RFC 7541 §4.4 says.
    let mut block = Vec::new();
    let filler = vec![b'f'; 3000];
    block.push(0x00); // literal without indexing, new name
    push_string(&mut block, b"filler");
    push_string(&mut block, &filler);
    // Huffman-coded entry inserted after the list is already over the limit.
    let mut coded = Vec::new();
    huffman::encode(b"/helloworld.Greeter/SayHello", &mut coded);
    block.push(0x44); // :path, incremental indexing
    push_int(&mut block, coded.len(), 7, 0x80);
    block.extend_from_slice(&coded);

    let mut decoder = Decoder::new(4096);
    let mut out = Vec::new();
    let result = decoder.decode(&Bytes::from(block), 1000, &mut out);
    assert_eq!(result, Err(DecodeError::HeaderListTooLarge));
    assert!(out.is_empty());
    assert_eq!(decoder.table_size(), 5 + 28 + 32);

    let mut next = Vec::new();
    decoder
        .decode(&Bytes::from_static(b"\xbe"), 1000, &mut next)
        .unwrap();
    assert_eq!(&next[0].value[..], b"/helloworld.Greeter/SayHello");

    // An entry bigger than the table, past the limit: empties the table.
    let mut block = Vec::new();
    block.push(0x00);
    push_string(&mut block, b"filler");
    push_string(&mut block, &filler);
    literal_with_indexing(&mut block, b"big", &vec![b'b'; 5000]);
    let result = decoder.decode(&Bytes::from(block), 1000, &mut Vec::new());
    assert_eq!(result, Err(DecodeError::HeaderListTooLarge));
    assert_eq!(decoder.table_size(), 0);
    let result = decoder.decode(&Bytes::from_static(b"\xbe"), 1000, &mut Vec::new());
    assert_eq!(result, Err(DecodeError::InvalidIndex(62)));
}

#[test]
fn many_large_literals_stop_at_the_limit() {
    // Forty 10 KB literal fields: 400 KB, none of them indexed.
    let mut block = Vec::new();
    for _ in 0..40 {
        block.push(0x00);
        push_string(&mut block, b"v");
        push_string(&mut block, &[b'z'; 10_000]);
    }
    let block = Bytes::from(block);
    let mut decoder = Decoder::new(4096);
    let mut out = Vec::new();
    let result = decoder.decode(&block, LIMIT, &mut out);
    assert_eq!(result, Err(DecodeError::HeaderListTooLarge));
    assert_eq!(out.len(), 1);
    // Raw literals are slices of the block, not copies.
    let range = block.as_ptr_range();
    assert!(range.contains(&out[0].value.as_ptr()));
}
