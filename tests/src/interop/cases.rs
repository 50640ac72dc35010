//! The credential-free client cases of gRPC's interop descriptions, each
//! written once against [`Transport`]. A case returns a short detail line
//! on success and the reason on failure.
//!
//! The server_compressed_* cases check each response's compressed flag
//! as well as its size. What is not asserted: there is no caching proxy
//! on loopback, so cacheable_unary checks two fresh timestamps.

use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio::grpc::Code;
use grpc_sansio::grpc::metadata::MetadataMap;
use prost::Message;

use super::pb::{
    BoolValue, EchoStatus, Empty, ResponseParameters, SimpleRequest, SimpleResponse,
    StreamingInputCallRequest, StreamingInputCallResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse, zeros,
};
use super::transport::{CallOpts, Finished, Transport};

/// The request and response sizes the descriptions use.
pub const LARGE_REQUEST: usize = 271_828;
/// The large response size.
pub const LARGE_RESPONSE: usize = 314_159;
/// The request sizes of the streaming cases.
pub const STREAM_REQUESTS: [usize; 4] = [27_182, 8, 1_828, 45_904];
/// The response sizes of the streaming cases.
pub const STREAM_RESPONSES: [usize; 4] = [31_415, 9, 2_653, 58_979];
/// very_large_request: a 10 MiB request.
pub const VERY_LARGE_REQUEST: usize = 10 * 1024 * 1024;
/// The metadata key echoed as initial metadata.
pub const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
/// The metadata key echoed as trailing metadata.
pub const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";
/// The special_status_message text.
pub const SPECIAL_MESSAGE: &str =
    "\t\ntest with whitespace\r\nand Unicode BMP \u{263a} and non-BMP \u{1f608}\t\n";

const SERVICE: &str = "/grpc.testing.TestService/";
/// The timeout of every call that has no timeout of its own.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Every case, in the order `all` runs them.
pub const ALL_CASES: &[&str] = &[
    "empty_unary",
    "cacheable_unary",
    "large_unary",
    "client_compressed_unary",
    "server_compressed_unary",
    "client_streaming",
    "client_compressed_streaming",
    "server_streaming",
    "server_compressed_streaming",
    "ping_pong",
    "empty_stream",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "very_large_request",
    "rpc_soak",
    "channel_soak",
];

/// The outcome of a case: a detail line, or why it failed.
pub type CaseResult = Result<String, String>;

/// Run case `name`; `soak` is the iteration count of the soak cases.
pub fn run(name: &str, t: &dyn Transport, soak: usize) -> CaseResult {
    match name {
        "empty_unary" => empty_unary(t),
        "cacheable_unary" => cacheable_unary(t),
        "large_unary" => large_unary(t).map(|()| "ok".into()),
        "client_compressed_unary" => client_compressed_unary(t),
        "server_compressed_unary" => server_compressed_unary(t),
        "client_streaming" => client_streaming(t),
        "client_compressed_streaming" => client_compressed_streaming(t),
        "server_streaming" => server_streaming(t),
        "server_compressed_streaming" => server_compressed_streaming(t),
        "ping_pong" => ping_pong(t),
        "empty_stream" => empty_stream(t),
        "custom_metadata" => custom_metadata(t),
        "status_code_and_message" => status_echo(t, "test status message", true),
        "special_status_message" => status_echo(t, SPECIAL_MESSAGE, false),
        "unimplemented_method" => unimplemented(t, "/grpc.testing.TestService/UnimplementedCall"),
        "unimplemented_service" => {
            unimplemented(t, "/grpc.testing.UnimplementedService/UnimplementedCall")
        }
        "cancel_after_begin" => cancel_after_begin(t),
        "cancel_after_first_response" => cancel_after_first_response(t),
        "timeout_on_sleeping_server" => timeout_on_sleeping_server(t),
        "very_large_request" => very_large_request(t),
        "rpc_soak" => rpc_soak(t, soak),
        "channel_soak" => channel_soak(t, soak),
        other => Err(format!("unknown case {other}")),
    }
}

fn path(method: &str) -> String {
    format!("{SERVICE}{method}")
}

fn enc(m: &impl Message) -> Bytes {
    Bytes::from(m.encode_to_vec())
}

fn dec<M: Message + Default>(b: &Bytes, what: &str) -> Result<M, String> {
    M::decode(b.clone()).map_err(|e| format!("{what}: undecodable response: {e}"))
}

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}

