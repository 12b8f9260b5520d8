//! The shared rate schedule: one GCRA schedule per destination, kept in the
//! state table so that every process paces against the same slots.
//!
//! One item per destination, `pk` = `rate#<destination>` (attribute names
//! exact): `kind` = `rate`, `tat_us` (GCRA's theoretical arrival time of the
//! next post) and `paused_until_us` (no post before it: a 429's
//! `Retry-After`), both Numbers of epoch **microseconds** (a 1/3 s interval
//! is not a whole number of milliseconds, and rates go up to 10^6/s). The item
//! has no `expires_at`: there is one per destination, a few dozen bytes, and
//! a schedule must never vanish while its slots are still ahead.
//!
//! Time is wall time in epoch microseconds passed in by the caller:
//! processes on different machines share wall time, not tokio `Instant`s.
//!
//! [`step`] is the pure GCRA step, the same as the in-memory
//! [`crate::delivery::limiter::Limiter`]'s: the slot is the theoretical
//! arrival time less the burst tolerance, never before now or the pause, and
//! taking it moves the theoretical arrival time one interval on, so it is at
//! most `RATE_BURST` intervals ahead of the slot. A slot later than the
//! caller's `latest` is refused and nothing is reserved.
//!
//! **One conditional write per post** ([`DynamoDbSchedule`]). DynamoDB cannot
//! compute a `max` in an update, so the adapter picks the case from what it
//! last saw of the item (a lower bound: `tat_us` and `paused_until_us` only
//! grow) and lets the condition check it:
//!
//! - *busy* (the schedule is ahead of now): `SET tat_us = tat_us + :interval`
//!   if `tat_us > :earliest AND tat_us <= :latest + tolerance` and no pause
//!   beyond `:earliest`. Every process's increment commutes, so any number of
//!   them reserve back to back without a conflict;
//! - *idle* (the schedule is behind now, or the item is new):
//!   `SET tat_us = :earliest + :interval` if `tat_us <= :earliest`.
//!
//! When the condition fails, DynamoDB returns the item (or it is read
//! consistently) and the step is taken again on it: a refusal costs nothing
//! more, another case one more write. A conflict happens only when two
//! processes find an idle schedule at once, or a pause appeared.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use futures::future::BoxFuture;
use tokio::time::Instant;

use super::dynamodb::{DynamoDbState, bounded, service_error};
use super::{PK, RETRYABLE, StateError};

/// The longest interval between two posts, in microseconds (one day, as
/// [`crate::delivery::limiter::MAX_INTERVAL`]).
pub const MAX_INTERVAL_US: u64 = 24 * 3600 * 1_000_000;

/// Writes one reservation may take when it keeps meeting another process's
/// change (each failed condition returns the item, so the next is informed).
const MAX_WRITES: usize = 4;

/// A destination's rate as the schedule needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Microseconds between two posts.
    pub interval_us: u64,
    /// How far ahead of its theoretical time a post may go (`burst - 1`
    /// intervals), in microseconds.
    pub tolerance_us: u64,
}

impl Rate {
    /// `rate_per_second` posts per second with bursts of `burst`. The
    /// interval is rounded up to the microsecond, so the pace never exceeds
    /// the rate. Never panics: a rate that is not a positive finite number,
    /// or below one post in [`MAX_INTERVAL_US`], gives one post per
    /// [`MAX_INTERVAL_US`]; a burst of 0 counts as 1.
    pub fn new(rate_per_second: f64, burst: u32) -> Self {
        let us = 1e6 / rate_per_second;
        let interval_us = if rate_per_second > 0.0 && us.is_finite() && us <= MAX_INTERVAL_US as f64
        {
            // In range: a positive finite value no larger than MAX_INTERVAL_US.
            (us.ceil() as u64).max(1)
        } else {
            MAX_INTERVAL_US
        };
        Self {
            interval_us,
            tolerance_us: interval_us.saturating_mul(u64::from(burst.max(1) - 1)),
        }
    }
}

/// What the schedule holds for one destination, in epoch microseconds (0:
/// never set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pace {
    /// Theoretical arrival time of the next post.
    pub tat_us: u64,
    /// No post before this.
    pub paused_until_us: u64,
}

impl Pace {
    /// The later of `self` and `other`, field by field: both fields only
    /// grow, so this merges two views of the same item.
    pub fn merge(self, other: Pace) -> Pace {
        Pace {
            tat_us: self.tat_us.max(other.tat_us),
            paused_until_us: self.paused_until_us.max(other.paused_until_us),
        }
    }
}

