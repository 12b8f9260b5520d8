//! A Slack app destination: an entry `{"token": "xoxb-...", "channel":
//! "C0123ABCD"}` of the webhook table (keys exact; `rate_per_second` allowed
//! as for URLs). Pure: the Web API client is [`crate::web_api`].

use serde::Deserialize;
use serde_json::Value;

use crate::web_api::BotToken;

/// A Slack app's bot token and the channel its posts go to. `Debug` shows
/// the token's id only.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// The bot token (secret).
    pub token: BotToken,
    /// The channel id posts go to.
    pub channel: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    token: String,
    channel: String,
    #[serde(default)]
    rate_per_second: Option<f64>,
}

impl App {
    /// Reads the table entry `value` of destination `name`: an object with
    /// `token` and `channel` (keys exact) and optionally `rate_per_second`
    /// (returned beside the app, checked by the table). The error names the
    /// entry and what is wrong, never the token.
    pub fn from_entry(name: &str, value: &Value) -> Result<(Self, Option<f64>), String> {
        let entry = Entry::deserialize(value).map_err(|e| {
            // serde's message may quote a value; keep only the shape.
            let what = if e.to_string().contains("unknown field") {
                "an unknown key"
            } else {
                "a missing key or a value of the wrong type"
            };
            format!(
                "webhook {name:?}: expected a Slack app {{\"token\": \"xoxb-...\", \"channel\": \"C0123ABCD\"}} (found {what})"
            )
        })?;
        let token = BotToken::parse(&entry.token).map_err(|e| format!("webhook {name:?}: {e}"))?;
        let channel = entry.channel.trim();
        let is_id = channel.len() >= 2
            && channel.len() <= 40
            && channel.starts_with(['C', 'G', 'D'])
            && channel
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !is_id {
            return Err(format!(
                "webhook {name:?}: \"channel\" must be a channel id like C0123ABCD (in Slack: the channel's details, About, at the bottom), got {} (a name can change; its id does not)",
                match channel.strip_prefix('#') {
                    // A channel's name is no secret: say which one.
                    Some(rest) if crate::redact::shown(rest).is_some() =>
                        format!("the name {channel:?}"),
                    _ => crate::redact::describe(channel),
                }
            ));
        }
        Ok((
            Self {
                token,
                channel: channel.to_string(),
            },
            entry.rate_per_second,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::Webhooks;

    #[test]
    fn an_app_entry_is_read_and_its_mistakes_named_without_the_token() {
        let ok = serde_json::json!({"token": "xoxb-1-2-SECRET", "channel": "C0123ABCD", "rate_per_second": 0.5});
        let (app, rate) = App::from_entry("ops", &ok).unwrap();
        assert_eq!(app.channel, "C0123ABCD");
        assert_eq!(rate, Some(0.5));
        assert!(!format!("{app:?}").contains("SECRET"));
        for (bad, says) in [
            (
                serde_json::json!({"token": "xoxb-1-2-SECRET"}),
                "missing key",
            ),
            (
                serde_json::json!({"token": "xoxb-1-2-SECRET", "channel": "C1", "url": "x"}),
                "unknown key",
            ),
            (
                serde_json::json!({"token": "SECRET", "channel": "C1"}),
                "xoxb-",
            ),
            (
                serde_json::json!({"token": "xoxb-1-2-SECRET", "channel": "#alerts"}),
                "got the name \"#alerts\"",
            ),
        ] {
            let err = App::from_entry("ops", &bad).unwrap_err();
            assert!(err.contains(says) && err.contains("\"ops\""), "{err}");
            assert!(!err.contains("SECRET"), "{err}");
        }
    }

    #[test]
    fn the_table_holds_apps_beside_webhooks() {
        let text = r#"{"ops": {"token": "xoxb-1-2-SECRET", "channel": "C0123ABCD", "rate_per_second": 0.5},
                       "security": "https://hooks.slack.com/services/T0/B1/SECSECRET"}"#;
        let table = Webhooks::parse(text, "WEBHOOKS", false).unwrap();
        let ops = table.get("ops").unwrap();
        assert_eq!(ops.app().unwrap().channel, "C0123ABCD");
        assert_eq!(ops.rate_per_second, Some(0.5));
        assert!(ops.webhook().is_none());
        assert!(table.get("security").unwrap().webhook().is_some());
        assert!(ops.secret_id().starts_with("tk-"));
        for bad in [
            r#"{"ops": {"token": "xoxb-1-2-SECRET", "channel": "C1", "rate_per_second": 0}}"#,
            r#"{"ops": {"token": "xoxb-1-2-SECRET"}}"#,
        ] {
            let err = Webhooks::parse(bad, "WEBHOOKS", false)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("WEBHOOKS is invalid: webhook \"ops\""),
                "{err}"
            );
            assert!(!err.contains("SECRET"), "{err}");
        }
    }
}
