//! Flow-control windows (RFC 9113 §5.2, §6.9).
//!
//! A window is signed: a SETTINGS_INITIAL_WINDOW_SIZE decrease can push a
//! stream's send window below zero (§6.9.2), and it must then climb back
//! above zero through WINDOW_UPDATE before anything is sent.

/// The largest window RFC 9113 allows (2^31 - 1).
pub(crate) const MAX_WINDOW: i64 = (1 << 31) - 1;

/// The initial window every peer starts with, before SETTINGS.
pub(crate) const DEFAULT_WINDOW: u32 = 65_535;

/// A flow-control window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window(i64);

/// A window would pass 2^31 - 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overflow;

impl Window {
    pub(crate) fn new(size: u32) -> Self {
        Window(i64::from(size))
    }

    /// What may be sent or received now (zero when negative).
    pub(crate) fn available(self) -> u32 {
        u32::try_from(self.0.max(0)).unwrap_or(u32::MAX)
    }

    /// The signed value.
    pub(crate) fn value(self) -> i64 {
        self.0
    }

    /// Widen by a WINDOW_UPDATE increment or a settings delta.
    pub(crate) fn grow(&mut self, by: i64) -> Result<(), Overflow> {
        let next = self.0 + by;
        if next > MAX_WINDOW {
            return Err(Overflow);
        }
        self.0 = next;
        Ok(())
    }

    /// Take `n` bytes that were sent or received. Receiving checks
    /// `n <= available()` first; this never fails.
    pub(crate) fn consume(&mut self, n: u32) {
        self.0 -= i64::from(n);
    }
}

/// Receive-side bookkeeping: the window the peer sees, plus bytes the
/// application has consumed that we have not yet announced with
/// WINDOW_UPDATE. Updates are batched: one is sent once the unannounced
/// bytes reach a quarter of the target window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecvFlow {
    pub(crate) window: Window,
    /// Consumed but not yet announced.
    pub(crate) unannounced: u32,
    /// The window we aim to keep open.
    pub(crate) target: u32,
}

impl RecvFlow {
    pub(crate) fn new(initial: u32, target: u32) -> Self {
        RecvFlow {
            window: Window::new(initial),
            unannounced: 0,
            target,
        }
    }

    /// Does a frame of `n` flow-controlled bytes fit?
    pub(crate) fn admits(&self, n: u32) -> bool {
        i64::from(n) <= self.window.value()
    }

    /// The application consumed `n` bytes. Returns the increment to announce
    /// now, if the batch is big enough.
    pub(crate) fn release(&mut self, n: u32) -> Option<u32> {
        self.unannounced = self.unannounced.saturating_add(n);
        let threshold = (self.target / 4).max(1);
        let room = MAX_WINDOW - self.window.value();
        let inc = i64::from(self.unannounced).min(room);
        if self.unannounced >= threshold && inc > 0 {
            let inc = u32::try_from(inc).unwrap_or(0);
            self.unannounced -= inc;
            self.window.0 += i64::from(inc);
            Some(inc)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9113_6_9_1_window_may_not_exceed_2_pow_31_minus_1() {
        let mut w = Window::new(DEFAULT_WINDOW);
        assert_eq!(w.grow(MAX_WINDOW - 65_535), Ok(()));
        assert_eq!(w.grow(1), Err(Overflow));
        assert_eq!(w.value(), MAX_WINDOW);
    }

    #[test]
    fn rfc9113_6_9_2_window_can_go_negative() {
        let mut w = Window::new(100);
        w.consume(100);
        w.grow(-50).unwrap();
        assert_eq!(w.value(), -50);
        assert_eq!(w.available(), 0);
        w.grow(60).unwrap();
        assert_eq!(w.available(), 10);
    }

    #[test]
    fn updates_are_batched_at_a_quarter_of_the_target() {
        let mut r = RecvFlow::new(1000, 1000);
        r.window.consume(600);
        assert_eq!(r.release(100), None);
        assert_eq!(r.release(149), None);
        assert_eq!(r.release(1), Some(250));
        assert_eq!(r.window.value(), 650);
        assert_eq!(r.unannounced, 0);
    }
}
