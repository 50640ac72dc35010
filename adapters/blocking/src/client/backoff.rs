//! Reconnection backoff as gRPC's connection-backoff.md describes it: the
//! first retry waits the base delay, each later one the previous times the
//! multiplier, capped; every wait is spread by a random jitter.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Parameters of the reconnection backoff. The defaults are gRPC's: base
/// 1 s, multiplier 1.6, jitter 0.2, at most 120 s.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct BackoffConfig {
    /// The wait before the first retry.
    pub base_delay: Duration,
    /// How much each wait grows.
    pub multiplier: f64,
    /// Each wait is spread uniformly by +/- this fraction.
    pub jitter: f64,
    /// The longest wait (before jitter).
    pub max_delay: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base_delay: Duration::from_secs(1),
            multiplier: 1.6,
            jitter: 0.2,
            max_delay: Duration::from_secs(120),
        }
    }
}

impl BackoffConfig {
    /// A backoff with this base delay and the other defaults.
    pub fn with_base_delay(mut self, base: Duration) -> Self {
        self.base_delay = base;
        self
    }

    /// A backoff with this cap and the other defaults.
    pub fn with_max_delay(mut self, max: Duration) -> Self {
        self.max_delay = max;
        self
    }
}

/// The state of one channel's backoff.
#[derive(Debug)]
pub(crate) struct Backoff {
    config: BackoffConfig,
    current: Duration,
    rng: u64,
}

/// The longest delay taken from the settings (longer ones would overflow
/// the clock they are added to).
pub(crate) const YEAR: Duration = Duration::from_secs(365 * 86_400);

impl Backoff {
    pub(crate) fn new(mut config: BackoffConfig) -> Self {
        config.base_delay = config.base_delay.min(YEAR);
        let mut h = RandomState::new().build_hasher();
        h.write_u64(0x9e37_79b9_7f4a_7c15);
        Backoff {
            config,
            current: config.base_delay,
            rng: h.finish() | 1,
        }
    }

    /// A successful connection starts the sequence over.
    pub(crate) fn reset(&mut self) {
        self.current = self.config.base_delay;
    }

    /// The wait before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = self.current;
        // A ceiling past a year is a year: the delay is added to the
        // clock, which a `Duration::MAX` would overflow.
        let max = self.config.max_delay.min(YEAR);
        // Past what a Duration holds: the ceiling.
        let secs = |x: f64| Duration::try_from_secs_f64(x.max(0.0)).unwrap_or(max);
        let grown = d.as_secs_f64() * self.config.multiplier.max(1.0);
        self.current = secs(grown).min(max);
        let jitter = if self.config.jitter.is_nan() {
            0.0
        } else {
            self.config.jitter.clamp(0.0, 1.0)
        };
        let spread = 1.0 + jitter * (2.0 * self.unit() - 1.0);
        secs(d.as_secs_f64() * spread)
    }

    /// A uniform number in [0, 1) (xorshift64*).
    fn unit(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let x = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_out_of_range_do_not_panic() {
        for (multiplier, jitter, max_delay) in [
            (f64::NAN, f64::NAN, Duration::from_secs(1)),
            (-3.0, -1.0, Duration::from_secs(1)),
            (f64::INFINITY, f64::INFINITY, Duration::from_secs(1)),
            (1e300, 0.2, Duration::MAX),
        ] {
            let mut b = Backoff::new(BackoffConfig {
                base_delay: if max_delay == Duration::MAX {
                    Duration::MAX
                } else {
                    Duration::from_millis(100)
                },
                multiplier,
                jitter,
                max_delay,
                ..BackoffConfig::default()
            });
            for _ in 0..50 {
                let d = b.next_delay();
                assert!(d <= max_delay.min(YEAR) * 2, "{d:?}");
                // It can be added to the clock.
                let _ = std::time::Instant::now() + d;
            }
        }
    }

    #[test]
    fn grows_by_the_multiplier_within_the_jitter_and_caps() {
        let mut b = Backoff::new(BackoffConfig::default());
        let mut expect = 1.0f64;
        for _ in 0..20 {
            let d = b.next_delay().as_secs_f64();
            assert!(
                d >= expect * 0.8 - 1e-9 && d <= expect * 1.2 + 1e-9,
                "{d} vs {expect}"
            );
            expect = (expect * 1.6).min(120.0);
        }
        b.reset();
        let d = b.next_delay().as_secs_f64();
        assert!((0.8..=1.2).contains(&d));
    }
}
