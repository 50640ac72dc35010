//! The application's handles on a client call: [`Call`] (both directions),
//! and its halves [`RequestSender`] and [`Streaming`] (a blocking
//! iterator of responses). Dropping every handle of a call that has not
//! ended cancels it (RST_STREAM CANCEL).

use crate::io::Signal;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use grpc_sansio::call::{CallError, CallId, RpcError, send_after_end};
use grpc_sansio::codec::Codec;
use grpc_sansio::grpc::Status;
use grpc_sansio::grpc::metadata::MetadataMap;

use super::conn::ClientMachine;
use crate::io::{Machine, Shared, wait};

/// A unary or client-streaming call's answer: the response message with
/// the server's initial and trailing metadata.
#[derive(Debug, Clone)]
pub struct Response<T> {
    /// The response headers' custom metadata.
    pub metadata: MetadataMap,
    /// The message.
    pub message: T,
    /// The trailers' custom metadata.
    pub trailers: MetadataMap,
    compressed: Option<bool>,
}

impl<T> Response<T> {
    /// The message, without the metadata.
    pub fn into_message(self) -> T {
        self.message
    }

    /// The message, without the metadata (the name the tokio adapter and
    /// tonic use; the same as [`into_message`](Self::into_message)).
    pub fn into_inner(self) -> T {
        self.message
    }

    /// The message, by reference.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// Whether the message arrived compressed (the compressed flag of its
    /// prefix; it is decompressed either way). Always `Some` here; an
    /// `Option` as in the tokio adapter, whose `Response` is also built by
    /// handlers.
    pub fn message_compressed(&self) -> Option<bool> {
        self.compressed
    }
}

/// What the next receive gave.
pub(crate) enum Next {
    Message(Bytes),
    End(Status),
}

/// The connection-side part of a call, shared by its handles. Dropping the
/// last handle drops this, which cancels an unfinished call.
pub(crate) struct CallCore {
    pub(crate) conn: Arc<Shared<ClientMachine>>,
    pub(crate) id: CallId,
    pub(crate) cv: Arc<Signal>,
}

impl CallCore {
    /// Send one message, waiting while the call's send queue is full;
    /// `compress` false sends it uncompressed even if the call compresses.
    pub(crate) fn send(&self, message: Bytes, compress: bool) -> Result<(), Status> {
        self.send_inner(message, false, compress)
    }

    /// Send the last message and close the request side, in one write
    /// with the call's headers when they have not gone out yet.
    pub(crate) fn send_last(&self, message: Bytes) -> Result<(), Status> {
        self.send_inner(message, true, true)
    }

    fn send_inner(&self, message: Bytes, last: bool, compress: bool) -> Result<(), Status> {
        let mut g = self.conn.lock();
        loop {
            match g.conn.send_message_with(self.id, message.clone(), compress) {
                Ok(()) => {
                    if last {
                        // Cannot fail: the message just went in.
                        let _ = g.conn.half_close(self.id);
                        g.process_events();
                    }
                    self.conn.flush(g);
                    return Ok(());
                }
                Err(CallError::Blocked(_)) => {
                    g.process_events();
                    loop {
                        let Some(slot) = g.calls.get_mut(&self.id) else {
                            return Err(Status::cancelled("call dropped"));
                        };
                        if let Some((s, _)) = &slot.end {
                            return Err(send_after_end(s));
                        }
                        if std::mem::take(&mut slot.writable) {
                            break;
                        }
                        g = wait(&self.cv, g, None);
                    }
                }
                Err(e) => {
                    g.process_events();
                    if let Some((s, _)) = g.calls.get(&self.id).and_then(|s| s.end.as_ref()) {
                        return Err(send_after_end(s));
                    }
                    let status = send_error(&e);
                    if matches!(
                        e,
                        CallError::MessageTooLarge { .. } | CallError::Compression(_)
                    ) {
                        // The call cannot go on without the message: it
                        // ends with this status (not the CANCELLED of
                        // the reset that tells the server).
                        if let Some(slot) = g.calls.get_mut(&self.id) {
                            slot.end = Some((status.clone(), MetadataMap::new()));
                        }
                        g.conn.cancel(self.id);
                        g.process_events();
                        self.conn.flush(g);
                    }
                    return Err(status);
                }
            }
        }
    }