fn ok(f: &Finished, what: &str) -> Result<(), String> {
    ensure(f.status.code() == Code::Ok, || {
        format!(
            "{what}: status {:?} {:?}, want OK",
            f.status.code(),
            f.status.message()
        )
    })
}

fn want_code(f: &Finished, code: Code, what: &str) -> Result<(), String> {
    ensure(f.status.code() == code, || {
        format!(
            "{what}: status {:?} {:?}, want {code:?}",
            f.status.code(),
            f.status.message()
        )
    })
}

/// The single response of a finished unary-response call.
fn single<M: Message + Default>(f: &Finished, what: &str) -> Result<M, String> {
    ok(f, what)?;
    ensure(f.messages.len() == 1, || {
        format!("{what}: {} responses, want 1", f.messages.len())
    })?;
    dec(&f.messages[0], what)
}

fn check_zeros(body: &Bytes, size: usize, what: &str) -> Result<(), String> {
    ensure(body.len() == size, || {
        format!("{what}: payload of {} bytes, want {size}", body.len())
    })?;
    ensure(body.iter().all(|&b| b == 0), || {
        format!("{what}: payload is not all zeros")
    })
}

fn payload_of(p: &Option<super::pb::Payload>) -> Bytes {
    p.as_ref().map(|p| p.body.clone()).unwrap_or_default()
}

fn large_request() -> SimpleRequest {
    SimpleRequest {
        response_size: LARGE_RESPONSE as i32,
        payload: Some(zeros(LARGE_REQUEST)),
        ..SimpleRequest::default()
    }
}

fn opts() -> CallOpts {
    CallOpts::timeout(CALL_TIMEOUT)
}

fn empty_unary(t: &dyn Transport) -> CaseResult {
    let f = t.unary(&path("EmptyCall"), enc(&Empty {}), opts());
    ok(&f, "EmptyCall")?;
    ensure(f.messages.len() == 1, || "no response message".into())?;
    ensure(f.messages[0].is_empty(), || {
        format!("response is {} bytes, want 0", f.messages[0].len())
    })?;
    let _: Empty = dec(&f.messages[0], "EmptyCall")?;
    Ok("ok".into())
}

fn cacheable_unary(t: &dyn Transport) -> CaseResult {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let req = SimpleRequest {
        payload: Some(super::pb::Payload {
            r#type: 0,
            body: Bytes::from(stamp.to_string()),
        }),
        ..SimpleRequest::default()
    };
    let mut o = opts();
    o.metadata
        .insert("x-user-ip", "1.2.3.4")
        .map_err(|e| e.to_string())?;
    let mut bodies = Vec::new();
    for i in 0..2 {
        let f = t.unary(&path("CacheableUnaryCall"), enc(&req), o.clone());
        let r: SimpleResponse = single(&f, &format!("call {i}"))?;
        let body = payload_of(&r.payload);
        let text = std::str::from_utf8(&body).unwrap_or("");
        ensure(
            !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()),
            || format!("payload {body:?} is not a decimal timestamp"),
        )?;
        bodies.push(text.parse::<u128>().map_err(|e| e.to_string())?);
    }
    if bodies[0] == bodies[1] {
        return Ok("both bodies equal (served from a cache)".into());
    }
    ensure(bodies[1] > bodies[0], || "timestamps went backwards".into())?;
    Ok("no caching proxy on loopback: two fresh timestamps".into())
}

fn large_unary(t: &dyn Transport) -> Result<(), String> {
    let f = t.unary(&path("UnaryCall"), enc(&large_request()), opts());
    let r: SimpleResponse = single(&f, "UnaryCall")?;
    check_zeros(&payload_of(&r.payload), LARGE_RESPONSE, "response")
}

fn client_compressed_unary(t: &dyn Transport) -> CaseResult {
    let req = |expect: bool| SimpleRequest {
        expect_compressed: Some(BoolValue { value: expect }),
        ..large_request()
    };
    let f = t.unary(&path("UnaryCall"), enc(&req(true)), opts());
    want_code(&f, Code::InvalidArgument, "uncompressed probe")?;
    let mut compressed = opts();
    compressed.compress = true;
    let f = t.unary(&path("UnaryCall"), enc(&req(true)), compressed);
    let r: SimpleResponse = single(&f, "compressed call")?;
    check_zeros(&payload_of(&r.payload), LARGE_RESPONSE, "compressed call")?;
    let f = t.unary(&path("UnaryCall"), enc(&req(false)), opts());
    let r: SimpleResponse = single(&f, "uncompressed call")?;
    check_zeros(&payload_of(&r.payload), LARGE_RESPONSE, "uncompressed call")?;
    Ok("ok".into())
}

