//! One SNS event end to end: records -> Slack messages -> delivery -> outcomes
//! -> dead letters -> summary. Shared by the Lambda handler and `send`.

use std::collections::BTreeMap;

use serde::Serialize;
use tokio::time::Instant;

use crate::dead_letter::{DeadLetter, DeadLetterError, ENVELOPE_VERSION, Envelope, rfc3339};
use crate::delivery::{Delivery, Job, Post};
use crate::format;
use crate::format::Overrides;
use crate::format::attachments as message;
use crate::outcome::Outcome;
use crate::outcome::{Failure, Reason};
use crate::record::{self, EventError, Notification, Record};
use crate::route::{Facts, Route, Routing};
use crate::webhooks::Destination;
use bytes::Bytes;
use serde_json::value::RawValue;
use std::sync::Arc;

/// What one event came to. Every record is posted (to each webhook it is
/// routed to), dead-lettered, muted by a rule, or (from an SQS batch) handed
/// back to SQS to be delivered again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Records in the event (an unreadable payload counts as one).
    pub records: usize,
    /// Posts Slack accepted (a record routed to two webhooks counts twice).
    pub posted: usize,
    /// Dead letters stored (one per record and webhook that failed).
    pub dead_lettered: usize,
    /// Records of an SQS batch listed in the batch response, so that SQS
    /// delivers them again after the visibility timeout.
    pub requeued: usize,
    /// Records muted by a `drop` rule of `ROUTES` (not posted, not
    /// dead-lettered).
    pub dropped: usize,
    /// Records no rule of `ROUTES` matched (dead-lettered as `unrouted`).
    pub unrouted: usize,
    /// Dead letters by reason.
    pub reasons: BTreeMap<Reason, usize>,
    /// Posts and dead letters by webhook name.
    pub webhooks: BTreeMap<String, WebhookCounts>,
    /// HTTP attempts beyond the first, over all records.
    pub retries: u32,
    /// 429 answers seen.
    pub rate_limited: u32,
    /// Delivery latency of each posted record, in milliseconds (metrics only).
    #[serde(skip)]
    pub latencies_ms: Vec<u64>,
}

/// What one webhook's share of an event came to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WebhookCounts {
    /// Posts Slack accepted.
    pub posted: usize,
    /// Dead letters stored for it.
    pub dead_lettered: usize,
}

/// What one payload came to: the summary and, for an SQS event, the SQS
/// message ids of the records SQS should deliver again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The counts.
    pub summary: Summary,
    /// `Some` for an SQS event (possibly empty): the `messageId`s to list in the
    /// partial batch response. `None` for an SNS event or an unreadable payload.
    pub requeue: Option<Vec<String>>,
}

/// Why an event could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Some records were neither posted, dead-lettered nor handed back to SQS.
    /// Retryable: Lambda should deliver the event again (records already
    /// posted will post twice).
    #[error("{source}; of {records} records, {posted} posts were accepted (one post per record and webhook)", posted = summary.posted, records = summary.records)]
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

/// What becomes of one record before delivery. Pure.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Post `body` to each of `to`.
    Post {
        /// The Slack message as JSON, shared by every webhook it goes to.
        body: Bytes,
        /// The webhooks, at least one.
        to: Vec<Arc<Destination>>,
    },
    /// Muted by rule number `rule` of `ROUTES`.
    Drop {
        /// The rule's index.
        rule: usize,
    },
    /// Not posted: dead-lettered with this failure (unreadable, unrouted).
    Fail(Failure),
}

impl Plan {
    /// The plan of a record that is not a readable SNS record.
    fn unreadable(why: &str) -> Self {
        Plan::Fail(Failure {
            reason: Reason::InvalidRecord,
            status: None,
            detail: why.to_string(),
        })
    }
}

/// Plans each record to go to exactly `to`, whatever `ROUTES` says (a dead
/// letter that names its webhook; an empty `to` for a preview). Pure.
pub fn plan_to(
    records: &[Record],
    to: &[Arc<Destination>],
    overrides: &Overrides,
    max_message_chars: usize,
) -> Vec<Plan> {
    records
        .iter()
        .map(|record| match record.notification() {
            Ok(n) => Plan::Post {
                body: body(n, overrides, max_message_chars),
                to: to.to_vec(),
            },
            Err(why) => Plan::unreadable(why),
        })
        .collect()
}

