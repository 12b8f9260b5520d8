//! The kinds that fit anything: `eventbridge` (any other EventBridge event),
//! `slack_payload` (posted as given), `json` (a readable code block) and
//! `text` (subject and message).

use serde_json::{Map, Value};

use super::common::{self, fields, summary, text_at};
use super::slack::{self, Block, Md, Tone};
use super::{Card, Detection, Kind};
use crate::format::Overrides;
use crate::record::Notification;

/// Raw characters per section of a long text or JSON body; escaping may
/// lengthen it, and the section limit (3,000) still holds after.
const CHUNK_CHARS: usize = 2_500;
/// Lines of an EventBridge `detail` summary.
const SUMMARY_LINES: usize = 25;

/// The keys a Slack Incoming Webhook payload may carry.
const SLACK_KEYS: &[&str] = &[
    "text",
    "blocks",
    "attachments",
    "username",
    "icon_emoji",
    "icon_url",
    "channel",
    "mrkdwn",
    "unfurl_links",
    "unfurl_media",
    "thread_ts",
    "reply_broadcast",
    "link_names",
    "parse",
    "metadata",
];

/// `eventbridge` for any EventBridge envelope; `slack_payload` for an object
/// that only has Slack payload keys and a `text`, `blocks` or `attachments`.
pub fn detect(v: &Value) -> Option<Detection> {
    let map = v.as_object()?;
    if is_eventbridge(v) {
        return Some(Detection {
            kind: Kind::Eventbridge,
            status: None,
        });
    }
    let has_body = map.get("text").is_some_and(Value::is_string)
        || map.get("blocks").is_some_and(Value::is_array)
        || map.get("attachments").is_some_and(Value::is_array);
    if has_body && map.keys().all(|k| SLACK_KEYS.contains(&k.as_str())) {
        return Some(Detection {
            kind: Kind::SlackPayload,
            status: None,
        });
    }
    None
}

/// Whether `v` is an EventBridge event envelope.
pub fn is_eventbridge(v: &Value) -> bool {
    v.get("detail-type").is_some_and(Value::is_string)
        && v.get("source").is_some_and(Value::is_string)
        && v.get("detail").is_some()
}

/// The publisher's own Slack payload, with the overrides added where it sets
/// none, if it is within Slack's limits; else why not.
pub fn passthrough(v: &Value, overrides: &Overrides) -> Result<Map<String, Value>, String> {
    let problems = slack::violations(v);
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let mut map = v.as_object().cloned().unwrap_or_default();
    for (key, value) in [
        ("channel", &overrides.channel),
        ("username", &overrides.username),
        ("icon_emoji", &overrides.icon_emoji),
    ] {
        if let Some(value) = value
            && !map.contains_key(key)
        {
            map.insert(key.into(), Value::String(value.clone()));
        }
    }
    Ok(map)
}

/// Any other EventBridge event: source, detail-type, region, account,
/// resources and a readable summary of `detail`.
pub fn render_eventbridge(v: &Value) -> Card {
    let detail_type = text_at(v, &["detail-type"]).unwrap_or_else(|| "EventBridge event".into());
    let source = text_at(v, &["source"]).unwrap_or_default();
    let mut blocks = vec![Block::header(format!("🔵 {detail_type}"))];
    blocks.extend(fields([
        common::code_field("Source", Some(&source)),
        common::code_field("Region", text_at(v, &["region"])),
        common::code_field("Account", text_at(v, &["account"])),
        common::time_field("Time", text_at(v, &["time"]).as_deref()),
    ]));
    blocks.extend(resources(v));
    if let Some(detail) = v.get("detail") {
        let md = summary(detail, SUMMARY_LINES);
        if !md.is_empty() {
            blocks.push(Block::text(md));
        }
    }
    Card {
        fallback: format!("{detail_type} from {source}"),
        tone: Some(Tone::Info),
        blocks,
    }
}

/// The event's `resources`, as a section (ARNs as code).
pub fn resources(v: &Value) -> Option<Block> {
    let items: Vec<String> = v
        .get("resources")?
        .as_array()?
        .iter()
        .filter_map(common::scalar)
        .collect();
    if items.is_empty() {
        return None;
    }
    let mut md = Md::new().bold("Resources").line();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            md = md.line();
        }
        md = md.code(item);
    }
    Some(Block::text(md))
}

