//! The standard services' hand-read protobuf messages against arbitrary
//! bytes: the health request and response decoders, the reflection
//! request handler and the descriptor pool never panic, and what they
//! refuse is INVALID_ARGUMENT (or a descriptor error), nothing else.

use bytes::Bytes;
use grpc_sansio::grpc::Code;
use grpc_sansio::health::{decode_request, decode_response, encode_request};
use grpc_sansio::reflection::{DescriptorPool, ReflectionStream};
use proptest::prelude::*;

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
}
