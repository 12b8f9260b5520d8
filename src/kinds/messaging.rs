//! `backup` (AWS Backup's text with its `State` attribute), `ses_notification`
//! (bounces, complaints, deliveries) and `chatbot_custom` (the Amazon Q
//! Developer / Chatbot custom notification schema).

use serde_json::Value;

use super::common::{self, code_field, field, fields, text_at, tone_of};
use super::generic::first_line;
use super::{Detection, Kind};
use crate::notice::{Draft, List, Part, Rich, Tone};
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

/// Reads an AWS Backup notification. Its thread is the job; what it says
/// is the job and its state.
pub fn read_backup(n: &Notification) -> Draft {
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
    let mut blocks = vec![Part::Text(
        Rich::new().text(super::generic::clip(n.message.trim(), 1_500)),
    )];
    let job_id = attribute(n, "Id")
        .map(str::to_string)
        .or_else(|| find("BackupJob ID"));
    blocks.extend(fields([
        code_field("Resource", resource.clone()),
        code_field("Job id", job_id.clone()),
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
    let thread = job_id.as_ref().map(|id| {
        format!(
            "backup:{}:{}:{id}",
            region.as_deref().unwrap_or(""),
            attribute(n, "AccountId").unwrap_or("")
        )
    });
    let said = match &thread {
        Some(_) => vec![
            thread.clone(),
            Some(state.to_string()),
            Some(job.to_string()),
        ],
        None => vec![Some(n.message.clone())],
    };
    Draft::new(
        Some(format!("AWS Backup: {job_words} {state}")),
        format!(
            "AWS Backup {job_words} {state}{}",
            resource.map(|r| format!(": {r}")).unwrap_or_default()
        ),
        Some(tone),
        blocks,
    )
    .says(said)
    .thread(thread)
    .at(attribute(n, "StartTime"))
}

/// Reads an SES bounce, complaint or delivery notification. No thread;
/// what it says is the mail, the event and its recipients.
pub fn read_ses(v: &Value) -> Draft {
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
    let title = format!(
        "SES {}: {} recipient{}",
        kind_words.trim(),
        recipients.len(),
        if recipients.len() == 1 { "" } else { "s" }
    );
    let mut blocks = Vec::new();
    if !recipients.is_empty() {
        let items = recipients
            .iter()
            .take(20)
            .map(|(address, diagnostic)| {
                let mut md = Rich::new().code(address.clone());
                if let Some(d) = diagnostic {
                    md = md.text(" — ").text(d.clone());
                }
                md
            })
            .collect();
        blocks.push(Part::List(List {
            title: "Recipients".into(),
            items,
            hidden: recipients.len().saturating_sub(20),
        }));
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
    let time = text_at(detail, &["timestamp"]);
    let said: Vec<Option<String>> = [text_at(v, &["mail", "messageId"]), Some(t), time.clone()]
        .into_iter()
        .chain(recipients.into_iter().map(|(a, _)| Some(a)))
        .collect();
    Draft::new(
        Some(title),
        common::named(&common::words(&["SES", &kind_words]), &first),
        Some(tone),
        blocks,
    )
    .says(said)
    .at(time.as_deref())
}

/// Renders an Amazon Q Developer (Chatbot) custom notification: title,
/// description, next steps, keywords. The description keeps the publisher's
/// markdown emphasis, escaped like all content.
pub fn read_chatbot(v: &Value) -> Draft {
    let c = v.get("content").unwrap_or(&Value::Null);
    let title = text_at(c, &["title"]).unwrap_or_else(|| "Notification".into());
    let mut blocks = Vec::new();
    if let Some(description) = text_at(c, &["description"]) {
        blocks.push(Part::Text(Rich::new().text(description)));
    }
    let steps: Vec<String> = common::items(c, "nextSteps")
        .iter()
        .filter_map(common::scalar)
        .collect();
    if !steps.is_empty() {
        blocks.push(Part::List(List {
            title: "Next steps".into(),
            items: steps
                .into_iter()
                .take(15)
                .map(|step| Rich::new().text(step))
                .collect(),
            hidden: 0,
        }));
    }
    let keywords: Vec<String> = common::items(c, "keywords")
        .iter()
        .filter_map(common::scalar)
        .collect();
    if !keywords.is_empty() {
        let mut md = Rich::new();
        for (i, k) in keywords.into_iter().take(10).enumerate() {
            if i > 0 {
                md = md.text(" ");
            }
            md = md.code(k);
        }
        blocks.push(Part::Note(md));
    }
    let summary = text_at(v, &["metadata", "summary"]);
    let headline = summary.unwrap_or_else(|| match text_at(c, &["description"]) {
        Some(d) => format!("{title}: {}", first_line(&d)),
        None => title.clone(),
    });
    Draft::new(Some(title), headline, None, blocks)
}