fn server_compressed_unary(t: &dyn Transport) -> CaseResult {
    for flag in [true, false] {
        let req = SimpleRequest {
            response_compressed: Some(BoolValue { value: flag }),
            ..large_request()
        };
        let what = format!("response_compressed={flag}");
        let f = t.unary(&path("UnaryCall"), enc(&req), opts());
        let r: SimpleResponse = single(&f, &what)?;
        check_zeros(&payload_of(&r.payload), LARGE_RESPONSE, &what)?;
        ensure(f.compressed == [flag], || {
            format!("{what}: compressed flag {:?}", f.compressed)
        })?;
    }
    Ok("ok".into())
}

fn input_requests(sizes: &[usize], expect: Option<bool>) -> Vec<Bytes> {
    sizes
        .iter()
        .map(|&n| {
            enc(&StreamingInputCallRequest {
                payload: Some(zeros(n)),
                expect_compressed: expect.map(|value| BoolValue { value }),
            })
        })
        .collect()
}

fn client_streaming(t: &dyn Transport) -> CaseResult {
    let f = t.client_streaming(
        &path("StreamingInputCall"),
        input_requests(&STREAM_REQUESTS, None),
        opts(),
    );
    let r: StreamingInputCallResponse = single(&f, "StreamingInputCall")?;
    ensure(r.aggregated_payload_size == 74_922, || {
        format!(
            "aggregated_payload_size {}, want 74922",
            r.aggregated_payload_size
        )
    })?;
    Ok("ok".into())
}

fn client_compressed_streaming(t: &dyn Transport) -> CaseResult {
    let f = t.client_streaming(
        &path("StreamingInputCall"),
        input_requests(&[27_182], Some(true)),
        opts(),
    );
    want_code(&f, Code::InvalidArgument, "uncompressed probe")?;
    // The first message compressed, the second not, each as it says.
    let mut reqs = input_requests(&[27_182], Some(true));
    reqs.extend(input_requests(&[45_904], Some(false)));
    let mut compressed = opts();
    compressed.compress = true;
    compressed.uncompressed = vec![1];
    let f = t.client_streaming(&path("StreamingInputCall"), reqs, compressed);
    let r: StreamingInputCallResponse = single(&f, "compressed call")?;
    ensure(r.aggregated_payload_size == 73_086, || {
        format!(
            "aggregated_payload_size {}, want 73086",
            r.aggregated_payload_size
        )
    })?;
    Ok("ok".into())
}

fn output_sizes(f: &Finished) -> Result<Vec<usize>, String> {
    let mut sizes = Vec::new();
    for (i, m) in f.messages.iter().enumerate() {
        let r: StreamingOutputCallResponse = dec(m, &format!("response {i}"))?;
        let body = payload_of(&r.payload);
        check_zeros(&body, body.len(), &format!("response {i}"))?;
        sizes.push(body.len());
    }
    Ok(sizes)
}

fn params(sizes: &[usize]) -> Vec<ResponseParameters> {
    sizes
        .iter()
        .map(|&n| ResponseParameters {
            size: n as i32,
            ..ResponseParameters::default()
        })
        .collect()
}

fn server_streaming(t: &dyn Transport) -> CaseResult {
    let req = StreamingOutputCallRequest {
        response_parameters: params(&STREAM_RESPONSES),
        ..StreamingOutputCallRequest::default()
    };
    let f = t.server_streaming(&path("StreamingOutputCall"), enc(&req), opts());
    ok(&f, "StreamingOutputCall")?;
    let sizes = output_sizes(&f)?;
    ensure(sizes == STREAM_RESPONSES, || {
        format!("response sizes {sizes:?}, want {STREAM_RESPONSES:?}")
    })?;
    Ok("ok".into())
}

fn server_compressed_streaming(t: &dyn Transport) -> CaseResult {
    let mut rp = params(&[31_415, 92_653]);
    rp[0].compressed = Some(BoolValue { value: true });
    rp[1].compressed = Some(BoolValue { value: false });
    let req = StreamingOutputCallRequest {
        response_parameters: rp,
        ..StreamingOutputCallRequest::default()
    };
    let f = t.server_streaming(&path("StreamingOutputCall"), enc(&req), opts());
    ok(&f, "StreamingOutputCall")?;
    let sizes = output_sizes(&f)?;
    ensure(sizes == [31_415, 92_653], || {
        format!("response sizes {sizes:?}, want [31415, 92653]")
    })?;
    ensure(f.compressed == [true, false], || {
        format!("compressed flags {:?}, want [true, false]", f.compressed)
    })?;
    Ok("ok".into())
}

