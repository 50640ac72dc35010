//! Unit tests: one per rule of RFC 9113 §4 and §6, named after its section.
//! Frames are written out octet by octet so each test shows the wire bytes.

use bytes::{Bytes, BytesMut};

use super::*;

/// A raw frame: header fields as given, `len` taken from the payload.
fn raw(frame_type: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("test payload fits");
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.push(frame_type);
    out.push(flags);
    out.extend_from_slice(&stream_id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn decode_all(bytes: &[u8]) -> (Result<Option<Frame>, FrameError>, BytesMut) {
    let mut buf = BytesMut::from(bytes);
    let result = FrameDecoder::new().decode(&mut buf);
    (result, buf)
}

fn decode_ok(bytes: &[u8]) -> Frame {
    let (result, rest) = decode_all(bytes);
    assert!(rest.is_empty(), "whole frame consumed");
    match result {
        Ok(Some(frame)) => frame,
        other => panic!("expected a frame, got {other:?}"),
    }
}

fn assert_conn(bytes: &[u8], code: Reason, kind: FrameErrorKind) {
    let (result, _) = decode_all(bytes);
    assert_eq!(result, Err(FrameError::connection(code, kind)));
}

/// A stream error must leave the buffer just past the bad frame: append a
/// PING after it and check that it decodes next.
fn assert_stream(bytes: &[u8], id: u32, code: Reason, kind: FrameErrorKind) {
    let mut input = bytes.to_vec();
    input.extend(raw(frame_type::PING, 0, 0, b"afterbad"));
    let mut buf = BytesMut::from(&input[..]);
    let mut decoder = FrameDecoder::new();
    assert_eq!(
        decoder.decode(&mut buf),
        Err(FrameError::stream(StreamId::new(id), code, kind))
    );
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(Frame::Ping(Ping::new(*b"afterbad"))))
    );
    assert!(buf.is_empty());
}

fn encoded(frame: impl Into<Frame>) -> Vec<u8> {
    let mut out = BytesMut::new();
    frame.into().encode(&mut out);
    out.to_vec()
}

const FRAME_SIZE: Reason = Reason::FRAME_SIZE_ERROR;
const PROTOCOL: Reason = Reason::PROTOCOL_ERROR;

// §4.1 frame format

#[test]
fn rfc9113_4_1_incomplete_frame_is_none_and_nothing_is_consumed() {
    let wire = raw(frame_type::PING, 0, 0, b"12345678");
    for cut in 0..wire.len() {
        let mut buf = BytesMut::from(&wire[..cut]);
        assert_eq!(FrameDecoder::new().decode(&mut buf), Ok(None));
        assert_eq!(buf.len(), cut);
    }
}

#[test]
fn rfc9113_4_1_unknown_frame_types_are_passed_up() {
    let wire = raw(0xfa, 0xff, 0x8000_0003, b"xyz");
    assert_eq!(
        decode_ok(&wire),
        Frame::Unknown(Unknown {
            frame_type: 0xfa,
            flags: 0xff,
            stream_id: StreamId::new(3),
            payload: Bytes::from_static(b"xyz"),
        })
    );
}

#[test]
fn rfc9113_4_1_undefined_flags_are_ignored() {
    // PING defines only ACK (0x1).
    let ping = decode_ok(&raw(frame_type::PING, 0xfe, 0, b"12345678"));
    assert_eq!(ping, Frame::Ping(Ping::new(*b"12345678")));
    // DATA defines END_STREAM and PADDED; 0x26 sets neither.
    let data = decode_ok(&raw(frame_type::DATA, 0x26, 1, b"hi"));
    assert_eq!(
        data,
        Frame::Data(Data::new(
            StreamId::new(1),
            Bytes::from_static(b"hi"),
            false
        ))
    );
    // The encoder never sends them.
    assert_eq!(encoded(ping), raw(frame_type::PING, 0, 0, b"12345678"));
}

#[test]
fn rfc9113_4_1_reserved_stream_id_bit_is_ignored() {
    let frame = decode_ok(&raw(frame_type::RST_STREAM, 0, 0x8000_0005, &[0, 0, 0, 8]));
    assert_eq!(
        frame,
        Frame::RstStream(RstStream::new(StreamId::new(5), Reason::CANCEL))
    );
    assert_eq!(
        encoded(frame),
        raw(frame_type::RST_STREAM, 0, 5, &[0, 0, 0, 8])
    );
}

