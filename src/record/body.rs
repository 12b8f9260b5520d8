//! The one reader of bodies: what an SQS message of the buffer queue or a dead
//! letter holds, read in one pass ([`BodyShape`]). Used by the SQS source
//! ([`super::sqs`]) and by `redrive` alike. Pure.
//!
//! A body is one of:
//! - an SNS notification (`"Type": "Notification"`), as SNS writes it into a
//!   queue, or a subscription (un)confirmation, told in words without its
//!   token or link;
//! - one of our dead-letter envelopes, at any version, recognised by what only
//!   ours has (a `version` number, a known `reason`, `attempts`, `detail` and
//!   `record`): its record is read (an `invalid_event` envelope's record is a
//!   whole payload, read again as an event), with the envelope's history;
//! - Lambda's on-failure destination record (the event under `requestPayload`)
//!   or a bare SNS event (`Records`);
//! - anything else: a raw message.

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::shape::{BodyShape, NotificationFields, TypeOnly};
use super::{Kept, Notification, Record};
use crate::dead_letter::{Earlier, MAX_HISTORY};
use crate::outcome::Reason;

/// Which shape a body had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An SNS notification (or a subscription confirmation).
    SnsNotification,
    /// Our dead-letter envelope.
    Envelope,
    /// Lambda's asynchronous on-failure destination record.
    LambdaFailure,
    /// A bare SNS event.
    SnsEvent,
    /// Anything else: a raw message.
    Raw,
}

/// A body read: its shape and its records.
#[derive(Debug)]
pub struct Body {
    /// The shape found.
    pub shape: Shape,
    /// Its records (none for [`Shape::Raw`]), or why the event it holds
    /// cannot be read (Lambda's failure record, a bare SNS event).
    pub records: Result<Vec<Record>, String>,
}

/// Reads a body. `Shape::Raw` when it is none of the shapes above.
pub fn read(body: &str) -> Body {
    let mut read = read_at(body, super::MAX_DEPTH);
    if read.shape == Shape::SnsNotification
        && let Ok([record]) = read.records.as_deref_mut()
    {
        record.kept = Kept::Json(body.to_owned());
    }
    read
}

/// Reads a dead letter as `redrive` takes it: its records, or why it is not
/// one of the shapes a dead letter can have (a raw message is not).
pub fn read_letter(body: &str) -> Result<(Shape, Vec<Record>), String> {
    if serde_json::from_str::<&RawValue>(body).map_or(true, |v| !v.get().starts_with('{')) {
        return Err("not a JSON object".into());
    }
    let read = read(body);
    let records = read.records?;
    if let Some(why) = records.iter().find_map(Record::unread_payload) {
        return Err(why.to_string());
    }
    if read.shape == Shape::SnsNotification
        && let Some(Err(why)) = records.first().map(Record::notification)
    {
        return Err(why.to_string());
    }
    match read.shape {
        Shape::Raw => Err(
            "neither a dead-letter envelope, a Lambda failure record, an SNS event nor an SNS notification"
                .into(),
        ),
        shape => Ok((shape, records)),
    }
}

