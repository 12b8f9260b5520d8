//! Notification -> [`Notice`]: the kind of a notification, detected by its
//! content (never by its topic's name), its normalized status, and what it
//! says, in plain words ([`read`]). One file per kind family; pure.
//!
//! Detection and reading share one parse of the message. Routing matches on
//! the notice's kind and status; [`crate::render`] shows it.

mod alarm;
mod audit;
mod billing;
mod common;
mod compute;
mod deploy;
mod generic;
mod governance;
mod messaging;
mod security;
mod serverless;

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::notice::{Notice, Origin};
use crate::record::Notification;

/// Messages longer than this (SNS's own limit, 256 KiB) are not parsed for
/// a kind: no AWS service sends one, and a tree of a large JSON message
/// takes many times its size in memory. Such JSON is shown as sent.
pub const MAX_PARSED_MESSAGE_BYTES: usize = 256 * 1024;

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
    /// An Amazon Inspector finding (`Inspector2 Finding`).
    InspectorFinding,
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
    /// An ECS service deployment state change or service action.
    EcsService,
    /// An EC2 instance state change.
    Ec2State,
    /// An EC2 Auto Scaling launch or termination.
    Autoscaling,
    /// A Step Functions execution status change.
    StepFunctions,
    /// A CloudTrail API call or console sign-in, via EventBridge.
    CloudtrailEvent,
    /// A Lambda asynchronous invocation record sent to a destination.
    LambdaDestination,
    /// An S3 event notification published to SNS.
    S3Event,
    /// An AWS Config compliance or configuration item change.
    ConfigCompliance,
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
    pub const ALL: [Kind; 29] = [
        Kind::CloudwatchAlarm,
        Kind::CloudwatchCompositeAlarm,
        Kind::GuarddutyFinding,
        Kind::SecurityhubFinding,
        Kind::InspectorFinding,
        Kind::HealthEvent,
        Kind::Codepipeline,
        Kind::Codebuild,
        Kind::Codedeploy,
        Kind::EcsTask,
        Kind::EcsService,
        Kind::Ec2State,
        Kind::Autoscaling,
        Kind::StepFunctions,
        Kind::CloudtrailEvent,
        Kind::LambdaDestination,
        Kind::S3Event,
        Kind::ConfigCompliance,
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
            Kind::InspectorFinding => "inspector_finding",
            Kind::HealthEvent => "health_event",
            Kind::Codepipeline => "codepipeline",
            Kind::Codebuild => "codebuild",
            Kind::Codedeploy => "codedeploy",
            Kind::EcsTask => "ecs_task",
            Kind::EcsService => "ecs_service",
            Kind::Ec2State => "ec2_state",
            Kind::Autoscaling => "autoscaling",
            Kind::StepFunctions => "step_functions",
            Kind::CloudtrailEvent => "cloudtrail_event",
            Kind::LambdaDestination => "lambda_destination",
            Kind::S3Event => "s3_event",
            Kind::ConfigCompliance => "config_compliance",
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

/// The kind names `ROUTES` may match on: every kind [`read`] tells.
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
    "unknown kind {0:?}; expected one of: cloudwatch_alarm, cloudwatch_composite_alarm, guardduty_finding, securityhub_finding, inspector_finding, health_event, codepipeline, codebuild, codedeploy, ecs_task, ecs_service, ec2_state, autoscaling, step_functions, cloudtrail_event, lambda_destination, s3_event, config_compliance, cloudformation_stack, rds_event, budgets, cost_anomaly, backup, ses_notification, chatbot_custom, eventbridge, slack_payload, json, text"
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
pub(crate) struct Detection {
    /// What the notification is.
    pub kind: Kind,
    /// Its status, as the source names it (`ALARM`, `High`, `FAILED`...).
    pub status: Option<String>,
}

/// A notification's message, parsed once.
enum Content {
    /// The message is a JSON object.
    Object(Value),
    /// The message is other JSON (an array).
    OtherJson(Value),
    /// The message is JSON too large to be parsed into a tree
    /// ([`MAX_PARSED_MESSAGE_BYTES`]).
    LargeJson,
    /// The message is not JSON.
    Text,
}

impl Content {
    fn parse(message: &str) -> Self {
        let trimmed = message.trim_start();
        if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
            return Content::Text;
        }
        if message.len() > MAX_PARSED_MESSAGE_BYTES {
            // Validated without building a tree.
            return match serde_json::from_str::<serde::de::IgnoredAny>(message) {
                Ok(_) => Content::LargeJson,
                Err(_) => Content::Text,
            };
        }
        match serde_json::from_str::<Value>(message) {
            Ok(Value::Object(mut map)) => {
                // A developer-tools notification rule (CodeStar
                // Notifications) sends the EventBridge event with
                // `detailType` in camel case: read it as the event it is.
                if !map.contains_key("detail-type")
                    && map.contains_key("detail")
                    && map.get("source").is_some_and(Value::is_string)
                    && let Some(t) = map.get("detailType").filter(|t| t.is_string()).cloned()
                {
                    map.insert("detail-type".into(), t);
                }
                Content::Object(Value::Object(map))
            }
            Ok(v) => Content::OtherJson(v),
            Err(_) => Content::Text,
        }
    }
}

