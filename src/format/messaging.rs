//! `backup` (AWS Backup's text with its `State` attribute), `ses_notification`
//! (bounces, complaints, deliveries) and `chatbot_custom` (the Amazon Q
//! Developer / Chatbot custom notification schema).

use serde_json::Value;

use super::common::{self, code_field, field, fields, text_at, tone_of};
use super::generic::first_line;
use super::slack::{Block, Md, Tone};
use super::{Card, Detection, Kind};
use crate::record::Notification;

/// SES by `notificationType` (or `eventType`, event publishing) with `mail`;
/// a custom notification by `version` 1.0, `source` custom and `content`.
pub fn detect(v: &Value) -> Option<Detection> {
    let ses_type = text_at(v, &["notificationType"]).or_else(|| text_at(v, &["eventType"]));
    if let Some(t) = ses_type
        && v.get("mail").is_some_and(Value::is_object)
        && matches!(t.as_str(), "Bounce" | "Complaint" | "Delivery")
    {
        let status = match t.as_str() {
            "Bounce" => text_at(v, &["bounce", "bounceType"]).or(Some(t)),
            _ => Some(t),
        };
        return Some(Detection {
            kind: Kind::SesNotification,
            status,
        });
    }
    if text_at(v, &["version"]).as_deref() == Some("1.0")
        && text_at(v, &["source"]).as_deref() == Some("custom")
        && v.get("content").is_some_and(Value::is_object)
    {
        return Some(Detection {
            kind: Kind::ChatbotCustom,
            status: text_at(v, &["metadata", "eventType"]),
        });
    }
    None
}

fn attribute<'a>(n: &'a Notification, name: &str) -> Option<&'a str> {
    n.message_attributes
        .get(name)
        .map(|a| a.value.as_str())
        .filter(|v| !v.trim().is_empty())
}

/// AWS Backup: its subject, or a `State` attribute with an `EventType` of a
/// job; the status is the `State` attribute.
pub fn detect_text(n: &Notification) -> Option<Detection> {
    let state = attribute(n, "State");
    let from_backup = n
        .subject
        .as_deref()
        .is_some_and(|s| s.contains("Notification from AWS Backup"));
    let job_event = attribute(n, "EventType").is_some_and(|t| t.ends_with("_JOB"));
    (from_backup || (state.is_some() && job_event)).then(|| Detection {
        kind: Kind::Backup,
        status: state.map(str::to_string),
    })
}

/// Renders an AWS Backup notification.
pub fn render_backup(n: &Notification) -> Card {
    let state = attribute(n, "State").unwrap_or("UNKNOWN");
    let tone = tone_of(state);
    let job = attribute(n, "EventType").unwrap_or("AWS Backup job");
    let job_words = job.replace('_', " ").to_ascii_lowercase();
    let find = |label: &str| {
        let at = n.message.find(label)?;
        let rest = n.message[at + label.len()..].trim_start_matches([' ', ':']);
        let value = rest.split_whitespace().next()?.trim_end_matches(['.', ',']);
        (!value.is_empty()).then(|| value.to_string())
    };
    let resource = find("Resource ARN");
    let mut blocks = vec![Block::header(format!(
        "{} AWS Backup: {job_words} {state}",
        common::emoji(tone)
    ))];
    blocks.push(Block::text(
        Md::new().text(&super::generic::clip(n.message.trim(), 1_500)),
    ));
    blocks.extend(fields([
        code_field("Resource", resource.clone()),
        code_field(
            "Job id",
            attribute(n, "Id")
                .map(str::to_string)
                .or_else(|| find("BackupJob ID")),
        ),
        code_field("Recovery point", find("Recovery point ARN")),
        code_field("Account", attribute(n, "AccountId")),
        common::time_field("Started", attribute(n, "StartTime")),
    ]));
    let region = resource
        .as_deref()
        .and_then(common::arn)
        .map(|a| a.region.to_string());
    let link = region
        .as_deref()
        .and_then(|r| common::console_link(r, "backup", "/jobs"));
    blocks.extend(common::link_line(
        link,
        "Open jobs in the AWS Backup console",
    ));
    Card {
        fallback: format!(
            "AWS Backup {job_words} {state}{}",
            resource.map(|r| format!(": {r}")).unwrap_or_default()
        ),
        tone: Some(tone),
        blocks,
    }
}

