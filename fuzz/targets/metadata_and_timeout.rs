//! Fuzz body: the header-value parsers of the gRPC layer.
//!
//! The input is read as a header field (name up to the first `0x00`,
//! value after it) and also, whole, as a value for every parser:
//! `grpc-timeout`, `grpc-status`, `grpc-message`, `content-type`,
//! `grpc-accept-encoding`, `grpc-encoding`, status trailers and metadata.
//! Checks round trips and that whatever is accepted can be sent back.

use bytes::Bytes;
use grpc_sansio::grpc::compression::{CompressionRegistry, parse_accept_encoding};
use grpc_sansio::grpc::head::parse_content_type;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::status::{Code, Status, decode_grpc_message, encode_grpc_message};
use grpc_sansio::grpc::timeout::{MAX_TIMEOUT, format_timeout, parse_timeout};

/// Runs one input.
pub fn run(data: &[u8]) {
    if let Ok(d) = parse_timeout(data) {
        assert!(d <= MAX_TIMEOUT);
        let text = format_timeout(d);
        let back = parse_timeout(text.as_bytes()).expect("formatted timeout parses");
        assert!(back >= d);
    }

    let _ = Code::parse_wire(data);
    let message = decode_grpc_message(data);
    assert_eq!(
        decode_grpc_message(encode_grpc_message(&message).as_bytes()),
        message
    );

    let _ = parse_content_type(data);
    for name in parse_accept_encoding(data) {
        assert!(!name.is_empty());
    }
    let _ = CompressionRegistry::default().for_receive(Some(data));

    let (name, value) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let status = Status::from_wire(name, Some(value), Some(value));
    let mut trailers = Vec::new();
    status.to_wire(&mut trailers);
    let find = |key: &str| {
        trailers
            .iter()
            .find(|(k, _)| &k[..] == key.as_bytes())
            .map(|(_, v)| v.clone())
    };
    let again = Status::from_wire(
        &find("grpc-status").unwrap_or_default(),
        find("grpc-message").as_deref(),
        find("grpc-status-details-bin").as_deref(),
    );
    assert_eq!(again, status);

    let mut map = MetadataMap::new();
    let _ = map.append_from_wire(name, value);
    let _ = map.append_from_wire(value, name);
    // Whatever was accepted can be echoed by the application...
    let mut echo = MetadataMap::new();
    for (k, v) in &map {
        match v.to_str() {
            Some(s) => echo.append(k.as_str(), s).expect("echo ASCII"),
            None => echo
                .append_bin(k.as_str(), Bytes::clone(v.as_bytes()))
                .expect("echo binary"),
        }
    }
    assert_eq!(echo, map);
    // ...and survives the wire.
    let mut wire = Vec::new();
    map.to_wire(&mut wire);
    let back = MetadataMap::from_wire(wire.iter().map(|(k, v)| (&k[..], &v[..])));
    assert_eq!(back, map);
}
