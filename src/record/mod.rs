//! Invocation payloads and their records: the fields we read, and what a dead
//! letter keeps of each. Pure.
//!
//! A payload is an SNS event (SNS invokes the function) or an SQS event (the
//! function consumes the buffer queue); [`parse_event`] takes either, decided
//! per record. Each record is read in one pass into [`shape::RecordShape`], whose
//! fields cover every shape a record can take:
//! - a Lambda SNS record, `{"EventSource":"aws:sns","Sns":{...}}` (the hot path);
//! - an SQS record ([`sqs`]): its body is read by the one body reader,
//!   [`body::read`] (an SNS notification, one of our dead-letter envelopes at
//!   any version, an `invalid_event` envelope, a subscription confirmation,
//!   or a raw message);
//! - a bare SNS notification, `{"Type":"Notification","Message":...}`, as SNS
//!   writes it into a queue (and as a dead letter keeps it).
//!
//! A record we cannot read is still kept, marked invalid with the reason, and
//! dead-lettered rather than dropped.
//!
//! Serde passes before a message is read (after the event is split into raw
//! records): an SNS record takes one; an SQS record two, one over the record
//! and one over its body (it took six: the `Sns` shape, a key probe and
//! `SqsMessage` over the record, then an envelope probe, a key probe and the
//! notification over the body).

pub mod body;
mod shape;
pub mod sqs;

use std::collections::HashMap;

use aws_lambda_events::sns::MessageAttribute;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::dead_letter::Earlier;

/// Why an invocation payload is not an SNS event at all. Not retryable: the
/// same payload will fail the same way.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    /// The payload is not JSON.
    #[error("the event is not JSON: {0}")]
    NotJson(String),
    /// The payload is JSON but not shaped like an SNS or SQS event.
    #[error("the event is not an SNS or SQS event: {0}")]
    NotSns(String),
}

/// The fields of an SNS notification that go into a Slack message.
///
/// Written here rather than taken from `aws_lambda_events::sns::SnsMessage`
/// because that type requires the signature fields, which we never use; a
/// hand-written event without them must still be posted.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Notification {
    /// SNS message id; empty when absent.
    #[serde(default)]
    pub message_id: String,
    /// `arn:aws:sns:<region>:<account>:<topic>`; empty when absent.
    #[serde(default)]
    pub topic_arn: String,
    /// Optional subject (SNS allows none).
    #[serde(default)]
    pub subject: Option<String>,
    /// The message body.
    pub message: String,
    /// When SNS published it, as sent (RFC 3339).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Message attributes, if any.
    #[serde(default, deserialize_with = "nullable_map")]
    pub message_attributes: HashMap<String, MessageAttribute>,
}

impl Notification {
    /// The topic's name: the last part of its ARN
    /// (`arn:aws:sns:region:account:name`), or the whole value when it is not
    /// a six-part ARN with a name (the Go sample panicked there).
    pub fn topic_name(&self) -> &str {
        // After the fifth colon; found byte by byte (`splitn` builds a
        // searcher per part, and this runs for every record).
        let arn = &self.topic_arn;
        let fifth = arn.bytes().enumerate().filter(|&(_, b)| b == b':').nth(4);
        match fifth.map(|(at, _)| &arn[at + 1..]) {
            Some(name) if !name.is_empty() => name,
            _ => arn,
        }
    }
}

pub(crate) fn nullable_map<'de, D>(d: D) -> Result<HashMap<String, MessageAttribute>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<HashMap<String, MessageAttribute>>::deserialize(d)?.unwrap_or_default())
}

/// How SQS knows a record: what a partial batch response names it by, and how
/// many times it has been received (this time included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The SQS `messageId`: the `itemIdentifier` of a batch item failure.
    pub message_id: String,
    /// `attributes.ApproximateReceiveCount`: 1 when absent or unreadable,
    /// `u32::MAX` when larger than that.
    pub receive_count: u32,
}

/// What a dead letter keeps of a record: the smallest JSON that reads back as
/// the same record.
#[derive(Debug, Clone)]
enum Kept {
    /// The record exactly as received (an SNS record, a bare notification, an
    /// SQS record with a raw message, an earlier dead letter's record).
    Raw(Box<RawValue>),
    /// The SNS notification an SQS body held, as JSON (not as the escaped
    /// string of the body): checked JSON, turned into a [`RawValue`] only
    /// when a dead letter is written.
    Json(String),
}

