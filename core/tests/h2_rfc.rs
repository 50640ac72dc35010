//! RFC 9113 conformance of the server role, case by case. Each test mirrors
//! one case of the h2spec suite (its id is in the test name) and checks the
//! frames our connection answers with.

mod support;

use bytes::{BufMut, Bytes, BytesMut};
use grpc_sansio::frame::{
    self, Continuation, Frame, GoAway, Ping, Priority, PrioritySpec, PushPromise, Reason,
    RstStream, Settings, WindowUpdate,
};
use grpc_sansio::h2::{Config, Connection, Event, Initiator};
use grpc_sansio::hpack;
use support::*;

/// The application: answer every request head with a 200 and a body.
fn serve(conn: &mut Connection) {
    for ev in events(conn) {
        if let Event::Headers { stream, fields, .. } = ev {
            if fields.iter().any(|f| &f.name[..] == b":method") {
                conn.send_headers(stream, support::fields(&[(":status", "200")]), false)
                    .unwrap();
                conn.send_data(stream, Bytes::from_static(b"hello world"), true)
                    .unwrap();
            }
        }
    }
}

struct Case {
    peer: RawPeer,
    conn: Connection,
    got: Vec<Frame>,
}

impl Case {
    fn new() -> Self {
        let (peer, conn) = RawPeer::server(Config::default());
        Case {
            peer,
            conn,
            got: Vec::new(),
        }
    }

    fn with(config: Config) -> Self {
        let (peer, conn) = RawPeer::server(config);
        Case {
            peer,
            conn,
            got: Vec::new(),
        }
    }

    fn send(&mut self, f: Frame) -> &mut Self {
        let _ = self.peer.send(&mut self.conn, f);
        self.pump();
        self
    }

    fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        let _ = self.peer.send_raw(&mut self.conn, bytes);
        self.pump();
        self
    }

    fn req(&mut self, id: u32, end_stream: bool) -> &mut Self {
        let f = self.peer.headers(id, &get_head(), end_stream);
        self.send(f)
    }

    fn post(&mut self, id: u32, extra: &[(&str, &str)]) -> &mut Self {
        let mut h = get_head();
        h[0] = field(":method", "POST");
        h.extend(fields(extra));
        let f = self.peer.headers(id, &h, false);
        self.send(f)
    }

    fn pump(&mut self) {
        serve(&mut self.conn);
        let got = self.peer.read(&mut self.conn);
        self.got.extend(got);
    }

    fn ping(&mut self) -> &mut Self {
        self.send(Frame::Ping(Ping::new(*b"h2spec\0\0")))
    }

    #[track_caller]
    fn expect_ping_ack(&self) {
        let acked = self
            .got
            .iter()
            .any(|f| matches!(f, Frame::Ping(p) if p.ack && &p.payload == b"h2spec\0\0"));
        assert!(acked, "expected a PING ACK, got {:?}", self.got);
    }

    #[track_caller]
    fn expect_conn_error(&self, code: Reason) {
        assert_eq!(goaway_code(&self.got), Some(code), "frames: {:?}", self.got);
        assert!(self.conn.is_closed(), "connection must close after GOAWAY");
    }

    #[track_caller]
    fn expect_stream_error(&self, id: u32, code: Reason) {
        assert!(
            resets(&self.got).contains(&(id, code)),
            "expected RST_STREAM {id} {code:?}, got {:?}",
            self.got
        );
        assert!(
            !self.conn.is_closed(),
            "a stream error leaves the connection up"
        );
    }

    #[track_caller]
    fn expect_response(&self, id: u32) {
        let first = self.got.iter().find_map(|f| match f {
            Frame::Headers(h) => Some(h.stream_id.value()),
            _ => None,
        });
        assert_eq!(
            first,
            Some(id),
            "expected a response on {id}, got {:?}",
            self.got
        );
    }

    fn data_lengths(&self) -> Vec<usize> {
        self.got
            .iter()
            .filter_map(|f| match f {
                Frame::Data(d) => Some(d.data.len()),
                _ => None,
            })
            .collect()
    }
}

fn raw_frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_uint(payload.len() as u64, 3);
    b.put_u8(ty);
    b.put_u8(flags);
    b.put_u32(stream);
    b.put_slice(payload);
    b.to_vec()
}

fn settings(list: &[(u16, u32)]) -> Frame {
    let mut s = Settings::default();
    for (id, v) in list {
        s.set(*id, *v).unwrap();
    }
    Frame::Settings(s)
}

// ---- §3.5 preface ----

#[test]
fn h2spec_http2_3_5_1_server_sends_settings_first() {
    let clock = Clock::new();
    let mut conn = Connection::server(Config::default(), clock.now);
    conn.receive(frame::PREFACE, clock.now).unwrap();
    let mut peer = RawPeer::new();
    let got = peer.read(&mut conn);
    assert!(matches!(got.first(), Some(Frame::Settings(s)) if !s.ack));
}

/// An adapter polls for output as soon as it accepts a connection; the
/// server's SETTINGS waits for the client preface, so that a client that
/// speaks HTTP/1.1 reads nothing but the HTTP/1.1 answer (the attack
/// suite found SETTINGS bytes in front of it).
#[test]
fn rfc9113_3_4_server_settings_wait_for_the_preface() {
    let clock = Clock::new();
    let mut conn = Connection::server(Config::default(), clock.now);
    let mut out = BytesMut::new();
    assert_eq!(conn.poll_transmit(&mut out), 0);
    conn.receive(&frame::PREFACE[..10], clock.now).unwrap();
    assert_eq!(conn.poll_transmit(&mut out), 0);
    let mut http1 = Connection::server(Config::default(), clock.now);
    assert_eq!(http1.poll_transmit(&mut out), 0);
    let err = http1
        .receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", clock.now)
        .unwrap_err();
    assert_eq!(err, grpc_sansio::h2::ConnectionError::Http1Request);
    while http1.poll_transmit(&mut out) > 0 {}
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 505 "), "{text}");
    // A silent client still gets SETTINGS, then GOAWAY SETTINGS_TIMEOUT.
    let mut silent = Connection::server(Config::default(), clock.now);
    assert_eq!(silent.poll_transmit(&mut BytesMut::new()), 0);
    silent.handle_timeout(silent.poll_timeout().unwrap());
    let mut peer = RawPeer::new();
    let got = peer.read(&mut silent);
    assert!(matches!(got.first(), Some(Frame::Settings(s)) if !s.ack));
    assert_eq!(goaway_code(&got), Some(Reason::SETTINGS_TIMEOUT));
}

#[test]
fn h2spec_http2_3_5_2_invalid_preface_is_protocol_error() {
    let clock = Clock::new();
    let mut conn = Connection::server(Config::default(), clock.now);
    let err = conn.receive(b"INVALID CONNECTION PREFACE\r\n\r\n", clock.now);
    assert!(err.is_err());
    let mut peer = RawPeer::new();
    let got = peer.read(&mut conn);
    assert_eq!(goaway_code(&got), Some(Reason::PROTOCOL_ERROR));
    assert!(conn.is_closed());
}

#[test]
fn rfc9113_3_4_http1_request_gets_a_plain_http1_answer() {
    let clock = Clock::new();
    let mut conn = Connection::server(Config::default(), clock.now);
    let err = conn
        .receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", clock.now)
        .unwrap_err();
    assert_eq!(err, grpc_sansio::h2::ConnectionError::Http1Request);
    let mut out = BytesMut::new();
    while conn.poll_transmit(&mut out) > 0 {}
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 505 "), "{text}");
    assert!(text.contains("connection: close"));
    assert!(conn.is_closed());
}

#[test]
fn rfc9113_3_4_preface_may_arrive_one_byte_at_a_time() {
    let clock = Clock::new();
    let mut conn = Connection::server(Config::default(), clock.now);
    let mut bytes = frame::PREFACE.to_vec();
    let mut s = BytesMut::new();
    Settings::default().encode(&mut s);
    bytes.extend_from_slice(&s);
    for b in bytes {
        conn.receive(&[b], clock.now).unwrap();
    }
    assert!(!conn.is_closed());
    let mut peer = RawPeer::new();
    let got = peer.read(&mut conn);
    assert!(got.iter().any(|f| matches!(f, Frame::Settings(s) if s.ack)));
}

#[test]
fn rfc9113_3_4_first_frame_must_be_settings() {
    let clock = Clock::new();
    let mut conn = Connection::server(Config::default(), clock.now);
    let mut bytes = BytesMut::from(frame::PREFACE);
    Ping::new([0; 8]).encode(&mut bytes);
    assert!(conn.receive(&bytes, clock.now).is_err());
    let got = RawPeer::new().read(&mut conn);
    assert_eq!(goaway_code(&got), Some(Reason::PROTOCOL_ERROR));
}

