//! The behaviour of `grpc.testing.TestService` as the interop descriptions
//! ask for it, written once as plain functions; each adapter's server
//! binding (`bind_tokio`, `bind_blocking`) only moves messages and
//! metadata and sleeps where [`Reply::delay`] says.
//!
//! Compression is checked and chosen message by message, as the
//! descriptions ask: a request's `expect_compressed` is held against the
//! compressed flag it arrived with (see [`check_compressed`]), and each
//! response goes compressed or not as its `response_compressed` (or
//! `compressed` response parameter) says.

use std::time::Duration;

use bytes::Bytes;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};

use super::cases::{ECHO_INITIAL, ECHO_TRAILING};
use super::pb::{
    BoolValue, EchoStatus, Empty, Payload, PayloadType, SimpleRequest, SimpleResponse,
    StreamingInputCallRequest, StreamingInputCallResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse,
};

/// The service name.
pub const SERVICE: &str = "grpc.testing.TestService";

/// The largest message the interop server accepts and sends
/// (very_large_request sends 10 MiB).
pub const MAX_MESSAGE: usize = 32 * 1024 * 1024;

/// The initial metadata to answer a request's metadata with.
pub fn echo_headers(request: &MetadataMap) -> MetadataMap {
    let mut out = MetadataMap::new();
    for v in request.get_all(ECHO_INITIAL) {
        let _ = out.append(ECHO_INITIAL, v);
    }
    out
}

/// The trailing metadata to end the call with.
pub fn echo_trailers(request: &MetadataMap) -> MetadataMap {
    let mut out = MetadataMap::new();
    for v in request.get_all_bin(ECHO_TRAILING) {
        let _ = out.append_bin(ECHO_TRAILING, v.clone());
    }
    out
}

/// The status a request asks the call to end with, if any (OK is no ask).
pub fn echo_status(asked: &Option<EchoStatus>) -> Result<(), Status> {
    match asked {
        Some(s) if s.code != 0 => Err(Status::new(Code::from_i32(s.code), s.message.clone())),
        _ => Ok(()),
    }
}

/// CompressedRequest: a request whose `expect_compressed` is true and
/// that did not arrive compressed (its compressed flag) fails with
/// INVALID_ARGUMENT. A compressed request with `expect_compressed` false
/// passes: grpcio's Python API, for one, cannot send one message of a
/// compressed call uncompressed.
pub fn check_compressed(expect: &Option<BoolValue>, compressed: bool) -> Result<(), Status> {
    if expect.is_some_and(|b| b.value) && !compressed {
        return Err(Status::new(
            Code::InvalidArgument,
            "expected a compressed request",
        ));
    }
    Ok(())
}

fn zeros(size: i32) -> Result<Payload, Status> {
    let n = usize::try_from(size)
        .map_err(|_| Status::new(Code::InvalidArgument, "negative payload size"))?;
    if n > MAX_MESSAGE {
        return Err(Status::new(Code::InvalidArgument, "payload size too large"));
    }
    Ok(super::pb::zeros(n))
}

fn check_type(t: i32) -> Result<(), Status> {
    if t == PayloadType::Compressable as i32 {
        Ok(())
    } else {
        Err(Status::new(
            Code::InvalidArgument,
            "unsupported response type",
        ))
    }
}

/// EmptyCall.
pub fn empty_call(_: Empty) -> Empty {
    Empty {}
}

/// UnaryCall: the echoed status, the compression check (`compressed`: the
/// request's compressed flag), then a response of `response_size` zeros.
pub fn unary_call(req: &SimpleRequest, compressed: bool) -> Result<SimpleResponse, Status> {
    echo_status(&req.response_status)?;
    check_compressed(&req.expect_compressed, compressed)?;
    check_type(req.response_type)?;
    Ok(SimpleResponse {
        payload: Some(zeros(req.response_size)?),
        ..SimpleResponse::default()
    })
}

/// The cache-control header CacheableUnaryCall answers with.
pub const CACHE_CONTROL: (&str, &str) = ("cache-control", "max-age=60, public");

/// CacheableUnaryCall: the current time in nanoseconds, as ASCII decimal.
pub fn cacheable_unary_call() -> SimpleResponse {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    SimpleResponse {
        payload: Some(Payload {
            r#type: PayloadType::Compressable as i32,
            body: Bytes::from(nanos.to_string()),
        }),
        ..SimpleResponse::default()
    }
}

/// StreamingInputCall: add up one request's payload, after checking its
/// compression expectation.
pub fn add_input(
    total: &mut i64,
    req: &StreamingInputCallRequest,
    compressed: bool,
) -> Result<(), Status> {
    check_compressed(&req.expect_compressed, compressed)?;
    *total += req.payload.as_ref().map_or(0, |p| p.body.len() as i64);
    Ok(())
}

/// The response to a finished upload.
pub fn input_response(total: i64) -> StreamingInputCallResponse {
    StreamingInputCallResponse {
        aggregated_payload_size: i32::try_from(total).unwrap_or(i32::MAX),
    }
}

/// One response a streaming request asks for: wait `delay`, then send.
#[derive(Debug, Clone)]
pub struct Reply {
    /// How long to wait before sending it (`interval_us`).
    pub delay: Duration,
    /// Whether to send it compressed (its `compressed` parameter).
    pub compressed: bool,
    /// The response.
    pub message: StreamingOutputCallResponse,
}

/// The responses to one StreamingOutputCallRequest (StreamingOutputCall,
/// FullDuplexCall, HalfDuplexCall), or the status to end the call with.
pub fn replies(req: &StreamingOutputCallRequest) -> Result<Vec<Reply>, Status> {
    echo_status(&req.response_status)?;
    check_type(req.response_type)?;
    req.response_parameters
        .iter()
        .map(|p| {
            Ok(Reply {
                delay: Duration::from_micros(u64::try_from(p.interval_us).unwrap_or(0)),
                compressed: p.compressed.is_some_and(|b| b.value),
                message: StreamingOutputCallResponse {
                    payload: Some(zeros(p.size)?),
                },
            })
        })
        .collect()
}
