//! Notification -> Slack message, in two pure steps: [`detect`] the kind of a
//! notification by its content (never by topic name) with a normalized status,
//! then [`render`] it as Block Kit (or, with `MESSAGE_FORMAT=attachments`, as
//! the original Go sample's attachment, [`attachments`]).
//!
//! Detection is separate from rendering because routing matches on the kind
//! and status. One file per kind family renders it; [`slack`] holds the Block
//! Kit types, the escaping and every limit, applied to every message.

mod alarm;
pub mod attachments; // the Go sample's layout, MESSAGE_FORMAT=attachments
mod billing;
mod common;
mod compute;
mod deploy;
mod generic;
mod messaging;
mod security;
pub mod slack;

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use crate::record::Notification;
use attachments as message;

/// How every message is presented: the layout (`MESSAGE_FORMAT`) and the
/// optional overrides sent with it (legacy webhooks honour the overrides;
/// webhooks of Slack apps ignore them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `MESSAGE_FORMAT`: Block Kit (default) or the Go sample's attachments.
    pub message_format: MessageFormat,
    /// `CHANNEL`: e.g. `#alerts`.
    pub channel: Option<String>,
    /// `USERNAME`: the poster's display name.
    pub username: Option<String>,
    /// `ICONEMOJI`: e.g. `:rotating_light:`.
    pub icon_emoji: Option<String>,
}

/// How messages are laid out (`MESSAGE_FORMAT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MessageFormat {
    /// Block Kit, per kind, with a coloured bar by status (the default).
    #[default]
    Blocks,
    /// The original Go sample's attachment, for every record.
    Attachments,
}

impl MessageFormat {
    /// The name used in `MESSAGE_FORMAT`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageFormat::Blocks => "blocks",
            MessageFormat::Attachments => "attachments",
        }
    }
}

impl FromStr for MessageFormat {
    type Err = String;

    /// `blocks` or `attachments`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "blocks" => Ok(MessageFormat::Blocks),
            "attachments" => Ok(MessageFormat::Attachments),
            _ => Err(format!(
                "expected blocks or attachments, got {}",
                crate::webhooks::describe(s)
            )),
        }
    }
}

/// What a notification is, decided by its content. The names ([`Kind::as_str`])
/// are part of the routing configuration: they never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A CloudWatch metric alarm state change.
    CloudwatchAlarm,
    /// A CloudWatch composite alarm state change.
    CloudwatchCompositeAlarm,
    /// An EventBridge GuardDuty finding.
    GuarddutyFinding,
    /// `Security Hub Findings - Imported` (Inspector and others come this way).
    SecurityhubFinding,
    /// An AWS Health event.
    HealthEvent,
    /// A CodePipeline pipeline, stage or action state change.
    Codepipeline,
    /// A CodeBuild build state or phase change.
    Codebuild,
    /// A CodeDeploy deployment or instance state change.
    Codedeploy,
    /// An ECS task state change.
    EcsTask,
    /// An EC2 instance state change.
    Ec2State,
    /// An EC2 Auto Scaling launch or termination.
    Autoscaling,
    /// A CloudFormation stack event (`Key='value'` lines).
    CloudformationStack,
    /// An RDS event notification.
    RdsEvent,
    /// An AWS Budgets notification.
    Budgets,
    /// A Cost Anomaly Detection alert.
    CostAnomaly,
    /// An AWS Backup job notification.
    Backup,
    /// An SES bounce, complaint or delivery notification.
    SesNotification,
    /// An Amazon Q Developer (Chatbot) custom notification.
    ChatbotCustom,
    /// Any other EventBridge event.
    Eventbridge,
    /// A message that already is a Slack payload; posted as given.
    SlackPayload,
    /// Any other JSON.
    Json,
    /// Anything else.
    Text,
}

impl Kind {
    /// Every kind, in the order detection tries them.
    pub const ALL: [Kind; 22] = [
        Kind::CloudwatchAlarm,
        Kind::CloudwatchCompositeAlarm,
        Kind::GuarddutyFinding,
        Kind::SecurityhubFinding,
        Kind::HealthEvent,
        Kind::Codepipeline,
        Kind::Codebuild,
        Kind::Codedeploy,
        Kind::EcsTask,
        Kind::Ec2State,
        Kind::Autoscaling,
        Kind::CloudformationStack,
        Kind::RdsEvent,
        Kind::Budgets,
        Kind::CostAnomaly,
        Kind::Backup,
        Kind::SesNotification,
        Kind::ChatbotCustom,
        Kind::Eventbridge,
        Kind::SlackPayload,
        Kind::Json,
        Kind::Text,
    ];

