//! Settling: what delivery came to, record by record -> dead letters to store,
//! SQS messages to hand back, and the summary. Pure.
//!
//! [`fates`] reads each record's plan with its outcomes (delivery returns them
//! in the order [`crate::plan::jobs`] laid the jobs out). [`settle`] decides
//! from those fates; once the store has answered, [`Settling::stored`] counts
//! what was stored and hands back to SQS what was not. Every record ends as
//! exactly one of: posted (to each of its webhooks), dead-lettered (one letter
//! per webhook that failed), handed back to SQS, dropped by a rule; the books
//! balance (a property test holds that for any batch).

use std::collections::{HashMap, HashSet};

use crate::compose::Composition;
use crate::dead_letter::{ENVELOPE_VERSION, Envelope, rfc3339};
use crate::destination::Destination;
use crate::group::Placement;
use crate::outcome::{Failure, Outcome, Reason};
use crate::plan::Plan;
use crate::record::{EventError, Record};
use crate::summary::Summary;

/// What one payload came to: the summary and, for an SQS event, the SQS
/// message ids of the records SQS should deliver again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settlement {
    /// The counts.
    pub summary: Summary,
    /// `Some` for an SQS event (possibly empty): the `messageId`s to list in the
    /// partial batch response, each once. `None` for an SNS event or an
    /// unreadable payload.
    pub requeue: Option<Vec<String>>,
}

/// What became of one record after delivery.
#[derive(Debug, Clone)]
pub enum Fate<'a> {
    /// Muted by rule number `rule` of `ROUTES`.
    Dropped {
        /// The rule's index.
        rule: usize,
    },
    /// Never attempted (unreadable, unrouted).
    NotAttempted(&'a Failure),
    /// Delivered: one [`Carried`] per destination of the record's plan, in
    /// its order.
    Delivered(Vec<Carried<'a>>),
}

/// How one record fared at one destination: the outcome of the job that
/// carried it there, and how that job carried it.
#[derive(Debug, Clone, Copy)]
pub struct Carried<'a> {
    /// The destination.
    pub destination: &'a Destination,
    /// How the job ended (every record a job carries shares its outcome).
    pub outcome: &'a Outcome,
    /// Own message, digest line, or folded into another's.
    pub role: Placement,
    /// The job's index in the composition (a digest carries many records).
    pub job: usize,
}

/// One post or record that failed: its outcome, failure and webhook.
type Failed<'a> = (&'a Outcome, &'a Failure, Option<&'a str>);

/// The outcome of a record that was never attempted.
static NOT_ATTEMPTED: Outcome = Outcome::unattempted(Ok(()));

impl<'a> Fate<'a> {
    /// What failed: each destination whose job failed, or the record itself.
    pub fn failures(&self) -> Vec<Failed<'a>> {
        match self {
            Fate::Dropped { .. } => Vec::new(),
            Fate::NotAttempted(failure) => vec![(&NOT_ATTEMPTED, *failure, None)],
            Fate::Delivered(carried) => carried
                .iter()
                .filter_map(|c| {
                    let o = c.outcome;
                    o.result
                        .as_ref()
                        .err()
                        .map(|f| (o, f, Some(c.destination.name.as_str())))
                })
                .collect(),
        }
    }

    /// Destinations where Slack accepted the message that carried the record
    /// (its own, a digest or another's) in this invocation; a destination an
    /// earlier invocation posted it to ([`Placement::Duplicate`]) is not one.
    pub fn posted(&self) -> usize {
        match self {
            Fate::Delivered(carried) => carried
                .iter()
                .filter(|c| c.outcome.result.is_ok() && c.role != Placement::Duplicate)
                .count(),
            _ => 0,
        }
    }
}