#[test]
fn rfc9113_4_1_reserved_bit_alone_is_stream_zero() {
    // 0x80000000 is stream 0 once the reserved bit is dropped.
    assert_conn(
        &raw(frame_type::DATA, 0, 0x8000_0000, b"x"),
        PROTOCOL,
        FrameErrorKind::StreamIdMustBeNonZero,
    );
}

// §4.2 frame size

#[test]
fn rfc9113_4_2_frame_over_max_frame_size_is_connection_error_from_header_alone() {
    // Only the header of a 16,385-octet DATA frame is buffered.
    let head = [0x00, 0x40, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01];
    assert_conn(&head, FRAME_SIZE, FrameErrorKind::FrameTooLarge);
    // Unknown types are limited too.
    let head = [0x00, 0x40, 0x01, 0xee, 0x00, 0x00, 0x00, 0x00, 0x00];
    assert_conn(&head, FRAME_SIZE, FrameErrorKind::FrameTooLarge);
}

#[test]
fn rfc9113_4_2_frame_at_max_frame_size_is_accepted() {
    let payload = vec![7u8; 16_384];
    let frame = decode_ok(&raw(frame_type::DATA, 1, 1, &payload));
    let Frame::Data(data) = frame else {
        panic!("DATA expected")
    };
    assert_eq!(data.data.len(), 16_384);
    assert!(data.end_stream);
}

#[test]
fn rfc9113_4_2_raised_max_frame_size_is_honoured() {
    let payload = vec![0u8; 20_000];
    let wire = raw(frame_type::DATA, 0, 1, &payload);
    let mut decoder = FrameDecoder::new();
    decoder.set_max_frame_size(20_000);
    assert_eq!(decoder.max_frame_size(), 20_000);
    let mut buf = BytesMut::from(&wire[..]);
    assert!(matches!(decoder.decode(&mut buf), Ok(Some(Frame::Data(_)))));
    decoder.set_max_frame_size(19_999);
    let mut buf = BytesMut::from(&wire[..HEADER_LEN]);
    assert_eq!(
        decoder.decode(&mut buf),
        Err(FrameError::connection(
            FRAME_SIZE,
            FrameErrorKind::FrameTooLarge
        ))
    );
}

#[test]
fn rfc9113_4_2_max_frame_size_is_clamped_to_the_legal_range() {
    let mut decoder = FrameDecoder::new();
    assert_eq!(decoder.max_frame_size(), 16_384);
    decoder.set_max_frame_size(0);
    assert_eq!(decoder.max_frame_size(), 16_384);
    decoder.set_max_frame_size(u32::MAX);
    assert_eq!(decoder.max_frame_size(), 16_777_215);
}

// §6.1 DATA

#[test]
fn rfc9113_6_1_data_on_stream_zero_is_connection_protocol_error() {
    assert_conn(
        &raw(frame_type::DATA, 0, 0, b"x"),
        PROTOCOL,
        FrameErrorKind::StreamIdMustBeNonZero,
    );
}

#[test]
fn rfc9113_6_1_data_padding_as_long_as_payload_is_connection_protocol_error() {
    // Payload 3 octets, Pad Length 3: padding would swallow the Pad Length octet.
    assert_conn(
        &raw(frame_type::DATA, flags::PADDED, 1, &[3, 0, 0]),
        PROTOCOL,
        FrameErrorKind::PaddingTooLong,
    );
}

#[test]
fn rfc9113_6_1_data_padded_without_pad_length_octet_is_connection_frame_size_error() {
    assert_conn(
        &raw(frame_type::DATA, flags::PADDED, 1, &[]),
        FRAME_SIZE,
        FrameErrorKind::PayloadTooShort,
    );
}

#[test]
fn rfc9113_6_1_data_padding_may_fill_everything_after_pad_length() {
    let frame = decode_ok(&raw(
        frame_type::DATA,
        flags::PADDED | flags::END_STREAM,
        1,
        &[2, 9, 9],
    ));
    let Frame::Data(data) = &frame else {
        panic!("DATA expected")
    };
    assert!(data.data.is_empty());
    assert_eq!(data.pad_len, Some(2));
    assert!(data.end_stream);
    assert_eq!(data.flow_controlled_len(), 3);
    // Padding is sent as zeros.
    assert_eq!(encoded(frame), raw(frame_type::DATA, 0x09, 1, &[2, 0, 0]));
}

