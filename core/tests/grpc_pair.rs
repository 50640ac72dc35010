//! The public client and server state machines wired in memory on a
//! virtual clock: the four call kinds, metadata, trailers-only responses,
//! deadlines, cancellation, limits and message framing edge cases.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use grpc_sansio::call::{CallError, CallId, CallKind};
use grpc_sansio::client::{CallOptions, ClientConfig, ClientConnection, ClientEvent};
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::server::{CancelReason, ServerConfig, ServerConnection, ServerEvent};
use support::{Clock, Rng, messages_client, messages_server};

struct Grpc {
    client: ClientConnection,
    server: ServerConnection,
    clock: Clock,
    rng: Rng,
    cev: Vec<ClientEvent>,
    sev: Vec<ServerEvent>,
    /// Largest chunk moved at once (1 = byte by byte).
    max_chunk: usize,
}

impl Grpc {
    fn new() -> Self {
        Grpc::with(ClientConfig::default(), ServerConfig::default())
    }

    fn with(client: ClientConfig, server: ServerConfig) -> Self {
        let clock = Clock::new();
        let mut g = Grpc {
            client: ClientConnection::new(client, clock.now),
            server: ServerConnection::new(server, clock.now),
            clock,
            rng: Rng(0x2545_f491_4f6c_dd1d),
            cev: Vec::new(),
            sev: Vec::new(),
            max_chunk: 8192,
        };
        g.drive();
        assert!(g.take_client().contains(&ClientEvent::Ready));
        g
    }

    fn drive(&mut self) {
        for _ in 0..1_000_000 {
            let mut a = BytesMut::new();
            while self.client.poll_transmit(&mut a) > 0 {}
            let mut b = BytesMut::new();
            while self.server.poll_transmit(&mut b) > 0 {}
            if a.is_empty() && b.is_empty() {
                self.collect();
                return;
            }
            let now = self.clock.now;
            for (bytes, to_server) in [(a, true), (b, false)] {
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let n = 1 + self.rng.below(rest.len().min(self.max_chunk));
                    let (chunk, tail) = rest.split_at(n);
                    if to_server {
                        let _ = self.server.receive(chunk, now);
                    } else {
                        let _ = self.client.receive(chunk, now);
                    }
                    rest = tail;
                }
            }
            self.collect();
        }
        panic!("livelock");
    }

    fn collect(&mut self) {
        while let Some(e) = self.client.poll_event() {
            if let ClientEvent::Message { call, flow_len, .. } = &e {
                self.client.release_capacity(*call, *flow_len);
            }
            self.cev.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            if let ServerEvent::Message { call, flow_len, .. } = &e {
                self.server.release_capacity(*call, *flow_len);
            }
            self.sev.push(e);
        }
    }

    fn take_client(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.cev)
    }

    fn take_server(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.sev)
    }

    fn advance(&mut self, d: Duration) {
        let now = self.clock.advance(d);
        self.client.handle_timeout(now);
        self.server.handle_timeout(now);
        self.drive();
    }

    fn server_call(&self) -> CallId {
        self.server_call_in(&self.sev)
    }

    /// The first call started in `sev`.
    fn server_call_in(&self, sev: &[ServerEvent]) -> CallId {
        started(sev)
            .first()
            .copied()
            .expect("a call started on the server")
    }
}

/// The calls the server's events say started, in order.
fn started(events: &[ServerEvent]) -> Vec<CallId> {
    events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::CallStarted { call, .. } => Some(*call),
            _ => None,
        })
        .collect()
}

fn finished(events: &[ClientEvent], call: CallId) -> Vec<(Status, MetadataMap)> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Finished {
                call: c,
                status,
                trailers,
            } if *c == call => Some((status.clone(), trailers.clone())),
            _ => None,
        })
        .collect()
}

fn unary(g: &mut Grpc, path: &str, body: &'static [u8]) -> CallId {
    let now = g.clock.now;
    let call = g
        .client
        .start_call(path, CallOptions::unary(), now)
        .unwrap();
    g.client
        .send_message(call, Bytes::from_static(body))
        .unwrap();
    g.client.half_close(call).unwrap();
    call
}

#[test]
fn unary_call_round_trip() {
    let mut g = Grpc::new();
    let call = unary(&mut g, "/helloworld.Greeter/SayHello", b"world");
    g.drive();
    let sev = g.take_server();
    let scall = match &sev[0] {
        ServerEvent::CallStarted { call, head } => {
            assert_eq!(&*head.path, "/helloworld.Greeter/SayHello");
            assert_eq!(head.service(), "helloworld.Greeter");
            assert_eq!(head.method(), "SayHello");
            assert_eq!(head.timeout, None);
            assert!(
                head.user_agent
                    .as_deref()
                    .unwrap()
                    .starts_with("grpc-sansio/")
            );
            *call
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        messages_server(&sev, scall),
        vec![Bytes::from_static(b"world")]
    );
    assert!(sev.contains(&ServerEvent::HalfClosed { call: scall }));
    g.server.set_call_kind(scall, CallKind::Unary).unwrap();
    g.server
        .send_message(scall, Bytes::from_static(b"Hello world"))
        .unwrap();
    g.server
        .send_status(scall, Status::ok(), MetadataMap::new())
        .unwrap();
    g.drive();
    let cev = g.take_client();
    assert!(
        matches!(&cev[0], ClientEvent::Headers { call: c, metadata } if *c == call && metadata.is_empty())
    );
    assert_eq!(
        messages_client(&cev, call),
        vec![Bytes::from_static(b"Hello world")]
    );
    let fin = finished(&cev, call);
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0].0, Status::ok());
    assert_eq!(g.client.active_calls(), 0);
    assert_eq!(g.server.active_calls(), 0);
    assert_eq!(g.client.h2().active_streams(), 0);
    assert_eq!(g.server.h2().active_streams(), 0);
}

/// Repeated calls get the connection's shared copy of a text they sent
/// before, and the same head otherwise; from the fourth call on, the head
/// comes from the server's memo of heads (the HPACK decoder answers the
/// block from its memo from the third), shared rather than copied.
#[test]
fn repeated_calls_share_their_request_texts() {
    let mut g = Grpc::new();
    let mut heads = Vec::new();
    for _ in 0..6 {
        unary(&mut g, "/helloworld.Greeter/SayHello", b"world");
        g.drive();
        for e in g.take_server() {
            if let ServerEvent::CallStarted { call, head } = e {
                heads.push(head);
                g.server
                    .send_status(call, Status::ok(), MetadataMap::new())
                    .unwrap();
            }
        }
        g.drive();
    }
    assert_eq!(heads.len(), 6);
    for h in &heads[1..] {
        assert!(std::sync::Arc::ptr_eq(&h.path, &heads[0].path));
        let (a, b) = (
            h.user_agent.as_ref().unwrap(),
            heads[0].user_agent.as_ref().unwrap(),
        );
        assert!(std::sync::Arc::ptr_eq(a, b));
        assert_eq!(**h, *heads[0]);
    }
    for h in &heads[4..] {
        assert!(std::sync::Arc::ptr_eq(h, &heads[3]));
    }
}

/// A remembered request head still carries its own call's metadata and
/// deadline: the same timeout sent at different (virtual) times gives
/// deadlines that far from each call's arrival, and a different metadata
/// value is a different head.
#[test]
fn remembered_request_heads_get_their_own_deadline_and_metadata() {
    let mut g = Grpc::new();
    let timeout = Duration::from_secs(5);
    for i in 0..8u32 {
        let now = g.clock.now;
        let mut md = MetadataMap::new();
        md.insert("x-n", if i < 6 { "same" } else { "other" })
            .unwrap();
        // The client sends what is left of the deadline; a deadline this
        // far from `now` is sent as the same "5S" every time.
        let options = CallOptions::unary()
            .with_timeout(now, timeout)
            .with_metadata(md);
        let call = g.client.start_call("/t.S/M", options, now).unwrap();
        g.client
            .send_message(call, Bytes::from_static(b"x"))
            .unwrap();
        g.client.half_close(call).unwrap();
        g.drive();
        let mut seen = None;
        for e in g.take_server() {
            if let ServerEvent::CallStarted { call, head } = e {
                seen = Some((call, head));
            }
        }
        let (scall, head) = seen.expect("the call arrived");
        assert_eq!(head.timeout, Some(timeout), "call {i}");
        assert_eq!(head.deadline, Some(now + timeout), "call {i}");
        let want = if i < 6 { "same" } else { "other" };
        assert_eq!(head.metadata.get("x-n"), Some(want), "call {i}");
        g.server
            .send_status(scall, Status::ok(), MetadataMap::new())
            .unwrap();
        g.drive();
        g.take_client();
        g.clock.advance(Duration::from_millis(700));
    }
}