/// Each record's fate, in record order: `outcomes` are those of
/// `composition.jobs`, in that order.
pub fn fates<'a>(
    plans: &'a [Plan],
    composition: &Composition,
    outcomes: &'a [Outcome],
) -> Vec<Fate<'a>> {
    plans
        .iter()
        .zip(&composition.branches)
        .map(|(plan, branches)| match plan {
            Plan::Drop { rule } => Fate::Dropped { rule: *rule },
            Plan::Fail(failure) => Fate::NotAttempted(failure),
            Plan::Post { to, .. } => Fate::Delivered(
                to.iter()
                    .zip(branches)
                    .filter_map(|(destination, b)| {
                        Some(Carried {
                            destination,
                            outcome: outcomes.get(b.job)?,
                            role: b.role,
                            job: b.job,
                        })
                    })
                    .collect(),
            ),
        })
        .collect()
}

/// Decided, not yet stored: the dead letters and the counts so far.
#[derive(Debug)]
pub struct Settling {
    summary: Summary,
    /// The dead letters to store.
    pub letters: Vec<Envelope>,
    /// Per letter, the SQS message that takes its record back when the letter
    /// cannot be stored (`None`: nobody can, the invocation must fail).
    fallback: Vec<Option<String>>,
    requeue: Vec<String>,
    from_sqs: bool,
}

/// Settles a delivery. A record from SQS (when `max_receives` is `Some`: the
/// caller answers with a partial batch response) whose every failure may pass
/// later is handed back until its receive count reaches `max_receives`; the
/// records of one SQS message are handed back together or not at all, and only
/// when none of them posted (what posted would post again). Everything else
/// that failed becomes a dead letter.
pub fn settle<'r>(
    records: &'r [Record],
    fates: &[Fate<'_>],
    max_receives: Option<u32>,
) -> Settling {
    let mut summary = Summary {
        records: records.len(),
        ..Summary::default()
    };
    let mut jobs = HashSet::new();
    for fate in fates {
        count(&mut summary, fate, &mut jobs);
    }
    let sqs_id = |r: &'r Record| {
        max_receives
            .and(r.receipt())
            .map(|rc| rc.message_id.as_str())
    };
    let handed_back = hand_back(records, fates, max_receives);
    let mut settling = Settling {
        summary,
        letters: Vec::new(),
        fallback: Vec::new(),
        requeue: Vec::new(),
        from_sqs: records.iter().any(|r| sqs_id(r).is_some()),
    };
    for (record, fate) in records.iter().zip(fates) {
        let id = sqs_id(record);
        match id {
            Some(id) if handed_back.get(id) == Some(&true) => settling.requeue_once(id),
            _ => {
                for (outcome, failure, webhook) in fate.failures() {
                    let letter = envelope(record, outcome, failure, webhook);
                    settling.letters.push(letter);
                    settling.fallback.push(id.map(str::to_string));
                }
            }
        }
    }
    settling
}

/// The settling of a payload that is not an SNS or SQS event: one dead
/// letter that keeps it, reason `invalid_event`.
pub fn invalid_event(payload: &str, why: &EventError) -> Settling {
    Settling {
        summary: Summary {
            records: 1,
            ..Summary::default()
        },
        letters: vec![invalid_event_envelope(payload, why)],
        fallback: vec![None],
        requeue: Vec::new(),
        from_sqs: false,
    }
}

