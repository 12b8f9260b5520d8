//! The limiter side of the shared schedule (`STATE_TABLE` set): each post
//! reserves its slot in the destination's schedule in the state table
//! ([`crate::state::schedule`]), then waits for it. Every process shares one
//! schedule, so the sum Slack sees is the configured rate itself, and
//! `FUNCTION_CONCURRENCY` no longer divides it.
//!
//! Time is wall time in epoch microseconds from a [`Clock`] passed in
//! (processes on different machines share wall time, not `Instant`s); the
//! waits themselves run on tokio's clock.
//!
//! A 429 pauses the destination for every process: the pause is written to
//! the same item, and every later reservation, by any process, lands after
//! it. A post of this process already waiting for its slot when a pause is
//! known here (set by this process, or seen in a reservation's answer)
//! reserves again, as with the in-memory limiter; a pause set by another
//! process is learnt at this process's next reservation, so posts already
//! waiting may still go, and at worst meet a 429 and pause in turn.
//!
//! A state call that fails or takes longer than [`SharedSettings::timeout`]
//! returns the error: the delivery then paces the rest of the invocation
//! with its in-memory share (`RATE_PER_SECOND / N`) and counts the error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::limiter::WouldPassDeadline;
use crate::budget::later;
use crate::destination::Webhooks;
use crate::state::StateError;
use crate::state::schedule::{Rate, Reservation, Schedule};

/// Default [`SharedSettings::timeout`]: one state call, after which the post
/// goes on at the in-memory share.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1_000);

/// Wall time, in epoch microseconds.
pub trait Clock: Send + Sync {
    /// Microseconds since the Unix epoch.
    fn now_us(&self) -> u64;
}

/// The system's wall clock (0 before the epoch).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_us(&self) -> u64 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }
}

/// Wall time that follows tokio's clock from `epoch_us` at creation: under
/// a paused clock (tests) it moves only when tokio's does.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    epoch_us: u64,
    start: Instant,
}

impl TokioClock {
    /// A clock reading `epoch_us` now.
    pub fn starting_at(epoch_us: u64) -> Self {
        Self {
            epoch_us,
            start: Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now_us(&self) -> u64 {
        let elapsed = u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.epoch_us.saturating_add(elapsed)
    }
}

/// The shared schedule's settings: the whole rate, not a process's share.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedSettings {
    /// `RATE_PER_SECOND`, for every process together.
    pub rate_per_second: f64,
    /// `RATE_BURST`, for every process together.
    pub rate_burst: u32,
    /// Longest a 429 may pause a destination (`RETRY_AFTER_MAX_MS`).
    pub max_pause: Duration,
    /// Longest one state call may take before the delivery goes on without.
    pub timeout: Duration,
}

/// Reserves slots in the shared schedule for one process.
pub struct Shared {
    schedule: Arc<dyn Schedule>,
    clock: Arc<dyn Clock>,
    settings: SharedSettings,
    rate: Rate,
    own_rates: HashMap<String, Rate>,
    /// The latest pause known here per destination, epoch microseconds.
    pauses: Mutex<HashMap<String, u64>>,
}

impl Shared {
    /// Slots of `schedule` at `settings`' rate, read on `clock`.
    pub fn new(
        schedule: Arc<dyn Schedule>,
        clock: Arc<dyn Clock>,
        settings: SharedSettings,
    ) -> Self {
        Self {
            rate: Rate::new(settings.rate_per_second, settings.rate_burst),
            schedule,
            clock,
            settings,
            own_rates: HashMap::new(),
            pauses: Mutex::new(HashMap::new()),
        }
    }

    /// The same, pacing destination `name` at `rate_per_second` (its whole
    /// rate) instead.
    pub fn with_rate(mut self, name: &str, rate_per_second: f64) -> Self {
        let rate = Rate::new(rate_per_second, self.settings.rate_burst);
        self.own_rates.insert(name.to_string(), rate);
        self
    }

    /// The same, pacing each of `webhooks` that has a rate of its own at it.
    pub fn with_own_rates(self, webhooks: &Webhooks) -> Self {
        webhooks
            .iter()
            .fold(self, |shared, d| match d.rate_per_second {
                Some(rate) => shared.with_rate(&d.name, rate),
                None => shared,
            })
    }

    /// The schedule on the DynamoDB state table `state` (its client, built
    /// on first use, shared with the claims and threads).
    pub fn on_dynamodb(
        state: Arc<crate::state::dynamodb::DynamoDbState>,
        settings: SharedSettings,
        webhooks: &Webhooks,
    ) -> Self {
        let schedule = crate::state::schedule::DynamoDbSchedule::new(state);
        Self::new(Arc::new(schedule), Arc::new(SystemClock), settings).with_own_rates(webhooks)
    }

    /// Waits until `destination` may be posted to, having reserved that slot
    /// in the shared schedule. `Ok(Err(_))` without reserving when the slot
    /// would come later than `stop_at - room`; `Err` when the table failed
    /// or was slow (nothing is known to be reserved: pace without it).
    pub async fn acquire(
        &self,
        destination: &str,
        stop_at: Instant,
        room: Duration,
    ) -> Result<Result<(), WouldPassDeadline>, StateError> {
        let rate = self
            .own_rates
            .get(destination)
            .copied()
            .unwrap_or(self.rate);
        loop {
            let now = Instant::now();
            let now_us = self.clock.now_us();
            let latest_us = match stop_at.checked_sub(room) {
                Some(latest) if latest >= now => now_us.saturating_add(micros(latest - now)),
                // No time at all: every slot is too late.
                _ => now_us.saturating_sub(1),
            };
            let deadline = later(now, self.settings.timeout).min(stop_at);
            let reservation = self
                .schedule
                .reserve(destination, rate, now_us, latest_us, deadline)
                .await?;
            let at_us = match reservation {
                Reservation::Refused { wait_us, pace } => {
                    self.know_pause(destination, pace.paused_until_us);
                    return Ok(Err(WouldPassDeadline {
                        wait: Duration::from_micros(wait_us),
                    }));
                }
                Reservation::Reserved { at_us, pace } => {
                    self.know_pause(destination, pace.paused_until_us);
                    at_us
                }
            };
            let wait = at_us.saturating_sub(self.clock.now_us());
            if wait > 0 {
                tokio::time::sleep(Duration::from_micros(wait)).await;
            }
            // A pause known here since the reservation holds this post too.
            if self.known_pause(destination) <= self.clock.now_us() {
                return Ok(Ok(()));
            }
        }
    }

    /// Holds every post to `destination`, by every process, for `wait` from
    /// now (cut to `max_pause`). The pause holds this process's posts even
    /// when writing it fails (the error is returned).
    pub async fn pause(&self, destination: &str, wait: Duration) -> Result<(), StateError> {
        let until_us = self
            .clock
            .now_us()
            .saturating_add(micros(wait.min(self.settings.max_pause)));
        self.know_pause(destination, until_us);
        let deadline = later(Instant::now(), self.settings.timeout);
        self.schedule.pause(destination, until_us, deadline).await
    }

    fn know_pause(&self, destination: &str, until_us: u64) {
        if until_us == 0 {
            return;
        }
        let mut pauses = self.pauses.lock().unwrap_or_else(|e| e.into_inner());
        match pauses.get_mut(destination) {
            Some(known) => *known = (*known).max(until_us),
            None => {
                pauses.insert(destination.to_string(), until_us);
            }
        }
    }

    fn known_pause(&self, destination: &str) -> u64 {
        let pauses = self.pauses.lock().unwrap_or_else(|e| e.into_inner());
        pauses.get(destination).copied().unwrap_or(0)
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
