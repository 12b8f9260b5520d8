//! Per-webhook rate limiter: a keyed GCRA (`governor`) plus a pause that a 429
//! puts on the whole webhook.
//!
//! Every attempt, retries included, takes a cell from the limiter, so retries
//! never spend more of Slack's budget than first posts. When Slack answers 429
//! with `Retry-After`, the webhook is paused for everyone until then, not only
//! for the record that saw it. Waits are deadline-aware: a wait that would end
//! after the stop instant is not started.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// A rate limiter shared by every record posted from this process.
pub struct Limiter {
    rate: RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>,
    paused_until: Mutex<HashMap<String, Instant>>,
}

/// The limiter could not grant a post before the stop instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WouldPassDeadline {
    /// How long the webhook would still have had to wait.
    pub wait: Duration,
}

impl Limiter {
    /// A limiter allowing `rate_per_second` posts per second per webhook, with
    /// bursts of `burst` posts. `rate_per_second` must be positive and finite.
    pub fn new(rate_per_second: f64, burst: u32) -> Self {
        let period = Duration::from_secs_f64(1.0 / rate_per_second).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .expect("period is positive")
            .allow_burst(NonZeroU32::new(burst.max(1)).expect("burst is at least 1"));
        Self {
            rate: RateLimiter::keyed(quota),
            paused_until: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until `webhook` may be posted to, and takes that slot.
    ///
    /// Returns [`WouldPassDeadline`] without waiting when the slot would come
    /// later than `stop_at - room` (room: the time the attempt itself needs).
    pub async fn acquire(
        &self,
        webhook: &str,
        stop_at: Instant,
        room: Duration,
    ) -> Result<(), WouldPassDeadline> {
        let key = webhook.to_string();
        loop {
            let now = Instant::now();
            let latest = stop_at.checked_sub(room).unwrap_or(now);
            if let Some(until) = self.paused(&key).filter(|&until| until > now) {
                if until > latest {
                    return Err(WouldPassDeadline { wait: until - now });
                }
                tokio::time::sleep_until(until).await;
                continue;
            }
            match self.rate.check_key(&key) {
                Ok(()) => return Ok(()),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.rate.clock().now());
                    if now + wait > latest {
                        return Err(WouldPassDeadline { wait });
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Holds every post to `webhook` until `until` (Slack's `Retry-After`).
    /// A pause never shortens one already in place.
    pub fn pause(&self, webhook: &str, until: Instant) {
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        let entry = paused.entry(webhook.to_string()).or_insert(until);
        *entry = (*entry).max(until);
    }

    fn paused(&self, webhook: &str) -> Option<Instant> {
        let paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        paused.get(webhook).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spaces_posts_at_the_configured_rate() {
        let limiter = Limiter::new(20.0, 1);
        let far = Instant::now() + Duration::from_secs(60);
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire("wh-a", far, Duration::ZERO).await.unwrap();
        }
        // Four gaps of 50 ms after the first, immediate, post.
        assert!(
            start.elapsed() >= Duration::from_millis(195),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn webhooks_have_separate_budgets() {
        let limiter = Limiter::new(0.001, 1);
        let soon = Instant::now() + Duration::from_millis(100);
        limiter.acquire("wh-a", soon, Duration::ZERO).await.unwrap();
        limiter.acquire("wh-b", soon, Duration::ZERO).await.unwrap();
        let err = limiter
            .acquire("wh-a", soon, Duration::ZERO)
            .await
            .unwrap_err();
        assert!(err.wait > Duration::from_secs(900));
    }

    #[tokio::test]
    async fn a_pause_holds_the_webhook_and_respects_the_deadline() {
        let limiter = Limiter::new(1000.0, 10);
        let start = Instant::now();
        limiter.pause("wh-a", start + Duration::from_millis(150));
        limiter.pause("wh-a", start + Duration::from_millis(10));
        let err = limiter
            .acquire("wh-a", start + Duration::from_millis(100), Duration::ZERO)
            .await
            .unwrap_err();
        assert!(err.wait > Duration::from_millis(100));
        limiter
            .acquire("wh-a", start + Duration::from_secs(5), Duration::ZERO)
            .await
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(150));
        limiter
            .acquire("wh-b", start, Duration::ZERO)
            .await
            .unwrap();
    }
}
