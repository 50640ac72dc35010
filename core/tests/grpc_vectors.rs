//! Runs the language-neutral gRPC wire-format vectors in `spec/vectors/`
//! (timeout, metadata, status, messages) against `grpc_sansio::grpc`.

use std::path::PathBuf;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use grpc_sansio::grpc::message::{
    DEFAULT_MAX_RECEIVE_MESSAGE_SIZE, MessageDecoder, MessageError, encode_message,
};
use grpc_sansio::grpc::metadata::{MetadataError, MetadataMap, Received};
use grpc_sansio::grpc::status::{Code, decode_grpc_message, encode_grpc_message};
use grpc_sansio::grpc::timeout::{TimeoutError, format_timeout, parse_timeout};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("missing array {key}"))
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing string {key} in {v}"))
}

fn hex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "odd hex {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn nanos_to_duration(text: &str) -> Duration {
    let n: u128 = text.parse().expect("nanos");
    let secs = u64::try_from(n / 1_000_000_000).expect("secs fit");
    Duration::new(secs, (n % 1_000_000_000) as u32)
}

fn timeout_error_kind(e: TimeoutError) -> &'static str {
    match e {
        TimeoutError::Empty => "empty",
        TimeoutError::MissingValue => "missing_value",
        TimeoutError::TooManyDigits => "too_many_digits",
        TimeoutError::InvalidDigit(_) => "invalid_digit",
        TimeoutError::InvalidUnit(_) => "invalid_unit",
        _ => "other",
    }
}

fn metadata_error_kind(e: MetadataError) -> &'static str {
    match e {
        MetadataError::EmptyKey => "empty_key",
        MetadataError::InvalidKey { .. } => "invalid_key",
        MetadataError::ReservedKey => "reserved_key",
        MetadataError::InvalidValue { .. } => "invalid_value",
        MetadataError::BinaryKey => "binary_key",
        MetadataError::NotBinaryKey => "not_binary_key",
        MetadataError::InvalidBase64 => "invalid_base64",
        _ => "other",
    }
}

fn message_error_kind(e: MessageError) -> &'static str {
    match e {
        MessageError::InvalidFlag(_) => "invalid_flag",
        MessageError::TooLarge { .. } => "too_large",
        MessageError::Truncated { .. } => "truncated",
        _ => "other",
    }
}

fn run_timeout() -> usize {
    let v = load("timeout.json");
    let mut n = 0;
    for case in list(&v, "parse") {
        let input = s(case, "input");
        let got = parse_timeout(input.as_bytes());
        match case.get("error") {
            Some(kind) => {
                let e = got.expect_err(input);
                assert_eq!(timeout_error_kind(e), kind.as_str().unwrap(), "{input:?}");
            }
            None => assert_eq!(
                got,
                Ok(nanos_to_duration(s(case, "nanos"))),
                "parse {input:?}"
            ),
        }
        n += 1;
    }
    for case in list(&v, "format") {
        let d = nanos_to_duration(s(case, "nanos"));
        let out = format_timeout(d);
        assert_eq!(out, s(case, "output"), "format {d:?}");
        // What the peer reads back is never shorter, unless saturated.
        let back = parse_timeout(out.as_bytes()).unwrap();
        assert!(back >= d.min(grpc_sansio::grpc::timeout::MAX_TIMEOUT));
        n += 1;
    }
    n
}

