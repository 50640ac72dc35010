//! What the client and server state machines share: call handles, call
//! kinds, the errors of call actions, a failed call's error as the
//! adapters report it ([`RpcError`]), and the receive side of a call
//! (deframing, decompression and flow-control accounting of messages).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Buf, Bytes};

use crate::frame::StreamId;
use crate::grpc::compression::{
    Compressor, Identity, compress_message, decompress_message, flag_refused, is_identity,
};
use crate::grpc::message::{MessageDecoder, PREFIX_LEN, encode_prefix};
use crate::grpc::{Code, Status};
use crate::h2;
use crate::h2::Chunk;
use crate::hpack::HeaderField;

/// A call on one connection: a small copyable handle. Handles are never
/// reused on a connection; an action on a call that has ended returns
/// [`CallError::UnknownCall`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub(crate) u64);

impl CallId {
    /// The number behind the handle (for logs).
    pub fn value(self) -> u64 {
        self.0
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call#{}", self.0)
    }
}

/// A hasher for maps keyed by [`CallId`] (or by stream identifier): the
/// connection hands out ids in sequence and the peer cannot choose them,
/// so a multiplicative hash spreads them well and SipHash's resistance to
/// chosen keys would buy nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct CallIdHasher(u64);

impl Hasher for CallIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        let h = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 29);
    }
}

/// A `HashMap` keyed by [`CallId`], hashed with [`CallIdHasher`].
pub type CallIdMap<V> = HashMap<CallId, V, BuildHasherDefault<CallIdHasher>>;

/// A `HashSet` of [`CallId`]s, hashed with [`CallIdHasher`].
pub type CallIdSet = HashSet<CallId, BuildHasherDefault<CallIdHasher>>;

/// The four kinds of gRPC call. The kind says how many messages each side
/// sends; a side that breaks it (a "cardinality violation") ends the call
/// with `UNIMPLEMENTED`, as gRPC's status code document specifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CallKind {
    /// One request, one response.
    Unary,
    /// Many requests, one response.
    ClientStreaming,
    /// One request, many responses.
    ServerStreaming,
    /// Many each way; nothing is enforced.
    #[default]
    BidiStreaming,
}

impl CallKind {
    /// The client sends exactly one message.
    pub fn single_request(self) -> bool {
        matches!(self, CallKind::Unary | CallKind::ServerStreaming)
    }

    /// The server sends exactly one message (with an OK status).
    pub fn single_response(self) -> bool {
        matches!(self, CallKind::Unary | CallKind::ClientStreaming)
    }
}

/// Why a call action was refused. None of these comes from peer bytes:
/// each says what the caller did that the call cannot take now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError {
    /// No such call on this connection (never started, or ended).
    UnknownCall(CallId),
    /// This side has already finished sending on the call.
    SendClosed(CallId),
    /// The call's send queue is full; wait for its `Writable` event.
    Blocked(CallId),
    /// Response headers were already sent (server).
    HeadersAlreadySent(CallId),
    /// The message is larger than the configured send limit.
    MessageTooLarge {
        /// The message's length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The compressor failed on the message.
    Compression(Status),
    /// The connection has ended.
    ConnectionClosed,
    /// The connection is shutting down, or (client) has no stream
    /// identifier left for another call; start the call on a new one.
    GoingAway,
    /// Too many calls are already waiting for a stream (client).
    TooManyPendingCalls,
    /// The path is not of the form `/service/method`.
    InvalidPath,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::UnknownCall(c) => write!(f, "{c} is not active"),
            CallError::SendClosed(c) => write!(f, "{c} has finished sending"),
            CallError::Blocked(c) => write!(f, "{c} send queue is full"),
            CallError::HeadersAlreadySent(c) => write!(f, "{c} response headers already sent"),
            CallError::MessageTooLarge { len, limit } => {
                write!(
                    f,
                    "message of {len} bytes exceeds the send limit of {limit}"
                )
            }
            CallError::Compression(s) => write!(f, "compression failed: {s}"),
            CallError::ConnectionClosed => f.write_str("connection closed"),
            CallError::GoingAway => f.write_str("connection is going away"),
            CallError::TooManyPendingCalls => f.write_str("too many calls waiting for a stream"),
            CallError::InvalidPath => f.write_str("path must be /service/method"),
        }
    }
}