/// A first frame that also breaks a stream-level rule of its own (here a
/// PRIORITY frame of the wrong length) is still not SETTINGS: a
/// connection error, not a RST_STREAM for a stream nobody opened.
#[test]
fn rfc9113_3_4_first_frame_with_a_stream_error_is_still_not_settings() {
    let clock = Clock::new();
    let mut conn = Connection::server(Config::default(), clock.now);
    let mut bytes = BytesMut::from(frame::PREFACE);
    bytes.extend_from_slice(&raw_frame(frame::frame_type::PRIORITY, 0, 1, &[0; 4]));
    assert!(conn.receive(&bytes, clock.now).is_err());
    let got = RawPeer::new().read(&mut conn);
    assert_eq!(goaway_code(&got), Some(Reason::PROTOCOL_ERROR));
    assert_eq!(resets(&got), vec![], "{got:?}");
}

// ---- §4 frames ----

#[test]
fn h2spec_http2_4_1_1_unknown_frame_type_is_ignored() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x16, 0, 0, &[0; 8])).ping();
    c.expect_ping_ack();
}

#[test]
fn h2spec_http2_4_1_2_undefined_flags_are_ignored() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x6, 0x16, 0, b"h2spec\0\0"));
    c.expect_ping_ack();
}

#[test]
fn h2spec_http2_4_1_3_reserved_bit_is_ignored() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x6, 0x16, 0x8000_0000, b"h2spec\0\0"));
    c.expect_ping_ack();
}

#[test]
fn h2spec_http2_4_2_1_data_of_max_frame_size_is_accepted() {
    let mut c = Case::new();
    c.post(1, &[]);
    let body = vec![b'x'; 16_384];
    let f = c.peer.data(1, &body, true);
    c.send(f);
    c.expect_response(1);
}

#[test]
fn h2spec_http2_4_2_2_data_over_max_frame_size_is_frame_size_error() {
    let mut c = Case::new();
    c.post(1, &[]);
    let body = vec![b'x'; 16_385];
    let f = c.peer.data(1, &body, true);
    c.send(f);
    assert_eq!(goaway_code(&c.got), Some(Reason::FRAME_SIZE_ERROR));
}

#[test]
fn h2spec_http2_4_2_3_headers_over_max_frame_size_is_connection_error() {
    let mut c = Case::new();
    let mut h = get_head();
    for i in 0..5 {
        h.push(field(&format!("x-dummy{i}"), &"x".repeat(4000)));
    }
    let f = c.peer.headers(1, &h, true);
    c.send(f);
    c.expect_conn_error(Reason::FRAME_SIZE_ERROR);
}

#[test]
fn h2spec_http2_4_3_1_invalid_header_block_is_compression_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x1, 0x05, 1, &[0x40]));
    c.expect_conn_error(Reason::COMPRESSION_ERROR);
}

#[test]
fn h2spec_http2_4_3_2_priority_inside_header_block_is_protocol_error() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    c.send(Frame::Headers(frame::Headers {
        stream_id: sid(1),
        fragment: block,
        end_stream: false,
        end_headers: false,
        priority: None,
        pad_len: None,
    }));
    c.send(Frame::Priority(Priority {
        stream_id: sid(1),
        spec: PrioritySpec {
            dependency: sid(0),
            exclusive: false,
            weight: 255,
        },
    }));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_4_3_3_headers_for_another_stream_inside_block_is_protocol_error() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    c.send(Frame::Headers(frame::Headers {
        stream_id: sid(1),
        fragment: block,
        end_stream: false,
        end_headers: false,
        priority: None,
        pad_len: None,
    }));
    c.req(3, true);
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

// ---- §5.1 stream states ----

