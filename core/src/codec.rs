//! Turning typed messages into payload bytes and back. Both adapters take
//! any [`Codec`]; the raw [`BytesCodec`] is always here, and
//! `ProstCodec` (protobuf via `prost`) behind the default `prost`
//! feature.

use bytes::Bytes;

use crate::grpc::{Code, Status};

/// Encodes requests and decodes responses for a client (or the reverse for
/// a server). A decode error becomes the call's status (`INTERNAL` by
/// convention, as gRPC implementations report undecodable messages).
pub trait Codec: Send + Sync + 'static {
    /// The type this side sends.
    type Encode: Send + 'static;
    /// The type this side receives.
    type Decode: Send + 'static;

    /// The payload bytes of a message.
    fn encode(&self, item: &Self::Encode) -> Result<Bytes, Status>;

    /// A message from payload bytes.
    fn decode(&self, payload: Bytes) -> Result<Self::Decode, Status>;
}

/// Messages are raw payload bytes: nothing is encoded or decoded.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;

    fn encode(&self, item: &Bytes) -> Result<Bytes, Status> {
        Ok(item.clone())
    }

    fn decode(&self, payload: Bytes) -> Result<Bytes, Status> {
        Ok(payload)
    }
}

/// Protobuf messages through `prost`: `E` is sent, `D` received.
#[cfg(feature = "prost")]
pub struct ProstCodec<E, D>(std::marker::PhantomData<fn(E) -> D>);

#[cfg(feature = "prost")]
impl<E, D> ProstCodec<E, D> {
    /// A codec for this pair of message types.
    pub fn new() -> Self {
        ProstCodec(std::marker::PhantomData)
    }
}

#[cfg(feature = "prost")]
impl<E, D> Default for ProstCodec<E, D> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "prost")]
impl<E, D> Clone for ProstCodec<E, D> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

#[cfg(feature = "prost")]
impl<E, D> std::fmt::Debug for ProstCodec<E, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProstCodec")
    }
}

#[cfg(feature = "prost")]
impl<E, D> Codec for ProstCodec<E, D>
where
    E: prost::Message + Send + 'static,
    D: prost::Message + Default + Send + 'static,
{
    type Encode = E;
    type Decode = D;

    fn encode(&self, item: &E) -> Result<Bytes, Status> {
        Ok(Bytes::from(item.encode_to_vec()))
    }

    fn decode(&self, payload: Bytes) -> Result<D, Status> {
        D::decode(payload).map_err(|e| {
            Status::new(
                Code::Internal,
                format!("failed to decode the protobuf message: {e}"),
            )
        })
    }
}

/// `INTERNAL`, for a message that did not decode.
pub fn decode_error(what: impl std::fmt::Display) -> Status {
    Status::new(
        Code::Internal,
        format!("failed to decode the message: {what}"),
    )
}