/// Plans each record: detects its kind and status, routes it, and writes its
/// Slack message once for all the webhooks it goes to. Pure.
pub fn plan(
    records: &[Record],
    routing: &Routing,
    overrides: &Overrides,
    max_message_chars: usize,
) -> Vec<Plan> {
    records
        .iter()
        .map(|record| {
            let n = match record.notification() {
                Ok(n) => n,
                Err(why) => return Plan::unreadable(why),
            };
            let analysis = format::analyse(n);
            let detection = &analysis.detection;
            let facts = Facts {
                topic: message::topic_name(&n.topic_arn),
                subject: n.subject.as_deref().unwrap_or(""),
                kind: detection.kind.as_str(),
                status: detection.status.as_deref().unwrap_or(""),
                attributes: &n.message_attributes,
            };
            match routing.decide(&facts) {
                Route::To(to) => Plan::Post {
                    body: serialize(
                        &format::render_analysis(n, &analysis, overrides, max_message_chars),
                        n,
                        max_message_chars,
                    ),
                    to,
                },
                Route::Drop { rule } => Plan::Drop { rule },
                Route::Unrouted => Plan::Fail(Failure {
                    reason: Reason::Unrouted,
                    status: None,
                    detail: format!(
                        "no rule of ROUTES matched (topic {:?}, subject {:?}, kind {}, status {:?})",
                        facts.topic, facts.subject, facts.kind, facts.status
                    ),
                }),
            }
        })
        .collect()
}

/// The JSON body of `n`'s Slack message (detected and rendered).
pub fn body(n: &Notification, overrides: &Overrides, max_message_chars: usize) -> Bytes {
    serialize(
        &format::format(n, overrides, max_message_chars),
        n,
        max_message_chars,
    )
}

fn serialize(payload: &format::Payload, n: &Notification, max_message_chars: usize) -> Bytes {
    // Sized for the message plus the layout, so it is usually written without
    // growing; capped near the message's cut, since the body keeps this
    // allocation while it waits.
    let estimate = n.message.len().min(2 * max_message_chars) + 512;
    let mut body = Vec::with_capacity(estimate);
    serde_json::to_writer(&mut body, payload).expect("a Slack message always serializes");
    body.into()
}

/// Builds the dead-letter envelope of a record that was not posted.
pub fn envelope(
    record: &Record,
    outcome: &Outcome,
    failure: &Failure,
    webhook: Option<&str>,
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
        webhook: webhook.map(str::to_string),
        version: ENVELOPE_VERSION,
    }
}

/// The dead-letter envelope of a payload that is not an SNS or SQS event: the
/// payload kept verbatim (as a JSON string when it is not JSON at all).
pub fn invalid_event_envelope(payload: &str, why: &EventError) -> Envelope {
    let record = RawValue::from_string(payload.to_owned())
        .or_else(|_| serde_json::value::to_raw_value(payload))
        .expect("a string always serializes");
    Envelope {
        record,
        reason: Reason::InvalidEvent,
        status: None,
        detail: why.to_string(),
        attempts: 0,
        first_attempt_at: None,
        last_attempt_at: None,
        message_id: String::new(),
        webhook: None,
        version: ENVELOPE_VERSION,
    }
}

/// The handler's dependencies: how to post, where dead letters go, and what to
/// post to. Built once per process.
pub struct Pipeline<P, D> {
    delivery: Delivery<P>,
    dead_letter: D,
    routing: Routing,
    overrides: Overrides,
    /// `Some` when the caller can hand SQS records back (the Lambda handler).
    max_receives: Option<u32>,
}

