//! Notice -> the body posted to Slack, one renderer per target layout: Block
//! Kit ([`blocks`], the default) and the Go sample's attachments
//! ([`attachments`], `MESSAGE_FORMAT=attachments`). Pure.
//!
//! [`render`] is the one entry point; each renderer escapes the notice's
//! plain text for its target ([`escape`], shared by both Slack layouts). A
//! new target is one more file here, with no change to the kinds.

pub mod attachments;
pub mod blocks;
pub mod digest;
pub mod escape;
pub mod original;

use std::str::FromStr;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::notice::Notice;

/// Slack truncates a message's text beyond this many characters: the
/// largest `MAX_MESSAGE_CHARS` accepted.
pub const SLACK_TEXT_LIMIT: usize = 40_000;
/// Default `MAX_MESSAGE_CHARS`: the longest message text (or JSON) shown
/// before it is cut (Slack advises at most 4,000 characters per text; longer
/// attachments are folded behind "Show more").
pub const DEFAULT_MAX_MESSAGE_CHARS: usize = 4_000;
/// The smallest `MAX_MESSAGE_CHARS` accepted, so the cut marker always fits.
pub const MIN_MAX_MESSAGE_CHARS: usize = 200;

/// How every message is presented: the layout (`MESSAGE_FORMAT`) and the
/// optional overrides sent with it (legacy webhooks honour the overrides;
/// webhooks of Slack apps ignore them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `MESSAGE_FORMAT`: Block Kit (default) or the Go sample's attachments.
    pub message_format: MessageFormat,
    /// `CHANNEL`: e.g. `#alerts`.
    pub channel: Option<String>,
    /// `USERNAME`: the poster's display name.
    pub username: Option<String>,
    /// `ICONEMOJI`: e.g. `:rotating_light:`.
    pub icon_emoji: Option<String>,
}

/// How messages are laid out (`MESSAGE_FORMAT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MessageFormat {
    /// Block Kit, per kind, with a coloured bar by status (the default).
    #[default]
    Blocks,
    /// The original Go sample's attachment, for every record.
    Attachments,
}

impl MessageFormat {
    /// The name used in `MESSAGE_FORMAT`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageFormat::Blocks => "blocks",
            MessageFormat::Attachments => "attachments",
        }
    }
}

impl FromStr for MessageFormat {
    type Err = String;

    /// `blocks` or `attachments`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "blocks" => Ok(MessageFormat::Blocks),
            "attachments" => Ok(MessageFormat::Attachments),
            _ => Err(format!(
                "expected blocks or attachments, got {}",
                crate::redact::describe(s)
            )),
        }
    }
}

/// The JSON body posted to Slack.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Payload {
    /// A Block Kit message.
    Blocks(blocks::BlockKit),
    /// The Go sample's attachment (`MESSAGE_FORMAT=attachments`).
    Attachments(attachments::LegacyMessage),
    /// The publisher's own Slack payload, within Slack's limits, posted as given.
    Passthrough(Map<String, Value>),
}

impl Payload {
    /// The payload as JSON bytes, written into a buffer of `capacity` bytes
    /// to start with (a good guess saves growing it).
    pub fn to_json(&self, capacity: usize) -> Vec<u8> {
        let mut body = Vec::with_capacity(capacity);
        serde_json::to_writer(&mut body, self).expect("a Slack message always serializes");
        body
    }
}

/// Renders `notice` as the body to post, in the layout `overrides` names:
/// Block Kit by default, or the Go sample's attachment. `mention` (Slack
/// mention tokens such as `<!here> <@U0123ABCD>`, already validated) leads
/// the message when the notice's tone is danger, and is left out otherwise.
/// Never fails and never panics; always within Slack's limits.
pub fn render(notice: &Notice<'_>, overrides: &Overrides, mention: Option<&str>) -> Payload {
    match overrides.message_format {
        MessageFormat::Blocks => blocks::render(notice, overrides, mention),
        MessageFormat::Attachments => {
            Payload::Attachments(attachments::render(notice, overrides, mention))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_format_names_parse_in_any_case() {
        assert_eq!("Blocks".parse(), Ok(MessageFormat::Blocks));
        assert_eq!(" attachments".parse(), Ok(MessageFormat::Attachments));
        assert!(
            "markdown"
                .parse::<MessageFormat>()
                .unwrap_err()
                .contains("markdown")
        );
    }
}