#[test]
fn rfc9113_6_1_data_flow_control_counts_the_whole_payload() {
    let frame = decode_ok(&raw(
        frame_type::DATA,
        flags::PADDED,
        3,
        &[4, b'a', b'b', 0, 0, 0, 0],
    ));
    let Frame::Data(data) = frame else {
        panic!("DATA expected")
    };
    assert_eq!(&data.data[..], b"ab");
    assert_eq!(data.flow_controlled_len(), 7);
    assert_eq!(
        Data::new(StreamId::new(1), Bytes::from_static(b"abc"), false).flow_controlled_len(),
        3
    );
}

#[test]
fn rfc9113_6_1_data_payload_is_a_slice_of_the_receive_buffer() {
    let wire = raw(frame_type::DATA, 0, 1, b"zero-copy payload");
    let mut buf = BytesMut::from(&wire[..]);
    let start = buf.as_ptr() as usize;
    let Ok(Some(Frame::Data(data))) = FrameDecoder::new().decode(&mut buf) else {
        panic!("DATA expected")
    };
    assert_eq!(data.data.as_ptr() as usize, start + HEADER_LEN);
}

#[test]
fn rfc9113_6_1_data_encoding() {
    let data = Data::new(StreamId::new(1), Bytes::from_static(b"hello"), true);
    assert_eq!(
        encoded(data),
        b"\x00\x00\x05\x00\x01\x00\x00\x00\x01hello".to_vec()
    );
}

// §6.2 HEADERS

#[test]
fn rfc9113_6_2_headers_on_stream_zero_is_connection_protocol_error() {
    assert_conn(
        &raw(frame_type::HEADERS, flags::END_HEADERS, 0, b"\x82"),
        PROTOCOL,
        FrameErrorKind::StreamIdMustBeNonZero,
    );
}

#[test]
fn rfc9113_6_2_headers_too_short_for_priority_is_connection_frame_size_error() {
    assert_conn(
        &raw(frame_type::HEADERS, flags::PRIORITY, 1, &[0, 0, 0, 3]),
        FRAME_SIZE,
        FrameErrorKind::PayloadTooShort,
    );
    // Pad Length present, priority fields cut short.
    assert_conn(
        &raw(
            frame_type::HEADERS,
            flags::PRIORITY | flags::PADDED,
            1,
            &[0, 0, 0, 0, 3],
        ),
        FRAME_SIZE,
        FrameErrorKind::PayloadTooShort,
    );
    assert_conn(
        &raw(frame_type::HEADERS, flags::PADDED, 1, &[]),
        FRAME_SIZE,
        FrameErrorKind::PayloadTooShort,
    );
}

#[test]
fn rfc9113_6_2_headers_padding_longer_than_fragment_is_connection_protocol_error() {
    // Pad Length 1, priority fields, nothing left for the padding.
    assert_conn(
        &raw(
            frame_type::HEADERS,
            flags::PRIORITY | flags::PADDED,
            1,
            &[1, 0, 0, 0, 3, 15],
        ),
        PROTOCOL,
        FrameErrorKind::PaddingTooLong,
    );
    assert_conn(
        &raw(frame_type::HEADERS, flags::PADDED, 1, &[2, 0x82]),
        PROTOCOL,
        FrameErrorKind::PaddingTooLong,
    );
}

#[test]
fn rfc9113_6_2_headers_with_every_field() {
    let payload = [2, 0x80, 0, 0, 3, 15, 0x82, 0x86, 0, 0];
    let bits = flags::PADDED | flags::PRIORITY | flags::END_STREAM | flags::END_HEADERS;
    let wire = raw(frame_type::HEADERS, bits, 5, &payload);
    let frame = decode_ok(&wire);
    assert_eq!(
        frame,
        Frame::Headers(Headers {
            stream_id: StreamId::new(5),
            fragment: Bytes::from_static(&[0x82, 0x86]),
            end_stream: true,
            end_headers: true,
            priority: Some(PrioritySpec {
                dependency: StreamId::new(3),
                exclusive: true,
                weight: 15,
            }),
            pad_len: Some(2),
        })
    );
    assert_eq!(encoded(frame), wire);
}