/// One GCRA step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The slot at `at_us` is taken; the schedule becomes `next`.
    Reserved {
        /// When the post may go, epoch microseconds.
        at_us: u64,
        /// The schedule after the reservation.
        next: Pace,
    },
    /// The slot would come after `latest`; nothing is reserved.
    Refused {
        /// How long the post would still have had to wait, in microseconds.
        wait_us: u64,
    },
}

/// The GCRA step on `pace` at `now_us` for `rate`: the next slot, if it
/// comes no later than `latest_us`. Pure; all arithmetic saturates.
pub fn step(pace: Pace, rate: Rate, now_us: u64, latest_us: u64) -> Step {
    let earliest = now_us.max(pace.paused_until_us);
    let next = pace.tat_us.max(earliest);
    let slot = earliest.max(next.saturating_sub(rate.tolerance_us));
    if slot > latest_us {
        return Step::Refused {
            wait_us: slot - now_us,
        };
    }
    Step::Reserved {
        at_us: slot,
        next: Pace {
            tat_us: next.saturating_add(rate.interval_us),
            ..pace
        },
    }
}

/// What a reservation came to, with the schedule as the caller last saw it
/// (its pause tells the caller whether a 429 elsewhere holds the destination).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The slot at `at_us` (epoch microseconds) is this post's.
    Reserved {
        /// When the post may go.
        at_us: u64,
        /// The schedule as seen.
        pace: Pace,
    },
    /// The slot would come after `latest`; nothing was reserved.
    Refused {
        /// How long the post would still have had to wait, in microseconds.
        wait_us: u64,
        /// The schedule as seen.
        pace: Pace,
    },
}

/// The `pk` of `destination`'s schedule.
pub fn rate_pk(destination: &str) -> String {
    format!("rate#{destination}")
}

/// The shared schedule, one per destination. Object-safe (boxed futures: one
/// small allocation per post, next to a network call), so a delivery holds
/// it without a type parameter.
pub trait Schedule: Send + Sync {
    /// Reserves `destination`'s next slot at `rate` if it comes no later than
    /// `latest_us`, as [`step`] does, atomically across every process;
    /// gives up at `deadline` with [`StateError::Deadline`].
    fn reserve<'a>(
        &'a self,
        destination: &'a str,
        rate: Rate,
        now_us: u64,
        latest_us: u64,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Reservation, StateError>>;

    /// Holds every post to `destination` until `until_us`, for every
    /// process. Never shortens a pause already in place.
    fn pause<'a>(
        &'a self,
        destination: &'a str,
        until_us: u64,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<(), StateError>>;
}

/// The schedule in memory, for tests on tokio's paused clock: two
/// deliveries over one `MemorySchedule` are two processes over one table.
/// Faults on demand (down, slow), as [`super::memory::MemoryState`].
#[derive(Debug, Default)]
pub struct MemorySchedule {
    paces: Mutex<HashMap<String, Pace>>,
    down: AtomicBool,
    delay: Mutex<Duration>,
    calls: AtomicU32,
}

impl MemorySchedule {
    /// An empty schedule.
    pub fn new() -> Self {
        Self::default()
    }

    /// While `down`, every call fails with a retryable [`StateError::Service`].
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Every call first waits `delay` (tokio's clock); one whose deadline
    /// comes first fails with [`StateError::Deadline`].
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap_or_else(|e| e.into_inner()) = delay;
    }

    /// Calls made so far (failed ones included).
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    /// What the schedule holds for `destination`.
    pub fn pace(&self, destination: &str) -> Pace {
        self.lock().get(destination).copied().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pace>> {
        self.paces.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn fault(&self, operation: &'static str, deadline: Instant) -> Result<(), StateError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let delay = *self.delay.lock().unwrap_or_else(|e| e.into_inner());
        if Instant::now() >= deadline || crate::budget::later(Instant::now(), delay) > deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(StateError::Deadline { operation });
        }
        tokio::time::sleep(delay).await;
        if self.down.load(Ordering::SeqCst) {
            return Err(StateError::Service {
                operation,
                kind: RETRYABLE,
                detail: "the table is down (test)".into(),
            });
        }
        Ok(())
    }
}

impl Schedule for MemorySchedule {
    fn reserve<'a>(
        &'a self,
        destination: &'a str,
        rate: Rate,
        now_us: u64,
        latest_us: u64,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Reservation, StateError>> {
        Box::pin(async move {
            self.fault("UpdateItem", deadline).await?;
            let mut paces = self.lock();
            let pace = paces.entry(destination.to_string()).or_default();
            Ok(match step(*pace, rate, now_us, latest_us) {
                Step::Reserved { at_us, next } => {
                    *pace = next;
                    Reservation::Reserved { at_us, pace: next }
                }
                Step::Refused { wait_us } => Reservation::Refused {
                    wait_us,
                    pace: *pace,
                },
            })
        })
    }