/// The client reads a response head or trailers it has read before (the
/// HPACK decoder answers the repeated block from its memo) only once; each
/// call still gets what its own server call sent: the head's metadata and
/// encoding, the trailers' status and metadata, and the unary checks on
/// top of them.
#[test]
fn remembered_response_heads_and_trailers_read_as_sent() {
    let mut g = Grpc::new();
    let body = Bytes::from(vec![b'q'; 4096]);
    for i in 0..12u32 {
        let call = unary(&mut g, "/t.S/M", b"x");
        g.drive();
        let scall = g.server_call();
        g.take_server();
        let (head, tail, status, reply) = match i {
            0..6 => ("a", "1", Status::new(Code::NotFound, "nope"), true),
            6..9 => ("b", "2", Status::ok(), true),
            // The same head and trailers as before, but no message: a
            // unary call without its response.
            _ => ("b", "2", Status::ok(), false),
        };
        let mut initial = MetadataMap::new();
        initial.insert("x-initial", head).unwrap();
        let mut trailing = MetadataMap::new();
        trailing.insert("x-t", tail).unwrap();
        g.server.set_send_compression(scall, "gzip").unwrap();
        g.server.send_headers(scall, initial.clone()).unwrap();
        if reply {
            g.server.send_message(scall, body.clone()).unwrap();
        }
        g.server
            .send_status(scall, status.clone(), trailing.clone())
            .unwrap();
        g.drive();
        let cev = g.take_client();
        assert!(
            cev.contains(&ClientEvent::Headers {
                call,
                metadata: initial
            }),
            "call {i}: {cev:?}"
        );
        let fin = finished(&cev, call);
        assert_eq!(fin.len(), 1, "call {i}");
        assert_eq!(fin[0].1, trailing, "call {i}");
        if reply {
            assert_eq!(messages_client(&cev, call), vec![body.clone()], "call {i}");
            assert_eq!(fin[0].0, status, "call {i}");
        } else {
            assert!(messages_client(&cev, call).is_empty(), "call {i}");
            assert_eq!(
                fin[0].0.code(),
                Code::Unimplemented,
                "call {i}: {}",
                fin[0].0
            );
        }
    }
}

#[test]
fn server_streaming_client_streaming_and_bidi() {
    let mut g = Grpc::new();
    let now = g.clock.now;
    // Server streaming: one request, five responses.
    let ss = g
        .client
        .start_call(
            "/t.S/Stream",
            CallOptions::new(CallKind::ServerStreaming),
            now,
        )
        .unwrap();
    g.client
        .send_message(ss, Bytes::from_static(b"n=5"))
        .unwrap();
    g.client.half_close(ss).unwrap();
    g.drive();
    let scall = g.server_call();
    g.take_server();
    g.server
        .set_call_kind(scall, CallKind::ServerStreaming)
        .unwrap();
    for i in 0..5u8 {
        g.server
            .send_message(scall, Bytes::from(vec![i; 3]))
            .unwrap();
    }
    g.server
        .send_status(scall, Status::ok(), MetadataMap::new())
        .unwrap();
    g.drive();
    let cev = g.take_client();
    let got = messages_client(&cev, ss);
    assert_eq!(got.len(), 5);
    assert_eq!(got[4], Bytes::from(vec![4u8; 3]));
    assert!(finished(&cev, ss)[0].0.is_ok());

    // Client streaming: three requests, one response.
    let cs = g
        .client
        .start_call("/t.S/Sum", CallOptions::new(CallKind::ClientStreaming), now)
        .unwrap();
    for i in 1..=3u8 {
        g.client.send_message(cs, Bytes::from(vec![i])).unwrap();
    }
    g.client.half_close(cs).unwrap();
    g.drive();
    let sev = g.take_server();
    let scall = match &sev[0] {
        ServerEvent::CallStarted { call, .. } => *call,
        e => panic!("{e:?}"),
    };
    let sum: u8 = messages_server(&sev, scall).iter().map(|m| m[0]).sum();
    assert_eq!(sum, 6);
    g.server
        .send_message(scall, Bytes::from(vec![sum]))
        .unwrap();
    g.server
        .send_status(scall, Status::ok(), MetadataMap::new())
        .unwrap();
    g.drive();
    let cev = g.take_client();
    assert_eq!(messages_client(&cev, cs), vec![Bytes::from(vec![6u8])]);

    // Bidi: ping-pong four times.
    let bd = g
        .client
        .start_call("/t.S/Chat", CallOptions::new(CallKind::BidiStreaming), now)
        .unwrap();
    let mut scall = None;
    for i in 0..4u8 {
        g.client.send_message(bd, Bytes::from(vec![i])).unwrap();
        g.drive();
        let sev = g.take_server();
        let sc = *scall.get_or_insert_with(|| match &sev[0] {
            ServerEvent::CallStarted { call, .. } => *call,
            e => panic!("{e:?}"),
        });
        let got = messages_server(&sev, sc);
        assert_eq!(got, vec![Bytes::from(vec![i])]);
        g.server
            .send_message(sc, Bytes::from(vec![i + 100]))
            .unwrap();
        g.drive();
        assert_eq!(
            messages_client(&g.take_client(), bd),
            vec![Bytes::from(vec![i + 100])]
        );
    }
    g.client.half_close(bd).unwrap();
    g.drive();
    let sc = scall.unwrap();
    assert!(
        g.take_server()
            .contains(&ServerEvent::HalfClosed { call: sc })
    );
    g.server
        .send_status(sc, Status::ok(), MetadataMap::new())
        .unwrap();
    g.drive();
    assert!(finished(&g.take_client(), bd)[0].0.is_ok());
}

#[test]
fn metadata_round_trips_both_ways() {
    let mut g = Grpc::new();
    let mut md = MetadataMap::new();
    md.insert("x-ascii", "value with spaces ").unwrap();
    md.append("x-multi", "one").unwrap();
    md.append("x-multi", "two").unwrap();
    md.insert_bin("x-trace-bin", Bytes::from_static(&[0, 1, 2, 254, 255]))
        .unwrap();
    let now = g.clock.now;
    let call = g
        .client
        .start_call(
            "/t.S/M",
            CallOptions::unary().with_metadata(md.clone()),
            now,
        )
        .unwrap();
    g.client.send_message(call, Bytes::new()).unwrap();
    g.client.half_close(call).unwrap();
    g.drive();
    let sev = g.take_server();
    let (scall, head) = match &sev[0] {
        ServerEvent::CallStarted { call, head } => (*call, head.clone()),
        e => panic!("{e:?}"),
    };
    assert_eq!(head.metadata, md);
    assert_eq!(
        head.metadata.get_all("x-multi").collect::<Vec<_>>(),
        vec!["one", "two"]
    );
    assert_eq!(
        &head.metadata.get_bin("x-trace-bin").unwrap()[..],
        &[0, 1, 2, 254, 255]
    );

    let mut initial = MetadataMap::new();
    initial.insert("x-initial", "hello").unwrap();
    let mut trailing = MetadataMap::new();
    trailing
        .insert_bin("x-trailing-bin", Bytes::from_static(b"\xca\xfe"))
        .unwrap();
    g.server.send_headers(scall, initial.clone()).unwrap();
    g.server.send_message(scall, Bytes::new()).unwrap();
    g.server
        .send_status(scall, Status::ok(), trailing.clone())
        .unwrap();
    g.drive();
    let cev = g.take_client();
    assert!(cev.contains(&ClientEvent::Headers {
        call,
        metadata: initial
    }));
    assert_eq!(finished(&cev, call), vec![(Status::ok(), trailing)]);
}

#[test]
fn error_status_with_message_and_details_is_trailers_only() {
    let mut g = Grpc::new();
    let call = unary(&mut g, "/t.S/Fail", b"x");
    g.drive();
    let scall = g.server_call();
    let status = Status::new(Code::InvalidArgument, "bad \"name\": 100% wrong\n")
        .with_details(Bytes::from_static(b"\x08\x03\x12\x00"));
    let mut trailing = MetadataMap::new();
    trailing.insert("x-reason", "because").unwrap();
    g.server
        .send_status(scall, status.clone(), trailing.clone())
        .unwrap();
    g.drive();
    let cev = g.take_client();
    assert!(
        !cev.iter().any(|e| matches!(e, ClientEvent::Headers { .. })),
        "trailers-only: no separate head"
    );
    assert_eq!(finished(&cev, call), vec![(status, trailing)]);
}

#[cfg(feature = "gzip")]
#[test]
fn unknown_encoding_is_unimplemented_with_accept_encoding() {
    // A client that compresses with an algorithm the server lacks.
    let mut server = ServerConfig::default();
    server.compression = grpc_sansio::grpc::compression::CompressionRegistry::identity_only();
    let mut g = Grpc::with(ClientConfig::default(), server);
    let now = g.clock.now;
    let call = g
        .client
        .start_call("/t.S/M", CallOptions::unary().with_compression("gzip"), now)
        .unwrap();
    g.client
        .send_message(call, Bytes::from_static(b"aaaaaaaaaaaaaaaa"))
        .unwrap();
    g.client.half_close(call).unwrap();
    g.drive();
    assert!(g.take_server().is_empty(), "the application never sees it");
    let fin = finished(&g.take_client(), call);
    assert_eq!(fin[0].0.code(), Code::Unimplemented);
    assert!(
        fin[0].0.message().contains("gzip"),
        "{}",
        fin[0].0.message()
    );
}

