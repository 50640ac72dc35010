//! Runs the language-neutral frame vectors in `spec/vectors/frames.json`.
//!
//! Each vector is a hex string fed to one `FrameDecoder`. The decoder must
//! return the listed `frames` (or the single `frame`) in order, then the
//! `error` if there is one. After a stream error decoding goes on: the
//! frames in `then` follow. Finally the decoder must return `Ok(None)` with
//! `remaining` octets (default 0) left in the buffer. Vectors without an
//! error whose `canonical` flag is not false must re-encode to the same
//! bytes.

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use grpc_sansio::frame::{
    Continuation, Data, ErrorLevel, Frame, FrameDecoder, FrameError, GoAway, Headers, Ping,
    Priority, PrioritySpec, PushPromise, Reason, RstStream, Settings, StreamId, Unknown,
    WindowUpdate,
};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/frames.json");
    let text = std::fs::read_to_string(&path).expect("spec/vectors/frames.json is readable");
    let doc: Value = serde_json::from_str(&text).expect("frames.json is JSON");
    doc["vectors"].as_array().expect("a vectors array").clone()
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn bytes(v: &Value, key: &str) -> Bytes {
    Bytes::from(hex(v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a hex string"))))
}

fn num(v: &Value, key: &str) -> u32 {
    let n = v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is a number"));
    u32::try_from(n).expect("fits u32")
}

fn flag(v: &Value, key: &str) -> bool {
    v[key]
        .as_bool()
        .unwrap_or_else(|| panic!("{key} is a bool"))
}

fn stream(v: &Value, key: &str) -> StreamId {
    StreamId::new(num(v, key))
}

fn pad_len(v: &Value) -> Option<u8> {
    v["pad_len"]
        .as_u64()
        .map(|n| u8::try_from(n).expect("pad_len fits u8"))
}

fn reason(v: &Value) -> Reason {
    match v {
        Value::String(name) => Reason::from_name(name).unwrap_or_else(|| panic!("code {name}")),
        Value::Number(n) => Reason(u32::try_from(n.as_u64().expect("code")).expect("fits")),
        other => panic!("bad code {other}"),
    }
}

fn spec(v: &Value) -> PrioritySpec {
    PrioritySpec {
        dependency: stream(v, "dependency"),
        exclusive: flag(v, "exclusive"),
        weight: u8::try_from(num(v, "weight")).expect("weight fits u8"),
    }
}

fn settings(v: &Value) -> Settings {
    let mut out = Settings {
        ack: flag(v, "ack"),
        ..Settings::default()
    };
    let params = v["settings"].as_object().expect("settings object");
    for (name, value) in params {
        let value = u32::try_from(value.as_u64().expect("setting value")).expect("fits");
        let id = match name.as_str() {
            "HEADER_TABLE_SIZE" => Settings::HEADER_TABLE_SIZE,
            "ENABLE_PUSH" => Settings::ENABLE_PUSH,
            "MAX_CONCURRENT_STREAMS" => Settings::MAX_CONCURRENT_STREAMS,
            "INITIAL_WINDOW_SIZE" => Settings::INITIAL_WINDOW_SIZE,
            "MAX_FRAME_SIZE" => Settings::MAX_FRAME_SIZE,
            "MAX_HEADER_LIST_SIZE" => Settings::MAX_HEADER_LIST_SIZE,
            "ENABLE_CONNECT_PROTOCOL" => Settings::ENABLE_CONNECT_PROTOCOL,
            other => panic!("unknown setting name {other}"),
        };
        out.set(id, value).expect("vector settings are in range");
    }
    out
}

/// The frame a JSON description stands for.
fn frame(v: &Value) -> Frame {
    let kind = v["type"].as_str().expect("frame type");
    match kind {
        "DATA" => Frame::Data(Data {
            stream_id: stream(v, "stream_id"),
            data: bytes(v, "data"),
            end_stream: flag(v, "end_stream"),
            pad_len: pad_len(v),
        }),
        "HEADERS" => Frame::Headers(Headers {
            stream_id: stream(v, "stream_id"),
            fragment: bytes(v, "fragment"),
            end_stream: flag(v, "end_stream"),
            end_headers: flag(v, "end_headers"),
            priority: if v["priority"].is_null() {
                None
            } else {
                Some(spec(&v["priority"]))
            },
            pad_len: pad_len(v),
        }),
        "PRIORITY" => Frame::Priority(Priority {
            stream_id: stream(v, "stream_id"),
            spec: spec(v),
        }),
        "RST_STREAM" => {
            Frame::RstStream(RstStream::new(stream(v, "stream_id"), reason(&v["code"])))
        }
        "SETTINGS" => Frame::Settings(settings(v)),
        "PUSH_PROMISE" => Frame::PushPromise(PushPromise {
            stream_id: stream(v, "stream_id"),
            promised_id: stream(v, "promised_id"),
            fragment: bytes(v, "fragment"),
            end_headers: flag(v, "end_headers"),
            pad_len: pad_len(v),
        }),
        "PING" => Frame::Ping(Ping {
            ack: flag(v, "ack"),
            payload: bytes(v, "payload")[..].try_into().expect("8-octet payload"),
        }),
        "GOAWAY" => Frame::GoAway(GoAway {
            last_stream_id: stream(v, "last_stream_id"),
            code: reason(&v["code"]),
            debug_data: bytes(v, "debug_data"),
        }),
        "WINDOW_UPDATE" => Frame::WindowUpdate(WindowUpdate::new(
            stream(v, "stream_id"),
            num(v, "increment"),
        )),
        "CONTINUATION" => Frame::Continuation(Continuation {
            stream_id: stream(v, "stream_id"),
            fragment: bytes(v, "fragment"),
            end_headers: flag(v, "end_headers"),
        }),
        "UNKNOWN" => Frame::Unknown(Unknown {
            frame_type: u8::try_from(num(v, "frame_type")).expect("type fits u8"),
            flags: u8::try_from(num(v, "flags")).expect("flags fit u8"),
            stream_id: stream(v, "stream_id"),
            payload: bytes(v, "payload"),
        }),
        other => panic!("unknown frame type {other}"),
    }
}

fn frame_list(v: &Value, key: &str) -> Vec<Frame> {
    v[key]
        .as_array()
        .map(|a| a.iter().map(frame).collect())
        .unwrap_or_default()
}

fn expected_error(v: &Value) -> (Reason, ErrorLevel) {
    let code = reason(&v["code"]);
    let level = match v["level"].as_str().expect("level") {
        "connection" => ErrorLevel::Connection,
        "stream" => ErrorLevel::Stream(stream(v, "stream_id")),
        other => panic!("bad level {other}"),
    };
    (code, level)
}

fn next(
    name: &str,
    decoder: &mut FrameDecoder,
    buf: &mut BytesMut,
) -> Result<Option<Frame>, FrameError> {
    let before = buf.len();
    let result = decoder.decode(buf);
    if let Ok(None) = result {
        assert_eq!(buf.len(), before, "{name}: Ok(None) consumed bytes");
    }
    result
}

fn run(v: &Value) {
    let name = v["name"].as_str().expect("name");
    let wire = hex(v["hex"].as_str().expect("hex"));
    let mut decoder = FrameDecoder::new();
    if let Some(max) = v["max_frame_size"].as_u64() {
        decoder.set_max_frame_size(u32::try_from(max).expect("fits"));
    }
    let mut buf = BytesMut::from(&wire[..]);

    let mut expected = frame_list(v, "frames");
    if !v["frame"].is_null() {
        expected.push(frame(&v["frame"]));
    }
    for want in &expected {
        let got = next(name, &mut decoder, &mut buf);
        assert_eq!(got.as_ref(), Ok(&Some(want.clone())), "{name}");
        if let (Some(len), Frame::Data(data)) = (v["flow_controlled_len"].as_u64(), want) {
            assert_eq!(
                u64::from(data.flow_controlled_len()),
                len,
                "{name}: flow-controlled length"
            );
        }
    }

    if !v["error"].is_null() {
        let (code, level) = expected_error(&v["error"]);
        let err = next(name, &mut decoder, &mut buf).expect_err(name);
        assert_eq!((err.code, err.level), (code, level), "{name}: {err}");
        if level == ErrorLevel::Connection {
            return;
        }
        for want in frame_list(v, "then") {
            assert_eq!(
                next(name, &mut decoder, &mut buf),
                Ok(Some(want)),
                "{name}: after the stream error"
            );
        }
    }

    assert_eq!(
        next(name, &mut decoder, &mut buf),
        Ok(None),
        "{name}: trailing bytes"
    );
    let remaining = v["remaining"].as_u64().unwrap_or(0);
    assert_eq!(buf.len() as u64, remaining, "{name}: bytes left over");

    let canonical = v["canonical"].as_bool().unwrap_or(true);
    if v["error"].is_null() && canonical {
        let mut out = BytesMut::new();
        for f in &expected {
            f.encode(&mut out);
        }
        let consumed = wire.len() - usize::try_from(remaining).expect("fits");
        assert_eq!(&out[..], &wire[..consumed], "{name}: re-encoding");
    }
}

#[test]
fn frame_vectors() {
    let vectors = vectors();
    assert!(
        vectors.len() >= 50,
        "only {} vectors in frames.json",
        vectors.len()
    );
    let mut names = std::collections::HashSet::new();
    for v in &vectors {
        assert!(
            names.insert(v["name"].as_str().expect("name").to_owned()),
            "duplicate name"
        );
        run(v);
    }
    let errors = vectors.iter().filter(|v| !v["error"].is_null()).count();
    assert!(errors >= 20, "only {errors} error vectors");
}
