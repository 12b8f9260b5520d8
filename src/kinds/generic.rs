//! The kinds that fit anything: `eventbridge` (any other EventBridge event),
//! `slack_payload` (the publisher's own Slack payload), `json` (shown
//! pretty-printed) and `text` (subject and message).

use std::io;

use serde_json::Value;

use super::common::{self, fields, text_at};
use super::{Detection, Kind};
use crate::notice::{Draft, Part, Rich, Tone};
use crate::record::Notification;

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
            status: v
                .get("detail")
                .and_then(status_of)
                .map(|(_, status)| status),
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

/// Where the status of any other EventBridge event is read, in order: the
/// first of these keys of its `detail` that holds a word.
pub const STATUS_KEYS: [&str; 6] = [
    "state",
    "status",
    "currentState",
    "lastStatus",
    "result",
    "severity",
];

/// The status of an event's `detail` ([`STATUS_KEYS`]) and the key it was
/// read from.
fn status_of(detail: &Value) -> Option<(&'static str, String)> {
    STATUS_KEYS.iter().find_map(|key| {
        let status = detail.get(key).and_then(common::scalar)?;
        Some((*key, status))
    })
}

/// The name of what an event is about: the first name its `detail` gives,
/// else the last part of its first resource.
fn subject_of(v: &Value) -> Option<String> {
    let d = v.get("detail")?;
    [
        &["name"][..],
        &["jobName"],
        &["crawlerName"],
        &["stateMachineName"],
        &["pipelineName"],
        &["serviceName"],
        &["functionName"],
        &["clusterName"],
        &["instance-id"],
        &["instanceId"],
        &["bucket", "name"],
    ]
    .iter()
    .find_map(|path| text_at(d, path))
    .or_else(|| {
        let first = common::items(v, "resources")
            .iter()
            .find_map(common::scalar)?;
        let tail = first.rsplit([':', '/']).next().unwrap_or(&first);
        (!tail.trim().is_empty()).then(|| tail.to_string())
    })
}

/// Any other EventBridge event: what it is about and its status in the
/// title (the status read as [`STATUS_KEYS`] says, coloured like every
/// kind's), source, region, account, resources, and a readable summary of
/// `detail`, the status and names and ids first so that no cut loses them.
///
/// No thread; what it says is the event (its id).
pub fn read_eventbridge(detection: &Detection, v: &Value) -> Draft {
    let detail_type = text_at(v, &["detail-type"]).unwrap_or_else(|| "EventBridge event".into());
    let source = text_at(v, &["source"]).unwrap_or_default();
    let status = detection.status.clone().unwrap_or_default();
    let tone = if status.is_empty() {
        Tone::Info
    } else {
        common::tone_of(&status)
    };
    let title = format!(
        "{}{}",
        common::named(&detail_type, &subject_of(v).unwrap_or_default()),
        common::paren(&status)
    );
    let mut blocks = Vec::new();
    blocks.extend(fields([
        common::code_field("Source", Some(&source)),
        common::code_field("Region", text_at(v, &["region"])),
        common::code_field("Account", text_at(v, &["account"])),
        common::time_field("Time", text_at(v, &["time"]).as_deref()),
    ]));
    blocks.extend(resources(v));
    if let Some(detail) = v.get("detail") {
        let status_key = status_of(detail).map(|(key, _)| key);
        let md = common::ranked_summary(detail, SUMMARY_LINES, status_key);
        if !md.is_empty() {
            blocks.push(Part::Text(md));
        }
    }
    let time = text_at(v, &["time"]);
    let id = text_at(v, &["id"]);
    let headline = format!("{title} from {source}");
    let draft = Draft::new(Some(title), headline, Some(tone), blocks);
    match id {
        Some(id) => draft.says([Some(source), Some(detail_type), Some(id)]),
        None => draft,
    }
    .at(time.as_deref())
}

/// The event's `resources`, as a section (ARNs as code).
pub fn resources(v: &Value) -> Option<Part> {
    let items: Vec<String> = v
        .get("resources")?
        .as_array()?
        .iter()
        .filter_map(common::scalar)
        .collect();
    if items.is_empty() {
        return None;
    }
    let mut md = Rich::new().bold("Resources").line();
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            md = md.line();
        }
        md = md.code(item);
    }
    Some(Part::Text(md))
}

