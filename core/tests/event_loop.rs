//! Runs the `event_loop` example (an echo server and a client in one
//! thread over real TCP sockets, driven by a hand-written readiness loop)
//! and checks what each of its calls returned.

// The example's `main` is not called from here.
#[allow(dead_code)]
#[path = "../examples/event_loop.rs"]
mod event_loop;

use bytes::Bytes;
use grpc_sansio::frame::Reason;
use grpc_sansio::grpc::Code;
use grpc_sansio::server::CancelReason;

use event_loop::{BIDI, BIG, CallReport, Report, STREAM_COUNT};

/// The call named `name`.
fn call<'a>(report: &'a Report, name: &str) -> &'a CallReport {
    report
        .calls
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no call {name}"))
}

#[test]
fn event_loop_example_runs_every_call_kind_over_tcp() {
    let report = event_loop::run().expect("the example runs to the end");

    let names: Vec<_> = report.calls.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "unary",
            "server_streaming",
            "client_streaming",
            "bidi",
            "deadline",
            "failing"
        ]
    );

    // Unary: the message back, the request metadata echoed in the
    // response headers (ASCII and binary), a custom trailer.
    let unary = call(&report, "unary");
    assert_eq!(unary.code, Code::Ok, "{unary:?}");
    assert_eq!(unary.messages, [Bytes::from_static(b"hello")]);
    let headers = unary.headers.as_ref().expect("response headers");
    assert_eq!(headers.get("echo-request-id"), Some("42"));
    assert_eq!(
        headers.get_bin("echo-trace-bin").map(|b| &b[..]),
        Some(&[0u8, 1, 2, 255][..])
    );
    assert_eq!(unary.trailers.get("served-by"), Some("event-loop"));

    // Server streaming: every message, whole and in order, through windows
    // and send queues far smaller than the stream.
    let stream = call(&report, "server_streaming");
    assert_eq!(stream.code, Code::Ok, "{stream:?}");
    assert_eq!(stream.messages.len(), STREAM_COUNT);
    for (i, m) in stream.messages.iter().enumerate() {
        assert_eq!(m.len(), BIG);
        assert!(m.iter().all(|&b| b == b'a' + (i % 26) as u8), "message {i}");
    }

    // Client streaming: the server saw every byte.
    let upload = call(&report, "client_streaming");
    assert_eq!(upload.code, Code::Ok, "{upload:?}");
    let summary = format!("{STREAM_COUNT} messages, {} bytes", STREAM_COUNT * BIG);
    assert_eq!(upload.messages, [Bytes::from(summary)]);

    // Bidi in lockstep: each message back in upper case.
    let bidi = call(&report, "bidi");
    assert_eq!(bidi.code, Code::Ok, "{bidi:?}");
    let upper: Vec<Bytes> = BIDI.iter().map(|s| Bytes::from(s.to_uppercase())).collect();
    assert_eq!(bidi.messages, upper);

    // The deadline: DEADLINE_EXCEEDED and nothing else; the server's
    // handler learnt that the call ended without it (the client's timer
    // resets the stream, or the server's own timer runs first).
    let late = call(&report, "deadline");
    assert_eq!(late.code, Code::DeadlineExceeded, "{late:?}");
    assert!(late.messages.is_empty());
    let (method, reason) = report
        .server_cancelled
        .iter()
        .find(|(m, _)| m == "Sleep")
        .expect("the server handler is told the call ended");
    assert!(
        matches!(
            reason,
            CancelReason::DeadlineExceeded | CancelReason::Reset(Reason::CANCEL)
        ),
        "{method}: {reason:?}"
    );

    // The failure: its code, message and trailers, in a trailers-only
    // response (no headers event).
    let failing = call(&report, "failing");
    assert_eq!(failing.code, Code::InvalidArgument, "{failing:?}");
    assert_eq!(failing.message, "cannot echo \"bad\"");
    assert_eq!(
        failing.trailers.get("error-detail"),
        Some("the echo refuses")
    );
    assert!(failing.headers.is_none());
    assert!(failing.messages.is_empty());

    // The streams were larger than the send queues: both sides were
    // refused with Blocked and went on after Writable; and both gave
    // flow-control credit back.
    assert!(report.client_blocked > 0, "{report:?}");
    assert!(report.server_blocked > 0, "{report:?}");
    assert!(report.client_released > 0 && report.server_released > 0);

    // Both ends closed cleanly.
    assert_eq!(report.client_closed, Some(None));
    assert_eq!(report.server_closed, [None]);
}