#[test]
fn rfc9113_5_3_1_headers_depending_on_itself_is_stream_protocol_error() {
    let wire = raw(
        frame_type::HEADERS,
        flags::PRIORITY | flags::END_HEADERS,
        3,
        &[0, 0, 0, 3, 0, 0x82],
    );
    let mut headers = Headers::new(StreamId::new(3), Bytes::from_static(&[0x82]), false, true);
    headers.priority = Some(PrioritySpec {
        dependency: StreamId::new(3),
        exclusive: false,
        weight: 0,
    });
    // The frame comes back inside the error so its field block can still be
    // fed to HPACK.
    assert_stream(
        &wire,
        3,
        PROTOCOL,
        FrameErrorKind::HeadersSelfDependency(Box::new(headers)),
    );
}

// §6.3 PRIORITY

#[test]
fn rfc9113_6_3_priority_length_must_be_5_stream_frame_size_error() {
    assert_stream(
        &raw(frame_type::PRIORITY, 0, 7, &[0, 0, 0, 1]),
        7,
        FRAME_SIZE,
        FrameErrorKind::BadLength,
    );
    assert_stream(
        &raw(frame_type::PRIORITY, 0, 7, &[0, 0, 0, 1, 2, 3]),
        7,
        FRAME_SIZE,
        FrameErrorKind::BadLength,
    );
}

#[test]
fn rfc9113_6_3_priority_on_stream_zero_is_connection_protocol_error() {
    assert_conn(
        &raw(frame_type::PRIORITY, 0, 0, &[0, 0, 0, 1, 2]),
        PROTOCOL,
        FrameErrorKind::StreamIdMustBeNonZero,
    );
}

#[test]
fn rfc9113_5_3_1_priority_depending_on_itself_is_stream_protocol_error() {
    assert_stream(
        &raw(frame_type::PRIORITY, 0, 9, &[0x80, 0, 0, 9, 200]),
        9,
        PROTOCOL,
        FrameErrorKind::SelfDependency,
    );
}

#[test]
fn rfc9113_6_3_priority_round_trip() {
    let wire = raw(frame_type::PRIORITY, 0, 9, &[0x80, 0, 0, 1, 200]);
    let frame = decode_ok(&wire);
    assert_eq!(
        frame,
        Frame::Priority(Priority {
            stream_id: StreamId::new(9),
            spec: PrioritySpec {
                dependency: StreamId::new(1),
                exclusive: true,
                weight: 200
            },
        })
    );
    assert_eq!(encoded(frame), wire);
}

// §6.4 RST_STREAM

#[test]
fn rfc9113_6_4_rst_stream_length_must_be_4() {
    assert_conn(
        &raw(frame_type::RST_STREAM, 0, 1, &[0, 0, 8]),
        FRAME_SIZE,
        FrameErrorKind::BadLength,
    );
    assert_conn(
        &raw(frame_type::RST_STREAM, 0, 1, &[0, 0, 0, 8, 0]),
        FRAME_SIZE,
        FrameErrorKind::BadLength,
    );
}

#[test]
fn rfc9113_6_4_rst_stream_on_stream_zero_is_connection_protocol_error() {
    assert_conn(
        &raw(frame_type::RST_STREAM, 0, 0, &[0, 0, 0, 8]),
        PROTOCOL,
        FrameErrorKind::StreamIdMustBeNonZero,
    );
}

#[test]
fn rfc9113_7_rst_stream_keeps_unknown_codes() {
    let frame = decode_ok(&raw(
        frame_type::RST_STREAM,
        0,
        1,
        &[0xde, 0xad, 0xbe, 0xef],
    ));
    assert_eq!(
        frame,
        Frame::RstStream(RstStream::new(StreamId::new(1), Reason(0xdead_beef)))
    );
}

// §6.5 SETTINGS

fn setting(id: u16, value: u32) -> Vec<u8> {
    let mut out = id.to_be_bytes().to_vec();
    out.extend_from_slice(&value.to_be_bytes());
    out
}

fn invalid_setting(id: u16, value: u32, code: Reason) {
    assert_conn(
        &raw(frame_type::SETTINGS, 0, 0, &setting(id, value)),
        code,
        FrameErrorKind::InvalidSetting { id, value },
    );
}

#[test]
fn rfc9113_6_5_settings_on_a_stream_is_connection_protocol_error() {
    assert_conn(
        &raw(frame_type::SETTINGS, 0, 1, &[]),
        PROTOCOL,
        FrameErrorKind::StreamIdMustBeZero,
    );
}

