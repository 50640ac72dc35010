//! The outcome types both sides share: a successful [`Response`] and a
//! failed call's [`RpcError`].

use std::fmt;

use grpc_sansio::call::CallError;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};

/// A response message with its initial and trailing metadata.
///
/// A client gets one from a unary or client-streaming call; a server's
/// unary and client-streaming handlers return one.
#[derive(Debug, Clone, Default)]
pub struct Response<T> {
    /// Initial metadata (response headers).
    pub metadata: MetadataMap,
    /// The message.
    pub message: T,
    /// Trailing metadata (sent with the status).
    pub trailers: MetadataMap,
    /// For a response a client received: whether its message arrived
    /// compressed.
    pub(crate) compressed: Option<bool>,
}

impl<T> Response<T> {
    /// A response with no metadata.
    pub fn new(message: T) -> Self {
        Response {
            metadata: MetadataMap::new(),
            message,
            trailers: MetadataMap::new(),
            compressed: None,
        }
    }

    /// For a response a client received, whether its message arrived
    /// compressed (the compressed flag of its prefix; the message is
    /// decompressed either way). `None` on a response built here.
    pub fn message_compressed(&self) -> Option<bool> {
        self.compressed
    }

    /// The message.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// The message, by reference.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// This response with initial metadata `metadata`.
    pub fn with_metadata(mut self, metadata: MetadataMap) -> Self {
        self.metadata = metadata;
        self
    }

    /// This response with trailing metadata `trailers`.
    pub fn with_trailers(mut self, trailers: MetadataMap) -> Self {
        self.trailers = trailers;
        self
    }
}

/// A call that did not end with OK: its status and the metadata that came
/// with it.
///
/// Servers return it from handlers (its `trailers` are sent with the
/// status; `metadata` is not used there); clients get it from calls.
/// Every `Status` converts into one, so `?` works on both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// The status (code, message, binary details).
    pub status: Status,
    /// Initial metadata, if the server sent headers before failing.
    pub metadata: MetadataMap,
    /// Trailing metadata.
    pub trailers: MetadataMap,
}

impl RpcError {
    /// An error with `status` and no metadata.
    pub fn new(status: Status) -> Self {
        RpcError {
            status,
            metadata: MetadataMap::new(),
            trailers: MetadataMap::new(),
        }
    }

    /// This error with trailing metadata `trailers`.
    pub fn with_trailers(mut self, trailers: MetadataMap) -> Self {
        self.trailers = trailers;
        self
    }

    /// The status code.
    pub fn code(&self) -> Code {
        self.status.code()
    }

    /// The status message.
    pub fn message(&self) -> &str {
        self.status.message()
    }

    /// The status's binary details (`grpc-status-details-bin`).
    pub fn details(&self) -> &[u8] {
        self.status.details()
    }

    /// The status.
    pub fn status(&self) -> &Status {
        &self.status
    }
}

impl From<Status> for RpcError {
    fn from(status: Status) -> Self {
        RpcError::new(status)
    }
}

impl From<RpcError> for Status {
    fn from(e: RpcError) -> Self {
        e.status
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.status, f)
    }
}

impl std::error::Error for RpcError {}

/// The status a call gets when the core refused an action.
pub(crate) fn call_error_status(e: &CallError) -> Status {
    match e {
        CallError::MessageTooLarge { .. } => Status::new(Code::ResourceExhausted, e.to_string()),
        CallError::Compression(s) => s.clone(),
        CallError::InvalidPath => Status::new(Code::Unimplemented, e.to_string()),
        CallError::TooManyPendingCalls => Status::new(Code::ResourceExhausted, e.to_string()),
        CallError::ConnectionClosed | CallError::GoingAway => {
            Status::new(Code::Unavailable, e.to_string())
        }
        _ => Status::new(Code::Internal, e.to_string()),
    }
}
