//! Where posts go: the named destinations of a deployment.
//!
//! The table routes name (`ops`, `security`): each name's secret URL and
//! optional rate, parsed from `WEBHOOKS`, a Secrets Manager secret, or
//! `WEBHOOK_URL` alone as `default` (pure), with the rate bounds every
//! setting shares. Every error names the setting and the webhook, never a URL.
//!
//! - [`webhook`]: the Incoming Webhook: its secret URL and the HTTP client.
//! - [`app`]: a Slack app's bot token and channel (the Web API).
//! - [`secrets`]: where the table comes from, and the Secrets Manager adapter.

pub mod app;
pub mod secrets;
pub mod webhook;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::redact::{MAX_NAME_CHARS, describe, is_name, serde_problem};
use app::App;
use webhook::Webhook;

/// The name `WEBHOOK_URL` alone (or a bare URL in the secret) is known by.
pub const DEFAULT_NAME: &str = "default";

/// Smallest `RATE_PER_SECOND` (and `redrive --rate-per-second`): one post per
/// 1000 s, already longer than any Lambda invocation may run.
pub const MIN_RATE_PER_SECOND: f64 = 0.001;
/// Largest `RATE_PER_SECOND`: far above Slack's limit, for local benchmarks.
pub const MAX_RATE_PER_SECOND: f64 = 1_000_000.0;
/// Checks a rate in posts per second: a finite number from
/// [`MIN_RATE_PER_SECOND`] to [`MAX_RATE_PER_SECOND`]. The error says what
/// is expected (the caller names the setting).
pub fn check_rate_per_second(rate: f64) -> Result<f64, String> {
    if rate.is_finite() && (MIN_RATE_PER_SECOND..=MAX_RATE_PER_SECOND).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!(
            "expected a number from {MIN_RATE_PER_SECOND} to {MAX_RATE_PER_SECOND}, got {rate}"
        ))
    }
}

/// A webhook table or secret that cannot be used. Not retryable: the
/// configuration must change (except [`WebhooksError::Secret`], which a new
/// cold start may get past).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum WebhooksError {
    /// The table is malformed; `problem` names the webhook, never its URL.
    #[error("{setting} is invalid: {problem}")]
    Invalid {
        /// `WEBHOOKS`, `WEBHOOKS_SECRET_ID` (its secret) or a `--webhooks-file`.
        setting: String,
        /// What is wrong.
        problem: String,
    },
    /// The secret could not be read.
    #[error("WEBHOOKS_SECRET_ID: the secret could not be read: {0}")]
    Secret(String),
}

/// One named destination: where its posts go and how fast.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    /// The name routes use, dead letters carry, logs and metrics show.
    pub name: String,
    /// An Incoming Webhook or a Slack app.
    pub target: Target,
    /// Its own sustained rate (posts per second over all instances), when set.
    pub rate_per_second: Option<f64>,
}

/// What a destination posts through. Both hold a secret; `Debug` shows
/// neither.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// An Incoming Webhook (its secret URL): every notice its own message.
    Webhook(Webhook),
    /// A Slack app (bot token and channel): posts, thread replies and edits
    /// through the Web API.
    App(App),
}

impl Destination {
    /// The webhook, when this is one.
    pub fn webhook(&self) -> Option<&Webhook> {
        match &self.target {
            Target::Webhook(w) => Some(w),
            Target::App(_) => None,
        }
    }

    /// The Slack app, when this is one.
    pub fn app(&self) -> Option<&App> {
        match &self.target {
            Target::App(a) => Some(a),
            Target::Webhook(_) => None,
        }
    }

    /// The non-secret id of its secret (`wh-…` for a webhook, `tk-…` for a
    /// token).
    pub fn secret_id(&self) -> &str {
        match &self.target {
            Target::Webhook(w) => w.id(),
            Target::App(a) => a.token.id(),
        }
    }
}

/// Every named webhook of a deployment, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Webhooks {
    by_name: BTreeMap<String, Arc<Destination>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Detailed {
    url: String,
    #[serde(default)]
    rate_per_second: Option<f64>,
}

impl Webhooks {
    /// One webhook named [`DEFAULT_NAME`] (`WEBHOOK_URL` alone).
    pub fn single(webhook: Webhook) -> Self {
        Self::from_destinations([Destination {
            name: DEFAULT_NAME.into(),
            target: Target::Webhook(webhook),
            rate_per_second: None,
        }])
    }

    fn from_destinations(destinations: impl IntoIterator<Item = Destination>) -> Self {
        Self {
            by_name: destinations
                .into_iter()
                .map(|d| (d.name.clone(), Arc::new(d)))
                .collect(),
        }
    }