#[cfg(feature = "gzip")]
#[test]
fn gzip_both_ways() {
    let mut g = Grpc::new();
    let now = g.clock.now;
    let call = g
        .client
        .start_call("/t.S/M", CallOptions::unary().with_compression("gzip"), now)
        .unwrap();
    let big = Bytes::from(vec![b'z'; 100_000]);
    g.client.send_message(call, big.clone()).unwrap();
    g.client.half_close(call).unwrap();
    g.drive();
    let sev = g.take_server();
    let (scall, head) = match &sev[0] {
        ServerEvent::CallStarted { call, head } => (*call, head.clone()),
        e => panic!("{e:?}"),
    };
    assert_eq!(head.encoding.as_deref(), Some("gzip"));
    assert_eq!(messages_server(&sev, scall), vec![big.clone()]);
    g.server.set_send_compression(scall, "gzip").unwrap();
    g.server.send_message(scall, big.clone()).unwrap();
    g.server
        .send_status(scall, Status::ok(), MetadataMap::new())
        .unwrap();
    g.drive();
    let cev = g.take_client();
    assert_eq!(messages_client(&cev, call), vec![big]);
    assert!(finished(&cev, call)[0].0.is_ok());
}

/// gRPC compresses message by message: in a call that compresses, a
/// message can still go uncompressed, both ways, and the receiver sees
/// each message's compressed flag.
#[cfg(feature = "gzip")]
#[test]
fn one_call_mixes_compressed_and_uncompressed_messages() {
    let mut g = Grpc::new();
    let now = g.clock.now;
    let options = CallOptions::new(CallKind::BidiStreaming).with_compression("gzip");
    let call = g.client.start_call("/t.S/M", options, now).unwrap();
    let big = Bytes::from(vec![b'z'; 100_000]);
    g.client.send_message(call, big.clone()).unwrap();
    g.client
        .send_message_with(call, big.clone(), false)
        .unwrap();
    g.client.send_message(call, big.clone()).unwrap();
    g.client.half_close(call).unwrap();
    g.drive();
    let sev = g.take_server();
    let scall = match &sev[0] {
        ServerEvent::CallStarted { call, .. } => *call,
        e => panic!("{e:?}"),
    };
    let got: Vec<bool> = sev
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Message { call, message, .. } if *call == scall => {
                assert_eq!(message.clone().decompress().unwrap(), big);
                Some(message.is_compressed())
            }
            _ => None,
        })
        .collect();
    assert_eq!(got, [true, false, true]);

    g.server.set_send_compression(scall, "gzip").unwrap();
    g.server
        .send_message_with(scall, big.clone(), false)
        .unwrap();
    g.server.send_message(scall, big.clone()).unwrap();
    g.server
        .send_status(scall, Status::ok(), MetadataMap::new())
        .unwrap();
    g.drive();
    let cev = g.take_client();
    let got: Vec<bool> = cev
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Message { message, .. } => {
                assert_eq!(message.clone().decompress().unwrap(), big);
                Some(message.is_compressed())
            }
            _ => None,
        })
        .collect();
    assert_eq!(got, [false, true]);
    assert!(finished(&cev, call)[0].0.is_ok());
}

#[test]
fn no_accept_encoding_means_identity_responses() {
    // A client without gzip sends no grpc-accept-encoding; the server's
    // wish to compress must fall back to identity.
    let mut client = ClientConfig::default();
    client.compression = grpc_sansio::grpc::compression::CompressionRegistry::identity_only();
    let mut g = Grpc::with(client, ServerConfig::default());
    let call = unary(&mut g, "/t.S/M", b"x");
    g.drive();
    let sev = g.take_server();
    let (scall, head) = match &sev[0] {
        ServerEvent::CallStarted { call, head } => (*call, head.clone()),
        e => panic!("{e:?}"),
    };
    assert_eq!(head.accept_encoding, None);
    g.server.set_send_compression(scall, "gzip").unwrap();
    let big = Bytes::from(vec![b'z'; 10_000]);
    g.server.send_message(scall, big.clone()).unwrap();
    g.server
        .send_status(scall, Status::ok(), MetadataMap::new())
        .unwrap();
    g.drive();
    let cev = g.take_client();
    assert_eq!(messages_client(&cev, call), vec![big]);
    assert!(finished(&cev, call)[0].0.is_ok(), "{cev:?}");
}

/// The compressed flags of a call's responses after the server chose
/// `choices` in turn (the client accepts gzip).
#[cfg(feature = "gzip")]
fn responses_compressed_after(choices: &[&str]) -> Vec<bool> {
    let mut g = Grpc::new();
    let call = unary(&mut g, "/t.S/M", b"x");
    g.drive();
    let sev = g.take_server();
    let scall = match &sev[0] {
        ServerEvent::CallStarted { call, .. } => *call,
        e => panic!("{e:?}"),
    };
    for name in choices {
        g.server.set_send_compression(scall, name).unwrap();
    }
    let big = Bytes::from(vec![b'z'; 10_000]);
    g.server.send_message(scall, big.clone()).unwrap();
    g.server
        .send_status(scall, Status::ok(), MetadataMap::new())
        .unwrap();
    g.drive();
    let cev = g.take_client();
    assert!(finished(&cev, call)[0].0.is_ok(), "{cev:?}");
    cev.iter()
        .filter_map(|e| match e {
            ClientEvent::Message { message, .. } => {
                assert_eq!(message.clone().decompress().unwrap(), big);
                Some(message.is_compressed())
            }
            _ => None,
        })
        .collect()
}

#[cfg(feature = "gzip")]
#[test]
fn a_refused_compression_keeps_the_one_chosen_before() {
    // deflate is neither registered on the server nor accepted by the
    // client: the gzip chosen first (a server-wide default, say) stays.
    assert_eq!(responses_compressed_after(&["gzip", "deflate"]), [true]);
    assert_eq!(responses_compressed_after(&["deflate"]), [false]);
    // identity is always taken.
    assert_eq!(responses_compressed_after(&["gzip", "identity"]), [false]);
}

#[test]
fn deadline_fires_exactly_at_the_virtual_instant_on_both_sides() {
    let mut g = Grpc::new();
    let now = g.clock.now;
    let call = g
        .client
        .start_call(
            "/t.S/Slow",
            CallOptions::unary().with_timeout(now, Duration::from_millis(250)),
            now,
        )
        .unwrap();
    g.client
        .send_message(call, Bytes::from_static(b"x"))
        .unwrap();
    g.client.half_close(call).unwrap();
    g.drive();
    let sev = g.take_server();
    let (scall, head) = match &sev[0] {
        ServerEvent::CallStarted { call, head } => (*call, head.clone()),
        e => panic!("{e:?}"),
    };
    assert_eq!(head.timeout, Some(Duration::from_millis(250)));
    assert_eq!(head.deadline, Some(now + Duration::from_millis(250)));
    assert_eq!(
        g.client.poll_timeout(),
        Some(now + Duration::from_millis(250))
    );
    assert_eq!(
        g.server.poll_timeout(),
        Some(now + Duration::from_millis(250))
    );
    g.advance(Duration::from_millis(249));
    assert!(g.take_client().is_empty());
    assert!(g.take_server().is_empty());
    g.advance(Duration::from_millis(1));
    let cev = g.take_client();
    let fin = finished(&cev, call);
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0].0.code(), Code::DeadlineExceeded);
    assert!(g.take_server().contains(&ServerEvent::Cancelled {
        call: scall,
        reason: CancelReason::DeadlineExceeded
    }));
    assert_eq!(
        g.server.send_message(scall, Bytes::new()),
        Err(grpc_sansio::call::CallError::UnknownCall(scall))
    );
    assert_eq!(g.client.h2().active_streams(), 0);
    assert_eq!(g.server.h2().active_streams(), 0);
}

#[test]
fn client_cancel_reaches_the_server() {
    let mut g = Grpc::new();
    let now = g.clock.now;
    let call = g
        .client
        .start_call("/t.S/Chat", CallOptions::default(), now)
        .unwrap();
    g.client
        .send_message(call, Bytes::from_static(b"hi"))
        .unwrap();
    g.drive();
    let scall = g.server_call();
    g.take_server();
    g.client.cancel(call);
    let fin = finished(&g.client_events_now(), call);
    assert_eq!(fin[0].0.code(), Code::Cancelled);
    g.drive();
    assert_eq!(
        g.take_server(),
        vec![ServerEvent::Cancelled {
            call: scall,
            reason: CancelReason::Reset(grpc_sansio::frame::Reason::CANCEL)
        }]
    );
    assert!(
        finished(&g.take_client(), call).is_empty(),
        "exactly one Finished"
    );
}