#[test]
fn rfc9113_6_5_settings_ack_with_payload_is_connection_frame_size_error() {
    assert_conn(
        &raw(frame_type::SETTINGS, flags::ACK, 0, &setting(1, 0)),
        FRAME_SIZE,
        FrameErrorKind::SettingsAckWithPayload,
    );
    assert_eq!(
        decode_ok(&raw(frame_type::SETTINGS, flags::ACK, 0, &[])),
        Frame::Settings(Settings::ack())
    );
}

#[test]
fn rfc9113_6_5_settings_length_must_be_a_multiple_of_6() {
    assert_conn(
        &raw(frame_type::SETTINGS, 0, 0, &[0, 1, 0, 0, 0]),
        FRAME_SIZE,
        FrameErrorKind::BadLength,
    );
    let mut seven = setting(1, 0);
    seven.push(0);
    assert_conn(
        &raw(frame_type::SETTINGS, 0, 0, &seven),
        FRAME_SIZE,
        FrameErrorKind::BadLength,
    );
}

#[test]
fn rfc9113_6_5_2_enable_push_must_be_0_or_1() {
    invalid_setting(Settings::ENABLE_PUSH, 2, PROTOCOL);
    invalid_setting(Settings::ENABLE_PUSH, u32::MAX, PROTOCOL);
}

#[test]
fn rfc9113_6_5_2_initial_window_size_above_2_31_minus_1_is_flow_control_error() {
    invalid_setting(
        Settings::INITIAL_WINDOW_SIZE,
        0x8000_0000,
        Reason::FLOW_CONTROL_ERROR,
    );
    let ok = decode_ok(&raw(frame_type::SETTINGS, 0, 0, &setting(4, 0x7fff_ffff)));
    let Frame::Settings(settings) = ok else {
        panic!("SETTINGS expected")
    };
    assert_eq!(settings.initial_window_size, Some(0x7fff_ffff));
}

#[test]
fn rfc9113_6_5_2_max_frame_size_must_be_from_2_14_to_2_24_minus_1() {
    invalid_setting(Settings::MAX_FRAME_SIZE, 16_383, PROTOCOL);
    invalid_setting(Settings::MAX_FRAME_SIZE, 16_777_216, PROTOCOL);
    invalid_setting(Settings::MAX_FRAME_SIZE, 0, PROTOCOL);
    for ok in [16_384, 16_777_215] {
        let frame = decode_ok(&raw(frame_type::SETTINGS, 0, 0, &setting(5, ok)));
        let Frame::Settings(settings) = frame else {
            panic!("SETTINGS expected")
        };
        assert_eq!(settings.max_frame_size, Some(ok));
    }
}

#[test]
fn rfc8441_3_enable_connect_protocol_must_be_0_or_1() {
    invalid_setting(Settings::ENABLE_CONNECT_PROTOCOL, 2, PROTOCOL);
    let frame = decode_ok(&raw(frame_type::SETTINGS, 0, 0, &setting(8, 1)));
    let Frame::Settings(settings) = frame else {
        panic!("SETTINGS expected")
    };
    assert_eq!(settings.enable_connect_protocol, Some(true));
}

#[test]
fn rfc9113_6_5_2_unknown_settings_are_ignored() {
    let mut payload = setting(0x7, 12);
    payload.extend(setting(0xffff, u32::MAX));
    payload.extend(setting(3, 100));
    let frame = decode_ok(&raw(frame_type::SETTINGS, 0, 0, &payload));
    let expected = Settings {
        max_concurrent_streams: Some(100),
        ..Settings::default()
    };
    assert_eq!(frame, Frame::Settings(expected));
}

#[test]
fn rfc9113_6_5_3_repeated_parameter_last_value_wins() {
    let mut payload = setting(1, 4096);
    payload.extend(setting(2, 1));
    payload.extend(setting(1, 0));
    payload.extend(setting(2, 0));
    let frame = decode_ok(&raw(frame_type::SETTINGS, 0, 0, &payload));
    let expected = Settings {
        header_table_size: Some(0),
        enable_push: Some(false),
        ..Settings::default()
    };
    assert_eq!(frame, Frame::Settings(expected));
}