    /// Parses a table: a JSON object, webhook name -> URL,
    /// `{"url": URL, "rate_per_second": N}`, or a Slack app
    /// `{"token": "xoxb-...", "channel": "C0123ABCD", "rate_per_second": N}`. With `bare_url_allowed` (a
    /// secret's text), a bare URL counts as `{"default": URL}`. `setting` names
    /// where the text came from in errors, which name an entry by its name (or
    /// by its position when the name is not one) and never show a URL.
    /// A name given twice is an error (JSON would keep only the last).
    pub fn parse(text: &str, setting: &str, bare_url_allowed: bool) -> Result<Self, WebhooksError> {
        let invalid = |problem: String| WebhooksError::Invalid {
            setting: setting.to_string(),
            problem,
        };
        let trimmed = text.trim();
        if bare_url_allowed && !trimmed.starts_with('{') {
            let webhook = Webhook::parse(trimmed)
                .map_err(|e| invalid(format!("a bare URL that cannot be used: {e}")))?;
            return Ok(Self::single(webhook));
        }
        let Entries(entries) = serde_json::from_str(trimmed).map_err(|e| {
            invalid(format!(
                "expected a JSON object of webhook name to URL ({})",
                serde_problem(&e)
            ))
        })?;
        if entries.is_empty() {
            return Err(invalid("it names no webhook".into()));
        }
        let mut destinations: Vec<Destination> = Vec::with_capacity(entries.len());
        for (i, (name, value)) in entries.into_iter().enumerate() {
            if !is_name(&name) {
                return Err(invalid(format!(
                    "the name of entry {i} (0-based) is {}, not a webhook name (1 to \
                     {MAX_NAME_CHARS} of A-Z a-z 0-9 _ - .){}",
                    describe(&name),
                    if name.contains("://") {
                        "; are a name and its URL swapped?"
                    } else {
                        ""
                    }
                )));
            }
            if destinations.iter().any(|d| d.name == name) {
                return Err(invalid(format!(
                    "webhook {name:?} is defined twice (JSON would keep only the last)"
                )));
            }
            let (target, rate_per_second) = match value {
                Value::String(url) => (Target::Webhook(webhook_url(&name, &url, &invalid)?), None),
                Value::Object(ref entry) if entry.contains_key("token") => {
                    let (app, rate) = App::from_entry(&name, &value).map_err(invalid)?;
                    (Target::App(app), rate)
                }
                Value::Object(_) => {
                    let d: Detailed = serde_json::from_value(value).map_err(|e| {
                        invalid(format!(
                            "webhook {name:?}: expected {{\"url\": ..., \"rate_per_second\": ...}} \
                             or {{\"token\": \"xoxb-...\", \"channel\": \"C0123ABCD\"}} ({})",
                            serde_problem(&e)
                        ))
                    })?;
                    (
                        Target::Webhook(webhook_url(&name, &d.url, &invalid)?),
                        d.rate_per_second,
                    )
                }
                _ => {
                    return Err(invalid(format!(
                        "webhook {name:?}: expected a URL, an object with \"url\", or a Slack app \
                         {{\"token\": ..., \"channel\": ...}}"
                    )));
                }
            };
            if let Some(rate) = rate_per_second {
                check_rate_per_second(rate).map_err(|problem| {
                    invalid(format!("webhook {name:?}: rate_per_second: {problem}"))
                })?;
            }
            destinations.push(Destination {
                name,
                target,
                rate_per_second,
            });
        }
        Ok(Self::from_destinations(destinations))
    }

    /// The webhook called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Destination>> {
        self.by_name.get(name)
    }

    /// Every webhook, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Destination>> {
        self.by_name.values()
    }

    /// How many webhooks there are.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The webhook a dead letter names: by name, or by the `wh-…` id that
    /// envelopes of earlier versions carried.
    pub fn resolve(&self, name_or_id: &str) -> Option<&Arc<Destination>> {
        self.get(name_or_id)
            .or_else(|| self.iter().find(|d| d.secret_id() == name_or_id))
    }
}

/// The webhook URL of entry `name`, or the error naming the entry (never
/// the URL).
fn webhook_url(
    name: &str,
    url: &str,
    invalid: &impl Fn(String) -> WebhooksError,
) -> Result<Webhook, WebhooksError> {
    Webhook::parse(url).map_err(|e| invalid(format!("webhook {name:?}: {e}")))
}

