//! Unit tests that reach inside the connection (states a peer cannot drive
//! a connection into quickly, such as running out of stream identifiers).

use bytes::{Bytes, BytesMut};

use super::{Config, Connection, SendError};
use crate::frame::StreamId;
use crate::hpack::HeaderField;
use crate::test_clock::origin;

fn head() -> Vec<HeaderField> {
    [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/a.B/C"),
    ]
    .iter()
    .map(|(n, v)| HeaderField {
        name: Bytes::from_static(n.as_bytes()),
        value: Bytes::from_static(v.as_bytes()),
        sensitive: false,
    })
    .collect()
}

#[test]
fn rfc9113_5_1_1_client_reports_stream_id_exhaustion() {
    let now = origin();
    let mut c = Connection::client(Config::default(), now);
    c.next_local_id = StreamId::MAX.value() - 2;
    let a = c.open_stream(head(), true).unwrap();
    assert_eq!(a.value(), StreamId::MAX.value() - 2);
    let b = c.open_stream(head(), true).unwrap();
    assert_eq!(b, StreamId::MAX);
    assert!(!c.can_open_stream());
    assert_eq!(
        c.open_stream(head(), true),
        Err(SendError::StreamIdsExhausted)
    );
    let mut out = BytesMut::new();
    while c.poll_transmit(&mut out) > 0 {}
    assert!(!out.is_empty());
}

#[test]
fn server_cannot_open_streams() {
    let mut s = Connection::server(Config::default(), origin());
    assert_eq!(s.open_stream(head(), true), Err(SendError::WrongRole));
}
