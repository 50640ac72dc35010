//! Configuration of one HTTP/2 connection: what we advertise, what we
//! accept, and the limits that bound the memory and work a peer can cause.

use std::time::Duration;

/// Settings and limits for one HTTP/2 connection.
///
/// Every buffer the connection keeps is bounded by a field here; the field
/// docs say what each one bounds. The defaults suit gRPC traffic.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// SETTINGS_HEADER_TABLE_SIZE we advertise: the most memory the peer's
    /// HPACK encoder may make our decoder hold for its dynamic table.
    /// Default 4096.
    pub header_table_size: u32,
    /// SETTINGS_MAX_CONCURRENT_STREAMS we advertise and enforce on streams
    /// the peer opens (excess streams are refused with REFUSED_STREAM).
    /// Default 1024.
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE we advertise: how many unconsumed bytes
    /// the peer may send on one stream. Default 4 MiB.
    pub initial_stream_window: u32,
    /// Our connection-level receive window: the most DATA bytes the peer
    /// may send that the application has not consumed. The gRPC layer
    /// gives back at once the bytes of a message still arriving on a call
    /// whose application holds no message (so that a message larger than
    /// the window can arrive), so what is buffered can reach, beyond this,
    /// the unfinished messages of those calls; the gRPC layer's
    /// `max_receive_memory` bounds them per connection. Default 16 MiB,
    /// four streams' worth: a call whose application does not read holds
    /// its stream's window, and the connection's other calls go on in
    /// the rest (with the two equal, one such call stalled them all).
    pub connection_window: u32,
    /// SETTINGS_MAX_FRAME_SIZE we advertise: the largest frame payload we
    /// accept. Default 16384.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE we advertise: the largest decoded
    /// header list (names + values + 32 per field) we accept. A larger list
    /// is rejected for its stream only. Default 16 KiB.
    pub max_header_list_size: u32,
    /// The largest encoded header block (HEADERS plus CONTINUATION
    /// fragments) we buffer before decoding. Exceeding it ends the
    /// connection with ENHANCE_YOUR_CALM. Default 64 KiB.
    pub max_header_block_size: usize,
    /// The most CONTINUATION frames one header block may use; bounds
    /// floods of empty CONTINUATION frames. Default 64.
    pub max_continuation_frames: u32,
    /// How long we wait for the peer to acknowledge our SETTINGS before
    /// ending the connection with SETTINGS_TIMEOUT. Default 10 s.
    pub settings_timeout: Duration,
    /// Bytes of DATA the application may queue on one stream beyond what
    /// is sent. A send is accepted while the queue is under this bound and
    /// refused with [`SendError::Blocked`](super::SendError::Blocked) once it
    /// is at or over it, so the memory per stream is this bound plus the
    /// last accepted chunk. Default 1 MiB.
    pub max_send_buffer: usize,
    /// Bytes of DATA the application may queue over all streams of the
    /// connection beyond what is sent. A send is refused with
    /// [`SendError::Blocked`](super::SendError::Blocked) while the total is
    /// at or over this bound, as for the stream's own bound, and the
    /// streams so refused get [`Event::Writable`](super::Event::Writable)
    /// once the total is down to three quarters of it, or under it with
    /// nothing more that can be written until the peer opens a window.
    /// A whole request opening a new stream is taken whatever the total.
    /// Without this bound, a peer that opens many streams and reads none of
    /// them could make the connection hold `max_send_buffer` on each.
    /// Default 16 MiB.
    pub max_connection_send_buffer: usize,
    /// Bytes of control frames (PING and SETTINGS acknowledgements,
    /// RST_STREAM, WINDOW_UPDATE) we hold for a peer that does not read
    /// them. Exceeding it ends the connection with ENHANCE_YOUR_CALM.
    /// Default 64 KiB.
    pub max_pending_control: usize,
    /// How many stream endings we remember, so that a late frame on a
    /// closed stream gets the answer its ending calls for (§5.1): a stream
    /// is remembered at least until this many more have closed. Held to
    /// at most 65,536; costs up to 8 bytes per remembered stream and
    /// initiator. Default 1024.
    pub max_closed_streams: usize,
    /// How many bytes [`poll_transmit`](super::Connection::poll_transmit)
    /// appends per call at most (it is called until it appends nothing).
    /// Default 64 KiB.
    pub transmit_chunk: usize,
    /// Keepalive: send a PING after this much time without receiving
    /// anything. `None` (the default) sends no keepalive pings.
    pub keepalive_interval: Option<Duration>,
    /// Keepalive: end the connection if a keepalive PING is not
    /// acknowledged within this time. Default 20 s.
    pub keepalive_timeout: Duration,
    /// Keepalive: also ping while no stream is open. Default false.
    pub keepalive_while_idle: bool,
    /// How the peer's PINGs are policed (gRPC keepalive enforcement).
    /// `None` polices only floods (see [`Limits::pings`]).
    pub ping_policy: Option<PingPolicy>,
    /// Rate limits against floods of frames that cost us work but carry
    /// nothing useful.
    pub limits: Limits,
    /// The longest a frame (or a header block spread over CONTINUATION
    /// frames, or the client preface) may take to arrive once it has
    /// started. A peer that trickles one in slower than this (slowloris)
    /// gets GOAWAY ENHANCE_YOUR_CALM. `None` disables it. Default 30 s.
    pub frame_timeout: Option<Duration>,
    /// The grace period of a graceful shutdown's first phase: how long we
    /// wait for the acknowledgement of the PING sent with the first GOAWAY
    /// before sending the final one anyway. Default 5 s.
    pub shutdown_ping_timeout: Duration,
    /// The identifier of the first stream a client opens (made odd by
    /// setting its low bit). Default 1. A higher value lets a test reach
    /// stream-identifier exhaustion (2^31-1) in a few calls, to check that
    /// a caller moves to a new connection. Servers ignore it.
    pub first_stream_id: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            header_table_size: 4096,
            max_concurrent_streams: 1024,
            initial_stream_window: 4 << 20,
            connection_window: 16 << 20,
            max_frame_size: 16_384,
            max_header_list_size: 16 << 10,
            max_header_block_size: 64 << 10,
            max_continuation_frames: 64,
            settings_timeout: Duration::from_secs(10),
            max_send_buffer: 1 << 20,
            max_connection_send_buffer: 16 << 20,
            max_pending_control: 64 << 10,
            max_closed_streams: 1024,
            transmit_chunk: 64 << 10,
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(20),
            keepalive_while_idle: false,
            ping_policy: None,
            limits: Limits::default(),
            frame_timeout: Some(Duration::from_secs(30)),
            shutdown_ping_timeout: Duration::from_secs(5),
            first_stream_id: 1,
        }
    }
}

