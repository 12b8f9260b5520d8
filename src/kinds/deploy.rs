//! `codepipeline`, `codebuild`, `codedeploy` (EventBridge events; also
//! CodePipeline's manual approval and CodeDeploy's trigger SNS messages) and
//! `cloudformation_stack` (the `Key='value'` lines CloudFormation publishes):
//! what ran, its state, where it stands, and a link.

use serde_json::Value;

use super::common::{self, code_field, field, fields, text_at, tone_of};
use super::generic::is_eventbridge;
use super::{Detection, Kind};
use crate::notice::{Draft, Fact, Part, Rich, Tone};
use crate::record::Notification;

/// The status of a CodePipeline manual approval request: the pipeline waits
/// for someone to approve or reject.
pub const APPROVAL_NEEDED: &str = "APPROVAL_NEEDED";

/// By `source` of an EventBridge event; the status is the state it reports.
/// A CodeDeploy trigger's SNS message by its `eventTriggerName` and
/// `deploymentId`; the status is its `status`. A CodePipeline manual
/// approval SNS message by its `approval` object naming a `pipelineName`
/// and a `stageName` or `actionName`; the status is [`APPROVAL_NEEDED`].
pub fn detect(v: &Value) -> Option<Detection> {
    if !is_eventbridge(v) {
        if let Some(a) = v.get("approval").filter(|a| a.is_object())
            && text_at(a, &["pipelineName"]).is_some()
            && (text_at(a, &["stageName"]).is_some() || text_at(a, &["actionName"]).is_some())
        {
            return Some(Detection {
                kind: Kind::Codepipeline,
                status: Some(APPROVAL_NEEDED.into()),
            });
        }
        return (v.get("eventTriggerName").is_some_and(Value::is_string)
            && v.get("deploymentId").is_some_and(Value::is_string))
        .then(|| Detection {
            kind: Kind::Codedeploy,
            status: text_at(v, &["status"]),
        });
    }
    let d = v.get("detail")?;
    let (kind, status) = match text_at(v, &["source"])?.as_str() {
        "aws.codepipeline" => (Kind::Codepipeline, text_at(d, &["state"])),
        "aws.codebuild" => (
            Kind::Codebuild,
            text_at(d, &["build-status"]).or_else(|| text_at(d, &["completed-phase-status"])),
        ),
        "aws.codedeploy" => (Kind::Codedeploy, text_at(d, &["state"])),
        _ => return None,
    };
    Some(Detection { kind, status })
}

