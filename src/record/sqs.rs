//! SQS records: what the buffer queue hands the function, read into the same
//! records an SNS event gives. Pure.
//!
//! The record is read once (with every other record shape, in
//! [`super::read`]); its body by the one body reader, [`super::body`]:
//! - an SNS notification (the topic delivers to the queue with raw message
//!   delivery off, so `TopicArn`, `Subject` and the attributes survive); a dead
//!   letter keeps the notification as JSON, not the SQS record that escapes it
//!   once more, so every valid SNS message fits a letter;
//! - one of our dead-letter envelopes, at any version (an operator moved dead
//!   letters back into the buffer with SQS's "start DLQ redrive"): the records
//!   inside are posted, keeping the envelope's history;
//! - Lambda's on-failure record or a bare SNS event: their records;
//! - anything else: a raw message (raw delivery on, or a producer writing to
//!   the queue directly), posted as text with the SQS message attributes.

use std::collections::HashMap;

use aws_lambda_events::sns::MessageAttribute;
use serde_json::value::RawValue;

use super::body::{self, Shape};
use super::shape::RecordShape;
use super::{Kept, Notification, Receipt, Record};

/// Reads an SQS record (already parsed into `shape`) into `out`: the records
/// its body holds, each with the record's receipt. `raw` is the record as
/// received.
pub(super) fn read(mut shape: RecordShape, raw: Box<RawValue>, depth: u8, out: &mut Vec<Record>) {
    let start = out.len();
    read_body(&mut shape, raw, depth, out);
    let receive_count = receive_count(attribute(&shape, "ApproximateReceiveCount"));
    let receipt = shape.message_id.map(|message_id| Receipt {
        message_id,
        receive_count,
    });
    for record in &mut out[start..] {
        record.receipt = receipt.clone();
    }
}

fn read_body(shape: &mut RecordShape, raw: Box<RawValue>, depth: u8, out: &mut Vec<Record>) {
    let Some(text) = shape.body.take() else {
        return out.push(Record::new(
            Kept::Raw(raw),
            Err("an SQS record without a body".into()),
        ));
    };
    let read = body::read_at(&text, depth);
    match (read.shape, read.records) {
        (Shape::SnsNotification, Ok(mut records)) if records.len() == 1 => {
            // Kept as the notification's JSON: the body itself, moved.
            records[0].kept = Kept::Json(text);
            out.append(&mut records);
        }
        (Shape::Raw, _) | (Shape::LambdaFailure | Shape::SnsEvent, Err(_)) => {
            let n = raw_message(text, shape);
            out.push(Record::new(Kept::Raw(raw), Ok(n)));
        }
        (_, Ok(mut records)) => out.append(&mut records),
        (_, Err(why)) => out.push(Record::new(Kept::Raw(raw), Err(why))),
    }
}

fn attribute<'a>(shape: &'a RecordShape, name: &str) -> Option<&'a String> {
    shape.attributes.as_ref()?.get(name)
}

/// `ApproximateReceiveCount`: 1 when absent or unreadable, `u32::MAX` when
/// larger (it has been received more often than any limit).
fn receive_count(text: Option<&String>) -> u32 {
    let Some(text) = text.map(|t| t.trim()) else {
        return 1;
    };
    match text.parse::<u32>() {
        Ok(n) => n,
        Err(_) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => u32::MAX,
        Err(_) => 1,
    }
}

