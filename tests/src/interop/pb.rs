//! The `grpc.testing` messages as prost types, written by hand from
//! `tests/proto/grpc/testing/{empty,messages}.proto` (same names, field
//! numbers and types, so every peer decodes them). Only the fields the
//! credential-free cases touch are here; unknown fields a peer sends are
//! skipped by prost, as protobuf requires.

/// `grpc.testing.Empty`: no fields, zero bytes on the wire.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Empty {}

/// `grpc.testing.BoolValue`: a boolean that can be absent.
#[derive(Clone, Copy, PartialEq, ::prost::Message)]
pub struct BoolValue {
    /// The value.
    #[prost(bool, tag = "1")]
    pub value: bool,
}

/// `grpc.testing.PayloadType`: the only kind the suite uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum PayloadType {
    /// Bytes that compress well (zeros, in this suite).
    Compressable = 0,
}

/// `grpc.testing.Payload`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Payload {
    /// The kind of bytes.
    #[prost(enumeration = "PayloadType", tag = "1")]
    pub r#type: i32,
    /// The bytes.
    #[prost(bytes = "bytes", tag = "2")]
    pub body: ::bytes::Bytes,
}

/// `grpc.testing.EchoStatus`: the status the server must end with.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct EchoStatus {
    /// The status code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// The status message.
    #[prost(string, tag = "2")]
    pub message: ::prost::alloc::string::String,
}

/// `grpc.testing.SimpleRequest`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SimpleRequest {
    /// The payload type of the response.
    #[prost(enumeration = "PayloadType", tag = "1")]
    pub response_type: i32,
    /// Size of the response payload.
    #[prost(int32, tag = "2")]
    pub response_size: i32,
    /// The request payload.
    #[prost(message, optional, tag = "3")]
    pub payload: Option<Payload>,
    /// Ask for the username (credential cases; unused here).
    #[prost(bool, tag = "4")]
    pub fill_username: bool,
    /// Ask for the OAuth scope (credential cases; unused here).
    #[prost(bool, tag = "5")]
    pub fill_oauth_scope: bool,
    /// Whether the response must be compressed.
    #[prost(message, optional, tag = "6")]
    pub response_compressed: Option<BoolValue>,
    /// End the call with this status.
    #[prost(message, optional, tag = "7")]
    pub response_status: Option<EchoStatus>,
    /// Whether this request must have arrived compressed.
    #[prost(message, optional, tag = "8")]
    pub expect_compressed: Option<BoolValue>,
}

/// `grpc.testing.SimpleResponse`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SimpleResponse {
    /// The response payload.
    #[prost(message, optional, tag = "1")]
    pub payload: Option<Payload>,
    /// The authenticated user (credential cases).
    #[prost(string, tag = "2")]
    pub username: ::prost::alloc::string::String,
    /// The OAuth scope (credential cases).
    #[prost(string, tag = "3")]
    pub oauth_scope: ::prost::alloc::string::String,
}

/// `grpc.testing.StreamingInputCallRequest`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct StreamingInputCallRequest {
    /// The payload.
    #[prost(message, optional, tag = "1")]
    pub payload: Option<Payload>,
    /// Whether this message must have arrived compressed.
    #[prost(message, optional, tag = "2")]
    pub expect_compressed: Option<BoolValue>,
}

/// `grpc.testing.StreamingInputCallResponse`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct StreamingInputCallResponse {
    /// The sum of the payload sizes received.
    #[prost(int32, tag = "1")]
    pub aggregated_payload_size: i32,
}

/// `grpc.testing.ResponseParameters`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ResponseParameters {
    /// Payload size of this response.
    #[prost(int32, tag = "1")]
    pub size: i32,
    /// Delay before this response, in microseconds.
    #[prost(int32, tag = "2")]
    pub interval_us: i32,
    /// Whether this response must be compressed.
    #[prost(message, optional, tag = "3")]
    pub compressed: Option<BoolValue>,
}

/// `grpc.testing.StreamingOutputCallRequest`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct StreamingOutputCallRequest {
    /// The payload type of the responses.
    #[prost(enumeration = "PayloadType", tag = "1")]
    pub response_type: i32,
    /// One entry per response wanted.
    #[prost(message, repeated, tag = "2")]
    pub response_parameters: ::prost::alloc::vec::Vec<ResponseParameters>,
    /// The request payload.
    #[prost(message, optional, tag = "3")]
    pub payload: Option<Payload>,
    /// End the call with this status.
    #[prost(message, optional, tag = "7")]
    pub response_status: Option<EchoStatus>,
}

/// `grpc.testing.StreamingOutputCallResponse`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct StreamingOutputCallResponse {
    /// The payload.
    #[prost(message, optional, tag = "1")]
    pub payload: Option<Payload>,
}

/// A payload of `n` zero bytes.
pub fn zeros(n: usize) -> Payload {
    Payload {
        r#type: PayloadType::Compressable as i32,
        body: ::bytes::Bytes::from(vec![0u8; n]),
    }
}
