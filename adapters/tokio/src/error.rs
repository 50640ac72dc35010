//! The outcome types both sides share: a successful [`Response`] and a
//! failed call's [`RpcError`].

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

/// A failed call's error: the core's, shared with the blocking adapter.
pub use grpc_sansio::call::RpcError;

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
