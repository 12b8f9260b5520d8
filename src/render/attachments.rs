//! Notice -> the Go sample's layout (`MESSAGE_FORMAT=attachments`), kept
//! byte for byte for those who depend on it. Pure.
//!
//! Layout (kept from the original sample): one attachment per record, the topic
//! name as pretext, the subject as text, fields `message` and `timestamp`,
//! colour `good`. It shows the notification as published ([`Origin`]), not
//! the notice's reading of it. Text is escaped as Slack requires
//! ([`super::escape`]), so a published `<!channel>` is shown, not executed;
//! the message is cut with a visible marker so that a 256 KB SNS message
//! still posts.

use serde::Serialize;

use super::Overrides;
use super::escape::escape_within;
use crate::notice::{Notice, Origin, Tone};

/// Cap on the escaped subject and pretext (SNS subjects are at most 100
/// characters; this only guards hand-made events).
const MAX_SHORT_CHARS: usize = 1_000;

/// The JSON body posted to an Incoming Webhook in the Go sample's layout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyMessage {
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
    pub attachments: Vec<LegacyAttachment>,
}

/// A legacy Slack attachment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyAttachment {
    /// Plain-text summary for clients that cannot show attachments.
    pub fallback: &'static str,
    /// Shown above the attachment: the topic name.
    pub pretext: String,
    /// The attachment's text: the subject.
    pub text: String,
    /// Bar colour.
    pub color: &'static str,
    /// `message` and `timestamp`.
    pub fields: Vec<LegacyField>,
}

/// One titled field of an attachment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyField {
    /// The field's title.
    pub title: &'static str,
    /// The field's value.
    pub value: String,
}

/// The Go sample's message for `notice`: its notification as published,
/// the escaped `message` value within the notice's
/// [`Origin::max_message_chars`], marker included.
/// A `mention` (Slack mention tokens, already checked) is put in front of
/// the attachment's text when the notice's tone is danger, never otherwise.
/// Never panics, whatever the input.
pub fn render(notice: &Notice<'_>, overrides: &Overrides, mention: Option<&str>) -> LegacyMessage {
    let origin: &Origin<'_> = &notice.origin;
    let mut text = escape_within(origin.subject.unwrap_or(""), MAX_SHORT_CHARS);
    if let Some(mention) = mention.filter(|_| notice.tone == Some(Tone::Danger)) {
        text = if text.is_empty() {
            mention.to_string()
        } else {
            format!("{mention} {text}")
        };
    }
    LegacyMessage {
        text: "SNS Notification",
        channel: overrides.channel.clone(),
        username: overrides.username.clone(),
        icon_emoji: overrides.icon_emoji.clone(),
        attachments: vec![LegacyAttachment {
            fallback: "SNS Notification",
            pretext: escape_within(origin.topic, MAX_SHORT_CHARS),
            text,
            color: "good",
            fields: vec![
                LegacyField {
                    title: "message",
                    value: escape_within(origin.message, origin.max_message_chars),
                },
                LegacyField {
                    title: "timestamp",
                    value: escape_within(&format_timestamp(origin.timestamp), MAX_SHORT_CHARS),
                },
            ],
        }],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Notification;
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

    fn build(n: &Notification, overrides: &Overrides, max: usize) -> LegacyMessage {
        render(&crate::kinds::read(n, max), overrides, None)
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
    fn content_is_escaped() {
        let msg = build(&notification("<@U123> & co"), &Overrides::default(), 4000);
        assert_eq!(msg.attachments[0].fields[0].value, "&lt;@U123&gt; &amp; co");
    }

    #[test]
    fn a_mention_leads_the_text_of_a_danger_notice_only() {
        let alarm = r#"{"AlarmName":"api","NewStateValue":"ALARM","Trigger":{}}"#;
        let ok = r#"{"AlarmName":"api","NewStateValue":"OK","Trigger":{}}"#;
        let mention = Some("<!here> <@U0123ABCD>");
        let n = notification(alarm);
        let msg = render(
            &crate::kinds::read(&n, 4000),
            &Overrides::default(),
            mention,
        );
        assert_eq!(
            msg.attachments[0].text,
            "<!here> <@U0123ABCD> deploy finished"
        );
        let mut n = notification(alarm);
        n.subject = None;
        let msg = render(
            &crate::kinds::read(&n, 4000),
            &Overrides::default(),
            mention,
        );
        assert_eq!(msg.attachments[0].text, "<!here> <@U0123ABCD>");
        for message in [ok, "text"] {
            let n = notification(message);
            let msg = render(
                &crate::kinds::read(&n, 4000),
                &Overrides::default(),
                mention,
            );
            assert_eq!(msg.attachments[0].text, "deploy finished", "{message}");
        }
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
}