#[test]
fn h2spec_http2_5_1_1_idle_data_is_protocol_error() {
    let mut c = Case::new();
    let f = c.peer.data(1, b"test", true);
    c.send(f);
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_5_1_2_idle_rst_stream_is_protocol_error() {
    let mut c = Case::new();
    c.send(Frame::RstStream(RstStream::new(sid(1), Reason::CANCEL)));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_5_1_3_idle_window_update_is_protocol_error() {
    let mut c = Case::new();
    c.send(Frame::WindowUpdate(WindowUpdate::new(sid(1), 100)));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_5_1_4_idle_continuation_is_protocol_error() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    c.send(Frame::Continuation(Continuation {
        stream_id: sid(1),
        fragment: block,
        end_headers: true,
    }));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_5_1_5_half_closed_remote_data_is_stream_closed() {
    let mut c = Case::new();
    c.req(1, true);
    let f = c.peer.data(1, b"test", true);
    c.send(f);
    assert!(
        resets(&c.got).contains(&(1, Reason::STREAM_CLOSED))
            || goaway_code(&c.got) == Some(Reason::STREAM_CLOSED),
        "{:?}",
        c.got
    );
}

#[test]
fn h2spec_http2_5_1_6_half_closed_remote_headers_is_stream_closed() {
    let mut c = Case::with(Config::default());
    // Hold the response so the stream stays half-closed (remote).
    let f = c.peer.headers(1, &get_head(), true);
    let _ = c.peer.send(&mut c.conn, f);
    let _ = events(&mut c.conn);
    let f = c.peer.headers(1, &get_head(), true);
    let _ = c.peer.send(&mut c.conn, f);
    c.got = c.peer.read(&mut c.conn);
    c.expect_stream_error(1, Reason::STREAM_CLOSED);
}

#[test]
fn h2spec_http2_5_1_8_data_after_peer_reset_is_stream_closed() {
    let mut c = Case::new();
    c.req(1, false);
    c.send(Frame::RstStream(RstStream::new(sid(1), Reason::CANCEL)));
    let f = c.peer.data(1, b"test", true);
    c.send(f);
    c.expect_stream_error(1, Reason::STREAM_CLOSED);
}

#[test]
fn h2spec_http2_5_1_9_headers_after_peer_reset_is_stream_closed() {
    let mut c = Case::new();
    c.req(1, false);
    c.send(Frame::RstStream(RstStream::new(sid(1), Reason::CANCEL)));
    c.req(1, true);
    c.expect_stream_error(1, Reason::STREAM_CLOSED);
}

#[test]
fn h2spec_http2_5_1_11_data_on_closed_stream_is_stream_closed() {
    let mut c = Case::new();
    c.req(1, true);
    assert!(
        c.got
            .iter()
            .any(|f| matches!(f, Frame::Data(d) if d.end_stream))
    );
    let f = c.peer.data(1, b"test", true);
    c.send(f);
    assert_eq!(goaway_code(&c.got), Some(Reason::STREAM_CLOSED));
}

#[test]
fn h2spec_http2_5_1_12_headers_on_closed_stream_is_connection_stream_closed() {
    let mut c = Case::new();
    c.req(1, true);
    c.req(1, true);
    c.expect_conn_error(Reason::STREAM_CLOSED);
}

#[test]
fn rfc9113_5_1_closed_streams_are_told_apart_within_the_remembered_window() {
    let mut config = Config::default();
    config.max_closed_streams = 4;
    let mut c = Case::with(config);
    // Stream 1 ends normally; stream 3 is malformed and reset by us.
    c.req(1, true);
    c.expect_response(1);
    let f = c.peer.headers(
        3,
        &fields(&get_with(&[("connection", "keep-alive")])),
        false,
    );
    c.send(f);
    c.expect_stream_error(3, Reason::PROTOCOL_ERROR);
    // Late DATA on a stream we reset is dropped without a word.
    c.got.clear();
    let f = c.peer.data(3, b"late", true);
    c.send(f);
    assert!(c.got.is_empty(), "nothing answers it: {:?}", c.got);
    // Four more streams push 1 and 3 out of a window of four.
    for id in [5, 7, 9, 11] {
        c.req(id, true);
    }
    c.got.clear();
    let f = c.peer.data(3, b"late", true);
    c.send(f);
    c.expect_stream_error(3, Reason::STREAM_CLOSED);
    // Within the window, DATA after both ends finished still ends the
    // connection (§5.1, closed).
    let f = c.peer.data(7, b"late", true);
    c.send(f);
    c.expect_conn_error(Reason::STREAM_CLOSED);
}

/// A long-lived stream that we reset after more than a window's worth of
/// newer streams: its late frames are still ignored (§5.1), not taken for
/// frames on a stream never opened.
#[test]
fn rfc9113_5_1_late_frames_on_a_long_lived_stream_we_reset_are_ignored() {
    let mut c = Case::new();
    c.req(1, false);
    c.expect_response(1);
    for id in (3..=2201).step_by(2) {
        c.req(id, true);
    }
    c.conn.reset(sid(1), Reason::CANCEL);
    c.pump();
    assert!(
        resets(&c.got).contains(&(1, Reason::CANCEL)),
        "our reset went out"
    );
    c.got.clear();
    let f = c.peer.data(1, b"late", false);
    c.send(f);
    let f = c.peer.headers(1, &fields(&[("x-late", "trailers")]), true);
    c.send(f);
    assert!(c.got.is_empty(), "nothing answers them: {:?}", c.got);
    assert!(!c.conn.is_closed());
    c.req(2203, true);
    c.expect_response(2203);
}

#[test]
fn h2spec_http2_5_1_13_continuation_on_closed_stream_is_protocol_error() {
    let mut c = Case::new();
    c.req(1, true);
    let block = c.peer.block(&get_head());
    c.send(Frame::Continuation(Continuation {
        stream_id: sid(1),
        fragment: block,
        end_headers: true,
    }));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_5_1_1_1_even_stream_id_is_protocol_error() {
    let mut c = Case::new();
    c.req(2, true);
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_5_1_1_2_decreasing_stream_id_is_protocol_error() {
    let mut c = Case::new();
    c.req(5, true);
    c.req(3, true);
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_5_1_2_1_streams_over_the_limit_are_refused() {
    let mut config = Config::default();
    config.max_concurrent_streams = 2;
    let mut c = Case::with(config);
    // Hold the responses: the app does not run, so streams stay open.
    for id in [1, 3, 5] {
        let f = c.peer.headers(id, &get_head(), true);
        let _ = c.peer.send(&mut c.conn, f);
    }
    c.got = c.peer.read(&mut c.conn);
    c.expect_stream_error(5, Reason::REFUSED_STREAM);
    assert_eq!(resets(&c.got).len(), 1);
}

#[test]
fn h2spec_http2_5_3_1_1_headers_depending_on_itself_is_stream_error() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    c.send(Frame::Headers(frame::Headers {
        stream_id: sid(1),
        fragment: block,
        end_stream: true,
        end_headers: true,
        priority: Some(PrioritySpec {
            dependency: sid(1),
            exclusive: false,
            weight: 16,
        }),
        pad_len: None,
    }));
    c.expect_stream_error(1, Reason::PROTOCOL_ERROR);
    // HPACK stayed in step: the next request is served.
    c.req(3, true);
    assert!(
        c.got
            .iter()
            .any(|f| matches!(f, Frame::Headers(h) if h.stream_id == sid(3)))
    );
}

#[test]
fn h2spec_http2_5_3_1_2_priority_depending_on_itself_is_stream_error() {
    let mut c = Case::new();
    c.send(Frame::Priority(Priority {
        stream_id: sid(1),
        spec: PrioritySpec {
            dependency: sid(1),
            exclusive: false,
            weight: 16,
        },
    }));
    c.expect_stream_error(1, Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_5_4_1_1_invalid_ping_closes_the_connection() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x6, 0, 3, &[0; 8]));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_5_5_2_unknown_frame_inside_header_block_is_protocol_error() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    c.send(Frame::Headers(frame::Headers {
        stream_id: sid(1),
        fragment: block,
        end_stream: true,
        end_headers: false,
        priority: None,
        pad_len: None,
    }));
    c.raw(&raw_frame(0x16, 0, 1, &[0; 8]));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

// ---- §6 frame definitions ----

#[test]
fn h2spec_http2_6_1_1_data_on_stream_zero_is_protocol_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x0, 0, 0, b"test"));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_1_2_data_on_half_closed_stream_is_stream_closed() {
    let mut c = Case::new();
    let mut h = get_head();
    h[0] = field(":method", "POST");
    let f = c.peer.headers(1, &h, true);
    let _ = c.peer.send(&mut c.conn, f);
    let _ = events(&mut c.conn);
    let f = c.peer.data(1, b"test", true);
    c.send(f);
    c.expect_stream_error(1, Reason::STREAM_CLOSED);
}

#[test]
fn h2spec_http2_6_1_3_data_with_invalid_padding_is_protocol_error() {
    let mut c = Case::new();
    c.post(1, &[("content-length", "4")]);
    c.raw(&raw_frame(0x0, 0x09, 1, &[6, b'T', b'e', b's', b't']));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_2_3_headers_on_stream_zero_is_protocol_error() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    c.raw(&raw_frame(0x1, 0x05, 0, &block));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_2_4_headers_with_invalid_padding_is_protocol_error() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    let mut payload = vec![(block.len() + 2) as u8];
    payload.extend_from_slice(&block);
    c.raw(&raw_frame(0x1, 0x0d, 1, &payload));
    assert_eq!(goaway_code(&c.got), Some(Reason::PROTOCOL_ERROR));
}

#[test]
fn h2spec_http2_6_3_1_priority_on_stream_zero_is_protocol_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x2, 0, 0, &[0, 0, 0, 1, 16]));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_3_2_priority_of_wrong_length_is_stream_frame_size_error() {
    let mut c = Case::new();
    c.req(1, true);
    c.raw(&raw_frame(0x2, 0, 1, &[0, 0, 0, 3]));
    c.expect_stream_error(1, Reason::FRAME_SIZE_ERROR);
}

#[test]
fn h2spec_http2_6_4_1_rst_stream_on_stream_zero_is_protocol_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x3, 0, 0, &[0, 0, 0, 8]));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_4_3_rst_stream_of_wrong_length_is_frame_size_error() {
    let mut c = Case::new();
    c.req(1, true);
    c.raw(&raw_frame(0x3, 0, 1, &[0, 0, 8]));
    c.expect_conn_error(Reason::FRAME_SIZE_ERROR);
}

#[test]
fn h2spec_http2_6_5_1_settings_ack_with_payload_is_frame_size_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x4, 0x1, 0, &[0]));
    c.expect_conn_error(Reason::FRAME_SIZE_ERROR);
}

#[test]
fn h2spec_http2_6_5_2_settings_on_a_stream_is_protocol_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x4, 0, 1, &[0, 3, 0, 0, 0, 100]));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_5_3_settings_of_bad_length_is_frame_size_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x4, 0, 0, &[0, 3, 0]));
    c.expect_conn_error(Reason::FRAME_SIZE_ERROR);
}

#[test]
fn h2spec_http2_6_5_2_1_enable_push_2_is_protocol_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x4, 0, 0, &[0, 2, 0, 0, 0, 2]));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_5_2_2_initial_window_over_max_is_flow_control_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x4, 0, 0, &[0, 4, 0x80, 0, 0, 0]));
    c.expect_conn_error(Reason::FLOW_CONTROL_ERROR);
}

#[test]
fn h2spec_http2_6_5_2_3_max_frame_size_too_small_is_protocol_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x4, 0, 0, &[0, 5, 0, 0, 0x3f, 0xff]));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_5_2_4_max_frame_size_too_large_is_protocol_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x4, 0, 0, &[0, 5, 0x01, 0, 0, 0]));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_5_2_5_unknown_setting_is_ignored() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x4, 0, 0, &[0, 0xff, 0, 0, 0, 1])).ping();
    c.expect_ping_ack();
}

#[test]
fn h2spec_http2_6_5_3_1_last_initial_window_value_wins() {
    let mut c = Case::new();
    c.raw(&raw_frame(
        0x4,
        0,
        0,
        &[0, 4, 0, 0, 0, 100, 0, 4, 0, 0, 0, 1],
    ));
    c.req(1, true);
    assert_eq!(c.data_lengths().first(), Some(&1), "{:?}", c.got);
}

#[test]
fn h2spec_http2_6_5_3_2_settings_are_acknowledged() {
    let mut c = Case::new();
    c.send(settings(&[(Settings::ENABLE_PUSH, 0)]));
    assert!(matches!(
        c.got.iter().find(|f| matches!(f, Frame::Settings(_))),
        Some(Frame::Settings(s)) if s.ack
    ));
}

#[test]
fn h2spec_http2_6_7_2_ping_ack_is_not_answered() {
    let mut c = Case::new();
    c.send(Frame::Ping(Ping::pong(*b"invalid!")));
    c.ping();
    let pings: Vec<_> = c
        .got
        .iter()
        .filter_map(|f| match f {
            Frame::Ping(p) => Some(p.payload),
            _ => None,
        })
        .collect();
    assert_eq!(pings, vec![*b"h2spec\0\0"]);
}

#[test]
fn h2spec_http2_6_7_4_ping_of_wrong_length_is_frame_size_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x6, 0, 0, &[0; 6]));
    c.expect_conn_error(Reason::FRAME_SIZE_ERROR);
}

