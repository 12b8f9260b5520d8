//! Per-webhook rate limiter: GCRA with reserved slots, plus a pause that a 429
//! puts on the whole webhook.
//!
//! Every attempt, retries included, reserves the next slot of its webhook, so
//! retries never spend more of Slack's budget than first posts. When Slack
//! answers 429 with `Retry-After`, the webhook is paused for everyone until
//! then, but never for longer than the limiter's `max_pause` from the moment
//! the pause is set. A reservation that would land after the stop instant is
//! not taken. Every instant is computed saturating ([`budget::later`]), so no
//! rate, pause or deadline can make the clock arithmetic panic.
//!
//! Written by hand rather than with `governor`: governor answers "now, or not
//! until t" and takes a cell only on success, so each waiter restarts the
//! schedule from the moment it woke up, and tokio's millisecond timer always
//! wakes it a little late. At 20 posts/s with burst 1 that drift stretched 100
//! posts by 2.5 %, wasting Slack's budget. Reserving the slot when the request
//! arrives keeps the schedule exact however late the wake-up.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::budget::later;

/// The longest interval between two posts: a rate below one post in this
/// long is treated as this (configuration refuses such rates anyway).
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// A rate limiter shared by every record posted from this process.
pub struct Limiter {
    /// Time between two posts to one webhook.
    interval: Duration,
    /// How far ahead of its theoretical time a post may go (burst - 1 intervals).
    tolerance: Duration,
    /// The longest a single pause may hold a webhook.
    max_pause: Duration,
    webhooks: Mutex<HashMap<String, Pace>>,
}

/// The pacing state of one webhook.
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// Theoretical arrival time of the next post (GCRA's TAT).
    next: Instant,
    /// No post before this instant (Slack's Retry-After).
    paused_until: Option<Instant>,
}

/// The limiter could not grant a post before the stop instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WouldPassDeadline {
    /// How long the webhook would still have had to wait.
    pub wait: Duration,
}