/// Counts posts, digests, folded records, drops, unrouted records, retries
/// and latencies. What a job did (its retries, 429s, a digest posted) counts
/// once, however many records it carried.
fn count(summary: &mut Summary, fate: &Fate<'_>, jobs: &mut HashSet<usize>) {
    match fate {
        Fate::Dropped { .. } => summary.dropped += 1,
        Fate::NotAttempted(f) if f.reason == Reason::Unrouted => summary.unrouted += 1,
        Fate::NotAttempted(_) => {}
        Fate::Delivered(carried) => {
            for c in carried {
                let outcome = c.outcome;
                let first = jobs.insert(c.job);
                if first {
                    summary.retries += outcome.attempts.saturating_sub(1);
                    summary.rate_limited += outcome.rate_limited;
                    summary.state_errors += outcome.state_errors;
                    // What a failed job did in the thread is not counted:
                    // its retry (a redelivery) does it again.
                    if outcome.result.is_ok() {
                        summary.replies += usize::from(outcome.replied);
                        summary.updates += usize::from(outcome.updated);
                    }
                    if outcome.rate_limited > 0 {
                        let name = c.destination.name.clone();
                        summary.webhooks.entry(name).or_default().rate_limited +=
                            outcome.rate_limited;
                    }
                }
                if outcome.result.is_err() {
                    continue;
                }
                match c.role {
                    Placement::Own => summary.posted += 1,
                    Placement::Digest => {
                        summary.digested += 1;
                        summary.digests += usize::from(first);
                    }
                    Placement::Collapsed => summary.collapsed += 1,
                    Placement::Duplicate => {
                        summary.skipped_duplicates += 1;
                        continue;
                    }
                }
                let name = c.destination.name.clone();
                summary.webhooks.entry(name).or_default().posted += 1;
                let latency = outcome.latency.map(|d| d.as_millis() as u64);
                summary.latencies_ms.extend(latency);
            }
        }
    }
}

/// The SQS messages to hand back (`true`) or dead-letter (`false`), by
/// message id: handed back when each of their records either failed only for
/// reasons that may pass later (posting nothing) or had nothing to post, at
/// least one failed, and the message was received fewer than `max_receives`
/// times. A repeated message id is one message.
fn hand_back<'r>(
    records: &'r [Record],
    fates: &[Fate<'_>],
    max_receives: Option<u32>,
) -> HashMap<&'r str, bool> {
    let mut messages: HashMap<&str, (bool, bool)> = HashMap::new();
    let Some(max) = max_receives else {
        return HashMap::new();
    };
    for (record, fate) in records.iter().zip(fates) {
        let Some(receipt) = record.receipt() else {
            continue;
        };
        let failures = fate.failures();
        let later = fate.posted() == 0
            && failures.iter().all(|(_, f, _)| f.reason.is_retryable())
            && receipt.receive_count < max;
        let (all_later, any_failed) = messages
            .entry(receipt.message_id.as_str())
            .or_insert((true, false));
        *all_later &= later;
        *any_failed |= !failures.is_empty();
    }
    messages
        .into_iter()
        .map(|(id, (all_later, any_failed))| (id, all_later && any_failed))
        .collect()
}

impl Settling {
    /// Adds `n` failed state table calls made outside the jobs (the
    /// posted-once claims) to the count.
    pub fn add_state_errors(&mut self, n: usize) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.summary.state_errors = self.summary.state_errors.saturating_add(n);
    }

    fn requeue_once(&mut self, id: &str) {
        if !self.requeue.iter().any(|r| r == id) {
            self.requeue.push(id.to_string());
        }
    }

    /// Counts the letters stored (all but `unsent`, indices into
    /// [`Settling::letters`]) and hands the records of the unsent back to SQS.
    /// Also returns how many unsent letters have no SQS message to take them
    /// back: lost unless the whole event is delivered again.
    pub fn stored(mut self, unsent: &[usize]) -> (Settlement, usize) {
        let mut lost = 0;
        for (k, letter) in self.letters.iter().enumerate() {
            if unsent.contains(&k) {
                continue;
            }
            self.summary.dead_lettered += 1;
            *self.summary.reasons.entry(letter.reason).or_default() += 1;
            if let Some(name) = &letter.webhook {
                let counts = self.summary.webhooks.entry(name.clone()).or_default();
                counts.dead_lettered += 1;
            }
        }
        for &k in unsent {
            match self.fallback.get(k).cloned().flatten() {
                Some(id) => self.requeue_once(&id),
                None => lost += 1,
            }
        }
        self.summary.requeued = self.requeue.len();
        let settlement = Settlement {
            summary: self.summary,
            requeue: self.from_sqs.then_some(self.requeue),
        };
        (settlement, lost)
    }
}