impl<P: Post, D: DeadLetter> Pipeline<P, D> {
    /// A pipeline posting where `routing` says (a lone [`Webhook`] converts
    /// into "everything to it") through `delivery`, dead-lettering to
    /// `dead_letter`.
    pub fn new(
        delivery: Delivery<P>,
        dead_letter: D,
        routing: impl Into<Routing>,
        overrides: Overrides,
    ) -> Self {
        Self {
            delivery,
            dead_letter,
            routing: routing.into(),
            overrides,
            max_receives: None,
        }
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

    /// Handles one event payload, posting until `stop_at` at the latest, with
    /// no bound on storing dead letters (the command line).
    pub async fn run(&self, payload: &str, stop_at: Instant) -> Result<Summary, PipelineError> {
        self.run_until(payload, stop_at, None)
            .await
            .map(|report| report.summary)
    }

    /// Handles one payload (an SNS or SQS event), posting until `stop_at` and
    /// storing dead letters until `store_until` at the latest.
    ///
    /// A payload that is neither event is stored as one dead letter with reason
    /// `invalid_event` and counts as handled: retrying it cannot help.
    pub async fn run_until(
        &self,
        payload: &str,
        stop_at: Instant,
        store_until: Option<Instant>,
    ) -> Result<Report, PipelineError> {
        match record::parse_event(payload) {
            Ok(records) => self.run_records_until(&records, stop_at, store_until).await,
            Err(why) => {
                tracing::warn!(
                    outcome = "failed",
                    reason = Reason::InvalidEvent.as_str(),
                    error = %why,
                    "the payload is not an SNS or SQS event; it is kept as a dead letter"
                );
                let envelope = invalid_event_envelope(payload, &why);
                let mut summary = Summary {
                    records: 1,
                    ..Summary::default()
                };
                self.store(&[envelope], store_until)
                    .await
                    .map_err(|source| PipelineError::DeadLetter {
                        summary: summary.clone(),
                        source,
                    })?;
                summary.dead_lettered = 1;
                summary.reasons.insert(Reason::InvalidEvent, 1);
                Ok(Report {
                    summary,
                    requeue: None,
                })
            }
        }
    }

    /// Delivers already parsed records, dead-letters what was not posted, and
    /// sums up. Fails only when a record could be neither posted nor stored.
    pub async fn run_records(
        &self,
        records: &[Record],
        stop_at: Instant,
    ) -> Result<Summary, PipelineError> {
        self.run_records_until(records, stop_at, None)
            .await
            .map(|report| report.summary)
    }

    /// [`Pipeline::run_records`] with storing bounded by `store_until`.
    ///
    /// A record from SQS that failed for a reason that may pass later is handed
    /// back to SQS (listed in the report) until its receive count reaches
    /// `max_receives`; then it is dead-lettered. A record from SQS whose dead
    /// letter cannot be stored is handed back too, so that one store failure
    /// never fails the batch and nothing already posted is posted twice.
    pub async fn run_records_until(
        &self,
        records: &[Record],
        stop_at: Instant,
        store_until: Option<Instant>,
    ) -> Result<Report, PipelineError> {
        let plans = plan(
            records,
            &self.routing,
            &self.overrides,
            self.delivery.settings().max_message_chars,
        );
        // One job per (record, webhook) pair to post; `branches[r]` lists
        // record r's jobs.
        let mut jobs = Vec::new();
        let mut branches: Vec<Vec<usize>> = vec![Vec::new(); records.len()];
        for (r, p) in plans.iter().enumerate() {
            if let Plan::Post { body, to } = p {
                for destination in to {
                    branches[r].push(jobs.len());
                    jobs.push(Job {
                        destination: destination.clone(),
                        body: body.clone(),
                    });
                }
            }
        }
        let outcomes = self.delivery.deliver(&jobs, stop_at).await;
        let mut summary = Summary {
            records: records.len(),
            ..Summary::default()
        };
        // Receipts matter only to a caller that can hand records back to SQS.
        let receipt = |r: &Record| self.max_receives.and(r.receipt().cloned());
        let from_sqs = records.iter().any(|r| receipt(r).is_some());
        let mut requeue = Vec::new();
        // Envelopes to store, each with the index of its record.
        let mut envelopes = Vec::new();
        let mut owners = Vec::new();
        for (r, (record, p)) in records.iter().zip(&plans).enumerate() {
            let failed: Vec<(&Outcome, &Failure, Option<&str>)> = match p {
                Plan::Drop { rule } => {
                    summary.dropped += 1;
                    tracing::info!(
                        message_id = record.message_id(),
                        outcome = "dropped",
                        rule,
                        "record muted by a drop rule of ROUTES"
                    );
                    continue;
                }
                Plan::Fail(failure) => {
                    if failure.reason == Reason::Unrouted {
                        summary.unrouted += 1;
                    }
                    log_failure(record, 0, None, failure);
                    vec![(&NOT_ATTEMPTED, failure, None)]
                }
                Plan::Post { .. } => branches[r]
                    .iter()
                    .filter_map(|&j| {
                        let (outcome, name) = (&outcomes[j], jobs[j].destination.name.as_str());
                        summary.retries += outcome.attempts.saturating_sub(1);
                        summary.rate_limited += outcome.rate_limited;
                        match &outcome.result {
                            Ok(()) => {
                                log_posted(record, outcome, name);
                                summary.posted += 1;
                                summary.webhooks.entry(name.to_string()).or_default().posted += 1;
                                summary
                                    .latencies_ms
                                    .extend(outcome.latency.map(|d| d.as_millis() as u64));
                                None
                            }
                            Err(failure) => {
                                log_failure(record, outcome.attempts, Some(name), failure);
                                Some((outcome, failure, Some(name)))
                            }
                        }
                    })
                    .collect(),
            };
            if failed.is_empty() {
                continue;
            }
            // Hand the record back to SQS only when every branch failed and may
            // pass later: a branch that posted would post again on the next
            // receive, so a partly posted record dead-letters its failures.
            let all_failed_later = failed.len() == branches[r].len().max(1)
                && failed.iter().all(|(_, f, _)| f.reason.is_retryable());
            match receipt(record) {
                Some(rc) if all_failed_later && Some(rc.receive_count) < self.max_receives => {
                    requeue.push(rc.message_id);
                }
                _ => {
                    for (outcome, failure, name) in failed {
                        envelopes.push(envelope(record, outcome, failure, name));
                        owners.push(r);
                    }
                }
            }
        }
        let unsent = match self.store(&envelopes, store_until).await {
            Ok(()) => Vec::new(),
            Err(source) => {
                // SQS keeps a record it is told about: hand those back.
                let (by_sqs, lost): (Vec<usize>, Vec<usize>) = source
                    .unsent
                    .iter()
                    .partition(|&&k| receipt(&records[owners[k]]).is_some());
                let mut handed_back: Vec<usize> = by_sqs.iter().map(|&k| owners[k]).collect();
                handed_back.dedup();
                requeue.extend(
                    handed_back
                        .iter()
                        .filter_map(|&r| receipt(&records[r]).map(|rc| rc.message_id)),
                );
                if !lost.is_empty() {
                    count_stored(&mut summary, &envelopes, &source.unsent);
                    summary.requeued = requeue.len();
                    tracing::error!(
                        unsent = lost.len(),
                        error = %source,
                        "dead letters could not be stored; the invocation fails so Lambda retries the event"
                    );
                    return Err(PipelineError::DeadLetter { summary, source });
                }
                tracing::warn!(
                    requeued = by_sqs.len(),
                    error = %source,
                    "dead letters could not be stored; SQS will deliver those records again"
                );
                source.unsent
            }
        };
        count_stored(&mut summary, &envelopes, &unsent);
        summary.requeued = requeue.len();
        Ok(Report {
            summary,
            requeue: from_sqs.then_some(requeue),
        })
    }

    /// Stores `envelopes`, giving up at `store_until` (every envelope then
    /// counts as unsent).
    async fn store(
        &self,
        envelopes: &[Envelope],
        store_until: Option<Instant>,
    ) -> Result<(), DeadLetterError> {
        if envelopes.is_empty() {
            return Ok(());
        }
        // Boxed: the store's future (an SDK call) is deep, and nesting it inline
        // in every caller's state machine overflows the compiler's layout depth.
        let store = Box::pin(self.dead_letter.store(envelopes));
        let Some(until) = store_until else {
            return store.await;
        };
        tokio::time::timeout_at(until, store)
            .await
            .unwrap_or_else(|_| {
                Err(DeadLetterError {
                    unsent: (0..envelopes.len()).collect(),
                    total: envelopes.len(),
                    cause: "storing them did not finish before the invocation's deadline".into(),
                })
            })
    }
}

/// Counts the envelopes stored (all but `unsent`) into `dead_lettered` and the
/// reasons.
fn count_stored(summary: &mut Summary, envelopes: &[Envelope], unsent: &[usize]) {
    for (k, envelope) in envelopes.iter().enumerate() {
        if unsent.binary_search(&k).is_err() {
            summary.dead_lettered += 1;
            *summary.reasons.entry(envelope.reason).or_default() += 1;
            if let Some(name) = &envelope.webhook {
                summary
                    .webhooks
                    .entry(name.clone())
                    .or_default()
                    .dead_lettered += 1;
            }
        }
    }
}

/// The outcome of a record that was never attempted.
static NOT_ATTEMPTED: Outcome = Outcome::unattempted(Ok(()));

fn log_posted(record: &Record, outcome: &Outcome, webhook: &str) {
    tracing::info!(
        message_id = record.message_id(),
        outcome = "posted",
        attempts = outcome.attempts,
        webhook,
        latency_ms = outcome.latency.map(|d| d.as_millis() as u64),
        "record posted"
    );
}

fn log_failure(record: &Record, attempts: u32, webhook: Option<&str>, failure: &Failure) {
    tracing::warn!(
        message_id = record.message_id(),
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