fn run_status() -> usize {
    let v = load("status.json");
    let mut n = 0;
    for case in list(&v, "codes") {
        let num = case["code"].as_i64().unwrap() as i32;
        let code = Code::from_i32(num);
        assert_eq!(code.as_i32(), num);
        assert_eq!(code.as_str(), s(case, "name"));
        assert_eq!(Code::from_name(s(case, "name")), Some(code));
        n += 1;
    }
    assert_eq!(n, 17);
    for case in list(&v, "parse_status") {
        let input = s(case, "input");
        let want = case["code"].as_i64().map(|c| Code::from_i32(c as i32));
        assert_eq!(Code::parse_wire(input.as_bytes()), want, "{input:?}");
        n += 1;
    }
    for case in list(&v, "message_encode") {
        let msg = s(case, "message");
        assert_eq!(encode_grpc_message(msg), s(case, "wire"), "{msg:?}");
        assert_eq!(decode_grpc_message(s(case, "wire").as_bytes()), msg);
        n += 1;
    }
    for case in list(&v, "message_decode") {
        let wire = s(case, "wire");
        assert_eq!(
            decode_grpc_message(wire.as_bytes()),
            s(case, "message"),
            "{wire:?}"
        );
        n += 1;
    }
    for case in list(&v, "http_status") {
        let http = case["http"].as_u64().unwrap() as u16;
        let want = Code::from_i32(case["code"].as_i64().unwrap() as i32);
        assert_eq!(Code::from_http_status(http), want, "HTTP {http}");
        n += 1;
    }
    for case in list(&v, "rst_stream") {
        let reason = case["reason"].as_u64().unwrap() as u32;
        let want = Code::from_i32(case["code"].as_i64().unwrap() as i32);
        assert_eq!(Code::from_h2_reason(reason), want, "{}", s(case, "name"));
        n += 1;
    }
    n
}

fn run_metadata() -> usize {
    let v = load("metadata.json");
    let mut n = 0;
    for case in list(&v, "insert") {
        let key = s(case, "key");
        let mut map = MetadataMap::new();
        let got = match (case.get("value"), case.get("value_hex")) {
            (Some(value), None) => map.append(key, value.as_str().unwrap()),
            (None, Some(h)) => map.append_bin(key, hex(h.as_str().unwrap())),
            _ => panic!("insert vector needs value or value_hex: {case}"),
        };
        match case.get("error") {
            Some(kind) => {
                let e = got.expect_err(key);
                assert_eq!(metadata_error_kind(e), kind.as_str().unwrap(), "{case}");
                assert!(map.is_empty());
            }
            None => {
                got.unwrap_or_else(|e| panic!("{case}: {e}"));
                assert_eq!(map.len(), 1);
            }
        }
        n += 1;
    }
    for case in list(&v, "encode") {
        let mut map = MetadataMap::new();
        for e in list(case, "entries") {
            let key = s(e, "key");
            match (e.get("value"), e.get("value_hex")) {
                (Some(value), None) => map.append(key, value.as_str().unwrap()).unwrap(),
                (None, Some(h)) => map.append_bin(key, hex(h.as_str().unwrap())).unwrap(),
                _ => panic!("bad entry {e}"),
            }
        }
        let mut wire = Vec::new();
        map.to_wire(&mut wire);
        let want: Vec<(Bytes, Bytes)> = list(case, "wire")
            .iter()
            .map(|pair| {
                let pair = pair.as_array().unwrap();
                (
                    Bytes::from(pair[0].as_str().unwrap().to_owned()),
                    Bytes::from(pair[1].as_str().unwrap().to_owned()),
                )
            })
            .collect();
        assert_eq!(wire, want, "{case}");
        let back = MetadataMap::from_wire(wire.iter().map(|(k, v)| (&k[..], &v[..])));
        assert_eq!(back, map);
        n += 1;
    }
    for case in list(&v, "decode") {
        let name = s(case, "name");
        let value = s(case, "value");
        let mut map = MetadataMap::new();
        let got = map.append_from_wire(name.as_bytes(), value.as_bytes());
        match s(case, "expect") {
            "reserved" => {
                assert_eq!(got, Ok(Received::Reserved), "{case}");
                assert!(map.is_empty());
            }
            "added" => {
                let values: Vec<Vec<u8>> = if let Some(vs) = case.get("values") {
                    let got: Vec<Vec<u8>> =
                        map.get_all(name).map(|s| s.as_bytes().to_vec()).collect();
                    let want: Vec<Vec<u8>> = vs
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().as_bytes().to_vec())
                        .collect();
                    assert_eq!(got, want, "{case}");
                    want
                } else {
                    let got: Vec<Vec<u8>> = map.get_all_bin(name).map(|b| b.to_vec()).collect();
                    let want: Vec<Vec<u8>> = list(case, "values_hex")
                        .iter()
                        .map(|v| hex(v.as_str().unwrap()))
                        .collect();
                    assert_eq!(got, want, "{case}");
                    want
                };
                assert_eq!(got, Ok(Received::Added(values.len())), "{case}");
                assert_eq!(map.len(), values.len());
            }
            kind => {
                let e = got.expect_err(name);
                assert_eq!(metadata_error_kind(e), kind, "{case}");
                assert!(map.is_empty());
            }
        }
        n += 1;
    }
    n
}