impl Grpc {
    fn client_events_now(&mut self) -> Vec<ClientEvent> {
        self.collect();
        self.take_client()
    }
}

#[test]
fn server_cancel_reaches_the_client() {
    let mut g = Grpc::new();
    let call = unary(&mut g, "/t.S/M", b"x");
    g.drive();
    let scall = g.server_call();
    g.server
        .send_status(
            scall,
            Status::new(Code::Cancelled, "handler gave up"),
            MetadataMap::new(),
        )
        .unwrap();
    g.drive();
    let fin = finished(&g.take_client(), call);
    assert_eq!(fin[0].0, Status::new(Code::Cancelled, "handler gave up"));
}

#[test]
fn thousand_concurrent_calls_on_one_connection() {
    let mut g = Grpc::new();
    let now = g.clock.now;
    let calls: Vec<CallId> = (0..1000u32)
        .map(|i| {
            let c = g
                .client
                .start_call("/t.S/Echo", CallOptions::unary(), now)
                .unwrap();
            g.client
                .send_message(c, Bytes::from(i.to_be_bytes().to_vec()))
                .unwrap();
            g.client.half_close(c).unwrap();
            c
        })
        .collect();
    g.drive();
    let sev = g.take_server();
    let mut answered = 0;
    for e in &sev {
        if let ServerEvent::Message { call, message, .. } = e {
            let echo = message.clone().decompress().unwrap();
            g.server.send_message(*call, echo).unwrap();
            g.server
                .send_status(*call, Status::ok(), MetadataMap::new())
                .unwrap();
            answered += 1;
        }
    }
    assert_eq!(answered, 1000);
    g.drive();
    let cev = g.take_client();
    for (i, c) in calls.iter().enumerate() {
        assert_eq!(
            messages_client(&cev, *c),
            vec![Bytes::from((i as u32).to_be_bytes().to_vec())]
        );
        assert!(finished(&cev, *c)[0].0.is_ok());
    }
    assert_eq!(g.client.active_calls(), 0);
}

#[test]
fn calls_beyond_the_server_stream_limit_wait_their_turn() {
    let mut server = ServerConfig::default();
    server.h2.max_concurrent_streams = 3;
    let mut g = Grpc::with(ClientConfig::default(), server);
    let calls: Vec<CallId> = (0..10).map(|_| unary(&mut g, "/t.S/M", b"q")).collect();
    for _ in 0..10 {
        g.drive();
        let sev = g.take_server();
        for e in &sev {
            if let ServerEvent::HalfClosed { call } = e {
                g.server
                    .send_message(*call, Bytes::from_static(b"a"))
                    .unwrap();
                g.server
                    .send_status(*call, Status::ok(), MetadataMap::new())
                    .unwrap();
            }
        }
        assert!(g.server.active_calls() <= 3);
    }
    let cev = g.take_client();
    for c in calls {
        assert_eq!(finished(&cev, c).len(), 1);
        assert!(finished(&cev, c)[0].0.is_ok(), "{:?}", finished(&cev, c));
    }
}

#[test]
fn sixteen_mib_message_with_a_raised_limit() {
    let mut client = ClientConfig::default();
    client.max_receive_message_size = 17 << 20;
    let mut server = ServerConfig::default();
    server.max_receive_message_size = 17 << 20;
    let mut g = Grpc::with(client, server);
    let big: Bytes = (0..16u32 << 20)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    let now = g.clock.now;
    let call = g
        .client
        .start_call("/t.S/Echo", CallOptions::unary(), now)
        .unwrap();
    g.client.send_message(call, big.clone()).unwrap();
    g.client.half_close(call).unwrap();
    g.drive();
    let sev = g.take_server();
    let scall = g.server_call_in(&sev);
    assert_eq!(messages_server(&sev, scall), vec![big.clone()]);
    g.server.send_message(scall, big.clone()).unwrap();
    g.server
        .send_status(scall, Status::ok(), MetadataMap::new())
        .unwrap();
    g.drive();
    assert_eq!(messages_client(&g.take_client(), call), vec![big]);
}

#[test]
fn oversize_message_is_refused_by_its_prefix() {
    let mut server = ServerConfig::default();
    server.max_receive_message_size = 1000;
    let mut g = Grpc::with(ClientConfig::default(), server);
    let now = g.clock.now;
    let call = g
        .client
        .start_call("/t.S/M", CallOptions::unary(), now)
        .unwrap();
    g.client
        .send_message(call, Bytes::from(vec![0u8; 1001]))
        .unwrap();
    g.client.half_close(call).unwrap();
    g.drive();
    let fin = finished(&g.take_client(), call);
    assert_eq!(fin[0].0.code(), Code::ResourceExhausted);
    let sev = g.take_server();
    assert!(sev.iter().any(|e| matches!(e, ServerEvent::Cancelled { reason: CancelReason::Protocol(s), .. } if s.code() == Code::ResourceExhausted)));
    assert!(!sev.iter().any(|e| matches!(e, ServerEvent::Message { .. })));
}

#[test]
fn message_split_over_one_byte_data_frames() {
    // The client sends a 300-byte message one byte per DATA frame, written
    // with the raw HTTP/2 layer so the frames really are one byte each.
    use grpc_sansio::h2;
    let clock = Clock::new();
    let mut client = h2::Connection::client(h2::Config::default(), clock.now);
    let mut server = ServerConnection::new(ServerConfig::default(), clock.now);
    let head = support::request_head("/t.S/M");
    let id = client.open_stream(head, false).unwrap();
    let body: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let mut wire = vec![0u8, 0, 0, 1, 44];
    wire.extend_from_slice(&body);
    let mut out = BytesMut::new();
    while client.poll_transmit(&mut out) > 0 {}
    server.receive(&out, clock.now).unwrap();
    for (i, b) in wire.iter().enumerate() {
        client
            .send_data(id, Bytes::copy_from_slice(&[*b]), i + 1 == wire.len())
            .unwrap();
        let mut out = BytesMut::new();
        while client.poll_transmit(&mut out) > 0 {}
        assert!(out.len() <= 9 + 1 + 20, "one small DATA frame per byte");
        server.receive(&out, clock.now).unwrap();
    }
    let evs: Vec<_> = std::iter::from_fn(|| server.poll_event()).collect();
    let msgs: Vec<Bytes> = evs
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Message {
                message, flow_len, ..
            } => {
                assert_eq!(*flow_len, 1, "only the last byte is still held");
                Some(message.clone().decompress().unwrap())
            }
            _ => None,
        })
        .collect();
    assert_eq!(msgs, vec![Bytes::from(body)]);
    assert!(
        evs.iter()
            .any(|e| matches!(e, ServerEvent::HalfClosed { .. }))
    );
}

/// A raw HTTP/2 client (the h2 layer, so a test can shape every DATA
/// frame) with one request stream open, and a gRPC server with defaults.
fn raw_client_and_server() -> (
    Clock,
    grpc_sansio::h2::Connection,
    ServerConnection,
    grpc_sansio::frame::StreamId,
) {
    use grpc_sansio::h2;
    let clock = Clock::new();
    let mut client = h2::Connection::client(h2::Config::default(), clock.now);
    let server = ServerConnection::new(ServerConfig::default(), clock.now);
    let id = client
        .open_stream(support::request_head("/t.S/M"), false)
        .unwrap();
    (clock, client, server, id)
}