/// Any other JSON (and a Slack payload, for targets that do not post it as
/// given): the subject, and the message pretty-printed, cut to `max_chars`
/// with a visible marker. `parsed` is the message already parsed; `None`
/// for a message too large to be parsed for a kind, shown as sent.
pub fn read_json(n: &Notification, parsed: Option<&Value>, max_chars: usize) -> Draft {
    let shown = match parsed {
        Some(v) => pretty_within(v, max_chars),
        None => clip(&n.message, max_chars),
    };
    Draft::new(
        subject(n),
        subject(n).unwrap_or_else(|| first_line(&n.message)),
        None,
        vec![Part::Code(shown)],
    )
}

/// Anything else: the subject as the title, the message as text.
pub fn read_text(n: &Notification, max_chars: usize) -> Draft {
    let subject = subject(n);
    let body = clip(n.message.trim(), max_chars);
    let parts = if !body.is_empty() {
        vec![Part::Prose(body)]
    } else if subject.is_none() {
        vec![Part::Text(Rich::new().text("(empty message)"))]
    } else {
        Vec::new()
    };
    let headline = match &subject {
        Some(s) => format!("{s}: {}", first_line(&n.message)),
        None => first_line(&n.message),
    };
    Draft::new(subject, headline, None, parts)
}

/// `v` pretty-printed (two-space indent), as [`clip`] would cut it to
/// `max_chars`, without ever holding more than that: the writer keeps the
/// first `max_chars` characters and only counts the rest (for the marker).
pub fn pretty_within(v: &Value, max_chars: usize) -> String {
    let mut out = Clipped {
        kept: Vec::with_capacity(max_chars.min(64 * 1024)),
        keep: max_chars,
        chars: 0,
    };
    serde_json::to_writer_pretty(&mut out, v).expect("writing JSON to memory cannot fail");
    let total = out.chars;
    // Only whole characters were kept: the cut falls on a boundary.
    let kept = String::from_utf8(out.kept)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    if total <= max_chars {
        return kept;
    }
    with_marker(&kept, total, max_chars)
}

/// A writer that keeps the first `keep` characters of UTF-8 text written to
/// it and counts all of them.
struct Clipped {
    kept: Vec<u8>,
    keep: usize,
    chars: usize,
}

impl io::Write for Clipped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &b in buf {
            // A byte that starts a character (not a continuation byte).
            if b & 0xC0 != 0x80 {
                self.chars += 1;
            }
            if self.chars <= self.keep {
                self.kept.push(b);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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
    match line.char_indices().nth(200) {
        None => line.to_string(),
        Some((cut, _)) => {
            let mut out = String::with_capacity(cut + '…'.len_utf8());
            out.push_str(&line[..cut]);
            out.push('…');
            out
        }
    }
}

/// `text` within `max` characters, with a marker saying how much is shown.
pub fn clip(text: &str, max: usize) -> String {
    let total = text.chars().count();
    if total <= max {
        return text.to_string();
    }
    with_marker(text, total, max)
}

/// The start of `text` (of `total` characters, more than `max`) and the
/// marker, within `max` characters.
fn with_marker(text: &str, total: usize, max: usize) -> String {
    let marker_room = 60;
    let shown = max.saturating_sub(marker_room);
    let mut out: String = text.chars().take(shown).collect();
    out.push_str(&format!(
        "\n… [truncated: {shown} of {total} characters shown]"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_json_is_cut_as_the_whole_print_would_be() {
        let v = serde_json::json!({"a": [0, 1, 2], "é": "ü".repeat(300), "z": null});
        let whole = serde_json::to_string_pretty(&v).unwrap();
        for max in [200, 250, 333, 1000, 4000] {
            assert_eq!(pretty_within(&v, max), clip(&whole, max), "{max}");
        }
    }

    #[test]
    fn the_first_line_keeps_200_characters_and_marks_a_cut() {
        assert_eq!(first_line("\n  \n  disk full  \nmore"), "disk full");
        assert_eq!(first_line(""), "");
        let exact = "é".repeat(200);
        assert_eq!(first_line(&exact), exact);
        let long = format!("{exact}ü");
        assert_eq!(first_line(&long), format!("{exact}…"));
    }

    #[test]
    fn only_slack_keys_make_a_slack_payload() {
        let payload = serde_json::json!({"text": "hi", "blocks": []});
        assert_eq!(detect(&payload).unwrap().kind, Kind::SlackPayload);
        let other = serde_json::json!({"text": "hi", "id": 3});
        assert!(detect(&other).is_none());
    }
}
