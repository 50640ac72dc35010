//! Property tests of the frame codec: valid frames round-trip, arbitrary
//! bytes never panic and decode the same however they are chunked, and the
//! splitting encoders respect the maximum frame size.

use bytes::{Bytes, BytesMut};
use grpc_sansio::frame::{
    Continuation, Data, ErrorLevel, Frame, FrameDecoder, FrameError, FrameHeader, GoAway,
    HEADER_LEN, Headers, Ping, Priority, PrioritySpec, PushPromise, Reason, RstStream, Settings,
    StreamId, Unknown, WindowUpdate, encode_data, encode_header_block, flags, frame_type,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn any_stream() -> impl Strategy<Value = StreamId> {
    any::<u32>().prop_map(StreamId::new)
}

fn nonzero_stream() -> impl Strategy<Value = StreamId> {
    (1u32..=StreamId::MAX.value()).prop_map(StreamId::new)
}

fn payload(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn spec_not_on(stream: StreamId) -> impl Strategy<Value = PrioritySpec> {
    (any_stream(), any::<bool>(), any::<u8>())
        .prop_filter("a stream cannot depend on itself", move |(dep, _, _)| {
            *dep != stream
        })
        .prop_map(|(dependency, exclusive, weight)| PrioritySpec {
            dependency,
            exclusive,
            weight,
        })
}

fn settings() -> impl Strategy<Value = Settings> {
    let params = (
        option::of(any::<u32>()),
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(0..=0x7fff_ffffu32),
        option::of(16_384..=16_777_215u32),
        option::of(any::<u32>()),
        option::of(any::<bool>()),
    )
        .prop_map(|(a, b, c, d, e, f, g)| Settings {
            ack: false,
            header_table_size: a,
            enable_push: b,
            max_concurrent_streams: c,
            initial_window_size: d,
            max_frame_size: e,
            max_header_list_size: f,
            enable_connect_protocol: g,
        });
    prop_oneof![Just(Settings::ack()), params]
}

/// Any frame that is valid on its own and fits the default maximum size.
fn valid_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (
            nonzero_stream(),
            payload(300),
            any::<bool>(),
            option::of(any::<u8>())
        )
            .prop_map(|(stream_id, data, end_stream, pad_len)| Frame::Data(Data {
                stream_id,
                data,
                end_stream,
                pad_len
            })),
        nonzero_stream()
            .prop_flat_map(|id| (
                Just(id),
                payload(300),
                any::<bool>(),
                any::<bool>(),
                option::of(spec_not_on(id)),
                option::of(any::<u8>())
            ))
            .prop_map(
                |(stream_id, fragment, end_stream, end_headers, priority, pad_len)| {
                    Frame::Headers(Headers {
                        stream_id,
                        fragment,
                        end_stream,
                        end_headers,
                        priority,
                        pad_len,
                    })
                }
            ),
        nonzero_stream()
            .prop_flat_map(|id| (Just(id), spec_not_on(id)))
            .prop_map(|(stream_id, spec)| Frame::Priority(Priority { stream_id, spec })),
        (nonzero_stream(), any::<u32>())
            .prop_map(|(id, code)| Frame::RstStream(RstStream::new(id, Reason(code)))),
        settings().prop_map(Frame::Settings),
        (
            nonzero_stream(),
            (1u32..=0x3fff_ffff).prop_map(|n| StreamId::new(n * 2)),
            payload(300),
            any::<bool>(),
            option::of(any::<u8>())
        )
            .prop_map(|(stream_id, promised_id, fragment, end_headers, pad_len)| {
                Frame::PushPromise(PushPromise {
                    stream_id,
                    promised_id,
                    fragment,
                    end_headers,
                    pad_len,
                })
            }),
        (any::<bool>(), any::<[u8; 8]>())
            .prop_map(|(ack, payload)| Frame::Ping(Ping { ack, payload })),
        (any_stream(), any::<u32>(), payload(100)).prop_map(
            |(last_stream_id, code, debug_data)| {
                Frame::GoAway(GoAway {
                    last_stream_id,
                    code: Reason(code),
                    debug_data,
                })
            }
        ),
        (any_stream(), 1..=0x7fff_ffffu32)
            .prop_map(|(id, increment)| Frame::WindowUpdate(WindowUpdate::new(id, increment))),
        (nonzero_stream(), payload(300), any::<bool>()).prop_map(
            |(stream_id, fragment, end_headers)| {
                Frame::Continuation(Continuation {
                    stream_id,
                    fragment,
                    end_headers,
                })
            }
        ),
        (10u8..=255, any::<u8>(), any_stream(), payload(300)).prop_map(
            |(frame_type, flags, stream_id, payload)| Frame::Unknown(Unknown {
                frame_type,
                flags,
                stream_id,
                payload
            })
        ),
    ]
}

