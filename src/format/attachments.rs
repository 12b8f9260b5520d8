//! Record -> Slack payload: the Go sample's layout, escaping and truncation. Pure.
//!
//! This is the `MESSAGE_FORMAT=attachments` output, kept byte for byte for
//! those who depend on it; Block Kit messages are [`crate::format`]'s.
//!
//! Layout (kept from the original sample): one attachment per record, the topic
//! name as pretext, the subject as text, fields `message` and `timestamp`,
//! colour `good`. Text is escaped as Slack requires (`&`, `<`, `>`), so a
//! published `<!channel>` is shown, not executed; the message is cut with a
//! visible marker so that a 256 KB SNS message still posts.

use serde::Serialize;

use crate::format::Overrides;
use crate::record::Notification;

/// Slack truncates a message's text beyond this many characters.
pub const SLACK_TEXT_LIMIT: usize = 40_000;
/// Default cap on the escaped `message` field (Slack advises at most 4,000
/// characters per text; longer attachments are folded behind "Show more").
pub const DEFAULT_MAX_MESSAGE_CHARS: usize = 4_000;
/// The smallest cap accepted, so the truncation marker always fits.
pub const MIN_MAX_MESSAGE_CHARS: usize = 200;
/// Cap on the escaped subject and pretext (SNS subjects are at most 100
/// characters; this only guards hand-made events).
const MAX_SHORT_CHARS: usize = 1_000;

/// The JSON body posted to an Incoming Webhook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlackMessage {
    /// Top-level text, also used by notifications.
    pub text: &'static str,
    /// Channel override (legacy webhooks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Username override (legacy webhooks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Icon override (legacy webhooks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon_emoji: Option<String>,
    /// One attachment per record.
    pub attachments: Vec<Attachment>,
}

/// A legacy Slack attachment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attachment {
    /// Plain-text summary for clients that cannot show attachments.
    pub fallback: &'static str,
    /// Shown above the attachment: the topic name.
    pub pretext: String,
    /// The attachment's text: the subject.
    pub text: String,
    /// Bar colour.
    pub color: &'static str,
    /// `message` and `timestamp`.
    pub fields: Vec<Field>,
}

/// One titled field of an attachment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    /// The field's title.
    pub title: &'static str,
    /// The field's value.
    pub value: String,
}

/// Builds the Slack message for one notification.
///
/// Never panics, whatever the input; `max_message_chars` bounds the escaped
/// `message` value, marker included.
pub fn build(n: &Notification, overrides: &Overrides, max_message_chars: usize) -> SlackMessage {
    let subject = n.subject.as_deref().unwrap_or("");
    SlackMessage {
        text: "SNS Notification",
        channel: overrides.channel.clone(),
        username: overrides.username.clone(),
        icon_emoji: overrides.icon_emoji.clone(),
        attachments: vec![Attachment {
            fallback: "SNS Notification",
            pretext: escape_within(topic_name(&n.topic_arn), MAX_SHORT_CHARS),
            text: escape_within(subject, MAX_SHORT_CHARS),
            color: "good",
            fields: vec![
                Field {
                    title: "message",
                    value: escape_within(&n.message, max_message_chars),
                },
                Field {
                    title: "timestamp",
                    value: escape_within(
                        &format_timestamp(n.timestamp.as_deref()),
                        MAX_SHORT_CHARS,
                    ),
                },
            ],
        }],
    }
}

/// The topic name from a topic ARN (`arn:aws:sns:region:account:name`).
///
/// Anything that is not a six-part ARN with a name is returned whole (the Go
/// sample panicked here).
pub fn topic_name(arn: &str) -> &str {
    match arn.splitn(6, ':').nth(5) {
        Some(name) if !name.is_empty() => name,
        _ => arn,
    }
}

/// SNS timestamps in RFC 3339 at whole seconds, UTC (`2026-11-24T09:15:02Z`),
/// as the Go sample printed them; an unparseable one is shown as received.
pub fn format_timestamp(raw: Option<&str>) -> String {
    match raw {
        None => String::new(),
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| {
                t.with_timezone(&chrono::Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })
            .unwrap_or_else(|_| text.to_string()),
    }
}

