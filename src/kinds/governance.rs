//! `config_compliance`: AWS Config's compliance changes and configuration
//! item changes, by EventBridge (`Config Rules Compliance Change`,
//! `Config Configuration Item Change`) or by Config's own SNS messages
//! (`messageType` `ComplianceChangeNotification`,
//! `ConfigurationItemChangeNotification`,
//! `OversizedConfigurationItemChangeNotification`).

use serde_json::Value;

use super::common::{self, code_field, field, fields, named, text_at, words};
use super::generic::is_eventbridge;
use super::{Detection, Kind};
use crate::notice::{Draft, Part, Rich, Tone};

/// The Config message itself: an EventBridge event's `detail`, or the SNS
/// message.
fn message(v: &Value) -> &Value {
    if is_eventbridge(v) {
        v.get("detail").unwrap_or(&Value::Null)
    } else {
        v
    }
}

/// By `messageType` (of the message or of an `aws.config` event's detail);
/// the status is the new compliance type, or the change type.
pub fn detect(v: &Value) -> Option<Detection> {
    if is_eventbridge(v) && text_at(v, &["source"]).as_deref() != Some("aws.config") {
        return None;
    }
    let c = message(v);
    let status = match text_at(c, &["messageType"])?.as_str() {
        "ComplianceChangeNotification" => text_at(c, &["newEvaluationResult", "complianceType"]),
        "ConfigurationItemChangeNotification" => {
            text_at(c, &["configurationItemDiff", "changeType"])
        }
        "OversizedConfigurationItemChangeNotification" => {
            text_at(c, &["configurationItemSummary", "changeType"])
        }
        _ => return None,
    };
    Some(Detection {
        kind: Kind::ConfigCompliance,
        status,
    })
}

/// Reads a compliance change (its thread: the resource's compliance with
/// the rule) or a configuration item change (its thread: the resource).
pub fn read(detection: &Detection, v: &Value) -> Draft {
    let c = message(v);
    let status = detection.status.clone().unwrap_or_default();
    if text_at(c, &["messageType"]).as_deref() == Some("ComplianceChangeNotification") {
        return compliance(&status, v, c);
    }
    let item = c
        .get("configurationItem")
        .or_else(|| c.get("configurationItemSummary"))
        .unwrap_or(&Value::Null);
    let resource_type = text_at(item, &["resourceType"]).unwrap_or_default();
    let id = text_at(item, &["resourceId"]).unwrap_or_default();
    let name = text_at(item, &["resourceName"]).unwrap_or_else(|| id.clone());
    let region = text_at(item, &["awsRegion"]).or_else(|| text_at(v, &["region"]));
    let account = text_at(item, &["awsAccountId"]).or_else(|| text_at(v, &["account"]));
    let changed = c
        .pointer("/configurationItemDiff/changedProperties")
        .and_then(Value::as_object)
        .map(|p| p.keys().take(10).cloned().collect::<Vec<_>>().join(", "));
    let tone = if status == "DELETE" {
        Tone::Warning
    } else {
        Tone::Info
    };
    let mut body = Vec::new();
    body.extend(fields([
        field("Change", Some(&status)),
        field("Resource type", Some(&resource_type)),
        code_field("Resource", Some(&id)),
        field("Changed", changed.filter(|c| !c.is_empty())),
        field("Item status", text_at(item, &["configurationItemStatus"])),
        code_field("Account", account.clone()),
        code_field("Region", region.clone()),
        common::time_field(
            "Captured",
            text_at(item, &["configurationItemCaptureTime"]).as_deref(),
        ),
    ]));
    let link = region.as_deref().and_then(|r| {
        common::console_link(
            r,
            "config",
            &format!(
                "/resources/timeline?resourceId={}&resourceType={}",
                common::encode(&id),
                common::encode(&resource_type)
            ),
        )
    });
    body.extend(common::link_line(
        link,
        "Open the resource's timeline in AWS Config",
    ));
    let thread = (!id.is_empty()).then(|| {
        format!(
            "config:{}:{}:{resource_type}:{id}",
            region.as_deref().unwrap_or(""),
            account.as_deref().unwrap_or("")
        )
    });
    let title = named(&status, &words(&[&resource_type, &name]));
    let at = text_at(item, &["configurationItemCaptureTime"]);
    Draft::new(
        Some(title.clone()),
        format!("AWS Config {title}"),
        Some(tone),
        body,
    )
    .says([thread.clone(), Some(status), at.clone()])
    .thread(thread)
    .at(at.as_deref())
}

fn compliance(status: &str, v: &Value, c: &Value) -> Draft {
    let rule = text_at(c, &["configRuleName"])
        .or_else(|| {
            text_at(
                c,
                &[
                    "newEvaluationResult",
                    "evaluationResultIdentifier",
                    "evaluationResultQualifier",
                    "configRuleName",
                ],
            )
        })
        .unwrap_or_default();
    let resource_type = text_at(c, &["resourceType"]).unwrap_or_default();
    let id = text_at(c, &["resourceId"]).unwrap_or_default();
    let old = text_at(c, &["oldEvaluationResult", "complianceType"]);
    let region = text_at(c, &["awsRegion"]).or_else(|| text_at(v, &["region"]));
    let account = text_at(c, &["awsAccountId"]).or_else(|| text_at(v, &["account"]));
    let tone = match status {
        "NON_COMPLIANT" => Tone::Danger,
        "COMPLIANT" => Tone::Good,
        _ => Tone::Neutral,
    };
    let mut line = Rich::new()
        .text(resource_type.clone())
        .text(" ")
        .code(id.clone());
    line = match &old {
        Some(old) => line.text(" ").bold(format!("{old} → {status}")),
        None => line.text(" ").bold(status.to_string()),
    };
    if let Some(annotation) = text_at(c, &["newEvaluationResult", "annotation"]) {
        line = line.line().text(annotation);
    }
    let mut body = vec![Part::Text(line)];
    let recorded = text_at(c, &["newEvaluationResult", "resultRecordedTime"]);
    body.extend(fields([
        field("Rule", Some(&rule)),
        field("Previously", old.clone()),
        code_field("Account", account.clone()),
        code_field("Region", region.clone()),
        common::time_field("Recorded", recorded.as_deref()),
    ]));
    let link = region.as_deref().and_then(|r| {
        common::console_link(
            r,
            "config",
            &format!("/rules/details?configRuleName={}", common::encode(&rule)),
        )
    });
    body.extend(common::link_line(link, "Open the rule in AWS Config"));
    let thread = (!rule.is_empty() && !id.is_empty()).then(|| {
        format!(
            "config_compliance:{}:{}:{rule}:{resource_type}:{id}",
            region.as_deref().unwrap_or(""),
            account.as_deref().unwrap_or("")
        )
    });
    let title = named(status, &rule);
    Draft::new(
        Some(title.clone()),
        format!("AWS Config {}", named(&title, &id)),
        Some(tone),
        body,
    )
    .says([thread.clone(), Some(status.to_string()), recorded.clone()])
    .thread(thread)
    .at(recorded.as_deref())
}
