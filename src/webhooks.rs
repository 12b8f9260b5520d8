//! Named webhooks: the table that routes name (`ops`, `security`), each name's
//! secret URL and optional rate, and where the table comes from (`WEBHOOKS`,
//! a Secrets Manager secret, or `WEBHOOK_URL` alone as `default`).
//!
//! Parsing is pure; fetching the secret is the one adapter here, behind
//! [`SecretStore`]. Every error names the setting and the webhook, never a URL.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::webhook::Webhook;

/// The name `WEBHOOK_URL` alone (or a bare URL in the secret) is known by.
pub const DEFAULT_NAME: &str = "default";

/// Longest a webhook name may be.
pub const MAX_NAME_CHARS: usize = 64;

/// How long fetching the secret at start-up may take before the process stops
/// with an error (a hung endpoint must not hang the cold start).
pub const SECRET_TIMEOUT: Duration = Duration::from_secs(10);

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

/// One named webhook: where its posts go and how fast.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    /// The name routes use, dead letters carry, logs and metrics show.
    pub name: String,
    /// The secret URL.
    pub webhook: Webhook,
    /// Its own sustained rate (posts per second over all instances), when set.
    pub rate_per_second: Option<f64>,
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
            webhook,
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

    /// Parses a table: a JSON object, webhook name -> URL or
    /// `{"url": URL, "rate_per_second": N}`. With `bare_url_allowed` (a
    /// secret's text), a bare URL counts as `{"default": URL}`. `setting` names
    /// where the text came from in errors.
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
        let object: serde_json::Map<String, Value> =
            serde_json::from_str(trimmed).map_err(|e| {
                invalid(format!(
                    "expected a JSON object of webhook name to URL ({})",
                    // serde's message may quote the text; keep only its position.
                    position_only(&e)
                ))
            })?;
        if object.is_empty() {
            return Err(invalid("it names no webhook".into()));
        }
        let mut destinations = Vec::with_capacity(object.len());
        for (name, value) in object {
            check_name(&name).map_err(&invalid)?;
            let (url, rate_per_second) = match value {
                Value::String(url) => (url, None),
                Value::Object(_) => {
                    let d: Detailed = serde_json::from_value(value).map_err(|e| {
                        invalid(format!(
                            "webhook {name:?}: expected {{\"url\": ..., \"rate_per_second\": ...}} ({})",
                            position_only(&e)
                        ))
                    })?;
                    (d.url, d.rate_per_second)
                }
                _ => {
                    return Err(invalid(format!(
                        "webhook {name:?}: expected a URL or an object with \"url\""
                    )));
                }
            };
            if let Some(rate) = rate_per_second {
                check_rate_per_second(rate).map_err(|problem| {
                    invalid(format!("webhook {name:?}: rate_per_second: {problem}"))
                })?;
            }
            let webhook =
                Webhook::parse(&url).map_err(|e| invalid(format!("webhook {name:?}: {e}")))?;
            destinations.push(Destination {
                name,
                webhook,
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
            .or_else(|| self.iter().find(|d| d.webhook.id() == name_or_id))
    }
}

/// A name routes can use: 1 to 64 of `A-Z a-z 0-9 _ - .`.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "webhook name {name:?} must be 1 to {MAX_NAME_CHARS} of A-Z a-z 0-9 _ - ."
        ))
    }
}

/// A serde error without the text it quotes (which may hold a URL).
fn position_only(e: &serde_json::Error) -> String {
    format!("line {} column {}", e.line(), e.column())
}

/// Where the webhook table comes from, as configured.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// No webhook configured (the command line previews).
    None,
    /// Known at start-up: `WEBHOOKS`, or `WEBHOOK_URL` as `default`.
    Table(Webhooks),
    /// `WEBHOOKS_SECRET_ID`: fetched once per cold start.
    Secret(String),
}

