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
    pub(crate) fn new(config: BackoffConfig, now: Instant, seed: u64) -> Self {
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
    pub(crate) fn advance(&mut self, now: Instant) {
        let grown = self.current.as_secs_f64() * self.config.multiplier;
        self.current = Duration::from_secs_f64(grown.min(self.config.max_delay.as_secs_f64()));
        let spread = self.current.as_secs_f64() * self.config.jitter;
        let offset = (self.uniform() * 2.0 - 1.0) * spread;
        let delay = (self.current.as_secs_f64() + offset).max(0.0);
        self.deadline = now + Duration::from_secs_f64(delay);
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
