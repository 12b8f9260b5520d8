//! The runner: one payload through plan ([`crate::plan`]) -> post
//! ([`crate::post`]: claim, compose, deliver, mark) -> settle
//! ([`crate::settle`]) -> store the dead letters -> the settlement. Shared by
//! the Lambda handler and `send`; `redrive` shares the post step.

use futures::StreamExt;
use tokio::time::Instant;

use crate::dead_letter::{DeadLetter, DeadLetterError, Envelope};
use crate::delivery::{Delivery, Post};
use crate::group::{DigestAfter, Placement};
use crate::outcome::Reason;
use crate::plan;
use crate::post::Poster;
use crate::record::{self, Record};
use crate::render::Overrides;
use crate::route::Routing;
use crate::settle::{self, Fate, Settlement, Settling};
use crate::state::{self, State};
use crate::summary::Summary;
use crate::web_api::{Call, WebApiClient};

/// Why an event could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Some records were neither posted, dead-lettered nor handed back to SQS.
    /// Retryable: Lambda should deliver the event again (records already
    /// posted will post twice, unless a state table's posted-once claims
    /// marked them).
    #[error("{source}; {records} records, {posted} posts made before it", posted = summary.posted, records = summary.records)]
    DeadLetter {
        /// What was done before dead-lettering failed.
        summary: Summary,
        /// The storing failure.
        source: DeadLetterError,
    },
}

impl PipelineError {
    /// Whether delivering the same event again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, PipelineError::DeadLetter { .. })
    }

    /// What was done before it failed.
    pub fn summary(&self) -> &Summary {
        match self {
            PipelineError::DeadLetter { summary, .. } => summary,
        }
    }
}

/// When to stop: posting nothing that cannot end by `post`, and storing dead
/// letters until `store` at the latest (`None`: until done, the command line).
#[derive(Debug, Clone, Copy)]
pub struct Until {
    /// Last moment to post.
    pub post: Instant,
    /// Last moment to store dead letters.
    pub store: Option<Instant>,
}

impl Until {
    /// Post until `post`; store without a bound.
    pub fn post(post: Instant) -> Self {
        Self { post, store: None }
    }
}

/// `SendMessageBatch`-sized groups of letters stored at once (bounded).
const STORE_CONCURRENCY: usize = 8;

/// The handler's dependencies: how to post, where dead letters go, what to
/// post to, and the state table (`S`, [`state::Disabled`] without one) and
/// the Web API client for Slack apps (`C`). Built once per process.
pub struct Pipeline<P, D, S = state::Disabled, C = WebApiClient> {
    poster: Poster<P, S, C>,
    dead_letter: D,
    routing: Routing,
    overrides: Overrides,
    /// `Some` when the caller can hand SQS records back (the Lambda handler).
    max_receives: Option<u32>,
    /// `DIGEST_AFTER`: when a group of one destination becomes digests.
    digest_after: DigestAfter,
}

impl<P: Post, D: DeadLetter> Pipeline<P, D> {
    /// A pipeline posting where `routing` says (a lone [`crate::destination::webhook::Webhook`]
    /// converts into "everything to it") through `delivery`, dead-lettering to
    /// `dead_letter`, without a state table or Slack apps (see
    /// [`Pipeline::over`]).
    pub fn new(
        delivery: Delivery<P>,
        dead_letter: D,
        routing: impl Into<Routing>,
        overrides: Overrides,
    ) -> Self {
        Self::over(Poster::new(delivery), dead_letter, routing, overrides)
    }
}

impl<P: Post, D: DeadLetter, S: State, C: Call> Pipeline<P, D, S, C> {
    /// A pipeline posting through `poster` (its webhooks, Slack apps and
    /// state table) where `routing` says, dead-lettering to `dead_letter`.
    pub fn over(
        poster: Poster<P, S, C>,
        dead_letter: D,
        routing: impl Into<Routing>,
        overrides: Overrides,
    ) -> Self {
        Self {
            poster,
            dead_letter,
            routing: routing.into(),
            overrides,
            max_receives: None,
            digest_after: DigestAfter::default(),
        }
    }

    /// The same pipeline, grouping each destination's records as
    /// `digest_after` says (`DIGEST_AFTER`; the default is 5).
    pub fn with_digest_after(mut self, digest_after: DigestAfter) -> Self {
        self.digest_after = digest_after;
        self
    }

    /// The same pipeline, for a caller that answers SQS with a partial batch
    /// response: a record from SQS that could still post later is handed back
    /// to SQS until it has been received `max_receives` times, then
    /// dead-lettered. Without this (the command line), every record that was
    /// not posted is dead-lettered.
    pub fn with_max_receives(mut self, max_receives: u32) -> Self {
        self.max_receives = Some(max_receives);
        self
    }

    /// The dead-letter store.
    pub fn dead_letter(&self) -> &D {
        &self.dead_letter
    }

    /// Handles one payload (an SNS or SQS event). A payload that is neither is
    /// stored as one dead letter with reason `invalid_event` and counts as
    /// handled: retrying it cannot help.
    pub async fn run(&self, payload: &str, until: Until) -> Result<Settlement, PipelineError> {
        match record::parse_event(payload) {
            Ok(records) => self.run_records(&records, until).await,
            Err(why) => {
                tracing::warn!(
                    outcome = "failed",
                    reason = Reason::InvalidEvent.as_str(),
                    error = %why,
                    "the payload is not an SNS or SQS event; it is kept as a dead letter"
                );
                self.finish(settle::invalid_event(payload, &why), until)
                    .await
            }
        }
    }

