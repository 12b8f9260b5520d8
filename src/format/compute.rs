//! `health_event`, `ecs_task`, `ec2_state`, `autoscaling` (EventBridge
//! events) and `rds_event` (RDS's own JSON): what changed, why, and which
//! resources it touches.

use serde_json::Value;

use super::common::{self, code_field, field, fields, scalar, text_at, tone_of};
use super::generic::{first_line, is_eventbridge, resources};
use super::slack::{Block, Md, Tone};
use super::{Card, Detection, Kind};

/// Health, ECS, EC2 and Auto Scaling events by `source` and `detail-type`;
/// an RDS event by its `Event Source` and `Event Message` keys.
pub fn detect(v: &Value) -> Option<Detection> {
    if v.get("Event Source").is_some() && v.get("Event Message").is_some() {
        return Some(Detection {
            kind: Kind::RdsEvent,
            status: rds_event_id(v),
        });
    }
    if !is_eventbridge(v) {
        return None;
    }
    let d = v.get("detail")?;
    let source = text_at(v, &["source"])?;
    let detail_type = text_at(v, &["detail-type"]).unwrap_or_default();
    let (kind, status) = match (source.as_str(), detail_type.as_str()) {
        ("aws.health", _) => (Kind::HealthEvent, text_at(d, &["statusCode"])),
        ("aws.ecs", "ECS Task State Change") => (Kind::EcsTask, text_at(d, &["lastStatus"])),
        ("aws.ec2", "EC2 Instance State-change Notification") => {
            (Kind::Ec2State, text_at(d, &["state"]))
        }
        ("aws.autoscaling", _) => (
            Kind::Autoscaling,
            text_at(d, &["StatusCode"]).or_else(|| {
                let t = detail_type.as_str();
                Some(
                    if t.contains("Unsuccessful") {
                        "Failed"
                    } else if t.contains("Successful") {
                        "Successful"
                    } else {
                        return None;
                    }
                    .to_string(),
                )
            }),
        ),
        _ => return None,
    };
    Some(Detection { kind, status })
}

/// `RDS-EVENT-0006` from the `Event ID` link RDS sends.
fn rds_event_id(v: &Value) -> Option<String> {
    let id = text_at(v, &["Event ID"])?;
    Some(id.rsplit('#').next().unwrap_or(&id).to_string())
}

/// Renders a Health, ECS, EC2 or Auto Scaling event.
pub fn render(detection: &Detection, v: &Value) -> Card {
    match detection.kind {
        Kind::HealthEvent => health(detection, v),
        Kind::EcsTask => ecs(detection, v),
        Kind::Ec2State => ec2(detection, v),
        _ => autoscaling(detection, v),
    }
}

fn where_line(v: &Value) -> Block {
    let mut md = Md::new()
        .text(&text_at(v, &["detail-type"]).unwrap_or_default())
        .text(" in ")
        .code(&text_at(v, &["region"]).unwrap_or_default())
        .text(" · account ")
        .code(&text_at(v, &["account"]).unwrap_or_default());
    if let Some(t) = text_at(v, &["time"]) {
        md = common::when(md.text(" · "), &t);
    }
    Block::context(vec![md])
}

