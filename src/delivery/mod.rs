//! Delivery: post messages concurrently, each under its webhook's limiter, the
//! retry policy and the deadline; each ends posted or failed with a reason.
//!
//! Fair across webhooks: each webhook's jobs run in their own stream with their
//! own `max_concurrency` slots, and the streams run side by side. A webhook
//! paused by a 429, or a slow one, holds only its own slots, so the records of
//! another webhook in the same event are not delayed behind it.
//!
//! Bounded overall: whatever the fan-out, at most `max_in_flight` HTTP
//! attempts are in flight at once across every webhook (each holds a socket).
//! A post takes its place in that queue only after its webhook's limiter let
//! it go, and gives it back as soon as Slack answered, so a webhook waiting on
//! its rate or on a 429 holds none. The queue is first come, first served
//! (tokio's semaphore is fair), so webhooks keep their turn.
//!
//! The loop per message is ours rather than `reqwest-retry`'s middleware: that
//! middleware's policy never sees the response, so it cannot obey a 429's
//! `Retry-After`, and it knows nothing of the invocation deadline. The waits
//! between retries are [`policy::backoff`]: exponential, jittered above a floor
//! of `retry_base`.

pub mod limiter;
pub mod policy;
pub mod shared;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use tokio::time::Instant;

use crate::budget;
use crate::destination::Destination;
use crate::destination::webhook::Webhook;
use crate::outcome::{Failure, Outcome, Reason};
use limiter::{Limiter, WouldPassDeadline};
use policy::{Attempt, Decision};

/// The most HTTP attempts in flight at once across every webhook of a
/// process. Each holds a socket; Lambda gives a process 1,024 file
/// descriptors, which also serve the runtime, SQS and the logs. 64 keeps the
/// sockets (these and the pool's idle ones, bounded to the same number) far
/// below that, and far above what Slack's pace needs: at 1 post per second per
/// webhook and a slow 1 s answer, 64 webhooks at full rate.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

/// Settings for delivering records to Slack.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    /// Sustained posts per second per webhook (`RATE_PER_SECOND`).
    pub rate_per_second: f64,
    /// Posts allowed back to back before the rate applies (`RATE_BURST`).
    pub rate_burst: u32,
    /// Attempts per record, the first included (`MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// Upper bound of one HTTP attempt (`ATTEMPT_TIMEOUT_MS`).
    pub attempt_timeout: Duration,
    /// Smallest backoff before a retry (`RETRY_BASE_MS`).
    pub retry_base: Duration,
    /// Largest backoff before a retry (`RETRY_MAX_MS`).
    pub retry_max: Duration,
    /// Longest wait a 429's `Retry-After` may impose, on the record and on
    /// its webhook's limiter (`RETRY_AFTER_MAX_MS`).
    pub retry_after_max: Duration,
    /// Posts to one webhook in flight at once (`MAX_CONCURRENCY`).
    pub max_concurrency: usize,
    /// Posts in flight at once across every webhook, whatever the fan-out
    /// ([`DEFAULT_MAX_IN_FLIGHT`]).
    pub max_in_flight: usize,
    /// Longest `Message` text put in a Slack message before it is cut with a
    /// visible marker (`MAX_MESSAGE_CHARS`).
    pub max_message_chars: usize,
}

impl DeliverySettings {
    /// This process's share of a rate that `processes` function instances
    /// share (taken once, by `config::Config::delivery`): each paces at most `rate_per_second / processes` per webhook, with
    /// the burst split likewise (at least one post), so the sum Slack sees from
    /// all of them stays within the configured rate.
    pub fn shared_by(self, processes: u32) -> Self {
        let processes = processes.max(1);
        Self {
            rate_per_second: self.rate_per_second / f64::from(processes),
            rate_burst: (self.rate_burst / processes).max(1),
            ..self
        }
    }
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            rate_per_second: 1.0,
            rate_burst: 1,
            max_attempts: 5,
            attempt_timeout: Duration::from_millis(5_000),
            retry_base: Duration::from_millis(250),
            retry_max: Duration::from_millis(8_000),
            retry_after_max: Duration::from_millis(60_000),
            max_concurrency: 8,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_message_chars: crate::render::DEFAULT_MAX_MESSAGE_CHARS,
        }
    }
}