#[test]
fn h2spec_http2_6_8_1_goaway_on_a_stream_is_protocol_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x7, 0, 1, &[0; 8]));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_9_1_zero_increment_on_connection_is_protocol_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x8, 0, 0, &[0; 4]));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_9_2_zero_increment_on_stream_is_stream_error() {
    let mut c = Case::new();
    c.req(1, false);
    c.raw(&raw_frame(0x8, 0, 1, &[0; 4]));
    c.expect_stream_error(1, Reason::PROTOCOL_ERROR);
}

/// On an idle stream a WINDOW_UPDATE is a connection error whatever its
/// increment (§5.1, idle), and no RST_STREAM may go out for an idle
/// stream (§6.4): a zero increment there does not make it a stream error.
#[test]
fn rfc9113_5_1_zero_increment_on_an_idle_stream_is_connection_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x8, 0, 1, &[0; 4]));
    assert_eq!(resets(&c.got), vec![], "{:?}", c.got);
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_9_3_window_update_of_wrong_length_is_frame_size_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x8, 0, 0, &[0, 0, 1]));
    c.expect_conn_error(Reason::FRAME_SIZE_ERROR);
}

#[test]
fn h2spec_http2_6_9_1_1_data_respects_a_one_byte_window() {
    let mut c = Case::new();
    c.send(settings(&[(Settings::INITIAL_WINDOW_SIZE, 1)]));
    c.req(1, true);
    assert_eq!(c.data_lengths(), vec![1]);
    // More credit lets the rest through.
    c.send(Frame::WindowUpdate(WindowUpdate::new(sid(1), 100)));
    assert_eq!(c.data_lengths(), vec![1, 10]);
}

#[test]
fn h2spec_http2_6_9_1_2_connection_window_overflow_is_flow_control_error() {
    let mut c = Case::new();
    c.send(Frame::WindowUpdate(WindowUpdate::new(sid(0), 0x7fff_ffff)));
    c.send(Frame::WindowUpdate(WindowUpdate::new(sid(0), 0x7fff_ffff)));
    c.expect_conn_error(Reason::FLOW_CONTROL_ERROR);
}

#[test]
fn h2spec_http2_6_9_1_3_stream_window_overflow_is_stream_flow_control_error() {
    let mut c = Case::new();
    c.req(1, false);
    c.send(Frame::WindowUpdate(WindowUpdate::new(sid(1), 0x7fff_ffff)));
    c.send(Frame::WindowUpdate(WindowUpdate::new(sid(1), 0x7fff_ffff)));
    c.expect_stream_error(1, Reason::FLOW_CONTROL_ERROR);
}

#[test]
fn h2spec_http2_6_9_2_1_initial_window_change_reopens_a_stream() {
    let mut c = Case::new();
    c.send(settings(&[(Settings::INITIAL_WINDOW_SIZE, 0)]));
    c.req(1, true);
    assert!(c.data_lengths().is_empty());
    c.send(settings(&[(Settings::INITIAL_WINDOW_SIZE, 1)]));
    assert_eq!(c.data_lengths(), vec![1]);
}

#[test]
fn h2spec_http2_6_9_2_2_window_can_go_negative() {
    let mut c = Case::new();
    c.send(settings(&[(Settings::INITIAL_WINDOW_SIZE, 3)]));
    c.req(1, true);
    assert_eq!(c.data_lengths(), vec![3]);
    c.send(settings(&[(Settings::INITIAL_WINDOW_SIZE, 2)]));
    // Window is now -1: one byte of credit is not enough.
    c.send(Frame::WindowUpdate(WindowUpdate::new(sid(1), 1)));
    assert_eq!(c.data_lengths(), vec![3]);
    c.send(Frame::WindowUpdate(WindowUpdate::new(sid(1), 1)));
    assert_eq!(c.data_lengths(), vec![3, 1]);
}

#[test]
fn h2spec_http2_6_10_1_several_continuations_are_assembled() {
    let mut c = Case::new();
    let mut h = get_head();
    h.push(field("x-dummy0", &"x".repeat(4000)));
    let block = c.peer.block(&h);
    let (a, rest) = block.split_at(5);
    let (b, d) = rest.split_at(rest.len() / 2);
    c.send(Frame::Headers(frame::Headers {
        stream_id: sid(1),
        fragment: Bytes::copy_from_slice(a),
        end_stream: true,
        end_headers: false,
        priority: None,
        pad_len: None,
    }));
    c.send(Frame::Continuation(Continuation {
        stream_id: sid(1),
        fragment: Bytes::copy_from_slice(b),
        end_headers: false,
    }));
    c.send(Frame::Continuation(Continuation {
        stream_id: sid(1),
        fragment: Bytes::copy_from_slice(d),
        end_headers: true,
    }));
    c.expect_response(1);
}

#[test]
fn h2spec_http2_6_10_2_continuation_then_data_is_protocol_error() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    c.send(Frame::Headers(frame::Headers {
        stream_id: sid(1),
        fragment: block,
        end_stream: false,
        end_headers: false,
        priority: None,
        pad_len: None,
    }));
    let f = c.peer.data(1, b"test", true);
    c.send(f);
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_10_3_continuation_on_stream_zero_is_protocol_error() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    c.send(Frame::Headers(frame::Headers {
        stream_id: sid(1),
        fragment: block,
        end_stream: true,
        end_headers: false,
        priority: None,
        pad_len: None,
    }));
    c.raw(&raw_frame(0x9, 0x4, 0, &[]));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_10_4_continuation_after_end_headers_is_protocol_error() {
    let mut c = Case::new();
    c.req(1, true);
    let block = c.peer.block(&[field("x-a", "b")]);
    c.send(Frame::Continuation(Continuation {
        stream_id: sid(1),
        fragment: block,
        end_headers: true,
    }));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

// ---- §7, §8 ----

#[test]
fn h2spec_http2_7_1_goaway_with_unknown_code_is_accepted() {
    let mut c = Case::new();
    c.send(Frame::GoAway(GoAway::new(sid(0), Reason(0xff))));
    // An error code closes the connection; we must not answer with an error.
    assert!(goaway_code(&c.got).is_none_or(|code| code == Reason::NO_ERROR));
}

#[test]
fn h2spec_http2_7_2_rst_stream_with_unknown_code_is_accepted() {
    let mut c = Case::new();
    c.post(1, &[]);
    c.send(Frame::RstStream(RstStream::new(sid(1), Reason(0xff))));
    c.ping();
    c.expect_ping_ack();
}

#[test]
fn h2spec_http2_8_1_1_second_headers_without_end_stream_is_protocol_error() {
    let mut c = Case::new();
    c.post(1, &[]);
    let f = c.peer.data(1, b"test", false);
    c.send(f);
    let f = c.peer.headers(1, &[field("x-test", "ok")], false);
    c.send(f);
    c.expect_stream_error(1, Reason::PROTOCOL_ERROR);
}

/// A request head that h2spec §8.1.2 calls malformed: RST_STREAM
/// PROTOCOL_ERROR on it, and the connection (HPACK included) still serves
/// the next request.
#[track_caller]
fn expect_malformed(head: &[(&str, &str)]) {
    let mut c = Case::new();
    let f = c.peer.headers(1, &fields(head), true);
    c.send(f);
    c.expect_stream_error(1, Reason::PROTOCOL_ERROR);
    assert!(
        !c.got
            .iter()
            .any(|f| matches!(f, Frame::Headers(h) if h.stream_id == sid(1))),
        "no response to a malformed request: {:?}",
        c.got
    );
    c.req(3, true);
    assert!(
        c.got
            .iter()
            .any(|f| matches!(f, Frame::Headers(h) if h.stream_id == sid(3))),
        "{:?}",
        c.got
    );
}

const GET: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "localhost"),
];

fn get_with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    GET.iter().chain(extra).copied().collect()
}

#[test]
fn h2spec_http2_8_1_2_1_uppercase_field_name_is_stream_error() {
    expect_malformed(&get_with(&[("X-TEST", "ok")]));
}

#[test]
fn h2spec_http2_8_1_2_1_1_unknown_pseudo_header_is_stream_error() {
    expect_malformed(&get_with(&[(":test", "ok")]));
}

#[test]
fn h2spec_http2_8_1_2_1_2_response_pseudo_header_in_request_is_stream_error() {
    expect_malformed(&get_with(&[(":status", "200")]));
}

#[test]
fn h2spec_http2_8_1_2_1_4_pseudo_header_after_regular_is_stream_error() {
    let mut h = vec![("x-test", "ok")];
    h.extend(GET);
    expect_malformed(&h);
}

#[test]
fn h2spec_http2_8_1_2_2_1_connection_specific_field_is_stream_error() {
    expect_malformed(&get_with(&[("connection", "keep-alive")]));
}