fn health(detection: &Detection, v: &Value) -> Card {
    let d = v.get("detail").unwrap_or(&Value::Null);
    let service = text_at(d, &["service"]).unwrap_or_else(|| "AWS".into());
    let code = text_at(d, &["eventTypeCode"]).unwrap_or_default();
    let category = text_at(d, &["eventTypeCategory"]).unwrap_or_default();
    let status = detection.status.clone().unwrap_or_default();
    let tone = match (category.as_str(), status.as_str()) {
        (_, "closed") => Tone::Good,
        ("issue", _) => Tone::Danger,
        ("scheduledChange", _) => Tone::Warning,
        _ => Tone::Info,
    };
    let region = text_at(d, &["eventRegion"]).or_else(|| text_at(v, &["region"]));
    let description = d
        .get("eventDescription")
        .and_then(Value::as_array)
        .and_then(|all| {
            all.iter()
                .find(|e| text_at(e, &["language"]).is_none_or(|l| l.starts_with("en")))
                .or_else(|| all.first())
        })
        .and_then(|e| text_at(e, &["latestDescription"]));
    let mut blocks = vec![Block::header(format!(
        "{} AWS Health: {service} {category} ({status})",
        common::emoji(tone)
    ))];
    blocks.extend(fields([
        code_field("Event type", Some(&code)),
        code_field("Affected region", region.clone()),
        field("Scope", text_at(d, &["eventScopeCode"])),
        code_field(
            "Account",
            text_at(d, &["affectedAccount"]).or_else(|| text_at(v, &["account"])),
        ),
        common::time_field("Start", text_at(d, &["startTime"]).as_deref()),
        common::time_field("End", text_at(d, &["endTime"]).as_deref()),
        common::time_field("Last update", text_at(d, &["lastUpdatedTime"]).as_deref()),
    ]));
    if let Some(description) = &description {
        // Health descriptions are long; the first paragraphs are what matter.
        blocks.push(Block::text(
            Md::new().text(&super::generic::clip(description, 2_000)),
        ));
    }
    let entities: Vec<String> = common::items(d, "affectedEntities")
        .iter()
        .filter_map(|e| text_at(e, &["entityValue"]))
        .collect();
    if !entities.is_empty() {
        let mut md = Md::new().bold(&format!("Affected entities ({})", entities.len()));
        for e in entities.iter().take(20) {
            md = md.line().text("• ").code(e);
        }
        if entities.len() > 20 {
            md = md.line().text(&format!("… {} more", entities.len() - 20));
        }
        blocks.push(Block::text(md));
    }
    let link = text_at(d, &["eventArn"]).map(|arn| {
        format!(
            "https://health.aws.amazon.com/health/home#/account/event-log?eventID={}",
            common::encode(&arn)
        )
    });
    blocks.extend(common::link_line(
        link,
        "Open the event in the AWS Health Dashboard",
    ));
    let summary = description.as_deref().map(first_line).unwrap_or_default();
    Card {
        fallback: format!("AWS Health {service} {category} ({status}): {summary}"),
        tone: Some(tone),
        blocks,
    }
}

fn ecs(detection: &Detection, v: &Value) -> Card {
    let d = v.get("detail").unwrap_or(&Value::Null);
    let last = detection.status.clone().unwrap_or_default();
    let containers = common::items(d, "containers");
    let failed = containers.iter().any(|c| {
        c.get("exitCode")
            .and_then(Value::as_i64)
            .is_some_and(|x| x != 0)
    });
    let stop_code = text_at(d, &["stopCode"]).unwrap_or_default();
    let tone = match last.as_str() {
        "STOPPED"
            if failed
                || stop_code != "ServiceSchedulerInitiated" && stop_code != "UserInitiated" =>
        {
            Tone::Danger
        }
        "STOPPED" => Tone::Warning,
        "RUNNING" => Tone::Good,
        _ => Tone::Info,
    };
    let short = |arn: Option<String>| arn.map(|a| a.rsplit('/').next().unwrap_or(&a).to_string());
    let cluster = short(text_at(d, &["clusterArn"])).unwrap_or_default();
    let task = short(text_at(d, &["taskArn"])).unwrap_or_default();
    let group = text_at(d, &["group"]);
    let mut blocks = vec![Block::header(format!(
        "{} ECS task {last}: {}",
        common::emoji(tone),
        group.as_deref().unwrap_or(&task)
    ))];
    if let Some(reason) = text_at(d, &["stoppedReason"]) {
        blocks.push(Block::text(
            Md::new().bold("Stopped reason:").text(" ").text(&reason),
        ));
    }
    blocks.extend(fields([
        code_field("Cluster", Some(&cluster)),
        code_field("Task", Some(&task)),
        code_field("Task definition", short(text_at(d, &["taskDefinitionArn"]))),
        field("Desired status", text_at(d, &["desiredStatus"])),
        field("Stop code", text_at(d, &["stopCode"])),
        field("Launch type", text_at(d, &["launchType"])),
    ]));
    if !containers.is_empty() {
        let mut md = Md::new().bold("Containers");
        for c in containers.iter().take(15) {
            md = md
                .line()
                .text("• ")
                .code(&text_at(c, &["name"]).unwrap_or_default())
                .text(" ")
                .text(&text_at(c, &["lastStatus"]).unwrap_or_default());
            if let Some(code) = c.get("exitCode").and_then(scalar) {
                md = md.text(&format!(", exit code {code}"));
            }
            if let Some(reason) = text_at(c, &["reason"]) {
                md = md.text(": ").text(&reason);
            }
        }
        blocks.push(Block::text(md));
    }
    blocks.push(where_line(v));
    let region = text_at(v, &["region"]).unwrap_or_default();
    let link = common::console_base(&region).map(|base| {
        format!(
            "{base}/ecs/v2/clusters/{}/tasks/{}?region={region}",
            common::encode(&cluster),
            common::encode(&task)
        )
    });
    blocks.extend(common::link_line(link, "Open the task in the ECS console"));
    let reason = text_at(d, &["stoppedReason"]).map(|r| format!(": {}", first_line(&r)));
    Card {
        fallback: format!("ECS task {last} in {cluster}{}", reason.unwrap_or_default()),
        tone: Some(tone),
        blocks,
    }
}

