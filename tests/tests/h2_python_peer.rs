//! Our HTTP/2 connection against python-hyper's `h2`, a second sans-I/O
//! HTTP/2 implementation, over 127.0.0.1 TCP, in both roles.
//!
//! The peers are the scripts in `tests/peers/python/`; they speak the echo
//! protocol described in `h2peer.py` and print a `SUMMARY {json}` line that
//! these tests check. Without the Python packages the tests are skipped
//! (or fail under `GRPC_SANSIO_REQUIRE_PEERS=1`); see `.ci/install-peers`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio::frame::{Reason, StreamId};
use grpc_sansio::h2::{Config, Connection, ConnectionError, Event, Initiator, SendError};
use grpc_sansio::hpack::HeaderField;
use grpc_sansio_tests::peer::{self, Budget, Driver, PeerOutput, PeerProcess};
use serde_json::Value;

const BIG: usize = 200_000;
const MANY: usize = 50;
const PEER_WAIT: Duration = Duration::from_secs(10);

/// The same bytes as `pattern(n)` in `h2peer.py`.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + 7) % 251) as u8).collect()
}

fn field(name: &str, value: &str) -> HeaderField {
    HeaderField {
        name: Bytes::copy_from_slice(name.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
        sensitive: false,
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn get<'a>(fields: &'a [HeaderField], name: &str) -> Option<&'a [u8]> {
    fields
        .iter()
        .find(|f| &f.name[..] == name.as_bytes())
        .map(|f| &f.value[..])
}

/// Small windows both ways, so that 200 KB bodies need many WINDOW_UPDATEs.
fn small_windows() -> Config {
    let mut c = Config::default();
    c.initial_stream_window = 65_535;
    c.connection_window = 65_535;
    c
}

fn parse_summary(out: &PeerOutput) -> Value {
    assert!(out.success(), "python peer failed:\n{}", out.transcript());
    let json = out
        .summary()
        .unwrap_or_else(|| panic!("no SUMMARY line:\n{}", out.transcript()));
    serde_json::from_str(json).unwrap_or_else(|e| panic!("bad SUMMARY json {e}: {json}"))
}

// ---- our server, python client ----

/// A request as our echo server saw it.
#[derive(Debug, Default)]
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
    trailers: Vec<(String, String)>,
    answered: bool,
}

/// The echo application on top of a server connection.
#[derive(Debug, Default)]
struct EchoServer {
    requests: HashMap<StreamId, Request>,
    done: Vec<Request>,
    resets: Vec<(StreamId, Reason, Initiator)>,
    data_bytes: usize,
    /// Response bodies waiting for send_data to accept them.
    pending: HashMap<StreamId, (Bytes, Vec<HeaderField>)>,
}

impl EchoServer {
    fn on_event(&mut self, conn: &mut Connection, ev: &Event) {
        match ev {
            Event::Headers {
                stream,
                fields,
                end_stream,
            } => {
                let req = self.requests.entry(*stream).or_default();
                if get(fields, ":method").is_some() {
                    req.method = text(get(fields, ":method").unwrap_or_default());
                    req.path = text(get(fields, ":path").unwrap_or_default());
                } else {
                    req.trailers = fields
                        .iter()
                        .map(|f| (text(&f.name), text(&f.value)))
                        .collect();
                }
                if *end_stream {
                    self.answer(conn, *stream);
                }
            }
            Event::Data {
                stream,
                data,
                end_stream,
            } => {
                self.data_bytes += data.len();
                conn.release_capacity(*stream, data.len() as u32);
                if let Some(req) = self.requests.get_mut(stream) {
                    req.body.extend_from_slice(data);
                }
                if *end_stream {
                    self.answer(conn, *stream);
                }
            }
            Event::StreamReset {
                stream,
                code,
                initiator,
            } => {
                self.resets.push((*stream, *code, *initiator));
                self.requests.remove(stream);
                self.pending.remove(stream);
            }
            Event::Writable { stream } => self.push(conn, *stream),
            _ => {}
        }
    }

