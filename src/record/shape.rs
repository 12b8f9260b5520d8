//! The serde shapes a record and a body are read into, each in one pass: every
//! field of every shape is optional, so one parse tells the shapes apart and
//! keeps what each needs. Pure.
//!
//! No `#[serde(flatten)]`: it buffers the whole object first and cannot hold
//! borrowed raw values, which would cost the second pass these shapes avoid.

use std::collections::HashMap;

use aws_lambda_events::sns::MessageAttribute;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Notification, nullable_map};

/// The fields of an SNS notification as SNS writes it into a queue (top-level
/// `Type`, `Message`...), taken out of a [`RecordShape`] or a [`BodyShape`].
/// `Token` and `SubscribeURL` are never read.
#[derive(Debug, Default)]
pub(super) struct NotificationFields {
    pub kind: Option<String>,
    pub message_id: Option<String>,
    pub topic_arn: Option<String>,
    pub subject: Option<String>,
    pub message: Option<String>,
    pub timestamp: Option<String>,
    pub message_attributes: HashMap<String, MessageAttribute>,
}

/// One record of an event: a Lambda SNS record (`Sns`), an SQS record
/// (`eventSource` `aws:sqs`), or a bare SNS notification (`Type`...).
#[derive(Deserialize)]
pub(super) struct RecordShape {
    #[serde(rename = "Sns", default)]
    pub sns: Option<Notification>,
    #[serde(rename = "eventSource", default)]
    pub event_source: Option<String>,
    #[serde(rename = "messageId", default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    // The maps are `Option`s so that a record without them (every SNS record)
    // builds no map.
    #[serde(default)]
    pub attributes: Option<HashMap<String, String>>,
    #[serde(rename = "messageAttributes", default)]
    pub sqs_attributes: Option<HashMap<String, SqsAttribute>>,
    #[serde(rename = "Type", default)]
    kind: Option<String>,
    #[serde(rename = "MessageId", default)]
    sns_message_id: Option<String>,
    #[serde(rename = "TopicArn", default)]
    topic_arn: Option<String>,
    #[serde(rename = "Subject", default)]
    subject: Option<String>,
    #[serde(rename = "Message", default)]
    message: Option<String>,
    #[serde(rename = "Timestamp", default)]
    timestamp: Option<String>,
    #[serde(rename = "MessageAttributes", default)]
    message_attributes: Option<HashMap<String, MessageAttribute>>,
}

/// An SQS message attribute: only string values become attributes.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SqsAttribute {
    #[serde(default)]
    pub string_value: Option<String>,
    #[serde(default)]
    pub data_type: Option<String>,
}

/// A body (of an SQS message or a dead letter): an SNS notification, our
/// envelope, Lambda's on-failure record, or a bare SNS event. The envelope's
/// fields are kept raw, so a raw message that merely shares a key name never
/// fails the parse; [`super::body`] decides whether they make our envelope.
#[derive(Deserialize)]
pub(super) struct BodyShape<'a> {
    #[serde(borrow, default)]
    pub record: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub reason: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub version: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub attempts: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub status: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub detail: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub last_attempt_at: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub webhook: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub history: Option<&'a RawValue>,
    #[serde(rename = "requestPayload", borrow, default)]
    pub request_payload: Option<&'a RawValue>,
    #[serde(rename = "requestContext", borrow, default)]
    pub request_context: Option<&'a RawValue>,
    #[serde(rename = "Records", borrow, default)]
    pub records: Option<&'a RawValue>,
    #[serde(rename = "Type", default)]
    kind: Option<String>,
    #[serde(rename = "MessageId", default)]
    sns_message_id: Option<String>,
    #[serde(rename = "TopicArn", default)]
    topic_arn: Option<String>,
    #[serde(rename = "Subject", default)]
    subject: Option<String>,
    #[serde(rename = "Message", default)]
    message: Option<String>,
    #[serde(rename = "Timestamp", default)]
    timestamp: Option<String>,
    #[serde(
        rename = "MessageAttributes",
        default,
        deserialize_with = "nullable_map"
    )]
    message_attributes: HashMap<String, MessageAttribute>,
}

impl RecordShape {
    /// The top-level notification fields (a bare SNS notification).
    pub fn take_notification(&mut self) -> NotificationFields {
        NotificationFields {
            kind: self.kind.take(),
            message_id: self.sns_message_id.take(),
            topic_arn: self.topic_arn.take(),
            subject: self.subject.take(),
            message: self.message.take(),
            timestamp: self.timestamp.take(),
            message_attributes: self.message_attributes.take().unwrap_or_default(),
        }
    }
}

impl BodyShape<'_> {
    /// The top-level notification fields (an SNS notification body).
    pub fn take_notification(&mut self) -> NotificationFields {
        NotificationFields {
            kind: self.kind.take(),
            message_id: self.sns_message_id.take(),
            topic_arn: self.topic_arn.take(),
            subject: self.subject.take(),
            message: self.message.take(),
            timestamp: self.timestamp.take(),
            message_attributes: std::mem::take(&mut self.message_attributes),
        }
    }
}

/// The `Type` of an object that did not fit [`BodyShape`] (a notification with
/// a field of the wrong type), to say what was wrong with it.
#[derive(Deserialize)]
pub(super) struct TypeOnly {
    #[serde(rename = "Type", default)]
    pub kind: Option<String>,
}
