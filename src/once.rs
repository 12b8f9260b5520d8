//! Posted once: with a state table, each (SNS `MessageId`, destination) is
//! claimed before it is posted and marked posted after Slack accepted it, so
//! that what an earlier invocation posted (a Lambda retry, an SQS
//! redelivery, an SNS duplicate, a `redrive`) is not posted again. The
//! stage runs around compose and delivery, for webhooks and apps alike, so
//! a digest's records are claimed one by one too.
//!
//! 1. [`claim`] claims every pair of the plans (bounded concurrency, each
//!    call bounded by the state timeout and the deadline);
//! 2. [`Claims::hold_back`] takes the pairs that must not be posted out of
//!    the plans: those posted before ([`Placement::Duplicate`]) and those
//!    another attempt holds ([`Reason::Busy`], handed back or dead-lettered
//!    like any retryable failure);
//! 3. after delivery, [`Claims::restore`] puts them back into the fates, and
//!    [`Claims::settle`] marks each posted pair and releases the claims of
//!    the pairs that failed (so a `redrive` may post them at once).
//!
//! The state never costs a notification: a claim that fails counts as won
//! (the pair is posted without the guarantee) and the error is kept; after
//! the first failure of an invocation the table is not asked again for the
//! rest of it, so a table that is down or slow costs one timeout, not one
//! per record.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use tokio::time::Instant;

use crate::budget;
use crate::destination::Destination;
use crate::group::Placement;
use crate::outcome::{Failure, Outcome, Reason};
use crate::plan::Plan;
use crate::record::Record;
use crate::settle::{Carried, Fate};
use crate::state::{Claim, ClaimToken, State, StateError};

/// State calls in flight at once for one invocation.
const CONCURRENCY: usize = 16;

/// The outcome a pair posted by an earlier invocation settles with.
static POSTED_BEFORE: Outcome = Outcome::unattempted(Ok(()));

/// The job index of a pair that was never composed (it has no job).
const NO_JOB: usize = usize::MAX;

/// What the claim of one pair came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Claimed {
    /// This attempt holds the claim.
    Won(ClaimToken),
    /// The state failed or was not asked: posted without the guarantee.
    Unknown,
    /// An earlier invocation posted it: not posted again.
    Duplicate,
    /// Another attempt holds it; stale from `stale_at` (epoch seconds).
    Busy(Outcome),
}

/// One (record, destination) pair of the plans and the claim it shares.
#[derive(Debug, Clone)]
struct Pair {
    record: usize,
    destination: Arc<Destination>,
    /// Index into [`Claims::keys`].
    key: usize,
}

/// One claim: a (SNS `MessageId`, destination) the table knows. Copies of a
/// record in one batch (an SNS duplicate delivered twice) share it, so they
/// are claimed once and grouping still folds them.
#[derive(Debug, Clone)]
struct Key {
    message_id: String,
    destination: String,
    claimed: Claimed,
}

/// The claims of one invocation, and the state calls that failed.
#[derive(Debug, Default)]
pub struct Claims {
    pairs: Vec<Pair>,
    keys: Vec<Key>,
    /// State calls that failed (`state_errors`), for the log and the count.
    pub errors: Vec<StateError>,
}

/// Whether the table failed once in this invocation (then it is not asked
/// again until the next).
#[derive(Default)]
struct Health(AtomicBool);