#[test]
fn h2spec_http2_8_1_2_2_2_te_other_than_trailers_is_stream_error() {
    expect_malformed(&get_with(&[
        ("trailers", "test"),
        ("te", "trailers, deflate"),
    ]));
}

#[test]
fn h2spec_http2_8_1_2_3_1_empty_path_is_stream_error() {
    expect_malformed(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", ""),
        (":authority", "localhost"),
    ]);
}

#[test]
fn h2spec_http2_8_1_2_3_2_missing_method_is_stream_error() {
    expect_malformed(&[(":path", "/"), (":authority", "localhost")]);
}

#[test]
fn h2spec_http2_8_1_2_3_3_missing_scheme_is_stream_error() {
    expect_malformed(&[
        (":method", "GET"),
        (":path", "/"),
        (":authority", "localhost"),
    ]);
}

#[test]
fn h2spec_http2_8_1_2_3_4_missing_path_is_stream_error() {
    expect_malformed(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", "localhost"),
    ]);
}

#[test]
fn h2spec_http2_8_1_2_3_5_duplicated_method_is_stream_error() {
    expect_malformed(&get_with(&[(":method", "GET")]));
}

#[test]
fn h2spec_http2_8_1_2_3_6_duplicated_scheme_is_stream_error() {
    expect_malformed(&get_with(&[(":scheme", "http")]));
}

#[test]
fn h2spec_http2_8_1_2_3_7_duplicated_path_is_stream_error() {
    expect_malformed(&get_with(&[(":path", "/")]));
}