impl std::error::Error for CallError {}

/// A call that did not end with OK: its status and the metadata that came
/// with it. Both adapters' clients return it, and the async adapter's
/// handlers return it too (its `trailers` go out with the status;
/// `metadata` is not used there).
///
/// Every [`Status`] converts into one and back, so `?` works either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// The status (code, message, binary details).
    pub status: Status,
    /// Initial metadata, if the server sent headers before failing.
    pub metadata: crate::grpc::metadata::MetadataMap,
    /// Trailing metadata.
    pub trailers: crate::grpc::metadata::MetadataMap,
}

impl RpcError {
    /// An error with `status` and no metadata.
    pub fn new(status: Status) -> Self {
        RpcError {
            status,
            metadata: Default::default(),
            trailers: Default::default(),
        }
    }

    /// This error with trailing metadata `trailers`.
    pub fn with_trailers(mut self, trailers: crate::grpc::metadata::MetadataMap) -> Self {
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

/// The receive side of one call: deframes DATA chunks into messages,
/// decompresses them, and keeps flow control honest.
///
/// Flow-control rule: bytes of a complete message are given back when the
/// application releases it, so unconsumed messages hold the window. Bytes
/// of a message not yet complete are given back at once while the
/// application holds no message of the call (holding them could deadlock
/// a message larger than the window; they are bounded by the receive
/// limit); while it does hold one, they are owed, and given back when it
/// has released everything. So a peer cannot make a call that is not read
/// hold more than the stream window and one message.
///
/// Messages are slices of the connection's receive buffer, and a slice
/// keeps its whole buffer alive. A small message that arrives in a later
/// read than an earlier one of the call the application still holds is
/// therefore copied out: otherwise a peer could send tiny messages among
/// large frames it pays nothing for, and make each held message pin a
/// read's worth of memory (the window counts only the messages' own
/// bytes). Messages of one read share its buffer, so they are not copied.
///
/// The windows count bytes on the wire, and two kinds of memory escape
/// them: partly received messages, whose bytes are given back as they
/// arrive (above), and a delivered message whose first part was given back
/// while it arrived (it holds only its last part's credit). Both are
/// charged to the connection's [`ReceiveBudget`]: the first until the
/// message completes, the second until the application releases the
/// message. A call whose charge would take the budget past its limit ends
/// with `RESOURCE_EXHAUSTED`. Compressed messages are delivered compressed
/// ([`Received`]) and inflate only when the application takes them, so
/// they take no more memory than their credit while they wait.
pub(crate) struct Inbound {
    decoder: MessageDecoder,
    compressor: Arc<dyn Compressor>,
    /// Complete messages seen.
    pub(crate) count: u32,
    /// Credit of delivered messages the application has not released.
    held: u64,
    /// Bytes of an incomplete message not given back yet (see above).
    owed: u32,
    /// The read (see [`h2::Connection::receive`]) in which the application
    /// began to hold messages of the call.
    held_since: u64,
    /// Delivered messages not yet released that hold more memory than
    /// credit (boxed: most calls never have one).
    extras: Option<Box<Extras>>,
    /// What is charged to the connection's budget: the memory the decoder
    /// holds for a partial message, plus the extras' total.
    charged: usize,
    /// The budget they are charged to (taken on the first charge, so a
    /// call whose messages each arrive whole never touches it).
    budget: Option<Arc<AtomicUsize>>,
}

/// A delivered message that holds more memory than its credit (its first
/// part was given back while it arrived), matched to the application's
/// releases in delivery order. There is one at a time: its first part was
/// given back because the application held nothing, and until it holds
/// nothing again the next messages' parts are owed, not given back. (A
/// later message with owed parts is merged in, which only delays the
/// release.) Positions count credit from the first message the application
/// held when this one arrived.
struct Extras {
    /// Credit delivered so far (the end of the newest message).
    delivered: u64,
    /// Credit released so far.
    released: u64,
    /// Where the message (or the last merged in) ends: released once the
    /// application has released that much.
    end: u64,
    /// The memory beyond credit.
    total: usize,
}

/// The memory a connection holds for received messages beyond what the
/// flow-control windows count (see [`Inbound`]), over all its calls, and
/// the most it may hold. Calls charge it as their messages arrive in
/// pieces, give the charge back as messages are released, and give back
/// the rest when the call ends (dropping a call's [`Inbound`] does it,
/// whichever way the call ended).
#[derive(Debug)]
pub(crate) struct ReceiveBudget {
    total: Arc<AtomicUsize>,
    limit: usize,
}

impl ReceiveBudget {
    /// A budget of `limit` bytes, raised if need be so that one message of
    /// `max_message` bytes (and its prefix) always fits.
    pub(crate) fn new(limit: usize, max_message: usize) -> Self {
        ReceiveBudget {
            total: Arc::new(AtomicUsize::new(0)),
            limit: limit.max(max_message.saturating_add(PREFIX_LEN)),
        }
    }

    /// Bytes charged now.
    pub(crate) fn used(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

impl Drop for Inbound {
    fn drop(&mut self) {
        if self.charged > 0 {
            if let Some(budget) = &self.budget {
                budget.fetch_sub(self.charged, Ordering::Relaxed);
            }
        }
    }
}

/// A message out of [`Inbound::feed`] and the flow-control credit the
/// application gives back once it has consumed it.
pub(crate) struct Delivered {
    pub(crate) message: Received,
    pub(crate) flow_len: u32,
}

/// A received message as the connection delivers it. One that arrived
/// compressed stays compressed until the application takes its bytes with
/// [`decompress`](Self::decompress), so that messages waiting to be read
/// take no more memory than the flow-control credit they hold (a gzip
/// message can inflate a thousandfold). A message that did not arrive
/// compressed is handed over as it is.
#[derive(Clone)]
pub struct Received {
    payload: Bytes,
    /// The call's compressor and receive limit, for a compressed message.
    inflate: Option<(Arc<dyn Compressor>, usize)>,
}

impl Received {
    /// A message that did not arrive compressed.
    pub fn plain(payload: Bytes) -> Received {
        Received {
            payload,
            inflate: None,
        }
    }

    /// Whether it arrived compressed (its prefix's compressed flag).
    pub fn is_compressed(&self) -> bool {
        self.inflate.is_some()
    }

    /// The payload as it arrived: still compressed if it was.
    pub fn wire_payload(&self) -> &Bytes {
        &self.payload
    }

    /// The message's bytes, decompressed if it arrived compressed. Fails
    /// with INTERNAL if the payload does not decompress, or
    /// RESOURCE_EXHAUSTED if it inflates past the receive limit: the call
    /// should then end with that status.
    pub fn decompress(self) -> Result<Bytes, Status> {
        match self.inflate {
            None => Ok(self.payload),
            Some((compressor, limit)) => decompress_message(
                compressor.as_ref(),
                crate::grpc::message::Message {
                    compressed: true,
                    payload: self.payload,
                },
                limit,
            ),
        }
    }
}

impl fmt::Debug for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Received")
            .field("payload", &self.payload)
            .field("compressed", &self.inflate.as_ref().map(|(c, _)| c.name()))
            .finish()
    }
}

/// Equal when the payloads as they arrived and the compressed flags are.
impl PartialEq for Received {
    fn eq(&self, other: &Received) -> bool {
        self.payload == other.payload && self.is_compressed() == other.is_compressed()
    }
}

impl Eq for Received {}

impl Inbound {
    pub(crate) fn new(compressor: Arc<dyn Compressor>, limit: usize) -> Self {
        Inbound {
            decoder: MessageDecoder::with_max_message_size(limit),
            compressor,
            count: 0,
            held: 0,
            owed: 0,
            held_since: 0,
            extras: None,
            charged: 0,
            budget: None,
        }
    }

    /// What the call should have charged now.
    fn charge_due(&self) -> usize {
        let extra = self.extras.as_ref().map_or(0, |x| x.total);
        self.decoder.held_memory().saturating_add(extra)
    }

    /// A message holding `flow` credit was delivered (and counted in
    /// `held`) with `extra` bytes of memory beyond its credit.
    #[inline]
    fn note_delivered(&mut self, flow: u64, extra: usize) {
        if self.extras.is_some() || extra > 0 {
            self.track_delivered(flow, extra);
        }
    }

    /// [`note_delivered`](Self::note_delivered) with something to track.
    fn track_delivered(&mut self, flow: u64, extra: usize) {
        let held = self.held;
        let x = self.extras.get_or_insert_with(|| {
            Box::new(Extras {
                // The credit held now ends with this message.
                delivered: held.saturating_sub(flow),
                released: 0,
                end: 0,
                total: 0,
            })
        });
        x.delivered = x.delivered.saturating_add(flow);
        if extra > 0 {
            x.end = x.delivered;
            x.total = x.total.saturating_add(extra);
        }
    }

    /// Brings a charge that has shrunk down to what is due.
    fn settle_down(&mut self) {
        self.lower_charge_to(self.charge_due());
    }

    /// Lowers the charge to `due`, if it is lower.
    fn lower_charge_to(&mut self, due: usize) {
        if due < self.charged {
            if let Some(total) = &self.budget {
                total.fetch_sub(self.charged - due, Ordering::Relaxed);
            }
            self.charged = due;
        }
    }

    /// Brings the charge to the connection's `budget` in line with what
    /// is due. Fails, charging nothing more, when a larger charge would
    /// take the budget past its limit.
    #[inline]
    fn settle_charge(&mut self, budget: &ReceiveBudget) -> Result<(), Status> {
        if self.charged == 0 && self.extras.is_none() && self.decoder.buffered_len() == 0 {
            // Nothing held beyond the windows, before or now.
            return Ok(());
        }
        self.settle_charge_slow(budget)
    }

    fn settle_charge_slow(&mut self, budget: &ReceiveBudget) -> Result<(), Status> {
        let now = self.charge_due();
        if now <= self.charged {
            self.lower_charge_to(now);
            return Ok(());
        }
        let total = self.budget.get_or_insert_with(|| budget.total.clone());
        let more = now - self.charged;
        let before = total.fetch_add(more, Ordering::Relaxed);
        if before.saturating_add(more) > budget.limit {
            total.fetch_sub(more, Ordering::Relaxed);
            return Err(Status::new(
                Code::ResourceExhausted,
                format!(
                    "the connection holds its limit of {} bytes of received messages \
                     beyond flow control",
                    budget.limit
                ),
            ));
        }
        self.charged = now;
        Ok(())
    }

    /// The application released `n` of the credit its messages held.
    /// Returns the owed credit to give back with it: all of it once the
    /// application holds nothing more.
    pub(crate) fn released(&mut self, n: u32) -> u32 {
        self.held = self.held.saturating_sub(u64::from(n));
        if let Some(x) = self.extras.as_mut() {
            x.released = x.released.saturating_add(u64::from(n));
            if x.released >= x.end {
                x.total = 0;
            }
            if self.held == 0 {
                // Released everything: whatever order it came in.
                self.extras = None;
            }
            self.settle_down();
        }
        if self.held == 0 {
            std::mem::take(&mut self.owed)
        } else {
            0
        }
    }

    /// Credit owed to the peer, to give back when the call ends.
    pub(crate) fn take_owed(&mut self) -> u32 {
        std::mem::take(&mut self.owed)
    }

    /// Feed one DATA payload. Appends complete messages to `out` and
    /// returns the credit to give back now. On error the call is over:
    /// the caller drops `out` and gives back the whole chunk (the error's
    /// second field).
    pub(crate) fn feed(
        &mut self,
        data: Bytes,
        read: u64,
        out: &mut Vec<Delivered>,
    ) -> Result<u32, (Status, u32)> {
        let len = data.len();
        let before = self.decoder.buffered_len();
        // Whether the application holds a message of the call from an
        // earlier read: if so, small messages are copied out (see above).
        let holding = self.held > 0 && self.held_since != read;
        let mut input = data;
        let mut first = true;
        let mut credited = 0usize;
        loop {
            match self.decoder.decode(&mut input) {
                Ok(Some(m)) => {
                    let wire = m.wire_len();
                    let flow = if first {
                        wire.saturating_sub(before)
                    } else {
                        wire
                    };
                    first = false;
                    credited += flow;
                    let compressed = m.compressed;
                    if compressed {
                        if let Some(status) = flag_refused(self.compressor.as_ref()) {
                            return Err((status, clamp(len)));
                        }
                    }
                    let mut payload = m.payload;
                    if holding && payload.len() < COPY_HELD_BELOW {
                        payload = Bytes::copy_from_slice(&payload);
                    }
                    self.count = self.count.saturating_add(1);
                    if self.held == 0 {
                        self.held_since = read;
                    }
                    self.held = self.held.saturating_add(flow as u64);
                    // Memory the window does not count: a first part given
                    // back while the message arrived.
                    self.note_delivered(flow as u64, payload.len().saturating_sub(flow));
                    out.push(Delivered {
                        message: Received {
                            payload,
                            inflate: compressed.then(|| {
                                (self.compressor.clone(), self.decoder.max_message_size())
                            }),
                        },
                        flow_len: clamp(flow),
                    });
                }
                Ok(None) => break,
                Err(e) => return Err((e.to_status(), clamp(len))),
            }
        }
        let partial = clamp(len - credited);
        if self.held == 0 {
            Ok(partial)
        } else {
            self.owed = self.owed.saturating_add(partial);
            Ok(0)
        }
    }

    /// The usual DATA payload taken without the decoder: exactly one
    /// whole message, not compressed and within the limit, while nothing
    /// of another is held, no extra memory is tracked, the message is not
    /// one too many (`single`: this side may send only one), and it need
    /// not be copied out (the application holds nothing of the call from
    /// an earlier read). What [`receive`](Self::receive) does with such a
    /// payload, without its loop: the whole payload is the message's
    /// credit, so nothing is given back or owed now, and nothing is
    /// charged. Anything else is given back for `receive`.
    #[inline]
    pub(crate) fn take_whole(
        &mut self,
        data: Bytes,
        read: u64,
        single: bool,
    ) -> Result<Delivered, Bytes> {
        let fits = self.decoder.is_one_plain_message(&data)
            && self.charged == 0
            && self.extras.is_none()
            && !(single && self.count > 0)
            && (self.held == 0 || self.held_since == read);
        if !fits {
            return Err(data);
        }
        let flow = data.len();
        let mut payload = data;
        payload.advance(PREFIX_LEN);
        self.count = self.count.saturating_add(1);
        if self.held == 0 {
            self.held_since = read;
        }
        self.held = self.held.saturating_add(flow as u64);
        Ok(Delivered {
            message: Received {
                payload,
                inflate: None,
            },
            flow_len: clamp(flow),
        })
    }

    /// Feed one DATA payload of `stream` and settle its flow control with
    /// `h2`: credit for bytes of unfinished messages goes back at once, or
    /// is owed while the application holds a message (see [`Inbound`]).
    /// `single` is the cardinality message to end the call with when this
    /// side may send only one message and a second arrives. On `Err` the
    /// call is over: every byte of the chunk has been given back and `out`
    /// is empty; the status is the call's end. The bytes of a message
    /// still arriving are charged to `budget`; a chunk that would take it
    /// past its limit ends the call with `RESOURCE_EXHAUSTED`.
    pub(crate) fn receive(
        &mut self,
        h2: &mut h2::Connection,
        stream: StreamId,
        data: Bytes,
        single: Option<&str>,
        budget: &ReceiveBudget,
        out: &mut Vec<Delivered>,
    ) -> Result<(), Status> {
        out.clear();
        match self.feed(data, h2.reads, out) {
            Ok(now) => {
                if now > 0 {
                    h2.release_capacity(stream, now);
                }
                let over = match single {
                    Some(what) if self.count > 1 => Some(cardinality_violation(what)),
                    _ => self.settle_charge(budget).err(),
                };
                match over {
                    Some(status) => {
                        let credit: u32 = out.iter().map(|d| d.flow_len).sum();
                        h2.release_capacity(stream, credit.saturating_add(self.take_owed()));
                        out.clear();
                        Err(status)
                    }
                    None => Ok(()),
                }
            }
            Err((status, credit)) => {
                h2.release_capacity(stream, credit.saturating_add(self.take_owed()));
                out.clear();
                // The decoder has dropped what it held: so does the charge.
                self.settle_down();
                Err(status)
            }
        }
    }

    /// The peer ended its side: was a message cut short?
    #[inline]
    pub(crate) fn finish(&self) -> Result<(), Status> {
        if self.decoder.is_idle() {
            return Ok(());
        }
        self.decoder.finish().map_err(|e| e.to_status())
    }
}

/// Messages shorter than this that arrive while the application holds an
/// earlier message of the call are copied out of the receive buffer. A
/// longer one pins at most a read buffer's worth per this many bytes the
/// window counts.
const COPY_HELD_BELOW: usize = 4096;

fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The status a send reports on a call that has already ended with
/// `status`: the call's own if it failed; INTERNAL if it ended OK (the
/// message was not sent, and an error whose status says OK would read as
/// success). Both adapters' clients answer such a send with it.
pub fn send_after_end(status: &Status) -> Status {
    if status.is_ok() {
        Status::new(Code::Internal, "the call ended before the message was sent")
    } else {
        status.clone()
    }
}

/// What a refused send on `call`'s stream means for the call.
pub(crate) fn map_send(call: CallId, e: h2::SendError) -> CallError {
    match e {
        h2::SendError::Blocked(_) => CallError::Blocked(call),
        h2::SendError::ConnectionClosed => CallError::ConnectionClosed,
        h2::SendError::StreamClosed(_) => CallError::SendClosed(call),
        _ => CallError::UnknownCall(call),
    }
}

/// Frame `message` ([`frame_message`]) and queue it on `call`'s `stream`:
/// a message send of either role. `plain`: it goes as is, not compressed
/// (the caller chose so, or `compressor` is identity); otherwise it is
/// compressed with `compressor`. `checked`: the caller has checked that
/// the stream takes a send (before compressing). When it has not, a
/// message that cannot be framed is refused first for what the stream
/// says (Blocked, arming Writable), as a checked send would have been.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn send_framed(
    h2: &mut h2::Connection,
    call: CallId,
    stream: StreamId,
    compressor: &dyn Compressor,
    plain: bool,
    message: Bytes,
    limit: usize,
    checked: bool,
) -> Result<(), CallError> {
    let refused = if plain {
        let len = message.len();
        match plain_prefix(len, limit) {
            Some(prefix) => {
                return h2
                    .send_prefixed(stream, prefix, message)
                    .map_err(|e| map_send(call, e));
            }
            None => CallError::MessageTooLarge { len, limit },
        }
    } else {
        match frame_message(compressor, true, message, limit) {
            Ok(parts) => {
                return h2
                    .send_chunks(stream, parts, false)
                    .map_err(|e| map_send(call, e));
            }
            Err(e) => e,
        }
    };
    if !checked {
        h2.check_writable(stream).map_err(|e| map_send(call, e))?;
    }
    Err(refused)
}

/// How a call sends a message, given its own send compressor (`None`:
/// identity) and whether the sender asks for compression: the compressor
/// to frame with, and whether the message goes as is. Identity is never
/// asked to compress, so for `None` the built-in one serves.
#[inline]
pub(crate) fn send_choice(
    compressor: Option<&Arc<dyn Compressor>>,
    compress: bool,
) -> (&dyn Compressor, bool) {
    match compressor {
        Some(c) => (c.as_ref(), !compress || is_identity(c.as_ref())),
        None => (&Identity, true),
    }
}

/// A message ready for the wire: compressed with the call's `compressor`
/// unless `compress` is false (then sent as is, flag clear), its 5-byte
/// prefix (held inline: no allocation), and its payload (shared, not
/// copied, when not compressed).
pub(crate) fn frame_message(
    compressor: &dyn Compressor,
    compress: bool,
    payload: Bytes,
    limit: usize,
) -> Result<[Chunk; 2], CallError> {
    if !compress || is_identity(compressor) {
        let len = payload.len();
        return match plain_prefix(len, limit) {
            Some(prefix) => Ok([Chunk::small(&prefix), Chunk::Shared(payload)]),
            None => Err(CallError::MessageTooLarge { len, limit }),
        };
    }
    let m =
        compress_message(compressor, payload).map_err(|e| CallError::Compression(e.to_status()))?;
    if m.payload.len() > limit {
        return Err(CallError::MessageTooLarge {
            len: m.payload.len(),
            limit,
        });
    }
    let prefix =
        encode_prefix(m.compressed, m.payload.len()).map_err(|_| CallError::MessageTooLarge {
            len: m.payload.len(),
            limit,
        })?;
    debug_assert_eq!(prefix.len(), PREFIX_LEN);
    Ok([Chunk::small(&prefix), Chunk::Shared(m.payload)])
}

/// [`frame_message`] of a message sent as is (uncompressed, flag clear):
/// its prefix made from its length, inline.
#[inline]
pub(crate) fn frame_plain(payload: Bytes, limit: usize) -> Result<[Chunk; 2], CallError> {
    let len = payload.len();
    match plain_prefix(len, limit) {
        Some(prefix) => Ok([Chunk::small(&prefix), Chunk::Shared(payload)]),
        None => Err(CallError::MessageTooLarge { len, limit }),
    }
}

/// The prefix of a message of `len` bytes sent as is (its flag clear),
/// if `limit` and the prefix's 32-bit length allow it.
#[inline]
fn plain_prefix(len: usize, limit: usize) -> Option<[u8; PREFIX_LEN]> {
    let n = u32::try_from(len).ok().filter(|_| len <= limit)?;
    let [a, b, c, d] = n.to_be_bytes();
    Some([0, a, b, c, d])
}

/// A header field from static parts.
pub(crate) fn field(name: &'static str, value: impl Into<Bytes>) -> HeaderField {
    HeaderField {
        name: Bytes::from_static(name.as_bytes()),
        value: value.into(),
        sensitive: false,
    }
}

/// Header fields from `(name, value)` pairs, as the metadata and status
/// encoders produce them.
pub(crate) fn fields_from_pairs(pairs: Vec<(Bytes, Bytes)>, out: &mut Vec<HeaderField>) {
    out.extend(pairs.into_iter().map(|(name, value)| HeaderField {
        name,
        value,
        sensitive: false,
    }));
}

/// The value of the first field called `name`.
pub(crate) fn find<'a>(fields: &'a [HeaderField], name: &str) -> Option<&'a Bytes> {
    fields
        .iter()
        .find(|f| &f.name[..] == name.as_bytes())
        .map(|f| &f.value)
}

/// The status a call ends with when the peer broke the message count.
pub(crate) fn cardinality_violation(what: &str) -> Status {
    Status::new(
        Code::Unimplemented,
        format!("cardinality violation: {what}"),
    )
}