    /// The kind's name, as written in routing rules.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::CloudwatchAlarm => "cloudwatch_alarm",
            Kind::CloudwatchCompositeAlarm => "cloudwatch_composite_alarm",
            Kind::GuarddutyFinding => "guardduty_finding",
            Kind::SecurityhubFinding => "securityhub_finding",
            Kind::HealthEvent => "health_event",
            Kind::Codepipeline => "codepipeline",
            Kind::Codebuild => "codebuild",
            Kind::Codedeploy => "codedeploy",
            Kind::EcsTask => "ecs_task",
            Kind::Ec2State => "ec2_state",
            Kind::Autoscaling => "autoscaling",
            Kind::CloudformationStack => "cloudformation_stack",
            Kind::RdsEvent => "rds_event",
            Kind::Budgets => "budgets",
            Kind::CostAnomaly => "cost_anomaly",
            Kind::Backup => "backup",
            Kind::SesNotification => "ses_notification",
            Kind::ChatbotCustom => "chatbot_custom",
            Kind::Eventbridge => "eventbridge",
            Kind::SlackPayload => "slack_payload",
            Kind::Json => "json",
            Kind::Text => "text",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind names `ROUTES` may match on: every kind [`detect`] knows.
pub const KIND_NAMES: &[&str] = &{
    let mut names = [""; Kind::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Kind::ALL[i].as_str();
        i += 1;
    }
    names
};

/// A name that is not a kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown kind {0:?}; expected one of: cloudwatch_alarm, cloudwatch_composite_alarm, guardduty_finding, securityhub_finding, health_event, codepipeline, codebuild, codedeploy, ecs_task, ec2_state, autoscaling, cloudformation_stack, rds_event, budgets, cost_anomaly, backup, ses_notification, chatbot_custom, eventbridge, slack_payload, json, text"
)]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    /// The exact name of a kind ([`Kind::as_str`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

/// The kind of a notification and its normalized status (alarm state,
/// severity label, pipeline or build state, bounce type...), if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// What the notification is.
    pub kind: Kind,
    /// Its status, as the source names it (`ALARM`, `High`, `FAILED`...).
    pub status: Option<String>,
}

/// A notification's message, parsed once.
pub(crate) enum Content {
    /// The message is a JSON object.
    Object(Value),
    /// The message is other JSON (an array).
    OtherJson,
    /// The message is not JSON.
    Text,
}

impl Content {
    fn parse(message: &str) -> Self {
        let trimmed = message.trim_start();
        if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
            return Content::Text;
        }
        match serde_json::from_str::<Value>(message) {
            Ok(v @ Value::Object(_)) => Content::Object(v),
            Ok(_) => Content::OtherJson,
            Err(_) => Content::Text,
        }
    }
}

/// Decides the kind of `n` from its content (and, for AWS Backup, its
/// subject and attributes), never from the topic. Every notification has a
/// kind: `json` or `text` when nothing more specific fits.
pub fn detect(n: &Notification) -> Detection {
    detect_content(n, &Content::parse(&n.message))
}

fn detect_content(n: &Notification, content: &Content) -> Detection {
    let found = match content {
        Content::Object(map) => alarm::detect(map)
            .or_else(|| security::detect(map))
            .or_else(|| deploy::detect(map))
            .or_else(|| compute::detect(map))
            .or_else(|| messaging::detect(map))
            .or_else(|| billing::detect(map))
            .or_else(|| generic::detect(map)),
        Content::OtherJson => None,
        Content::Text => messaging::detect_text(n)
            .or_else(|| deploy::detect_text(&n.message))
            .or_else(|| billing::detect_text(&n.message)),
    };
    found.unwrap_or(Detection {
        kind: match content {
            Content::Text => Kind::Text,
            _ => Kind::Json,
        },
        status: None,
    })
}

/// What a kind's renderer produces: the blocks, the phone-notification text
/// (plain words, escaped later) and the bar's colour.
pub(crate) struct Card {
    pub fallback: String,
    pub tone: Option<slack::Tone>,
    pub blocks: Vec<slack::Block>,
}

/// The JSON body posted to Slack.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Payload {
    /// A Block Kit message.
    Blocks(slack::Message),
    /// The Go sample's attachment (`MESSAGE_FORMAT=attachments`).
    Attachments(message::SlackMessage),
    /// The publisher's own Slack payload, within Slack's limits, posted as given.
    Passthrough(serde_json::Map<String, Value>),
}

/// Renders `n`, whose kind is `detection`, as the body to post: Block Kit by
/// default, or the Go sample's attachment when `overrides.message_format` is
/// [`MessageFormat::Attachments`]. `max_message_chars` bounds the message text
/// shown as text or JSON. Never fails and never panics: a shape the renderer
/// did not expect shows the fields it could read.
pub fn render(
    n: &Notification,
    detection: &Detection,
    overrides: &Overrides,
    max_message_chars: usize,
) -> Payload {
    if overrides.message_format == MessageFormat::Attachments {
        return Payload::Attachments(message::build(n, overrides, max_message_chars));
    }
    let content = Content::parse(&n.message);
    render_content(n, &content, detection, overrides, max_message_chars)
}

/// A notification read once: its detection, and its parsed message kept for
/// rendering, so that routing (which needs the kind first) costs no second
/// parse of the message.
pub struct Analysis {
    content: Content,
    /// The kind and status.
    pub detection: Detection,
}