impl Health {
    fn down(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    fn failed(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Claims every (record, destination) pair of `plans` (those of `records`)
/// in `state`, each distinct (`MessageId`, destination) once. Records
/// without an SNS `MessageId` are not claimed. Each call has at most
/// `timeout` and ends by `stop_at`.
pub async fn claim<R: Borrow<Record>>(
    state: &impl State,
    records: &[R],
    plans: &[Plan],
    now: SystemTime,
    stop_at: Instant,
    timeout: Duration,
) -> Claims {
    let mut claims = Claims::default();
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    for (record, plan) in plans.iter().enumerate() {
        let message_id = records[record].borrow().message_id();
        let Plan::Post { to, .. } = plan else {
            continue;
        };
        if message_id.is_empty() {
            continue;
        }
        for destination in to {
            let key = *index
                .entry((message_id, destination.name.as_str()))
                .or_insert_with(|| {
                    claims.keys.push(Key {
                        message_id: message_id.to_string(),
                        destination: destination.name.clone(),
                        claimed: Claimed::Unknown,
                    });
                    claims.keys.len() - 1
                });
            claims.pairs.push(Pair {
                record,
                destination: destination.clone(),
                key,
            });
        }
    }
    let health = Health::default();
    let health = &health;
    let results: Vec<(Claimed, Option<StateError>)> = futures::stream::iter(&claims.keys)
        .map(|key| async move {
            if health.down() {
                return (Claimed::Unknown, None);
            }
            let deadline = budget::later(Instant::now(), timeout).min(stop_at);
            match state
                .claim(&key.message_id, &key.destination, now, deadline)
                .await
            {
                Ok(claim) => (claimed(claim), None),
                Err(e) => {
                    health.failed();
                    (Claimed::Unknown, Some(e))
                }
            }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    for (key, (claimed, error)) in claims.keys.iter_mut().zip(results) {
        key.claimed = claimed;
        claims.errors.extend(error);
    }
    claims
}

fn claimed(claim: Claim) -> Claimed {
    match claim {
        Claim::Won(token) => Claimed::Won(token),
        Claim::Posted => Claimed::Duplicate,
        Claim::Busy { stale_at } => Claimed::Busy(Outcome::unattempted(Err(Failure {
            reason: Reason::Busy,
            status: None,
            detail: format!(
                "another attempt holds the posted-once claim of this record (stale at {stale_at}, epoch seconds); tried again later"
            ),
        }))),
    }
}

impl Claims {
    fn claimed(&self, pair: &Pair) -> &Claimed {
        &self.keys[pair.key].claimed
    }

    /// Takes the pairs that must not be posted (posted before, or held by
    /// another attempt) out of `plans`' destinations.
    pub fn hold_back(&self, plans: &mut [Plan]) {
        for p in &self.pairs {
            if matches!(self.claimed(p), Claimed::Duplicate | Claimed::Busy(_))
                && let Plan::Post { to, .. } = &mut plans[p.record]
            {
                to.retain(|d| d.name != p.destination.name);
            }
        }
    }

    /// Puts the pairs held back into `fates` (one per record, in order): a
    /// pair posted before as [`Placement::Duplicate`], one held elsewhere as
    /// its [`Reason::Busy`] failure. A record whose every destination was
    /// held back still ends [`Fate::Delivered`].
    pub fn restore<'a>(&'a self, fates: &mut [Fate<'a>]) {
        for p in &self.pairs {
            let (outcome, role) = match self.claimed(p) {
                Claimed::Duplicate => (&POSTED_BEFORE, Placement::Duplicate),
                Claimed::Busy(outcome) => (outcome, Placement::Own),
                Claimed::Won(_) | Claimed::Unknown => continue,
            };
            if let Some(Fate::Delivered(carried)) = fates.get_mut(p.record) {
                carried.push(Carried {
                    destination: &p.destination,
                    outcome,
                    role,
                    job: NO_JOB,
                });
            }
        }
    }

    /// Marks every claim this attempt holds whose record posted there (on
    /// its own, in a digest or folded; any copy of it) and releases the
    /// others, as `fates` say. Each call has at most `timeout` and ends by
    /// `until`: give it time past the post deadline (a post answered at the
    /// last moment still needs its mark). Returns the state calls that
    /// failed; after the first, the table is not asked again, and the claims
    /// left are counted and logged.
    pub async fn settle(
        &self,
        state: &impl State,
        fates: &[Fate<'_>],
        now: SystemTime,
        until: Instant,
        timeout: Duration,
    ) -> Vec<StateError> {
        // Per claim: was it carried by a job, and did any carrier post?
        let mut carried_ok: Vec<Option<bool>> = vec![None; self.keys.len()];
        for p in &self.pairs {
            let Some(Fate::Delivered(carried)) = fates.get(p.record) else {
                continue;
            };
            if let Some(c) = carried
                .iter()
                .find(|c| c.destination.name == p.destination.name && c.job != NO_JOB)
            {
                let ok = carried_ok[p.key].get_or_insert(false);
                *ok |= c.outcome.result.is_ok();
            }
        }
        let health = Health::default();
        let (health, skipped) = (&health, &AtomicBool::new(false));
        let calls = self
            .keys
            .iter()
            .zip(carried_ok)
            .filter_map(|(key, posted)| {
                // Only a claim this attempt holds is marked or released: a pair
                // posted without one (the table failed) is left as it is.
                let (Claimed::Won(token), Some(posted)) = (&key.claimed, posted) else {
                    return None;
                };
                Some(async move {
                    if health.down() {
                        skipped.store(true, Ordering::Relaxed);
                        return None;
                    }
                    let deadline = budget::later(Instant::now(), timeout).min(until);
                    let (id, name) = (&key.message_id, &key.destination);
                    let done = if posted {
                        state.mark_posted(id, name, now, deadline).await
                    } else {
                        state.release(id, name, token, deadline).await
                    };
                    done.err().inspect(|_| health.failed())
                })
            });
        let errors: Vec<StateError> = futures::stream::iter(calls)
            .buffer_unordered(CONCURRENCY)
            .filter_map(|e| async move { e })
            .collect()
            .await;
        if skipped.load(Ordering::Relaxed) {
            tracing::warn!(
                "the state table failed while marking this invocation's claims; the claims left \
                 stay unmarked and become stale after 15 minutes (a redelivery may then post again)"
            );
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::compose;
    use crate::destination::Webhooks;
    use crate::group::DigestAfter;
    use crate::render::Overrides;
    use crate::state::StateSettings;
    use crate::state::memory::MemoryState;

    const T0: u64 = 1_790_416_800;
    const TIMEOUT: Duration = Duration::from_secs(1);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    /// Records `m-1`, `m-2`, `m-3`, each planned to `a` and `b`.
    fn planned() -> (Vec<Record>, Vec<Plan>) {
        planned_ids(&["m-1", "m-2", "m-3"])
    }

    /// Records of `ids` (in order), each planned to `a` and `b`.
    fn planned_ids(ids: &[&str]) -> (Vec<Record>, Vec<Plan>) {
        let table = r#"{"a": "https://hooks.slack.com/services/T0/B0/A",
                        "b": "https://hooks.slack.com/services/T0/B1/B"}"#;
        let webhooks = Webhooks::parse(table, "WEBHOOKS", false).unwrap();
        let to: Vec<Arc<Destination>> = webhooks.iter().cloned().collect();
        let records: Vec<String> = ids
            .iter()
            .map(|id| format!(r#"{{"EventSource":"aws:sns","Sns":{{"MessageId":"{id}","Message":"text {id}"}}}}"#))
            .collect();
        let event = format!(r#"{{"Records":[{}]}}"#, records.join(","));
        let records = crate::record::parse_event(&event).unwrap();
        let plans = crate::plan::plan_to(&records, &to, &Overrides::default(), 4_000);
        (records, plans)
    }

    fn names(plan: &Plan) -> Vec<&str> {
        match plan {
            Plan::Post { to, .. } => to.iter().map(|d| d.name.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pairs_posted_before_are_held_back_and_busy_ones_fail_as_busy() {
        let state = MemoryState::new(StateSettings::new("t"));
        // m-1 was posted to a by an earlier invocation; m-2 at b is being
        // posted by another right now.
        let Claim::Won(_) = state.claim("m-1", "a", at(T0), soon()).await.unwrap() else {
            panic!("a fresh claim is won");
        };
        state.mark_posted("m-1", "a", at(T0), soon()).await.unwrap();
        let Claim::Won(_) = state.claim("m-2", "b", at(T0), soon()).await.unwrap() else {
            panic!("a fresh claim is won");
        };

        let (records, mut plans) = planned();
        let claims = claim(&state, &records, &plans, at(T0 + 1), soon(), TIMEOUT).await;
        assert!(claims.errors.is_empty());
        claims.hold_back(&mut plans);
        assert_eq!(names(&plans[0]), ["b"]);
        assert_eq!(names(&plans[1]), ["a"]);
        assert_eq!(names(&plans[2]), ["a", "b"]);

        let composition = compose(
            &records,
            &plans,
            DigestAfter::Off,
            &Overrides::default(),
            4_000,
        );
        assert_eq!(
            composition.jobs.len(),
            4,
            "only the pairs to post are composed"
        );
        // Every job posts except m-3's to b.
        let outcomes: Vec<Outcome> = composition
            .jobs
            .iter()
            .enumerate()
            .map(|(j, _)| {
                let to_b_of_m3 = composition.branches[2].iter().any(|b| b.job == j)
                    && composition.jobs[j].destination.name == "b";
                Outcome::unattempted(if to_b_of_m3 {
                    Err(Failure {
                        reason: Reason::Rejected,
                        status: Some(404),
                        detail: "no_service".into(),
                    })
                } else {
                    Ok(())
                })
            })
            .collect();
        let mut fates = crate::settle::fates(&plans, &composition, &outcomes);
        claims.restore(&mut fates);
        let roles = |r: usize| -> Vec<(String, Placement, bool)> {
            let Fate::Delivered(carried) = &fates[r] else {
                panic!("delivered")
            };
            let mut v: Vec<_> = carried
                .iter()
                .map(|c| (c.destination.name.clone(), c.role, c.outcome.result.is_ok()))
                .collect();
            v.sort_by(|x, y| x.0.cmp(&y.0));
            v
        };
        assert_eq!(
            roles(0),
            [
                ("a".into(), Placement::Duplicate, true),
                ("b".into(), Placement::Own, true)
            ]
        );
        assert_eq!(
            roles(1),
            [
                ("a".into(), Placement::Own, true),
                ("b".into(), Placement::Own, false)
            ]
        );
        assert!(
            fates[1]
                .failures()
                .iter()
                .any(|(_, f, _)| f.reason == Reason::Busy)
        );

        let errors = claims
            .settle(&state, &fates, at(T0 + 2), soon(), TIMEOUT)
            .await;
        assert!(errors.is_empty());
        assert!(state.is_posted("m-1", "b") && state.is_posted("m-2", "a"));
        assert!(state.is_posted("m-3", "a"));
        // The failed pair's claim was given back; the busy one is not ours to touch.
        assert!(matches!(
            state.claim("m-3", "b", at(T0 + 3), soon()).await.unwrap(),
            Claim::Won(_)
        ));
        assert!(matches!(
            state.claim("m-2", "b", at(T0 + 3), soon()).await.unwrap(),
            Claim::Busy { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_table_that_is_down_is_asked_once_and_everything_posts() {
        let state = MemoryState::new(StateSettings::new("t"));
        state.set_down(true);
        let (records, mut plans) = planned();
        let claims = claim(&state, &records, &plans, at(T0), soon(), TIMEOUT).await;
        claims.hold_back(&mut plans);
        for plan in &plans {
            assert_eq!(names(plan), ["a", "b"], "nothing held back");
        }
        assert!(!claims.errors.is_empty());
        // Calls already in flight when the first failed may fail too; the
        // rest are not made.
        assert!(
            claims.errors.len() <= CONCURRENCY,
            "{}",
            claims.errors.len()
        );
        assert!(state.calls() < 6, "{} calls for 6 pairs", state.calls());
    }

    #[tokio::test(start_paused = true)]
    async fn copies_of_one_message_in_a_batch_share_one_claim() {
        let state = MemoryState::new(StateSettings::new("t"));
        let (records, mut plans) = planned_ids(&["m-1", "m-1"]);
        let claims = claim(&state, &records, &plans, at(T0), soon(), TIMEOUT).await;
        claims.hold_back(&mut plans);
        // One claim per destination, not one per copy: neither copy is busy
        // with the other, and grouping still folds them.
        assert_eq!(state.calls(), 2);
        assert_eq!(
            (names(&plans[0]), names(&plans[1])),
            (vec!["a", "b"], vec!["a", "b"])
        );
        let composition = compose(
            &records,
            &plans,
            DigestAfter::default(),
            &Overrides::default(),
            4_000,
        );
        assert_eq!(composition.jobs.len(), 2, "one post per destination");
        let outcomes = vec![Outcome::unattempted(Ok(())); 2];
        let mut fates = crate::settle::fates(&plans, &composition, &outcomes);
        claims.restore(&mut fates);
        assert!(
            claims
                .settle(&state, &fates, at(T0), soon(), TIMEOUT)
                .await
                .is_empty()
        );
        assert!(state.is_posted("m-1", "a") && state.is_posted("m-1", "b"));
        assert_eq!(state.calls(), 4, "two claims, two marks");
    }
}