/// One record of an SNS or SQS event (or of a dead letter).
#[derive(Debug, Clone)]
pub struct Record {
    kept: Kept,
    parsed: Result<Notification, String>,
    receipt: Option<Receipt>,
    history: Vec<Earlier>,
    webhook: Option<String>,
    /// `kept` is a whole invocation payload that no version could read yet
    /// (an `invalid_event` dead letter read back).
    payload: bool,
}

/// Nesting allowed between a record and its notification in letters written
/// by earlier versions (an SQS record whose body is an envelope whose record
/// is an SQS record...). Letters written now never nest: an envelope keeps
/// the innermost record. A hostile payload cannot recurse deeper.
const MAX_DEPTH: u8 = 8;

impl Record {
    fn new(kept: Kept, parsed: Result<Notification, String>) -> Self {
        Self {
            kept,
            parsed,
            receipt: None,
            history: Vec::new(),
            webhook: None,
            payload: false,
        }
    }

    /// Why this record is a whole payload that cannot be read yet (an
    /// `invalid_event` dead letter: it is dead-lettered as one again), or
    /// `None` for any other record.
    pub fn unread_payload(&self) -> Option<&str> {
        self.payload
            .then(|| self.parsed.as_ref().err().map(String::as_str))?
    }

    /// Reads one raw record in any of its shapes. A record is usually one
    /// record; an SQS record whose body is an `invalid_event` dead letter holds
    /// the records of the whole payload it kept.
    pub fn read(raw: Box<RawValue>) -> Vec<Record> {
        let mut records = Vec::with_capacity(1);
        read(raw, MAX_DEPTH, &mut records);
        records
    }

    /// What a dead letter keeps of this record: JSON that [`Record::read`]
    /// reads back as this record (its history and webhook aside, which the
    /// envelope carries).
    pub fn kept(&self) -> Box<RawValue> {
        match &self.kept {
            Kept::Raw(raw) => raw.clone(),
            Kept::Json(text) => RawValue::from_string(text.clone())
                .or_else(|_| serde_json::value::to_raw_value(text))
                .expect("a string always serializes"),
        }
    }

    /// The notification, or why it could not be read.
    pub fn notification(&self) -> Result<&Notification, &str> {
        self.parsed.as_ref().map_err(String::as_str)
    }

    /// The SNS message id, or an empty string when it could not be read.
    pub fn message_id(&self) -> &str {
        self.parsed
            .as_ref()
            .map(|n| n.message_id.as_str())
            .unwrap_or("")
    }

    /// How SQS knows the record, when it came in an SQS event: the id a partial
    /// batch response names it by, and how often it was received.
    pub fn receipt(&self) -> Option<&Receipt> {
        self.receipt.as_ref()
    }

    /// The earlier dead letters of this record, oldest first (empty for a
    /// record that never was one).
    pub fn history(&self) -> &[Earlier] {
        &self.history
    }

    /// The webhook the dead letter it came in names (its name, or the `wh-…`
    /// id of early versions); `None` for a record that was routed afresh.
    pub fn webhook(&self) -> Option<&str> {
        self.webhook.as_deref()
    }
}

/// Reads a record in any of its shapes into `out` (usually one record);
/// `depth` bounds the nesting left.
fn read(raw: Box<RawValue>, depth: u8, out: &mut Vec<Record>) {
    let mut shape = match serde_json::from_str::<shape::RecordShape>(raw.get()) {
        Ok(shape) => shape,
        Err(e) => {
            let why = format!("record is not an SNS record: {e}");
            return out.push(Record::new(Kept::Raw(raw), Err(why)));
        }
    };
    if let Some(sns) = shape.sns.take() {
        return out.push(Record::new(Kept::Raw(raw), Ok(sns)));
    }
    if shape.event_source.as_deref() == Some("aws:sqs") {
        if depth == 0 {
            let why = "the record is nested too deeply".to_string();
            return out.push(Record::new(Kept::Raw(raw), Err(why)));
        }
        return sqs::read(shape, raw, depth - 1, out);
    }
    let parsed = shape
        .take_notification()
        .into_notification()
        .unwrap_or_else(|| Err("record is not an SNS record: missing field `Sns`".to_string()));
    out.push(Record::new(Kept::Raw(raw), parsed));
}

#[derive(Deserialize)]
struct EventShape {
    #[serde(rename = "Records")]
    records: Option<Vec<Box<RawValue>>>,
}

/// Splits an SNS or SQS event into its records.
///
/// Fails when the payload is not JSON, has no `Records` array, the array is
/// empty, or no record in it is readable. A mix of good and unreadable records
/// succeeds; the unreadable ones are marked invalid.
pub fn parse_event(payload: &str) -> Result<Vec<Record>, EventError> {
    parse_event_at(payload, MAX_DEPTH)
}