#[test]
fn rfc9113_6_5_1_settings_encoding_in_identifier_order() {
    let settings = Settings {
        header_table_size: Some(4096),
        enable_push: Some(false),
        max_concurrent_streams: Some(100),
        initial_window_size: Some(65_535),
        max_frame_size: Some(16_384),
        max_header_list_size: Some(8192),
        enable_connect_protocol: Some(true),
        ack: false,
    };
    let mut payload = Vec::new();
    for (id, value) in [
        (1, 4096),
        (2, 0),
        (3, 100),
        (4, 65_535),
        (5, 16_384),
        (6, 8192),
        (8, 1),
    ] {
        payload.extend(setting(id, value));
    }
    let wire = raw(frame_type::SETTINGS, 0, 0, &payload);
    assert_eq!(encoded(settings), wire);
    assert_eq!(decode_ok(&wire), Frame::Settings(settings));
    // An acknowledgement never carries parameters, whatever the struct holds.
    let ack = Settings {
        ack: true,
        ..settings
    };
    assert_eq!(encoded(ack), raw(frame_type::SETTINGS, flags::ACK, 0, &[]));
}

// §6.6 PUSH_PROMISE

#[test]
fn rfc9113_6_6_push_promise_on_stream_zero_is_connection_protocol_error() {
    assert_conn(
        &raw(
            frame_type::PUSH_PROMISE,
            flags::END_HEADERS,
            0,
            &[0, 0, 0, 2],
        ),
        PROTOCOL,
        FrameErrorKind::StreamIdMustBeNonZero,
    );
}

#[test]
fn rfc9113_6_6_push_promise_too_short_for_promised_id_is_connection_frame_size_error() {
    assert_conn(
        &raw(frame_type::PUSH_PROMISE, 0, 1, &[0, 0, 2]),
        FRAME_SIZE,
        FrameErrorKind::PayloadTooShort,
    );
    assert_conn(
        &raw(frame_type::PUSH_PROMISE, flags::PADDED, 1, &[0, 0, 0, 2]),
        FRAME_SIZE,
        FrameErrorKind::PayloadTooShort,
    );
}

#[test]
fn rfc9113_6_6_push_promise_padding_too_long_is_connection_protocol_error() {
    assert_conn(
        &raw(frame_type::PUSH_PROMISE, flags::PADDED, 1, &[1, 0, 0, 0, 2]),
        PROTOCOL,
        FrameErrorKind::PaddingTooLong,
    );
}

#[test]
fn rfc9113_5_1_1_push_promise_of_an_impossible_stream_is_connection_protocol_error() {
    for promised in [0u32, 3, 0x8000_0000] {
        assert_conn(
            &raw(
                frame_type::PUSH_PROMISE,
                flags::END_HEADERS,
                1,
                &promised.to_be_bytes(),
            ),
            PROTOCOL,
            FrameErrorKind::InvalidPromisedId,
        );
    }
}

#[test]
fn rfc9113_6_6_push_promise_round_trip() {
    let wire = raw(
        frame_type::PUSH_PROMISE,
        flags::PADDED | flags::END_HEADERS,
        1,
        &[1, 0, 0, 0, 2, 0x82, 0],
    );
    let frame = decode_ok(&wire);
    assert_eq!(
        frame,
        Frame::PushPromise(PushPromise {
            stream_id: StreamId::new(1),
            promised_id: StreamId::new(2),
            fragment: Bytes::from_static(&[0x82]),
            end_headers: true,
            pad_len: Some(1),
        })
    );
    assert_eq!(encoded(frame), wire);
}

// §6.7 PING

#[test]
fn rfc9113_6_7_ping_length_must_be_8() {
    assert_conn(
        &raw(frame_type::PING, 0, 0, b"1234567"),
        FRAME_SIZE,
        FrameErrorKind::BadLength,
    );
    assert_conn(
        &raw(frame_type::PING, 0, 0, b"123456789"),
        FRAME_SIZE,
        FrameErrorKind::BadLength,
    );
    assert_conn(
        &raw(frame_type::PING, flags::ACK, 0, b""),
        FRAME_SIZE,
        FrameErrorKind::BadLength,
    );
}

#[test]
fn rfc9113_6_7_ping_on_a_stream_is_connection_protocol_error() {
    assert_conn(
        &raw(frame_type::PING, 0, 1, b"12345678"),
        PROTOCOL,
        FrameErrorKind::StreamIdMustBeZero,
    );
}

#[test]
fn rfc9113_6_7_ping_ack_round_trip() {
    let wire = raw(frame_type::PING, flags::ACK, 0, b"pingpong");
    assert_eq!(decode_ok(&wire), Frame::Ping(Ping::pong(*b"pingpong")));
    assert_eq!(encoded(Ping::pong(*b"pingpong")), wire);
}