impl Limiter {
    /// A limiter allowing `rate_per_second` posts per second per webhook, with
    /// bursts of `burst` posts, whose pauses last at most `max_pause`.
    ///
    /// Never panics: a rate that is not a positive finite number, or one so
    /// low that the interval would exceed [`MAX_INTERVAL`], gives one post per
    /// [`MAX_INTERVAL`]; a burst of 0 counts as 1.
    pub fn new(rate_per_second: f64, burst: u32, max_pause: Duration) -> Self {
        let interval = Duration::try_from_secs_f64(1.0 / rate_per_second)
            .ok()
            .filter(|i| rate_per_second > 0.0 && *i <= MAX_INTERVAL)
            .unwrap_or(MAX_INTERVAL);
        Self {
            interval,
            tolerance: interval.saturating_mul(burst.max(1) - 1),
            max_pause,
            webhooks: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until `webhook` may be posted to, having reserved that slot.
    ///
    /// Returns [`WouldPassDeadline`] without reserving when the slot would come
    /// later than `stop_at - room` (room: the time the attempt itself needs).
    pub async fn acquire(
        &self,
        webhook: &str,
        stop_at: Instant,
        room: Duration,
    ) -> Result<(), WouldPassDeadline> {
        loop {
            let slot = self.reserve(webhook, stop_at.checked_sub(room))?;
            if slot > Instant::now() {
                tokio::time::sleep_until(slot).await;
            }
            // A 429 that arrived while we slept pauses us too: reserve again.
            if self.paused_at(webhook, Instant::now()).is_none() {
                return Ok(());
            }
        }
    }

    /// Takes the next slot of `webhook` if it comes no later than `latest`.
    fn reserve(
        &self,
        webhook: &str,
        latest: Option<Instant>,
    ) -> Result<Instant, WouldPassDeadline> {
        let now = Instant::now();
        let mut webhooks = self.lock();
        if !webhooks.contains_key(webhook) {
            // Allocate the key once per webhook, not once per post.
            webhooks.insert(
                webhook.to_string(),
                Pace {
                    next: now,
                    paused_until: None,
                },
            );
        }
        let pace = webhooks.get_mut(webhook).expect("just inserted");
        let earliest = pace.paused_until.map_or(now, |p| p.max(now));
        let next = pace.next.max(earliest);
        let slot = earliest.max(next.checked_sub(self.tolerance).unwrap_or(earliest));
        if latest.is_none_or(|latest| slot > latest) {
            return Err(WouldPassDeadline {
                wait: slot.saturating_duration_since(now),
            });
        }
        pace.next = later(next, self.interval);
        Ok(slot)
    }

    /// Holds every post to `webhook` for `wait` from now (Slack's
    /// `Retry-After`), cut to the limiter's `max_pause`. A pause never shortens
    /// one already in place, and none reaches past `max_pause` from now.
    pub fn pause(&self, webhook: &str, wait: Duration) {
        let now = Instant::now();
        let until = later(now, wait.min(self.max_pause));
        let mut webhooks = self.lock();
        let pace = webhooks.entry(webhook.to_string()).or_insert(Pace {
            next: now,
            paused_until: None,
        });
        pace.paused_until = Some(pace.paused_until.map_or(until, |p| p.max(until)));
    }

    /// Whether a 429 holds `webhook` now.
    pub fn is_paused(&self, webhook: &str) -> bool {
        self.paused_at(webhook, Instant::now()).is_some()
    }

    /// The pause in force on `webhook` at `now`, if any.
    fn paused_at(&self, webhook: &str, now: Instant) -> Option<Instant> {
        self.lock()
            .get(webhook)
            .and_then(|pace| pace.paused_until)
            .filter(|&until| until > now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pace>> {
        self.webhooks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAR: Duration = Duration::from_secs(3600);

    #[tokio::test(start_paused = true)]
    async fn slots_are_exactly_one_interval_apart() {
        let limiter = Limiter::new(20.0, 1, FAR);
        let start = Instant::now();
        let mut slots = Vec::new();
        for _ in 0..5 {
            limiter
                .acquire("wh-a", start + FAR, Duration::ZERO)
                .await
                .unwrap();
            slots.push(Instant::now() - start);
        }
        let ms: Vec<u128> = slots.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 50, 100, 150, 200]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_waiter_does_not_push_the_schedule_back() {
        let limiter = Limiter::new(10.0, 1, FAR);
        let start = Instant::now();
        let first = limiter.reserve("wh-a", Some(start + FAR)).unwrap();
        let second = limiter.reserve("wh-a", Some(start + FAR)).unwrap();
        // Whoever took the second slot wakes 7 ms late; the third is still on time.
        tokio::time::sleep_until(second + Duration::from_millis(7)).await;
        let third = limiter.reserve("wh-a", Some(start + FAR)).unwrap();
        assert_eq!(
            (second - first, third - second),
            (Duration::from_millis(100), Duration::from_millis(100))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_then_the_rate_applies() {
        let limiter = Limiter::new(10.0, 3, FAR);
        let start = Instant::now();
        let slots: Vec<u128> = (0..5)
            .map(|_| (limiter.reserve("wh-a", Some(start + FAR)).unwrap() - start).as_millis())
            .collect();
        assert_eq!(slots, [0, 0, 0, 100, 200]);
    }

    #[tokio::test(start_paused = true)]
    async fn webhooks_have_separate_budgets_and_the_deadline_is_kept() {
        let limiter = Limiter::new(0.001, 1, FAR);
        let soon = Instant::now() + Duration::from_millis(100);
        limiter.acquire("wh-a", soon, Duration::ZERO).await.unwrap();
        limiter.acquire("wh-b", soon, Duration::ZERO).await.unwrap();
        let err = limiter
            .acquire("wh-a", soon, Duration::ZERO)
            .await
            .unwrap_err();
        assert!(err.wait > Duration::from_secs(900));
        // The refused request reserved nothing: wh-a's next slot is unchanged.
        let again = limiter
            .acquire("wh-a", soon, Duration::ZERO)
            .await
            .unwrap_err();
        assert_eq!(again.wait, err.wait);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_the_webhook_and_respects_the_deadline() {
        let limiter = Limiter::new(1000.0, 10, FAR);
        let start = Instant::now();
        limiter.pause("wh-a", Duration::from_millis(150));
        limiter.pause("wh-a", Duration::from_millis(10));
        let err = limiter
            .acquire("wh-a", start + Duration::from_millis(100), Duration::ZERO)
            .await
            .unwrap_err();
        assert_eq!(err.wait, Duration::from_millis(150));
        limiter
            .acquire("wh-a", start + FAR, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(Instant::now() - start, Duration::from_millis(150));
        limiter
            .acquire("wh-b", start + FAR, Duration::ZERO)
            .await
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_set_while_waiting_is_obeyed() {
        let limiter = std::sync::Arc::new(Limiter::new(10.0, 1, FAR));
        let start = Instant::now();
        limiter
            .acquire("wh-a", start + FAR, Duration::ZERO)
            .await
            .unwrap();
        let waiter = {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                limiter
                    .acquire("wh-a", start + FAR, Duration::ZERO)
                    .await
                    .unwrap();
                Instant::now() - start
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        limiter.pause("wh-a", Duration::from_secs(2) - Duration::from_millis(50));
        assert!(waiter.await.unwrap() >= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_never_outlives_the_cap() {
        // Finding 2: a `Retry-After: 3600` held the webhook for an hour.
        let limiter = Limiter::new(1000.0, 1, Duration::from_secs(60));
        let start = Instant::now();
        limiter.pause("wh-a", Duration::from_secs(3600));
        limiter.pause("wh-a", Duration::MAX);
        limiter
            .acquire("wh-a", start + FAR, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(Instant::now() - start, Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn extreme_rates_and_pauses_never_panic() {
        // Finding 4: `RATE_PER_SECOND=1e-30` panicked when the interval was computed.
        for rate in [1e-30, 0.0, -1.0, f64::NAN, f64::INFINITY, f64::MIN_POSITIVE] {
            let limiter = Limiter::new(rate, u32::MAX, Duration::MAX);
            let start = Instant::now();
            limiter.pause("wh-a", Duration::MAX);
            limiter.reserve("wh-b", Some(start + FAR)).unwrap();
            let err = limiter.reserve("wh-a", Some(start + FAR)).unwrap_err();
            assert!(err.wait > FAR, "{rate}");
        }
        let limiter = Limiter::new(1e-30, 1, FAR);
        let start = Instant::now();
        limiter.reserve("wh-a", Some(start + FAR)).unwrap();
        let err = limiter.reserve("wh-a", Some(start + FAR)).unwrap_err();
        assert_eq!(err.wait, MAX_INTERVAL);
    }
}