    /// No more messages from this side.
    pub(crate) fn close_send(&self) -> Result<(), Status> {
        let mut g = self.conn.lock();
        let r = g.conn.half_close(self.id);
        g.process_events();
        self.conn.flush(g);
        match r {
            Ok(()) | Err(CallError::SendClosed(_)) | Err(CallError::UnknownCall(_)) => Ok(()),
            Err(e) => Err(send_error(&e)),
        }
    }

    /// The response headers' metadata; waits for them. A call that ended
    /// without headers gives its status if not OK, else empty metadata.
    pub(crate) fn headers(&self) -> Result<MetadataMap, Status> {
        let mut g = self.conn.lock();
        loop {
            let Some(slot) = g.calls.get(&self.id) else {
                return Err(Status::cancelled("call dropped"));
            };
            if let Some(h) = &slot.headers {
                return Ok(h.clone());
            }
            if let Some((s, _)) = &slot.end {
                return if s.is_ok() {
                    Ok(MetadataMap::new())
                } else {
                    Err(s.clone())
                };
            }
            g = wait(&self.cv, g, None);
        }
    }

    /// The next message, or the call's status once every message was
    /// taken. Taking a message gives its flow-control credit back.
    pub(crate) fn next(&self) -> Next {
        let mut g = self.conn.lock();
        loop {
            let Some(slot) = g.calls.get_mut(&self.id) else {
                return Next::End(Status::cancelled("call dropped"));
            };
            if let Some((m, flow)) = slot.messages.pop_front() {
                slot.last_compressed = Some(m.is_compressed());
                g.conn.release_capacity(self.id, flow);
                self.conn.flush(g);
                // Inflated only now, as the application takes it (outside
                // the connection's lock); one that does not inflate ends
                // the call with the reason.
                return match m.decompress() {
                    Ok(m) => Next::Message(m),
                    Err(status) => {
                        // The call ends here with this reason, whatever the
                        // server said or says next: the rest of its
                        // messages go (their credit back), and a call still
                        // open is cancelled.
                        let mut g = self.conn.lock();
                        let id = self.id;
                        if let Some(slot) = g.calls.get_mut(&id) {
                            let open = slot.end.is_none();
                            slot.end = Some((status.clone(), MetadataMap::new()));
                            let rest = std::mem::take(&mut slot.messages);
                            for (_, flow) in rest {
                                g.conn.release_capacity(id, flow);
                            }
                            if open {
                                g.conn.cancel(id);
                            }
                        }
                        self.conn.flush(g);
                        Next::End(status)
                    }
                };
            }
            if let Some((s, _)) = &slot.end {
                return Next::End(s.clone());
            }
            g = wait(&self.cv, g, None);
        }
    }

    /// Whether the message last taken arrived compressed.
    pub(crate) fn last_compressed(&self) -> Option<bool> {
        let g = self.conn.lock();
        g.calls.get(&self.id).and_then(|s| s.last_compressed)
    }

    /// Wait for the end: status and trailing metadata. Messages not read
    /// are dropped, their flow-control credit given back (a server with
    /// more to send than the windows hold could not end otherwise).
    pub(crate) fn finish(&self) -> (Status, MetadataMap) {
        let mut g = self.conn.lock();
        loop {
            let id = self.id;
            let Some(end) = g.calls.get(&id).map(|slot| slot.end.clone()) else {
                return (Status::cancelled("call dropped"), MetadataMap::new());
            };
            let released = g.discard_messages(id);
            if let Some(end) = end {
                self.conn.flush(g);
                return end;
            }
            if released {
                // The window updates go out now; this thread waits on.
                self.conn.flush(g);
                g = self.conn.lock();
                continue;
            }
            g = wait(&self.cv, g, None);
        }
    }

    /// `status` as the call's error, with `metadata` (the headers) and
    /// the trailers, if the call has ended with some.
    pub(crate) fn failed(&self, status: Status, metadata: MetadataMap) -> RpcError {
        let trailers = self.try_end().map(|(_, t)| t).unwrap_or_default();
        RpcError {
            status,
            metadata,
            trailers,
        }
    }

    /// The end, if the call has ended.
    pub(crate) fn try_end(&self) -> Option<(Status, MetadataMap)> {
        let g = self.conn.lock();
        g.calls.get(&self.id).and_then(|s| s.end.clone())
    }

