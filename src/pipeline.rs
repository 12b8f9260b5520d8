//! One SNS event end to end: records -> Slack messages -> delivery -> outcomes
//! -> dead letters -> summary. Shared by the Lambda handler and `send`.

use std::collections::BTreeMap;

use serde::Serialize;
use tokio::time::Instant;

use crate::config::Overrides;
use crate::dead_letter::{DeadLetter, DeadLetterError, ENVELOPE_VERSION, Envelope, rfc3339};
use crate::delivery::policy::{Failure, Reason};
use crate::delivery::{Delivery, Job, Outcome, Post};
use crate::format;
use crate::record::{self, EventError, Record};
use crate::webhook::Webhook;

/// What one event came to. Every record is either posted or dead-lettered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Records in the event.
    pub records: usize,
    /// Records Slack accepted.
    pub posted: usize,
    /// Records stored as dead letters.
    pub dead_lettered: usize,
    /// Dead letters by reason.
    pub reasons: BTreeMap<Reason, usize>,
    /// HTTP attempts beyond the first, over all records.
    pub retries: u32,
    /// 429 answers seen.
    pub rate_limited: u32,
    /// Delivery latency of each posted record, in milliseconds (metrics only).
    #[serde(skip)]
    pub latencies_ms: Vec<u64>,
}

/// Why an event could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The payload is not an SNS event. Not retryable.
    #[error(transparent)]
    Event(#[from] EventError),
    /// Some records were neither posted nor dead-lettered. Retryable: Lambda
    /// should deliver the event again (records already posted will post twice).
    #[error("{source}; {posted} of {records} records were posted", posted = summary.posted, records = summary.records)]
    DeadLetter {
        /// What was done before dead-lettering failed.
        summary: Summary,
        /// The storage failure.
        source: DeadLetterError,
    },
}

impl PipelineError {
    /// Whether delivering the same event again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, PipelineError::DeadLetter { .. })
    }
}

/// Turns each record into a job: its Slack message as JSON, or the reason it
/// has none (an unreadable record). Pure.
pub fn prepare(records: &[Record], overrides: &Overrides, max_message_chars: usize) -> Vec<Job> {
    records
        .iter()
        .map(|record| Job {
            body: match record.notification() {
                Ok(n) => {
                    // Sized for the message plus the layout, so it is usually
                    // written without growing; capped near the message's cut,
                    // since the body keeps this allocation while it waits.
                    let estimate = n.message.len().min(2 * max_message_chars) + 512;
                    let mut body = Vec::with_capacity(estimate);
                    serde_json::to_writer(
                        &mut body,
                        &format::format(n, overrides, max_message_chars),
                    )
                    .expect("a Slack message always serializes");
                    Ok(body.into())
                }
                Err(why) => Err(Failure {
                    reason: Reason::InvalidRecord,
                    status: None,
                    detail: why.to_string(),
                }),
            },
        })
        .collect()
}

/// Builds the dead-letter envelope of a record that was not posted.
pub fn envelope(
    record: &Record,
    outcome: &Outcome,
    failure: &Failure,
    webhook: Option<&Webhook>,
) -> Envelope {
    Envelope {
        record: record.raw().to_owned(),
        reason: failure.reason,
        status: failure.status,
        detail: failure.detail.clone(),
        attempts: outcome.attempts,
        first_attempt_at: outcome.first_attempt_at.map(rfc3339),
        last_attempt_at: outcome.last_attempt_at.map(rfc3339),
        message_id: record.message_id().to_string(),
        webhook: webhook.map(|w| w.id().to_string()),
        version: ENVELOPE_VERSION,
    }
}

/// The handler's dependencies: how to post, where dead letters go, and what to
/// post to. Built once per process.
pub struct Pipeline<P, D> {
    delivery: Delivery<P>,
    dead_letter: D,
    webhook: Webhook,
    overrides: Overrides,
}

impl<P: Post, D: DeadLetter> Pipeline<P, D> {
    /// A pipeline posting to `webhook` through `delivery`, dead-lettering to
    /// `dead_letter`.
    pub fn new(
        delivery: Delivery<P>,
        dead_letter: D,
        webhook: Webhook,
        overrides: Overrides,
    ) -> Self {
        Self {
            delivery,
            dead_letter,
            webhook,
            overrides,
        }
    }

    /// The dead-letter store.
    pub fn dead_letter(&self) -> &D {
        &self.dead_letter
    }

    /// Handles one event payload, posting until `stop_at` at the latest.
    pub async fn run(&self, payload: &str, stop_at: Instant) -> Result<Summary, PipelineError> {
        let records = record::parse_event(payload)?;
        self.run_records(&records, stop_at).await
    }

    /// Delivers already parsed records, dead-letters what was not posted, and
    /// sums up. Fails only when a record could be neither posted nor stored.
    pub async fn run_records(
        &self,
        records: &[Record],
        stop_at: Instant,
    ) -> Result<Summary, PipelineError> {
        let jobs = prepare(
            records,
            &self.overrides,
            self.delivery.settings().max_message_chars,
        );
        let outcomes = self.delivery.deliver(&self.webhook, &jobs, stop_at).await;
        let mut summary = Summary {
            records: records.len(),
            ..Summary::default()
        };
        let mut envelopes = Vec::new();
        for (record, outcome) in records.iter().zip(&outcomes) {
            log_outcome(record, outcome, &self.webhook);
            summary.retries += outcome.attempts.saturating_sub(1);
            summary.rate_limited += outcome.rate_limited;
            match &outcome.result {
                Ok(()) => {
                    summary.posted += 1;
                    summary
                        .latencies_ms
                        .extend(outcome.latency.map(|d| d.as_millis() as u64));
                }
                Err(failure) => {
                    *summary.reasons.entry(failure.reason).or_default() += 1;
                    envelopes.push(envelope(record, outcome, failure, Some(&self.webhook)));
                }
            }
        }
        if let Err(source) = self.dead_letter.store(&envelopes).await {
            summary.dead_lettered = envelopes.len() - source.unsent;
            tracing::error!(
                unsent = source.unsent,
                error = %source,
                "dead letters could not be stored; the invocation fails so Lambda retries the event"
            );
            return Err(PipelineError::DeadLetter { summary, source });
        }
        summary.dead_lettered = envelopes.len();
        Ok(summary)
    }
}

fn log_outcome(record: &Record, outcome: &Outcome, webhook: &Webhook) {
    let message_id = record.message_id();
    match &outcome.result {
        Ok(()) => tracing::info!(
            message_id,
            outcome = "posted",
            attempts = outcome.attempts,
            webhook = webhook.id(),
            latency_ms = outcome.latency.map(|d| d.as_millis() as u64),
            "record posted"
        ),
        Err(failure) => tracing::warn!(
            message_id,
            outcome = "failed",
            attempts = outcome.attempts,
            webhook = webhook.id(),
            reason = failure.reason.as_str(),
            retryable = failure.reason.is_retryable(),
            status = failure.status,
            detail = %failure.detail,
            "record not posted"
        ),
    }
}