/// Reads a secret's text. Secrets Manager implements it; so can a test.
pub trait SecretStore: Send + Sync {
    /// The `SecretString` of secret `id` (a name or an ARN).
    fn secret_string(&self, id: &str) -> impl Future<Output = Result<String, String>> + Send;
}

impl Source {
    /// The table: as configured, or fetched from `store` (within
    /// [`SECRET_TIMEOUT`]) and parsed.
    pub async fn resolve(self, store: &impl SecretStore) -> Result<Webhooks, WebhooksError> {
        match self {
            Source::None => Ok(Webhooks::default()),
            Source::Table(table) => Ok(table),
            Source::Secret(id) => {
                let text = tokio::time::timeout(SECRET_TIMEOUT, store.secret_string(&id))
                    .await
                    .map_err(|_| {
                        WebhooksError::Secret(format!(
                            "no answer within {} s",
                            SECRET_TIMEOUT.as_secs()
                        ))
                    })?
                    .map_err(WebhooksError::Secret)?;
                Webhooks::parse(&text, "WEBHOOKS_SECRET_ID", true)
            }
        }
    }
}

/// AWS Secrets Manager, from the standard AWS configuration
/// (`AWS_ENDPOINT_URL_SECRETS_MANAGER` for local tests).
pub struct SecretsManager;

impl SecretStore for SecretsManager {
    async fn secret_string(&self, id: &str) -> Result<String, String> {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let client = aws_sdk_secretsmanager::Client::new(&config);
        let out = client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string())?;
        out.secret_string()
            .map(str::to_string)
            .ok_or_else(|| "the secret has no SecretString (a binary secret?)".to_string())
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
            w.get("security").unwrap().webhook.expose_url().as_str(),
            SEC
        );
    }

    #[test]
    fn a_secrets_bare_url_is_the_default_webhook() {
        let w = Webhooks::parse(&format!("  {OPS}\n"), "WEBHOOKS_SECRET_ID", true).unwrap();
        assert_eq!(
            w.get(DEFAULT_NAME).unwrap().webhook.expose_url().as_str(),
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
            (format!(r#"{{"bad name":"{OPS}"}}"#), "\"bad name\""),
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
        ] {
            let err = Webhooks::parse(&text, "WEBHOOKS", false)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("WEBHOOKS is invalid"), "{text}: {err}");
            assert!(err.contains(needle), "{text}: {err}");
            assert!(!err.contains("SECRET"), "{text}: {err}");
        }
    }

    #[test]
    fn an_envelope_of_an_earlier_version_resolves_by_its_id() {
        let w = Webhooks::parse(&format!(r#"{{"ops":"{OPS}"}}"#), "WEBHOOKS", false).unwrap();
        let id = w.get("ops").unwrap().webhook.id().to_string();
        assert_eq!(w.resolve(&id).unwrap().name, "ops");
        assert_eq!(w.resolve("ops").unwrap().name, "ops");
        assert!(w.resolve("payments").is_none());
    }

    struct Fixed(Result<String, String>);

    impl SecretStore for Fixed {
        async fn secret_string(&self, _: &str) -> Result<String, String> {
            self.0.clone()
        }
    }

    struct Hung;

    impl SecretStore for Hung {
        async fn secret_string(&self, _: &str) -> Result<String, String> {
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_secret_is_fetched_parsed_and_bounded_in_time() {
        let secret = Source::Secret("sns-to-slack/webhooks".into());
        let table = format!(r#"{{"ops":"{OPS}"}}"#);
        let w = secret.clone().resolve(&Fixed(Ok(table))).await.unwrap();
        assert!(w.get("ops").is_some());
        let err = secret
            .clone()
            .resolve(&Fixed(Err("AccessDenied".into())))
            .await;
        assert_eq!(
            err.unwrap_err().to_string(),
            "WEBHOOKS_SECRET_ID: the secret could not be read: AccessDenied"
        );
        let err = secret.resolve(&Hung).await.unwrap_err();
        assert!(err.to_string().contains("no answer within 10 s"), "{err}");
    }
}
