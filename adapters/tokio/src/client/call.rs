//! The application's side of client calls: typed response streams and
//! request sinks over the raw halves that talk to the connection driver.

use std::sync::Arc;

use bytes::Bytes;
use grpc_sansio::call::{CallId, Received, send_after_end};
use grpc_sansio::codec::Codec;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use tokio::sync::{mpsc, oneshot};

use super::driver::{CallShared, Cmd, ConnHandle, Item};
use crate::error::{Response, RpcError};
use crate::sync::Control;

/// The receive half of a call. Dropping it before the call has finished
/// cancels the call (RST_STREAM CANCEL).
pub(crate) struct RawReceiver {
    shared: Arc<CallShared>,
    control: Arc<Control>,
    call: CallId,
    headers: Option<MetadataMap>,
    /// A message that arrived while only headers were asked for (still
    /// compressed if it arrived so).
    held: Option<Received>,
    /// Whether the message last handed out arrived compressed.
    last_compressed: Option<bool>,
    end: Option<(Status, MetadataMap)>,
}

impl RawReceiver {
    pub(crate) fn new(conn: &ConnHandle, call: CallId, shared: Arc<CallShared>) -> Self {
        RawReceiver {
            shared,
            control: conn.control.clone(),
            call,
            headers: None,
            held: None,
            last_compressed: None,
            end: None,
        }
    }

    /// Take one item from the inbox; false when nothing more will come.
    async fn pump(&mut self) -> bool {
        match self.shared.inbox.pop().await {
            Some(Item::Headers(md)) => self.headers = Some(md),
            Some(Item::Message(m, flow)) => {
                // Taken by the application: give the window back.
                self.control.release(self.call, flow);
                self.held = Some(m);
            }
            Some(Item::Finished(s, t)) => self.end = Some((s, t)),
            None => {
                if self.end.is_none() {
                    self.end = Some((
                        Status::new(Code::Unavailable, "connection lost"),
                        MetadataMap::new(),
                    ));
                }
                return false;
            }
        }
        true
    }

    fn error(&self) -> Option<RpcError> {
        match &self.end {
            Some((s, t)) if !s.is_ok() => Some(RpcError {
                status: s.clone(),
                metadata: self.headers.clone().unwrap_or_default(),
                trailers: t.clone(),
            }),
            _ => None,
        }
    }

    /// The next message; `Ok(None)` after an OK status.
    pub(crate) async fn message(&mut self) -> Result<Option<Bytes>, RpcError> {
        loop {
            if let Some(m) = self.held.take() {
                self.last_compressed = Some(m.is_compressed());
                // Inflated only now, as the application takes it; one that
                // does not inflate ends the call.
                match m.decompress() {
                    Ok(m) => return Ok(Some(m)),
                    Err(status) => {
                        if self.end.is_none() {
                            self.control.cancel(self.call);
                        }
                        self.end = Some((status, MetadataMap::new()));
                        continue;
                    }
                }
            }
            if self.end.is_some() {
                return match self.error() {
                    Some(e) => Err(e),
                    None => Ok(None),
                };
            }
            self.pump().await;
        }
    }

    /// The response headers, waiting for them.
    pub(crate) async fn headers(&mut self) -> Result<&MetadataMap, RpcError> {
        while self.headers.is_none() && self.held.is_none() && self.end.is_none() {
            self.pump().await;
        }
        if self.headers.is_none() {
            if let Some(e) = self.error() {
                return Err(e);
            }
            // Trailers-only OK response: its metadata is all trailers.
            self.headers = Some(MetadataMap::new());
        }
        Ok(self.headers.get_or_insert_with(MetadataMap::new))
    }

    /// Cancel now: nothing more is read, a message held back by
    /// [`headers`](Self::headers) included (its credit went back when it
    /// was taken from the inbox). A call the connection has already seen
    /// end is not cancelled: what it received, its status and its
    /// trailers stay to be read (as on the blocking adapter).
    pub(crate) fn cancel(&mut self) {
        if self.end.is_none() && self.shared.outcome().is_none() {
            self.held = None;
            self.control.cancel(self.call);
            self.end = Some((
                Status::new(Code::Cancelled, "call cancelled by the client"),
                MetadataMap::new(),
            ));
        }
    }