    fn answer(&mut self, conn: &mut Connection, stream: StreamId) {
        let Some(mut req) = self.requests.remove(&stream) else {
            return;
        };
        let head = vec![
            field(":status", "200"),
            field("content-type", "application/octet-stream"),
            field("x-method", &req.method),
            field("x-path", &req.path),
            field("x-request-bytes", &req.body.len().to_string()),
        ];
        conn.send_headers(stream, head, false)
            .expect("response head");
        let mut trailers = vec![field("x-body-len", &req.body.len().to_string())];
        for (k, v) in &req.trailers {
            trailers.push(field(&format!("x-echo-{k}"), v));
        }
        req.answered = true;
        self.pending
            .insert(stream, (Bytes::from(req.body.clone()), trailers));
        self.done.push(req);
        self.push(conn, stream);
    }

    /// Send the body (as far as the send buffer allows), then trailers.
    fn push(&mut self, conn: &mut Connection, stream: StreamId) {
        let Some((body, _)) = self.pending.get_mut(&stream) else {
            return;
        };
        if !body.is_empty() {
            let chunk = body.clone();
            match conn.send_data(stream, chunk, false) {
                Ok(()) => body.clear(),
                Err(SendError::Blocked(_)) => return,
                Err(e) => panic!("send_data on {stream}: {e}"),
            }
        }
        if let Some((_, trailers)) = self.pending.remove(&stream) {
            conn.send_headers(stream, trailers, true)
                .expect("response trailers");
        }
    }
}

/// Run our server on one accepted connection until it closes.
fn serve_one(listener: &std::net::TcpListener, config: Config, app: &mut EchoServer) -> Vec<Event> {
    let sock = peer::accept_within(listener, PEER_WAIT).expect("python client connects");
    let conn = Connection::server(config, Instant::now());
    let mut driver = Driver::new(conn, sock).expect("socket options");
    driver
        .run(Budget::default(), |conn, ev| app.on_event(conn, ev))
        .unwrap_or_else(|e| panic!("server driver: {e:?}; server saw {:?}", app.resets))
}

#[test]
fn our_server_echoes_python_h2_client_streams_with_flow_control_ping_reset_and_goaway() {
    let Some(python) = peer::python_with(&["h2"]) else {
        return;
    };
    let (listener, port) = peer::listen_local().expect("bind 127.0.0.1:0");
    let client = PeerProcess::spawn(&python, "h2_client.py", &[&port.to_string(), "echo"])
        .expect("spawn python client");
    let mut app = EchoServer::default();
    let events = serve_one(&listener, small_windows(), &mut app);
    let out = client.finish(PEER_WAIT);
    let s = parse_summary(&out);

    // What python saw.
    assert_eq!(s["streams"], 4 + MANY);
    assert_eq!(s["statuses_200"], 4 + MANY);
    assert_eq!(s["big_len"], BIG);
    assert_eq!(s["big_matches"], true);
    assert_eq!(s["bytes_received"], s["bytes_sent"]);
    assert_eq!(
        s["trailers"],
        serde_json::json!([
            ["x-body-len", "20"],
            ["x-echo-x-req-trailer", "abc"],
            ["x-echo-x-second", "2"]
        ])
    );
    assert_eq!(
        s["response_head"],
        serde_json::json!([
            [":status", "200"],
            ["content-type", "application/octet-stream"],
            ["x-method", "POST"],
            ["x-path", "/big"],
            ["x-request-bytes", BIG.to_string()]
        ])
    );
    assert_eq!(s["ping_acks"], serde_json::json!(["pyping01", "pyping02"]));
    // Our 200 KB echo needed python's credit, and python's upload ours.
    assert!(s["window_updates"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["eof"], true);
    let goaway = &s["server_goaway"];
    assert_eq!(goaway["code"], 0, "graceful GOAWAY from us: {s}");
    assert_eq!(goaway["last_stream_id"], s["reset_stream"]);

    // What our server saw.
    assert_eq!(app.done.len(), 4 + MANY);
    assert_eq!(
        app.data_bytes as u64,
        s["bytes_sent"].as_u64().unwrap() + "partial".len() as u64
    );
    let by_path: HashMap<&str, &Request> = app.done.iter().map(|r| (r.path.as_str(), r)).collect();
    assert_eq!(by_path["/get"].method, "GET");
    assert!(by_path["/get"].body.is_empty());
    assert_eq!(by_path["/small"].body, b"hello from python h2");
    assert_eq!(by_path["/big"].body, pattern(BIG));
    assert_eq!(
        by_path["/trailers"].trailers,
        vec![
            ("x-req-trailer".to_owned(), "abc".to_owned()),
            ("x-second".to_owned(), "2".to_owned())
        ]
    );
    for i in 0..MANY {
        let want = format!("stream {i} ").repeat(i + 1);
        assert_eq!(by_path[format!("/many/{i}").as_str()].body, want.as_bytes());
    }
    let reset_id = StreamId::new(s["reset_stream"].as_u64().unwrap() as u32);
    assert_eq!(
        app.resets,
        vec![(reset_id, Reason::CANCEL, Initiator::Remote)]
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::GoAway { code, last_stream_id, .. } if *code == Reason::NO_ERROR && last_stream_id.value() == 0
    )));
    assert_eq!(events.last(), Some(&Event::Closed { error: None }));
}

