//! The handler's side of a server call: the request stream and the
//! response sink, and the typed wrappers the [`Routes`](super::Routes)
//! registration functions build.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use grpc_sansio::call::CallId;
use grpc_sansio::codec::Codec;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::server::CancelReason;
use tokio::sync::{mpsc, oneshot};

use super::driver::{SCmd, SItem, WholeReply};
use crate::sync::{Control, Inbox, lock};

fn cancelled_status(reason: &CancelReason) -> Status {
    match reason {
        CancelReason::DeadlineExceeded => Status::new(Code::DeadlineExceeded, "deadline exceeded"),
        CancelReason::Protocol(s) => s.clone(),
        CancelReason::ConnectionLost => Status::new(Code::Cancelled, "connection lost"),
        _ => Status::new(Code::Cancelled, "call cancelled by the client"),
    }
}

/// The request half.
pub(crate) struct RawRequests {
    pub(crate) inbox: Arc<Inbox<SItem>>,
    pub(crate) control: Arc<Control>,
    /// The connection's command queue: a request that does not decompress
    /// ends the call through it, ahead of anything the handler sends next.
    cmds: mpsc::Sender<SCmd>,
    pub(crate) call: CallId,
    done: Option<Result<(), Status>>,
    /// Whether the message last handed out arrived compressed.
    pub(crate) last_compressed: Option<bool>,
}

impl RawRequests {
    pub(crate) fn new(
        inbox: Arc<Inbox<SItem>>,
        control: Arc<Control>,
        cmds: mpsc::Sender<SCmd>,
        call: CallId,
    ) -> Self {
        RawRequests {
            inbox,
            control,
            cmds,
            call,
            done: None,
            last_compressed: None,
        }
    }

    pub(crate) async fn message(&mut self) -> Result<Option<Bytes>, Status> {
        if let Some(d) = &self.done {
            return d.clone().map(|()| None);
        }
        let r = match self.inbox.pop().await {
            Some(SItem::Message(m, flow)) => {
                self.control.release(self.call, flow);
                self.last_compressed = Some(m.is_compressed());
                // Inflated only now, as the handler takes it.
                match m.decompress() {
                    Ok(m) => return Ok(Some(m)),
                    Err(status) => {
                        // The call ends with this status whatever the
                        // handler does next: its later commands queue
                        // behind this one and find the call over.
                        let _ = self
                            .cmds
                            .send(SCmd::Status {
                                call: self.call,
                                end: Box::new((status.clone(), MetadataMap::new())),
                            })
                            .await;
                        Err(status)
                    }
                }
            }
            Some(SItem::End) => Ok(()),
            Some(SItem::Cancelled(reason)) => Err(cancelled_status(&reason)),
            None => Err(Status::new(Code::Cancelled, "call ended")),
        };
        self.done = Some(r.clone());
        r.map(|()| None)
    }
}

impl Drop for RawRequests {
    fn drop(&mut self) {
        // Nobody reads this call's requests any more: those queued give
        // their credit back now, and those still to come as they arrive
        // (the connection finds the inbox closed), so that a handler that
        // drops its request stream while the call goes on does not hold
        // the windows (the connection's too) until the call ends.
        self.inbox.close();
        let credit = self.inbox.drain_credit(SItem::credit);
        self.control.release(self.call, credit);
    }
}

/// The response half. The handler wrapper's copy (the "guard") ends the
/// call with UNKNOWN if it is dropped before a status was sent (a handler
/// that panicked, or was aborted); the copy a streaming handler gets does
/// not.
pub(crate) struct RawResponder {
    cmds: mpsc::Sender<SCmd>,
    control: Arc<Control>,
    call: CallId,
    trailers: Arc<Mutex<MetadataMap>>,
    headers_sent: bool,
    finished: bool,
    guard: bool,
}

impl RawResponder {
    pub(crate) fn new(cmds: mpsc::Sender<SCmd>, control: Arc<Control>, call: CallId) -> Self {
        RawResponder {
            cmds,
            control,
            call,
            trailers: Arc::new(Mutex::new(MetadataMap::new())),
            headers_sent: false,
            finished: false,
            guard: true,
        }
    }

    /// A copy for a streaming handler: sends, sets trailers, never ends
    /// the call.
    pub(crate) fn handle(&self) -> RawResponder {
        RawResponder {
            cmds: self.cmds.clone(),
            control: self.control.clone(),
            call: self.call,
            trailers: self.trailers.clone(),
            headers_sent: false,
            finished: false,
            guard: false,
        }
    }