/// A peer that ends every large message with a one-byte DATA frame, to a
/// handler that reads nothing: each complete message holds only the
/// credit of its last frame, so giving the rest back early would let the
/// peer pile up messages without end. While the application holds a
/// message, the bytes of the next one are owed instead, so what waits is
/// bounded by the stream window and one message; releasing lets the rest
/// through.
#[test]
fn unread_messages_cannot_pile_up_past_the_window() {
    use grpc_sansio::h2;
    const BODY: usize = 256 * 1024;
    const MESSAGES: usize = 40;
    let (clock, mut client, mut server, id) = raw_client_and_server();
    let window = h2::Config::default().initial_stream_window as usize;
    let mut message = vec![0u8, 0, 4, 0, 0];
    message.extend(std::iter::repeat_n(7u8, BODY));
    let (most, last) = message.split_at(message.len() - 1);
    let (most, last) = (Bytes::copy_from_slice(most), Bytes::copy_from_slice(last));
    // Messages queued whole, and whether the next one's first part is in.
    let mut queued = 0;
    let mut half = false;
    let queue = |client: &mut h2::Connection, queued: &mut usize, half: &mut bool| {
        while *queued < MESSAGES {
            if !*half {
                if client.send_data(id, most.clone(), false).is_err() {
                    return;
                }
                *half = true;
            }
            if client.send_data(id, last.clone(), false).is_err() {
                return;
            }
            *half = false;
            *queued += 1;
        }
    };
    let mut held: Vec<(CallId, u32)> = Vec::new();
    let mut delivered = 0;
    let pump = |client: &mut h2::Connection,
                server: &mut ServerConnection,
                held: &mut Vec<(CallId, u32)>,
                delivered: &mut usize| {
        for _ in 0..1000 {
            let mut a = BytesMut::new();
            while client.poll_transmit(&mut a) > 0 {}
            server.receive(&a, clock.now).unwrap();
            let mut b = BytesMut::new();
            while server.poll_transmit(&mut b) > 0 {}
            client.receive(&b, clock.now).unwrap();
            while client.poll_event().is_some() {}
            while let Some(e) = server.poll_event() {
                if let ServerEvent::Message { call, flow_len, .. } = e {
                    held.push((call, flow_len));
                    *delivered += 1;
                }
            }
            if a.is_empty() && b.is_empty() {
                return;
            }
        }
        panic!("livelock");
    };
    for _ in 0..8 * MESSAGES {
        queue(&mut client, &mut queued, &mut half);
        pump(&mut client, &mut server, &mut held, &mut delivered);
    }
    let bound = window / BODY + 2;
    assert!(
        (2..=bound).contains(&delivered),
        "{delivered} unread messages waiting; at most {bound} fit in the window and one more"
    );
    // Reading them lets the rest through.
    while delivered < MESSAGES {
        let before = delivered;
        for (call, flow_len) in held.drain(..) {
            server.release_capacity(call, flow_len);
        }
        for _ in 0..8 {
            queue(&mut client, &mut queued, &mut half);
            pump(&mut client, &mut server, &mut held, &mut delivered);
        }
        assert!(delivered > before, "releasing lets more through");
    }
    assert_eq!(delivered, MESSAGES);
}

/// Messages are slices of the receive buffer, and a slice keeps its whole
/// buffer alive. A peer that follows each tiny message with a large frame
/// it pays nothing for (here an extension frame, which is ignored) would
/// make every message a handler leaves unread pin a read's worth of
/// memory, while the window counts only the message. Small messages that
/// arrive while the application holds one of the call are copied out, so
/// each holds little more than its own bytes.
#[test]
fn held_small_messages_do_not_pin_read_buffers() {
    const ROUNDS: usize = 200;
    const JUNK: usize = 16_000;
    let (clock, mut client, mut server, id) = raw_client_and_server();
    // An extension frame (type 0xfa) on stream 0, ignored by the receiver.
    let mut junk = vec![
        (JUNK >> 16) as u8,
        (JUNK >> 8) as u8,
        JUNK as u8,
        0xfa,
        0,
        0,
        0,
        0,
        0,
    ];
    junk.resize(9 + JUNK, 0x55);
    let mut held = Vec::new();
    for round in 0..ROUNDS {
        let body = [round as u8, 1, 2, 3, 4, 5];
        let mut wire = vec![0u8, 0, 0, 0, body.len() as u8];
        wire.extend_from_slice(&body);
        client.send_data(id, Bytes::from(wire), false).unwrap();
        let mut read = BytesMut::new();
        while client.poll_transmit(&mut read) > 0 {}
        read.extend_from_slice(&junk);
        server.receive(&read, clock.now).unwrap();
        let mut back = BytesMut::new();
        while server.poll_transmit(&mut back) > 0 {}
        client.receive(&back, clock.now).unwrap();
        while client.poll_event().is_some() {}
        while let Some(e) = server.poll_event() {
            if let ServerEvent::Message { message, .. } = e {
                held.push(message.decompress().unwrap());
            }
        }
    }
    assert_eq!(held.len(), ROUNDS, "every message delivered, none read");
    for (round, message) in held.into_iter().enumerate() {
        assert_eq!(message[..], [round as u8, 1, 2, 3, 4, 5]);
        if round == 0 {
            // The first is still a slice of the buffer it arrived in.
            continue;
        }
        // What this message keeps alive: a buffer of its own, or the rest
        // of a shared read buffer from where it starts.
        let pinned = match message.try_into_mut() {
            Ok(own) => own.capacity(),
            Err(shared) => panic!("message {round} still shares a buffer ({shared:?})"),
        };
        assert!(
            pinned <= 64,
            "held message {round} of 6 bytes keeps {pinned} bytes alive"
        );
    }
}

/// The copy above is for messages of later reads only: messages that
/// arrive in one read share its buffer anyway, so however many DATA
/// frames it holds, their messages stay slices of it.
#[test]
fn messages_of_one_read_stay_slices_while_held() {
    let (clock, mut client, mut server, id) = raw_client_and_server();
    let mut read = BytesMut::new();
    for i in 0..3u8 {
        let wire = vec![0u8, 0, 0, 0, 6, i, 1, 2, 3, 4, 5];
        client.send_data(id, Bytes::from(wire), false).unwrap();
        // One DATA frame per message.
        while client.poll_transmit(&mut read) > 0 {}
    }
    server.receive(&read, clock.now).unwrap();
    let held: Vec<Bytes> = std::iter::from_fn(|| server.poll_event())
        .filter_map(|e| match e {
            ServerEvent::Message { message, .. } => Some(message.decompress().unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(held.len(), 3);
    for (i, pair) in held.windows(2).enumerate() {
        // The next message starts a frame header and a prefix after the
        // end of this one: both lie in the read's buffer, in place.
        assert_eq!(
            pair[1].as_ptr() as usize,
            pair[0].as_ptr() as usize + 6 + 9 + 5,
            "message {} was copied",
            i + 1
        );
    }
}

#[test]
fn ten_thousand_messages_in_one_stream() {
    let mut g = Grpc::new();
    g.max_chunk = 65_536;
    let now = g.clock.now;
    let call = g
        .client
        .start_call(
            "/t.S/Stream",
            CallOptions::new(CallKind::ServerStreaming),
            now,
        )
        .unwrap();
    g.client
        .send_message(call, Bytes::from_static(b"go"))
        .unwrap();
    g.client.half_close(call).unwrap();
    g.drive();
    let scall = g.server_call();
    g.take_server();
    let mut sent = 0u32;
    while sent < 10_000 {
        match g
            .server
            .send_message(scall, Bytes::from(sent.to_le_bytes().to_vec()))
        {
            Ok(()) => sent += 1,
            Err(grpc_sansio::call::CallError::Blocked(_)) => g.drive(),
            Err(e) => panic!("{e}"),
        }
    }
    g.server
        .send_status(scall, Status::ok(), MetadataMap::new())
        .unwrap();
    g.drive();
    let cev = g.take_client();
    let got = messages_client(&cev, call);
    assert_eq!(got.len(), 10_000);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(&m[..], &(i as u32).to_le_bytes());
    }
    assert!(finished(&cev, call)[0].0.is_ok());
}

/// Many server-streaming calls whose handlers send as fast as they are
/// let: what the server queues over all of them stays within the
/// connection's send bound (not one stream send buffer per call), and a
/// call refused for want of room resumes on its Writable event alone, so
/// every message arrives.
#[test]
fn streaming_calls_share_the_connection_send_bound() {
    const CALLS: usize = 24;
    const MESSAGES: usize = 40;
    const SIZE: usize = 16 << 10;
    let mut server = ServerConfig::default();
    server.h2.max_send_buffer = 256 << 10;
    server.h2.max_connection_send_buffer = 1 << 20;
    let mut g = Grpc::with(ClientConfig::default(), server);
    let now = g.clock.now;
    let calls: Vec<CallId> = (0..CALLS)
        .map(|_| {
            g.client
                .start_call_with_message(
                    "/t.S/Stream",
                    CallOptions::new(CallKind::ServerStreaming),
                    Bytes::from_static(b"go"),
                    now,
                )
                .unwrap()
        })
        .collect();
    g.drive();
    let scalls = started(&g.take_server());
    assert_eq!(scalls.len(), CALLS);
    let message = |call: usize, i: usize| Bytes::from(vec![(call * MESSAGES + i) as u8; SIZE]);
    let mut sent = vec![0usize; CALLS];
    let mut ready = [true; CALLS];
    let mut most_queued = 0usize;
    for _ in 0..10_000 {
        for (k, &scall) in scalls.iter().enumerate() {
            while ready[k] && sent[k] < MESSAGES {
                match g.server.send_message(scall, message(k, sent[k])) {
                    Ok(()) => sent[k] += 1,
                    Err(grpc_sansio::call::CallError::Blocked(_)) => ready[k] = false,
                    Err(e) => panic!("{e}"),
                }
            }
            if sent[k] == MESSAGES {
                sent[k] += 1;
                g.server
                    .send_status(scall, Status::ok(), MetadataMap::new())
                    .unwrap();
            }
        }
        let h2 = g.server.h2();
        let queued: usize = scalls
            .iter()
            .map(|c| h2.queued_bytes(grpc_sansio::frame::StreamId::new(c.value() as u32)))
            .sum();
        most_queued = most_queued.max(queued);
        if sent.iter().all(|&n| n > MESSAGES) {
            break;
        }
        g.drive();
        for e in g.take_server() {
            if let ServerEvent::Writable { call } = e {
                let k = scalls.iter().position(|&c| c == call).unwrap();
                ready[k] = true;
            }
        }
    }
    assert!(
        sent.iter().all(|&n| n > MESSAGES),
        "calls stalled: {sent:?}"
    );
    // The bound, plus the last message each call had accepted on the way.
    assert!(
        most_queued <= (1 << 20) + CALLS * (SIZE + 5),
        "{most_queued} bytes queued"
    );
    assert!(
        most_queued >= 1 << 20,
        "the bound was never reached: {most_queued}"
    );
    g.drive();
    let cev = g.take_client();
    for (k, &call) in calls.iter().enumerate() {
        let got = messages_client(&cev, call);
        let want: Vec<Bytes> = (0..MESSAGES).map(|i| message(k, i)).collect();
        assert!(got == want, "call {k}: {} messages", got.len());
        assert!(finished(&cev, call)[0].0.is_ok());
    }
}

#[test]
fn unary_cardinality_violations_are_unimplemented() {
    // Two responses to a unary call.
    let mut g = Grpc::new();
    let call = unary(&mut g, "/t.S/M", b"x");
    g.drive();
    let scall = g.server_call();
    g.server
        .send_message(scall, Bytes::from_static(b"1"))
        .unwrap();
    g.server
        .send_message(scall, Bytes::from_static(b"2"))
        .unwrap();
    g.server
        .send_status(scall, Status::ok(), MetadataMap::new())
        .unwrap();
    g.drive();
    let fin = finished(&g.take_client(), call);
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0].0.code(), Code::Unimplemented);

    // No response with an OK status.
    let mut g = Grpc::new();
    let call = unary(&mut g, "/t.S/M", b"x");
    g.drive();
    let scall = g.server_call();
    g.server
        .send_status(scall, Status::ok(), MetadataMap::new())
        .unwrap();
    g.drive();
    assert_eq!(
        finished(&g.take_client(), call)[0].0.code(),
        Code::Unimplemented
    );

    // Two requests to a unary method.
    let mut g = Grpc::new();
    let now = g.clock.now;
    let call = g
        .client
        .start_call("/t.S/M", CallOptions::default(), now)
        .unwrap();
    g.client
        .send_message(call, Bytes::from_static(b"1"))
        .unwrap();
    g.client
        .send_message(call, Bytes::from_static(b"2"))
        .unwrap();
    g.client.half_close(call).unwrap();
    g.drive();
    let scall = g.server_call();
    g.server.set_call_kind(scall, CallKind::Unary).unwrap();
    g.drive();
    assert_eq!(
        finished(&g.take_client(), call)[0].0.code(),
        Code::Unimplemented
    );
}