/// The entries of a JSON object in the order written, a key given twice kept
/// twice. Hand-written because `serde_json::Map` (like every map type) keeps
/// only the last value of a repeated key, so `{"ops": A, "ops": B}` would
/// silently become `{"ops": B}`.
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Entries, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(256));
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: &str = "https://hooks.slack.com/services/T0/B0/OPSSECRET";
    const SEC: &str = "https://hooks.slack.com/services/T0/B1/SECSECRET";

    #[test]
    fn reads_urls_and_detailed_entries() {
        let text =
            format!(r#"{{"ops":"{OPS}","security":{{"url":"{SEC}","rate_per_second":0.5}}}}"#);
        let w = Webhooks::parse(&text, "WEBHOOKS", false).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w.get("ops").unwrap().rate_per_second, None);
        assert_eq!(w.get("security").unwrap().rate_per_second, Some(0.5));
        assert_eq!(
            w.get("security")
                .unwrap()
                .webhook()
                .unwrap()
                .expose_url()
                .as_str(),
            SEC
        );
    }

    #[test]
    fn a_secrets_bare_url_is_the_default_webhook() {
        let w = Webhooks::parse(&format!("  {OPS}\n"), "WEBHOOKS_SECRET_ID", true).unwrap();
        assert_eq!(
            w.get(DEFAULT_NAME)
                .unwrap()
                .webhook()
                .unwrap()
                .expose_url()
                .as_str(),
            OPS
        );
        let err = Webhooks::parse(OPS, "WEBHOOKS", false).unwrap_err();
        assert!(err.to_string().starts_with("WEBHOOKS is invalid"), "{err}");
    }

    #[test]
    fn errors_name_the_setting_and_webhook_but_never_a_url() {
        for (text, needle) in [
            ("{}".to_string(), "names no webhook"),
            (format!(r#"{{"ops":"{OPS}","#), "JSON object"),
            (
                format!(r#"{{"bad name":"{OPS}"}}"#),
                "the name of entry 0 (0-based) is a text of 8 characters",
            ),
            (
                r#"{"ops":"hooks.slack.com/services/T0/B0/OPSSECRET"}"#.into(),
                "\"ops\"",
            ),
            (r#"{"ops":42}"#.into(), "\"ops\""),
            (
                format!(r#"{{"ops":{{"url":"{OPS}","rate_per_second":0}}}}"#),
                "rate_per_second",
            ),
            (
                format!(r#"{{"ops":{{"url":"{OPS}","colour":"red"}}}}"#),
                "\"ops\"",
            ),
            (format!(r#"[{{"ops":"{OPS}"}}]"#), "JSON object"),
            // A name and its URL swapped, in either place.
            (
                format!(r#"{{"ops":"{SEC}","{OPS}":"payments"}}"#),
                "the name of entry 1 (0-based) is a URL",
            ),
            (
                format!(r#"{{"ops":{{"url":"{OPS}","{SEC}":1}}}}"#),
                "unknown field a URL",
            ),
            (
                format!(r#"{{"ops":{{"url":"{OPS}","rate_per_second":"{SEC}"}}}}"#),
                "invalid type: string (a URL), expected f64",
            ),
            (
                format!(r#"{{"ops":{{"url":["{OPS}"]}}}}"#),
                "invalid type: sequence, expected a string",
            ),
            (format!(r#"{{"ops":"{OPS}" "#), "at line 1 column"),
        ] {
            let err = Webhooks::parse(&text, "WEBHOOKS", false)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("WEBHOOKS is invalid"), "{text}: {err}");
            assert!(err.contains(needle), "{text}: {err}");
            assert!(!err.contains("SECRET"), "{text}: {err}");
            assert!(!err.contains("line 0 column 0"), "{text}: {err}");
        }
    }

    #[test]
    fn a_name_given_twice_is_an_error_naming_it() {
        for setting in ["WEBHOOKS", "WEBHOOKS_SECRET_ID"] {
            let text = format!(r#"{{"ops":"{OPS}","security":"{SEC}","ops":"{SEC}"}}"#);
            let err = Webhooks::parse(&text, setting, true)
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                format!(
                    "{setting} is invalid: webhook \"ops\" is defined twice (JSON would keep only the last)"
                )
            );
        }
    }

    #[test]
    fn an_envelope_of_an_earlier_version_resolves_by_its_id() {
        let w = Webhooks::parse(&format!(r#"{{"ops":"{OPS}"}}"#), "WEBHOOKS", false).unwrap();
        let id = w.get("ops").unwrap().secret_id().to_string();
        assert_eq!(w.resolve(&id).unwrap().name, "ops");
        assert_eq!(w.resolve("ops").unwrap().name, "ops");
        assert!(w.resolve("payments").is_none());
    }
}
