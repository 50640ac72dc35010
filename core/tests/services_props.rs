//! The standard services' hand-read protobuf messages against arbitrary
//! bytes: the health request and response decoders, the reflection
//! request handler and the descriptor pool never panic, and what they
//! refuse is INVALID_ARGUMENT (or a descriptor error), nothing else.

use bytes::{BufMut, Bytes, BytesMut};
use grpc_sansio::grpc::Code;
use grpc_sansio::health::{decode_request, decode_response, encode_request};
use grpc_sansio::reflection::{DescriptorPool, ReflectionStream};
use proptest::prelude::*;

fn field(b: &mut BytesMut, n: u8, v: &[u8]) {
    b.put_u8(n << 3 | 2);
    assert!(v.len() < 128);
    b.put_u8(v.len() as u8);
    b.put_slice(v);
}

fn named(name: &str, more: &[(u8, &[u8])]) -> Vec<u8> {
    let mut b = BytesMut::new();
    field(&mut b, 1, name.as_bytes());
    for (n, v) in more {
        field(&mut b, *n, v);
    }
    b.to_vec()
}

/// Two files: `a.proto` (package a; message M { message N {} } extended
/// by b.proto at 100) and `b.proto` (package b; imports a.proto;
/// service S { rpc R; }).
fn pool() -> DescriptorPool {
    let n = named("N", &[]);
    let m = named("M", &[(3, &n)]);
    let a = named("a.proto", &[(2, b"a"), (4, &m)]);
    let r = named("R", &[]);
    let svc = named("S", &[(2, &r)]);
    let mut ext = BytesMut::new();
    field(&mut ext, 1, b"x");
    field(&mut ext, 2, b".a.M");
    ext.put_slice(&[3 << 3, 100]);
    let b = named(
        "b.proto",
        &[(2, b"b"), (3, b"a.proto"), (6, &svc), (7, &ext)],
    );
    let mut set = BytesMut::new();
    field(&mut set, 1, &a);
    field(&mut set, 1, &b);
    DescriptorPool::from_file_descriptor_set(&set).expect("valid set")
}

/// A request asking `kind` (3 to 7) about `name`; kind 5 asks for
/// extension `number` of `name`.
fn request(kind: u8, name: &str, number: u8) -> Vec<u8> {
    let mut b = BytesMut::new();
    field(&mut b, 1, b"host");
    if kind == 5 {
        let mut ext = BytesMut::new();
        field(&mut ext, 1, name.as_bytes());
        ext.put_slice(&[2 << 3, number & 0x7f]);
        field(&mut b, 5, &ext);
    } else {
        field(&mut b, kind, name.as_bytes());
    }
    b.to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn health_messages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Err(e) = decode_request(&bytes) {
            prop_assert_eq!(e.code(), Code::InvalidArgument);
        }
        if let Err(e) = decode_response(&bytes) {
            prop_assert_eq!(e.code(), Code::InvalidArgument);
        }
    }

    #[test]
    fn health_names_round_trip(name in "[a-zA-Z0-9._]{0,200}") {
        prop_assert_eq!(decode_request(&encode_request(&name)).unwrap(), name);
    }

    #[test]
    fn reflection_never_panics(
        set in proptest::collection::vec(any::<u8>(), 0..256),
        request in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut pool = DescriptorPool::new();
        let _ = pool.add_file_descriptor_set(&set);
        let _ = pool.add_file(Bytes::from(set));
        if let Err(e) = ReflectionStream::new().answer(&pool, &request) {
            prop_assert_eq!(e.code(), Code::InvalidArgument);
        }
    }

    #[test]
    fn reflection_answers_any_well_formed_request(
        calls in proptest::collection::vec(
            (
                3u8..=7,
                prop_oneof![
                    Just("a.proto".to_string()),
                    Just("b.proto".to_string()),
                    Just("a.M".to_string()),
                    Just("a.M.N".to_string()),
                    Just(".b.S".to_string()),
                    Just("b.S.R".to_string()),
                    Just("b.x".to_string()),
                    "[a-z.]{0,12}",
                ],
                prop_oneof![Just(100u8), any::<u8>()],
            ),
            1..8,
        ),
    ) {
        let pool = pool();
        let mut stream = ReflectionStream::new();
        for (kind, name, number) in calls {
            let answer = stream.answer(&pool, &request(kind, &name, number));
            prop_assert!(answer.is_ok(), "{kind} {name:?}: {answer:?}");
            // host and the request come back first.
            let answer = answer.unwrap();
            prop_assert_eq!(&answer[..6], b"\x0a\x04host");
        }
    }
}
