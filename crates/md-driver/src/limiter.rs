//! A weight-aware token bucket for a venue's REST requests.
//!
//! Reconnecting hundreds of symbols at once must not earn a 429 (or Binance's 418 IP ban, the
//! failure cryptofeed #613 describes): every snapshot request first takes its weight from a
//! bucket that refills at the venue's documented rate, and a 429's `Retry-After` pauses it.

use std::sync::Mutex;
use std::time::Duration;

use md_core::RestLimits;
use tokio::time::Instant;

/// Shared by every connection of one venue.
#[derive(Debug)]
pub struct RestLimiter {
    capacity: f64,
    per_second: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    refilled_at: Instant,
    paused_until: Option<Instant>,
}

impl RestLimiter {
    /// A full bucket for these limits.
    pub fn new(limits: RestLimits) -> Self {
        let capacity = f64::from(limits.weight_per_minute.max(1));
        Self {
            capacity,
            per_second: capacity / 60.0,
            state: Mutex::new(State { tokens: capacity, refilled_at: Instant::now(), paused_until: None }),
        }
    }

    /// Waits until `weight` is available, then takes it.
    pub async fn acquire(&self, weight: u32) {
        let weight = f64::from(weight).min(self.capacity);
        loop {
            let wait = {
                let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let now = Instant::now();
                let elapsed = now.saturating_duration_since(state.refilled_at).as_secs_f64();
                state.tokens = (state.tokens + elapsed * self.per_second).min(self.capacity);
                state.refilled_at = now;
                match state.paused_until {
                    Some(until) if until > now => until - now,
                    _ if state.tokens >= weight => {
                        state.tokens -= weight;
                        return;
                    }
                    _ => Duration::from_secs_f64((weight - state.tokens) / self.per_second),
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Stops all requests for `duration` (the venue's `Retry-After`), and empties the bucket:
    /// a venue that said 429 has counted more weight than we did.
    pub fn pause(&self, duration: Duration) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let until = Instant::now() + duration;
        state.paused_until = Some(state.paused_until.map_or(until, |u| u.max(until)));
        state.tokens = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spends_refills_and_pauses() {
        let limiter = RestLimiter::new(RestLimits { weight_per_minute: 600, snapshot_weight: 50 });
        let start = Instant::now();
        for _ in 0..12 {
            limiter.acquire(50).await;
        }
        assert!(start.elapsed() < Duration::from_millis(10), "a full bucket pays 600 at once");
        limiter.acquire(50).await;
        assert!(start.elapsed() >= Duration::from_secs(5), "then 10 weight per second");
        limiter.pause(Duration::from_secs(30));
        let paused = Instant::now();
        limiter.acquire(1).await;
        assert!(paused.elapsed() >= Duration::from_secs(30));
    }
}