    /// Cancel the call if it is still going on: it ends CANCELLED at
    /// once, and responses received but not read are dropped (their
    /// credit given back). A call that has ended keeps its end.
    pub(crate) fn cancel(&self) {
        let mut g = self.conn.lock();
        let running = g.calls.get(&self.id).is_some_and(|s| s.end.is_none());
        g.conn.cancel(self.id);
        g.process_events();
        if running {
            let _ = g.discard_messages(self.id);
        }
        self.conn.flush(g);
    }

    /// Read the single response of a unary or client-streaming call. A
    /// failed call's error carries the headers and trailers that came.
    pub(crate) fn response<C: Codec>(&self, codec: &C) -> Result<Response<C::Decode>, RpcError> {
        let metadata = match self.headers() {
            Ok(m) => m,
            Err(s) => return Err(self.failed(s, MetadataMap::new())),
        };
        let message = match self.next() {
            Next::Message(m) => m,
            Next::End(s) if !s.is_ok() => return Err(self.failed(s, metadata)),
            Next::End(_) => {
                return Err(self.failed(Status::internal("no response message"), metadata));
            }
        };
        let message = match codec.decode(message) {
            Ok(m) => m,
            Err(s) => {
                self.cancel();
                return Err(RpcError {
                    status: s,
                    metadata,
                    trailers: MetadataMap::new(),
                });
            }
        };
        let compressed = self.last_compressed();
        let (status, trailers) = self.finish();
        if !status.is_ok() {
            return Err(RpcError {
                status,
                metadata,
                trailers,
            });
        }
        Ok(Response {
            metadata,
            message,
            trailers,
            compressed,
        })
    }
}

impl Drop for CallCore {
    fn drop(&mut self) {
        let mut g = self.conn.lock();
        g.drop_call(self.id);
        self.conn.flush(g);
    }
}

pub(crate) fn send_error(e: &CallError) -> Status {
    match e {
        CallError::MessageTooLarge { len, limit } => Status::resource_exhausted(format!(
            "request message of {len} bytes is larger than the limit of {limit}"
        )),
        CallError::ConnectionClosed | CallError::GoingAway => {
            Status::unavailable(format!("connection ended: {e}"))
        }
        CallError::Compression(s) => s.clone(),
        other => Status::internal(other.to_string()),
    }
}

/// A call in both directions, for every call kind: send requests, close
/// the request side, read responses, then the status and trailers.
///
/// [`split`](Call::split) gives a [`RequestSender`] and a [`Streaming`]
/// that can move to different threads. Dropping the call before it ends
/// cancels it.
pub struct Call<C: Codec> {
    pub(crate) core: Arc<CallCore>,
    pub(crate) codec: Arc<C>,
    pub(crate) started: Instant,
}

impl<C: Codec> fmt::Debug for Call<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call").field("id", &self.core.id).finish()
    }
}

impl<C: Codec> Call<C> {
    /// Send a request message. Blocks while the call's send queue is full
    /// (flow control). An error is the call's status when it has ended.
    pub fn send(&self, message: &C::Encode) -> Result<(), Status> {
        let bytes = self.codec.encode(message)?;
        self.core.send(bytes, true)
    }

    /// As [`send`](Self::send), with this message uncompressed even if
    /// the call compresses (gRPC compresses message by message).
    pub fn send_uncompressed(&self, message: &C::Encode) -> Result<(), Status> {
        let bytes = self.codec.encode(message)?;
        self.core.send(bytes, false)
    }

    /// Tell the server that no more requests follow.
    pub fn close_send(&self) -> Result<(), Status> {
        self.core.close_send()
    }

    /// Send the only (or last) request and close the request side.
    pub(crate) fn send_last(&self, message: &C::Encode) -> Result<(), Status> {
        let bytes = self.codec.encode(message)?;
        self.core.send_last(bytes)
    }

    /// The response headers' metadata (waits for it).
    pub fn headers(&self) -> Result<MetadataMap, Status> {
        self.core.headers()
    }

    /// The next response message; `None` once the call ended with OK and
    /// every message was read; `Some(Err(status))` when it failed.
    pub fn recv(&self) -> Option<Result<C::Decode, Status>> {
        recv(&self.core, &*self.codec)
    }

    /// Whether the message last returned by [`recv`](Self::recv) arrived
    /// compressed (its compressed flag); `None` before the first.
    pub fn last_message_compressed(&self) -> Option<bool> {
        self.core.last_compressed()
    }

    /// The single response of a unary or client-streaming call (with the
    /// metadata), once the server has finished. A failed call's error
    /// carries its headers and trailers.
    pub fn response(&self) -> Result<Response<C::Decode>, RpcError> {
        self.core.response(&*self.codec)
    }

