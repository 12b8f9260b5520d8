//! What an event came to: the counts a summary, a log line and the metrics
//! share. Pure data, so that [`crate::metrics`] reads it without the pipeline.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::outcome::Reason;

/// What one event came to. Every record is posted (to each webhook it is
/// routed to), dead-lettered, muted by a rule, or (from an SQS batch) handed
/// back to SQS to be delivered again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Records in the event (an unreadable payload counts as one).
    pub records: usize,
    /// Records posted on their own message (a record routed to two webhooks
    /// counts twice).
    pub posted: usize,
    /// Digest messages posted (each carries many records).
    pub digests: usize,
    /// Records posted as a line of a digest.
    pub digested: usize,
    /// Records folded into another record's message or digest line that was
    /// posted: a duplicate, or an earlier state of a flapping alarm.
    pub collapsed: usize,
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
    /// Posts made as a reply in a thread (app destinations with a state
    /// table), among `posted`.
    pub replies: usize,
    /// Thread originals updated to show the current status.
    pub updates: usize,
    /// (record, destination) pairs not posted because an earlier invocation
    /// posted them there (the state table's posted-once claims).
    pub skipped_duplicates: usize,
    /// State table calls that failed (the records went on without them).
    pub state_errors: u32,
    /// Delivery latency of each posted record, in milliseconds (metrics only).
    #[serde(skip)]
    pub latencies_ms: Vec<u64>,
}

/// What one webhook's share of an event came to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WebhookCounts {
    /// Records Slack accepted there: on their own, in a digest or folded.
    pub posted: usize,
    /// Dead letters stored for it.
    pub dead_lettered: usize,
    /// 429 answers it gave.
    pub rate_limited: u32,
}