/// Escapes `&`, `<` and `>` for Slack and keeps the result within `max_chars`
/// characters; when cut, it ends with a marker saying how much was shown.
pub fn escape_within(text: &str, max_chars: usize) -> String {
    // The characters to escape are ASCII, so bytes are searched (memchr's SIMD
    // search), not chars; they are rare, so each hit is cheap to classify.
    let (mut amps, mut angles) = (0, 0);
    for at in memchr::memchr3_iter(b'&', b'<', b'>', text.as_bytes()) {
        if text.as_bytes()[at] == b'&' {
            amps += 1;
        } else {
            angles += 1;
        }
    }
    // Fast path, taken by almost every record: nothing to escape and short
    // enough by bytes (a char is at least one byte), so one copy does it.
    if amps + angles == 0 && text.len() <= max_chars {
        return text.to_owned();
    }
    let total_chars = text.chars().count();
    let escaped_len = total_chars + 4 * amps + 3 * angles;
    if escaped_len <= max_chars {
        return escape(text);
    }
    // Reserve room for the marker, computed with the largest numbers it can hold.
    let marker_room = marker(total_chars, total_chars).chars().count();
    let budget = max_chars.saturating_sub(marker_room);
    // Find where the escaped text would pass the budget, then escape up to there.
    let (mut used, mut shown, mut cut) = (0, 0, 0);
    for (at, c) in text.char_indices() {
        let w = escaped_width(c);
        if used + w > budget {
            break;
        }
        used += w;
        shown += 1;
        cut = at + c.len_utf8();
    }
    let mut out = escape(&text[..cut]);
    out.push_str(&marker(shown, total_chars));
    out
}

fn marker(shown: usize, total: usize) -> String {
    format!("\n… [truncated: {shown} of {total} characters shown]")
}

fn escaped_width(c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        _ => 1,
    }
}