    /// End the call here with `status` (a response that does not
    /// decode), cancelling it if it is still going on.
    pub(crate) fn fail(&mut self, status: Status) {
        if self.end.is_none() && self.shared.outcome().is_none() {
            self.control.cancel(self.call);
        }
        self.end = Some((status, MetadataMap::new()));
    }
}

impl Drop for RawReceiver {
    fn drop(&mut self) {
        self.cancel();
        // Responses nobody will read give their credit back (the driver
        // does the same for any that arrive before it sees the cancel).
        self.control
            .release(self.call, self.shared.inbox.drain_credit(Item::credit));
    }
}

/// The send half of a call. Dropping it half-closes the call.
pub(crate) struct RawSender {
    cmds: mpsc::Sender<Cmd>,
    control: Arc<Control>,
    call: CallId,
    shared: Arc<CallShared>,
    closed: bool,
}

impl RawSender {
    pub(crate) fn new(
        conn: &ConnHandle,
        call: CallId,
        shared: Arc<CallShared>,
        closed: bool,
    ) -> Self {
        RawSender {
            cmds: conn.cmds.clone(),
            control: conn.control.clone(),
            call,
            shared,
            closed,
        }
    }

    /// The error a send reports: the call's own status if it has ended
    /// with one that is not OK, INTERNAL if the server had already
    /// answered OK (the message was not sent, and an error saying OK would
    /// read as success), else `fallback`.
    fn failed(&self, fallback: Status) -> RpcError {
        RpcError::new(match self.shared.outcome() {
            Some(s) => send_after_end(&s),
            None => fallback,
        })
    }

    /// Send one message, waiting while the call's send queue is full;
    /// `compress` false sends it uncompressed even if the call compresses.
    pub(crate) async fn send(&mut self, message: Bytes, compress: bool) -> Result<(), RpcError> {
        if self.closed {
            return Err(RpcError::new(Status::new(
                Code::Internal,
                "send after the request stream was closed",
            )));
        }
        let (reply, rx) = oneshot::channel();
        let cmd = Cmd::Send {
            call: self.call,
            message,
            end: false,
            compress,
            reply,
        };
        let lost = || Status::new(Code::Unavailable, "connection lost");
        if self.cmds.send(cmd).await.is_err() {
            return Err(self.failed(lost()));
        }
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(s)) => Err(self.failed(s)),
            Err(_) => Err(self.failed(lost())),
        }
    }

    /// Half-close: no more requests.
    pub(crate) fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.control.half_close(self.call);
        }
    }
}

impl Drop for RawSender {
    fn drop(&mut self) {
        self.close();
    }
}

/// Read a single-response call to its end.
pub(crate) async fn collect_one<C: Codec>(
    mut rx: RawReceiver,
    codec: &C,
) -> Result<Response<C::Decode>, RpcError> {
    let first = rx.message().await?;
    // Drain to the status (the core enforces that there is one message).
    let second = rx.message().await?;
    let (Some(payload), None) = (first, second) else {
        return Err(RpcError::new(Status::new(
            Code::Internal,
            "a single-response call did not get exactly one message",
        )));
    };
    let message = codec.decode(payload)?;
    let trailers = rx.end.as_ref().map(|(_, t)| t.clone()).unwrap_or_default();
    Ok(Response {
        metadata: rx.headers.take().unwrap_or_default(),
        message,
        trailers,
        compressed: rx.last_compressed,
    })
}

/// A stream of response messages. Dropping it before the end cancels the
/// call.
pub struct Streaming<C: Codec> {
    rx: RawReceiver,
    codec: Arc<C>,
}

impl<C: Codec> std::fmt::Debug for Streaming<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streaming")
            .field("call", &self.rx.call)
            .finish()
    }
}

impl<C: Codec> Streaming<C> {
    pub(crate) fn new(rx: RawReceiver, codec: Arc<C>) -> Self {
        Streaming { rx, codec }
    }

    /// The next message, `Ok(None)` when the call ended with OK, or the
    /// call's error. A message that does not decode cancels the call and
    /// is reported as its error.
    pub async fn message(&mut self) -> Result<Option<C::Decode>, RpcError> {
        match self.rx.message().await? {
            Some(payload) => match self.codec.decode(payload) {
                Ok(m) => Ok(Some(m)),
                Err(s) => {
                    self.rx.fail(s.clone());
                    Err(RpcError::new(s))
                }
            },
            None => Ok(None),
        }
    }