    /// Wait for the call to end: its status and trailing metadata.
    /// Messages not read are dropped.
    pub fn finish(&self) -> (Status, MetadataMap) {
        self.core.finish()
    }

    /// Cancel the call: RST_STREAM CANCEL, and it ends with CANCELLED.
    /// Responses received but not read are dropped. A call that has
    /// already ended keeps its status.
    pub fn cancel(&self) {
        self.core.cancel();
    }

    /// When the call was started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The request half and the response half, usable from two threads.
    /// The call is cancelled when both are dropped before it ends; dropping
    /// the sender alone closes the request side.
    pub fn split(self) -> (RequestSender<C>, Streaming<C>) {
        (
            RequestSender {
                core: Arc::clone(&self.core),
                codec: Arc::clone(&self.codec),
                closed: false,
            },
            Streaming {
                core: self.core,
                codec: self.codec,
                done: false,
            },
        )
    }

    /// Only the response half (the request side is closed first).
    pub fn into_stream(self) -> Streaming<C> {
        let _ = self.core.close_send();
        Streaming {
            core: self.core,
            codec: self.codec,
            done: false,
        }
    }
}

fn recv<C: Codec>(core: &CallCore, codec: &C) -> Option<Result<C::Decode, Status>> {
    match core.next() {
        Next::Message(m) => match codec.decode(m) {
            Ok(v) => Some(Ok(v)),
            Err(s) => {
                core.cancel();
                Some(Err(s))
            }
        },
        Next::End(s) if s.is_ok() => None,
        Next::End(s) => Some(Err(s)),
    }
}

/// The request half of a call: sends messages, then closes.
pub struct RequestSender<C: Codec> {
    core: Arc<CallCore>,
    codec: Arc<C>,
    closed: bool,
}

impl<C: Codec> fmt::Debug for RequestSender<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSender")
            .field("id", &self.core.id)
            .finish()
    }
}

impl<C: Codec> RequestSender<C> {
    /// Send a request message (blocks while flow control holds it back).
    pub fn send(&self, message: &C::Encode) -> Result<(), Status> {
        let bytes = self.codec.encode(message)?;
        self.core.send(bytes, true)
    }

    /// As [`send`](Self::send), with this message uncompressed even if
    /// the call compresses.
    pub fn send_uncompressed(&self, message: &C::Encode) -> Result<(), Status> {
        let bytes = self.codec.encode(message)?;
        self.core.send(bytes, false)
    }

    /// No more requests (also done when the sender is dropped).
    pub fn close(mut self) -> Result<(), Status> {
        self.closed = true;
        self.core.close_send()
    }
}

impl<C: Codec> Drop for RequestSender<C> {
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.core.close_send();
        }
    }
}

/// Response messages as a blocking iterator. Ends with `None` after an OK
/// status, or with one `Some(Err(status))`. Dropping it before the end
/// cancels the call (unless its [`RequestSender`] lives on).
pub struct Streaming<C: Codec> {
    core: Arc<CallCore>,
    codec: Arc<C>,
    done: bool,
}

impl<C: Codec> fmt::Debug for Streaming<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streaming")
            .field("id", &self.core.id)
            .finish()
    }
}

impl<C: Codec> Streaming<C> {
    /// The response headers' metadata (waits for it).
    pub fn headers(&self) -> Result<MetadataMap, Status> {
        self.core.headers()
    }

    /// The next message (same as [`Iterator::next`]).
    pub fn message(&mut self) -> Option<Result<C::Decode, Status>> {
        self.next()
    }

    /// Whether the message last returned arrived compressed (its
    /// compressed flag); `None` before the first.
    pub fn last_message_compressed(&self) -> Option<bool> {
        self.core.last_compressed()
    }

    /// The call's status and trailing metadata; waits for the end.
    /// Messages not read are dropped.
    pub fn finish(&self) -> (Status, MetadataMap) {
        self.core.finish()
    }

    /// The trailing metadata, once the call has ended.
    pub fn trailers(&self) -> Option<MetadataMap> {
        self.core.try_end().map(|(_, t)| t)
    }

    /// Cancel the call, as [`Call::cancel`] does.
    pub fn cancel(&self) {
        self.core.cancel();
    }
}

impl<C: Codec> Iterator for Streaming<C> {
    type Item = Result<C::Decode, Status>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = recv(&self.core, &*self.codec);
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }
}