#[test]
fn h2spec_http2_8_1_2_1_3_pseudo_header_in_trailers_is_stream_error() {
    let mut c = Case::new();
    c.post(1, &[]);
    let f = c.peer.data(1, b"test", false);
    c.send(f);
    let f = c.peer.headers(1, &[field(":method", "POST")], true);
    c.send(f);
    c.expect_stream_error(1, Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_8_1_2_6_1_content_length_mismatch_is_stream_error() {
    let mut c = Case::new();
    c.post(1, &[("content-length", "1")]);
    let f = c.peer.data(1, b"test", true);
    c.send(f);
    c.expect_stream_error(1, Reason::PROTOCOL_ERROR);

    let mut c = Case::new();
    c.post(1, &[("content-length", "5")]);
    let f = c.peer.data(1, b"test", false);
    c.send(f);
    let f = c.peer.data(1, b"", true);
    c.send(f);
    c.expect_stream_error(1, Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_8_2_1_push_promise_from_client_is_protocol_error() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    c.send(Frame::PushPromise(PushPromise {
        stream_id: sid(1),
        promised_id: sid(2),
        fragment: block,
        end_headers: true,
        pad_len: None,
    }));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

// ---- generic ----

#[test]
fn h2spec_generic_2_5_priority_on_closed_stream_is_fine() {
    let mut c = Case::new();
    c.req(1, true);
    c.send(Frame::Priority(Priority {
        stream_id: sid(1),
        spec: PrioritySpec {
            dependency: sid(0),
            exclusive: false,
            weight: 255,
        },
    }));
    c.ping();
    c.expect_ping_ack();
}

#[test]
fn h2spec_generic_3_3_3_priority_on_idle_stream_does_not_use_up_ids() {
    let mut c = Case::new();
    c.send(Frame::Priority(Priority {
        stream_id: sid(3),
        spec: PrioritySpec {
            dependency: sid(1),
            exclusive: false,
            weight: 16,
        },
    }));
    c.req(1, true);
    c.expect_response(1);
}

#[test]
fn h2spec_generic_3_1_3_padded_data_is_accepted_and_released() {
    let mut c = Case::new();
    c.post(1, &[]);
    c.send(Frame::Data(frame::Data {
        stream_id: sid(1),
        data: Bytes::from_static(b"test"),
        end_stream: true,
        pad_len: Some(5),
    }));
    c.expect_response(1);
}

#[test]
fn h2spec_generic_4_4_post_with_trailers() {
    let mut c = Case::new();
    let mut h = get_head();
    h[0] = field(":method", "POST");
    h.push(field("trailer", "x-test"));
    let f = c.peer.headers(1, &h, false);
    let _ = c.peer.send(&mut c.conn, f);
    let f = c.peer.data(1, b"test", false);
    let _ = c.peer.send(&mut c.conn, f);
    let f = c.peer.headers(1, &[field("x-test", "ok")], true);
    let _ = c.peer.send(&mut c.conn, f);
    let evs = events(&mut c.conn);
    assert!(matches!(
        &evs[0],
        Event::Headers {
            end_stream: false,
            ..
        }
    ));
    assert!(matches!(&evs[1], Event::Data { data, end_stream: false, .. } if &data[..] == b"test"));
    assert!(
        matches!(&evs[2], Event::Headers { fields, end_stream: true, .. } if as_pairs(fields) == vec![("x-test".into(), "ok".into())])
    );
}

#[test]
fn h2spec_generic_5_15_table_size_updates_at_block_start() {
    let mut c = Case::new();
    let mut block = BytesMut::new();
    block.extend_from_slice(&[0x3f, 0x61, 0x3f, 0xe1, 0x1f]);
    block.extend_from_slice(&c.peer.block(&get_head()));
    c.raw(&raw_frame(0x1, 0x05, 1, &block));
    c.expect_response(1);
}

// ---- hpack ----

/// A request block followed by `tail` (or preceded by `head`) in one
/// HEADERS frame must end the connection with GOAWAY COMPRESSION_ERROR.
#[track_caller]
fn expect_compression_error(head: &[u8], tail: &[u8]) {
    let mut c = Case::new();
    let mut block = head.to_vec();
    block.extend_from_slice(&c.peer.block(&get_head()));
    block.extend_from_slice(tail);
    c.raw(&raw_frame(0x1, 0x05, 1, &block));
    c.expect_conn_error(Reason::COMPRESSION_ERROR);
}

/// A literal field without indexing, name `x-test`, Huffman value `value`.
fn huffman_x_test(value: &[u8]) -> Vec<u8> {
    let mut v = vec![0x00, 0x06];
    v.extend_from_slice(b"x-test");
    v.push(0x80 | value.len() as u8);
    v.extend_from_slice(value);
    v
}

#[test]
fn h2spec_hpack_2_3_3_1_index_past_both_tables_is_compression_error() {
    expect_compression_error(&[], &[0xc6]);
}

#[test]
fn h2spec_hpack_2_3_3_2_literal_name_index_past_both_tables_is_compression_error() {
    expect_compression_error(&[], &[0x7f, 0x07, 0x00]);
}

#[test]
fn h2spec_hpack_4_2_1_size_update_after_a_field_is_compression_error() {
    expect_compression_error(&[], &[0x21]);
}

#[test]
fn h2spec_hpack_5_2_1_huffman_padding_over_seven_bits_is_compression_error() {
    let mut value = Vec::new();
    hpack::huffman::encode(b"test", &mut value);
    value.push(0xff);
    let mut out = Vec::new();
    assert!(hpack::huffman::decode(&value, &mut out).is_err());
    expect_compression_error(&[], &huffman_x_test(&value));
}

#[test]
fn h2spec_hpack_5_2_2_huffman_padding_of_zeros_is_compression_error() {
    let mut value = Vec::new();
    hpack::huffman::encode(b"test", &mut value);
    // "test" is 4 codes of 5 bits: the last 4 bits of the 3 bytes are
    // padding, which must be ones. Make them zeros.
    assert_eq!(value.len(), 3);
    value[2] &= 0xf0;
    let mut out = Vec::new();
    assert!(hpack::huffman::decode(&value, &mut out).is_err());
    expect_compression_error(&[], &huffman_x_test(&value));
}

#[test]
fn h2spec_hpack_5_2_3_huffman_with_eos_is_compression_error() {
    // 30 one bits (EOS), then 'a' (00011), then 5 bits of one padding.
    let value = [0xff, 0xff, 0xff, 0xfc, 0x7f];
    let mut out = Vec::new();
    assert!(hpack::huffman::decode(&value, &mut out).is_err());
    expect_compression_error(&[], &huffman_x_test(&value));
}

#[test]
fn h2spec_hpack_6_1_1_index_zero_is_compression_error() {
    expect_compression_error(&[], &[0x80]);
}

#[test]
fn h2spec_hpack_6_3_1_size_update_over_our_setting_is_compression_error() {
    // 4097: one above the SETTINGS_HEADER_TABLE_SIZE we allow (4096).
    expect_compression_error(&[0x3f, 0xe2, 0x1f], &[]);
}

#[test]
fn rfc9113_3_4_http1_detection_waits_for_the_request_line() {
    let clock = Clock::new();
    let mut conn = Connection::server(Config::default(), clock.now);
    assert!(
        conn.receive(b"POST /helloworld.Greeter/SayHello HT", clock.now)
            .is_ok()
    );
    assert!(!conn.is_closed());
    let err = conn.receive(b"TP/1.1\r\n", clock.now).unwrap_err();
    assert_eq!(err, grpc_sansio::h2::ConnectionError::Http1Request);
    let mut out = BytesMut::new();
    while conn.poll_transmit(&mut out) > 0 {}
    assert!(out.starts_with(b"HTTP/1.1 505 "));
    assert!(
        !out.windows(9).any(|w| w == [0, 0, 0x12, 4, 0, 0, 0, 0, 0]),
        "no SETTINGS after it"
    );
}

// ---- more h2spec mirrors: one test per case id not covered above ----

/// A HEADERS frame for `id` carrying `block` without END_HEADERS.
fn open_block(id: u32, block: Bytes, end_stream: bool) -> Frame {
    Frame::Headers(frame::Headers {
        stream_id: sid(id),
        fragment: block,
        end_stream,
        end_headers: false,
        priority: None,
        pad_len: None,
    })
}

fn priority(id: u32, dependency: u32, exclusive: bool, weight: u8) -> Frame {
    Frame::Priority(Priority {
        stream_id: sid(id),
        spec: PrioritySpec {
            dependency: sid(dependency),
            exclusive,
            weight,
        },
    })
}

impl Case {
    /// Send a request head without letting the application answer, so the
    /// stream stays open or half-closed (remote).
    fn held_req(&mut self, id: u32, end_stream: bool) -> &mut Self {
        let f = self.peer.headers(id, &get_head(), end_stream);
        let _ = self.peer.send(&mut self.conn, f);
        self
    }

    /// The events the application has not consumed yet.
    fn take_events(&mut self) -> Vec<Event> {
        events(&mut self.conn)
    }

    fn post_data(&mut self, id: u32, chunks: &[&[u8]]) -> &mut Self {
        self.post(id, &[]);
        for (i, chunk) in chunks.iter().enumerate() {
            let f = self.peer.data(id, chunk, i + 1 == chunks.len());
            self.send(f);
        }
        self
    }
}

#[test]
fn h2spec_generic_1_1_server_settings_come_first_after_the_preface() {
    let clock = Clock::new();
    let mut conn = Connection::server(Config::default(), clock.now);
    let mut bytes = BytesMut::from(frame::PREFACE);
    settings(&[(Settings::INITIAL_WINDOW_SIZE, 65_535)]).encode(&mut bytes);
    conn.receive(&bytes, clock.now).unwrap();
    let got = RawPeer::new().read(&mut conn);
    assert!(
        matches!(got.first(), Some(Frame::Settings(s)) if !s.ack),
        "{got:?}"
    );
    assert!(got.iter().any(|f| matches!(f, Frame::Settings(s) if s.ack)));
}

#[test]
fn h2spec_generic_2_1_priority_on_idle_stream_is_fine() {
    let mut c = Case::new();
    c.send(priority(1, 0, false, 255)).ping();
    c.expect_ping_ack();
    assert_eq!(goaway_code(&c.got), None);
}

#[test]
fn h2spec_generic_2_2_window_update_on_half_closed_remote_releases_data() {
    let mut c = Case::new();
    c.send(settings(&[(Settings::INITIAL_WINDOW_SIZE, 0)]));
    c.req(1, true);
    assert!(c.data_lengths().is_empty(), "{:?}", c.got);
    c.send(Frame::WindowUpdate(WindowUpdate::new(sid(1), 1)));
    assert_eq!(c.data_lengths(), vec![1]);
}

#[test]
fn h2spec_generic_2_3_priority_on_half_closed_remote_is_fine() {
    let mut c = Case::new();
    c.send(settings(&[(Settings::INITIAL_WINDOW_SIZE, 0)]));
    c.req(1, true);
    c.send(priority(1, 0, false, 255));
    c.send(Frame::WindowUpdate(WindowUpdate::new(sid(1), 1)));
    assert_eq!(c.data_lengths(), vec![1]);
    assert!(resets(&c.got).is_empty());
}

#[test]
fn h2spec_generic_2_4_rst_stream_on_half_closed_remote_is_fine() {
    let mut c = Case::new();
    c.held_req(1, true);
    let _ = c.take_events();
    c.send(Frame::RstStream(RstStream::new(sid(1), Reason::CANCEL)));
    c.ping();
    c.expect_ping_ack();
    assert_eq!(goaway_code(&c.got), None);
    assert_eq!(c.conn.stream_state(sid(1)), None, "the stream is gone");
}

#[test]
fn h2spec_generic_3_1_1_data_frame_is_accepted() {
    let mut c = Case::new();
    c.post_data(1, &[b"test"]);
    c.expect_response(1);
}

#[test]
fn h2spec_generic_3_1_2_several_data_frames_are_accepted() {
    let mut c = Case::new();
    c.post(1, &[]);
    let f = c.peer.data(1, b"test", false);
    let _ = c.peer.send(&mut c.conn, f);
    let f = c.peer.data(1, b"test", true);
    let _ = c.peer.send(&mut c.conn, f);
    let body: Vec<u8> = c
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Data { data, .. } => Some(data.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(body, b"testtest");
}

#[test]
fn h2spec_generic_3_2_1_headers_frame_gets_a_response() {
    let mut c = Case::new();
    c.req(1, true);
    c.expect_response(1);
}

#[test]
fn h2spec_generic_3_2_2_padded_headers_are_accepted() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    c.send(Frame::Headers(frame::Headers {
        stream_id: sid(1),
        fragment: block,
        end_stream: true,
        end_headers: true,
        priority: None,
        pad_len: Some(8),
    }));
    c.expect_response(1);
}

#[test]
fn h2spec_generic_3_2_3_headers_with_priority_are_accepted() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    c.send(Frame::Headers(frame::Headers {
        stream_id: sid(1),
        fragment: block,
        end_stream: true,
        end_headers: true,
        priority: Some(PrioritySpec {
            dependency: sid(0),
            exclusive: false,
            weight: 255,
        }),
        pad_len: None,
    }));
    c.expect_response(1);
}

#[test]
fn h2spec_generic_3_3_1_priority_weight_1_then_request() {
    let mut c = Case::new();
    c.send(priority(1, 0, false, 0)).req(1, true);
    c.expect_response(1);
}

#[test]
fn h2spec_generic_3_3_2_priority_weight_256_then_request() {
    let mut c = Case::new();
    c.send(priority(1, 0, false, 255)).req(1, true);
    c.expect_response(1);
}

#[test]
fn h2spec_generic_3_3_4_exclusive_priority_then_request() {
    let mut c = Case::new();
    c.send(priority(1, 0, true, 16)).req(1, true);
    c.expect_response(1);
}

#[test]
fn h2spec_generic_3_3_5_priority_on_higher_idle_stream_then_lower_request() {
    let mut c = Case::new();
    c.send(priority(3, 0, false, 16)).req(1, true);
    c.expect_response(1);
}

#[test]
fn h2spec_generic_3_4_1_rst_stream_is_fine() {
    let mut c = Case::new();
    c.req(1, false);
    c.send(Frame::RstStream(RstStream::new(sid(1), Reason::CANCEL)));
    c.ping();
    c.expect_ping_ack();
    assert_eq!(goaway_code(&c.got), None);
}

#[test]
fn h2spec_generic_3_5_1_settings_with_every_parameter_are_acknowledged() {
    let mut c = Case::new();
    c.send(settings(&[
        (Settings::HEADER_TABLE_SIZE, 4096),
        (Settings::ENABLE_PUSH, 1),
        (Settings::MAX_CONCURRENT_STREAMS, 100),
        (Settings::INITIAL_WINDOW_SIZE, 65_535),
        (Settings::MAX_FRAME_SIZE, 16_384),
        (Settings::MAX_HEADER_LIST_SIZE, 100),
    ]));
    assert!(
        matches!(
            c.got.iter().find(|f| matches!(f, Frame::Settings(_))),
            Some(Frame::Settings(s)) if s.ack
        ),
        "{:?}",
        c.got
    );
    assert_eq!(c.conn.peer_max_concurrent_streams(), 100);
}

#[test]
fn h2spec_generic_3_7_1_ping_is_answered() {
    let mut c = Case::new();
    c.ping();
    c.expect_ping_ack();
}

#[test]
fn h2spec_generic_3_8_1_client_goaway_ends_an_idle_connection_cleanly() {
    let mut c = Case::new();
    let goaway = Frame::GoAway(GoAway {
        last_stream_id: sid(0),
        code: Reason::NO_ERROR,
        debug_data: Bytes::from_static(b"h2spec"),
    });
    c.peer.send(&mut c.conn, goaway).unwrap();
    let evs = c.take_events();
    assert!(evs.contains(&Event::Closed { error: None }), "{evs:?}");
    c.ping();
    // h2spec passes on a PING ACK or a close; we answer the GOAWAY with
    // ours and close, as nothing is open.
    assert_eq!(goaway_code(&c.got), Some(Reason::NO_ERROR));
    assert!(c.conn.is_closed());
}

#[test]
fn h2spec_generic_3_9_1_window_update_on_stream_zero_is_fine() {
    let mut c = Case::new();
    c.send(Frame::WindowUpdate(WindowUpdate::new(sid(0), 1)));
    c.ping();
    c.expect_ping_ack();
}

#[test]
fn h2spec_generic_3_9_2_window_update_on_a_stream_is_fine() {
    let mut c = Case::new();
    c.req(1, true);
    c.send(Frame::WindowUpdate(WindowUpdate::new(sid(1), 1)));
    c.expect_response(1);
    assert_eq!(goaway_code(&c.got), None);
    assert!(resets(&c.got).is_empty());
}

#[test]
fn h2spec_generic_3_10_1_continuation_split_inside_a_field() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    c.send(open_block(1, block.slice(..5), true));
    c.send(Frame::Continuation(Continuation {
        stream_id: sid(1),
        fragment: block.slice(5..),
        end_headers: true,
    }));
    c.expect_response(1);
}

#[test]
fn h2spec_generic_3_10_2_several_continuations() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    c.send(open_block(1, block.slice(..5), true));
    c.send(Frame::Continuation(Continuation {
        stream_id: sid(1),
        fragment: block.slice(5..10),
        end_headers: false,
    }));
    c.send(Frame::Continuation(Continuation {
        stream_id: sid(1),
        fragment: block.slice(10..),
        end_headers: true,
    }));
    c.expect_response(1);
}

#[test]
fn h2spec_generic_4_1_get() {
    let mut c = Case::new();
    c.held_req(1, true);
    let evs = c.take_events();
    assert!(
        matches!(&evs[..], [Event::Headers { fields, end_stream: true, .. }]
            if as_pairs(fields)[0] == (":method".into(), "GET".into())),
        "{evs:?}"
    );
}

#[test]
fn h2spec_generic_4_2_head() {
    let mut c = Case::new();
    let mut h = get_head();
    h[0] = field(":method", "HEAD");
    let f = c.peer.headers(1, &h, true);
    c.send(f);
    c.expect_response(1);
}

#[test]
fn h2spec_generic_4_3_post() {
    let mut c = Case::new();
    c.post(1, &[]);
    let f = c.peer.data(1, b"test", true);
    let _ = c.peer.send(&mut c.conn, f);
    let evs = c.take_events();
    assert!(
        evs.iter().any(
            |e| matches!(e, Event::Data { data, end_stream: true, .. } if &data[..] == b"test")
        ),
        "{evs:?}"
    );
}

/// h2spec generic/5: a request block plus one more field representation;
/// the field must reach the application decoded, and a response follows.
#[track_caller]
fn expect_field(tail: &[u8], name: &str, value: &str, sensitive: bool) {
    let mut c = Case::new();
    let mut block = c.peer.block(&get_head()).to_vec();
    block.extend_from_slice(tail);
    c.peer
        .send_raw(&mut c.conn, &raw_frame(0x1, 0x05, 1, &block))
        .unwrap();
    let evs = c.take_events();
    let [Event::Headers { fields, .. }] = &evs[..] else {
        panic!("expected one Headers event, got {evs:?}");
    };
    let last = fields.last().unwrap();
    assert_eq!(
        (&last.name[..], &last.value[..], last.sensitive),
        (name.as_bytes(), value.as_bytes(), sensitive)
    );
    c.conn
        .send_headers(sid(1), support::fields(&[(":status", "200")]), true)
        .unwrap();
    c.got = c.peer.read(&mut c.conn);
    c.expect_response(1);
}

/// A literal representation: `prefix` (0x40 incremental indexing, 0x00
/// without indexing, 0x10 never indexed) with a literal name.
fn literal(prefix: u8, name: &str, value: &str, huffman: bool) -> Vec<u8> {
    let mut out = vec![prefix];
    for s in [name, value] {
        if huffman {
            let mut h = Vec::new();
            hpack::huffman::encode(s.as_bytes(), &mut h);
            out.push(0x80 | h.len() as u8);
            out.extend_from_slice(&h);
        } else {
            out.push(s.len() as u8);
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

#[test]
fn h2spec_generic_5_1_indexed_field() {
    // Static index 58: user-agent with an empty value.
    expect_field(&[0xba], "user-agent", "", false);
}

#[test]
fn h2spec_generic_5_2_literal_incremental_user_agent_huffman() {
    expect_field(
        &literal(0x40, "user-agent", "h2spec", true),
        "user-agent",
        "h2spec",
        false,
    );
}

#[test]
fn h2spec_generic_5_3_literal_incremental_user_agent_raw() {
    expect_field(
        &literal(0x40, "user-agent", "h2spec", false),
        "user-agent",
        "h2spec",
        false,
    );
}

#[test]
fn h2spec_generic_5_4_literal_incremental_new_name_raw() {
    expect_field(
        &literal(0x40, "x-test", "h2spec", false),
        "x-test",
        "h2spec",
        false,
    );
}

#[test]
fn h2spec_generic_5_5_literal_incremental_new_name_huffman() {
    expect_field(
        &literal(0x40, "x-test", "h2spec", true),
        "x-test",
        "h2spec",
        false,
    );
}

#[test]
fn h2spec_generic_5_6_literal_without_indexing_user_agent_raw() {
    expect_field(
        &literal(0x00, "user-agent", "h2spec", false),
        "user-agent",
        "h2spec",
        false,
    );
}

#[test]
fn h2spec_generic_5_7_literal_without_indexing_user_agent_huffman() {
    expect_field(
        &literal(0x00, "user-agent", "h2spec", true),
        "user-agent",
        "h2spec",
        false,
    );
}

#[test]
fn h2spec_generic_5_8_literal_without_indexing_new_name_raw() {
    expect_field(
        &literal(0x00, "x-test", "h2spec", false),
        "x-test",
        "h2spec",
        false,
    );
}

#[test]
fn h2spec_generic_5_9_literal_without_indexing_new_name_huffman() {
    expect_field(
        &literal(0x00, "x-test", "h2spec", true),
        "x-test",
        "h2spec",
        false,
    );
}

#[test]
fn h2spec_generic_5_10_literal_never_indexed_user_agent_raw() {
    expect_field(
        &literal(0x10, "user-agent", "h2spec", false),
        "user-agent",
        "h2spec",
        true,
    );
}

#[test]
fn h2spec_generic_5_11_literal_never_indexed_user_agent_huffman() {
    expect_field(
        &literal(0x10, "user-agent", "h2spec", true),
        "user-agent",
        "h2spec",
        true,
    );
}

#[test]
fn h2spec_generic_5_12_literal_never_indexed_new_name_huffman() {
    expect_field(
        &literal(0x10, "x-test", "h2spec", true),
        "x-test",
        "h2spec",
        true,
    );
}

#[test]
fn h2spec_generic_5_13_literal_never_indexed_new_name_huffman_again() {
    // h2spec's 5/13 repeats 5/12's bytes.
    expect_field(
        &literal(0x10, "x-test", "h2spec", true),
        "x-test",
        "h2spec",
        true,
    );
}

#[test]
fn h2spec_generic_5_14_table_size_update_at_block_start() {
    let mut c = Case::new();
    // Size update to 128, then the request.
    let mut block = vec![0x3f, 0x61];
    block.extend_from_slice(&c.peer.block(&get_head()));
    c.raw(&raw_frame(0x1, 0x05, 1, &block));
    c.expect_response(1);
}

#[test]
fn h2spec_http2_5_1_7_continuation_on_half_closed_remote_is_an_error() {
    let mut c = Case::new();
    c.held_req(1, true);
    let _ = c.take_events();
    let block = c.peer.block(&[field("x-test", "ok")]);
    c.send(Frame::Continuation(Continuation {
        stream_id: sid(1),
        fragment: block,
        end_headers: true,
    }));
    // h2spec accepts STREAM_CLOSED or PROTOCOL_ERROR; a CONTINUATION
    // outside a header block is a connection error for us.
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_5_1_10_continuation_after_peer_reset_is_an_error() {
    let mut c = Case::new();
    c.req(1, false);
    c.send(Frame::RstStream(RstStream::new(sid(1), Reason::CANCEL)));
    let block = c.peer.block(&[field("x-dummy0", &"x".repeat(4000))]);
    c.send(Frame::Continuation(Continuation {
        stream_id: sid(1),
        fragment: block,
        end_headers: true,
    }));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_5_4_1_2_invalid_ping_sends_goaway_before_close() {
    let mut c = Case::new();
    let _ = c.peer.send_raw(&mut c.conn, &raw_frame(0x6, 0, 3, &[0; 8]));
    let evs = c.take_events();
    c.got = c.peer.read(&mut c.conn);
    let last = c.got.last();
    assert!(
        matches!(last, Some(Frame::GoAway(g)) if g.code == Reason::PROTOCOL_ERROR),
        "the GOAWAY is the last frame: {:?}",
        c.got
    );
    assert!(c.conn.is_closed());
    assert!(
        evs.iter().any(|e| matches!(
            e,
            Event::Closed {
                error: Some(grpc_sansio::h2::ConnectionError::GoAway {
                    initiator: Initiator::Local,
                    ..
                })
            }
        )),
        "{evs:?}"
    );
}

#[test]
fn h2spec_http2_5_5_1_unknown_extension_frame_is_ignored() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x16, 0, 0, b"h2spec\0\0")).ping();
    c.expect_ping_ack();
    assert_eq!(goaway_code(&c.got), None);
}

#[test]
fn h2spec_http2_6_2_1_priority_inside_header_block_is_protocol_error() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    c.send(open_block(1, block, false));
    c.send(priority(1, 0, false, 255));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_2_2_headers_for_another_stream_inside_block_is_protocol_error() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    c.send(open_block(1, block, false));
    c.req(3, true);
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_4_2_rst_stream_on_idle_stream_is_protocol_error() {
    let mut c = Case::new();
    c.send(Frame::RstStream(RstStream::new(sid(1), Reason::CANCEL)));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_7_1_ping_is_acknowledged_with_its_payload() {
    let mut c = Case::new();
    c.ping();
    c.expect_ping_ack();
    let pings: Vec<_> = c
        .got
        .iter()
        .filter(|f| matches!(f, Frame::Ping(_)))
        .collect();
    assert_eq!(pings.len(), 1, "exactly one answer: {pings:?}");
}

#[test]
fn h2spec_http2_6_7_3_ping_on_a_stream_is_protocol_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x6, 0, 1, b"h2spec\0\0"));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_9_2_3_initial_window_over_max_is_flow_control_error() {
    let mut c = Case::new();
    c.raw(&raw_frame(0x4, 0, 0, &[0, 4, 0x80, 0, 0, 0]));
    c.expect_conn_error(Reason::FLOW_CONTROL_ERROR);
}

#[test]
fn h2spec_http2_6_10_5_continuation_after_end_headers_continuation_is_protocol_error() {
    let mut c = Case::new();
    let block = c.peer.block(&get_head());
    c.send(open_block(1, block, true));
    let dummy = c.peer.block(&[field("x-dummy0", "x")]);
    c.send(Frame::Continuation(Continuation {
        stream_id: sid(1),
        fragment: Bytes::new(),
        end_headers: true,
    }));
    assert_eq!(goaway_code(&c.got), None, "the block is complete");
    c.send(Frame::Continuation(Continuation {
        stream_id: sid(1),
        fragment: dummy,
        end_headers: true,
    }));
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2spec_http2_6_10_6_data_inside_a_header_block_is_protocol_error() {
    let mut c = Case::new();
    let mut h = get_head();
    h[0] = field(":method", "POST");
    let block = c.peer.block(&h);
    c.send(open_block(1, block, false));
    let f = c.peer.data(1, b"test", true);
    c.send(f);
    c.expect_conn_error(Reason::PROTOCOL_ERROR);
    // What h2spec sends next is absorbed quietly.
    let block = c.peer.block(&[field("x-test", "ok")]);
    let late = Frame::Continuation(Continuation {
        stream_id: sid(1),
        fragment: block,
        end_headers: true,
    });
    assert!(c.peer.send(&mut c.conn, late).is_ok());
    assert!(c.peer.read(&mut c.conn).is_empty());
}

#[test]
fn h2spec_http2_8_1_2_6_2_content_length_below_sum_of_data_is_stream_error() {
    let mut c = Case::new();
    c.post(1, &[("content-length", "1")]);
    let f = c.peer.data(1, b"test", false);
    c.send(f);
    let f = c.peer.data(1, b"test", true);
    c.send(f);
    c.expect_stream_error(1, Reason::PROTOCOL_ERROR);
    assert_eq!(resets(&c.got), vec![(1, Reason::PROTOCOL_ERROR)]);
}

/// Every case of h2spec 2.x (147, strict ones included) has a test above
/// whose name starts with `h2spec_<key>_<section>_<n>_`.
#[test]
fn h2spec_every_case_has_a_mirror() {
    const GROUPS: &[(&str, &str, u32)] = &[
        ("generic", "1", 1),
        ("generic", "2", 5),
        ("generic", "3.1", 3),
        ("generic", "3.2", 3),
        ("generic", "3.3", 5),
        ("generic", "3.4", 1),
        ("generic", "3.5", 1),
        ("generic", "3.7", 1),
        ("generic", "3.8", 1),
        ("generic", "3.9", 2),
        ("generic", "3.10", 2),
        ("generic", "4", 4),
        ("generic", "5", 15),
        ("http2", "3.5", 2),
        ("http2", "4.1", 3),
        ("http2", "4.2", 3),
        ("http2", "4.3", 3),
        ("http2", "5.1", 13),
        ("http2", "5.1.1", 2),
        ("http2", "5.1.2", 1),
        ("http2", "5.3.1", 2),
        ("http2", "5.4.1", 2),
        ("http2", "5.5", 2),
        ("http2", "6.1", 3),
        ("http2", "6.2", 4),
        ("http2", "6.3", 2),
        ("http2", "6.4", 3),
        ("http2", "6.5", 3),
        ("http2", "6.5.2", 5),
        ("http2", "6.5.3", 2),
        ("http2", "6.7", 4),
        ("http2", "6.8", 1),
        ("http2", "6.9", 3),
        ("http2", "6.9.1", 3),
        ("http2", "6.9.2", 3),
        ("http2", "6.10", 6),
        ("http2", "7", 2),
        ("http2", "8.1", 1),
        ("http2", "8.1.2", 1),
        ("http2", "8.1.2.1", 4),
        ("http2", "8.1.2.2", 2),
        ("http2", "8.1.2.3", 7),
        ("http2", "8.1.2.6", 2),
        ("http2", "8.2", 1),
        ("hpack", "2.3.3", 2),
        ("hpack", "4.2", 1),
        ("hpack", "5.2", 3),
        ("hpack", "6.1", 1),
        ("hpack", "6.3", 1),
    ];
    let source = include_str!("h2_rfc.rs");
    let names: Vec<&str> = source
        .lines()
        .filter_map(|l| l.strip_prefix("fn h2spec_"))
        .collect();
    let mut total = 0;
    let mut missing = Vec::new();
    for (key, section, cases) in GROUPS {
        for n in 1..=*cases {
            total += 1;
            let prefix = format!("{key}_{}_{n}_", section.replace('.', "_"));
            let found = names.iter().any(|name| {
                name.strip_prefix(&prefix)
                    .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_lowercase()))
            });
            if !found {
                missing.push(format!("{key}/{section}/{n}"));
            }
        }
    }
    assert_eq!(total, 147);
    assert!(
        missing.is_empty(),
        "h2spec cases without a mirror: {missing:?}"
    );
}

/// RFC 9113 §8.2.1: a value with a line feed makes the request malformed
/// (stream error PROTOCOL_ERROR), also when it comes back as an index into
/// the dynamic table, where the decoder remembers that the entry failed
/// the checks. Good fields from the table pass without a second look.
#[test]
fn rfc9113_8_2_1_bad_values_stay_bad_when_indexed() {
    let mut c = Case::new();
    c.post(1, &[("x-bad", "a\nb")]);
    c.expect_stream_error(1, Reason::PROTOCOL_ERROR);
    // The peer's encoder indexed the field: this block refers to it.
    c.post(3, &[("x-bad", "a\nb")]);
    c.expect_stream_error(3, Reason::PROTOCOL_ERROR);
    c.post(5, &[("x-good", "fine")]);
    c.post(7, &[("x-good", "fine")]);
    for id in [5, 7] {
        assert!(
            c.got
                .iter()
                .any(|f| matches!(f, Frame::Headers(h) if h.stream_id == sid(id))),
            "no response on {id}: {:?}",
            c.got
        );
    }
    assert!(!c.conn.is_closed());
}