fn ping_pong(t: &dyn Transport) -> CaseResult {
    let mut call = t.streaming(&path("FullDuplexCall"), opts());
    for (i, (&req, &resp)) in STREAM_REQUESTS.iter().zip(&STREAM_RESPONSES).enumerate() {
        let m = StreamingOutputCallRequest {
            response_parameters: params(&[resp]),
            payload: Some(zeros(req)),
            ..StreamingOutputCallRequest::default()
        };
        call.send(enc(&m))
            .map_err(|s| format!("send {i}: call ended with {s:?}"))?;
        let Some(reply) = call.recv() else {
            let f = call.finish();
            return Err(format!("no reply {i}: call ended with {:?}", f.status));
        };
        let r: StreamingOutputCallResponse = dec(&reply, &format!("reply {i}"))?;
        check_zeros(&payload_of(&r.payload), resp, &format!("reply {i}"))?;
    }
    call.close_send();
    let f = call.finish();
    ok(&f, "FullDuplexCall")?;
    ensure(f.messages.is_empty(), || {
        format!("{} responses after the fourth", f.messages.len())
    })?;
    Ok("ok".into())
}

fn empty_stream(t: &dyn Transport) -> CaseResult {
    let mut call = t.streaming(&path("FullDuplexCall"), opts());
    call.close_send();
    let f = call.finish();
    ok(&f, "FullDuplexCall")?;
    ensure(f.messages.is_empty(), || {
        format!("{} responses, want 0", f.messages.len())
    })?;
    Ok("ok".into())
}

const INITIAL_VALUE: &str = "test_initial_metadata_value";
const TRAILING_VALUE: [u8; 3] = [0xab, 0xab, 0xab];

fn echo_metadata() -> Result<MetadataMap, String> {
    let mut md = MetadataMap::new();
    md.insert(ECHO_INITIAL, INITIAL_VALUE)
        .map_err(|e| e.to_string())?;
    md.insert_bin(ECHO_TRAILING, Bytes::from_static(&TRAILING_VALUE))
        .map_err(|e| e.to_string())?;
    Ok(md)
}

fn check_echo(f: &Finished, what: &str) -> Result<(), String> {
    let initial = f.headers.get(ECHO_INITIAL);
    ensure(initial == Some(INITIAL_VALUE), || {
        format!("{what}: initial metadata {ECHO_INITIAL} = {initial:?}, want {INITIAL_VALUE:?}")
    })?;
    let trailing = f.trailers.get_bin(ECHO_TRAILING);
    ensure(
        trailing.map(|b| &b[..]) == Some(&TRAILING_VALUE[..]),
        || format!("{what}: trailing metadata {ECHO_TRAILING} = {trailing:?}, want ababab"),
    )
}

fn custom_metadata(t: &dyn Transport) -> CaseResult {
    let mut o = opts();
    o.metadata = echo_metadata()?;
    let f = t.unary(&path("UnaryCall"), enc(&large_request()), o.clone());
    let r: SimpleResponse = single(&f, "UnaryCall")?;
    check_zeros(&payload_of(&r.payload), LARGE_RESPONSE, "UnaryCall")?;
    check_echo(&f, "UnaryCall")?;

    let mut call = t.streaming(&path("FullDuplexCall"), o);
    let m = StreamingOutputCallRequest {
        response_parameters: params(&[LARGE_RESPONSE]),
        payload: Some(zeros(LARGE_REQUEST)),
        ..StreamingOutputCallRequest::default()
    };
    call.send(enc(&m))
        .map_err(|s| format!("send: call ended with {s:?}"))?;
    call.close_send();
    let f = call.finish();
    ok(&f, "FullDuplexCall")?;
    ensure(f.messages.len() == 1, || {
        format!("FullDuplexCall: {} responses, want 1", f.messages.len())
    })?;
    let r: StreamingOutputCallResponse = dec(&f.messages[0], "FullDuplexCall")?;
    check_zeros(&payload_of(&r.payload), LARGE_RESPONSE, "FullDuplexCall")?;
    check_echo(&f, "FullDuplexCall")?;
    Ok("ok".into())
}