/// Builds the dead-letter envelope of a record that was not posted: the
/// record as [`Record::kept`] keeps it, and its history.
pub fn envelope(
    record: &Record,
    outcome: &Outcome,
    failure: &Failure,
    webhook: Option<&str>,
) -> Envelope {
    Envelope {
        record: record.kept(),
        reason: failure.reason,
        status: failure.status,
        detail: failure.detail.clone(),
        attempts: outcome.attempts,
        first_attempt_at: outcome.first_attempt_at.map(rfc3339),
        last_attempt_at: outcome.last_attempt_at.map(rfc3339),
        message_id: record.message_id().to_string(),
        webhook: webhook.map(str::to_string),
        history: record.history().to_vec(),
        version: ENVELOPE_VERSION,
    }
}

/// The dead-letter envelope of a payload that is not an SNS or SQS event: the
/// payload kept verbatim (as a JSON string when it is not JSON at all).
pub fn invalid_event_envelope(payload: &str, why: &EventError) -> Envelope {
    let record = serde_json::value::RawValue::from_string(payload.to_owned())
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
        history: Vec::new(),
        version: ENVELOPE_VERSION,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::compose;
    use crate::destination::webhook::Webhook;
    use crate::group::DigestAfter;
    use crate::record::parse_event;
    use crate::render::Overrides;
    use crate::render::digest::Line;
    use serde_json::json;
    use std::sync::Arc;

    fn destination(name: &str) -> Arc<Destination> {
        Arc::new(Destination {
            name: name.into(),
            target: crate::destination::Target::Webhook(
                Webhook::parse("https://hooks.slack.com/services/T/B/SECRET").unwrap(),
            ),
            rate_per_second: None,
        })
    }

    fn post(to: &[&str]) -> Plan {
        Plan::Post {
            body: bytes::Bytes::from_static(b"{}"),
            to: to.iter().map(|n| destination(n)).collect(),
            mention: None,
            rule: None,
            line: Some(Box::new(Line::plain("", "x"))),
        }
    }

    /// Each record's fate when every record is its own message.
    fn fates<'a>(plans: &'a [Plan], outcomes: &'a [Outcome]) -> Vec<Fate<'a>> {
        let laid = compose::<Record>(&[], plans, DigestAfter::Off, &Overrides::default(), 4000);
        super::fates(plans, &laid, outcomes)
    }

    fn ok() -> Outcome {
        Outcome {
            attempts: 1,
            ..Outcome::unattempted(Ok(()))
        }
    }

    fn failed(reason: Reason) -> Outcome {
        Outcome {
            attempts: 3,
            ..Outcome::unattempted(Err(Failure {
                reason,
                status: Some(503),
                detail: "HTTP 503".into(),
            }))
        }
    }

    /// SQS records with these message ids and receive counts.
    fn sqs(ids: &[(&str, u32)]) -> Vec<Record> {
        let records: Vec<serde_json::Value> = ids
            .iter()
            .map(|(id, n)| {
                json!({"eventSource": "aws:sqs", "messageId": id, "body": "text",
                    "attributes": {"ApproximateReceiveCount": n.to_string()}})
            })
            .collect();
        parse_event(&json!({ "Records": records }).to_string()).unwrap()
    }

    #[test]
    fn what_may_pass_later_is_handed_back_and_the_rest_dead_lettered() {
        let records = sqs(&[("a", 1), ("b", 1), ("c", 5), ("d", 1), ("e", 1)]);
        let plans = [
            post(&["ops"]),
            post(&["ops", "sec"]),
            post(&["ops"]),
            post(&["ops"]),
            Plan::Drop { rule: 0 },
        ];
        // Jobs go destination by destination: ops's four, then sec's one.
        let outcomes = [
            failed(Reason::ServerError), // a: later
            ok(),                        // b: ops posted...
            failed(Reason::ServerError), // c: last receive
            failed(Reason::Rejected),    // d: never passes
            failed(Reason::ServerError), // ...b: sec failed: dead-lettered
        ];
        let fates = fates(&plans, &outcomes);
        let settling = settle(&records, &fates, Some(5));
        let webhooks: Vec<_> = settling
            .letters
            .iter()
            .map(|l| (l.message_id.clone(), l.webhook.clone()))
            .collect();
        assert_eq!(webhooks.len(), 3);
        assert_eq!(webhooks[0].1.as_deref(), Some("sec"));
        let (done, lost) = settling.stored(&[]);
        assert_eq!(lost, 0);
        assert_eq!(done.requeue, Some(vec!["a".to_string()]));
        let s = done.summary;
        assert_eq!(
            (s.records, s.posted, s.dead_lettered, s.requeued, s.dropped),
            (5, 1, 3, 1, 1)
        );
        assert_eq!(s.reasons[&Reason::ServerError], 2);
        assert_eq!(s.webhooks["sec"].dead_lettered, 1);
        assert_eq!(s.retries, 4 * 2);
    }

    #[test]
    fn unstored_letters_are_handed_back_and_stored_ones_are_not() {
        // Finding 7: only the letters not stored come back.
        let records = sqs(&[("a", 5), ("b", 5), ("c", 5)]);
        let plans = [post(&["ops"]), post(&["ops"]), post(&["ops"])];
        let outcomes = [
            failed(Reason::Deadline),
            failed(Reason::Deadline),
            failed(Reason::Deadline),
        ];
        let settling = settle(&records, &fates(&plans, &outcomes), Some(5));
        assert_eq!(settling.letters.len(), 3);
        let done = settling.stored(&[1, 2]).0;
        assert_eq!(done.requeue, Some(vec!["b".to_string(), "c".to_string()]));
        assert_eq!((done.summary.dead_lettered, done.summary.requeued), (1, 2));
    }

    #[test]
    fn a_repeated_message_id_is_handed_back_once() {
        // Finding 12.
        let records = sqs(&[("a", 1), ("a", 1)]);
        let plans = [post(&["ops"]), post(&["ops"])];
        let outcomes = [failed(Reason::Timeout), failed(Reason::Timeout)];
        let done = settle(&records, &fates(&plans, &outcomes), Some(5))
            .stored(&[])
            .0;
        assert_eq!(done.requeue, Some(vec!["a".to_string()]));
        // And when its letters cannot be stored.
        let done = settle(&records, &fates(&plans, &outcomes), Some(1))
            .stored(&[0, 1])
            .0;
        assert_eq!(done.requeue, Some(vec!["a".to_string()]));
    }

    #[test]
    fn without_sqs_an_unstored_letter_is_lost_and_says_so() {
        let records =
            parse_event(r#"{"Records":[{"Sns":{"Message":"a"}},{"Sns":{"Message":"b"}}]}"#)
                .unwrap();
        let plans = [
            post(&["ops"]),
            Plan::Fail(Failure {
                reason: Reason::Unrouted,
                status: None,
                detail: "no rule".into(),
            }),
        ];
        let outcomes = [failed(Reason::ServerError)];
        let settling = settle(&records, &fates(&plans, &outcomes), None);
        assert_eq!(settling.letters.len(), 2);
        let (done, lost) = settling.stored(&[1]);
        assert_eq!(
            (lost, done.summary.dead_lettered, done.summary.unrouted),
            (1, 1, 1)
        );
    }

    #[test]
    fn an_invalid_event_is_one_letter() {
        let why = EventError::NotJson("x".into());
        let done = invalid_event("nope", &why).stored(&[]).0;
        assert_eq!(done.requeue, None);
        assert_eq!((done.summary.records, done.summary.dead_lettered), (1, 1));
        assert_eq!(done.summary.reasons[&Reason::InvalidEvent], 1);
    }
}
