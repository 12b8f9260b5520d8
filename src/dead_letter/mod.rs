//! Dead letters: the envelope that carries an unposted record, and the
//! [`DeadLetter`] port that stores envelopes (SQS in Lambda, a JSON-lines file
//! on the command line).

pub mod file;
pub mod sqs;

use std::future::Future;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::outcome::Reason;

/// Version of the envelope layout, written in every envelope.
///
/// - 1: `record` is the record as received (in buffered mode the SQS record,
///   whose body escapes the SNS notification, or holds an earlier envelope).
/// - 2: `record` is the innermost record (an SNS record, the SNS notification
///   as JSON, or the SQS record of a raw message), never an envelope; earlier
///   dead letters of it are listed in `history`, so nesting never grows with
///   DLQ -> buffer round trips. Both versions are read.
pub const ENVELOPE_VERSION: u32 = 2;

/// Most earlier dead letters an envelope lists; the oldest are dropped.
pub const MAX_HISTORY: usize = 20;

/// An earlier dead letter of the same record (it went DLQ -> buffer and failed
/// again): why, and how hard it was tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Earlier {
    /// Why it was not posted then.
    pub reason: Reason,
    /// Slack's last HTTP status then, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// HTTP attempts made then.
    pub attempts: u32,
    /// Its last attempt (RFC 3339, UTC), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The webhook it was meant for, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
}

/// One record that was not posted, with why. Serialized as the body of an SQS
/// message or one line of the dead-letter file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// The record (see [`ENVELOPE_VERSION`] for what each version keeps); for
    /// `invalid_event`, the whole payload.
    pub record: Box<RawValue>,
    /// Why it was not posted.
    pub reason: Reason,
    /// Slack's last HTTP status, if it answered.
    pub status: Option<u16>,
    /// What happened, for people; never contains the webhook URL.
    pub detail: String,
    /// HTTP attempts made.
    pub attempts: u32,
    /// First attempt (RFC 3339, UTC), if any was made.
    pub first_attempt_at: Option<String>,
    /// Last attempt (RFC 3339, UTC), if any was made.
    pub last_attempt_at: Option<String>,
    /// The SNS message id, for search (empty when the record is unreadable).
    #[serde(default)]
    pub message_id: String,
    /// The name of the webhook it was meant for (`ops`; the `wh-…` id in
    /// letters of early versions), if one.
    #[serde(default)]
    pub webhook: Option<String>,
    /// Earlier dead letters of this record, oldest first (version 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Earlier>,
    /// Envelope layout version.
    #[serde(default = "default_version")]
    pub version: u32,
}

fn default_version() -> u32 {
    ENVELOPE_VERSION
}

/// Formats a wall-clock time as RFC 3339 in UTC with milliseconds.
pub fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Envelope {
    /// The envelope as the JSON text that is stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an envelope always serializes")
    }
}

/// Storing dead letters failed for some envelopes. Retryable: the records must
/// be delivered again (Lambda retries a failed SNS invocation; SQS redelivers
/// the records a batch response lists). This holds even when a store refused an
/// envelope for good (SQS's `SenderFault`, an oversized message): failing
/// loudly is how such a record avoids being dropped in silence.
#[derive(Debug, thiserror::Error)]
#[error("{} of {total} dead letters could not be stored: {cause}", unsent.len())]
pub struct DeadLetterError {
    /// Indices (into the envelopes handed over) of those not stored, ascending.
    pub unsent: Vec<usize>,
    /// Envelopes handed over.
    pub total: usize,
    /// The last error seen (no secrets).
    pub cause: String,
}

/// Somewhere to keep records that were not posted.
pub trait DeadLetter: Send + Sync {
    /// Stores every envelope, or says how many could not be stored.
    fn store(
        &self,
        envelopes: &[Envelope],
    ) -> impl Future<Output = Result<(), DeadLetterError>> + Send;

    /// Envelopes worth handing over in one call: the pipeline stores larger
    /// sets in groups of this size, several at once, so that a deadline cut
    /// knows which groups were stored. Unbounded by default.
    fn batch_size(&self) -> usize {
        usize::MAX
    }
}

/// The dead-letter store chosen at start-up: SQS when a queue URL is
/// configured, otherwise the local JSON-lines file.
pub enum Store {
    /// An SQS queue.
    Sqs(sqs::SqsDeadLetter),
    /// A JSON-lines file.
    File(file::FileDeadLetter),
}

impl Store {
    /// SQS at `queue_url` when given, else the file at `file`.
    pub fn choose(queue_url: Option<&str>, file: &str) -> Self {
        match queue_url {
            Some(url) => Store::Sqs(sqs::SqsDeadLetter::new(url)),
            None => Store::File(file::FileDeadLetter::new(file)),
        }
    }

    /// Where dead letters go, for people (a queue URL or a file path).
    pub fn describe(&self) -> String {
        match self {
            Store::Sqs(q) => q.queue_url().to_string(),
            Store::File(f) => f.path().display().to_string(),
        }
    }
}

impl DeadLetter for Store {
    async fn store(&self, envelopes: &[Envelope]) -> Result<(), DeadLetterError> {
        match self {
            Store::Sqs(q) => q.store(envelopes).await,
            Store::File(f) => f.store(envelopes).await,
        }
    }

    fn batch_size(&self) -> usize {
        match self {
            Store::Sqs(q) => q.batch_size(),
            Store::File(f) => f.batch_size(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_with_the_record_verbatim() {
        let raw = r#"{"Sns":{"Message":"a  b","MessageId":"m1","Odd":1.000}}"#;
        let env = Envelope {
            record: RawValue::from_string(raw.into()).unwrap(),
            reason: Reason::Rejected,
            status: Some(404),
            detail: "HTTP 404: channel_not_found".into(),
            attempts: 1,
            first_attempt_at: Some(rfc3339(SystemTime::UNIX_EPOCH)),
            last_attempt_at: None,
            message_id: "m1".into(),
            webhook: Some("ops".into()),
            history: Vec::new(),
            version: ENVELOPE_VERSION,
        };
        let json = env.to_json();
        assert!(json.contains(raw), "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["reason"], "rejected");
        assert_eq!(v["status"], 404);
        assert_eq!(v["first_attempt_at"], "1970-01-01T00:00:00.000Z");
        assert!(v["last_attempt_at"].is_null());
        let back: Envelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back.record.get(), raw);
        assert_eq!(back.reason, Reason::Rejected);
    }
}