/// A raw message as a notification: the body is the message, the SQS message
/// id and string attributes stand in for SNS's, the send time for the
/// timestamp. There is no topic and no subject.
fn raw_message(body: String, shape: &RecordShape) -> Notification {
    let message_attributes: HashMap<String, MessageAttribute> = shape
        .sqs_attributes
        .iter()
        .flatten()
        .filter_map(|(name, a)| {
            let value = a.string_value.clone()?;
            let mut attribute = MessageAttribute::default();
            attribute.data_type = a.data_type.clone().unwrap_or_else(|| "String".into());
            attribute.value = value;
            Some((name.clone(), attribute))
        })
        .collect();
    Notification {
        message_id: shape.message_id.clone().unwrap_or_default(),
        topic_arn: String::new(),
        subject: None,
        message: body,
        timestamp: attribute(shape, "SentTimestamp")
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

    /// One of our envelopes (version 1) around `record`.
    fn letter(record: &str, reason: &str, attempts: u32) -> String {
        format!(
            r#"{{"record":{record},"reason":"{reason}","status":null,"detail":"d","attempts":{attempts},"message_id":"m","version":1}}"#
        )
    }

    fn one(value: serde_json::Value) -> Record {
        let payload = json!({ "Records": [value] }).to_string();
        let mut records = parse_event(&payload).unwrap();
        // What a dead letter keeps reads back as the same notification.
        let kept = Record::read(records[0].kept());
        assert_eq!(kept[0].notification(), records[0].notification());
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
        // Finding 9: a dead letter keeps the notification as JSON, not the
        // SQS record whose body escapes it once more.
        assert_eq!(r.kept().get(), NOTIFICATION);
    }

    #[test]
    fn a_dead_letter_of_the_largest_sns_message_fits_sqs() {
        // Finding 9: 262,000 `"` made a 1,049,140-byte letter.
        let message = "\"".repeat(262_000);
        let notification = serde_json::json!({"Type": "Notification", "MessageId": "big",
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:alerts", "Message": message})
        .to_string();
        let r = one(sqs_record("q-big", &notification, 1));
        assert_eq!(r.notification().unwrap().message.len(), 262_000);
        let letter = crate::settle::envelope(&r, &failed(), &failed().result.unwrap_err(), None);
        let size = letter.to_json().len();
        assert!(size < 530_000, "{size}");
        assert!(size < crate::dead_letter::sqs::MAX_BATCH_BYTES);
    }

    fn failed() -> crate::outcome::Outcome {
        crate::outcome::Outcome::unattempted(Err(crate::outcome::Failure {
            reason: crate::outcome::Reason::ServerError,
            status: Some(503),
            detail: "HTTP 503".into(),
        }))
    }

    #[test]
    fn letters_written_now_never_nest_however_many_round_trips() {
        // Finding 5: each DLQ -> buffer trip wrapped the record once more.
        let mut body = NOTIFICATION.to_string();
        for trip in 1..=8 {
            let r = one(sqs_record(&format!("q-{trip}"), &body, 5));
            assert_eq!(r.notification().unwrap().message, "/var is 97% full");
            assert_eq!(r.history().len(), trip - 1);
            let letter =
                crate::settle::envelope(&r, &failed(), &failed().result.unwrap_err(), None);
            assert_eq!(letter.record.get(), NOTIFICATION, "trip {trip}");
            body = letter.to_json();
        }
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
        let envelope = letter(&first, "rate_limited", 3);
        let r = one(sqs_record("q-6", &envelope, 1));
        assert_eq!(r.message_id(), "sns-1");
        assert_eq!(r.receipt().unwrap().message_id, "q-6");
        // A new letter of it keeps the notification, not the SQS record.
        assert_eq!(r.kept().get(), NOTIFICATION);
        assert_eq!(r.history().len(), 1);
    }

    #[test]
    fn a_bare_notification_is_a_record() {
        let raw = serde_json::value::RawValue::from_string(NOTIFICATION.into()).unwrap();
        let r = Record::read(raw).remove(0);
        assert_eq!(r.message_id(), "sns-1");
        assert!(r.receipt().is_none());
    }

    #[test]
    fn hostile_nesting_is_refused_not_followed() {
        let mut body = NOTIFICATION.to_string();
        for i in 0..10 {
            let record = sqs_record(&format!("q-{i}"), &body, 1).to_string();
            body = letter(&record, "deadline", 1);
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

    #[test]
    fn a_receive_count_beyond_u32_counts_as_the_most() {
        let mut record = sqs_record("q-8", "x", 1);
        record["attributes"]["ApproximateReceiveCount"] = json!("4294967296");
        assert_eq!(one(record).receipt().unwrap().receive_count, u32::MAX);
    }

    #[test]
    fn an_invalid_event_letter_moved_back_into_the_buffer_is_read() {
        // Issue 15: refused as "missing field `Sns`" before.
        let payload =
            r#"{"Records":[{"EventSource":"aws:sns","Sns":{"MessageId":"m-i","Message":"late"}}]}"#;
        let r = one(sqs_record("q-9", &letter(payload, "invalid_event", 0), 1));
        assert_eq!(r.notification().unwrap().message, "late");
        assert_eq!(r.receipt().unwrap().message_id, "q-9");
    }

    #[test]
    fn nesting_does_not_grow_with_round_trips() {
        // Finding 5: letters of earlier versions nested one level a trip;
        // after six trips the innermost record still posts, with the history.
        let mut body = NOTIFICATION.to_string();
        for trip in 0..6 {
            let record = sqs_record(&format!("q-{trip}"), &body, 5).to_string();
            body = letter(&record, "server_error", trip + 1);
        }
        let r = one(sqs_record("outer", &body, 1));
        assert_eq!(r.notification().unwrap().message, "/var is 97% full");
        assert_eq!(r.kept().get(), NOTIFICATION);
        let attempts: Vec<u32> = r.history().iter().map(|e| e.attempts).collect();
        assert_eq!(attempts, [1, 2, 3, 4, 5, 6]);
    }
}