/// [`read`] with `depth` nesting left. The record of an SNS notification
/// keeps nothing yet: the caller moves the body in ([`Kept::Json`]), so that
/// the SQS source does not copy it.
pub(super) fn read_at(body: &str, depth: u8) -> Body {
    let raw = |shape| Body {
        shape,
        records: Ok(Vec::new()),
    };
    if !body.trim_start().starts_with('{') {
        return raw(Shape::Raw);
    }
    let mut shape = match serde_json::from_str::<BodyShape>(body) {
        Ok(shape) => shape,
        // A field of the wrong type: a notification says what was wrong,
        // anything else is a raw message.
        Err(e) => {
            return match serde_json::from_str::<TypeOnly>(body) {
                Ok(TypeOnly { kind: Some(kind) }) if kind == "Notification" => Body {
                    shape: Shape::SnsNotification,
                    records: Ok(vec![Record::new(
                        Kept::Json(String::new()),
                        Err(format!("an SNS notification that cannot be read: {e}")),
                    )]),
                },
                _ => raw(Shape::Raw),
            };
        }
    };
    if let Some(letter) = Letter::of(&shape) {
        return Body {
            shape: Shape::Envelope,
            records: Ok(letter.records(depth)),
        };
    }
    if let Some(parsed) = shape.take_notification().into_notification() {
        let record = Record::new(Kept::Json(String::new()), parsed);
        return Body {
            shape: Shape::SnsNotification,
            records: Ok(vec![record]),
        };
    }
    if let (Some(payload), Some(_)) = (shape.request_payload, shape.request_context) {
        return Body {
            shape: Shape::LambdaFailure,
            records: super::parse_event_at(payload.get(), depth).map_err(|e| {
                format!("a Lambda failure record whose requestPayload is not usable: {e}")
            }),
        };
    }
    if shape.records.is_some() {
        return Body {
            shape: Shape::SnsEvent,
            records: super::parse_event_at(body, depth).map_err(|e| e.to_string()),
        };
    }
    raw(Shape::Raw)
}

/// One of our envelopes, as read from a body.
struct Letter<'a> {
    record: &'a RawValue,
    this: Earlier,
    history: Vec<Earlier>,
}

/// `raw` as a `T`, or `None` when absent or of another type.
fn field<T: DeserializeOwned>(raw: Option<&RawValue>) -> Option<T> {
    serde_json::from_str(raw?.get()).ok()
}

impl<'a> Letter<'a> {
    /// The envelope in `shape`, when it is one of ours: a record, a known
    /// reason, a version number, attempts and a detail. Two keys alone
    /// (`record`, `reason`) are a raw message that happens to use them.
    fn of(shape: &BodyShape<'a>) -> Option<Self> {
        let record = shape.record?;
        let reason: Reason = field(shape.reason)?;
        let version: u32 = field(shape.version)?;
        let attempts: u32 = field(shape.attempts)?;
        let _detail: String = field(shape.detail)?;
        if version == 0 {
            return None;
        }
        Some(Self {
            record,
            this: Earlier {
                reason,
                status: field(shape.status),
                attempts,
                at: field(shape.last_attempt_at),
                webhook: field(shape.webhook),
            },
            history: field(shape.history).unwrap_or_default(),
        })
    }

    /// The records inside, each carrying this envelope's history and webhook.
    fn records(self, depth: u8) -> Vec<Record> {
        let mut records = if self.this.reason == Reason::InvalidEvent {
            // The payload of an invocation an earlier version could not read:
            // read it again; if this version cannot either, it stays one
            // unreadable record that keeps the payload.
            match super::parse_event_at(self.record.get(), depth) {
                Ok(records) => records,
                Err(e) => vec![Record {
                    payload: true,
                    ..Record::new(
                        Kept::Raw(self.record.to_owned()),
                        Err(format!(
                            "an invalid_event dead letter still unreadable: {e}"
                        )),
                    )
                }],
            }
        } else {
            let mut records = Vec::with_capacity(1);
            super::read(self.record.to_owned(), depth, &mut records);
            records
        };
        for record in &mut records {
            // An inner record's SQS receipt is history; the caller sets its own.
            record.receipt = None;
            let mut history = std::mem::take(&mut record.history);
            history.extend(self.history.iter().cloned());
            history.push(self.this.clone());
            let cut = history.len().saturating_sub(MAX_HISTORY);
            history.drain(..cut);
            record.history = history;
            if self.this.webhook.is_some() {
                record.webhook = self.this.webhook.clone();
            }
        }
        records
    }
}

