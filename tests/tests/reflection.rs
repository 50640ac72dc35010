//! Server reflection (`grpc.reflection.v1` and `v1alpha`) on both
//! adapters' servers: a hand-made descriptor through our own client, and
//! the interop protos' descriptors (made by protoc from grpcio-tools)
//! through grpcio-reflection's client over 127.0.0.1.
//!
//! The grpcio test is skipped when the peers are not installed, unless
//! `GRPC_SANSIO_REQUIRE_PEERS=1` (see `tests/src/peer.rs`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use grpc_sansio_tests::peer::{PeerProcess, python_with};
use grpc_sansio_tests::serve::{blocking_on_loopback, tokio_on_loopback};

fn put(b: &mut BytesMut, field: u8, v: &[u8]) {
    b.put_u8(field << 3 | 2);
    assert!(v.len() < 128);
    b.put_u8(v.len() as u8);
    b.put_slice(v);
}

/// A FileDescriptorSet of one file: `package t; service S { rpc M; }`.
fn small_set() -> Vec<u8> {
    let mut method = BytesMut::new();
    put(&mut method, 1, b"M");
    let mut service = BytesMut::new();
    put(&mut service, 1, b"S");
    put(&mut service, 2, &method);
    let mut file = BytesMut::new();
    put(&mut file, 1, b"t.proto");
    put(&mut file, 2, b"t");
    put(&mut file, 6, &service);
    let mut set = BytesMut::new();
    put(&mut set, 1, &file);
    set.to_vec()
}

fn blocking_server(set: &[u8]) -> (grpc_sansio_blocking::Server, SocketAddr) {
    use grpc_sansio_blocking::{Handler, Router, reflection::Reflection};
    let mut router: Router<Handler> = Router::new();
    Reflection::from_file_descriptor_set(set)
        .expect("descriptors")
        .add_to(&mut router);
    blocking_on_loopback(router)
}

fn tokio_server(set: &[u8]) -> (tokio::runtime::Runtime, SocketAddr) {
    use grpc_sansio_tokio::{Routes, reflection::Reflection};
    let mut routes = Routes::new();
    Reflection::from_file_descriptor_set(set)
        .expect("descriptors")
        .add_to(&mut routes);
    tokio_on_loopback(routes)
}

/// Ask `list_services` and `file_containing_symbol` on one v1 call (and
/// a request that asks nothing on a v1alpha call) with our client.
fn ask(addr: SocketAddr) {
    use grpc_sansio_blocking::{BytesCodec, CallOptions, Channel, Code};
    let ch = Channel::builder(&format!("http://{addr}"))
        .build_lazy()
        .expect("channel");
    let opts = || CallOptions::new().timeout(Duration::from_secs(10));
    let call = ch
        .bidi_streaming(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            BytesCodec,
            opts(),
        )
        .expect("call");
    let mut list = BytesMut::new();
    put(&mut list, 1, b"h");
    put(&mut list, 7, b"");
    call.send(&list.clone().freeze()).expect("send");
    // valid_host, original_request, list_services_response { service {
    // name: "t.S" } }.
    let mut services = BytesMut::new();
    let mut one = BytesMut::new();
    put(&mut one, 1, b"t.S");
    put(&mut services, 1, &one);
    let mut expected = BytesMut::new();
    put(&mut expected, 1, b"h");
    put(&mut expected, 2, &list);
    put(&mut expected, 6, &services);
    let got = call.recv().expect("an answer").expect("ok");
    assert_eq!(got, expected.freeze());
    let mut symbol = BytesMut::new();
    put(&mut symbol, 4, b"t.S.M");
    call.send(&symbol.freeze()).expect("send");
    let got = call.recv().expect("an answer").expect("ok");
    // The file_descriptor_response carries the file exactly as given.
    let file = &small_set()[2..];
    assert!(
        got.windows(file.len()).any(|w| w == file),
        "{got:?} should hold {file:?}"
    );
    call.close_send().expect("close");
    assert!(call.recv().is_none());
    assert!(call.finish().0.is_ok());

    let bad = ch
        .bidi_streaming(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            BytesCodec,
            opts(),
        )
        .expect("call");
    bad.send(&Bytes::from_static(b"\x0a\x01h")).expect("send");
    let e = bad.recv().expect("an end").unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
}