/// Reads a CodePipeline, CodeBuild or CodeDeploy event. Its thread is the
/// pipeline execution, the build or the deployment; what it says is that
/// thing's state (and stage, action, phase or instance).
pub fn read(detection: &Detection, v: &Value) -> Draft {
    let d = v.get("detail").unwrap_or(&Value::Null);
    let region = text_at(v, &["region"]).unwrap_or_default();
    let status = detection.status.clone().unwrap_or_else(|| "UNKNOWN".into());
    let tone = tone_of(&status);
    let detail_type = text_at(v, &["detail-type"]).unwrap_or_default();
    let account = text_at(v, &["account"]).unwrap_or_default();
    let (name, facts, link, label, thread, said) = match detection.kind {
        Kind::Codepipeline => {
            let pipeline = text_at(d, &["pipeline"]).unwrap_or_default();
            let execution = text_at(d, &["execution-id"]);
            let provider = match (
                text_at(d, &["type", "category"]),
                text_at(d, &["type", "provider"]),
            ) {
                (Some(c), Some(p)) => Some(format!("{c} ({p})")),
                (c, p) => c.or(p),
            };
            let body = fields([
                field("Stage", text_at(d, &["stage"])),
                field("Action", text_at(d, &["action"])),
                field("Provider", provider),
                code_field("Execution", execution.clone()),
                time_field(v),
            ]);
            let link = execution.as_ref().and_then(|e| {
                let base = common::console_base(&region)?;
                Some(format!(
                    "{base}/codesuite/codepipeline/pipelines/{}/executions/{}/timeline?region={region}",
                    common::encode(&pipeline),
                    common::encode(e)
                ))
            });
            let thread = execution
                .as_ref()
                .map(|e| format!("codepipeline:{region}:{account}:{pipeline}:{e}"));
            let said = vec![
                thread.clone(),
                text_at(d, &["stage"]),
                text_at(d, &["action"]),
            ];
            (
                pipeline,
                body,
                link,
                "Open the execution in CodePipeline",
                thread,
                said,
            )
        }
        Kind::Codebuild => {
            let project = text_at(d, &["project-name"]).unwrap_or_default();
            let phase = text_at(d, &["completed-phase"])
                .map(|p| {
                    let secs = text_at(d, &["completed-phase-duration-seconds"]);
                    match secs {
                        Some(s) => format!("{p} (took {s} s)"),
                        None => p,
                    }
                })
                .or_else(|| text_at(d, &["current-phase"]));
            let context =
                text_at(d, &["current-phase-context"]).filter(|c| c != "[]" && c != "[: ]");
            let body = fields([
                field("Phase", phase),
                field("Phase context", context),
                code_field(
                    "Source version",
                    text_at(d, &["additional-information", "source-version"]),
                ),
                field(
                    "Initiator",
                    text_at(d, &["additional-information", "initiator"]),
                ),
                code_field(
                    "Build",
                    text_at(d, &["build-id"])
                        .map(|id| id.rsplit('/').next().unwrap_or("").to_string()),
                ),
                time_field(v),
            ]);
            let link = text_at(d, &["additional-information", "logs", "deep-link"]);
            let thread = text_at(d, &["build-id"]);
            let said = vec![thread.clone(), text_at(d, &["completed-phase"])];
            (project, body, link, "Open the build logs", thread, said)
        }
        _ => {
            let application = text_at(d, &["application"]).unwrap_or_default();
            let deployment = text_at(d, &["deploymentId"]);
            let body = fields([
                field("Deployment group", text_at(d, &["deploymentGroup"])),
                code_field("Deployment", deployment.clone()),
                code_field("Instance", text_at(d, &["instanceId"])),
                field("Instance group", text_at(d, &["instanceGroupId"])),
                time_field(v),
            ]);
            let link = deployment.as_ref().and_then(|id| {
                let base = common::console_base(&region)?;
                Some(format!(
                    "{base}/codesuite/codedeploy/deployments/{}?region={region}",
                    common::encode(id)
                ))
            });
            let thread = deployment
                .as_ref()
                .map(|id| format!("codedeploy:{region}:{account}:{id}"));
            let said = vec![thread.clone(), text_at(d, &["instanceId"])];
            (
                application,
                body,
                link,
                "Open the deployment in CodeDeploy",
                thread,
                said,
            )
        }
    };
    let service = match detection.kind {
        Kind::Codepipeline => "CodePipeline",
        Kind::Codebuild => "CodeBuild",
        _ => "CodeDeploy",
    };
    let mut body = vec![Part::Text(
        Rich::new()
            .text(detail_type)
            .text(" in ")
            .code(region.clone())
            .text(" · account ")
            .code(account),
    )];
    body.extend(facts);
    body.extend(common::link_line(link, label));
    let time = text_at(v, &["time"]);
    Draft::new(
        Some(common::named(&status, &name)),
        format!("{service} {}", common::named(&status, &name)),
        Some(tone),
        body,
    )
    .says(said.into_iter().chain([Some(status), time.clone()]))
    .thread(thread)
    .at(time.as_deref())
}