#[test]
fn python_h2_client_gets_goaway_protocol_error_for_data_on_an_idle_stream() {
    let Some(python) = peer::python_with(&["h2"]) else {
        return;
    };
    let (listener, port) = peer::listen_local().expect("bind 127.0.0.1:0");
    let client = PeerProcess::spawn(&python, "h2_client.py", &[&port.to_string(), "idle-data"])
        .expect("spawn python client");
    let mut app = EchoServer::default();
    let events = serve_one(&listener, Config::default(), &mut app);
    let out = client.finish(PEER_WAIT);
    let s = parse_summary(&out);

    assert_eq!(s["goaway_code"], Reason::PROTOCOL_ERROR.value());
    assert_eq!(s["last_stream_id"], 0);
    assert_eq!(s["debug_data"], "DATA on an idle stream");
    assert_eq!(s["eof"], true, "we close TCP after the GOAWAY");
    assert!(app.done.is_empty());
    match events.last() {
        Some(Event::Closed {
            error:
                Some(ConnectionError::GoAway {
                    code,
                    initiator: Initiator::Local,
                    ..
                }),
        }) => assert_eq!(*code, Reason::PROTOCOL_ERROR),
        other => panic!("expected Closed with our GOAWAY, got {other:?}"),
    }
}

// ---- our client, python server ----

type Trailers = Vec<(String, String)>;

/// One request our client makes, and what came back.
#[derive(Debug)]
struct Call {
    path: String,
    body: Vec<u8>,
    trailers: Vec<(String, String)>,
    head: Vec<HeaderField>,
    got: Vec<u8>,
    got_trailers: Vec<(String, String)>,
    ended: bool,
}