type Outcome = (Vec<(bool, Vec<u8>)>, Option<&'static str>);

/// Decodes `chunks` in order, then ends the stream.
fn deframe(max: usize, chunks: &[&[u8]]) -> Outcome {
    let mut d = MessageDecoder::with_max_message_size(max);
    let mut out = Vec::new();
    for c in chunks {
        let mut input = Bytes::copy_from_slice(c);
        loop {
            match d.decode(&mut input) {
                Ok(Some(m)) => out.push((m.compressed, m.payload.to_vec())),
                Ok(None) => break,
                Err(e) => return (out, Some(message_error_kind(e))),
            }
        }
        assert!(input.is_empty());
    }
    match d.finish() {
        Ok(()) => (out, None),
        Err(e) => (out, Some(message_error_kind(e))),
    }
}

fn run_messages() -> usize {
    let v = load("messages.json");
    assert_eq!(
        v["default_max_message_size"].as_u64(),
        Some(DEFAULT_MAX_RECEIVE_MESSAGE_SIZE as u64)
    );
    let mut n = 0;
    for case in list(&v, "vectors") {
        let name = s(case, "name");
        let stream = hex(s(case, "stream_hex"));
        let max = case
            .get("max_message_size")
            .and_then(Value::as_u64)
            .map_or(DEFAULT_MAX_RECEIVE_MESSAGE_SIZE, |m| m as usize);
        let messages: Vec<(bool, Vec<u8>)> = list(case, "messages")
            .iter()
            .map(|m| (m["compressed"].as_bool().unwrap(), hex(s(m, "payload_hex"))))
            .collect();
        let error = case.get("error").and_then(Value::as_str);
        let want: Outcome = (
            messages.clone(),
            error.map(|e| match e {
                "invalid_flag" => "invalid_flag",
                "too_large" => "too_large",
                "truncated" => "truncated",
                other => panic!("unknown error kind {other}"),
            }),
        );

        assert_eq!(deframe(max, &[&stream]), want, "{name}: one piece");
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(deframe(max, &[a, b]), want, "{name}: split at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(deframe(max, &bytes), want, "{name}: 1-byte chunks");

        if error.is_none() {
            // Encoding the messages gives the stream back.
            let mut enc = BytesMut::new();
            for (compressed, payload) in &messages {
                encode_message(payload, *compressed, &mut enc).unwrap();
            }
            assert_eq!(&enc[..], &stream[..], "{name}: re-encode");
        }
        n += 1;
    }
    n
}

#[test]
fn grpc_vectors() {
    let counts = [
        ("timeout.json", run_timeout()),
        ("status.json", run_status()),
        ("metadata.json", run_metadata()),
        ("messages.json", run_messages()),
    ];
    let total: usize = counts.iter().map(|(_, c)| c).sum();
    for (file, c) in counts {
        println!("{file}: {c} vectors");
    }
    assert!(
        total >= 150,
        "only {total} gRPC vectors loaded; expected at least 150"
    );
}
