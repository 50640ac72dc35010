//! Conformance against the hpack-test-case corpus (spec/hpack-test-case):
//! header blocks produced by other implementations' encoders must decode to
//! the recorded header lists, and our encoder must round-trip every recorded
//! list through our decoder.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use grpc_sansio::hpack::{Decoder, Encoder, HeaderField};
use serde_json::Value;

struct Case {
    table_size: Option<usize>,
    wire: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/hpack-test-case")
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn load_story(path: &Path) -> Vec<Case> {
    let text = fs::read_to_string(path).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let cases = json["cases"].as_array().expect("cases");
    cases
        .iter()
        .map(|case| Case {
            table_size: case
                .get("header_table_size")
                .and_then(Value::as_u64)
                .map(|n| n as usize),
            wire: case.get("wire").and_then(Value::as_str).map(unhex),
            headers: case["headers"]
                .as_array()
                .expect("headers")
                .iter()
                .map(|h| {
                    let obj = h.as_object().expect("header object");
                    assert_eq!(obj.len(), 1);
                    let (name, value) = obj.iter().next().unwrap();
                    (
                        name.as_bytes().to_vec(),
                        value.as_str().expect("value").as_bytes().to_vec(),
                    )
                })
                .collect(),
        })
        .collect()
}

/// Every story file of every folder, as (folder, file, cases).
fn stories() -> Vec<(String, PathBuf, Vec<Case>)> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let folder = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let cases = load_story(&file);
            out.push((folder.clone(), file, cases));
        }
    }
    out
}

fn pairs(fields: &[HeaderField]) -> Vec<(Vec<u8>, Vec<u8>)> {
    fields
        .iter()
        .map(|f| (f.name.to_vec(), f.value.to_vec()))
        .collect()
}

#[test]
fn decodes_every_story() {
    let mut folders = std::collections::BTreeSet::new();
    let (mut n_stories, mut n_cases) = (0, 0);
    for (folder, file, cases) in stories() {
        if folder == "raw-data" {
            continue;
        }
        folders.insert(folder.clone());
        n_stories += 1;
        let first_size = cases.first().and_then(|c| c.table_size).unwrap_or(4096);
        let mut decoder = Decoder::new(first_size);
        for (i, case) in cases.iter().enumerate() {
            if let (Some(size), true) = (case.table_size, i > 0) {
                decoder.set_max_table_size(size);
            }
            let wire = Bytes::from(case.wire.clone().expect("wire"));
            let mut fields = Vec::new();
            decoder
                .decode(&wire, usize::MAX, &mut fields)
                .unwrap_or_else(|e| panic!("{}: case {i}: {e}", file.display()));
            assert_eq!(pairs(&fields), case.headers, "{}: case {i}", file.display());
            assert!(decoder.table_size() <= decoder.table_capacity());
            n_cases += 1;
        }
    }
    println!(
        "decoded {n_stories} stories, {n_cases} header blocks, from {} encoders",
        folders.len()
    );
    assert!(folders.len() >= 11, "{folders:?}");
    assert!(n_stories > 300 && n_cases > 0);
}

#[test]
fn encoder_round_trips_every_story() {
    let (mut n_stories, mut n_cases, mut wire_bytes, mut raw_bytes) = (0, 0, 0usize, 0usize);
    for (_folder, file, cases) in stories() {
        n_stories += 1;
        let mut encoder = Encoder::new();
        let mut decoder = Decoder::new(4096);
        for (i, case) in cases.iter().enumerate() {
            if let Some(size) = case.table_size {
                encoder.set_max_table_size(size);
                decoder.set_max_table_size(size);
            }
            let mut block = BytesMut::new();
            encoder.encode(
                case.headers
                    .iter()
                    .map(|(n, v)| (n.as_slice(), v.as_slice(), false)),
                &mut block,
            );
            wire_bytes += block.len();
            raw_bytes += case
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>();
            let mut fields = Vec::new();
            decoder
                .decode(&block.freeze(), usize::MAX, &mut fields)
                .unwrap_or_else(|e| panic!("{}: case {i}: {e}", file.display()));
            assert_eq!(pairs(&fields), case.headers, "{}: case {i}", file.display());
            assert_eq!(encoder.table_size(), decoder.table_size());
            n_cases += 1;
        }
    }
    println!(
        "round-tripped {n_stories} stories, {n_cases} header lists; {raw_bytes} bytes of names and values became {wire_bytes} bytes of blocks"
    );
    assert!(n_stories > 300 && n_cases > 0);
}