/// How many of a kind of event are allowed within one period. Periods are
/// fixed: counting restarts when an event arrives a full period after the
/// period's first event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// The most events allowed in one period.
    pub max: u32,
    /// The length of the period.
    pub per: Duration,
}

impl Rate {
    /// `max` events per `per`.
    pub const fn new(max: u32, per: Duration) -> Self {
        Rate { max, per }
    }
}

/// Flood limits. Each one, when exceeded, ends the connection with GOAWAY
/// ENHANCE_YOUR_CALM.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// Streams the peer opens and then resets itself (rapid reset,
    /// CVE-2023-44487), plus streams we reset because the peer broke a
    /// stream-level rule. Default 1000 per 10 s.
    pub resets: Rate,
    /// PING frames (not acknowledgements) from the peer. Default 1000 per
    /// 10 s.
    pub pings: Rate,
    /// SETTINGS frames (not acknowledgements) from the peer. Default 100
    /// per 10 s.
    pub settings: Rate,
    /// Frames that carry nothing: empty DATA without END_STREAM, PRIORITY
    /// frames, which we do not act on, GOAWAY frames that lower no earlier
    /// GOAWAY's last stream, acknowledgements (PING, SETTINGS) of nothing
    /// we sent, interim (1xx) responses, which gRPC never uses, and frames
    /// of types we do not know (ignored, as RFC 9113 §5.5 asks). Default
    /// 1000 per 10 s.
    pub empty_frames: Rate,
    /// WINDOW_UPDATE frames from the peer beyond those that acknowledge
    /// DATA we sent (each DATA frame we send excuses two: one for its
    /// stream, one for the connection). Default 20000 per 10 s.
    pub window_updates: Rate,
}

impl Default for Limits {
    fn default() -> Self {
        let ten = Duration::from_secs(10);
        Limits {
            resets: Rate::new(1000, ten),
            pings: Rate::new(1000, ten),
            settings: Rate::new(100, ten),
            empty_frames: Rate::new(1000, ten),
            window_updates: Rate::new(20_000, ten),
        }
    }
}

/// gRPC keepalive enforcement on the peer's PINGs (gRPC's keepalive
/// design): a PING that comes sooner than `min_interval` after the last
/// one is a strike; while no stream is open and that is not permitted,
/// the interval is two hours instead, or `min_interval` if that is longer
/// (so the first PING of an idle connection is no strike, but a second
/// within two hours is). More than `max_strikes` strikes end the
/// connection with GOAWAY ENHANCE_YOUR_CALM and debug data
/// `too_many_pings`. Sending HEADERS or DATA resets the strikes and
/// forgets when the last PING came (the next one is no strike), as gRPC
/// servers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingPolicy {
    /// The shortest interval between peer PINGs that is not a strike.
    pub min_interval: Duration,
    /// Whether PINGs are allowed while no stream is open.
    pub permit_without_streams: bool,
    /// Strikes tolerated before the connection is ended.
    pub max_strikes: u32,
}

impl Default for PingPolicy {
    fn default() -> Self {
        PingPolicy {
            min_interval: Duration::from_secs(300),
            permit_without_streams: false,
            max_strikes: 2,
        }
    }
}
