//! The demo's scenarios and the stacks that run them. Each stack starts a
//! server on 127.0.0.1 with the same small echo service, and makes calls
//! through a wire tap with its own client; the scenarios check the results.

pub mod blocking;
pub mod by_hand;
pub mod tokio;

use std::time::Duration;

use bytes::Bytes;
use grpc_sansio::call::CallKind;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};

/// The service every stack serves, `demo.Echo`:
/// - `Unary`: replies `echo: <request>`, initial metadata
///   `x-served-by: <stack>`, trailer `x-seen-user` echoing `x-user`;
/// - `ServerStream`: replies `<request> 1`, `<request> 2`, `<request> 3`;
/// - `ClientStream`: replies `<n> bytes in <m> messages`;
/// - `Bidi`: replies `<message>!` to each message;
/// - `Slow`: never answers (the caller's deadline ends it);
/// - `Fail`: INVALID_ARGUMENT `no such thing: 100% sure` with details
///   `08 03`.
pub const SERVICE: &str = "demo.Echo";

/// The kind of each method of the service.
pub fn kind_of(method: &str) -> Option<CallKind> {
    match method {
        "Unary" | "Slow" | "Fail" => Some(CallKind::Unary),
        "ServerStream" => Some(CallKind::ServerStreaming),
        "ClientStream" => Some(CallKind::ClientStreaming),
        "Bidi" => Some(CallKind::BidiStreaming),
        _ => None,
    }
}

/// The status `Fail` answers with.
pub fn fail_status() -> Status {
    Status::new(Code::InvalidArgument, "no such thing: 100% sure")
        .with_details(Bytes::from_static(b"\x08\x03"))
}

/// What one call came back with.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Initial metadata, if the server sent a head.
    pub headers: Option<MetadataMap>,
    /// Reply messages.
    pub messages: Vec<Bytes>,
    /// The final status.
    pub status: Option<Status>,
    /// Trailing metadata.
    pub trailers: MetadataMap,
    /// How long the call took.
    pub elapsed: Duration,
}

/// A client of one stack.
pub trait DemoClient {
    /// Make one call: send `requests`, half-close, collect everything.
    fn call(
        &mut self,
        method: &str,
        kind: CallKind,
        metadata: MetadataMap,
        timeout: Option<Duration>,
        requests: &[&'static [u8]],
    ) -> Outcome;
}

/// One scenario's verdict.
pub struct Verdict {
    /// The scenario's name.
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

/// Run every scenario with `client`; `stack` is the server's
/// `x-served-by` name. `each` is called after every scenario (to print
/// the frames that crossed).
pub fn run_scenarios(
    client: &mut dyn DemoClient,
    stack: &str,
    mut each: impl FnMut(&str, &Verdict),
) -> Vec<Verdict> {
    let mut out = Vec::new();
    let ok_status = |o: &Outcome| o.status.as_ref().is_some_and(Status::is_ok);
    let mut push = |title: &str, v: Verdict| {
        each(title, &v);
        out.push(v);
    };

    let mut md = MetadataMap::new();
    let _ = md.insert("x-user", "demo");
    let _ = md.insert_bin("x-token-bin", Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef]));
    let o = client.call("Unary", CallKind::Unary, md, None, &[b"hello"]);
    push(
        "unary call with metadata both ways",
        Verdict {
            name: "unary",
            ok: o.messages == [Bytes::from_static(b"echo: hello")]
                && ok_status(&o)
                && o.headers.as_ref().and_then(|h| h.get("x-served-by")) == Some(stack)
                && o.trailers.get("x-seen-user") == Some("demo"),
            detail: format!(
                "reply {:?}, x-seen-user {:?}",
                o.messages,
                o.trailers.get("x-seen-user")
            ),
        },
    );

    let o = client.call(
        "ServerStream",
        CallKind::ServerStreaming,
        MetadataMap::new(),
        None,
        &[b"tick"],
    );
    push(
        "server streaming: one request, three replies",
        Verdict {
            name: "server streaming",
            ok: o.messages
                == [
                    Bytes::from_static(b"tick 1"),
                    Bytes::from_static(b"tick 2"),
                    Bytes::from_static(b"tick 3"),
                ]
                && ok_status(&o),
            detail: format!("{} replies", o.messages.len()),
        },
    );

    let o = client.call(
        "ClientStream",
        CallKind::ClientStreaming,
        MetadataMap::new(),
        None,
        &[b"a", b"bb", b"ccc"],
    );
    push(
        "client streaming: three requests, one reply",
        Verdict {
            name: "client streaming",
            ok: o.messages == [Bytes::from_static(b"6 bytes in 3 messages")] && ok_status(&o),
            detail: format!("reply {:?}", o.messages),
        },
    );

    let o = client.call(
        "Bidi",
        CallKind::BidiStreaming,
        MetadataMap::new(),
        None,
        &[b"x", b"y"],
    );
    push(
        "bidirectional streaming",
        Verdict {
            name: "bidi streaming",
            ok: o.messages == [Bytes::from_static(b"x!"), Bytes::from_static(b"y!")]
                && ok_status(&o),
            detail: format!("replies {:?}", o.messages),
        },
    );

    let o = client.call(
        "Slow",
        CallKind::Unary,
        MetadataMap::new(),
        Some(Duration::from_millis(200)),
        &[b"wait"],
    );
    let code = o.status.as_ref().map(Status::code);
    push(
        "deadline: 200 ms against a handler that never answers",
        Verdict {
            name: "deadline",
            ok: code == Some(Code::DeadlineExceeded)
                && o.elapsed >= Duration::from_millis(190)
                && o.elapsed < Duration::from_secs(3),
            detail: format!("{code:?} after {:?}", o.elapsed),
        },
    );

    let o = client.call("Fail", CallKind::Unary, MetadataMap::new(), None, &[b"?"]);
    push(
        "error status with a message and details",
        Verdict {
            name: "error status",
            ok: o.status.as_ref() == Some(&fail_status()),
            detail: format!("{:?}", o.status),
        },
    );

    let o = client.call("Nope", CallKind::Unary, MetadataMap::new(), None, &[b"?"]);
    push(
        "unknown method",
        Verdict {
            name: "unimplemented",
            ok: o.status.as_ref().map(Status::code) == Some(Code::Unimplemented),
            detail: format!("{:?}", o.status),
        },
    );
    out
}