impl NotificationFields {
    /// The notification these fields make, when `Type` says they are one:
    /// `Notification`, or a subscription (un)confirmation told in words.
    pub(super) fn into_notification(self) -> Option<Result<Notification, String>> {
        let kind = self.kind.as_deref()?;
        let (subject, message) = match kind {
            "Notification" => {
                let Some(message) = self.message else {
                    return Some(Err(
                        "an SNS notification that cannot be read: missing field `Message`".into(),
                    ));
                };
                (self.subject, message)
            }
            "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
                let topic = self.topic_arn.as_deref().unwrap_or("(no TopicArn)");
                (
                    Some(confirmation_subject(kind).to_string()),
                    confirmation_message(kind, topic),
                )
            }
            _ => return None,
        };
        Some(Ok(Notification {
            message_id: self.message_id.unwrap_or_default(),
            topic_arn: self.topic_arn.unwrap_or_default(),
            subject,
            message,
            timestamp: self.timestamp,
            message_attributes: self.message_attributes,
        }))
    }
}

fn confirmation_subject(kind: &str) -> &'static str {
    if kind == "SubscriptionConfirmation" {
        "SNS subscription waiting for confirmation"
    } else {
        "SNS subscription deleted"
    }
}

/// What a subscription (un)confirmation says, in words: which topic, and where
/// to act. Never its `Token` or `SubscribeURL`: whoever has them can confirm.
fn confirmation_message(kind: &str, topic: &str) -> String {
    if kind == "SubscriptionConfirmation" {
        format!(
            "Amazon SNS asks to confirm the subscription of this queue to topic {topic}. \
             Until it is confirmed, the topic's notifications do not arrive. Confirm it from the \
             AWS console (SNS > Subscriptions > Confirm subscription) or the AWS CLI \
             (aws sns confirm-subscription --topic-arn {topic} --token ...), with the token of \
             the message in the queue. The token and the confirmation link are not shown here: \
             anyone who has them can confirm the subscription."
        )
    } else {
        format!(
            "Amazon SNS confirms that the subscription of this queue to topic {topic} was \
             deleted: the topic's notifications no longer arrive. To subscribe again, use the \
             AWS console (SNS > Topics > Create subscription) or the AWS CLI \
             (aws sns subscribe --topic-arn {topic} --protocol sqs --notification-endpoint ...). \
             The link to undo it is not shown here."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"EventSource":"aws:sns","Sns":{"MessageId":"m1","Message":"hi"}}"#;

    fn envelope(record: &str, reason: &str, extra: &str) -> String {
        format!(
            r#"{{"record":{record},"reason":"{reason}","status":null,"detail":"d","attempts":2,"message_id":"m1"{extra},"version":1}}"#
        )
    }

    #[test]
    fn reads_an_envelope() {
        let body = envelope(RECORD, "deadline", "");
        let (shape, records) = read_letter(&body).unwrap();
        assert_eq!(shape, Shape::Envelope);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].webhook(), None);
        assert_eq!(records[0].kept().get(), RECORD);
        assert_eq!(records[0].history()[0].reason, Reason::Deadline);
        assert_eq!(records[0].history()[0].attempts, 2);
        let named = envelope(RECORD, "deadline", r#","webhook":"payments""#);
        let (_, records) = read_letter(&named).unwrap();
        assert_eq!(records[0].webhook(), Some("payments"));
    }

    #[test]
    fn reads_a_lambda_failure_record_with_several_records() {
        let body = format!(
            r#"{{"version":"1.0","requestContext":{{"condition":"RetriesExhausted"}},"requestPayload":{{"Records":[{RECORD},{RECORD}]}},"responsePayload":null}}"#
        );
        let (shape, records) = read_letter(&body).unwrap();
        assert_eq!((shape, records.len()), (Shape::LambdaFailure, 2));
    }

    #[test]
    fn reads_a_bare_sns_event() {
        let (shape, records) = read_letter(&format!(r#"{{"Records":[{RECORD}]}}"#)).unwrap();
        assert_eq!((shape, records[0].message_id()), (Shape::SnsEvent, "m1"));
    }

    #[test]
    fn reads_a_bare_sns_notification_moved_by_the_buffers_redrive_policy() {
        let body = r#"{"Type":"Notification","MessageId":"n-1","TopicArn":"arn:aws:sns:us-east-1:123456789012:t","Message":"disk full","Timestamp":"2026-11-24T09:15:02.123Z"}"#;
        let (shape, records) = read_letter(body).unwrap();
        assert_eq!(shape, Shape::SnsNotification);
        assert_eq!(records[0].message_id(), "n-1");
        assert_eq!(records[0].kept().get(), body);
        let err = read_letter(r#"{"Type":"Notification","MessageId":"n-2"}"#).unwrap_err();
        assert!(err.contains("Message"), "{err}");
        let err = read_letter(r#"{"Type":"Notification","Message":5}"#).unwrap_err();
        assert!(err.contains("cannot be read"), "{err}");
    }

    #[test]
    fn an_invalid_event_letter_is_read_again_as_a_payload() {
        let body = envelope(&format!(r#"{{"Records":[{RECORD}]}}"#), "invalid_event", "");
        let (_, records) = read_letter(&body).unwrap();
        assert_eq!(records[0].message_id(), "m1");
        let still_bad = envelope(r#"{"detail-type":"x"}"#, "invalid_event", "");
        let err = read_letter(&still_bad).unwrap_err();
        assert!(err.contains("invalid_event"), "{err}");
        // In the buffer, it stays one record that keeps the payload.
        let read = read(&still_bad).records.unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].kept().get(), r#"{"detail-type":"x"}"#);
        assert!(read[0].unread_payload().is_some());
    }

    #[test]
    fn two_keys_alone_do_not_make_an_envelope() {
        // Finding 10: an audit message with `record` and `reason` keys.
        for body in [
            r#"{"record":{"user":"alice"},"reason":"login"}"#,
            r#"{"record":{"user":"alice"},"reason":"deadline","detail":"d","attempts":1}"#,
            r#"{"record":1,"reason":"deadline","detail":"d","attempts":1,"version":"1.0"}"#,
        ] {
            assert_eq!(read(body).shape, Shape::Raw, "{body}");
        }
    }

    #[test]
    fn a_subscription_confirmation_is_told_without_its_token() {
        // Finding 8.
        let body = r#"{"Type":"SubscriptionConfirmation","MessageId":"c-1","Token":"SECRET-TOKEN","TopicArn":"arn:aws:sns:eu-west-1:123456789012:alerts","Message":"You have chosen to subscribe to the topic arn:aws:sns:eu-west-1:123456789012:alerts. To confirm the subscription, visit the SubscribeURL included in this message.","SubscribeURL":"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:alerts&Token=SECRET-TOKEN","Timestamp":"2026-11-24T09:15:02.123Z"}"#;
        let read = read(body);
        assert_eq!(read.shape, Shape::SnsNotification);
        let records = read.records.unwrap();
        let n = records[0].notification().unwrap();
        assert_eq!(
            n.subject.as_deref(),
            Some("SNS subscription waiting for confirmation")
        );
        assert!(
            n.message
                .contains("arn:aws:sns:eu-west-1:123456789012:alerts")
        );
        assert!(n.message.contains("AWS console"), "{}", n.message);
        assert!(!n.message.contains("SECRET-TOKEN"));
        assert!(!n.message.contains("SubscribeURL"));
        let gone = body.replace("SubscriptionConfirmation", "UnsubscribeConfirmation");
        let records = super::read(&gone).records.unwrap();
        let n = records[0].notification().unwrap();
        assert_eq!(n.subject.as_deref(), Some("SNS subscription deleted"));
        assert!(!n.message.contains("SECRET-TOKEN"));
    }

    #[test]
    fn refuses_anything_else_saying_why() {
        for (body, needle) in [
            ("poison", "not a JSON object"),
            ("[1]", "not a JSON object"),
            (r#"{"hello":"world"}"#, "neither"),
            (r#"{"Records":[]}"#, "empty"),
            (
                r#"{"requestContext":{},"requestPayload":{"detail":1}}"#,
                "requestPayload",
            ),
        ] {
            let err = read_letter(body).unwrap_err();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }
}
