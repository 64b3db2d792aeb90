//! A weight-aware token bucket for a venue's REST requests.
//!
//! Reconnecting hundreds of symbols at once must not earn a 429 (or Binance's 418 IP ban, the
//! failure cryptofeed #613 describes): every snapshot request first takes its weight from a
//! bucket that refills at the venue's documented rate, and a 429's `Retry-After` pauses it.
//! Requests that can wait (cross-checks of books in sync) take only what lies above half the
//! bucket, so they never delay a resync.

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
        self.take(weight, 0.0).await;
    }

    /// Waits until `weight` is available on top of half the bucket, then takes it: what a
    /// request that can wait uses, so that urgent ones (resyncs) always find half the bucket
    /// and never queue behind it.
    pub async fn acquire_spare(&self, weight: u32) {
        self.take(weight, self.capacity / 2.0).await;
    }

    /// Waits until `weight` plus `reserve` tokens are there, then takes `weight`.
    async fn take(&self, weight: u32, reserve: f64) {
        let weight = f64::from(weight).min(self.capacity);
        let needed = (weight + reserve).min(self.capacity);
        loop {
            let wait = {
                let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let now = Instant::now();
                let elapsed = now.saturating_duration_since(state.refilled_at).as_secs_f64();
                state.tokens = (state.tokens + elapsed * self.per_second).min(self.capacity);
                state.refilled_at = now;
                match state.paused_until {
                    Some(until) if until > now => until - now,
                    _ if state.tokens >= needed => {
                        state.tokens -= weight;
                        return;
                    }
                    _ => Duration::from_secs_f64((needed - state.tokens) / self.per_second),
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

    #[tokio::test(start_paused = true)]
    async fn spare_requests_leave_half_the_bucket_to_urgent_ones() {
        let limiter = RestLimiter::new(RestLimits { weight_per_minute: 600, snapshot_weight: 50 });
        let start = Instant::now();
        for _ in 0..6 {
            limiter.acquire_spare(50).await;
        }
        assert!(start.elapsed() < Duration::from_millis(10), "the upper half goes at once");
        // The lower half is the urgent requests': six of them pass at once, spare ones wait.
        let urgent = Instant::now();
        for _ in 0..6 {
            limiter.acquire(50).await;
        }
        assert!(urgent.elapsed() < Duration::from_millis(10), "{:?}", urgent.elapsed());
        limiter.acquire_spare(50).await;
        assert!(urgent.elapsed() >= Duration::from_secs(35), "refilled to half plus one: 350 at 10/s");
    }
}