/// Reads a CodeDeploy trigger's SNS message: the deployment, its group, its
/// outcome and error, with the same thread as the EventBridge form.
pub fn read_trigger(detection: &Detection, v: &Value) -> Draft {
    let status = detection.status.clone().unwrap_or_default();
    let tone = if status.is_empty() {
        crate::notice::Tone::Info
    } else {
        tone_of(&status)
    };
    let application = text_at(v, &["applicationName"]).unwrap_or_default();
    let region = text_at(v, &["region"]).unwrap_or_default();
    let account = text_at(v, &["accountId"]).unwrap_or_default();
    let deployment = text_at(v, &["deploymentId"]);
    // CodeDeploy writes these two as JSON inside a string.
    let inner = |key: &str| text_at(v, &[key]).and_then(|s| serde_json::from_str::<Value>(&s).ok());
    let error = inner("errorInformation");
    let overview = inner("deploymentOverview");
    let mut body = vec![Part::Text(
        Rich::new()
            .text("CodeDeploy trigger ")
            .code(text_at(v, &["eventTriggerName"]).unwrap_or_default())
            .text(" in ")
            .code(region.clone())
            .text(" · account ")
            .code(account.clone()),
    )];
    if let Some(error) = &error {
        let mut md = Rich::new();
        if let Some(code) = text_at(error, &["ErrorCode"]) {
            md = md.code(code).text(" ");
        }
        if let Some(message) = text_at(error, &["ErrorMessage"]) {
            md = md.text(message);
        }
        if !md.is_empty() {
            body.push(Part::Text(md));
        }
    }
    let counts = overview.as_ref().and_then(Value::as_object).map(|o| {
        o.iter()
            .filter_map(|(k, v)| {
                let n = common::scalar(v)?;
                (n != "0").then(|| format!("{k} {n}"))
            })
            .collect::<Vec<_>>()
            .join(", ")
    });
    body.extend(fields([
        field("Deployment group", text_at(v, &["deploymentGroupName"])),
        code_field("Deployment", deployment.clone()),
        field("Instances", counts),
        field("Created", text_at(v, &["createTime"])),
        field("Completed", text_at(v, &["completeTime"])),
    ]));
    let link = deployment.as_ref().and_then(|id| {
        let base = common::console_base(&region)?;
        Some(format!(
            "{base}/codesuite/codedeploy/deployments/{}?region={region}",
            common::encode(id)
        ))
    });
    body.extend(common::link_line(link, "Open the deployment in CodeDeploy"));
    let thread = deployment
        .as_ref()
        .map(|id| format!("codedeploy:{region}:{account}:{id}"));
    Draft::new(
        Some(common::named(&status, &application)),
        format!("CodeDeploy {}", common::named(&status, &application)),
        Some(tone),
        body,
    )
    .says([thread.clone(), Some(status), text_at(v, &["completeTime"])])
    .thread(thread)
}

/// Reads a CodePipeline manual approval request (the SNS message AWS
/// documents as "JSON data format for manual approval notifications"):
/// always a warning, headed by the pipeline, stage and action; the review
/// link (the console's approve page) first, then the pipeline's page; the
/// URL to review is a fact (shown as text unless it is an AWS host). Its thread is the
/// pipeline execution when the message names one, else the action. The
/// approval `token` is never shown as text (AWS's own review URL carries it).
pub fn read_approval(detection: &Detection, v: &Value) -> Draft {
    let a = v.get("approval").unwrap_or(&Value::Null);
    let status = detection
        .status
        .clone()
        .unwrap_or_else(|| APPROVAL_NEEDED.into());
    let region = text_at(v, &["region"]).unwrap_or_default();
    let pipeline = text_at(a, &["pipelineName"]).unwrap_or_default();
    let stage = text_at(a, &["stageName"]).unwrap_or_default();
    let action = text_at(a, &["actionName"]).unwrap_or_default();
    let execution = text_at(a, &["pipelineExecutionId"]);
    let expires = text_at(a, &["expires"]);
    let where_: Vec<&str> = [pipeline.as_str(), stage.as_str(), action.as_str()]
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let title = common::named("Approval needed", &where_.join(" / "));
    let mut body = Vec::new();
    if let Some(custom) = text_at(a, &["customData"]) {
        body.push(Part::Text(Rich::new().text(custom)));
    }
    // The URL to review may be anything; renderers link only an AWS host
    // and show any other URL as text.
    let to_review = text_at(a, &["externalEntityLink"]).map(|url| Fact {
        label: "To review".into(),
        value: Rich::new().link(url, "Open what to review"),
    });
    body.extend(fields([
        field("Pipeline", Some(&pipeline)),
        field("Stage", Some(&stage)),
        field("Action", Some(&action)),
        code_field("Execution", execution.clone()),
        common::time_field("Expires", expires.as_deref()),
        code_field("Region", Some(&region)),
        to_review,
    ]));
    body.extend(common::link_line(
        text_at(a, &["approvalReviewLink"]),
        "Review and approve",
    ));
    body.extend(common::link_line(
        text_at(v, &["consoleLink"]),
        "Open the pipeline in CodePipeline",
    ));
    let thread = match &execution {
        Some(e) => Some(format!("codepipeline:{region}:{pipeline}:{e}")),
        None => Some(format!("codepipeline:{region}:{pipeline}:{stage}:{action}")),
    };
    Draft::new(
        Some(title.clone()),
        format!("CodePipeline {title}"),
        Some(Tone::Warning),
        body,
    )
    .says([
        thread.clone(),
        Some(stage),
        Some(action),
        Some(status),
        expires,
    ])
    .thread(thread)
}