/// Any other JSON: the subject, and the message pretty-printed in code
/// blocks, cut to `max_chars` with a visible marker. `note` says why a Slack
/// payload is shown this way.
pub fn render_json(n: &Notification, max_chars: usize, note: Option<&str>) -> Card {
    let pretty = serde_json::from_str::<Value>(&n.message)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| n.message.clone());
    let mut blocks = Vec::new();
    if let Some(subject) = subject(n) {
        blocks.push(Block::header(subject));
    }
    if let Some(why) = note {
        blocks.push(Block::context(vec![
            Md::new()
                .text("This Slack payload is shown as JSON: ")
                .text(why),
        ]));
    }
    for chunk in chunks(&clip(&pretty, max_chars)) {
        blocks.push(Block::text(Md::new().code_block(chunk)));
    }
    Card {
        fallback: subject(n).unwrap_or_else(|| first_line(&n.message)),
        tone: None,
        blocks,
    }
}

/// Anything else: the subject as a header, the message as text.
pub fn render_text(n: &Notification, max_chars: usize) -> Card {
    let mut blocks = Vec::new();
    if let Some(subject) = subject(n) {
        blocks.push(Block::header(subject));
    }
    let body = clip(n.message.trim(), max_chars);
    for chunk in chunks(&body) {
        blocks.push(Block::text(Md::new().text(chunk)));
    }
    if blocks.is_empty() {
        blocks.push(Block::text(Md::new().text("(empty message)")));
    }
    let fallback = match subject(n) {
        Some(s) => format!("{s}: {}", first_line(&n.message)),
        None => first_line(&n.message),
    };
    Card {
        fallback,
        tone: None,
        blocks,
    }
}

/// The subject, if it has any visible text.
pub fn subject(n: &Notification) -> Option<String> {
    n.subject
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The first non-empty line, at most 200 characters.
pub fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut out: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// `text` within `max` characters, with a marker saying how much is shown.
pub fn clip(text: &str, max: usize) -> String {
    let total = text.chars().count();
    if total <= max {
        return text.to_string();
    }
    let marker_room = 60;
    let shown = max.saturating_sub(marker_room);
    let mut out: String = text.chars().take(shown).collect();
    out.push_str(&format!(
        "\n… [truncated: {shown} of {total} characters shown]"
    ));
    out
}

/// Splits `text` into pieces of at most [`CHUNK_CHARS`] characters, at a line
/// break when there is one in the second half of the piece.
fn chunks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = match rest.char_indices().nth(CHUNK_CHARS) {
            None => rest.len(),
            Some((at, _)) => match rest[..at].rfind('\n') {
                Some(nl) if nl > at / 2 => nl + 1,
                _ => at,
            },
        };
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_text_and_prefer_line_breaks() {
        let text = format!("{}\n{}", "a".repeat(2_000), "b".repeat(3_000));
        let parts = chunks(&text);
        assert_eq!(parts.concat(), text);
        assert!(parts[0].ends_with('\n'));
        assert!(parts.iter().all(|p| p.chars().count() <= CHUNK_CHARS));
    }

    #[test]
    fn only_slack_keys_make_a_slack_payload() {
        let payload = serde_json::json!({"text": "hi", "blocks": []});
        assert_eq!(detect(&payload).unwrap().kind, Kind::SlackPayload);
        let other = serde_json::json!({"text": "hi", "id": 3});
        assert!(detect(&other).is_none());
    }

    #[test]
    fn a_slack_payload_over_the_limits_is_refused_with_the_reason() {
        let blocks: Vec<Value> = (0..51)
            .map(|_| serde_json::json!({"type": "divider"}))
            .collect();
        let payload = serde_json::json!({ "blocks": blocks });
        let why = passthrough(&payload, &Overrides::default()).unwrap_err();
        assert!(why.contains("51 blocks"), "{why}");
        let big = serde_json::json!({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(12_001)}}]});
        let why = passthrough(&big, &Overrides::default()).unwrap_err();
        assert!(why.contains("12001 characters"), "{why}");
    }
}