fn parse_event_at(payload: &str, depth: u8) -> Result<Vec<Record>, EventError> {
    let shape: EventShape = serde_json::from_str(payload).map_err(|e| {
        if e.is_data() {
            EventError::NotSns("expected an object with a \"Records\" array".into())
        } else {
            EventError::NotJson(e.to_string())
        }
    })?;
    let raws = shape
        .records
        .ok_or_else(|| EventError::NotSns("it has no \"Records\" array".into()))?;
    if raws.is_empty() {
        return Err(EventError::NotSns("its \"Records\" array is empty".into()));
    }
    let count = raws.len();
    let mut records = Vec::with_capacity(count);
    for raw in raws {
        read(raw, depth, &mut records);
    }
    if records.iter().all(|r| r.notification().is_err()) {
        let first = records[0].notification().err().unwrap_or_default();
        return Err(EventError::NotSns(format!(
            "none of its {count} records is an SNS or SQS record ({first})"
        )));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn every_fixture_parses_and_keeps_raw_records_verbatim() {
        for name in [
            "sns-plain.json",
            "sns-batch-25.json",
            "sns-cloudwatch-alarm.json",
            "sns-eventbridge-ec2.json",
            "sns-large-message.json",
            "sns-no-subject.json",
            "sns-slack-special-chars.json",
            "sns-with-attributes.json",
        ] {
            let text = fixture(name);
            let records = parse_event(&text).unwrap();
            for r in &records {
                assert!(r.notification().is_ok(), "{name}");
                assert!(
                    text.contains(r.kept().get()),
                    "{name}: raw text not verbatim"
                );
            }
        }
        assert_eq!(
            parse_event(&fixture("sns-batch-25.json")).unwrap().len(),
            25
        );
    }

    #[test]
    fn topic_names_never_panic_on_malformed_arns() {
        let name = |arn: &str| {
            let n = Notification {
                message_id: String::new(),
                topic_arn: arn.into(),
                subject: None,
                message: String::new(),
                timestamp: None,
                message_attributes: HashMap::new(),
            };
            n.topic_name().to_string()
        };
        assert_eq!(name("arn:aws:sns:us-east-1:123:alerts"), "alerts");
        assert_eq!(name("arn:aws:sns:us-east-1:123:a:b"), "a:b");
        assert_eq!(
            name("arn:aws:sns:us-east-1:123:"),
            "arn:aws:sns:us-east-1:123:"
        );
        assert_eq!(name("arn:aws:sns"), "arn:aws:sns");
        assert_eq!(name(""), "");
        assert_eq!(name(":::::::"), "::");
        assert_eq!(name("arn:aws:sns:eu-west-1:123:é-alerts"), "é-alerts");
        assert_eq!(name("alerts"), "alerts");
    }

    #[test]
    fn reads_the_fields_we_format() {
        let records = parse_event(&fixture("sns-with-attributes.json")).unwrap();
        let n = records[0].notification().unwrap();
        assert_eq!(n.message_attributes["severity"].value, "critical");
        let records = parse_event(&fixture("sns-no-subject.json")).unwrap();
        assert_eq!(records[0].notification().unwrap().subject, None);
    }

    #[test]
    fn non_sns_payloads_are_refused_with_the_reason() {
        assert!(matches!(
            parse_event("not json"),
            Err(EventError::NotJson(_))
        ));
        for (payload, needle) in [
            ("[1,2]", "Records"),
            ("{}", "no \"Records\""),
            ("{\"Records\": []}", "empty"),
            (
                "{\"Records\": [{\"eventSource\": \"aws:sqs\"}]}",
                "none of its 1",
            ),
            ("{\"Records\": 3}", "Records"),
        ] {
            let err = parse_event(payload).unwrap_err();
            assert!(matches!(err, EventError::NotSns(_)), "{payload}");
            assert!(err.to_string().contains(needle), "{payload}: {err}");
        }
    }

    #[test]
    fn an_unreadable_record_among_good_ones_is_kept_as_invalid() {
        let payload = r#"{"Records":[{"Sns":{"Message":"ok","MessageId":"m1"}},{"Sns":{"Subject":"no message"}}]}"#;
        let records = parse_event(payload).unwrap();
        assert_eq!(records[0].message_id(), "m1");
        assert!(records[1].notification().unwrap_err().contains("Message"));
        assert_eq!(
            records[1].kept().get(),
            r#"{"Sns":{"Subject":"no message"}}"#
        );
    }
}
