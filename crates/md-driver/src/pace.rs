//! The venue's client message rate, kept exactly: at most N messages in any window of one
//! second. A burst of N goes out at once (a reconnect's subscriptions and snapshot requests),
//! and never N + 1, which a fixed-interval pacer would only achieve by being N times slower.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// A sliding-window rate limit.
#[derive(Debug)]
pub(crate) struct Pace {
    max: usize,
    window: Duration,
    sent: VecDeque<Instant>,
}

impl Pace {
    /// At most `per_second` messages in any second (with a small margin for clock jitter).
    pub(crate) fn new(per_second: u32) -> Self {
        let max = per_second.max(1) as usize;
        Self { max, window: Duration::from_millis(1050), sent: VecDeque::with_capacity(max) }
    }

    /// When the next message may go: `now` or later.
    pub(crate) fn next_slot(&mut self, now: Instant) -> Instant {
        while self.sent.front().is_some_and(|&t| now.saturating_duration_since(t) >= self.window) {
            self.sent.pop_front();
        }
        if self.sent.len() < self.max {
            now
        } else {
            self.sent.front().map_or(now, |&oldest| oldest + self.window)
        }
    }

    /// Records a message sent now.
    pub(crate) fn sent(&mut self, now: Instant) {
        self.sent.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_up_to_the_limit_then_waits_for_the_window() {
        let start = Instant::now();
        let mut pace = Pace::new(5);
        for _ in 0..5 {
            assert_eq!(pace.next_slot(start), start);
            pace.sent(start);
        }
        let next = pace.next_slot(start);
        assert_eq!(next, start + Duration::from_millis(1050));
        // In any window, never more than five.
        let mut times = vec![start; 5];
        let mut now = next;
        for _ in 0..20 {
            now = pace.next_slot(now);
            pace.sent(now);
            times.push(now);
        }
        for (i, t) in times.iter().enumerate() {
            let in_window =
                times[i..].iter().filter(|u| u.duration_since(*t) < Duration::from_secs(1)).count();
            assert!(in_window <= 5, "{in_window} messages within a second");
        }
    }
}