// §6.8 GOAWAY

#[test]
fn rfc9113_6_8_goaway_on_a_stream_is_connection_protocol_error() {
    assert_conn(
        &raw(frame_type::GOAWAY, 0, 3, &[0; 8]),
        PROTOCOL,
        FrameErrorKind::StreamIdMustBeZero,
    );
}

#[test]
fn rfc9113_6_8_goaway_shorter_than_8_is_connection_frame_size_error() {
    assert_conn(
        &raw(frame_type::GOAWAY, 0, 0, &[0; 7]),
        FRAME_SIZE,
        FrameErrorKind::BadLength,
    );
    assert_conn(
        &raw(frame_type::GOAWAY, 0, 0, &[]),
        FRAME_SIZE,
        FrameErrorKind::BadLength,
    );
}

#[test]
fn rfc9113_6_8_goaway_with_debug_data() {
    let wire = raw(
        frame_type::GOAWAY,
        0,
        0,
        b"\x80\x00\x00\x07\x00\x00\x00\x0bcalm down",
    );
    let frame = decode_ok(&wire);
    assert_eq!(
        frame,
        Frame::GoAway(GoAway {
            last_stream_id: StreamId::new(7),
            code: Reason::ENHANCE_YOUR_CALM,
            debug_data: Bytes::from_static(b"calm down"),
        })
    );
    // The reserved bit is not sent back.
    assert_eq!(
        encoded(frame),
        raw(
            frame_type::GOAWAY,
            0,
            0,
            b"\x00\x00\x00\x07\x00\x00\x00\x0bcalm down"
        )
    );
}

// §6.9 WINDOW_UPDATE

#[test]
fn rfc9113_6_9_window_update_length_must_be_4() {
    // Connection error even on a stream.
    assert_conn(
        &raw(frame_type::WINDOW_UPDATE, 0, 1, &[0, 0, 1]),
        FRAME_SIZE,
        FrameErrorKind::BadLength,
    );
    assert_conn(
        &raw(frame_type::WINDOW_UPDATE, 0, 0, &[0, 0, 0, 1, 0]),
        FRAME_SIZE,
        FrameErrorKind::BadLength,
    );
}

#[test]
fn rfc9113_6_9_zero_increment_on_a_stream_is_stream_protocol_error() {
    assert_stream(
        &raw(frame_type::WINDOW_UPDATE, 0, 5, &[0, 0, 0, 0]),
        5,
        PROTOCOL,
        FrameErrorKind::ZeroWindowIncrement,
    );
    // The reserved bit does not make the increment non-zero.
    assert_stream(
        &raw(frame_type::WINDOW_UPDATE, 0, 5, &[0x80, 0, 0, 0]),
        5,
        PROTOCOL,
        FrameErrorKind::ZeroWindowIncrement,
    );
}

#[test]
fn rfc9113_6_9_zero_increment_on_the_connection_is_connection_protocol_error() {
    assert_conn(
        &raw(frame_type::WINDOW_UPDATE, 0, 0, &[0, 0, 0, 0]),
        PROTOCOL,
        FrameErrorKind::ZeroWindowIncrement,
    );
}

#[test]
fn rfc9113_6_9_window_update_reserved_bit_is_ignored() {
    let frame = decode_ok(&raw(
        frame_type::WINDOW_UPDATE,
        0,
        0,
        &[0xff, 0xff, 0xff, 0xff],
    ));
    assert_eq!(
        frame,
        Frame::WindowUpdate(WindowUpdate::new(StreamId::ZERO, MAX_WINDOW_SIZE))
    );
    assert_eq!(
        encoded(frame),
        raw(frame_type::WINDOW_UPDATE, 0, 0, &[0x7f, 0xff, 0xff, 0xff])
    );
}

// §6.10 CONTINUATION

#[test]
fn rfc9113_6_10_continuation_on_stream_zero_is_connection_protocol_error() {
    assert_conn(
        &raw(frame_type::CONTINUATION, flags::END_HEADERS, 0, b"\x82"),
        PROTOCOL,
        FrameErrorKind::StreamIdMustBeNonZero,
    );
}

