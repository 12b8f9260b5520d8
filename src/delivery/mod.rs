//! Delivery: post messages concurrently, each under the per-webhook limiter,
//! the retry policy and the deadline; each ends posted or failed with a reason.
//!
//! The loop per message is ours rather than `reqwest-retry`'s middleware: that
//! middleware's policy never sees the response, so it cannot obey a 429's
//! `Retry-After`, and it knows nothing of the invocation deadline. The waits
//! between retries are [`policy::backoff`]: exponential, jittered above a floor
//! of `retry_base`.

pub mod limiter;
pub mod policy;

use std::future::Future;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use tokio::time::Instant;

use crate::budget;
use crate::config::DeliverySettings;
use crate::webhook::Webhook;
use limiter::Limiter;
use policy::{Attempt, Decision, Failure, Reason};

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

/// A message ready to be delivered, or the failure that stops it before any
/// attempt (an unreadable record).
#[derive(Debug, Clone)]
pub struct Job {
    /// The JSON body (cheap to clone for retries), or why there is none.
    pub body: Result<Bytes, Failure>,
}

/// How the delivery of one message ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `Ok` when posted; otherwise the failure to dead-letter it with.
    pub result: Result<(), Failure>,
    /// HTTP attempts made.
    pub attempts: u32,
    /// 429 answers seen.
    pub rate_limited: u32,
    /// Wall-clock time of the first attempt, if any.
    pub first_attempt_at: Option<SystemTime>,
    /// Wall-clock time of the last attempt, if any.
    pub last_attempt_at: Option<SystemTime>,
    /// From the start of delivery to Slack's 2xx, when posted.
    pub latency: Option<Duration>,
}

impl Outcome {
    /// An outcome before any attempt: no attempts, no times, `result` as given.
    pub fn unattempted(result: Result<(), Failure>) -> Self {
        Self {
            result,
            attempts: 0,
            rate_limited: 0,
            first_attempt_at: None,
            last_attempt_at: None,
            latency: None,
        }
    }
}

/// Delivers messages for one process: the poster, the shared limiter and the
/// retry settings. Build it once and reuse it across invocations.
pub struct Delivery<P> {
    poster: P,
    limiter: Limiter,
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
            poster,
            settings,
        }
    }

    /// The settings this delivery runs with.
    pub fn settings(&self) -> &DeliverySettings {
        &self.settings
    }

    /// Delivers `jobs` to `webhook`, at most `max_concurrency` at once, and
    /// returns one outcome per job in the same order. Nothing is started that
    /// could not end before `stop_at`; what is left fails with
    /// [`Reason::Deadline`].
    pub async fn deliver(&self, webhook: &Webhook, jobs: &[Job], stop_at: Instant) -> Vec<Outcome> {
        futures::stream::iter(jobs)
            .map(|job| async move {
                match &job.body {
                    Ok(body) => self.deliver_one(webhook, body.clone(), stop_at).await,
                    Err(failure) => Outcome::unattempted(Err(failure.clone())),
                }
            })
            .buffered(self.settings.max_concurrency)
            .collect()
            .await
    }

    /// Delivers one body: limiter, attempt, policy, wait; until posted, given up
    /// or out of time.
    pub async fn deliver_one(&self, webhook: &Webhook, body: Bytes, stop_at: Instant) -> Outcome {
        let started = Instant::now();
        let mut outcome = Outcome::unattempted(Ok(()));
        let mut last: Option<Failure> = None;
        let result = loop {
            if let Err(w) = self
                .limiter
                .acquire(webhook.id(), stop_at, budget::MIN_ATTEMPT)
                .await
            {
                let why = format!(
                    "the rate limit would have delayed the next attempt by {} ms",
                    w.wait.as_millis()
                );
                break Err(deadline_failure(last.as_ref(), &why));
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
                    if failure.reason == Reason::RateLimited {
                        self.limiter.pause(webhook.id(), after);
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
