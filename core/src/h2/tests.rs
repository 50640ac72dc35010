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

/// Small body sends behind data not yet written are gathered into one
/// piece: a hundred messages take a handful of queue entries, not two
/// hundred, and come out whole and in order, behind the first and ahead
/// of a large send and the end of the stream.
#[test]
fn small_sends_behind_queued_data_are_gathered_in_order() {
    let now = origin();
    let mut c = Connection::client(Config::default(), now);
    let id = c.open_stream(head(), false).unwrap();
    let mut sent = Vec::new();
    for i in 0..100u32 {
        let piece = Bytes::from(vec![i as u8; (i % 7) as usize + 1]);
        sent.extend_from_slice(&piece);
        c.send_data(id, piece, false).unwrap();
    }
    let big = Bytes::from(vec![0xee; 3000]);
    sent.extend_from_slice(&big);
    c.send_data(id, big, false).unwrap();
    c.send_data(id, Bytes::from_static(b"last"), true).unwrap();
    sent.extend_from_slice(b"last");
    let s = c.streams.get(id.value()).unwrap();
    assert!(
        s.queue.len() <= 5,
        "{} queue entries for 102 sends",
        s.queue.len()
    );
    assert_eq!(s.queued_bytes, sent.len());
    // What goes out: the HEADERS, then DATA frames carrying every byte in
    // order, the last with END_STREAM.
    let mut out = BytesMut::new();
    while c.poll_transmit(&mut out) > 0 {}
    let preface = crate::frame::PREFACE.len();
    let mut buf = BytesMut::from(&out[preface..]);
    let mut decoder = crate::frame::FrameDecoder::new();
    let mut body = Vec::new();
    let mut ended = false;
    while let Some(f) = decoder.decode(&mut buf).unwrap() {
        if let crate::frame::Frame::Data(d) = f {
            assert!(!ended, "DATA after END_STREAM");
            body.extend_from_slice(&d.data);
            ended = d.end_stream;
        }
    }
    assert!(ended);
    assert_eq!(body, sent);
    assert_eq!(c.queued_total, 0);
}

/// A client connection with the server's SETTINGS received and all its
/// own output (preface, SETTINGS, acknowledgement) written out.
fn client_after_handshake() -> Connection {
    let now = origin();
    let mut c = Connection::client(Config::default(), now);
    let mut wire = BytesMut::new();
    crate::frame::Settings::default().encode(&mut wire);
    c.receive(&wire, now).expect("server SETTINGS accepted");
    let mut out = BytesMut::new();
    while c.poll_transmit(&mut out) > 0 {}
    while c.poll_event().is_some() {}
    c
}

/// Frames a connection has to send, decoded.
fn written(c: &mut Connection) -> Vec<crate::frame::Frame> {
    let mut out = BytesMut::new();
    while c.poll_transmit(&mut out) > 0 {}
    let mut dec = crate::frame::FrameDecoder::new();
    dec.set_max_frame_size(crate::frame::MAX_MAX_FRAME_SIZE);
    std::iter::from_fn(|| dec.decode(&mut out).ok().flatten()).collect()
}

/// A stream the client has opened but whose HEADERS are still queued is
/// idle on the wire: DATA on it from the server is a connection error of
/// type PROTOCOL_ERROR (RFC 9113 §5.1, idle), as RST_STREAM and
/// WINDOW_UPDATE on it are; answering with RST_STREAM would itself break
/// §6.4 (never for an idle stream).
#[test]
fn rfc9113_5_1_data_on_a_stream_whose_headers_are_not_sent_is_protocol_error() {
    let mut c = client_after_handshake();
    let id = c.open_stream(head(), false).unwrap();
    assert_eq!(c.stream_state(id), Some(super::State::Idle));
    let mut wire = BytesMut::new();
    crate::frame::Data::new(id, Bytes::from_static(b"early"), false).encode(&mut wire);
    assert!(c.receive(&wire, origin()).is_err());
    assert!(c.is_closed());
    let frames = written(&mut c);
    assert!(
        frames
            .iter()
            .all(|f| !matches!(f, crate::frame::Frame::RstStream(_))),
        "no RST_STREAM for an idle stream: {frames:?}"
    );
    let goaway = frames.iter().find_map(|f| match f {
        crate::frame::Frame::GoAway(g) => Some(g.code),
        _ => None,
    });
    assert_eq!(goaway, Some(crate::frame::Reason::PROTOCOL_ERROR));
}

/// Bytes gathered behind a stream's opening HEADERS join its queue when
/// those HEADERS are written early (a PING answer must not overtake
/// them): the queue is never left empty with bytes in the tail, and the
/// tail holds no buffer once flushed.
#[test]
fn a_tail_behind_headers_written_early_joins_the_queue() {
    let mut c = client_after_handshake();
    let id = c.open_stream(head(), false).unwrap();
    c.send_data(id, Bytes::from_static(b"one"), false).unwrap();
    c.send_data(id, Bytes::from_static(b"two"), false).unwrap();
    let mut wire = BytesMut::new();
    crate::frame::Ping::new(*b"12345678").encode(&mut wire);
    c.receive(&wire, origin()).unwrap();
    let s = c.streams.get(id.value()).unwrap();
    let tail = s.tail.as_ref().map_or(0, |t| t.len());
    assert!(
        tail == 0 || !s.queue.is_empty(),
        "{tail} bytes in the tail behind an empty queue"
    );
    assert_eq!(
        s.tail.as_ref().map_or(0, |t| t.capacity()),
        0,
        "a flushed tail keeps no buffer"
    );
    let frames = written(&mut c);
    let body: Vec<u8> = frames
        .iter()
        .filter_map(|f| match f {
            crate::frame::Frame::Data(d) => Some(d.data.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(body, b"onetwo");
}