    async fn request(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<(), Status>>) -> SCmd,
    ) -> Result<(), Status> {
        let (reply, rx) = oneshot::channel();
        let gone = || Status::new(Code::Cancelled, "call is over");
        if self.finished {
            return Err(gone());
        }
        self.cmds.send(make(reply)).await.map_err(|_| gone())?;
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    pub(crate) async fn send_headers(&mut self, metadata: MetadataMap) -> Result<(), Status> {
        if self.headers_sent {
            return Err(Status::new(Code::Internal, "response headers already sent"));
        }
        self.headers_sent = true;
        let call = self.call;
        self.request(|reply| SCmd::Headers {
            call,
            metadata: Box::new(metadata),
            reply,
        })
        .await
    }

    pub(crate) async fn send(&mut self, message: Bytes, compress: bool) -> Result<(), Status> {
        self.headers_sent = true;
        let call = self.call;
        self.request(|reply| SCmd::Message {
            call,
            message,
            compress,
            reply,
        })
        .await
    }

    pub(crate) async fn finish(&mut self, status: Status, trailers: MetadataMap) {
        if self.finished {
            return;
        }
        self.finished = true;
        let mut all = std::mem::take(&mut *lock(&self.trailers));
        all.extend(trailers);
        let _ = self
            .cmds
            .send(SCmd::Status {
                call: self.call,
                end: Box::new((status, all)),
            })
            .await;
    }
}

impl RawResponder {
    /// The whole response at once (unary and client-streaming calls):
    /// headers if `headers` is given, `message`, then status OK with
    /// `trailers`. One command to the connection, no round trip.
    pub(crate) async fn reply(
        &mut self,
        headers: Option<MetadataMap>,
        message: Bytes,
        trailers: MetadataMap,
    ) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.headers_sent = true;
        let mut all = std::mem::take(&mut *lock(&self.trailers));
        all.extend(trailers);
        let _ = self
            .cmds
            .send(SCmd::Reply(Box::new(WholeReply {
                call: self.call,
                headers,
                message,
                status: Status::ok(),
                trailers: all,
            })))
            .await;
    }
}

impl Drop for RawResponder {
    fn drop(&mut self) {
        if self.guard && !self.finished {
            self.control.cancel(self.call);
        }
    }
}

/// The stream of request messages of a client-streaming or bidi call.
pub struct RequestStream<C: Codec> {
    raw: RawRequests,
    codec: Arc<C>,
}

impl<C: Codec> std::fmt::Debug for RequestStream<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestStream")
            .field("call", &self.raw.call)
            .finish()
    }
}

impl<C: Codec> RequestStream<C> {
    pub(crate) fn new(raw: RawRequests, codec: Arc<C>) -> Self {
        RequestStream { raw, codec }
    }

    /// The next request; `Ok(None)` when the client finished sending; an
    /// error when the call was cancelled, expired, or a message did not
    /// decode.
    pub async fn message(&mut self) -> Result<Option<C::Decode>, Status> {
        match self.raw.message().await? {
            Some(b) => self.codec.decode(b).map(Some),
            None => Ok(None),
        }
    }

    /// Whether the request last returned by [`message`](Self::message)
    /// arrived compressed (its compressed flag); `None` before the first.
    pub fn last_message_compressed(&self) -> Option<bool> {
        self.raw.last_compressed
    }
}

/// Where a streaming handler sends its responses.
pub struct ResponseSink<C: Codec> {
    raw: RawResponder,
    codec: Arc<C>,
}

impl<C: Codec> std::fmt::Debug for ResponseSink<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseSink")
            .field("call", &self.raw.call)
            .finish()
    }
}

impl<C: Codec> ResponseSink<C> {
    pub(crate) fn new(raw: RawResponder, codec: Arc<C>) -> Self {
        ResponseSink { raw, codec }
    }

    /// Send the response headers with `metadata` now (otherwise the first
    /// message sends them without custom metadata).
    pub async fn send_headers(&mut self, metadata: MetadataMap) -> Result<(), Status> {
        self.raw.send_headers(metadata).await
    }

    /// Send a response message, waiting while the call's send queue is
    /// full. An error means the call is over (cancelled, for example).
    pub async fn send(&mut self, message: C::Encode) -> Result<(), Status> {
        let payload = self.codec.encode(&message)?;
        self.raw.send(payload, true).await
    }

    /// As [`send`](Self::send), with this message uncompressed even if
    /// the call compresses (gRPC compresses message by message).
    pub async fn send_uncompressed(&mut self, message: C::Encode) -> Result<(), Status> {
        let payload = self.codec.encode(&message)?;
        self.raw.send(payload, false).await
    }

    /// Trailing metadata sent with the status when the handler returns.
    pub fn set_trailers(&mut self, trailers: MetadataMap) {
        *lock(&self.raw.trailers) = trailers;
    }
}