#[test]
fn connection_loss_finishes_every_call_unavailable() {
    let mut g = Grpc::new();
    let a = unary(&mut g, "/t.S/A", b"x");
    let b = unary(&mut g, "/t.S/B", b"x");
    g.drive();
    let now = g.clock.now;
    g.client.receive_eof(now);
    let cev = g.client_events_now();
    for c in [a, b] {
        let fin = finished(&cev, c);
        assert_eq!(fin.len(), 1);
        assert_eq!(fin[0].0.code(), Code::Unavailable);
    }
    assert!(cev.iter().any(|e| matches!(e, ClientEvent::Closed { .. })));
    g.server.receive_eof(now);
    let sev: Vec<_> = std::iter::from_fn(|| g.server.poll_event()).collect();
    let lost = sev
        .iter()
        .filter(|e| {
            matches!(
                e,
                ServerEvent::Cancelled {
                    reason: CancelReason::ConnectionLost,
                    ..
                }
            )
        })
        .count();
    assert_eq!(lost, 2);
}

#[test]
fn graceful_shutdown_lets_a_call_in_flight_finish() {
    let mut g = Grpc::new();
    let call = unary(&mut g, "/t.S/M", b"x");
    g.drive();
    let scall = g.server_call();
    let now = g.clock.now;
    g.server.shutdown(now);
    g.drive();
    let cev = g.take_client();
    assert!(cev.iter().any(|e| matches!(e, ClientEvent::GoAway { .. })));
    assert!(!g.client.accepts_calls());
    assert_eq!(
        g.client.start_call("/t.S/M", CallOptions::unary(), now),
        Err(grpc_sansio::call::CallError::GoingAway)
    );
    g.server
        .send_message(scall, Bytes::from_static(b"done"))
        .unwrap();
    g.server
        .send_status(scall, Status::ok(), MetadataMap::new())
        .unwrap();
    g.drive();
    let cev = g.take_client();
    assert_eq!(
        messages_client(&cev, call),
        vec![Bytes::from_static(b"done")]
    );
    assert!(finished(&cev, call)[0].0.is_ok());
    assert!(g.server.is_closed());
    assert!(
        g.take_server()
            .iter()
            .any(|e| matches!(e, ServerEvent::Closed { error: None }))
    );
}

#[test]
fn padded_and_joined_binary_metadata_from_a_peer_is_accepted() {
    // Another implementation may pad its base64 and join repeated -bin
    // values with commas; we must read both.
    use grpc_sansio::h2;
    let clock = Clock::new();
    let mut client = h2::Connection::client(h2::Config::default(), clock.now);
    let mut server = ServerConnection::new(ServerConfig::default(), clock.now);
    let mut head = support::request_head("/t.S/M");
    head.push(support::field("x-one-bin", "AAE="));
    head.push(support::field("x-two-bin", "AQ==, AgM"));
    head.push(support::field("x-ascii", "plain"));
    client.open_stream(head, true).unwrap();
    let mut out = BytesMut::new();
    while client.poll_transmit(&mut out) > 0 {}
    server.receive(&out, clock.now).unwrap();
    let head = std::iter::from_fn(|| server.poll_event())
        .find_map(|e| match e {
            ServerEvent::CallStarted { head, .. } => Some(head),
            _ => None,
        })
        .expect("call started");
    assert_eq!(&head.metadata.get_bin("x-one-bin").unwrap()[..], &[0, 1]);
    let two: Vec<&[u8]> = head
        .metadata
        .get_all_bin("x-two-bin")
        .map(|b| &b[..])
        .collect();
    assert_eq!(two, vec![&[1u8][..], &[2, 3][..]]);
    assert_eq!(head.metadata.get("x-ascii"), Some("plain"));
}

/// A client near the end of its stream identifiers: calls that still have
/// an identifier (those waiting for a stream included) go through; the
/// next one is refused with `GoingAway` so the caller moves to a new
/// connection, and `accepts_calls` says so beforehand.
#[test]
fn stream_identifiers_run_out() {
    let mut client = ClientConfig::default();
    client.h2.first_stream_id = (1 << 31) - 6; // made odd: 2^31 - 5
    let mut server = ServerConfig::default();
    server.h2.max_concurrent_streams = 1;
    let mut g = Grpc::with(client, server);
    assert_eq!(g.client.h2().remaining_stream_ids(), 3);
    // One call on a stream, two waiting for the server's limit: three
    // identifiers, three calls.
    let calls = [
        unary(&mut g, "/t.S/A", b"a"),
        unary(&mut g, "/t.S/B", b"b"),
        unary(&mut g, "/t.S/C", b"c"),
    ];
    assert!(!g.client.accepts_calls());
    let now = g.clock.now;
    assert_eq!(
        g.client.start_call("/t.S/D", CallOptions::unary(), now),
        Err(grpc_sansio::call::CallError::GoingAway)
    );
    let mut paths = Vec::new();
    for _ in 0..10 {
        g.drive();
        for e in g.take_server() {
            if let ServerEvent::CallStarted { call, head } = e {
                paths.push(head.path.to_string());
                g.server.set_call_kind(call, CallKind::Unary).unwrap();
                g.server
                    .send_message(call, Bytes::copy_from_slice(head.path.as_bytes()))
                    .unwrap();
                g.server
                    .send_status(call, Status::ok(), MetadataMap::new())
                    .unwrap();
            }
        }
    }
    assert_eq!(paths, ["/t.S/A", "/t.S/B", "/t.S/C"]);
    let cev = g.take_client();
    for (call, path) in calls.iter().zip(["/t.S/A", "/t.S/B", "/t.S/C"]) {
        assert_eq!(finished(&cev, *call)[0].0, Status::ok(), "{path}");
        assert_eq!(
            messages_client(&cev, *call),
            vec![Bytes::from_static(path.as_bytes())]
        );
    }
    assert!(g.client.h2().stream_ids_exhausted());
    assert_eq!(g.client.h2().remaining_stream_ids(), 0);
    assert_eq!(g.client.active_calls(), 0);
    assert!(!g.client.accepts_calls());
}