/// Parses `n`'s message once and detects its kind and status.
pub fn analyse(n: &Notification) -> Analysis {
    let content = Content::parse(&n.message);
    let detection = detect_content(n, &content);
    Analysis { content, detection }
}

/// [`render`] from an [`analyse`]d notification, without parsing it again.
pub fn render_analysis(
    n: &Notification,
    analysis: &Analysis,
    overrides: &Overrides,
    max_message_chars: usize,
) -> Payload {
    if overrides.message_format == MessageFormat::Attachments {
        return Payload::Attachments(message::build(n, overrides, max_message_chars));
    }
    render_content(
        n,
        &analysis.content,
        &analysis.detection,
        overrides,
        max_message_chars,
    )
}

/// [`detect`] then [`render`], parsing the message once.
pub fn format(n: &Notification, overrides: &Overrides, max_message_chars: usize) -> Payload {
    if overrides.message_format == MessageFormat::Attachments {
        return Payload::Attachments(message::build(n, overrides, max_message_chars));
    }
    let content = Content::parse(&n.message);
    let detection = detect_content(n, &content);
    render_content(n, &content, &detection, overrides, max_message_chars)
}

fn render_content(
    n: &Notification,
    content: &Content,
    detection: &Detection,
    overrides: &Overrides,
    max_message_chars: usize,
) -> Payload {
    let empty = Value::Null;
    let map = match content {
        Content::Object(v) => v,
        _ => &empty,
    };
    let card = match detection.kind {
        Kind::CloudwatchAlarm | Kind::CloudwatchCompositeAlarm => alarm::render(n, map),
        Kind::GuarddutyFinding | Kind::SecurityhubFinding => security::render(detection, map),
        Kind::Codepipeline | Kind::Codebuild | Kind::Codedeploy => deploy::render(detection, map),
        Kind::CloudformationStack => deploy::render_stack(n),
        Kind::HealthEvent | Kind::EcsTask | Kind::Ec2State | Kind::Autoscaling => {
            compute::render(detection, map)
        }
        Kind::RdsEvent => compute::render_rds(map),
        Kind::Budgets => billing::render_budget(n),
        Kind::CostAnomaly => billing::render_anomaly(map),
        Kind::Backup => messaging::render_backup(n),
        Kind::SesNotification => messaging::render_ses(map),
        Kind::ChatbotCustom => messaging::render_chatbot(map),
        Kind::Eventbridge => generic::render_eventbridge(map),
        Kind::SlackPayload => match generic::passthrough(map, overrides) {
            Ok(payload) => return Payload::Passthrough(payload),
            Err(why) => generic::render_json(n, max_message_chars, Some(&why)),
        },
        Kind::Json => generic::render_json(n, max_message_chars, None),
        Kind::Text => generic::render_text(n, max_message_chars),
    };
    let mut blocks = card.blocks;
    blocks.push(common::footer(n));
    Payload::Blocks(slack::Message::new(
        &card.fallback,
        card.tone,
        blocks,
        overrides,
    ))
}

/// A link that opens a payload's blocks in Slack's Block Kit Builder: the
/// top-level blocks, or those of its attachment (the Builder does not show
/// attachments). `None` when the payload has no blocks.
pub fn builder_link(payload: &Value) -> Option<String> {
    let blocks = payload
        .get("blocks")
        .or_else(|| common::at(payload, &["attachments"])?.get(0)?.get("blocks"))?;
    let json = serde_json::json!({ "blocks": blocks }).to_string();
    Some(format!(
        "https://app.slack.com/block-kit-builder/#{}",
        common::encode(&json)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(subject: Option<&str>, message: &str) -> Notification {
        Notification {
            message_id: "m".into(),
            topic_arn: "arn:aws:sns:us-east-1:123456789012:alarms-topic".into(),
            subject: subject.map(str::to_string),
            message: message.into(),
            timestamp: None,
            message_attributes: Default::default(),
        }
    }

    #[test]
    fn kind_names_round_trip_and_unknown_names_are_refused() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>().unwrap(), kind);
        }
        let err = "cloudwatch".parse::<Kind>().unwrap_err();
        assert!(err.to_string().contains("\"cloudwatch\""), "{err}");
    }

    #[test]
    fn message_format_names_parse_in_any_case() {
        assert_eq!("Blocks".parse(), Ok(MessageFormat::Blocks));
        assert_eq!(" attachments".parse(), Ok(MessageFormat::Attachments));
        assert!(
            "markdown"
                .parse::<MessageFormat>()
                .unwrap_err()
                .contains("markdown")
        );
    }

    #[test]
    fn detection_reads_content_never_the_topic() {
        let text = notification(Some("ALARM: x"), "disk full");
        assert_eq!(detect(&text).kind, Kind::Text);
        let json = notification(None, r#"{"AlarmName": "x"}"#);
        assert_eq!(detect(&json).kind, Kind::Json);
        let array = notification(None, "[1, 2]");
        assert_eq!(detect(&array).kind, Kind::Json);
        let broken = notification(None, "{not json");
        assert_eq!(detect(&broken).kind, Kind::Text);
    }
}
