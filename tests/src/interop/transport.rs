//! What the client cases need from a gRPC client, as a small blocking
//! interface over raw message bytes. Each adapter binds it once
//! (`bind_tokio`, `bind_blocking`); the cases in [`cases`](super::cases)
//! are written once against it and encode and decode the protobuf
//! messages themselves.

use std::time::Duration;

use bytes::Bytes;
use grpc_sansio::grpc::Status;
use grpc_sansio::grpc::metadata::MetadataMap;

/// Per-call options.
#[derive(Debug, Clone, Default)]
pub struct CallOpts {
    /// Request metadata.
    pub metadata: MetadataMap,
    /// The call's timeout (sent as `grpc-timeout`).
    pub timeout: Option<Duration>,
    /// Compress the request messages with gzip.
    pub compress: bool,
    /// Indices of request messages sent uncompressed even with
    /// `compress` (gRPC compresses message by message). Client-streaming
    /// calls only; the other call kinds do not look at it.
    pub uncompressed: Vec<usize>,
}

impl CallOpts {
    /// Options with a timeout.
    pub fn timeout(timeout: Duration) -> Self {
        CallOpts {
            timeout: Some(timeout),
            ..CallOpts::default()
        }
    }
}

/// How a call ended, with everything the cases look at.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The status (OK included).
    pub status: Status,
    /// The response headers (initial metadata); empty if none came.
    pub headers: MetadataMap,
    /// The trailing metadata.
    pub trailers: MetadataMap,
    /// Every response message, in order.
    pub messages: Vec<Bytes>,
    /// Whether each of `messages` arrived compressed (its compressed
    /// flag).
    pub compressed: Vec<bool>,
}

/// A gRPC client as the cases use it. Every method blocks until its part
/// is done; every call carries a timeout, so nothing waits for ever.
pub trait Transport {
    /// A unary call.
    fn unary(&self, path: &str, request: Bytes, opts: CallOpts) -> Finished;
    /// A server-streaming call, read to its end.
    fn server_streaming(&self, path: &str, request: Bytes, opts: CallOpts) -> Finished;
    /// A client-streaming call: send every request, half-close, read the
    /// response.
    fn client_streaming(&self, path: &str, requests: Vec<Bytes>, opts: CallOpts) -> Finished;
    /// A bidirectional call driven step by step.
    fn streaming(&self, path: &str, opts: CallOpts) -> Box<dyn StreamingCall + '_>;
    /// A new, independent channel to the same server (for channel_soak).
    fn new_channel(&self) -> Box<dyn Transport>;
}

/// A bidirectional call in progress.
pub trait StreamingCall {
    /// Send one request message; an error means the call is over.
    fn send(&mut self, message: Bytes) -> Result<(), Status>;
    /// The next response message; `None` when the call has ended (see
    /// [`finish`](Self::finish) for how).
    fn recv(&mut self) -> Option<Bytes>;
    /// Half-close: no more requests.
    fn close_send(&mut self);
    /// Cancel the call (RST_STREAM CANCEL).
    fn cancel(&mut self);
    /// Wait for the end of the call; messages not yet received are in
    /// [`Finished::messages`].
    fn finish(self: Box<Self>) -> Finished;
}