    fn pause<'a>(
        &'a self,
        destination: &'a str,
        until_us: u64,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(async move {
            self.fault("UpdateItem", deadline).await?;
            let mut paces = self.lock();
            let pace = paces.entry(destination.to_string()).or_default();
            pace.paused_until_us = pace.paused_until_us.max(until_us);
            Ok(())
        })
    }
}

type Item = HashMap<String, AttributeValue>;

/// The schedule on the DynamoDB state table, over the state adapter's
/// (lazily built) client. IAM: `dynamodb:UpdateItem` and `dynamodb:GetItem`
/// on the table.
pub struct DynamoDbSchedule {
    state: std::sync::Arc<DynamoDbState>,
    /// What this process last saw of each schedule (a lower bound).
    seen: Mutex<HashMap<String, Pace>>,
}

/// How one conditional write ended.
enum Write {
    /// Done; the item after it.
    Done(Pace),
    /// The condition failed; the item as it is, if DynamoDB returned it.
    Failed(Option<Pace>),
}

impl DynamoDbSchedule {
    /// The schedule in `state`'s table, sharing its client.
    pub fn new(state: std::sync::Arc<DynamoDbState>) -> Self {
        Self {
            state,
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn seen(&self, destination: &str) -> Pace {
        self.lock().get(destination).copied().unwrap_or_default()
    }

    fn see(&self, destination: &str, pace: Pace) -> Pace {
        let mut seen = self.lock();
        let merged = seen
            .get(destination)
            .copied()
            .unwrap_or_default()
            .merge(pace);
        seen.insert(destination.to_string(), merged);
        merged
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pace>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One conditional update of `pk`: the busy case when `busy`, else the
    /// idle case (see the module's header).
    async fn write(
        &self,
        pk: &str,
        rate: Rate,
        earliest: u64,
        latest_us: u64,
        busy: bool,
    ) -> Result<Write, StateError> {
        let update = self
            .state
            .client()
            .await
            .update_item()
            .table_name(&self.state.settings().table)
            .key(PK, s(pk))
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#tat", "tat_us")
            .expression_attribute_names("#paused", "paused_until_us")
            .expression_attribute_values(":kind", s("rate"))
            .expression_attribute_values(":earliest", n(earliest))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let no_pause = "(attribute_not_exists(#paused) OR #paused <= :earliest)";
        let update = if busy {
            update
                .update_expression("SET #tat = #tat + :interval, #kind = :kind")
                .condition_expression(format!(
                    "#tat > :earliest AND #tat <= :limit AND {no_pause}"
                ))
                .expression_attribute_values(":interval", n(rate.interval_us))
                .expression_attribute_values(
                    ":limit",
                    n(latest_us.saturating_add(rate.tolerance_us)),
                )
        } else {
            update
                .update_expression("SET #tat = :tat, #kind = :kind")
                .condition_expression(format!(
                    "(attribute_not_exists(#tat) OR #tat <= :earliest) AND {no_pause}"
                ))
                .expression_attribute_values(":tat", n(earliest.saturating_add(rate.interval_us)))
        };
        match update.send().await {
            Ok(out) => Ok(Write::Done(decode(pk, out.attributes())?)),
            Err(e) => match e.as_service_error() {
                Some(
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c),
                ) => Ok(Write::Failed(match c.item() {
                    Some(item) => Some(decode(pk, Some(item))?),
                    None => None,
                })),
                _ => Err(service_error("UpdateItem", e)),
            },
        }
    }

    async fn read(&self, pk: &str) -> Result<Pace, StateError> {
        let got = self
            .state
            .client()
            .await
            .get_item()
            .table_name(&self.state.settings().table)
            .key(PK, s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| service_error("GetItem", e))?;
        decode(pk, got.item())
    }
}

impl Schedule for DynamoDbSchedule {
    fn reserve<'a>(
        &'a self,
        destination: &'a str,
        rate: Rate,
        now_us: u64,
        latest_us: u64,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Reservation, StateError>> {
        Box::pin(bounded("UpdateItem", deadline, async move {
            let pk = rate_pk(destination);
            let mut known = self.seen(destination);
            for _ in 0..MAX_WRITES {
                // What we know is a lower bound, so a refusal on it stands.
                if let Step::Refused { wait_us } = step(known, rate, now_us, latest_us) {
                    return Ok(Reservation::Refused {
                        wait_us,
                        pace: known,
                    });
                }
                let earliest = now_us.max(known.paused_until_us);
                let busy = known.tat_us > earliest;
                match self.write(&pk, rate, earliest, latest_us, busy).await? {
                    Write::Done(after) => {
                        let pace = self.see(destination, after);
                        // Busy: the slot was the old tat less the tolerance;
                        // idle: the earliest instant itself.
                        let old_tat = after.tat_us.saturating_sub(rate.interval_us);
                        let at_us = earliest.max(old_tat.saturating_sub(rate.tolerance_us));
                        return Ok(Reservation::Reserved { at_us, pace });
                    }
                    Write::Failed(Some(now_there)) => known = self.see(destination, now_there),
                    Write::Failed(None) => {
                        let now_there = self.read(&pk).await?;
                        known = self.see(destination, now_there);
                    }
                }
            }
            Err(StateError::Conflict { pk })
        }))
    }

    fn pause<'a>(
        &'a self,
        destination: &'a str,
        until_us: u64,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(bounded("UpdateItem", deadline, async move {
            let pk = rate_pk(destination);
            self.see(
                destination,
                Pace {
                    tat_us: 0,
                    paused_until_us: until_us,
                },
            );
            let written = self
                .state
                .client()
                .await
                .update_item()
                .table_name(&self.state.settings().table)
                .key(PK, s(&pk))
                .update_expression("SET #paused = :until, #kind = :kind")
                .condition_expression("attribute_not_exists(#paused) OR #paused < :until")
                .expression_attribute_names("#kind", "kind")
                .expression_attribute_names("#paused", "paused_until_us")
                .expression_attribute_values(":kind", s("rate"))
                .expression_attribute_values(":until", n(until_us))
                .send()
                .await;
            match written {
                Ok(_) => Ok(()),
                // A longer pause is already in place.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
                {
                    Ok(())
                }
                Err(e) => Err(service_error("UpdateItem", e)),
            }
        }))
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The schedule an item holds (none: a new schedule).
fn decode(pk: &str, item: Option<&Item>) -> Result<Pace, StateError> {
    let Some(item) = item else {
        return Ok(Pace::default());
    };
    let number =
        |name: &str| -> Result<u64, StateError> {
            match item.get(name) {
                None => Ok(0),
                Some(v) => v.as_n().ok().and_then(|v| v.parse().ok()).ok_or_else(|| {
                    StateError::Malformed {
                        pk: pk.to_string(),
                        problem: format!("{name} is not a whole number"),
                    }
                }),
            }
        };
    Ok(Pace {
        tat_us: number("tat_us")?,
        paused_until_us: number("paused_until_us")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;
    /// 2026-09-26 10:00:00 UTC in epoch microseconds.
    const T0: u64 = 1_790_416_800 * S;

    fn take(pace: &mut Pace, rate: Rate, now: u64, latest: u64) -> Result<u64, u64> {
        match step(*pace, rate, now, latest) {
            Step::Reserved { at_us, next } => {
                *pace = next;
                Ok(at_us)
            }
            Step::Refused { wait_us } => Err(wait_us),
        }
    }

    #[test]
    fn rates_round_the_interval_up_and_never_panic() {
        assert_eq!(
            Rate::new(1.0, 3),
            Rate {
                interval_us: S,
                tolerance_us: 2 * S
            }
        );
        assert_eq!(Rate::new(3.0, 1).interval_us, 333_334);
        assert_eq!(Rate::new(1e6, 1).interval_us, 1);
        assert_eq!(Rate::new(1e9, 0).interval_us, 1);
        assert_eq!(Rate::new(f64::INFINITY, 1).interval_us, 1);
        for bad in [0.0, -1.0, f64::NAN, f64::NEG_INFINITY, 1e-30] {
            assert_eq!(
                Rate::new(bad, u32::MAX).interval_us,
                MAX_INTERVAL_US,
                "{bad}"
            );
        }
    }

    #[test]
    fn slots_are_one_interval_apart_after_the_burst() {
        let rate = Rate::new(10.0, 3);
        let mut pace = Pace::default();
        let slots: Vec<u64> = (0..5)
            .map(|_| take(&mut pace, rate, T0, u64::MAX).unwrap() - T0)
            .collect();
        assert_eq!(slots, [0, 0, 0, 100_000, 200_000]);
        // The schedule is burst intervals ahead of the last slot.
        assert_eq!(pace.tat_us - T0, 500_000);
    }

    #[test]
    fn an_idle_schedule_restarts_from_now_and_a_late_caller_keeps_its_slot() {
        let rate = Rate::new(1.0, 1);
        let mut pace = Pace::default();
        take(&mut pace, rate, T0, u64::MAX).unwrap();
        // Ten seconds idle: the next post goes at once, not ten seconds early.
        assert_eq!(
            take(&mut pace, rate, T0 + 10 * S, u64::MAX),
            Ok(T0 + 10 * S)
        );
        assert_eq!(
            take(&mut pace, rate, T0 + 10 * S, u64::MAX),
            Ok(T0 + 11 * S)
        );
        // A caller 300 ms late still gets the slot after the last one.
        assert_eq!(
            take(&mut pace, rate, T0 + 10 * S + 300_000, u64::MAX),
            Ok(T0 + 12 * S)
        );
    }

    #[test]
    fn a_slot_past_latest_is_refused_and_reserves_nothing() {
        let rate = Rate::new(1.0, 1);
        let mut pace = Pace::default();
        take(&mut pace, rate, T0, T0).unwrap();
        let before = pace;
        assert_eq!(take(&mut pace, rate, T0, T0 + S - 1), Err(S));
        assert_eq!(pace, before);
        assert_eq!(take(&mut pace, rate, T0, T0 + S), Ok(T0 + S));
    }

    #[test]
    fn a_pause_holds_every_slot_until_it_ends() {
        let rate = Rate::new(10.0, 2);
        let mut pace = Pace {
            tat_us: 0,
            paused_until_us: T0 + 2 * S,
        };
        assert_eq!(take(&mut pace, rate, T0, T0 + S), Err(2 * S));
        assert_eq!(take(&mut pace, rate, T0, u64::MAX), Ok(T0 + 2 * S));
        assert_eq!(take(&mut pace, rate, T0, u64::MAX), Ok(T0 + 2 * S));
        assert_eq!(
            take(&mut pace, rate, T0, u64::MAX),
            Ok(T0 + 2 * S + 100_000)
        );
    }

    #[test]
    fn extremes_saturate() {
        let rate = Rate::new(f64::NAN, u32::MAX);
        let mut pace = Pace {
            tat_us: u64::MAX - 5,
            paused_until_us: u64::MAX,
        };
        assert!(take(&mut pace, rate, T0, u64::MAX).is_ok());
        assert_eq!(pace.tat_us, u64::MAX);
        assert!(take(&mut pace, rate, u64::MAX, u64::MAX).is_ok());
    }

    #[test]
    fn views_merge_upwards() {
        let a = Pace {
            tat_us: 5,
            paused_until_us: 1,
        };
        let b = Pace {
            tat_us: 3,
            paused_until_us: 9,
        };
        assert_eq!(
            a.merge(b),
            Pace {
                tat_us: 5,
                paused_until_us: 9
            }
        );
    }

    #[test]
    fn items_decode_or_are_named_malformed() {
        assert_eq!(decode("rate#ops", None), Ok(Pace::default()));
        let item = Item::from([("tat_us".into(), n(7)), ("kind".into(), s("rate"))]);
        assert_eq!(
            decode("rate#ops", Some(&item)),
            Ok(Pace {
                tat_us: 7,
                paused_until_us: 0
            })
        );
        let bad = Item::from([("tat_us".into(), s("soon"))]);
        let err = decode("rate#ops", Some(&bad)).unwrap_err();
        assert!(!err.is_retryable());
        assert_eq!(
            err.to_string(),
            "the state item rate#ops is malformed: tat_us is not a whole number"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_memory_schedule_is_one_schedule_and_fails_on_demand() {
        let schedule = MemorySchedule::new();
        let rate = Rate::new(1.0, 1);
        let soon = Instant::now() + Duration::from_secs(5);
        let a = schedule.reserve("ops", rate, T0, u64::MAX, soon).await;
        let b = schedule.reserve("ops", rate, T0, u64::MAX, soon).await;
        assert!(matches!(a, Ok(Reservation::Reserved { at_us, .. }) if at_us == T0));
        assert!(matches!(b, Ok(Reservation::Reserved { at_us, .. }) if at_us == T0 + S));
        schedule.set_down(true);
        let err = schedule.pause("ops", T0 + 9 * S, soon).await.unwrap_err();
        assert!(err.is_retryable());
        schedule.set_down(false);
        schedule.set_delay(Duration::from_secs(10));
        let err = schedule
            .reserve("ops", rate, T0, u64::MAX, soon)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            StateError::Deadline {
                operation: "UpdateItem"
            }
        );
        assert_eq!(Instant::now(), soon);
        assert_eq!(schedule.calls(), 4);
        assert_eq!(schedule.pace("ops").tat_us, T0 + 2 * S);
    }
}