/// What one decode call produced, as a comparable value.
type Outcome = Result<Frame, FrameError>;

/// Feeds `chunks` one after another to a single decoder and records every
/// frame and error, stopping at the first connection error. Checks on the
/// way that `Ok(None)` consumes nothing.
fn decode_chunked<'a>(max: u32, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Outcome> {
    let mut decoder = FrameDecoder::new();
    decoder.set_max_frame_size(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(None) => {
                    assert_eq!(buf.len(), before);
                    break;
                }
                Ok(Some(frame)) => {
                    assert!(buf.len() < before, "a frame consumes bytes");
                    out.push(Ok(frame));
                }
                Err(e) => {
                    let connection = e.level == ErrorLevel::Connection;
                    if !connection {
                        assert!(buf.len() < before, "a stream error consumes the frame");
                    }
                    out.push(Err(e));
                    if connection {
                        return out;
                    }
                }
            }
        }
    }
    out
}

/// Cuts `bytes` at the given points (taken modulo the length).
fn split_at_points(bytes: &[u8], points: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p % (bytes.len() + 1)).collect();
    cuts.push(0);
    cuts.push(bytes.len());
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .collect()
}

fn max_frame_size() -> impl Strategy<Value = u32> {
    prop_oneof![Just(16_384u32), 16_384..=70_000u32, Just(16_777_215u32)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn valid_frames_round_trip(frame in valid_frame()) {
        let mut wire = BytesMut::new();
        frame.encode(&mut wire);
        let head = FrameHeader::parse(&wire).expect("a header");
        prop_assert_eq!(head.length as usize, wire.len() - HEADER_LEN);
        prop_assert_eq!(head.frame_type, frame.frame_type());
        prop_assert_eq!(head.stream_id, frame.stream_id());
        let mut buf = wire.clone();
        let decoded = FrameDecoder::new().decode(&mut buf);
        prop_assert_eq!(decoded, Ok(Some(frame)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn frame_sequences_decode_the_same_in_any_chunks(
        frames in vec(valid_frame(), 0..8),
        points in vec(any::<usize>(), 0..20),
    ) {
        let mut wire = BytesMut::new();
        for f in &frames {
            f.encode(&mut wire);
        }
        let chunks = split_at_points(&wire, &points);
        let got = decode_chunked(16_384, chunks.iter().map(Vec::as_slice));
        let want: Vec<Outcome> = frames.into_iter().map(Ok).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_chunking_does_not_matter(
        bytes in vec(any::<u8>(), 0..600),
        points in vec(any::<usize>(), 0..30),
        max in max_frame_size(),
    ) {
        let whole = decode_chunked(max, [bytes.as_slice()]);
        let chunks = split_at_points(&bytes, &points);
        let pieces = decode_chunked(max, chunks.iter().map(Vec::as_slice));
        prop_assert_eq!(whole, pieces);
    }

    #[test]
    fn frame_shaped_bytes_never_panic(
        frame_type in 0u8..=12,
        flags in any::<u8>(),
        stream in prop_oneof![Just(0u32), Just(1), Just(0x8000_0000), any::<u32>()],
        body in vec(any::<u8>(), 0..40),
        tail in vec(any::<u8>(), 0..20),
    ) {
        // A well-formed header with a random payload: reaches every
        // per-type check, not just the length check.
        let len = u32::try_from(body.len()).expect("small");
        let mut wire = len.to_be_bytes()[1..].to_vec();
        wire.extend([frame_type, flags]);
        wire.extend(stream.to_be_bytes());
        wire.extend(&body);
        wire.extend(&tail);
        let out = decode_chunked(16_384, [wire.as_slice()]);
        prop_assert!(!out.is_empty());
        // Whatever decoded re-encodes to something that decodes the same.
        if let Some(Ok(frame)) = out.first() {
            let mut again = BytesMut::new();
            frame.encode(&mut again);
            prop_assert_eq!(FrameDecoder::new().decode(&mut again), Ok(Some(frame.clone())));
        }
    }

    #[test]
    fn header_blocks_split_within_max_frame_size_and_reassemble(
        block in vec(any::<u8>(), 0..2000),
        max in prop_oneof![1u32..=64, 64u32..=3000, Just(16_384u32)],
        end_stream in any::<bool>(),
        id in nonzero_stream(),
    ) {
        let mut wire = BytesMut::new();
        encode_header_block(id, &block, end_stream, max, &mut wire);
        let mut decoder = FrameDecoder::new();
        let mut rebuilt = Vec::new();
        let mut index = 0;
        while let Some(frame) = decoder.decode(&mut wire).expect("valid frames") {
            let (fragment, end_headers) = match frame {
                Frame::Headers(h) => {
                    prop_assert_eq!(index, 0);
                    prop_assert_eq!(h.end_stream, end_stream);
                    prop_assert_eq!(h.priority, None);
                    prop_assert_eq!(h.pad_len, None);
                    prop_assert_eq!(h.stream_id, id);
                    (h.fragment, h.end_headers)
                }
                Frame::Continuation(c) => {
                    prop_assert!(index > 0);
                    prop_assert_eq!(c.stream_id, id);
                    (c.fragment, c.end_headers)
                }
                other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
            };
            prop_assert!(fragment.len() <= max as usize);
            prop_assert!(fragment.len() == max as usize || end_headers, "only the last frame is short");
            rebuilt.extend_from_slice(&fragment);
            index += 1;
            prop_assert_eq!(end_headers, rebuilt.len() == block.len());
        }
        prop_assert!(wire.is_empty());
        prop_assert_eq!(rebuilt, block);
    }

    #[test]
    fn data_splits_within_max_frame_size_and_reassembles(
        data in vec(any::<u8>(), 0..2000),
        max in prop_oneof![1u32..=64, 64u32..=3000, Just(16_384u32)],
        end_stream in any::<bool>(),
        id in nonzero_stream(),
    ) {
        let mut wire = BytesMut::new();
        encode_data(id, &data, end_stream, max, &mut wire);
        let mut decoder = FrameDecoder::new();
        let mut rebuilt = Vec::new();
        let mut frames = Vec::new();
        while let Some(frame) = decoder.decode(&mut wire).expect("valid frames") {
            let Frame::Data(d) = frame else {
                return Err(TestCaseError::fail("DATA expected"));
            };
            prop_assert_eq!(d.stream_id, id);
            prop_assert_eq!(d.pad_len, None);
            prop_assert!(d.data.len() <= max as usize);
            rebuilt.extend_from_slice(&d.data);
            frames.push(d);
        }
        prop_assert!(wire.is_empty());
        prop_assert_eq!(&rebuilt, &data);
        let expected_frames = if data.is_empty() {
            usize::from(end_stream)
        } else {
            data.len().div_ceil(max as usize)
        };
        prop_assert_eq!(frames.len(), expected_frames);
        for (i, d) in frames.iter().enumerate() {
            prop_assert_eq!(d.end_stream, end_stream && i + 1 == frames.len());
        }
    }
}

#[test]
fn wire_constants_match_rfc9113() {
    // Guards the constants the property tests lean on.
    assert_eq!(frame_type::CONTINUATION, 9);
    assert_eq!(flags::END_HEADERS, 4);
    assert_eq!(HEADER_LEN, 9);
}