/// Renders an SES bounce, complaint or delivery notification.
pub fn render_ses(v: &Value) -> Card {
    let t = text_at(v, &["notificationType"])
        .or_else(|| text_at(v, &["eventType"]))
        .unwrap_or_default();
    let (tone, key, list) = match t.as_str() {
        "Bounce" => (
            if text_at(v, &["bounce", "bounceType"]).as_deref() == Some("Transient") {
                Tone::Warning
            } else {
                Tone::Danger
            },
            "bounce",
            "bouncedRecipients",
        ),
        "Complaint" => (Tone::Danger, "complaint", "complainedRecipients"),
        _ => (Tone::Good, "delivery", "recipients"),
    };
    let detail = v.get(key).unwrap_or(&Value::Null);
    let recipients: Vec<(String, Option<String>)> = common::items(detail, list)
        .iter()
        .filter_map(|r| match r {
            Value::String(s) => Some((s.clone(), None)),
            other => Some((
                text_at(other, &["emailAddress"])?,
                text_at(other, &["diagnosticCode"]).or_else(|| text_at(other, &["status"])),
            )),
        })
        .collect();
    let kind_words = match t.as_str() {
        "Bounce" => format!(
            "{} bounce",
            text_at(detail, &["bounceType"]).unwrap_or_default()
        ),
        other => other.to_string(),
    };
    let subject = text_at(v, &["mail", "commonHeaders", "subject"]);
    let mut blocks = vec![Block::header(format!(
        "{} SES {}: {} recipient{}",
        common::emoji(tone),
        kind_words.trim(),
        recipients.len(),
        if recipients.len() == 1 { "" } else { "s" }
    ))];
    if !recipients.is_empty() {
        let mut md = Md::new().bold("Recipients");
        for (address, diagnostic) in recipients.iter().take(20) {
            md = md.line().text("• ").code(address);
            if let Some(d) = diagnostic {
                md = md.text(" — ").text(d);
            }
        }
        if recipients.len() > 20 {
            md = md.line().text(&format!("… {} more", recipients.len() - 20));
        }
        blocks.push(Block::text(md));
    }
    blocks.extend(fields([
        field("Bounce subtype", text_at(detail, &["bounceSubType"])),
        field("Feedback type", text_at(detail, &["complaintFeedbackType"])),
        field("SMTP response", text_at(detail, &["smtpResponse"])),
        code_field("From", text_at(v, &["mail", "source"])),
        field("Subject", subject.clone()),
        code_field("Message id", text_at(v, &["mail", "messageId"])),
        common::time_field("Time", text_at(detail, &["timestamp"]).as_deref()),
    ]));
    let first = recipients
        .first()
        .map(|(a, _)| a.clone())
        .unwrap_or_default();
    Card {
        fallback: format!("SES {}: {first}", kind_words.trim()),
        tone: Some(tone),
        blocks,
    }
}

/// Renders an Amazon Q Developer (Chatbot) custom notification: title,
/// description, next steps, keywords. The description keeps the publisher's
/// markdown emphasis, escaped like all content.
pub fn render_chatbot(v: &Value) -> Card {
    let c = v.get("content").unwrap_or(&Value::Null);
    let title = text_at(c, &["title"]).unwrap_or_else(|| "Notification".into());
    let mut blocks = vec![Block::header(title.clone())];
    if let Some(description) = text_at(c, &["description"]) {
        blocks.push(Block::text(Md::new().text(&description)));
    }
    let steps: Vec<String> = common::items(c, "nextSteps")
        .iter()
        .filter_map(common::scalar)
        .collect();
    if !steps.is_empty() {
        let mut md = Md::new().bold("Next steps");
        for step in steps.iter().take(15) {
            md = md.line().text("• ").text(step);
        }
        blocks.push(Block::text(md));
    }
    let keywords: Vec<String> = common::items(c, "keywords")
        .iter()
        .filter_map(common::scalar)
        .collect();
    if !keywords.is_empty() {
        let mut md = Md::new();
        for (i, k) in keywords.iter().take(10).enumerate() {
            if i > 0 {
                md = md.text(" ");
            }
            md = md.code(k);
        }
        blocks.push(Block::context(vec![md]));
    }
    let summary = text_at(v, &["metadata", "summary"]);
    Card {
        fallback: summary.unwrap_or_else(|| match text_at(c, &["description"]) {
            Some(d) => format!("{title}: {}", first_line(&d)),
            None => title,
        }),
        tone: None,
        blocks,
    }
}
