//! SQS records: what the buffer queue hands the function, read into the same
//! [`Notification`] an SNS record gives. Pure.
//!
//! An SQS record's body is one of:
//! - an SNS notification (the topic delivers to the queue with raw message
//!   delivery off, so `TopicArn`, `Subject` and the attributes survive);
//! - one of our dead-letter envelopes (an operator moved dead letters back into
//!   the buffer with SQS's "start DLQ redrive"): the record inside is posted;
//! - anything else: a raw message (raw delivery on, or a producer writing to
//!   the queue directly), posted as text with the SQS message attributes.

use std::collections::HashMap;

use aws_lambda_events::sns::MessageAttribute;
use aws_lambda_events::sqs::SqsMessage;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::Notification;

/// How SQS knows a record: what a partial batch response names it by, and how
/// many times it has been received (this time included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The SQS `messageId`: the `itemIdentifier` of a batch item failure.
    pub message_id: String,
    /// `attributes.ApproximateReceiveCount`; 1 when absent or unreadable.
    pub receive_count: u32,
}

/// Which shape a record that is not a Lambda SNS record has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Probe {
    /// An SQS record (`eventSource` `aws:sqs`).
    SqsRecord,
    /// A bare SNS notification (`"Type": "Notification"`).
    Notification,
    /// Neither.
    Other,
}

#[derive(Deserialize)]
struct Keys<'a> {
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<&'a str>,
    #[serde(rename = "Type", borrow, default)]
    kind: Option<&'a str>,
}

/// Tells an SQS record from a bare SNS notification by their keys.
pub(super) fn probe(text: &str) -> Probe {
    match serde_json::from_str::<Keys>(text) {
        Ok(Keys {
            event_source: Some("aws:sqs"),
            ..
        }) => Probe::SqsRecord,
        Ok(Keys {
            kind: Some("Notification"),
            ..
        }) => Probe::Notification,
        _ => Probe::Other,
    }
}

/// An envelope's two keys that tell it from any other body.
#[derive(Deserialize)]
struct EnvelopeKeys<'a> {
    #[serde(borrow)]
    record: &'a RawValue,
    #[allow(dead_code)]
    reason: serde::de::IgnoredAny,
}

/// Reads an SQS record: its receipt and the notification in its body.
pub(super) fn read_record(
    text: &str,
    depth: u8,
) -> (Result<Notification, String>, Option<Receipt>) {
    let message: SqsMessage = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => return (Err(format!("an SQS record that cannot be read: {e}")), None),
    };
    let receipt = message.message_id.clone().map(|message_id| Receipt {
        message_id,
        receive_count: message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(1),
    });
    let Some(body) = message.body.as_deref() else {
        return (Err("an SQS record without a body".into()), receipt);
    };
    (read_body(body, &message, depth), receipt)
}

fn read_body(body: &str, message: &SqsMessage, depth: u8) -> Result<Notification, String> {
    if body.trim_start().starts_with('{') {
        if let Ok(envelope) = serde_json::from_str::<EnvelopeKeys>(body) {
            return super::read(envelope.record.get(), depth).0;
        }
        if probe(body) == Probe::Notification {
            return serde_json::from_str::<Notification>(body)
                .map_err(|e| format!("an SNS notification that cannot be read: {e}"));
        }
    }
    Ok(raw_message(body, message))
}

