//! What became of a record: the vocabulary that delivery, dead letters,
//! metrics and summaries share. Pure.
//!
//! [`Reason`] is the code a dead letter, a log line and a metric dimension
//! carry; [`Failure`] adds Slack's status and a secret-free detail; [`Outcome`]
//! is how the delivery of one message to one webhook ended.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// Why a record was not posted; the `reason` of a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Slack kept answering 429.
    RateLimited,
    /// Slack kept answering 5xx.
    ServerError,
    /// Slack refused the message permanently (a 4xx other than 408/429).
    Rejected,
    /// The connection failed (refused, reset, TLS).
    Transport,
    /// Attempts kept timing out.
    Timeout,
    /// The invocation's deadline came before the record could be posted.
    Deadline,
    /// The record is not a readable SNS record.
    InvalidRecord,
    /// The whole invocation payload is not an SNS or SQS event; the dead
    /// letter keeps the payload verbatim.
    InvalidEvent,
    /// No rule of `ROUTES` matched the record.
    Unrouted,
    /// Another attempt at the same record held its posted-once claim in the
    /// state table (it may be posting it right now); tried again later.
    Busy,
}

impl Reason {
    /// The snake_case code used in dead letters, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::RateLimited => "rate_limited",
            Reason::ServerError => "server_error",
            Reason::Rejected => "rejected",
            Reason::Transport => "transport",
            Reason::Timeout => "timeout",
            Reason::Deadline => "deadline",
            Reason::InvalidRecord => "invalid_record",
            Reason::InvalidEvent => "invalid_event",
            Reason::Unrouted => "unrouted",
            Reason::Busy => "busy",
        }
    }

    /// Whether trying again later (a redrive) may succeed without a change.
    pub fn is_retryable(self) -> bool {
        !matches!(
            self,
            Reason::Rejected | Reason::InvalidRecord | Reason::InvalidEvent | Reason::Unrouted
        )
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed attempt or a failed record: reason, HTTP status, and a human
/// detail free of secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The reason code.
    pub reason: Reason,
    /// Slack's HTTP status, when it answered.
    pub status: Option<u16>,
    /// What happened, for people (Slack's error string, the transport error).
    pub detail: String,
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
    /// State table calls that failed for it (`StateErrors`); it went on
    /// without them.
    pub state_errors: u32,
    /// Posted as a reply in a thread (an app destination; `replies`).
    pub replied: bool,
    /// The thread's original message was updated (`updates`).
    pub updated: bool,
}

impl Outcome {
    /// An outcome before any attempt: no attempts, no times, `result` as given.
    pub const fn unattempted(result: Result<(), Failure>) -> Self {
        Self {
            result,
            attempts: 0,
            rate_limited: 0,
            first_attempt_at: None,
            last_attempt_at: None,
            latency: None,
            state_errors: 0,
            replied: false,
            updated: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_serialize_as_their_codes() {
        for r in [
            Reason::RateLimited,
            Reason::ServerError,
            Reason::Rejected,
            Reason::Transport,
            Reason::Timeout,
            Reason::Deadline,
            Reason::InvalidRecord,
            Reason::InvalidEvent,
            Reason::Unrouted,
            Reason::Busy,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert!(!Reason::Rejected.is_retryable());
        assert!(Reason::Deadline.is_retryable());
    }
}
