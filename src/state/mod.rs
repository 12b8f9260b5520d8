//! The state port: posted-once claims and threads, kept in one table
//! (`STATE_TABLE`), behind the small [`State`] trait.
//!
//! Two kinds of item, both under the string partition key `pk` and expiring
//! by DynamoDB's TTL on `expires_at` (a Number of epoch seconds):
//!
//! - a **claim** per (SNS `MessageId`, destination), `pk` =
//!   `posted#<destination>#<message id>`: taken before the post
//!   ([`State::claim`]), marked after it ([`State::mark_posted`]), and kept
//!   [`StateSettings::claim_ttl`] so that a redelivery of the same record is
//!   not posted again;
//! - a **thread** per (destination, `thread_key`), `pk` =
//!   `thread#<destination>#<thread key>`: the original message's channel and
//!   `ts`, when it was posted and the statuses so far
//!   ([`crate::lifecycle::Thread`]), expiring `THREAD_TTL_HOURS` after the
//!   original.
//!
//! A third kind, the **rate schedule** of a destination (`pk` =
//! `rate#<destination>`, no `expires_at`), is kept by [`schedule`]: the
//! GCRA schedule every process shares when `STATE_TABLE` is set.
//!
//! Destination names hold no `#` (they are `A-Z a-z 0-9 _ - .`), so the first
//! `#` after the prefix ends the destination and no two pairs share a key.
//!
//! **A stale claim.** A claim is *stale* when it was taken more than
//! [`StateSettings::stale_after`] ago and never marked posted. The attempt
//! that took it is then presumed dead: `stale_after` is at least the longest
//! an invocation can run (the function's timeout; Lambda's maximum is 15 min
//! by default here), so a live attempt always marks or gives up first. A
//! stale claim is taken over by the next claim of the same pair. A claim that
//! is not stale and not posted is *busy*: another attempt may be posting it
//! right now, so the caller must not post, and must not drop the record
//! either: it hands it back to be tried again (a batch item failure, a
//! Lambda retry) after the claim's `stale_at`.
//!
//! Every call takes a deadline (a tokio [`Instant`]) and gives up before it
//! with [`StateError::Deadline`]; every error says whether it is retryable.
//! The state never costs a notification: the caller posts anyway when a call
//! fails, and counts it (`state_errors`).

pub mod dynamodb;
pub mod memory;
pub mod schedule;

use std::future::Future;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::lifecycle::Thread;
use crate::notice::Tone;

/// Default [`StateSettings::stale_after`]: Lambda's longest invocation.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(15 * 60);
/// Default [`StateSettings::claim_ttl`]: SQS's longest retention, beyond
/// which no queue can redeliver a record.
pub const DEFAULT_CLAIM_TTL: Duration = Duration::from_secs(14 * 86_400);

/// The partition key attribute (exact).
pub const PK: &str = "pk";
/// The TTL attribute, a Number of epoch seconds (exact).
pub const EXPIRES_AT: &str = "expires_at";

/// Longest part of a key kept verbatim in `pk`; a longer one is replaced by
/// its SHA-256 (DynamoDB allows 2048 bytes of partition key).
const MAX_KEY_PART: usize = 1024;

/// Settings of the state table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSettings {
    /// The table's name (`STATE_TABLE`).
    pub table: String,
    /// How long a thread is continued after its original (`THREAD_TTL_HOURS`,
    /// default 168 h); its item's `expires_at`.
    pub thread_ttl: Duration,
    /// When an unmarked claim becomes stale; at least the function timeout.
    pub stale_after: Duration,
    /// How long a claim is kept (its item's `expires_at`).
    pub claim_ttl: Duration,
}

impl StateSettings {
    /// Settings for `table` with the defaults.
    pub fn new(table: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            thread_ttl: crate::lifecycle::DEFAULT_THREAD_TTL,
            stale_after: DEFAULT_STALE_AFTER,
            claim_ttl: DEFAULT_CLAIM_TTL,
        }
    }
}

/// What a claim of a (message, destination) pair found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This attempt holds the claim: post, then [`State::mark_posted`] (or
    /// [`State::release`] if the post failed for good).
    Won(ClaimToken),
    /// An earlier attempt posted it: do not post again (`skipped_duplicates`).
    Posted,
    /// Another attempt claimed it and may be posting right now: do not post
    /// now, hand the record back; the claim is stale from `stale_at` (epoch
    /// seconds) on.
    Busy {
        /// When the claim becomes stale, in epoch seconds.
        stale_at: u64,
    },
}

/// The proof of one won claim: a random id only this attempt knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken(pub(crate) String);

