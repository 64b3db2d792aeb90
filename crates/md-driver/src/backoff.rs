//! Reconnect delays: exponential with jitter, reset after a healthy connection.

use std::time::Duration;

/// How reconnect delays grow.
#[derive(Debug, Clone, PartialEq)]
pub struct BackoffConfig {
    /// The delay before retrying a connection that had been healthy: one quick retry, because a
    /// single drop (a venue's load balancer recycling) is the common case and every second of
    /// delay is a second of missed data.
    pub first_retry: Duration,
    /// The first delay of the exponential sequence after that.
    pub initial: Duration,
    /// The ceiling of the sequence.
    pub max: Duration,
    /// A connection that lived this long was healthy: the sequence starts over.
    pub reset_after: Duration,
    /// Each delay is scaled by a random factor in `1 ± jitter`, so that many connections
    /// dropped together do not reconnect in lockstep.
    pub jitter: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            first_retry: Duration::from_millis(100),
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            reset_after: Duration::from_secs(60),
            jitter: 0.2,
        }
    }
}

/// A jitter seed from this process's identity and `parts` (venue, connection, symbol).
///
/// Mixed with a key drawn at random once per process (std's `RandomState`), so that the same
/// connection of two recorders, or of one recorder restarted, never reconnects in step with
/// another, and two connections of one process differ too.
pub fn seed_for(parts: &[&str]) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> = std::sync::OnceLock::new();
    let mut hasher = KEY.get_or_init(std::collections::hash_map::RandomState::new).build_hasher();
    std::process::id().hash(&mut hasher);
    parts.hash(&mut hasher);
    hasher.finish()
}

/// The state of one connection's delay sequence.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// A fresh sequence; `seed` varies the jitter between connections.
    pub fn new(config: BackoffConfig, seed: u64) -> Self {
        Self { config, attempt: 0, rng: seed ^ 0x9e37_79b9_7f4a_7c15 }
    }

    /// The next delay: `first_retry`, then `initial`, doubling up to `max`, each jittered.
    pub fn next_delay(&mut self) -> Duration {
        let base = match self.attempt {
            0 => self.config.first_retry,
            n => {
                let doubled = self.config.initial.saturating_mul(1u32 << (n - 1).min(16));
                doubled.min(self.config.max)
            }
        };
        self.attempt = self.attempt.saturating_add(1);
        let factor = 1.0 + self.config.jitter * (2.0 * self.unit() - 1.0);
        base.mul_f64(factor.max(0.0))
    }

    /// Starts the sequence over (after a healthy connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// A uniform number in [0, 1) from splitmix64: no dependency for a few random bits.
    fn unit(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_resets() {
        let config = BackoffConfig { jitter: 0.0, ..BackoffConfig::default() };
        let mut backoff = Backoff::new(config, 1);
        let delays: Vec<u64> = (0..10).map(|_| backoff.next_delay().as_millis() as u64).collect();
        assert_eq!(delays, [100, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn connections_of_one_process_and_of_different_venues_draw_different_delays() {
        let first = |parts: &[&str]| Backoff::new(BackoffConfig::default(), seed_for(parts)).next_delay();
        let delays: Vec<Duration> = [["binance", "1"], ["bybit", "1"], ["huobi", "1"], ["binance", "2"]]
            .iter()
            .map(|p| first(p))
            .collect();
        for (i, a) in delays.iter().enumerate() {
            for b in &delays[i + 1..] {
                assert_ne!(a, b, "same plan index, different venue or slot: not in lockstep");
            }
        }
        assert_eq!(seed_for(&["binance", "1"]), seed_for(&["binance", "1"]), "stable within a process");
    }

    #[test]
    fn jitter_stays_in_bounds_and_varies() {
        let mut backoff = Backoff::new(BackoffConfig::default(), 7);
        backoff.next_delay();
        let delays: Vec<Duration> = (0..50)
            .map(|_| {
                backoff.reset();
                backoff.next_delay();
                backoff.next_delay()
            })
            .collect();
        assert!(delays.iter().all(|d| *d >= Duration::from_millis(800) && *d <= Duration::from_millis(1200)));
        assert!(delays.windows(2).any(|w| w[0] != w[1]));
    }
}
