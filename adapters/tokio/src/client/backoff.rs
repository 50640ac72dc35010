//! Reconnection backoff as gRPC's connection-backoff document describes
//! it: a first delay, growing by a multiplier up to a ceiling, each delay
//! spread by a random jitter, and a minimum time every connection attempt
//! is given.

use std::time::{Duration, Instant};

/// The parameters of reconnection backoff. The defaults are gRPC's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    /// The delay after the first failure. Default 1 s.
    pub base_delay: Duration,
    /// How much each delay grows. Default 1.6.
    pub multiplier: f64,
    /// How much each delay is randomised, as a fraction of it (0.2 gives
    /// ±20%). Default 0.2.
    pub jitter: f64,
    /// The longest delay. Default 120 s.
    pub max_delay: Duration,
    /// The least time one connection attempt is given. Default 20 s.
    pub min_connect_timeout: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base_delay: Duration::from_secs(1),
            multiplier: 1.6,
            jitter: 0.2,
            max_delay: Duration::from_secs(120),
            min_connect_timeout: Duration::from_secs(20),
        }
    }
}

/// The longest delay taken from the settings (longer ones would overflow
/// the clock they are added to).
const YEAR: Duration = Duration::from_secs(365 * 86_400);

/// The state of one run of attempts.
#[derive(Debug)]
pub(crate) struct Backoff {
    config: BackoffConfig,
    current: Duration,
    /// When the next attempt may start.
    pub(crate) deadline: Instant,
    rng: u64,
}

impl Backoff {
    pub(crate) fn new(mut config: BackoffConfig, now: Instant, seed: u64) -> Self {
        config.base_delay = config.base_delay.min(YEAR);
        Backoff {
            config,
            current: config.base_delay,
            deadline: now + config.base_delay,
            rng: seed | 1,
        }
    }

    /// Start over (after a connection became ready).
    pub(crate) fn reset(&mut self, now: Instant) {
        self.current = self.config.base_delay;
        self.deadline = now + self.current;
    }

    /// How long an attempt starting at `now` may take.
    pub(crate) fn attempt_timeout(&self, now: Instant) -> Duration {
        self.deadline
            .saturating_duration_since(now)
            .max(self.config.min_connect_timeout)
    }

    /// An attempt failed and its delay passed: compute the next delay.
    /// Settings out of range are taken at their nearest sense: a
    /// multiplier below 1 (or NaN) as 1, a jitter outside [0, 1] (or NaN)
    /// clamped to it (NaN as 0).
    pub(crate) fn advance(&mut self, now: Instant) {
        // A ceiling past a year is a year: the delay is added to the
        // clock, which a `Duration::MAX` would overflow.
        let max = self.config.max_delay.min(YEAR);
        let secs = |x: f64| Duration::try_from_secs_f64(x.max(0.0)).unwrap_or(max);
        let grown = self.current.as_secs_f64() * self.config.multiplier.max(1.0);
        self.current = secs(grown).min(max);
        let jitter = if self.config.jitter.is_nan() {
            0.0
        } else {
            self.config.jitter.clamp(0.0, 1.0)
        };
        let spread = self.current.as_secs_f64() * jitter;
        let offset = (self.uniform() * 2.0 - 1.0) * spread;
        let delay = secs(self.current.as_secs_f64() + offset);
        self.deadline = now + delay;
    }

    /// A number in [0, 1) from a xorshift generator (jitter needs no
    /// better randomness).
    fn uniform(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The current delay before jitter.
    #[cfg(test)]
    pub(crate) fn current(&self) -> Duration {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_out_of_range_do_not_panic() {
        let now = Instant::now();
        for (multiplier, jitter) in [
            (f64::NAN, f64::NAN),
            (-3.0, -1.0),
            (f64::INFINITY, f64::INFINITY),
            (0.5, 7.0),
        ] {
            let config = BackoffConfig {
                base_delay: Duration::from_millis(100),
                multiplier,
                jitter,
                max_delay: Duration::from_secs(1),
                ..BackoffConfig::default()
            };
            let mut b = Backoff::new(config, now, 7);
            for _ in 0..50 {
                b.advance(now);
                assert!(b.current() >= Duration::from_millis(100), "{config:?}");
                assert!(b.current() <= Duration::from_secs(1), "{config:?}");
                assert!(b.deadline <= now + Duration::from_secs(2), "{config:?}");
            }
        }
        // A ceiling past what a Duration of f64 seconds holds.
        let config = BackoffConfig {
            base_delay: Duration::MAX,
            max_delay: Duration::MAX,
            multiplier: 1e300,
            ..BackoffConfig::default()
        };
        let mut b = Backoff::new(config, now, 7);
        for _ in 0..5 {
            b.advance(now);
            assert!(b.deadline > now + Duration::from_secs(86_400));
        }
    }

    #[test]
    fn grows_by_the_multiplier_up_to_the_ceiling_with_bounded_jitter() {
        let now = Instant::now();
        let mut b = Backoff::new(BackoffConfig::default(), now, 42);
        assert_eq!(b.deadline, now + Duration::from_secs(1));
        assert_eq!(b.attempt_timeout(now), Duration::from_secs(20));
        let mut expect = 1.0f64;
        for _ in 0..20 {
            b.advance(now);
            expect = (expect * 1.6).min(120.0);
            assert!((b.current().as_secs_f64() - expect).abs() < 1e-6);
            let d = b.deadline.duration_since(now).as_secs_f64();
            assert!(
                d >= expect * 0.8 - 1e-6 && d <= expect * 1.2 + 1e-6,
                "{d} vs {expect}"
            );
        }
        assert_eq!(b.current(), Duration::from_secs(120));
        b.reset(now);
        assert_eq!(b.current(), Duration::from_secs(1));
    }
}