fn status_echo(t: &dyn Transport, message: &str, streaming: bool) -> CaseResult {
    let status = EchoStatus {
        code: 2,
        message: message.to_string(),
    };
    let check = |f: &Finished, what: &str| -> Result<(), String> {
        want_code(f, Code::Unknown, what)?;
        ensure(f.status.message() == message, || {
            format!(
                "{what}: status message {:?}, want {message:?}",
                f.status.message()
            )
        })
    };
    let req = SimpleRequest {
        response_status: Some(status.clone()),
        ..SimpleRequest::default()
    };
    let f = t.unary(&path("UnaryCall"), enc(&req), opts());
    check(&f, "UnaryCall")?;
    if streaming {
        let mut call = t.streaming(&path("FullDuplexCall"), opts());
        let m = StreamingOutputCallRequest {
            response_status: Some(status),
            ..StreamingOutputCallRequest::default()
        };
        // The server may end the call before the send completes.
        let _ = call.send(enc(&m));
        call.close_send();
        let f = call.finish();
        check(&f, "FullDuplexCall")?;
    }
    Ok("ok".into())
}

fn unimplemented(t: &dyn Transport, path: &str) -> CaseResult {
    let f = t.unary(path, enc(&Empty {}), opts());
    want_code(&f, Code::Unimplemented, path)?;
    Ok("ok".into())
}

fn cancel_after_begin(t: &dyn Transport) -> CaseResult {
    let mut call = t.streaming(&path("StreamingInputCall"), opts());
    call.cancel();
    let f = call.finish();
    want_code(&f, Code::Cancelled, "StreamingInputCall")?;
    Ok("ok".into())
}

fn cancel_after_first_response(t: &dyn Transport) -> CaseResult {
    let mut call = t.streaming(&path("FullDuplexCall"), opts());
    let m = StreamingOutputCallRequest {
        response_parameters: params(&[31_415]),
        payload: Some(zeros(27_182)),
        ..StreamingOutputCallRequest::default()
    };
    call.send(enc(&m))
        .map_err(|s| format!("send: call ended with {s:?}"))?;
    let Some(reply) = call.recv() else {
        let f = call.finish();
        return Err(format!("no first response: call ended with {:?}", f.status));
    };
    let r: StreamingOutputCallResponse = dec(&reply, "first response")?;
    check_zeros(&payload_of(&r.payload), 31_415, "first response")?;
    call.cancel();
    let f = call.finish();
    want_code(&f, Code::Cancelled, "FullDuplexCall")?;
    Ok("ok".into())
}

fn timeout_on_sleeping_server(t: &dyn Transport) -> CaseResult {
    let started = Instant::now();
    let mut call = t.streaming(
        &path("FullDuplexCall"),
        CallOpts::timeout(Duration::from_millis(1)),
    );
    let m = StreamingOutputCallRequest {
        payload: Some(zeros(27_182)),
        ..StreamingOutputCallRequest::default()
    };
    // The deadline may pass before or during the send.
    let _ = call.send(enc(&m));
    let f = call.finish();
    want_code(&f, Code::DeadlineExceeded, "FullDuplexCall")?;
    ensure(started.elapsed() < Duration::from_secs(5), || {
        format!("took {:?} to expire a 1 ms deadline", started.elapsed())
    })?;
    Ok("ok".into())
}

fn very_large_request(t: &dyn Transport) -> CaseResult {
    let req = SimpleRequest {
        response_size: 10,
        payload: Some(zeros(VERY_LARGE_REQUEST)),
        ..SimpleRequest::default()
    };
    let f = t.unary(&path("UnaryCall"), enc(&req), opts());
    let r: SimpleResponse = single(&f, "UnaryCall")?;
    check_zeros(&payload_of(&r.payload), 10, "response")?;
    Ok("ok".into())
}

fn rpc_soak(t: &dyn Transport, n: usize) -> CaseResult {
    for i in 0..n {
        large_unary(t).map_err(|e| format!("iteration {i}: {e}"))?;
    }
    Ok(format!("{n} large_unary calls on one channel"))
}

fn channel_soak(t: &dyn Transport, n: usize) -> CaseResult {
    for i in 0..n {
        let fresh = t.new_channel();
        large_unary(fresh.as_ref()).map_err(|e| format!("iteration {i}: {e}"))?;
    }
    Ok(format!("{n} large_unary calls, a new channel each"))
}