fn detect(n: &Notification, content: &Content) -> Detection {
    let found = match content {
        Content::Object(map) => alarm::detect(map)
            .or_else(|| security::detect(map))
            .or_else(|| deploy::detect(map))
            .or_else(|| compute::detect(map))
            .or_else(|| messaging::detect(map))
            .or_else(|| billing::detect(map))
            .or_else(|| audit::detect(map))
            .or_else(|| governance::detect(map))
            .or_else(|| serverless::detect(map))
            .or_else(|| generic::detect(map)),
        Content::OtherJson(_) | Content::LargeJson => None,
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

/// Reads `n` once: detects its kind and status from its content (and, for
/// AWS Backup, its subject and attributes), never from the topic, and
/// writes what it says as a [`Notice`]. Every notification has a kind:
/// `json` or `text` when nothing more specific fits. `max_message_chars`
/// bounds the message shown as text or JSON (cut with a visible marker).
/// Never fails and never panics: a shape a kind did not expect shows the
/// fields that could be read.
pub fn read(n: &Notification, max_message_chars: usize) -> Notice<'_> {
    let content = Content::parse(&n.message);
    let Detection { kind, status } = detect(n, &content);
    let origin = Origin {
        topic: n.topic_name(),
        timestamp: n.timestamp.as_deref(),
        subject: n.subject.as_deref(),
        message: &n.message,
        max_message_chars,
    };
    let empty = Value::Null;
    let v = match &content {
        Content::Object(v) => v,
        _ => &empty,
    };
    let detection = Detection { kind, status };
    let draft = match kind {
        Kind::CloudwatchAlarm | Kind::CloudwatchCompositeAlarm if generic::is_eventbridge(v) => {
            alarm::read_event(v)
        }
        Kind::CloudwatchAlarm | Kind::CloudwatchCompositeAlarm => alarm::read(v),
        Kind::GuarddutyFinding | Kind::SecurityhubFinding | Kind::InspectorFinding => {
            security::read(&detection, v)
        }
        Kind::Codedeploy if !generic::is_eventbridge(v) => deploy::read_trigger(&detection, v),
        Kind::Codepipeline if !generic::is_eventbridge(v) => deploy::read_approval(&detection, v),
        Kind::Codepipeline | Kind::Codebuild | Kind::Codedeploy => deploy::read(&detection, v),
        Kind::CloudformationStack => deploy::read_stack(n),
        Kind::HealthEvent
        | Kind::EcsTask
        | Kind::Ec2State
        | Kind::Autoscaling
        | Kind::EcsService
        | Kind::StepFunctions => compute::read(&detection, v),
        Kind::RdsEvent => compute::read_rds(v),
        Kind::Budgets => billing::read_budget(n),
        Kind::CostAnomaly => billing::read_anomaly(v),
        Kind::Backup => messaging::read_backup(n),
        Kind::SesNotification => messaging::read_ses(v),
        Kind::ChatbotCustom => messaging::read_chatbot(v),
        Kind::Eventbridge => generic::read_eventbridge(&detection, v),
        Kind::CloudtrailEvent => audit::read(v),
        Kind::ConfigCompliance => governance::read(&detection, v),
        Kind::S3Event => serverless::read_s3(&detection, v),
        Kind::LambdaDestination => serverless::read_lambda(&detection, v),
        Kind::SlackPayload | Kind::Json => {
            let parsed = match &content {
                Content::Object(v) | Content::OtherJson(v) => Some(v),
                _ => None,
            };
            generic::read_json(n, parsed, max_message_chars)
        }
        Kind::Text => generic::read_text(n, max_message_chars),
    };
    let slack_payload = match (kind, content) {
        (Kind::SlackPayload, Content::Object(Value::Object(map))) => Some(map),
        _ => None,
    };
    let Detection { kind, status } = detection;
    Notice::new(kind, status, draft, origin, slack_payload)
}

#[cfg(test)]
mod tests;