#[test]
fn our_client_streams_to_python_h2_server_and_sees_its_graceful_goaway() {
    let Some(python) = peer::python_with(&["h2"]) else {
        return;
    };
    const CALLS: usize = 24;
    let mut server = PeerProcess::spawn(&python, "h2_server.py", &[&CALLS.to_string()])
        .expect("spawn python server");
    let port: u16 = server
        .wait_line("PORT ", PEER_WAIT)
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("python server printed no port"));
    let sock = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let now = Instant::now();
    let mut driver = Driver::new(Connection::client(small_windows(), now), sock).unwrap();

    let mut plan: Vec<(String, Vec<u8>, Trailers)> = vec![
        ("/get".into(), vec![], vec![]),
        ("/small".into(), b"hello from grpc-sansio".to_vec(), vec![]),
        ("/big".into(), pattern(3 * BIG / 2), vec![]),
        (
            "/trailers".into(),
            b"then trailers".to_vec(),
            vec![("x-req-trailer".into(), "xyz".into())],
        ),
    ];
    for i in 0..CALLS - plan.len() {
        plan.push((
            format!("/many/{i}"),
            format!("call {i};").repeat(i + 1).into_bytes(),
            vec![],
        ));
    }
    let mut calls: HashMap<StreamId, Call> = HashMap::new();
    for (path, body, trailers) in plan {
        let method = if body.is_empty() { "GET" } else { "POST" };
        let head = vec![
            field(":method", method),
            field(":scheme", "http"),
            field(":path", &path),
            field(":authority", &format!("127.0.0.1:{port}")),
        ];
        let only_head = body.is_empty() && trailers.is_empty();
        let id = driver.conn.open_stream(head, only_head).expect("open");
        if !body.is_empty() {
            driver
                .conn
                .send_data(id, Bytes::from(body.clone()), trailers.is_empty())
                .expect("queue body");
        }
        if !trailers.is_empty() {
            let t = trailers.iter().map(|(k, v)| field(k, v)).collect();
            driver.conn.send_headers(id, t, true).expect("trailers");
        }
        calls.insert(
            id,
            Call {
                path,
                body,
                trailers,
                head: vec![],
                got: vec![],
                got_trailers: vec![],
                ended: false,
            },
        );
    }
    let ping = driver.conn.ping(now).expect("ping");

    let events = driver
        .run(Budget::default(), |conn, ev| match ev {
            Event::Headers {
                stream,
                fields,
                end_stream,
            } => {
                let call = calls.get_mut(stream).expect("known stream");
                if call.head.is_empty() {
                    call.head = fields.to_vec();
                } else {
                    call.got_trailers = fields
                        .iter()
                        .map(|f| (text(&f.name), text(&f.value)))
                        .collect();
                }
                call.ended |= *end_stream;
            }
            Event::Data {
                stream,
                data,
                end_stream,
            } => {
                conn.release_capacity(*stream, data.len() as u32);
                let call = calls.get_mut(stream).expect("known stream");
                call.got.extend_from_slice(data);
                call.ended |= *end_stream;
            }
            _ => {}
        })
        .unwrap_or_else(|e| panic!("client driver: {e:?}"));
    let out = server.finish(PEER_WAIT);
    let s = parse_summary(&out);

    // Every response, exactly.
    let mut sent_bytes = 0;
    for call in calls.values() {
        assert!(call.ended, "{} did not end", call.path);
        assert_eq!(
            get(&call.head, ":status"),
            Some(&b"200"[..]),
            "{}",
            call.path
        );
        assert_eq!(get(&call.head, "x-path"), Some(call.path.as_bytes()));
        let len = call.body.len().to_string();
        assert_eq!(get(&call.head, "x-request-bytes"), Some(len.as_bytes()));
        assert_eq!(call.got, call.body, "{} body", call.path);
        let mut want = vec![("x-body-len".to_owned(), len.clone())];
        want.extend(
            call.trailers
                .iter()
                .map(|(k, v)| (format!("x-echo-{k}"), v.clone())),
        );
        assert_eq!(call.got_trailers, want, "{} trailers", call.path);
        sent_bytes += call.body.len();
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::PingAcked { payload, .. } if *payload == ping))
    );
    let highest = calls.keys().map(|id| id.value()).max().unwrap();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::GoAway { code, last_stream_id, debug_data }
            if *code == Reason::NO_ERROR && last_stream_id.value() == highest && debug_data.is_empty()
    )), "{events:?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::StreamReset { .. })),
        "{events:?}"
    );
    assert_eq!(events.last(), Some(&Event::Closed { error: None }));

    // What python saw.
    assert_eq!(s["streams"], CALLS);
    assert_eq!(s["bytes_received"], sent_bytes);
    assert_eq!(s["last_stream_id"], highest);
    assert_eq!(
        s["request_trailers"],
        serde_json::json!({"/trailers": [["x-req-trailer", "xyz"]]})
    );
    // python needed our WINDOW_UPDATEs to send 300 KB back.
    assert!(s["window_updates"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["eof"], true);
}