/// A raw message as a notification: the body is the message, the SQS message
/// id and string attributes stand in for SNS's, the send time for the
/// timestamp. There is no topic and no subject.
fn raw_message(body: &str, message: &SqsMessage) -> Notification {
    let message_attributes: HashMap<String, MessageAttribute> = message
        .message_attributes
        .iter()
        .filter_map(|(name, a)| {
            let value = a.string_value.clone()?;
            let mut attribute = MessageAttribute::default();
            attribute.data_type = a.data_type.clone().unwrap_or_else(|| "String".into());
            attribute.value = value;
            Some((name.clone(), attribute))
        })
        .collect();
    Notification {
        message_id: message.message_id.clone().unwrap_or_default(),
        topic_arn: String::new(),
        subject: None,
        message: body.to_string(),
        timestamp: message
            .attributes
            .get("SentTimestamp")
            .and_then(|ms| ms.parse::<i64>().ok())
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        message_attributes,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Record, parse_event};
    use serde_json::json;

    /// An SQS record as Lambda's event source mapping hands it over.
    fn sqs_record(id: &str, body: &str, receives: u32) -> serde_json::Value {
        json!({
            "messageId": id,
            "receiptHandle": "AQEB-handle",
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": receives.to_string(),
                "SentTimestamp": "1790000000123",
                "SenderId": "AIDAEXAMPLE",
                "ApproximateFirstReceiveTimestamp": "1790000000200"
            },
            "messageAttributes": {},
            "md5OfBody": "x",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:sns-to-slack-buffer",
            "awsRegion": "eu-west-1"
        })
    }

    const NOTIFICATION: &str = r#"{"Type":"Notification","MessageId":"sns-1","TopicArn":"arn:aws:sns:eu-west-1:123456789012:alerts","Subject":"Disk full","Message":"/var is 97% full","Timestamp":"2026-11-24T09:15:02.123Z","SignatureVersion":"1","Signature":"c2ln","SigningCertURL":"https://sns.example/cert.pem","UnsubscribeURL":"https://sns.example/unsub","MessageAttributes":{"severity":{"Type":"String","Value":"critical"}}}"#;

    fn one(value: serde_json::Value) -> Record {
        let payload = json!({ "Records": [value] }).to_string();
        let mut records = parse_event(&payload).unwrap();
        assert!(payload.contains(records[0].raw().get()), "raw not verbatim");
        records.remove(0)
    }

    #[test]
    fn an_sns_notification_body_reads_like_an_sns_record() {
        let r = one(sqs_record("q-1", NOTIFICATION, 2));
        let n = r.notification().unwrap();
        assert_eq!(n.message_id, "sns-1");
        assert_eq!(n.topic_arn, "arn:aws:sns:eu-west-1:123456789012:alerts");
        assert_eq!(n.subject.as_deref(), Some("Disk full"));
        assert_eq!(n.message, "/var is 97% full");
        assert_eq!(n.message_attributes["severity"].value, "critical");
        let receipt = r.receipt().unwrap();
        assert_eq!(
            (receipt.message_id.as_str(), receipt.receive_count),
            ("q-1", 2)
        );
    }

    #[test]
    fn a_raw_body_is_posted_as_text_with_its_attributes() {
        let mut record = sqs_record("q-2", "plain words <!channel>", 1);
        record["messageAttributes"] = json!({
            "team": {"stringValue": "payments", "dataType": "String", "stringListValues": [], "binaryListValues": []}
        });
        let r = one(record);
        let n = r.notification().unwrap();
        assert_eq!(n.message, "plain words <!channel>");
        assert_eq!(n.message_id, "q-2");
        assert_eq!(n.subject, None);
        assert_eq!(n.topic_arn, "");
        assert_eq!(n.message_attributes["team"].value, "payments");
        assert_eq!(n.timestamp.as_deref(), Some("2026-09-21T14:13:20.123Z"));
    }

    #[test]
    fn a_raw_json_body_that_is_no_notification_is_its_own_message() {
        let alarm = r#"{"AlarmName":"cpu","NewStateValue":"ALARM"}"#;
        let n = one(sqs_record("q-3", alarm, 1))
            .notification()
            .unwrap()
            .clone();
        assert_eq!(n.message, alarm);
    }

    #[test]
    fn an_envelope_body_posts_the_record_inside() {
        let inner =
            r#"{"EventSource":"aws:sns","Sns":{"MessageId":"m-9","Message":"from the DLQ"}}"#;
        let envelope = format!(
            r#"{{"record":{inner},"reason":"deadline","status":null,"detail":"d","attempts":1,"message_id":"m-9","version":1}}"#
        );
        let r = one(sqs_record("q-4", &envelope, 1));
        assert_eq!(r.message_id(), "m-9");
        assert_eq!(r.notification().unwrap().message, "from the DLQ");
        assert_eq!(r.receipt().unwrap().message_id, "q-4");
    }

    #[test]
    fn an_envelope_of_an_sqs_record_is_read_through() {
        let first = sqs_record("q-5", NOTIFICATION, 5).to_string();
        let envelope = format!(r#"{{"record":{first},"reason":"rate_limited"}}"#);
        let r = one(sqs_record("q-6", &envelope, 1));
        assert_eq!(r.message_id(), "sns-1");
        assert_eq!(r.receipt().unwrap().message_id, "q-6");
    }

    #[test]
    fn a_bare_notification_is_a_record() {
        let raw = serde_json::value::RawValue::from_string(NOTIFICATION.into()).unwrap();
        let r = Record::from_raw(raw);
        assert_eq!(r.message_id(), "sns-1");
        assert!(r.receipt().is_none());
    }

    #[test]
    fn hostile_nesting_is_refused_not_followed() {
        let mut body = NOTIFICATION.to_string();
        for i in 0..10 {
            let record = sqs_record(&format!("q-{i}"), &body, 1).to_string();
            body = format!(r#"{{"record":{record},"reason":"deadline"}}"#);
        }
        let payload =
            json!({ "Records": [sqs_record("outer", &body, 1), sqs_record("ok", "fine", 1)] });
        let records = parse_event(&payload.to_string()).unwrap();
        assert_eq!(
            records[0].notification().unwrap_err(),
            "the record is nested too deeply"
        );
        assert_eq!(records[0].receipt().unwrap().message_id, "outer");
        assert_eq!(records[1].notification().unwrap().message, "fine");
    }

    #[test]
    fn a_missing_receive_count_counts_as_the_first() {
        let mut record = sqs_record("q-7", "x", 1);
        record["attributes"] = json!({});
        assert_eq!(one(record).receipt().unwrap().receive_count, 1);
    }
}
