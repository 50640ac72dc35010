//! Message deframing is zero-copy: a message that lies in one received
//! chunk (one DATA frame) comes out as a slice of that chunk, never as a
//! copy. No counting allocator is possible with `unsafe_code` forbidden,
//! so this checks addresses: `Bytes::as_ptr` of each delivered payload
//! against the buffer it arrived in.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use grpc_sansio::call::CallKind;
use grpc_sansio::client::{CallOptions, ClientConfig, ClientConnection};
use grpc_sansio::grpc::message::{MessageDecoder, encode_message};
use grpc_sansio::server::{ServerConfig, ServerConnection, ServerEvent};

const SIZES: [usize; 2] = [1024, 1024 * 1024];

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_add(seed)).collect()
}

#[test]
fn deframer_slices_messages_out_of_the_chunk() {
    for len in SIZES {
        let mut stream = BytesMut::new();
        encode_message(&payload(len, 1), false, &mut stream).expect("encode");
        encode_message(&payload(len, 2), false, &mut stream).expect("encode");
        let stream = stream.freeze();
        let base = stream.as_ptr() as usize;
        let mut input = stream.clone();
        let mut decoder = MessageDecoder::with_max_message_size(4 << 20);
        for (i, seed) in [1u8, 2].into_iter().enumerate() {
            let m = decoder.decode(&mut input).expect("decode").expect("whole");
            assert_eq!(m.payload, payload(len, seed));
            // Prefix of 5 bytes, then the payload, in place.
            let at = base + 5 + i * (len + 5);
            assert_eq!(
                m.payload.as_ptr() as usize,
                at,
                "{len} B message {i} copied"
            );
        }
    }
}

#[test]
fn deframer_copies_only_messages_split_across_chunks() {
    // 1 KiB messages cut into 16 KiB chunks: those inside a chunk are
    // slices of it; only those straddling a boundary are assembled.
    let len = 1024;
    let mut stream = BytesMut::new();
    for _ in 0..40 {
        encode_message(&payload(len, 7), false, &mut stream).expect("encode");
    }
    let stream = stream.freeze();
    let mut decoder = MessageDecoder::with_max_message_size(4 << 20);
    let (mut sliced, mut assembled) = (0, 0);
    for start in (0..stream.len()).step_by(16 * 1024) {
        let chunk = stream.slice(start..(start + 16 * 1024).min(stream.len()));
        let range = chunk.as_ptr() as usize..chunk.as_ptr() as usize + chunk.len();
        let mut input = chunk.clone();
        while let Some(m) = decoder.decode(&mut input).expect("decode") {
            assert_eq!(m.payload, payload(len, 7));
            if range.contains(&(m.payload.as_ptr() as usize)) {
                sliced += 1;
            } else {
                assembled += 1;
            }
        }
    }
    // 40 messages of 1029 bytes over 16 KiB chunks: 2 straddle a boundary.
    assert_eq!((sliced, assembled), (38, 2));
}

/// Moves everything `from` has to send into `to` in one `receive`.
fn transfer_client(client: &mut ClientConnection, server: &mut ServerConnection, now: Instant) {
    let mut buf = BytesMut::new();
    while client.poll_transmit(&mut buf) > 0 {}
    if !buf.is_empty() {
        server.receive(&buf, now).expect("server receive");
    }
}

fn transfer_server(server: &mut ServerConnection, client: &mut ClientConnection, now: Instant) {
    let mut buf = BytesMut::new();
    while server.poll_transmit(&mut buf) > 0 {}
    if !buf.is_empty() {
        client.receive(&buf, now).expect("client receive");
    }
}

#[test]
fn server_delivers_messages_of_one_data_frame_without_copying() {
    let now = Instant::now();
    // Frames large enough for two 1 MiB messages, so that both lie in one
    // DATA frame.
    let mut server_config = ServerConfig::default();
    server_config.h2.max_frame_size = 4 << 20;
    // And a send queue that takes both before anything is written.
    let mut client_config = ClientConfig::default();
    client_config.h2.max_send_buffer = 8 << 20;
    let mut client = ClientConnection::new(client_config, now);
    let mut server = ServerConnection::new(server_config, now);
    for _ in 0..2 {
        transfer_client(&mut client, &mut server, now);
        transfer_server(&mut server, &mut client, now);
    }
    while client.poll_event().is_some() {}
    while server.poll_event().is_some() {}

    for len in SIZES {
        let call = client
            .start_call(
                "/bench.Echo/Stream",
                CallOptions::new(CallKind::ClientStreaming),
                now,
            )
            .expect("start");
        client
            .send_message(call, Bytes::from(payload(len, 1)))
            .expect("send");
        client
            .send_message(call, Bytes::from(payload(len, 2)))
            .expect("send");
        client.half_close(call).expect("half close");
        transfer_client(&mut client, &mut server, now);
        let mut messages = Vec::new();
        while let Some(e) = server.poll_event() {
            if let ServerEvent::Message {
                call,
                message,
                flow_len,
                ..
            } = e
            {
                server.release_capacity(call, flow_len);
                messages.push(message.decompress().expect("uncompressed"));
            }
        }
        assert_eq!(messages.len(), 2, "{len} B");
        assert_eq!(messages[0], payload(len, 1));
        assert_eq!(messages[1], payload(len, 2));
        // The second payload starts 5 bytes (its prefix) after the end of
        // the first: both are slices of the one received DATA frame.
        assert_eq!(
            messages[1].as_ptr() as usize,
            messages[0].as_ptr() as usize + len + 5,
            "{len} B messages were copied"
        );
        transfer_server(&mut server, &mut client, now);
        while client.poll_event().is_some() {}
    }
}