impl ClaimToken {
    /// A fresh random token.
    pub(crate) fn new() -> Self {
        Self(format!(
            "{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        ))
    }
}

/// Why a state call failed. Never carries a secret (no item holds one).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    /// The deadline came before the call finished (or left no time to start
    /// it). Retryable.
    #[error("the state table did not answer before the deadline ({operation})")]
    Deadline {
        /// The operation, e.g. `PutItem`.
        operation: &'static str,
    },
    /// Another attempt changed the thread since it was read. Retryable:
    /// read it again.
    #[error("the thread {pk} was changed by another attempt since it was read")]
    Conflict {
        /// The item's key.
        pk: String,
    },
    /// DynamoDB (or the SDK below it) failed.
    #[error("DynamoDB {operation} failed ({kind}): {detail}")]
    Service {
        /// The operation, e.g. `PutItem`.
        operation: &'static str,
        /// `retryable` or `not retryable`, for the log line.
        kind: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// An item is not what this function writes. Not retryable.
    #[error("the state item {pk} is malformed: {problem}")]
    Malformed {
        /// The item's key.
        pk: String,
        /// What is wrong.
        problem: String,
    },
}

impl StateError {
    /// Whether the same call may succeed if tried again.
    pub fn is_retryable(&self) -> bool {
        match self {
            StateError::Deadline { .. } | StateError::Conflict { .. } => true,
            StateError::Service { kind, .. } => *kind == RETRYABLE,
            StateError::Malformed { .. } => false,
        }
    }
}

/// [`StateError::Service`]'s `kind` for a retryable failure.
pub(crate) const RETRYABLE: &str = "retryable";
/// [`StateError::Service`]'s `kind` for a failure a retry cannot help.
pub(crate) const NOT_RETRYABLE: &str = "not retryable";

/// Posted-once claims and threads. The DynamoDB adapter implements it, and
/// so do [`memory::MemoryState`] (tests) and [`Disabled`] (no `STATE_TABLE`).
///
/// `now` is the wall clock (claims and expiry are in epoch seconds);
/// `deadline` bounds the call.
pub trait State: Send + Sync {
    /// Whether there is a table at all ([`Disabled`] says no): without one,
    /// the pipeline does not claim.
    fn enabled(&self) -> bool {
        true
    }

    /// Claims the pair `(message_id, destination)` before posting it: a
    /// conditional write that wins when the pair has no claim, or only an
    /// expired or stale one.
    fn claim(
        &self,
        message_id: &str,
        destination: &str,
        now: SystemTime,
        deadline: Instant,
    ) -> impl Future<Output = Result<Claim, StateError>> + Send;

    /// Marks the pair posted, after Slack accepted the post: from now on
    /// every claim of it finds [`Claim::Posted`].
    fn mark_posted(
        &self,
        message_id: &str,
        destination: &str,
        now: SystemTime,
        deadline: Instant,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Gives a won claim back (the post failed and the record is dead-lettered
    /// or handed back), so a redrive can claim it at once. Does nothing when
    /// the claim is no longer `token`'s or was marked posted.
    fn release(
        &self,
        message_id: &str,
        destination: &str,
        token: &ClaimToken,
        deadline: Instant,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// The thread stored for `(destination, thread_key)`, if any (one past
    /// its `expires_at` but not yet deleted by DynamoDB is returned too: the
    /// lifecycle sees that it expired).
    fn thread(
        &self,
        destination: &str,
        thread_key: &str,
        deadline: Instant,
    ) -> impl Future<Output = Result<Option<Thread>, StateError>> + Send;

    /// Saves `thread` for `(destination, thread_key)` over the version it
    /// was read at (`thread.version`: 0 when there is no item, or only one
    /// past its `expires_at` at `now`), expiring `thread_ttl` after its
    /// original. Returns the new version; [`StateError::Conflict`] when the
    /// stored version is another.
    fn save_thread(
        &self,
        destination: &str,
        thread_key: &str,
        thread: &Thread,
        now: SystemTime,
        deadline: Instant,
    ) -> impl Future<Output = Result<u64, StateError>> + Send;
}

/// No state table: every claim is won, nothing is stored, no thread is
/// found. Webhooks then post as today, app destinations post each notice as
/// a new message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Disabled;

impl State for Disabled {
    fn enabled(&self) -> bool {
        false
    }
    async fn claim(
        &self,
        _: &str,
        _: &str,
        _: SystemTime,
        _: Instant,
    ) -> Result<Claim, StateError> {
        Ok(Claim::Won(ClaimToken(String::new())))
    }
    async fn mark_posted(
        &self,
        _: &str,
        _: &str,
        _: SystemTime,
        _: Instant,
    ) -> Result<(), StateError> {
        Ok(())
    }
    async fn release(
        &self,
        _: &str,
        _: &str,
        _: &ClaimToken,
        _: Instant,
    ) -> Result<(), StateError> {
        Ok(())
    }
    async fn thread(&self, _: &str, _: &str, _: Instant) -> Result<Option<Thread>, StateError> {
        Ok(None)
    }
    async fn save_thread(
        &self,
        _: &str,
        _: &str,
        thread: &Thread,
        _: SystemTime,
        _: Instant,
    ) -> Result<u64, StateError> {
        Ok(thread.version + 1)
    }
}

/// The state a process was configured with: none, or the DynamoDB table
/// `STATE_TABLE` names. One type for both, so the handler's type does not
/// depend on the configuration.
pub enum Table {
    /// No `STATE_TABLE`: as [`Disabled`].
    Off,
    /// The DynamoDB table (its client shared with the rate schedules).
    DynamoDb(std::sync::Arc<dynamodb::DynamoDbState>),
}

impl State for Table {
    fn enabled(&self) -> bool {
        matches!(self, Table::DynamoDb(_))
    }
    async fn claim(
        &self,
        message_id: &str,
        destination: &str,
        now: SystemTime,
        deadline: Instant,
    ) -> Result<Claim, StateError> {
        match self {
            Table::Off => Disabled.claim(message_id, destination, now, deadline).await,
            Table::DynamoDb(t) => t.claim(message_id, destination, now, deadline).await,
        }
    }
    async fn mark_posted(
        &self,
        message_id: &str,
        destination: &str,
        now: SystemTime,
        deadline: Instant,
    ) -> Result<(), StateError> {
        match self {
            Table::Off => Ok(()),
            Table::DynamoDb(t) => t.mark_posted(message_id, destination, now, deadline).await,
        }
    }
    async fn release(
        &self,
        message_id: &str,
        destination: &str,
        token: &ClaimToken,
        deadline: Instant,
    ) -> Result<(), StateError> {
        match self {
            Table::Off => Ok(()),
            Table::DynamoDb(t) => t.release(message_id, destination, token, deadline).await,
        }
    }
    async fn thread(
        &self,
        destination: &str,
        thread_key: &str,
        deadline: Instant,
    ) -> Result<Option<Thread>, StateError> {
        match self {
            Table::Off => Ok(None),
            Table::DynamoDb(t) => t.thread(destination, thread_key, deadline).await,
        }
    }
    async fn save_thread(
        &self,
        destination: &str,
        thread_key: &str,
        thread: &Thread,
        now: SystemTime,
        deadline: Instant,
    ) -> Result<u64, StateError> {
        match self {
            Table::Off => {
                Disabled
                    .save_thread(destination, thread_key, thread, now, deadline)
                    .await
            }
            Table::DynamoDb(t) => {
                t.save_thread(destination, thread_key, thread, now, deadline)
                    .await
            }
        }
    }
}

/// The `pk` of the claim of `(message_id, destination)`.
pub fn claim_pk(destination: &str, message_id: &str) -> String {
    format!("posted#{destination}#{}", key_part(message_id))
}

/// The `pk` of the thread of `(destination, thread_key)`.
pub fn thread_pk(destination: &str, thread_key: &str) -> String {
    format!("thread#{destination}#{}", key_part(thread_key))
}

/// A key part as is, or `sha256:` and its hex digest when longer than
/// [`MAX_KEY_PART`] bytes.
fn key_part(part: &str) -> String {
    if part.len() <= MAX_KEY_PART {
        return part.to_string();
    }
    let digest = Sha256::digest(part.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The code a tone is stored as: its name ([`Tone::as_str`]).
pub fn tone_code(tone: Tone) -> &'static str {
    tone.as_str()
}

/// The tone stored as `code`; an unknown code is [`Tone::Neutral`].
pub fn tone_from_code(code: &str) -> Tone {
    match code {
        "danger" => Tone::Danger,
        "warning" => Tone::Warning,
        "good" => Tone::Good,
        "info" => Tone::Info,
        _ => Tone::Neutral,
    }
}

/// `now` + `d` in epoch seconds, saturating.
pub(crate) fn later(now: SystemTime, d: Duration) -> u64 {
    crate::lifecycle::epoch_seconds(now).saturating_add(d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_per_pair_and_bounded() {
        assert_eq!(claim_pk("ops", "m-1"), "posted#ops#m-1");
        assert_eq!(thread_pk("ops", "alarm/a#b"), "thread#ops#alarm/a#b");
        assert_ne!(thread_pk("ops", "x"), claim_pk("ops", "x"));
        let long = "k".repeat(5_000);
        let pk = thread_pk("ops", &long);
        assert!(
            pk.len() < 2048 && pk.starts_with("thread#ops#sha256:"),
            "{pk}"
        );
        assert_ne!(pk, thread_pk("ops", &"k".repeat(5_001)));
    }

    #[test]
    fn tones_round_trip_through_their_codes() {
        for tone in [
            Tone::Danger,
            Tone::Warning,
            Tone::Good,
            Tone::Info,
            Tone::Neutral,
        ] {
            assert_eq!(tone_from_code(tone_code(tone)), tone);
        }
        assert_eq!(tone_from_code("purple"), Tone::Neutral);
    }

    #[test]
    fn errors_say_whether_they_are_retryable() {
        assert!(
            StateError::Deadline {
                operation: "GetItem"
            }
            .is_retryable()
        );
        assert!(StateError::Conflict { pk: "p".into() }.is_retryable());
        let service = |kind| StateError::Service {
            operation: "PutItem",
            kind,
            detail: "x".into(),
        };
        assert!(service(RETRYABLE).is_retryable());
        assert!(!service(NOT_RETRYABLE).is_retryable());
        assert!(
            !StateError::Malformed {
                pk: "p".into(),
                problem: "no ts".into()
            }
            .is_retryable()
        );
    }
}