/// Sends one HTTP attempt to a webhook. The Slack adapter implements it; so can
/// anything else that speaks for Slack in a test.
pub trait Post: Send + Sync {
    /// POSTs `body` (JSON) to `webhook`, giving up after `timeout`.
    fn post(
        &self,
        webhook: &Webhook,
        body: Bytes,
        timeout: Duration,
    ) -> impl Future<Output = Attempt> + Send;
}

/// A message ready to be delivered to one named webhook.
#[derive(Debug, Clone)]
pub struct Job {
    /// Where it goes.
    pub destination: Arc<Destination>,
    /// The JSON body (cheap to clone for retries and fan-out).
    pub body: Bytes,
}

/// Delivers messages for one process: the poster, the limiters and the retry
/// settings. Build it once and reuse it across invocations, so each webhook's
/// pacing and pauses carry over from one invocation to the next.
pub struct Delivery<P> {
    poster: P,
    /// Webhooks at the configured rate share one limiter, keyed by name.
    limiter: Limiter,
    /// Webhooks with a rate of their own, by name.
    own_rates: HashMap<String, Limiter>,
    /// The schedule shared by every process (`STATE_TABLE`), if any; the
    /// limiters above are then the fallback when the table fails.
    shared: Option<shared::Shared>,
    /// Places for attempts in flight, across every webhook.
    in_flight: tokio::sync::Semaphore,
    settings: DeliverySettings,
}

impl<P: Post> Delivery<P> {
    /// A delivery over `poster` with `settings`.
    pub fn new(poster: P, settings: DeliverySettings) -> Self {
        Self {
            limiter: Limiter::new(
                settings.rate_per_second,
                settings.rate_burst,
                settings.retry_after_max,
            ),
            own_rates: HashMap::new(),
            shared: None,
            in_flight: tokio::sync::Semaphore::new(settings.max_in_flight.max(1)),
            poster,
            settings,
        }
    }

    /// The same delivery, reserving every slot in `shared` (the schedule all
    /// processes share) and falling back to this process's limiters for the
    /// rest of an invocation ([`Delivery::deliver`] call) when the state
    /// table fails or is slow.
    pub fn with_shared(mut self, shared: shared::Shared) -> Self {
        self.shared = Some(shared);
        self
    }

    /// The same delivery, pacing webhook `name` at `rate_per_second` (this
    /// process's share) instead of the configured rate.
    pub fn with_rate(mut self, name: &str, rate_per_second: f64) -> Self {
        let limiter = Limiter::new(
            rate_per_second,
            self.settings.rate_burst,
            self.settings.retry_after_max,
        );
        self.own_rates.insert(name.to_string(), limiter);
        self
    }

    fn limiter_for(&self, name: &str) -> &Limiter {
        self.own_rates.get(name).unwrap_or(&self.limiter)
    }

    /// The settings this delivery runs with.
    pub fn settings(&self) -> &DeliverySettings {
        &self.settings
    }