/// Escapes `&`, `<` and `>` as Slack's message formatting requires.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Copies the runs between special characters whole. Each special character
    // is one ASCII byte, so every cut falls on a char boundary.
    let mut start = 0;
    for at in memchr::memchr3_iter(b'&', b'<', b'>', text.as_bytes()) {
        out.push_str(&text[start..at]);
        out.push_str(match text.as_bytes()[at] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            _ => "&gt;",
        });
        start = at + 1;
    }
    out.push_str(&text[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn notification(message: &str) -> Notification {
        Notification {
            message_id: "id-1".into(),
            topic_arn: "arn:aws:sns:us-east-1:123456789012:notify-sample".into(),
            subject: Some("deploy finished".into()),
            message: message.into(),
            timestamp: Some("2026-11-24T09:15:02.311Z".into()),
            message_attributes: Default::default(),
        }
    }

    #[test]
    fn keeps_the_go_sample_layout() {
        let msg = build(&notification("test message"), &Overrides::default(), 4000);
        assert_eq!(
            serde_json::to_value(&msg).unwrap(),
            json!({"text":"SNS Notification","attachments":[{"fallback":"SNS Notification",
              "pretext":"notify-sample","text":"deploy finished","color":"good",
              "fields":[{"title":"message","value":"test message"},
                        {"title":"timestamp","value":"2026-11-24T09:15:02Z"}]}]})
        );
    }

    #[test]
    fn adds_overrides_when_set() {
        let overrides = Overrides {
            channel: Some("#ops".into()),
            username: Some("sns".into()),
            icon_emoji: Some(":bell:".into()),
            ..Overrides::default()
        };
        let v = serde_json::to_value(build(&notification("m"), &overrides, 4000)).unwrap();
        assert_eq!(v["channel"], "#ops");
        assert_eq!(v["username"], "sns");
        assert_eq!(v["icon_emoji"], ":bell:");
    }

    #[test]
    fn topic_name_never_panics_on_malformed_arns() {
        assert_eq!(topic_name("arn:aws:sns:us-east-1:123:alerts"), "alerts");
        assert_eq!(topic_name("arn:aws:sns:us-east-1:123:a:b"), "a:b");
        assert_eq!(
            topic_name("arn:aws:sns:us-east-1:123:"),
            "arn:aws:sns:us-east-1:123:"
        );
        assert_eq!(topic_name("arn:aws:sns"), "arn:aws:sns");
        assert_eq!(topic_name(""), "");
        assert_eq!(topic_name(":::::::"), "::");
    }

    #[test]
    fn escapes_control_characters_of_slack() {
        assert_eq!(
            escape("<!channel> a & b > c"),
            "&lt;!channel&gt; a &amp; b &gt; c"
        );
        let msg = build(&notification("<@U123> & co"), &Overrides::default(), 4000);
        assert_eq!(msg.attachments[0].fields[0].value, "&lt;@U123&gt; &amp; co");
    }

    #[test]
    fn truncates_long_text_with_a_visible_marker_within_the_limit() {
        let long = "é<".repeat(150_000);
        let out = escape_within(&long, 4000);
        assert!(out.chars().count() <= 4000, "{}", out.chars().count());
        assert!(
            out.ends_with("of 300000 characters shown]"),
            "{}",
            &out[out.len() - 60..]
        );
        assert!(!out.contains("&lt\n"), "an escape was split");
        let shown: usize = out.split('\n').next().unwrap().matches("&lt;").count();
        assert!(shown > 500);
    }

    #[test]
    fn short_text_is_untouched() {
        assert_eq!(escape_within("日本語 🚨", 10), "日本語 🚨");
    }

    #[test]
    fn timestamps_are_rfc3339_seconds_or_shown_as_received() {
        assert_eq!(
            format_timestamp(Some("2026-11-24T09:15:02.311Z")),
            "2026-11-24T09:15:02Z"
        );
        assert_eq!(
            format_timestamp(Some("2026-11-24T10:15:02+01:00")),
            "2026-11-24T09:15:02Z"
        );
        assert_eq!(format_timestamp(Some("yesterday")), "yesterday");
        assert_eq!(format_timestamp(None), "");
    }

    #[test]
    fn a_missing_subject_gives_empty_text() {
        let mut n = notification("m");
        n.subject = None;
        assert_eq!(
            build(&n, &Overrides::default(), 4000).attachments[0].text,
            ""
        );
    }

    /// The char-by-char definition the faster paths must agree with.
    fn reference_escape(text: &str) -> String {
        let mut out = String::new();
        for c in text.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn fast_paths_agree_with_the_char_by_char_definition() {
        let texts = [
            "",
            "plain",
            "a & b < c > d",
            "&&&<<<>>>",
            "ünïcödé 日本語 <tag> & 🚀",
            "ends with &",
            "<starts",
        ];
        for text in texts {
            assert_eq!(escape(text), reference_escape(text), "{text:?}");
            let width: usize = text.chars().map(escaped_width).sum();
            // At, around and far from the point where the text stops fitting.
            for max in [width.saturating_sub(1), width, width + 1, 1000] {
                let max = max.max(MIN_MAX_MESSAGE_CHARS);
                let got = escape_within(text, max);
                assert_eq!(got, reference_within(text, max), "{text:?} within {max}");
                assert!(got.chars().count() <= max);
            }
        }
        // Multi-byte text longer in bytes than the cap but not in characters.
        let text = "é".repeat(150);
        assert_eq!(escape_within(&text, MIN_MAX_MESSAGE_CHARS), text);
        // Escaping alone pushes it over: 50 '&' are 250 characters escaped.
        let text = "&".repeat(50);
        let got = escape_within(&text, MIN_MAX_MESSAGE_CHARS);
        assert!(got.contains("[truncated:"), "{got}");
        assert_eq!(got, reference_within(&text, MIN_MAX_MESSAGE_CHARS));
        // Cut inside multi-byte and escaped text alike.
        let text = "日本<語>&é ".repeat(100);
        for max in [MIN_MAX_MESSAGE_CHARS, 333, 1000] {
            assert_eq!(escape_within(&text, max), reference_within(&text, max));
        }
    }

    /// The char-by-char definition of cutting with the marker.
    fn reference_within(text: &str, max_chars: usize) -> String {
        let escaped = reference_escape(text);
        if escaped.chars().count() <= max_chars {
            return escaped;
        }
        let total = text.chars().count();
        let budget = max_chars - marker(total, total).chars().count();
        let (mut out, mut shown) = (String::new(), 0);
        for c in text.chars() {
            let piece = reference_escape(&c.to_string());
            if out.chars().count() + piece.chars().count() > budget {
                break;
            }
            out.push_str(&piece);
            shown += 1;
        }
        out + &marker(shown, total)
    }
}
