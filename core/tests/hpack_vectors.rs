//! Runs the language-neutral HPACK vectors in spec/vectors/hpack.json, and
//! checks the ones that decode against the `hpack` crate as an oracle.

use std::path::Path;

use bytes::Bytes;
use grpc_sansio::hpack::{DecodeError, Decoder, HeaderField, HuffmanError};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    #[serde(default = "default_table_size")]
    table_size: usize,
    #[serde(default)]
    blocks: Vec<Block>,
    hex: Option<String>,
    error: Option<String>,
    max_list_size: Option<usize>,
}

#[derive(Deserialize, Clone)]
struct Block {
    hex: String,
    headers: Option<Vec<(String, String)>>,
    sensitive: Option<Vec<bool>>,
    max_list_size: Option<usize>,
    set_table_size: Option<usize>,
    table_size_after: Option<usize>,
    error: Option<String>,
}

fn default_table_size() -> usize {
    4096
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A vector string: raw bytes when written `hex:...`, else UTF-8.
fn text(s: &str) -> Vec<u8> {
    match s.strip_prefix("hex:") {
        Some(h) => unhex(h),
        None => s.as_bytes().to_vec(),
    }
}

fn error_name(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::IntegerOverflow => "integer_overflow",
        DecodeError::IntegerOverlong => "integer_overlong",
        DecodeError::TruncatedInteger => "truncated_integer",
        DecodeError::TruncatedString => "truncated_string",
        DecodeError::InvalidIndex(_) => "invalid_index",
        DecodeError::InvalidHuffman(HuffmanError::EosSymbol) => "huffman_eos",
        DecodeError::InvalidHuffman(HuffmanError::PaddingTooLong) => "huffman_padding_too_long",
        DecodeError::InvalidHuffman(HuffmanError::InvalidPadding) => "huffman_invalid_padding",
        DecodeError::SizeUpdateTooLarge { .. } => "size_update_too_large",
        DecodeError::SizeUpdateNotAtStart => "size_update_not_at_start",
        DecodeError::MissingSizeUpdate => "missing_size_update",
        DecodeError::HeaderListTooLarge => "header_list_too_large",
        _ => "unknown",
    }
}

fn load() -> Vec<Vector> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/hpack.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let file: File = serde_json::from_str(&text).unwrap();
    file.vectors
}

/// The blocks of a vector, the single-block form turned into a list.
fn blocks(v: &Vector) -> Vec<Block> {
    let mut blocks = v.blocks.clone();
    if let Some(hex) = &v.hex {
        blocks.push(Block {
            hex: hex.clone(),
            headers: None,
            sensitive: None,
            max_list_size: v.max_list_size,
            set_table_size: None,
            table_size_after: None,
            error: v.error.clone(),
        });
    }
    blocks
}

#[test]
fn vectors() {
    let vectors = load();
    let (mut n_ok, mut n_err, mut n_blocks) = (0, 0, 0);
    for v in &vectors {
        let blocks = blocks(v);
        assert!(!blocks.is_empty(), "{}: no blocks", v.name);
        let mut decoder = Decoder::new(v.table_size);
        let mut failed = false;
        for (i, block) in blocks.iter().enumerate() {
            let ctx = format!("{} (block {i})", v.name);
            if let Some(size) = block.set_table_size {
                decoder.set_max_table_size(size);
            }
            let wire = Bytes::from(unhex(&block.hex));
            let limit = block.max_list_size.unwrap_or(usize::MAX);
            let mut fields = Vec::new();
            let result = decoder.decode(&wire, limit, &mut fields);
            n_blocks += 1;
            match (&block.error, &result) {
                (None, Ok(())) => {}
                (Some(want), Err(e)) => {
                    assert_eq!(error_name(e), want, "{ctx}: {e}");
                    assert_eq!(e.is_connection_error(), want != "header_list_too_large");
                    failed = true;
                }
                _ => panic!("{ctx}: expected {:?}, got {result:?}", block.error),
            }
            if let Some(headers) = &block.headers {
                let want: Vec<(Vec<u8>, Vec<u8>)> =
                    headers.iter().map(|(n, v)| (text(n), text(v))).collect();
                let got: Vec<(Vec<u8>, Vec<u8>)> = fields
                    .iter()
                    .map(|f| (f.name.to_vec(), f.value.to_vec()))
                    .collect();
                assert_eq!(got, want, "{ctx}");
                let sensitive = block
                    .sensitive
                    .clone()
                    .unwrap_or_else(|| vec![false; fields.len()]);
                let got: Vec<bool> = fields.iter().map(|f| f.sensitive).collect();
                assert_eq!(got, sensitive, "{ctx}");
            }
            if let Some(size) = block.table_size_after {
                assert_eq!(decoder.table_size(), size, "{ctx}: table size");
            }
            assert!(fields.iter().map(HeaderField::size).sum::<usize>() <= limit);
        }
        if failed {
            n_err += 1;
        } else {
            n_ok += 1;
        }
    }
    println!(
        "{} HPACK vectors ({n_ok} decode, {n_err} end in an error), {n_blocks} blocks",
        vectors.len()
    );
    assert!(vectors.len() >= 40, "only {} vectors", vectors.len());
}

/// Vectors that decode without error decode the same with the `hpack`
/// crate. Only well-formed input goes to it (its decoder panics on some
/// malformed blocks).
#[test]
fn oracle_agrees_on_valid_vectors() {
    let mut checked = 0;
    for v in load() {
        // The oracle's static table has "accept-" for entry 15
        // ("accept-charset" in RFC 7541 Appendix A).
        if v.name == "every static entry by index" {
            continue;
        }
        let blocks = blocks(&v);
        if blocks
            .iter()
            .any(|b| b.error.is_some() || b.set_table_size.is_some())
        {
            continue;
        }
        let mut oracle = hpack::Decoder::new();
        oracle.set_max_table_size(v.table_size);
        for block in &blocks {
            let want: Vec<(Vec<u8>, Vec<u8>)> = block
                .headers
                .as_ref()
                .unwrap()
                .iter()
                .map(|(n, v)| (text(n), text(v)))
                .collect();
            let got = oracle.decode(&unhex(&block.hex)).unwrap();
            assert_eq!(got, want, "{}", v.name);
            checked += 1;
        }
    }
    assert!(checked > 20);
}