    /// Delivers `jobs`, each to its webhook, and returns one outcome per job in
    /// the same order. Each webhook has at most `max_concurrency` posts in
    /// flight, independently of the others, and all of them together at most
    /// `max_in_flight`. Nothing is started that could not end before
    /// `stop_at`; what is left fails with [`Reason::Deadline`].
    pub async fn deliver(&self, jobs: &[Job], stop_at: Instant) -> Vec<Outcome> {
        let fallen_back = AtomicBool::new(false);
        let fallen_back = &fallen_back;
        let mut by_webhook: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, job) in jobs.iter().enumerate() {
            by_webhook
                .entry(job.destination.name.as_str())
                .or_default()
                .push(i);
        }
        let streams = by_webhook.into_values().map(|indices| {
            futures::stream::iter(indices)
                .map(|i| async move {
                    let job = &jobs[i];
                    (
                        i,
                        self.deliver_one_in(
                            &job.destination,
                            job.body.clone(),
                            stop_at,
                            fallen_back,
                        )
                        .await,
                    )
                })
                .buffer_unordered(self.settings.max_concurrency)
                .collect::<Vec<_>>()
        });
        let mut outcomes: Vec<Option<Outcome>> = vec![None; jobs.len()];
        for (i, outcome) in futures::future::join_all(streams)
            .await
            .into_iter()
            .flatten()
        {
            outcomes[i] = Some(outcome);
        }
        outcomes
            .into_iter()
            .map(|o| o.expect("every job has an outcome"))
            .collect()
    }

    /// Delivers one body: limiter, attempt, policy, wait; until posted, given up
    /// or out of time.
    pub async fn deliver_one(
        &self,
        destination: &Destination,
        body: Bytes,
        stop_at: Instant,
    ) -> Outcome {
        self.deliver_one_in(destination, body, stop_at, &AtomicBool::new(false))
            .await
    }

    /// [`Delivery::deliver_one`] within an invocation that stopped using the
    /// shared schedule once `fallen_back` is set (and sets it when the table
    /// fails).
    async fn deliver_one_in(
        &self,
        destination: &Destination,
        body: Bytes,
        stop_at: Instant,
        fallen_back: &AtomicBool,
    ) -> Outcome {
        let name = destination.name.as_str();
        let Some(webhook) = destination.webhook() else {
            // The pipeline sends app jobs to `AppDelivery`; this is a caller's slip.
            return Outcome::unattempted(Err(Failure {
                reason: Reason::Rejected,
                status: None,
                detail: format!("destination {name:?} is a Slack app, not a webhook"),
            }));
        };
        let limiter = self.limiter_for(name);
        let started = Instant::now();
        let mut outcome = Outcome::unattempted(Ok(()));
        let mut last: Option<Failure> = None;
        let result = loop {
            let acquired = self
                .acquire(name, limiter, stop_at, fallen_back, &mut outcome)
                .await;
            if let Err(w) = acquired {
                let why = format!(
                    "the rate limit would have delayed the next attempt by {} ms",
                    w.wait.as_millis()
                );
                break Err(deadline_failure(last.as_ref(), &why));
            }
            let Some(place) = self.place_in_flight(stop_at).await else {
                let why = format!(
                    "all {} posts in flight stayed busy",
                    self.settings.max_in_flight
                );
                break Err(deadline_failure(last.as_ref(), &why));
            };
            if limiter.is_paused(name) {
                // A 429 came while this post queued for its place: wait it out.
                drop(place);
                continue;
            }
            let left = stop_at.saturating_duration_since(Instant::now());
            let Some(timeout) = budget::attempt_timeout(self.settings.attempt_timeout, left) else {
                break Err(deadline_failure(
                    last.as_ref(),
                    "no time left for another attempt",
                ));
            };
            let now = SystemTime::now();
            outcome.first_attempt_at.get_or_insert(now);
            outcome.last_attempt_at = Some(now);
            outcome.attempts = outcome.attempts.saturating_add(1);
            let attempt = self.poster.post(webhook, body.clone(), timeout).await;
            drop(place);
            let cut_by_deadline =
                attempt == Attempt::TimedOut && timeout < self.settings.attempt_timeout;
            if matches!(attempt, Attempt::Status { status: 429, .. }) {
                outcome.rate_limited = outcome.rate_limited.saturating_add(1);
            }
            let decision = policy::decide(
                &attempt,
                outcome.attempts,
                self.settings.max_attempts,
                self.backoff_before_retry(outcome.attempts),
                SystemTime::now(),
                self.settings.retry_after_max,
            );
            match decision {
                Decision::Posted => {
                    outcome.latency = Some(started.elapsed());
                    break Ok(());
                }
                Decision::GiveUp(failure) if cut_by_deadline => {
                    break Err(deadline_failure(
                        Some(&failure),
                        "the last attempt was cut short by it",
                    ));
                }
                Decision::GiveUp(failure) => break Err(failure),
                Decision::Retry { after, failure } => {
                    let mut after = after;
                    if failure.reason == Reason::RateLimited {
                        limiter.pause(name, after);
                        let writing = Instant::now();
                        self.pause_shared(name, after, fallen_back, &mut outcome)
                            .await;
                        after = after.saturating_sub(writing.elapsed());
                    }
                    let left = stop_at.saturating_duration_since(Instant::now());
                    if cut_by_deadline || !budget::wait_fits(after, left) {
                        let why = format!(
                            "a retry after {} ms would not finish in time",
                            after.as_millis()
                        );
                        break Err(deadline_failure(Some(&failure), &why));
                    }
                    tokio::time::sleep(after).await;
                    last = Some(failure);
                }
            }
        };
        outcome.result = result;
        outcome
    }

    /// Reserves the next slot of `name`: in the shared schedule unless this
    /// invocation fell back, else (or when the table fails now, counted in
    /// `outcome.state_errors`) from this process's `limiter`.
    async fn acquire(
        &self,
        name: &str,
        limiter: &Limiter,
        stop_at: Instant,
        fallen_back: &AtomicBool,
        outcome: &mut Outcome,
    ) -> Result<(), WouldPassDeadline> {
        if let Some(shared) = &self.shared
            && !fallen_back.load(Ordering::Relaxed)
        {
            match shared.acquire(name, stop_at, budget::MIN_ATTEMPT).await {
                Ok(acquired) => return acquired,
                Err(e) => self.fall_back(name, &e, fallen_back, outcome),
            }
        }
        limiter.acquire(name, stop_at, budget::MIN_ATTEMPT).await
    }

    /// Writes a 429's pause to the shared schedule (when in use), so that
    /// every process holds `name`.
    async fn pause_shared(
        &self,
        name: &str,
        wait: Duration,
        fallen_back: &AtomicBool,
        outcome: &mut Outcome,
    ) {
        if let Some(shared) = &self.shared
            && !fallen_back.load(Ordering::Relaxed)
            && let Err(e) = shared.pause(name, wait).await
        {
            self.fall_back(name, &e, fallen_back, outcome);
        }
    }

    /// The state table failed: count it, log it, and pace the rest of this
    /// invocation with the in-memory share.
    fn fall_back(
        &self,
        name: &str,
        error: &crate::state::StateError,
        fallen_back: &AtomicBool,
        outcome: &mut Outcome,
    ) {
        outcome.state_errors = outcome.state_errors.saturating_add(1);
        fallen_back.store(true, Ordering::Relaxed);
        tracing::warn!(
            webhook = name,
            error = %error,
            retryable = error.is_retryable(),
            "the shared rate schedule failed; this invocation paces at its in-memory share"
        );
    }

    /// A place among the `max_in_flight` attempts, waiting (first come, first
    /// served) no later than leaves an attempt time before `stop_at`.
    async fn place_in_flight(&self, stop_at: Instant) -> Option<tokio::sync::SemaphorePermit<'_>> {
        if let Ok(place) = self.in_flight.try_acquire() {
            return Some(place);
        }
        let latest = stop_at.checked_sub(budget::MIN_ATTEMPT)?;
        tokio::time::timeout_at(latest, self.in_flight.acquire())
            .await
            .ok()?
            .ok()
    }

    /// Jittered exponential backoff before retry number `retry` (1-based),
    /// never below `retry_base`.
    fn backoff_before_retry(&self, retry: u32) -> Duration {
        policy::backoff(
            retry,
            self.settings.retry_base,
            self.settings.retry_max,
            fastrand::f64(),
        )
    }
}

/// A [`Reason::Deadline`] failure that keeps the last status and error seen.
fn deadline_failure(last: Option<&Failure>, why: &str) -> Failure {
    let mut detail = format!("the invocation deadline came first: {why}");
    if let Some(last) = last {
        detail.push_str("; last error: ");
        detail.push_str(&last.detail);
    }
    Failure {
        reason: Reason::Deadline,
        status: last.and_then(|f| f.status),
        detail,
    }
}