fn time_field(v: &Value) -> Option<Fact> {
    common::time_field("Time", text_at(v, &["time"]).as_deref())
}

/// The `Key='value'` pairs of a CloudFormation notification, in order. A
/// value may span lines (ResourceProperties); a new pair starts a line with
/// a name, `=` and a quote.
pub fn stack_pairs(text: &str) -> Vec<(&str, String)> {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for line in text.lines() {
        let starts_pair = line
            .split_once("='")
            .filter(|(k, _)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric()));
        match starts_pair {
            Some((key, rest)) => pairs.push((key, rest.to_string())),
            None => {
                if let Some((_, value)) = pairs.last_mut() {
                    value.push('\n');
                    value.push_str(line);
                }
            }
        }
    }
    for (_, value) in &mut pairs {
        let trimmed = value.trim_end();
        let trimmed = trimmed.strip_suffix('\'').unwrap_or(trimmed);
        *value = trimmed.trim_end().to_string();
    }
    pairs
}

/// CloudFormation's text: `StackName='...'` and `ResourceStatus='...'` lines.
pub fn detect_text(text: &str) -> Option<Detection> {
    if !text.contains("StackName='") {
        return None;
    }
    let pairs = stack_pairs(text);
    let status = pairs
        .iter()
        .find(|(k, _)| *k == "ResourceStatus")
        .map(|(_, v)| v.clone());
    pairs
        .iter()
        .any(|(k, _)| *k == "StackName")
        .then_some(Detection {
            kind: Kind::CloudformationStack,
            status,
        })
}

/// Reads a CloudFormation stack event. Its thread is the stack (its id);
/// what it says is the event (its id, else the resource, status and time).
pub fn read_stack(n: &Notification) -> Draft {
    let pairs = stack_pairs(&n.message);
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let stack = get("StackName").unwrap_or_default();
    let status = get("ResourceStatus").unwrap_or_else(|| "UNKNOWN".into());
    let tone = tone_of(&status);
    let logical = get("LogicalResourceId");
    let is_stack_itself = logical.as_deref() == Some(stack.as_str());
    let mut blocks = Vec::new();
    if let Some(reason) = get("ResourceStatusReason") {
        blocks.push(Part::Text(Rich::new().text(reason)));
    }
    let stack_id = get("StackId");
    let region = stack_id
        .as_deref()
        .and_then(common::arn)
        .map(|a| a.region.to_string());
    blocks.extend(fields([
        (!is_stack_itself)
            .then(|| code_field("Resource", logical.clone()))
            .flatten(),
        code_field("Type", get("ResourceType")),
        code_field("Physical id", get("PhysicalResourceId")),
        code_field("Region", region.clone()),
        code_field("Account", get("Namespace")),
        common::time_field("Time", get("Timestamp").as_deref()),
    ]));
    let said = [
        stack_id.clone(),
        get("EventId"),
        logical.clone(),
        Some(status.clone()),
        get("Timestamp"),
    ];
    let thread = stack_id.clone();
    let link = match (region, stack_id) {
        (Some(region), Some(id)) => common::console_link(
            &region,
            "cloudformation",
            &format!("/stacks/events?stackId={}", common::encode(&id)),
        ),
        _ => None,
    };
    blocks.extend(common::link_line(
        link,
        "Open the stack's events in CloudFormation",
    ));
    let what = match (&logical, is_stack_itself) {
        (Some(l), false) => format!(" ({l})"),
        _ => String::new(),
    };
    Draft::new(
        Some(common::named(&status, &stack)),
        format!("CloudFormation {}{what}", common::named(&status, &stack)),
        Some(tone),
        blocks,
    )
    .says(said)
    .thread(thread)
    .at(get("Timestamp").as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_pairs_keep_multi_line_values() {
        let text = "StackName='orders'\nResourceProperties='{\n  \"a\": 1\n}\n'\nResourceStatus='UPDATE_FAILED'\n";
        let pairs = stack_pairs(text);
        assert_eq!(pairs[0], ("StackName", "orders".to_string()));
        assert_eq!(
            pairs[1],
            ("ResourceProperties", "{\n  \"a\": 1\n}".to_string())
        );
        assert_eq!(pairs[2], ("ResourceStatus", "UPDATE_FAILED".to_string()));
        let d = detect_text(text).unwrap();
        assert_eq!(d.status.as_deref(), Some("UPDATE_FAILED"));
    }
}
