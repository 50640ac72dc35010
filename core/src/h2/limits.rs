//! Counters that police floods of frames on the virtual clock.

use std::time::Instant;

use super::config::Rate;

/// Counts events in fixed periods of a [`Rate`]; reports when one period
/// holds more than the rate allows.
#[derive(Debug, Clone)]
pub(crate) struct RateCounter {
    rate: Rate,
    period_start: Option<Instant>,
    count: u32,
}

impl RateCounter {
    pub(crate) fn new(rate: Rate) -> Self {
        RateCounter {
            rate,
            period_start: None,
            count: 0,
        }
    }

    /// Record one event at `now`. Returns false when the rate is exceeded.
    pub(crate) fn hit(&mut self, now: Instant) -> bool {
        match self.period_start {
            Some(start) if now.saturating_duration_since(start) < self.rate.per => {}
            _ => {
                self.period_start = Some(now);
                self.count = 0;
            }
        }
        self.count = self.count.saturating_add(1);
        self.count <= self.rate.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn allows_max_per_period_then_refuses_then_recovers() {
        let t0 = crate::test_clock::origin();
        let mut c = RateCounter::new(Rate::new(3, Duration::from_secs(1)));
        assert!(c.hit(t0));
        assert!(c.hit(t0));
        assert!(c.hit(t0 + Duration::from_millis(999)));
        assert!(!c.hit(t0 + Duration::from_millis(999)));
        assert!(c.hit(t0 + Duration::from_secs(1)));
    }
}