    /// The response headers (initial metadata), waiting for them.
    pub async fn headers(&mut self) -> Result<&MetadataMap, RpcError> {
        self.rx.headers().await
    }

    /// Whether the message last returned by [`message`](Self::message)
    /// arrived compressed (its compressed flag); `None` before the first.
    pub fn last_message_compressed(&self) -> Option<bool> {
        self.rx.last_compressed
    }

    /// The trailing metadata, once the call has ended.
    pub fn trailers(&self) -> Option<&MetadataMap> {
        self.rx.end.as_ref().map(|(_, t)| t)
    }

    /// The status, once the call has ended.
    pub fn status(&self) -> Option<&Status> {
        self.rx.end.as_ref().map(|(s, _)| s)
    }

    /// Cancel the call (RST_STREAM CANCEL); dropping does the same.
    pub fn cancel(&mut self) {
        self.rx.cancel();
    }
}

/// The request side of a streaming call. Dropping it ends the request
/// stream (half-close), as [`close`](RequestSink::close) does.
pub struct RequestSink<C: Codec> {
    tx: RawSender,
    codec: Arc<C>,
}

impl<C: Codec> std::fmt::Debug for RequestSink<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSink")
            .field("call", &self.tx.call)
            .finish()
    }
}

impl<C: Codec> RequestSink<C> {
    pub(crate) fn new(tx: RawSender, codec: Arc<C>) -> Self {
        RequestSink { tx, codec }
    }

    /// Send a request message; waits while the call's send queue is full
    /// (flow control). An error means the call is over: its status is in
    /// the error and on the response side.
    pub async fn send(&mut self, message: C::Encode) -> Result<(), RpcError> {
        let payload = self.codec.encode(&message)?;
        self.tx.send(payload, true).await
    }

    /// As [`send`](Self::send), with this message uncompressed even if
    /// the call compresses (gRPC compresses message by message).
    pub async fn send_uncompressed(&mut self, message: C::Encode) -> Result<(), RpcError> {
        let payload = self.codec.encode(&message)?;
        self.tx.send(payload, false).await
    }

    /// No more requests (END_STREAM).
    pub fn close(&mut self) {
        self.tx.close();
    }
}

/// A client-streaming call in progress: send requests, then
/// [`finish`](ClientStreamingCall::finish). Dropping it cancels the call.
pub struct ClientStreamingCall<C: Codec> {
    sink: RequestSink<C>,
    rx: RawReceiver,
}

impl<C: Codec> std::fmt::Debug for ClientStreamingCall<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientStreamingCall")
            .field("call", &self.rx.call)
            .finish()
    }
}

impl<C: Codec> ClientStreamingCall<C> {
    pub(crate) fn new(tx: RawSender, rx: RawReceiver, codec: Arc<C>) -> Self {
        ClientStreamingCall {
            sink: RequestSink::new(tx, codec),
            rx,
        }
    }

    /// Send a request message.
    pub async fn send(&mut self, message: C::Encode) -> Result<(), RpcError> {
        self.sink.send(message).await
    }

    /// Send a request message uncompressed even if the call compresses.
    pub async fn send_uncompressed(&mut self, message: C::Encode) -> Result<(), RpcError> {
        self.sink.send_uncompressed(message).await
    }

    /// End the requests and wait for the response.
    pub async fn finish(mut self) -> Result<Response<C::Decode>, RpcError> {
        self.sink.close();
        let codec = self.sink.codec.clone();
        let placeholder = RawReceiver::detached(&self.rx);
        let rx = std::mem::replace(&mut self.rx, placeholder);
        collect_one(rx, codec.as_ref()).await
    }
}

impl RawReceiver {
    /// A receiver that owns nothing (its drop does nothing), to take the
    /// place of one moved out.
    fn detached(of: &RawReceiver) -> RawReceiver {
        RawReceiver {
            shared: CallShared::new(),
            control: of.control.clone(),
            call: of.call,
            headers: None,
            held: None,
            last_compressed: None,
            end: Some((Status::ok(), MetadataMap::new())),
        }
    }
}
