//! `health_event`, `ecs_task`, `ec2_state`, `autoscaling`, `step_functions`
//! (EventBridge events; Auto Scaling's own SNS notifications too) and
//! `rds_event` (RDS's and DMS's own JSON): what changed, why, and which resources it
//! touches.

use serde_json::Value;

use super::common::{
    self, code_field, field, fields, named, paren, scalar, text_at, tone_of, words,
};
use super::generic::{first_line, is_eventbridge, resources};
use super::{Detection, Kind};
use crate::notice::{Draft, List, Part, Rich, Tone};

/// Health, ECS, EC2 and Auto Scaling events by `source` and `detail-type`;
/// an RDS event by its `Event Source` and `Event Message` keys.
pub fn detect(v: &Value) -> Option<Detection> {
    if v.get("Event Source").is_some() && v.get("Event Message").is_some() {
        return Some(Detection {
            kind: Kind::RdsEvent,
            status: rds_event_id(v),
        });
    }
    if let Some(event) = text_at(v, &["Event"])
        && event.starts_with("autoscaling:")
        && v.get("AutoScalingGroupName").is_some_and(Value::is_string)
    {
        return Some(Detection {
            kind: Kind::Autoscaling,
            status: text_at(v, &["StatusCode"]),
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
        ("aws.ecs", "ECS Deployment State Change" | "ECS Service Action") => {
            (Kind::EcsService, text_at(d, &["eventName"]))
        }
        ("aws.ec2", "EC2 Instance State-change Notification") => {
            (Kind::Ec2State, text_at(d, &["state"]))
        }
        ("aws.rds", t) if t.starts_with("RDS ") => (Kind::RdsEvent, text_at(d, &["EventID"])),
        ("aws.states", "Step Functions Execution Status Change") => {
            (Kind::StepFunctions, text_at(d, &["status"]))
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

/// `RDS-EVENT-0006` (or DMS's `DMS-EVENT-0078`) from the `Event ID` link
/// RDS and DMS send.
fn rds_event_id(v: &Value) -> Option<String> {
    let id = text_at(v, &["Event ID"])?;
    let id = id.rsplit('#').next().unwrap_or(&id).trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// Whether an RDS-shaped event comes from AWS DMS: its `Event Source` is a
/// replication task or instance (or a DMS endpoint), or its id a
/// `DMS-EVENT-`.
fn is_dms(v: &Value) -> bool {
    let source = text_at(v, &["Event Source"]).unwrap_or_default();
    source.starts_with("replication-")
        || source == "endpoint"
        || rds_event_id(v).is_some_and(|id| id.starts_with("DMS-EVENT-"))
}

/// Reads a Health, ECS, EC2 or Auto Scaling event.
pub fn read(detection: &Detection, v: &Value) -> Draft {
    match detection.kind {
        Kind::HealthEvent => health(detection, v),
        Kind::EcsTask => ecs(detection, v),
        Kind::Ec2State => ec2(detection, v),
        Kind::StepFunctions => step_functions(detection, v),
        Kind::EcsService => ecs_service(detection, v),
        _ if !is_eventbridge(v) => autoscaling_sns(detection, v),
        _ => autoscaling(detection, v),
    }
}

fn where_line(v: &Value) -> Part {
    let mut md = Rich::new()
        .text(text_at(v, &["detail-type"]).unwrap_or_default())
        .text(" in ")
        .code(text_at(v, &["region"]).unwrap_or_default())
        .text(" · account ")
        .code(text_at(v, &["account"]).unwrap_or_default());
    if let Some(t) = text_at(v, &["time"]) {
        md = md.text(" · ").time(&t);
    }
    Part::Note(md)
}

/// The `region:account` an EventBridge event came from, for thread keys.
fn place(v: &Value) -> String {
    format!(
        "{}:{}",
        text_at(v, &["region"]).unwrap_or_default(),
        text_at(v, &["account"]).unwrap_or_default()
    )
}

/// A Health event; its thread is the event (its ARN), what it says is its
/// status as last updated.
fn health(detection: &Detection, v: &Value) -> Draft {
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
    let mut blocks = Vec::new();
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
        blocks.push(Part::Text(
            Rich::new().text(super::generic::clip(description, 2_000)),
        ));
    }
    let entities: Vec<String> = common::items(d, "affectedEntities")
        .iter()
        .filter_map(|e| text_at(e, &["entityValue"]))
        .collect();
    if !entities.is_empty() {
        blocks.push(Part::List(List {
            title: format!("Affected entities ({})", entities.len()),
            hidden: entities.len().saturating_sub(20),
            items: entities
                .into_iter()
                .take(20)
                .map(|e| Rich::new().code(e))
                .collect(),
        }));
    }
    let arn = text_at(d, &["eventArn"]);
    let link = arn.as_ref().map(|arn| {
        format!(
            "https://health.aws.amazon.com/health/home#/account/event-log?eventID={}",
            common::encode(arn)
        )
    });
    blocks.extend(common::link_line(
        link,
        "Open the event in the AWS Health Dashboard",
    ));
    let summary = description.as_deref().map(first_line).unwrap_or_default();
    let updated = text_at(d, &["lastUpdatedTime"]);
    Draft::new(
        Some(format!(
            "AWS Health: {}{}",
            words(&[&service, &category]),
            paren(&status)
        )),
        format!(
            "AWS Health {}{}{}",
            words(&[&service, &category]),
            paren(&status),
            if summary.is_empty() {
                String::new()
            } else {
                format!(": {summary}")
            }
        ),
        Some(tone),
        blocks,
    )
    .says([arn.clone(), Some(status), updated.clone()])
    .thread(arn)
    .at(updated.as_deref().or(text_at(v, &["time"]).as_deref()))
}

/// An ECS task state change; its thread is the task (its ARN).
fn ecs(detection: &Detection, v: &Value) -> Draft {
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
    let title = named(
        &words(&["ECS task", &last]),
        group.as_deref().unwrap_or(&task),
    );
    let mut blocks = Vec::new();
    if let Some(reason) = text_at(d, &["stoppedReason"]) {
        blocks.push(Part::Text(
            Rich::new().bold("Stopped reason:").text(" ").text(reason),
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
        let items = containers
            .iter()
            .take(15)
            .map(|c| {
                let mut md = Rich::new()
                    .code(text_at(c, &["name"]).unwrap_or_default())
                    .text(" ")
                    .text(text_at(c, &["lastStatus"]).unwrap_or_default());
                if let Some(code) = c.get("exitCode").and_then(scalar) {
                    md = md.text(format!(", exit code {code}"));
                }
                if let Some(reason) = text_at(c, &["reason"]) {
                    md = md.text(": ").text(reason);
                }
                md
            })
            .collect();
        blocks.push(Part::List(List {
            title: "Containers".into(),
            items,
            hidden: 0,
        }));
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
    let arn = text_at(d, &["taskArn"]);
    let time = text_at(v, &["time"]);
    Draft::new(
        Some(title),
        format!(
            "{}{}{}",
            words(&["ECS task", &last]),
            if cluster.is_empty() {
                String::new()
            } else {
                format!(" in {cluster}")
            },
            reason.unwrap_or_default()
        ),
        Some(tone),
        blocks,
    )
    .says([
        arn.clone(),
        Some(last),
        text_at(d, &["desiredStatus"]),
        text_at(d, &["version"]),
    ])
    .thread(arn)
    .at(time.as_deref())
}

/// An EC2 instance state change; its thread is the instance.
fn ec2(detection: &Detection, v: &Value) -> Draft {
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
    let blocks = vec![where_line(v)];
    let link = common::console_link(
        &region,
        "ec2",
        &format!("InstanceDetails:instanceId={}", common::encode(&instance)),
    );
    let mut blocks = blocks;
    blocks.extend(common::link_line(
        link,
        "Open the instance in the EC2 console",
    ));
    let thread = (!instance.is_empty()).then(|| format!("ec2:{}:{instance}", place(v)));
    let time = text_at(v, &["time"]);
    Draft::new(
        Some(named(&words(&["EC2 instance", &state]), &instance)),
        format!(
            "{}{}",
            words(&[
                "EC2 instance",
                &instance,
                if state.is_empty() { "" } else { "is" },
                &state
            ]),
            paren(&region)
        ),
        Some(tone),
        blocks,
    )
    .says([thread.clone(), Some(state), time.clone()])
    .thread(thread)
    .at(time.as_deref())
}

/// An Auto Scaling activity; its thread is the activity.
fn autoscaling(detection: &Detection, v: &Value) -> Draft {
    let d = v.get("detail").unwrap_or(&Value::Null);
    let status = detection.status.clone().unwrap_or_default();
    let tone = tone_of(&status);
    let group = text_at(d, &["AutoScalingGroupName"]).unwrap_or_default();
    let detail_type = text_at(v, &["detail-type"]).unwrap_or_default();
    let mut blocks = Vec::new();
    let mut md = Rich::new();
    if let Some(description) = text_at(d, &["Description"]) {
        md = md.text(description);
    }
    if let Some(cause) = text_at(d, &["Cause"]) {
        md = md.line().bold("Cause:").text(" ").text(cause);
    }
    if let Some(message) = text_at(d, &["StatusMessage"]) {
        md = md.line().bold("Status message:").text(" ").text(message);
    }
    if !md.is_empty() {
        blocks.push(Part::Text(md));
    }
    blocks.extend(fields([
        field("Status", Some(&status)),
        code_field("Lifecycle hook", text_at(d, &["LifecycleHookName"])),
        field("Transition", text_at(d, &["LifecycleTransition"])),
        code_field("Instance", text_at(d, &["EC2InstanceId"])),
        code_field("Activity", text_at(d, &["ActivityId"])),
        common::time_field("Start", text_at(d, &["StartTime"]).as_deref()),
        common::time_field("End", text_at(d, &["EndTime"]).as_deref()),
    ]));
    blocks.extend(resources(v));
    blocks.push(where_line(v));
    let activity = text_at(d, &["ActivityId"]);
    let thread = activity
        .as_ref()
        .map(|a| format!("autoscaling:{}:{a}", place(v)));
    let time = text_at(v, &["time"]);
    Draft::new(
        Some(named(&detail_type, &group)),
        format!("{}{}", named(&detail_type, &group), paren(&status)),
        Some(tone),
        blocks,
    )
    .says([
        thread.clone().or(Some(group.clone())),
        Some(status.clone()),
        text_at(d, &["EC2InstanceId"]),
        time.clone(),
    ])
    .thread(thread)
    .at(time.as_deref())
}

/// Auto Scaling's own SNS notification (`Event` `autoscaling:...`): the
/// same reading as its EventBridge form, from the notification's fields.
fn autoscaling_sns(detection: &Detection, v: &Value) -> Draft {
    let status = detection.status.clone().unwrap_or_default();
    let event = text_at(v, &["Event"]).unwrap_or_default();
    let group = text_at(v, &["AutoScalingGroupName"]).unwrap_or_default();
    let what = match event.trim_start_matches("autoscaling:") {
        "EC2_INSTANCE_LAUNCH" => "EC2 Instance Launch",
        "EC2_INSTANCE_LAUNCH_ERROR" => "EC2 Instance Launch Unsuccessful",
        "EC2_INSTANCE_TERMINATE" => "EC2 Instance Terminate",
        "EC2_INSTANCE_TERMINATE_ERROR" => "EC2 Instance Terminate Unsuccessful",
        "TEST_NOTIFICATION" => "Auto Scaling test notification",
        _ => "Auto Scaling",
    };
    let tone = if event.ends_with("_ERROR") {
        Tone::Danger
    } else if status.is_empty() {
        Tone::Info
    } else {
        tone_of(&status)
    };
    let arn = text_at(v, &["AutoScalingGroupARN"]);
    let parsed = arn.as_deref().and_then(common::arn);
    let region = parsed.as_ref().map(|a| a.region.to_string());
    let account =
        text_at(v, &["AccountId"]).or_else(|| parsed.as_ref().map(|a| a.account.to_string()));
    let mut blocks = Vec::new();
    let mut md = Rich::new();
    if let Some(description) = text_at(v, &["Description"]) {
        md = md.text(description);
    }
    if let Some(cause) = text_at(v, &["Cause"]) {
        md = md.line().bold("Cause:").text(" ").text(cause);
    }
    if let Some(message) = text_at(v, &["StatusMessage"]) {
        md = md.line().bold("Status message:").text(" ").text(message);
    }
    if !md.is_empty() {
        blocks.push(Part::Text(md));
    }
    let details = v.get("Details").and_then(Value::as_object);
    let detail = |key: &str| details.and_then(|d| d.get(key)).and_then(scalar);
    blocks.extend(fields([
        field("Status", Some(&status)),
        code_field("Instance", text_at(v, &["EC2InstanceId"])),
        code_field("Activity", text_at(v, &["ActivityId"])),
        field("Availability zone", detail("Availability Zone")),
        code_field("Subnet", detail("Subnet ID")),
        common::time_field("Start", text_at(v, &["StartTime"]).as_deref()),
        common::time_field("End", text_at(v, &["EndTime"]).as_deref()),
        code_field("Account", account.clone()),
        code_field("Region", region.clone()),
    ]));
    let link = region.as_deref().and_then(|r| {
        common::console_link(
            r,
            "ec2",
            &format!(
                "AutoScalingGroupDetails:id={};view=activity",
                common::encode(&group)
            ),
        )
    });
    blocks.extend(common::link_line(
        link,
        "Open the group's activity in the EC2 console",
    ));
    let activity = text_at(v, &["ActivityId"]);
    let thread = activity.as_ref().map(|a| {
        format!(
            "autoscaling:{}:{}:{a}",
            region.as_deref().unwrap_or(""),
            account.as_deref().unwrap_or("")
        )
    });
    let time = text_at(v, &["EndTime"])
        .or_else(|| text_at(v, &["StartTime"]))
        .or_else(|| text_at(v, &["Time"]));
    Draft::new(
        Some(named(what, &group)),
        format!("{}{}", named(what, &group), paren(&status)),
        Some(tone),
        blocks,
    )
    .says([
        thread.clone().or(Some(group.clone())),
        Some(event),
        Some(status),
        text_at(v, &["RequestId"]),
    ])
    .thread(thread)
    .at(time.as_deref())
}

/// An ECS service deployment state change or service action. Its thread is
/// the deployment (for deployment events) or the service.
fn ecs_service(detection: &Detection, v: &Value) -> Draft {
    let d = v.get("detail").unwrap_or(&Value::Null);
    let name = detection.status.clone().unwrap_or_default();
    let event_type = text_at(d, &["eventType"]).unwrap_or_default();
    let tone = if event_type == "ERROR" || name.contains("FAIL") {
        Tone::Danger
    } else if event_type == "WARN" {
        Tone::Warning
    } else if name.ends_with("_COMPLETED") || name.ends_with("STEADY_STATE") {
        Tone::Good
    } else {
        Tone::Info
    };
    let service_arn = common::items(v, "resources")
        .iter()
        .filter_map(scalar)
        .find(|r| r.contains(":service/"));
    let service = service_arn
        .as_deref()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let cluster = text_at(d, &["clusterArn"])
        .or_else(|| {
            // arn:aws:ecs:region:account:service/cluster/service
            let arn = service_arn.as_deref()?;
            let mut parts = arn.rsplit('/');
            parts.next();
            parts.next().map(str::to_string)
        })
        .map(|c| c.rsplit('/').next().unwrap_or(&c).to_string())
        .unwrap_or_default();
    let deployment = text_at(d, &["deploymentId"]);
    let mut blocks = Vec::new();
    let mut md = Rich::new();
    if let Some(reason) = text_at(d, &["reason"]) {
        md = md.text(reason);
    }
    let reasons: Vec<String> = common::items(d, "reasons")
        .iter()
        .filter_map(scalar)
        .collect();
    for reason in reasons.iter().take(10) {
        if !md.is_empty() {
            md = md.line();
        }
        md = md.text("• ").text(reason.clone());
    }
    if !md.is_empty() {
        blocks.push(Part::Text(md));
    }
    blocks.extend(fields([
        code_field("Cluster", Some(&cluster)),
        code_field("Service", Some(&service)),
        code_field("Deployment", deployment.clone()),
        field("Event type", Some(&event_type)),
        common::time_field("Updated", text_at(d, &["updatedAt"]).as_deref()),
    ]));
    blocks.push(where_line(v));
    let region = text_at(v, &["region"]).unwrap_or_default();
    let link = (!cluster.is_empty() && !service.is_empty())
        .then(|| {
            Some(format!(
                "{}/ecs/v2/clusters/{}/services/{}/health?region={region}",
                common::console_base(&region)?,
                common::encode(&cluster),
                common::encode(&service)
            ))
        })
        .flatten();
    blocks.extend(common::link_line(
        link,
        "Open the service in the ECS console",
    ));
    let thread = match (&service_arn, &deployment) {
        (Some(arn), Some(id)) => Some(format!("{arn}/{id}")),
        (Some(arn), None) => Some(arn.clone()),
        _ => None,
    };
    let time = text_at(v, &["time"]);
    Draft::new(
        Some(named(&name, &service)),
        format!("ECS {}", named(&name, &service)),
        Some(tone),
        blocks,
    )
    .says([
        thread.clone(),
        Some(name),
        text_at(d, &["updatedAt"]),
        time.clone(),
    ])
    .thread(thread)
    .at(time.as_deref())
}

/// A Step Functions execution status change; its thread is the execution
/// (its ARN), what it says is its status.
fn step_functions(detection: &Detection, v: &Value) -> Draft {
    let d = v.get("detail").unwrap_or(&Value::Null);
    let status = detection.status.clone().unwrap_or_default();
    let tone = match status.as_str() {
        "SUCCEEDED" => Tone::Good,
        "FAILED" | "TIMED_OUT" | "ABORTED" => Tone::Danger,
        "PENDING_REDRIVE" => Tone::Warning,
        _ => Tone::Info,
    };
    let execution = text_at(d, &["executionArn"]);
    let machine = text_at(d, &["stateMachineArn"])
        .map(|arn| arn.rsplit(':').next().unwrap_or(&arn).to_string())
        .unwrap_or_default();
    let region = text_at(v, &["region"]).unwrap_or_default();
    let mut blocks = Vec::new();
    let mut md = Rich::new();
    if let Some(error) = text_at(d, &["error"]) {
        md = md.bold("Error:").text(" ").code(error);
    }
    if let Some(cause) = text_at(d, &["cause"]) {
        if !md.is_empty() {
            md = md.line();
        }
        md = md
            .bold("Cause:")
            .text(" ")
            .text(super::generic::clip(&cause, 1_500));
    }
    if !md.is_empty() {
        blocks.push(Part::Text(md));
    }
    blocks.extend(fields([
        field("Status", Some(&status)),
        code_field("Execution", text_at(d, &["name"])),
        common::epoch_ms_field("Started", d.get("startDate")),
        common::epoch_ms_field("Stopped", d.get("stopDate")),
        field(
            "Redrives",
            text_at(d, &["redriveCount"]).filter(|c| c != "0"),
        ),
    ]));
    blocks.push(where_line(v));
    let link = execution.as_ref().and_then(|arn| {
        common::console_link(
            &region,
            "states",
            &format!("/v2/executions/details/{}", common::encode(arn)),
        )
    });
    blocks.extend(common::link_line(
        link,
        "Open the execution in the Step Functions console",
    ));
    let error = text_at(d, &["error"])
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    let time = text_at(v, &["time"]);
    Draft::new(
        Some(named(&status, &machine)),
        format!("Step Functions {}{error}", named(&status, &machine)),
        Some(tone),
        blocks,
    )
    .says([execution.clone(), Some(status)])
    .thread(execution)
    .at(time.as_deref())
}

/// Reads an RDS event notification. It has no thread (an instance's events
/// are not one lifecycle); what it says is the source, event and time.
///
/// AWS DMS's SNS events share the shape (`Event Source` `replication-task`
/// or `replication-instance`, the name in `SourceId`, `DMS-EVENT-` ids):
/// they stay kind `rds_event` and read as `DMS <source type>: <name>`.
///
/// The EventBridge form (`RDS DB Instance Event`, `RDS DB Cluster Event`,
/// snapshot events...) reads the same, from its `detail`.
pub fn read_rds(v: &Value) -> Draft {
    if is_eventbridge(v) {
        let d = v.get("detail").unwrap_or(&Value::Null);
        let source_type = text_at(d, &["SourceType"])
            .map(|t| t.to_ascii_lowercase().replace('_', "-"))
            .unwrap_or_default();
        let sns_form = serde_json::json!({
            "Event Source": source_type,
            "Source ID": text_at(d, &["SourceIdentifier"]),
            "Event Message": text_at(d, &["Message"]),
            "Event ID": text_at(d, &["EventID"]),
            "Source ARN": text_at(d, &["SourceArn"]),
            "Event Time": text_at(d, &["Date"]).or_else(|| text_at(v, &["time"])),
        });
        return read_rds(&sns_form);
    }
    // DMS sends the same shape with its source's name in `SourceId`.
    let dms = is_dms(v);
    let service = if dms { "DMS" } else { "RDS" };
    let source = text_at(v, &["Source ID"])
        .or_else(|| text_at(v, &["SourceId"]))
        .unwrap_or_default();
    let message = text_at(v, &["Event Message"]).unwrap_or_default();
    let event_id = rds_event_id(v);
    let lower = message.to_ascii_lowercase();
    let failover = lower.contains("failover");
    let tone = if lower.replace("failover", "").contains("fail") || lower.contains("error") {
        Tone::Danger
    } else if failover
        || lower.contains("low storage")
        || lower.contains("reboot")
        || lower.contains("restart")
        || (dms && lower.contains("stopped"))
    {
        Tone::Warning
    } else {
        Tone::Info
    };
    let title = named(
        &words(&[service, &text_at(v, &["Event Source"]).unwrap_or_default()]),
        &source,
    );
    let mut blocks = vec![Part::Text(Rich::new().text(message.clone()))];
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
        (!dms).then_some(())?;
        common::console_link(
            region.as_deref()?,
            "rds",
            &format!("database:id={};is-cluster=false", common::encode(&source)),
        )
    });
    blocks.extend(common::link_line(
        link,
        if dms {
            "Open in the DMS console"
        } else {
            "Open in the RDS console"
        },
    ));
    let time = text_at(v, &["Event Time"]);
    Draft::new(
        Some(title),
        named(&words(&[service, &source]), &first_line(&message)),
        Some(tone),
        blocks,
    )
    .says([arn.or(Some(source)), event_id, time.clone(), Some(message)])
    .at(time.as_deref())
}
