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

fn blocking_server(set: &[u8], include: bool) -> (grpc_sansio_blocking::Server, SocketAddr) {
    use grpc_sansio_blocking::{Handler, Router, reflection::Reflection};
    let mut router: Router<Handler> = Router::new();
    Reflection::from_file_descriptor_set(set)
        .expect("descriptors")
        .include_reflection_service(include)
        .add_to(&mut router);
    blocking_on_loopback(router)
}

fn tokio_server(set: &[u8], include: bool) -> (tokio::runtime::Runtime, SocketAddr) {
    use grpc_sansio_tokio::{Routes, reflection::Reflection};
    let mut routes = Routes::new();
    Reflection::from_file_descriptor_set(set)
        .expect("descriptors")
        .include_reflection_service(include)
        .add_to(&mut routes);
    tokio_on_loopback(routes)
}

/// The reflection services, as the server lists them after the user's.
const REFLECTION_SERVICES: [&str; 2] = [
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// A list_services request and the answer that lists `services`.
fn list_exchange(services: &[&str]) -> (Bytes, Bytes) {
    let mut list = BytesMut::new();
    put(&mut list, 1, b"h");
    put(&mut list, 7, b"");
    // valid_host, original_request, list_services_response { service {
    // name } ... }.
    let mut body = BytesMut::new();
    for s in services {
        let mut one = BytesMut::new();
        put(&mut one, 1, s.as_bytes());
        put(&mut body, 1, &one);
    }
    let mut expected = BytesMut::new();
    put(&mut expected, 1, b"h");
    put(&mut expected, 2, &list);
    put(&mut expected, 6, &body);
    (list.freeze(), expected.freeze())
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
    // The user's service, then the reflection service itself.
    let (list, expected) = list_exchange(&["t.S", REFLECTION_SERVICES[0], REFLECTION_SERVICES[1]]);
    call.send(&list).expect("send");
    let got = call.recv().expect("an answer").expect("ok");
    assert_eq!(got, expected);
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
    // `grpcurl describe grpc.reflection.v1.ServerReflection`.
    let mut symbol = BytesMut::new();
    put(&mut symbol, 4, b"grpc.reflection.v1.ServerReflection");
    call.send(&symbol.freeze()).expect("send");
    let got = call.recv().expect("an answer").expect("ok");
    assert_describes_reflection(&got);
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

/// The parts of the reflection and descriptor messages the describe
/// check reads, decoded by prost rather than by the core's own reader.
mod pb {
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub(crate) struct ServerReflectionResponse {
        #[prost(message, optional, tag = "4")]
        pub(crate) file_descriptor_response: Option<FileDescriptorResponse>,
        #[prost(message, optional, tag = "7")]
        pub(crate) error_response: Option<ErrorResponse>,
    }
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub(crate) struct ErrorResponse {
        #[prost(int32, tag = "1")]
        pub(crate) error_code: i32,
    }
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub(crate) struct FileDescriptorResponse {
        #[prost(bytes = "vec", repeated, tag = "1")]
        pub(crate) file_descriptor_proto: Vec<Vec<u8>>,
    }
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub(crate) struct FileDescriptorProto {
        #[prost(string, tag = "1")]
        pub(crate) name: String,
        #[prost(string, tag = "2")]
        pub(crate) package: String,
        #[prost(string, repeated, tag = "3")]
        pub(crate) dependency: Vec<String>,
        #[prost(message, repeated, tag = "4")]
        pub(crate) message_type: Vec<DescriptorProto>,
        #[prost(message, repeated, tag = "6")]
        pub(crate) service: Vec<ServiceDescriptorProto>,
        #[prost(string, tag = "12")]
        pub(crate) syntax: String,
    }
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub(crate) struct DescriptorProto {
        #[prost(string, tag = "1")]
        pub(crate) name: String,
    }
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub(crate) struct ServiceDescriptorProto {
        #[prost(string, tag = "1")]
        pub(crate) name: String,
        #[prost(message, repeated, tag = "2")]
        pub(crate) method: Vec<MethodDescriptorProto>,
    }
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub(crate) struct MethodDescriptorProto {
        #[prost(string, tag = "1")]
        pub(crate) name: String,
        #[prost(string, tag = "2")]
        pub(crate) input_type: String,
        #[prost(string, tag = "3")]
        pub(crate) output_type: String,
        #[prost(bool, tag = "5")]
        pub(crate) client_streaming: bool,
        #[prost(bool, tag = "6")]
        pub(crate) server_streaming: bool,
    }
}

/// `response` answers file_containing_symbol for the v1 service with its
/// file, one that the core's DescriptorPool loads and that declares the
/// bidi-streaming method.
fn assert_describes_reflection(response: &[u8]) {
    use grpc_sansio::reflection::DescriptorPool;
    use prost::Message;
    let r = pb::ServerReflectionResponse::decode(response).expect("a response");
    let files = r
        .file_descriptor_response
        .expect("files")
        .file_descriptor_proto;
    assert_eq!(files.len(), 1, "the file has no imports");
    let mut pool = DescriptorPool::new();
    pool.add_file(Bytes::from(files[0].clone())).expect("loads");
    assert_eq!(pool.services(), [REFLECTION_SERVICES[0]]);
    for symbol in [
        "grpc.reflection.v1.ServerReflection.ServerReflectionInfo",
        "grpc.reflection.v1.ServerReflectionRequest",
        "grpc.reflection.v1.ServerReflectionResponse",
        "grpc.reflection.v1.ExtensionRequest",
    ] {
        assert_eq!(
            pool.file_containing_symbol(symbol),
            Some("grpc/reflection/v1/reflection.proto"),
            "{symbol}"
        );
    }
    let file = pb::FileDescriptorProto::decode(&files[0][..]).expect("a FileDescriptorProto");
    assert_eq!(file.name, "grpc/reflection/v1/reflection.proto");
    assert_eq!(file.package, "grpc.reflection.v1");
    assert_eq!(file.syntax, "proto3");
    assert!(file.dependency.is_empty());
    assert_eq!(file.message_type.len(), 8);
    assert_eq!(
        file.service,
        [pb::ServiceDescriptorProto {
            name: "ServerReflection".into(),
            method: vec![pb::MethodDescriptorProto {
                name: "ServerReflectionInfo".into(),
                input_type: ".grpc.reflection.v1.ServerReflectionRequest".into(),
                output_type: ".grpc.reflection.v1.ServerReflectionResponse".into(),
                client_streaming: true,
                server_streaming: true,
            }],
        }]
    );
}

/// With `include_reflection_service(false)` the pool is served as given.
fn ask_without_reflection_service(addr: SocketAddr) {
    use grpc_sansio_blocking::{BytesCodec, CallOptions, Channel};
    let ch = Channel::builder(&format!("http://{addr}"))
        .build_lazy()
        .expect("channel");
    let call = ch
        .bidi_streaming(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            BytesCodec,
            CallOptions::new().timeout(Duration::from_secs(10)),
        )
        .expect("call");
    let (list, expected) = list_exchange(&["t.S"]);
    call.send(&list).expect("send");
    assert_eq!(call.recv().expect("an answer").expect("ok"), expected);
    let mut symbol = BytesMut::new();
    put(&mut symbol, 1, b"h");
    put(&mut symbol, 4, b"grpc.reflection.v1.ServerReflection");
    call.send(&symbol.freeze()).expect("send");
    let got = call.recv().expect("an answer").expect("ok");
    let r = <pb::ServerReflectionResponse as prost::Message>::decode(got).expect("a response");
    assert_eq!(r.error_response.expect("not found").error_code, 5);
    call.close_send().expect("close");
    assert!(call.recv().is_none());
}

#[test]
fn blocking_server_reflection() {
    let (_server, addr) = blocking_server(&small_set(), true);
    ask(addr);
}

#[test]
fn tokio_server_reflection() {
    let (_rt, addr) = tokio_server(&small_set(), true);
    ask(addr);
}

#[test]
fn blocking_server_reflection_without_its_own_service() {
    let (_server, addr) = blocking_server(&small_set(), false);
    ask_without_reflection_service(addr);
}

#[test]
fn tokio_server_reflection_without_its_own_service() {
    let (_rt, addr) = tokio_server(&small_set(), false);
    ask_without_reflection_service(addr);
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
    // The interop services and the reflection service itself (sorted).
    let mut services: Vec<&str> = SERVICES.into_iter().chain(REFLECTION_SERVICES).collect();
    services.sort_unstable();
    assert_eq!(s["services"], serde_json::json!(services));
    // grpcio's pool describes the reflection service from what it was sent.
    for version in ["v1", "v1alpha"] {
        let p = format!("grpc.reflection.{version}");
        assert_eq!(
            s["reflection_described"][format!("{p}.ServerReflection")],
            serde_json::json!([[
                "ServerReflectionInfo",
                format!("{p}.ServerReflectionRequest"),
                format!("{p}.ServerReflectionResponse"),
                true,
                true
            ]]),
            "{version}"
        );
    }
    // Both files, field for field as protoc makes the published one.
    assert_eq!(
        s["reflection_files"],
        serde_json::json!([
            "grpc/reflection/v1/reflection.proto",
            "grpc/reflection/v1alpha/reflection.proto"
        ])
    );
    assert_eq!(s["reflection_files_checked"], true);
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
    let (_server, addr) = blocking_server(&interop_set(&python, "blocking"), true);
    assert_grpcio_saw(&grpcio_client(addr, &python));
}

#[test]
fn grpcio_reflection_client_against_tokio_server() {
    let Some(python) = python_with(&["grpc", "grpc_reflection.v1alpha", "grpc_tools"]) else {
        return;
    };
    let (_rt, addr) = tokio_server(&interop_set(&python, "tokio"), true);
    assert_grpcio_saw(&grpcio_client(addr, &python));
}