#[test]
fn blocking_server_reflection() {
    let (_server, addr) = blocking_server(&small_set());
    ask(addr);
}

#[test]
fn tokio_server_reflection() {
    let (_rt, addr) = tokio_server(&small_set());
    ask(addr);
}

/// The interop protos' descriptor set, made with grpcio-tools' protoc.
fn interop_set(python: &Path, tag: &str) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!(
        "grpc-sansio-reflection-{}-{tag}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join("set.bin");
    let protos = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    let peer = PeerProcess::spawn(
        python,
        "descriptor_set.py",
        &[
            out.to_str().expect("path"),
            protos.to_str().expect("path"),
            "grpc/testing/test.proto",
        ],
    )
    .expect("spawn protoc");
    let done = peer.finish(Duration::from_secs(60));
    assert!(done.success(), "{}", done.transcript());
    let set = std::fs::read(&out).expect("descriptor set");
    let _ = std::fs::remove_dir_all(&dir);
    set
}

fn grpcio_client(addr: SocketAddr, python: &Path) -> serde_json::Value {
    let port = addr.port().to_string();
    let peer = PeerProcess::spawn(python, "reflection_client.py", &[&port]).expect("spawn peer");
    let out = peer.finish(Duration::from_secs(60));
    assert!(out.success(), "{}", out.transcript());
    serde_json::from_str(out.summary().expect("summary")).expect("json")
}

/// The services the interop protos define.
const SERVICES: [&str; 2] = [
    "grpc.testing.TestService",
    "grpc.testing.UnimplementedService",
];

fn assert_grpcio_saw(s: &serde_json::Value) {
    assert_eq!(s["failures"], serde_json::json!([]));
    assert_eq!(s["services"], serde_json::json!(SERVICES));
    let methods = s["methods"].as_array().unwrap();
    for m in [
        "EmptyCall",
        "UnaryCall",
        "StreamingOutputCall",
        "FullDuplexCall",
    ] {
        assert!(methods.contains(&serde_json::json!(m)), "{m}: {methods:?}");
    }
    assert!(
        s["simple_request_fields"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("response_size"))
    );
    assert_eq!(s["unary_input"], "grpc.testing.SimpleRequest");
    assert_eq!(s["unknown"], "KeyError");
    // v1: the file with its imports first; on the same call an import
    // asked by name comes alone.
    assert_eq!(
        s["v1_files"],
        serde_json::json!([
            [
                "grpc/testing/test.proto",
                "grpc/testing/empty.proto",
                "grpc/testing/messages.proto"
            ],
            ["grpc/testing/empty.proto"]
        ])
    );
    assert_eq!(s["v1_host"], "h");
    assert_eq!(s["v1_original"], "grpc.testing.TestService.EmptyCall");
    assert_eq!(s["v1_error"][0], 5);
}

#[test]
fn grpcio_reflection_client_against_blocking_server() {
    let Some(python) = python_with(&["grpc", "grpc_reflection.v1alpha", "grpc_tools"]) else {
        return;
    };
    let (_server, addr) = blocking_server(&interop_set(&python, "blocking"));
    assert_grpcio_saw(&grpcio_client(addr, &python));
}

#[test]
fn grpcio_reflection_client_against_tokio_server() {
    let Some(python) = python_with(&["grpc", "grpc_reflection.v1alpha", "grpc_tools"]) else {
        return;
    };
    let (_rt, addr) = tokio_server(&interop_set(&python, "tokio"));
    assert_grpcio_saw(&grpcio_client(addr, &python));
}