/// The server answers a unary call with `body` and status OK.
fn reply_ok(g: &mut Grpc, scall: CallId, body: &'static [u8]) {
    g.server.set_call_kind(scall, CallKind::Unary).unwrap();
    g.server
        .send_message(scall, Bytes::from_static(body))
        .unwrap();
    g.server
        .send_status(scall, Status::ok(), MetadataMap::new())
        .unwrap();
}

/// The server's handler side was told its call lost the connection.
fn assert_connection_lost(g: &mut Grpc, scall: CallId) {
    let sev = g.take_server();
    assert!(
        sev.contains(&ServerEvent::Cancelled {
            call: scall,
            reason: CancelReason::ConnectionLost
        }),
        "{sev:?}"
    );
}

fn goaways(events: &[ClientEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, ClientEvent::GoAway { .. }))
        .count()
}

/// Run the timers of both sides until neither has one due at the clock.
fn settle_timers(g: &mut Grpc) {
    for _ in 0..10 {
        let now = g.clock.now;
        let due = [g.client.poll_timeout(), g.server.poll_timeout()]
            .into_iter()
            .flatten()
            .any(|t| t <= now);
        if !due {
            return;
        }
        g.client.handle_timeout(now);
        g.server.handle_timeout(now);
        g.drive();
    }
}

/// `max_connection_idle`: counted from the end of the last call, never
/// while one is in progress; then a graceful GOAWAY and a clean close.
#[test]
fn idle_connections_are_shut_down() {
    let mut server = ServerConfig::default();
    server.max_connection_idle = Some(Duration::from_secs(10));
    let mut g = Grpc::with(ClientConfig::default(), server);
    g.advance(Duration::from_secs(9));
    let call = unary(&mut g, "/t.S/Slow", b"x");
    g.drive();
    let scall = g.server_call();
    // A call in progress for longer than the idle limit keeps it open.
    g.advance(Duration::from_secs(25));
    assert_eq!(goaways(&g.take_client()), 0);
    reply_ok(&mut g, scall, b"done");
    g.drive();
    // The call ended inside an application call: the server asks for a
    // clock reading at once to start counting.
    assert!(g.server.poll_timeout().is_some_and(|t| t <= g.clock.now));
    settle_timers(&mut g);
    let cev = g.take_client();
    assert_eq!(finished(&cev, call)[0].0, Status::ok());
    g.advance(Duration::from_secs(9));
    assert_eq!(goaways(&g.take_client()), 0);
    assert!(g.client.accepts_calls());
    g.advance(Duration::from_secs(2));
    let cev = g.take_client();
    assert!(goaways(&cev) >= 1, "{cev:?}");
    assert!(!g.client.accepts_calls());
    // A client with no call left closes at the GOAWAY; so does its
    // transport, which the server reads as the end.
    assert!(g.client.is_closed());
    g.server.receive_eof(g.clock.now);
    assert!(g.server.is_closed());
}

/// `max_connection_age` with a grace period: GOAWAY at the age, the call
/// in progress goes on through the grace, then the connection is closed
/// under it; the handler hears ConnectionLost.
#[test]
fn old_connections_are_shut_down_after_a_grace() {
    let mut server = ServerConfig::default();
    server.max_connection_age = Some(Duration::from_secs(30));
    server.max_connection_age_grace = Some(Duration::from_secs(5));
    let mut g = Grpc::with(ClientConfig::default(), server);
    g.advance(Duration::from_secs(25));
    let call = unary(&mut g, "/t.S/Long", b"x");
    g.drive();
    let scall = g.server_call();
    g.take_server();
    g.advance(Duration::from_secs(5));
    let cev = g.take_client();
    assert!(goaways(&cev) >= 1, "{cev:?}");
    assert!(!g.client.accepts_calls());
    assert!(!g.server.is_closed());
    // Still inside the grace: the call can send.
    g.server.set_call_kind(scall, CallKind::Unary).unwrap();
    g.server
        .send_message(scall, Bytes::from_static(b"part"))
        .unwrap();
    g.advance(Duration::from_secs(4));
    assert!(!g.server.is_closed());
    assert_eq!(
        messages_client(&g.take_client(), call),
        vec![Bytes::from_static(b"part")]
    );
    g.advance(Duration::from_secs(1));
    assert!(g.server.is_closed());
    assert_connection_lost(&mut g, scall);
    // The transport closes; the client's call ends UNAVAILABLE.
    g.client.receive_eof(g.clock.now);
    g.collect();
    let fin = finished(&g.take_client(), call);
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0].0.code(), Code::Unavailable, "{:?}", fin[0].0);
}

/// `max_connection_age` without a grace: calls in progress finish however
/// long they take, then the connection closes cleanly.
#[test]
fn old_connections_let_calls_finish_without_a_grace() {
    let mut server = ServerConfig::default();
    server.max_connection_age = Some(Duration::from_secs(30));
    let mut g = Grpc::with(ClientConfig::default(), server);
    let call = unary(&mut g, "/t.S/Long", b"x");
    g.drive();
    let scall = g.server_call();
    g.advance(Duration::from_secs(31));
    assert!(goaways(&g.take_client()) >= 1);
    g.advance(Duration::from_secs(600));
    assert!(!g.server.is_closed());
    reply_ok(&mut g, scall, b"late");
    g.drive();
    settle_timers(&mut g);
    let cev = g.take_client();
    assert_eq!(finished(&cev, call)[0].0, Status::ok());
    assert_eq!(
        messages_client(&cev, call),
        vec![Bytes::from_static(b"late")]
    );
    assert!(g.server.is_closed());
}

/// Limits of `Duration::MAX` (gRPC's "infinite") are no limit, not an
/// overflow.
#[test]
fn endless_lifetime_limits_do_not_overflow() {
    let mut server = ServerConfig::default();
    server.max_connection_idle = Some(Duration::MAX);
    server.max_connection_age = Some(Duration::MAX);
    server.max_connection_age_grace = Some(Duration::MAX);
    let mut g = Grpc::with(ClientConfig::default(), server);
    let call = unary(&mut g, "/t.S/A", b"a");
    g.drive();
    let scall = g.server_call();
    reply_ok(&mut g, scall, b"b");
    g.drive();
    settle_timers(&mut g);
    g.advance(Duration::from_secs(1 << 20));
    assert_eq!(finished(&g.take_client(), call)[0].0, Status::ok());
    assert!(g.client.accepts_calls());
    assert!(!g.server.is_closed());
}

/// After the idle limit has begun a shutdown, the age limit and its grace
/// still bound a call that started before the GOAWAY arrived.
#[test]
fn age_limit_still_applies_after_an_idle_shutdown() {
    let mut server = ServerConfig::default();
    server.max_connection_idle = Some(Duration::from_secs(10));
    server.max_connection_age = Some(Duration::from_secs(30));
    server.max_connection_age_grace = Some(Duration::from_secs(5));
    let mut g = Grpc::with(ClientConfig::default(), server);
    // The idle limit fires; the client's call crosses the GOAWAY.
    g.clock.advance(Duration::from_secs(10));
    let now = g.clock.now;
    g.server.handle_timeout(now);
    unary(&mut g, "/t.S/Long", b"x");
    g.drive();
    assert!(goaways(&g.take_client()) >= 1);
    let scall = g.server_call();
    assert!(!g.server.is_closed());
    // The age limit at 30 s starts the 5 s grace; then the call is cut.
    g.advance(Duration::from_secs(20));
    assert!(!g.server.is_closed());
    g.advance(Duration::from_secs(5));
    assert!(g.server.is_closed());
    assert_connection_lost(&mut g, scall);
}

