//! The gRPC wire format pieces that need no connection (gRPC's
//! PROTOCOL-HTTP2.md), each a pure function or a small state machine over
//! bytes:
//!
//! - [`status`]: status codes, [`Status`], `grpc-status` /
//!   `grpc-message` trailers, and the HTTP-status and `RST_STREAM` code
//!   mappings;
//! - [`timeout`]: the `grpc-timeout` header to and from a `Duration`;
//! - [`metadata`]: custom metadata, ASCII and `-bin` values, key rules and
//!   conversion to and from header fields;
//! - [`message`]: the length-prefixed message framing inside DATA frames,
//!   decoded incrementally and without copying where possible;
//! - [`compression`]: per-message compression, `grpc-encoding` and
//!   `grpc-accept-encoding` negotiation;
//! - [`head`]: `content-type` validation and our `user-agent`.
//!
//! Header fields are exchanged with the layers below as `(name, value)`
//! pairs of [`bytes::Bytes`]; names are lower-case, as HTTP/2 requires.

mod base64;
pub mod compression;
pub mod head;
pub mod message;
pub mod metadata;
pub mod status;
pub mod timeout;

pub use status::{Code, Status};
