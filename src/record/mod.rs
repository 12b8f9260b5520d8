//! Invocation payloads and their records: the raw JSON kept verbatim, plus the
//! fields we read.
//!
//! A payload is an SNS event (SNS invokes the function) or an SQS event (the
//! function consumes the buffer queue); [`parse_event`] takes either, decided
//! per payload. A dead letter must carry the record exactly as Lambda handed it
//! over, so each record keeps its raw text ([`RawValue`]). The fields we format
//! are parsed leniently on the side: a record we cannot read is still kept,
//! marked invalid with the reason, and dead-lettered rather than dropped.
//!
//! A record is read in one of these shapes (the first is the hot path):
//! - a Lambda SNS record, `{"EventSource":"aws:sns","Sns":{...}}`;
//! - an SQS record (see [`sqs`]): its body is an SNS notification, one of our
//!   dead-letter envelopes, or a raw message posted as text;
//! - a bare SNS notification, `{"Type":"Notification","Message":...}`, as SNS
//!   writes it into a queue (and SQS's own redrive moves it to a dead-letter
//!   queue).

pub mod sqs;

use std::collections::HashMap;

use aws_lambda_events::sns::MessageAttribute;
use serde::Deserialize;
use serde_json::value::RawValue;

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
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
        match self.topic_arn.splitn(6, ':').nth(5) {
            Some(name) if !name.is_empty() => name,
            _ => &self.topic_arn,
        }
    }
}

fn nullable_map<'de, D>(d: D) -> Result<HashMap<String, MessageAttribute>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<HashMap<String, MessageAttribute>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct RecordShape {
    #[serde(rename = "Sns")]
    sns: Notification,
}

/// One record of an SNS or SQS event.
#[derive(Debug, Clone)]
pub struct Record {
    raw: Box<RawValue>,
    parsed: Result<Notification, String>,
    receipt: Option<sqs::Receipt>,
}

/// Nesting allowed between a record and its notification (an SQS record whose
/// body is an envelope whose record is an SQS record...): enough for every
/// real shape, and a hostile payload cannot recurse deeper.
const MAX_DEPTH: u8 = 4;

impl Record {
    /// Wraps one raw record, parsing the fields we read.
    pub fn from_raw(raw: Box<RawValue>) -> Self {
        let (parsed, receipt) = read(raw.get(), MAX_DEPTH);
        Self {
            raw,
            parsed,
            receipt,
        }
    }

    /// The record exactly as received.
    pub fn raw(&self) -> &RawValue {
        &self.raw
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
    pub fn receipt(&self) -> Option<&sqs::Receipt> {
        self.receipt.as_ref()
    }
}

/// Reads a record in any of its shapes; `depth` bounds the nesting left.
fn read(text: &str, depth: u8) -> (Result<Notification, String>, Option<sqs::Receipt>) {
    // The hot path: a Lambda SNS record, parsed once.
    let sns_error = match serde_json::from_str::<RecordShape>(text) {
        Ok(r) => return (Ok(r.sns), None),
        Err(e) => e,
    };
    if depth == 0 {
        return (Err("the record is nested too deeply".into()), None);
    }
    match sqs::probe(text) {
        sqs::Probe::SqsRecord => sqs::read_record(text, depth - 1),
        sqs::Probe::Notification => (
            serde_json::from_str::<Notification>(text)
                .map_err(|e| format!("an SNS notification that cannot be read: {e}")),
            None,
        ),
        sqs::Probe::Other => (
            Err(format!("record is not an SNS record: {sns_error}")),
            None,
        ),
    }
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
    let records: Vec<Record> = raws.into_iter().map(Record::from_raw).collect();
    if records.iter().all(|r| r.notification().is_err()) {
        let first = records[0].notification().err().unwrap_or_default();
        return Err(EventError::NotSns(format!(
            "none of its {} records is an SNS or SQS record ({first})",
            records.len()
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
                    text.contains(r.raw().get()),
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
            records[1].raw().get(),
            r#"{"Sns":{"Subject":"no message"}}"#
        );
    }
}
