//! What a dead-letter message holds, and its records. Pure.
//!
//! Three shapes can be in the queue: our envelope (one record), Lambda's
//! on-failure destination record (the SNS event under `requestPayload`), and a
//! bare SNS event (Lambda's older dead-letter queue). Anything else is unknown
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
}

/// A body's shape and its records.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The shape found.
    pub shape: Shape,
    /// The SNS records to post again.
    pub records: Vec<Record>,
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
    records: Option<serde_json::Value>,
}

/// Reads a message body, or says why it is not one of the known shapes.
pub fn parse(body: &str) -> Result<Parsed, String> {
    let probe: Probe = serde_json::from_str(body).map_err(|e| format!("not a JSON object: {e}"))?;
    if let (Some(raw), Some(_)) = (probe.record, &probe.reason) {
        return Ok(Parsed {
            shape: Shape::Envelope,
            records: vec![Record::from_raw(raw)],
        });
    }
    if let (Some(payload), Some(_)) = (probe.request_payload, &probe.request_context) {
        let records = record::parse_event(payload.get()).map_err(|e| {
            format!("a Lambda failure record whose requestPayload is not usable: {e}")
        })?;
        return Ok(Parsed {
            shape: Shape::LambdaFailure,
            records,
        });
    }
    if probe.records.is_some() {
        let records = record::parse_event(body).map_err(|e| e.to_string())?;
        return Ok(Parsed {
            shape: Shape::SnsEvent,
            records,
        });
    }
    Err("neither a dead-letter envelope, a Lambda failure record nor an SNS event".into())
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
