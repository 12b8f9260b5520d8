//! What a dead-letter message holds, and its records. Pure.
//!
//! Four shapes can be in the queue: our envelope (one record; an
//! `invalid_event` envelope holds a whole payload, read again as an event),
//! Lambda's on-failure destination record (the SNS event under
//! `requestPayload`), a bare SNS event (Lambda's older dead-letter queue), and
//! a bare SNS notification (what SQS's own redrive policy moves here from the
//! buffer queue after `maxReceiveCount` receives). Anything else is unknown
//! and is left where it is.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::record::{self, Record};

/// Which shape a message body had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Our dead-letter envelope.
    Envelope,
    /// Lambda's asynchronous on-failure destination record.
    LambdaFailure,
    /// A bare SNS event.
    SnsEvent,
    /// A bare SNS notification (`"Type": "Notification"`), moved here by the
    /// buffer queue's redrive policy.
    SnsNotification,
}

/// A body's shape and its records.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The shape found.
    pub shape: Shape,
    /// The SNS records to post again.
    pub records: Vec<Record>,
    /// The webhook an envelope names (its name, or the `wh-…` id of earlier
    /// versions); `None` for the other shapes, which are routed afresh.
    pub webhook: Option<String>,
}

#[derive(Deserialize)]
struct Probe {
    record: Option<Box<RawValue>>,
    reason: Option<serde_json::Value>,
    #[serde(rename = "requestPayload")]
    request_payload: Option<Box<RawValue>>,
    #[serde(rename = "requestContext")]
    request_context: Option<serde_json::Value>,
    #[serde(rename = "Records")]
    records: Option<serde::de::IgnoredAny>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    webhook: Option<String>,
}

/// Reads a message body, or says why it is not one of the known shapes.
pub fn parse(body: &str) -> Result<Parsed, String> {
    let probe: Probe = serde_json::from_str(body).map_err(|e| format!("not a JSON object: {e}"))?;
    if let (Some(raw), Some(reason)) = (probe.record, &probe.reason) {
        if reason == "invalid_event" {
            // The payload of an invocation that an earlier version could not
            // read: read it again; if this version cannot either, it stays.
            let records = record::parse_event(raw.get())
                .map_err(|e| format!("an invalid_event dead letter still unreadable: {e}"))?;
            return Ok(Parsed {
                shape: Shape::Envelope,
                records,
                webhook: None,
            });
        }
        return Ok(Parsed {
            shape: Shape::Envelope,
            records: vec![Record::from_raw(raw)],
            webhook: probe.webhook,
        });
    }
    if let (Some(payload), Some(_)) = (probe.request_payload, &probe.request_context) {
        let records = record::parse_event(payload.get()).map_err(|e| {
            format!("a Lambda failure record whose requestPayload is not usable: {e}")
        })?;
        return Ok(Parsed {
            shape: Shape::LambdaFailure,
            records,
            webhook: None,
        });
    }
    if probe.records.is_some() {
        let records = record::parse_event(body).map_err(|e| e.to_string())?;
        return Ok(Parsed {
            shape: Shape::SnsEvent,
            records,
            webhook: None,
        });
    }
    if probe.kind.as_deref() == Some("Notification") {
        let raw = RawValue::from_string(body.to_owned()).map_err(|e| e.to_string())?;
        let record = Record::from_raw(raw);
        if let Err(why) = record.notification() {
            return Err(why.to_string());
        }
        return Ok(Parsed {
            shape: Shape::SnsNotification,
            records: vec![record],
            webhook: None,
        });
    }
    Err(
        "neither a dead-letter envelope, a Lambda failure record, an SNS event nor an SNS notification"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"EventSource":"aws:sns","Sns":{"MessageId":"m1","Message":"hi"}}"#;

    #[test]
    fn reads_an_envelope() {
        let body = format!(
            r#"{{"record":{RECORD},"reason":"deadline","status":null,"detail":"d","attempts":0}}"#
        );
        let p = parse(&body).unwrap();
        assert_eq!(p.shape, Shape::Envelope);
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.webhook, None);
        let named = body.replace(r#""attempts":0"#, r#""attempts":0,"webhook":"payments""#);
        assert_eq!(parse(&named).unwrap().webhook.as_deref(), Some("payments"));
        assert_eq!(p.records[0].raw().get(), RECORD);
    }

    #[test]
    fn reads_a_lambda_failure_record_with_several_records() {
        let body = format!(
            r#"{{"version":"1.0","requestContext":{{"condition":"RetriesExhausted"}},"requestPayload":{{"Records":[{RECORD},{RECORD}]}},"responsePayload":null}}"#
        );
        let p = parse(&body).unwrap();
        assert_eq!((p.shape, p.records.len()), (Shape::LambdaFailure, 2));
    }

    #[test]
    fn reads_a_bare_sns_event() {
        let p = parse(&format!(r#"{{"Records":[{RECORD}]}}"#)).unwrap();
        assert_eq!(
            (p.shape, p.records[0].message_id()),
            (Shape::SnsEvent, "m1")
        );
    }

    #[test]
    fn reads_a_bare_sns_notification_moved_by_the_buffers_redrive_policy() {
        let body = r#"{"Type":"Notification","MessageId":"n-1","TopicArn":"arn:aws:sns:us-east-1:123456789012:t","Message":"disk full","Timestamp":"2026-11-24T09:15:02.123Z"}"#;
        let p = parse(body).unwrap();
        assert_eq!(p.shape, Shape::SnsNotification);
        assert_eq!(p.records[0].message_id(), "n-1");
        assert_eq!(p.records[0].raw().get(), body);
        let err = parse(r#"{"Type":"Notification","MessageId":"n-2"}"#).unwrap_err();
        assert!(err.contains("Message"), "{err}");
    }

    #[test]
    fn an_invalid_event_letter_is_read_again_as_a_payload() {
        let body = format!(
            r#"{{"record":{{"Records":[{RECORD}]}},"reason":"invalid_event","status":null,"detail":"d","attempts":0}}"#
        );
        let p = parse(&body).unwrap();
        assert_eq!(p.records[0].message_id(), "m1");
        let still_bad =
            r#"{"record":{"detail-type":"x"},"reason":"invalid_event","detail":"d","attempts":0}"#;
        let err = parse(still_bad).unwrap_err();
        assert!(err.contains("invalid_event"), "{err}");
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
            let err = parse(body).unwrap_err();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }
}