fn ec2(detection: &Detection, v: &Value) -> Card {
    let d = v.get("detail").unwrap_or(&Value::Null);
    let state = detection.status.clone().unwrap_or_default();
    let tone = match state.as_str() {
        "running" => Tone::Good,
        "pending" => Tone::Info,
        "stopping" | "shutting-down" => Tone::Warning,
        "stopped" | "terminated" => Tone::Danger,
        _ => Tone::Neutral,
    };
    let instance = text_at(d, &["instance-id"]).unwrap_or_default();
    let region = text_at(v, &["region"]).unwrap_or_default();
    let mut blocks = vec![Block::header(format!(
        "{} EC2 instance {state}: {instance}",
        common::emoji(tone)
    ))];
    blocks.push(where_line(v));
    let link = common::console_link(
        &region,
        "ec2",
        &format!("InstanceDetails:instanceId={}", common::encode(&instance)),
    );
    blocks.extend(common::link_line(
        link,
        "Open the instance in the EC2 console",
    ));
    Card {
        fallback: format!("EC2 instance {instance} is {state} ({region})"),
        tone: Some(tone),
        blocks,
    }
}

fn autoscaling(detection: &Detection, v: &Value) -> Card {
    let d = v.get("detail").unwrap_or(&Value::Null);
    let status = detection.status.clone().unwrap_or_default();
    let tone = tone_of(&status);
    let group = text_at(d, &["AutoScalingGroupName"]).unwrap_or_default();
    let detail_type = text_at(v, &["detail-type"]).unwrap_or_default();
    let mut blocks = vec![Block::header(format!(
        "{} {detail_type}: {group}",
        common::emoji(tone)
    ))];
    let mut md = Md::new();
    if let Some(description) = text_at(d, &["Description"]) {
        md = md.text(&description);
    }
    if let Some(cause) = text_at(d, &["Cause"]) {
        md = md.line().bold("Cause:").text(" ").text(&cause);
    }
    if let Some(message) = text_at(d, &["StatusMessage"]) {
        md = md.line().bold("Status message:").text(" ").text(&message);
    }
    if !md.is_empty() {
        blocks.push(Block::text(md));
    }
    blocks.extend(fields([
        field("Status", Some(&status)),
        code_field("Instance", text_at(d, &["EC2InstanceId"])),
        code_field("Activity", text_at(d, &["ActivityId"])),
        common::time_field("Start", text_at(d, &["StartTime"]).as_deref()),
        common::time_field("End", text_at(d, &["EndTime"]).as_deref()),
    ]));
    blocks.extend(resources(v));
    blocks.push(where_line(v));
    Card {
        fallback: format!("{detail_type}: {group} ({status})"),
        tone: Some(tone),
        blocks,
    }
}

/// Renders an RDS event notification.
pub fn render_rds(v: &Value) -> Card {
    let source = text_at(v, &["Source ID"]).unwrap_or_default();
    let message = text_at(v, &["Event Message"]).unwrap_or_default();
    let event_id = rds_event_id(v);
    let lower = message.to_ascii_lowercase();
    let tone = if lower.contains("fail") || lower.contains("error") {
        Tone::Danger
    } else if lower.contains("low storage") || lower.contains("reboot") || lower.contains("restart")
    {
        Tone::Warning
    } else {
        Tone::Info
    };
    let mut blocks = vec![Block::header(format!(
        "{} RDS {}: {source}",
        common::emoji(tone),
        text_at(v, &["Event Source"]).unwrap_or_default()
    ))];
    blocks.push(Block::text(Md::new().text(&message)));
    let arn = text_at(v, &["Source ARN"]);
    let region = arn
        .as_deref()
        .and_then(common::arn)
        .map(|a| a.region.to_string());
    blocks.extend(fields([
        code_field("Event", event_id.clone()),
        code_field("Source ARN", arn.clone()),
        common::time_field("Time", text_at(v, &["Event Time"]).as_deref()),
    ]));
    let link = text_at(v, &["Identifier Link"]).or_else(|| {
        common::console_link(
            region.as_deref()?,
            "rds",
            &format!("database:id={};is-cluster=false", common::encode(&source)),
        )
    });
    blocks.extend(common::link_line(link, "Open in the RDS console"));
    Card {
        fallback: format!("RDS {source}: {}", first_line(&message)),
        tone: Some(tone),
        blocks,
    }
}
