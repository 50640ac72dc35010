//! Errors of the HTTP/2 connection layer: why a connection ended, and why
//! an application action was refused.

use std::fmt;

use bytes::Bytes;

use crate::frame::{Reason, StreamId};

/// Who started an error or a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// This endpoint (because the peer broke a rule, or the application
    /// asked for it).
    Local,
    /// The remote peer.
    Remote,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionError {
    /// A GOAWAY ended the connection: ours (the peer broke a rule of RFC
    /// 9113 or one of our limits; `code` is what we sent) or the peer's
    /// (an error code other than NO_ERROR).
    GoAway {
        /// The HTTP/2 error code on the wire.
        code: Reason,
        /// Debug data: ours names the rule that was broken.
        debug_data: Bytes,
        /// Who sent the GOAWAY.
        initiator: Initiator,
    },
    /// The first bytes from the client were an HTTP/1.x request. A plain
    /// HTTP/1.1 error response has been queued for transmission.
    Http1Request,
    /// The transport ended (end of file) while the connection was still in
    /// use, or before the handshake finished.
    TransportClosed,
    /// The peer did not acknowledge our SETTINGS in time (GOAWAY
    /// SETTINGS_TIMEOUT was sent).
    SettingsTimeout,
    /// A keepalive PING was not acknowledged in time.
    KeepaliveTimeout,
}

impl ConnectionError {
    /// A GOAWAY we send because of a rule the peer broke.
    pub(crate) fn local(code: Reason, why: &'static str) -> Self {
        ConnectionError::GoAway {
            code,
            debug_data: Bytes::from_static(why.as_bytes()),
            initiator: Initiator::Local,
        }
    }

    /// The HTTP/2 error code on the wire, where there is one.
    pub fn code(&self) -> Option<Reason> {
        match self {
            ConnectionError::GoAway { code, .. } => Some(*code),
            ConnectionError::SettingsTimeout => Some(Reason::SETTINGS_TIMEOUT),
            _ => None,
        }
    }
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionError::GoAway {
                code,
                debug_data,
                initiator,
            } => {
                let who = match initiator {
                    Initiator::Local => "sent",
                    Initiator::Remote => "received",
                };
                write!(f, "GOAWAY {code} {who}")?;
                if !debug_data.is_empty() {
                    write!(f, ": {}", String::from_utf8_lossy(debug_data))?;
                }
                Ok(())
            }
            ConnectionError::Http1Request => f.write_str("peer spoke HTTP/1.x, not HTTP/2"),
            ConnectionError::TransportClosed => f.write_str("transport closed"),
            ConnectionError::SettingsTimeout => f.write_str("SETTINGS not acknowledged in time"),
            ConnectionError::KeepaliveTimeout => f.write_str("keepalive PING not acknowledged"),
        }
    }
}

impl std::error::Error for ConnectionError {}

/// Why an application action was refused. None of these is caused by peer
/// bytes alone; each says what the caller must do differently or wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The stream is not known (never opened, or closed and forgotten).
    UnknownStream(StreamId),
    /// The stream can no longer carry what was asked: its sending side is
    /// closed or it was reset.
    StreamClosed(StreamId),
    /// The stream's send queue is full; wait for
    /// [`Event::Writable`](super::Event::Writable).
    Blocked(StreamId),
    /// Opening a stream would pass the peer's SETTINGS_MAX_CONCURRENT_STREAMS;
    /// wait for a stream to close ([`Event::StreamCapacity`](super::Event::StreamCapacity)).
    ConcurrencyLimit,
    /// This connection has used all its stream identifiers; open a new
    /// connection.
    StreamIdsExhausted,
    /// The connection is shutting down (a GOAWAY was sent or received); no
    /// new streams.
    GoingAway,
    /// The connection has ended.
    ConnectionClosed,
    /// The action is not allowed for this role (for example a server
    /// opening a stream).
    WrongRole,
    /// Too many PINGs of ours are outstanding.
    TooManyPings,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::UnknownStream(id) => write!(f, "unknown stream {id}"),
            SendError::StreamClosed(id) => write!(f, "stream {id} is closed for sending"),
            SendError::Blocked(id) => write!(f, "stream {id} send queue is full"),
            SendError::ConcurrencyLimit => f.write_str("peer's concurrent stream limit reached"),
            SendError::StreamIdsExhausted => f.write_str("stream identifiers exhausted"),
            SendError::GoingAway => f.write_str("connection is going away"),
            SendError::ConnectionClosed => f.write_str("connection closed"),
            SendError::WrongRole => f.write_str("not allowed for this role"),
            SendError::TooManyPings => f.write_str("too many outstanding pings"),
        }
    }
}

impl std::error::Error for SendError {}