/// Messages of every size around the point where small ones are gathered
/// into one queue entry (under a kilobyte with their prefix), sent both
/// ways through small windows and small send buffers so that sends are
/// refused and resumed on Writable: every message arrives whole and in
/// order, then the status.
#[test]
fn small_and_large_messages_mixed_arrive_in_order_through_small_windows() {
    let mut client = ClientConfig::default();
    client.h2.initial_stream_window = 3000;
    client.h2.max_send_buffer = 4096;
    let mut server = ServerConfig::default();
    server.h2.initial_stream_window = 3000;
    server.h2.max_send_buffer = 4096;
    let mut g = Grpc::with(client, server);
    let now = g.clock.now;
    let sizes: Vec<usize> = (0..400).map(|i| (i * 37) % 1100).collect();
    let message = |i: usize| Bytes::from(vec![(i % 251) as u8; sizes[i]]);
    let call = g
        .client
        .start_call("/t.S/Chat", CallOptions::new(CallKind::BidiStreaming), now)
        .unwrap();
    // Client to server.
    send_all(&mut g, sizes.len(), |g, i| {
        g.client.send_message(call, message(i))
    });
    g.client.half_close(call).unwrap();
    g.drive();
    let sev = g.take_server();
    let scall = match &sev[0] {
        ServerEvent::CallStarted { call, .. } => *call,
        e => panic!("{e:?}"),
    };
    let want: Vec<Bytes> = (0..sizes.len()).map(message).collect();
    let got = messages_server(&sev, scall);
    assert_eq!(got.len(), want.len());
    assert!(got == want, "requests out of order or cut");
    assert!(sev.contains(&ServerEvent::HalfClosed { call: scall }));
    // Server to client.
    let mut cev = send_all(&mut g, sizes.len(), |g, i| {
        g.server.send_message(scall, message(i))
    });
    g.server
        .send_status(scall, Status::ok(), MetadataMap::new())
        .unwrap();
    g.drive();
    cev.extend(g.take_client());
    let got = messages_client(&cev, call);
    assert_eq!(got.len(), want.len());
    assert!(got == want, "responses out of order or cut");
    assert!(finished(&cev, call)[0].0.is_ok());
}

/// Make `count` sends with `send` (the `i`th message each time), driving
/// the pair while a send is refused as Blocked; returns the client's
/// events seen meanwhile.
fn send_all(
    g: &mut Grpc,
    count: usize,
    mut send: impl FnMut(&mut Grpc, usize) -> Result<(), grpc_sansio::call::CallError>,
) -> Vec<ClientEvent> {
    let mut sent = 0;
    let mut cev = Vec::new();
    for _ in 0..100_000 {
        while sent < count {
            match send(g, sent) {
                Ok(()) => sent += 1,
                Err(grpc_sansio::call::CallError::Blocked(_)) => break,
                Err(e) => panic!("{e}"),
            }
        }
        if sent == count {
            return cev;
        }
        g.drive();
        cev.extend(g.take_client());
    }
    panic!("sends stalled at {sent} of {count}");
}

/// 3000 bytes that do not compress.
fn incompressible() -> Bytes {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..3000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// A message over the send limit on a call whose queue is full is refused
/// as Blocked, plain or compressed, and the call's Writable event is
/// armed; once there is room, the same message is refused as too large.
/// A plain send skips the early writability check, and must still answer
/// the same.
#[test]
fn server_oversize_message_on_a_full_queue_is_blocked_first() {
    let mut server = ServerConfig::default();
    server.h2.max_send_buffer = 1024;
    server.max_send_message_size = 2000;
    let mut g = Grpc::with(ClientConfig::default(), server);
    let now = g.clock.now;
    g.client
        .start_call_with_message(
            "/t.S/Stream",
            CallOptions::new(CallKind::ServerStreaming).with_compression("gzip"),
            Bytes::from_static(b"go"),
            now,
        )
        .unwrap();
    g.drive();
    let scall = g.server_call();
    g.take_server();
    g.server.set_send_compression(scall, "gzip").unwrap();
    blocked_before_too_large(
        &mut g,
        scall,
        |g, m, compress| g.server.send_message_with(scall, m, compress),
        |g| {
            g.take_server()
                .contains(&ServerEvent::Writable { call: scall })
        },
    );
}

/// The client's side of the same rule: a message over the send limit on a
/// call whose queue is full is refused as Blocked, plain or compressed,
/// and Writable follows.
#[test]
fn client_oversize_message_on_a_full_queue_is_blocked_first() {
    let mut client = ClientConfig::default();
    client.h2.max_send_buffer = 1024;
    client.max_send_message_size = 2000;
    let mut g = Grpc::with(client, ServerConfig::default());
    let now = g.clock.now;
    let call = g
        .client
        .start_call(
            "/t.S/Upload",
            CallOptions::new(CallKind::ClientStreaming).with_compression("gzip"),
            now,
        )
        .unwrap();
    g.drive();
    g.take_client();
    blocked_before_too_large(
        &mut g,
        call,
        |g, m, compress| g.client.send_message_with(call, m, compress),
        |g| g.take_client().contains(&ClientEvent::Writable { call }),
    );
}

/// On `call`, plain and then compressed: fill the queue with `send`, then
/// an incompressible message over the 2,000-byte limit is refused as
/// Blocked; once `writable` saw the Writable event, it is refused as too
/// large.
fn blocked_before_too_large(
    g: &mut Grpc,
    call: CallId,
    send: impl Fn(&mut Grpc, Bytes, bool) -> Result<(), CallError>,
    writable: impl Fn(&mut Grpc) -> bool,
) {
    for compress in [false, true] {
        loop {
            match send(g, Bytes::from(vec![1; 600]), compress) {
                Ok(()) => {}
                Err(CallError::Blocked(c)) => {
                    assert_eq!(c, call);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(
            send(g, incompressible(), compress),
            Err(CallError::Blocked(call)),
            "compress: {compress}"
        );
        g.drive();
        assert!(writable(g), "compress: {compress}: no Writable");
        assert!(matches!(
            send(g, incompressible(), compress),
            Err(CallError::MessageTooLarge { limit: 2000, .. })
        ));
    }
}

/// A first response message refused for want of room in the connection's
/// queues does not send the call's response head either: the head goes
/// with the message once it is taken, so a handler that gives up on a
/// blocked send has not started a response it never finishes.
#[test]
fn a_blocked_first_message_sends_no_response_head() {
    let mut server = ServerConfig::default();
    server.h2.max_send_buffer = 4096;
    server.h2.max_connection_send_buffer = 4096;
    let mut g = Grpc::with(ClientConfig::default(), server);
    let now = g.clock.now;
    for _ in 0..2 {
        g.client
            .start_call_with_message(
                "/t.S/Stream",
                CallOptions::new(CallKind::ServerStreaming),
                Bytes::from_static(b"go"),
                now,
            )
            .unwrap();
    }
    g.drive();
    let calls = started(&g.take_server());
    assert_eq!(calls.len(), 2);
    // The first call fills the connection's queues...
    g.server
        .send_message(calls[0], Bytes::from(vec![1u8; 5000]))
        .unwrap();
    // ...so the second call's first message is refused, head and all.
    assert_eq!(
        g.server.send_message(calls[1], Bytes::from_static(b"hi")),
        Err(grpc_sansio::call::CallError::Blocked(calls[1]))
    );
    let mut out = BytesMut::new();
    while g.server.poll_transmit(&mut out) > 0 {}
    let mut frames = grpc_sansio::frame::FrameDecoder::new();
    frames.set_max_frame_size(16_777_215);
    let second = grpc_sansio::frame::StreamId::new(calls[1].value() as u32);
    let mut heads = 0;
    while let Ok(Some(f)) = frames.decode(&mut out) {
        if let grpc_sansio::frame::Frame::Headers(h) = f {
            assert_ne!(h.stream_id, second, "a head for the refused call");
            heads += 1;
        }
    }
    assert_eq!(heads, 1, "the first call's head went out");
}

/// A call that waited for a stream and gets one through an action that
/// brings no clock reading (here a `cancel` of the call holding the only
/// stream, nine seconds after the connection last saw the time) sends
/// what is left of its deadline then, not what was left at the last
/// reading: the connection asks for a timer at once and opens the call
/// from it.
#[test]
fn a_waiting_call_opened_without_a_clock_sends_its_timeout_as_of_then() {
    let mut server = ServerConfig::default();
    server.h2.max_concurrent_streams = 1;
    let mut g = Grpc::with(ClientConfig::default(), server);
    let now = g.clock.now;
    let holder = g
        .client
        .start_call("/t.S/Hold", CallOptions::new(CallKind::Unary), now)
        .unwrap();
    g.drive();
    let waiting = g
        .client
        .start_call(
            "/t.S/Wait",
            CallOptions::new(CallKind::Unary).with_timeout(now, Duration::from_secs(10)),
            now,
        )
        .unwrap();
    g.drive();
    g.take_server();
    // Nine seconds pass without the client hearing of them.
    let later = g.clock.advance(Duration::from_secs(9));
    g.client.cancel(holder);
    // The driver does what the connection asks: run its timers when due.
    for _ in 0..4 {
        if g.client.poll_timeout().is_some_and(|t| t <= later) {
            g.client.handle_timeout(later);
        }
        g.drive();
    }
    let timeout = g.take_server().iter().find_map(|e| match e {
        ServerEvent::CallStarted { head, .. } if &*head.path == "/t.S/Wait" => Some(head.timeout),
        _ => None,
    });
    let left = timeout
        .expect("the waiting call started")
        .expect("a timeout");
    assert!(
        left <= Duration::from_secs(1),
        "sent {left:?} left of a deadline one second away"
    );
    assert!(g.client.poll_timeout().is_some());
    let _ = waiting;
}
