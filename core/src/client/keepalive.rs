//! The keepalive interval a channel gives its connections, and how a
//! server's complaint about it raises it (gRFC A8).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::frame::Reason;

/// The debug data of the GOAWAY a server sends a client that pings more
/// often than it allows (ENHANCE_YOUR_CALM).
pub const TOO_MANY_PINGS: &[u8] = b"too_many_pings";

/// A channel's keepalive interval for the connections it makes: the one
/// configured, doubled each time a server sends a connection that pinged
/// at the current one away with GOAWAY ENHANCE_YOUR_CALM
/// "too_many_pings" (gRFC A8, as grpc-go's channels do). The channel
/// keeps one, hands [`interval`](Self::interval) to each new connection's
/// configuration, and reports each GOAWAY its connections receive; it
/// may be shared between threads (behind an `Arc`).
///
/// ```
/// use std::time::Duration;
/// use grpc_sansio::client::{ChannelKeepalive, TOO_MANY_PINGS};
/// use grpc_sansio::frame::Reason;
///
/// let k = ChannelKeepalive::new(Some(Duration::from_secs(10)));
/// let used = k.interval();
/// k.on_goaway(used, Reason::ENHANCE_YOUR_CALM, TOO_MANY_PINGS);
/// assert_eq!(k.interval(), Some(Duration::from_secs(20)));
/// k.on_goaway(used, Reason::NO_ERROR, b"");
/// assert_eq!(k.interval(), Some(Duration::from_secs(20)));
/// ```
#[derive(Debug)]
pub struct ChannelKeepalive {
    interval: Mutex<Option<Duration>>,
}

impl ChannelKeepalive {
    /// Starting from the configured `interval` (`None`: no keepalive).
    pub fn new(interval: Option<Duration>) -> ChannelKeepalive {
        ChannelKeepalive {
            interval: Mutex::new(interval),
        }
    }

    /// The interval for the next connection.
    pub fn interval(&self) -> Option<Duration> {
        *self.interval.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection that pinged every `used` received a GOAWAY with `code`
    /// and `debug_data`. If the server sent it away for pinging too often,
    /// later connections ping half as often (never less than twice
    /// `used`, so that several connections sent away together double it
    /// once).
    pub fn on_goaway(&self, used: Option<Duration>, code: Reason, debug_data: &[u8]) {
        if code != Reason::ENHANCE_YOUR_CALM || debug_data != TOO_MANY_PINGS {
            return;
        }
        let Some(used) = used else {
            return;
        };
        let doubled = used.saturating_mul(2);
        let mut interval = self.interval.lock().unwrap_or_else(PoisonError::into_inner);
        if interval.is_some_and(|t| t < doubled) {
            *interval = Some(doubled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_once_for_connections_sent_away_together() {
        let s = Duration::from_secs;
        let k = ChannelKeepalive::new(Some(s(5)));
        for _ in 0..3 {
            k.on_goaway(Some(s(5)), Reason::ENHANCE_YOUR_CALM, TOO_MANY_PINGS);
        }
        assert_eq!(k.interval(), Some(s(10)));
        k.on_goaway(Some(s(10)), Reason::ENHANCE_YOUR_CALM, TOO_MANY_PINGS);
        assert_eq!(k.interval(), Some(s(20)));
        // Other GOAWAYs leave it alone.
        k.on_goaway(Some(s(20)), Reason::ENHANCE_YOUR_CALM, b"other");
        k.on_goaway(Some(s(20)), Reason::NO_ERROR, TOO_MANY_PINGS);
        assert_eq!(k.interval(), Some(s(20)));
        // A channel without keepalive stays without.
        let none = ChannelKeepalive::new(None);
        none.on_goaway(None, Reason::ENHANCE_YOUR_CALM, TOO_MANY_PINGS);
        assert_eq!(none.interval(), None);
        // Doubling saturates.
        let max = ChannelKeepalive::new(Some(Duration::MAX));
        max.on_goaway(
            Some(Duration::MAX),
            Reason::ENHANCE_YOUR_CALM,
            TOO_MANY_PINGS,
        );
        assert_eq!(max.interval(), Some(Duration::MAX));
    }
}