#[test]
fn rfc9113_6_10_continuation_round_trip() {
    let wire = raw(frame_type::CONTINUATION, flags::END_HEADERS, 3, b"\x82\x84");
    let frame = decode_ok(&wire);
    assert_eq!(
        frame,
        Frame::Continuation(Continuation {
            stream_id: StreamId::new(3),
            fragment: Bytes::from_static(b"\x82\x84"),
            end_headers: true,
        })
    );
    assert_eq!(encoded(frame), wire);
}

// Splitting to the peer's maximum frame size

#[test]
fn rfc9113_4_3_header_block_is_split_into_headers_and_continuation() {
    let mut out = BytesMut::new();
    encode_header_block(StreamId::new(1), b"abcdefg", true, 3, &mut out);
    let mut expected = raw(frame_type::HEADERS, flags::END_STREAM, 1, b"abc");
    expected.extend(raw(frame_type::CONTINUATION, 0, 1, b"def"));
    expected.extend(raw(frame_type::CONTINUATION, flags::END_HEADERS, 1, b"g"));
    assert_eq!(out.to_vec(), expected);
}

#[test]
fn rfc9113_4_3_small_and_empty_header_blocks_are_one_headers_frame() {
    let mut out = BytesMut::new();
    encode_header_block(StreamId::new(1), b"abc", false, 3, &mut out);
    encode_header_block(StreamId::new(3), b"", true, 16_384, &mut out);
    let mut expected = raw(frame_type::HEADERS, flags::END_HEADERS, 1, b"abc");
    expected.extend(raw(
        frame_type::HEADERS,
        flags::END_HEADERS | flags::END_STREAM,
        3,
        b"",
    ));
    assert_eq!(out.to_vec(), expected);
}

#[test]
fn rfc9113_6_1_data_is_split_to_max_frame_size() {
    let mut out = BytesMut::new();
    encode_data(StreamId::new(5), b"abcde", true, 2, &mut out);
    let mut expected = raw(frame_type::DATA, 0, 5, b"ab");
    expected.extend(raw(frame_type::DATA, 0, 5, b"cd"));
    expected.extend(raw(frame_type::DATA, flags::END_STREAM, 5, b"e"));
    assert_eq!(out.to_vec(), expected);
}

#[test]
fn rfc9113_6_1_empty_data_is_one_empty_frame_only_with_end_stream() {
    let mut out = BytesMut::new();
    encode_data(StreamId::new(5), b"", false, 16_384, &mut out);
    assert!(out.is_empty());
    encode_data(StreamId::new(5), b"", true, 16_384, &mut out);
    assert_eq!(
        out.to_vec(),
        raw(frame_type::DATA, flags::END_STREAM, 5, b"")
    );
    // A zero maximum cannot make the splitter loop forever.
    let mut out = BytesMut::new();
    encode_data(StreamId::new(5), b"ab", false, 0, &mut out);
    assert_eq!(out.len(), 2 * (HEADER_LEN + 1));
}

// Errors

#[test]
fn rfc9113_5_4_errors_say_code_and_level() {
    let conn = FrameError::connection(FRAME_SIZE, FrameErrorKind::BadLength);
    assert!(conn.is_connection_error());
    assert_eq!(conn.stream_id(), None);
    assert_eq!(
        conn.to_string(),
        "connection error FRAME_SIZE_ERROR: frame length is not valid for its type"
    );
    let stream = FrameError::stream(
        StreamId::new(3),
        PROTOCOL,
        FrameErrorKind::ZeroWindowIncrement,
    );
    assert!(!stream.is_connection_error());
    assert_eq!(stream.stream_id(), Some(StreamId::new(3)));
    assert_eq!(
        stream.to_string(),
        "stream error PROTOCOL_ERROR on stream 3: window increment of 0"
    );
    let setting = FrameErrorKind::InvalidSetting { id: 5, value: 1 };
    assert_eq!(setting.to_string(), "setting 0x5 has invalid value 1");
}

#[test]
fn frame_accessors() {
    let frame: Frame = WindowUpdate::new(StreamId::new(9), 1).into();
    assert_eq!(frame.stream_id(), StreamId::new(9));
    assert_eq!(frame.frame_type(), frame_type::WINDOW_UPDATE);
    let frame: Frame = GoAway::new(StreamId::new(9), Reason::NO_ERROR).into();
    assert_eq!(frame.stream_id(), StreamId::ZERO);
    assert_eq!(frame.frame_type(), frame_type::GOAWAY);
}