    /// Plans, delivers and settles already parsed records. Fails only when a
    /// record could be neither posted, stored nor handed back to SQS.
    pub async fn run_records(
        &self,
        records: &[Record],
        until: Until,
    ) -> Result<Settlement, PipelineError> {
        let max = self.poster.delivery().settings().max_message_chars;
        let plans = plan::plan_for(
            records,
            &self.routing,
            &self.overrides,
            max,
            self.digest_after,
        );
        let posted = self
            .poster
            .post(
                records,
                plans,
                self.digest_after,
                &self.overrides,
                until.post,
                until.store,
            )
            .await;
        let fates = posted.fates();
        log(records, &fates);
        let mut settling = settle::settle(records, &fates, self.max_receives);
        settling.add_state_errors(posted.state_errors);
        self.finish(settling, until).await
    }

    /// Stores the settling's letters and settles what was stored.
    async fn finish(&self, settling: Settling, until: Until) -> Result<Settlement, PipelineError> {
        let failure = store(&self.dead_letter, &settling.letters, until.store).await;
        let unsent = failure.as_ref().map_or(&[][..], |e| &e.unsent[..]);
        let (settlement, lost) = settling.stored(unsent);
        let Some(source) = failure else {
            return Ok(settlement);
        };
        if lost == 0 {
            tracing::warn!(
                requeued = settlement.summary.requeued,
                error = %source,
                "dead letters could not be stored; SQS will deliver those records again"
            );
            return Ok(settlement);
        }
        tracing::error!(
            unsent = lost,
            error = %source,
            "dead letters could not be stored; the invocation fails so Lambda retries the event"
        );
        Err(PipelineError::DeadLetter {
            summary: settlement.summary,
            source,
        })
    }
}

/// Stores `letters` in groups of the store's batch size, a few groups at
/// once, giving up at `until`: a group that had not finished by then counts
/// as unsent; the groups stored before stay stored and are not handed back.
async fn store<D: DeadLetter>(
    dead_letter: &D,
    letters: &[Envelope],
    until: Option<Instant>,
) -> Option<DeadLetterError> {
    if letters.is_empty() {
        return None;
    }
    let size = dead_letter.batch_size().max(1);
    let groups = letters
        .chunks(size)
        .enumerate()
        .map(|(g, group)| async move {
            // Boxed: the store's future (an SDK call) is deep, and nesting it
            // inline overflows the compiler's layout depth.
            let stored = Box::pin(dead_letter.store(group));
            let result = match until {
                None => stored.await,
                Some(until) => tokio::time::timeout_at(until, stored)
                    .await
                    .unwrap_or_else(|_| Err(cut(group.len()))),
            };
            (g * size, result)
        });
    let results: Vec<(usize, Result<(), DeadLetterError>)> = futures::stream::iter(groups)
        .buffer_unordered(STORE_CONCURRENCY)
        .collect()
        .await;
    let mut unsent = Vec::new();
    let mut cause = String::new();
    for (offset, result) in results {
        if let Err(e) = result {
            unsent.extend(e.unsent.iter().map(|k| offset + k));
            cause = e.cause;
        }
    }
    unsent.sort_unstable();
    if unsent.is_empty() {
        return None;
    }
    Some(DeadLetterError {
        unsent,
        total: letters.len(),
        cause,
    })
}

fn cut(len: usize) -> DeadLetterError {
    DeadLetterError {
        unsent: (0..len).collect(),
        total: len,
        cause: "storing them did not finish before the invocation's deadline".into(),
    }
}

/// One log line per post and per record not posted.
fn log(records: &[Record], fates: &[Fate<'_>]) {
    for (record, fate) in records.iter().zip(fates) {
        let message_id = record.message_id();
        match *fate {
            Fate::Dropped { rule } => tracing::info!(
                message_id,
                outcome = "dropped",
                rule,
                "record muted by a drop rule of ROUTES"
            ),
            Fate::NotAttempted(failure) => log_failure(message_id, 0, None, failure),
            Fate::Delivered(ref carried) => {
                for c in carried {
                    let (webhook, outcome) = (c.destination.name.as_str(), c.outcome);
                    match &outcome.result {
                        Ok(()) if c.role == Placement::Duplicate => tracing::info!(
                            message_id,
                            outcome = "skipped_duplicate",
                            webhook,
                            "record already posted there by an earlier invocation; not posted again"
                        ),
                        Ok(()) => tracing::info!(
                            message_id,
                            outcome = "posted",
                            fate = c.role.as_str(),
                            attempts = outcome.attempts,
                            webhook,
                            latency_ms = outcome.latency.map(|d| d.as_millis() as u64),
                            "record posted"
                        ),
                        Err(f) => log_failure(message_id, outcome.attempts, Some(webhook), f),
                    }
                }
            }
        }
    }
}

fn log_failure(
    message_id: &str,
    attempts: u32,
    webhook: Option<&str>,
    failure: &crate::outcome::Failure,
) {
    tracing::warn!(
        message_id,
        outcome = "failed",
        attempts,
        webhook,
        reason = failure.reason.as_str(),
        retryable = failure.reason.is_retryable(),
        status = failure.status,
        detail = %failure.detail,
        "record not posted"
    );
}
