//! Typed configuration, read once from the environment at start-up.
//!
//! This is the only module that reads the process environment. Every value is
//! validated here; a bad value fails at init with an error that names the
//! variable (and never echoes the webhook URL, which is a secret).

use std::time::Duration;

use crate::webhook::{Webhook, WebhookError};

/// Default time kept free before the invocation deadline, in milliseconds.
///
/// Dead-lettering after the last post may need to build the SQS client, resolve
/// credentials and open a TLS connection to SQS; on a 128 MB function that is
/// throttled to a fraction of a vCPU this measures in the hundreds of
/// milliseconds, and one batch may need a retry. Two seconds covers that with room
/// for the reply to the Runtime API.
pub const DEFAULT_DEADLINE_MARGIN_MS: u64 = 2_000;

/// Every variable the function reads, in the README's order. The template
/// must set each one (a test checks it); `DEAD_LETTER_FILE` is for the CLI only.
pub const VARIABLES: &[&str] = &[
    "WEBHOOK_URL",
    "CHANNEL",
    "USERNAME",
    "ICONEMOJI",
    "DEAD_LETTER_QUEUE_URL",
    "RATE_PER_SECOND",
    "RATE_BURST",
    "MAX_ATTEMPTS",
    "ATTEMPT_TIMEOUT_MS",
    "RETRY_BASE_MS",
    "RETRY_MAX_MS",
    "MAX_CONCURRENCY",
    "MAX_MESSAGE_CHARS",
    "MESSAGE_FORMAT",
    "DEADLINE_MARGIN_MS",
    "DEFAULT_BUDGET_MS",
    "METRICS_NAMESPACE",
    "METRICS_SERVICE",
];

/// Errors found while reading the configuration. None is retryable: the
/// process must be redeployed with a corrected value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A variable that this mode needs is not set (or is empty).
    #[error("{0} is required but not set")]
    Missing(&'static str),
    /// A variable holds a value that cannot be used.
    #[error("{name} is invalid: {problem}")]
    Invalid {
        /// The variable's name.
        name: &'static str,
        /// What is wrong with its value (never the value of a secret).
        problem: String,
    },
}

/// Settings for delivering records to Slack.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    /// Sustained posts per second per webhook (`RATE_PER_SECOND`).
    pub rate_per_second: f64,
    /// Posts allowed back to back before the rate applies (`RATE_BURST`).
    pub rate_burst: u32,
    /// Attempts per record, the first included (`MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// Upper bound of one HTTP attempt (`ATTEMPT_TIMEOUT_MS`).
    pub attempt_timeout: Duration,
    /// Smallest backoff before a retry (`RETRY_BASE_MS`).
    pub retry_base: Duration,
    /// Largest backoff before a retry (`RETRY_MAX_MS`).
    pub retry_max: Duration,
    /// Records of one event in flight at once (`MAX_CONCURRENCY`).
    pub max_concurrency: usize,
    /// Longest `Message` text put in a Slack message before it is cut with a
    /// visible marker (`MAX_MESSAGE_CHARS`).
    pub max_message_chars: usize,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            rate_per_second: 1.0,
            rate_burst: 1,
            max_attempts: 5,
            attempt_timeout: Duration::from_millis(5_000),
            retry_base: Duration::from_millis(250),
            retry_max: Duration::from_millis(8_000),
            max_concurrency: 8,
            max_message_chars: crate::message::DEFAULT_MAX_MESSAGE_CHARS,
        }
    }
}

/// How every message is presented: the layout (`MESSAGE_FORMAT`) and the
/// optional overrides sent with it (legacy webhooks honour the overrides;
/// webhooks of Slack apps ignore them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `MESSAGE_FORMAT`: Block Kit (default) or the Go sample's attachments.
    pub message_format: crate::format::MessageFormat,
    /// `CHANNEL`: e.g. `#alerts`.
    pub channel: Option<String>,
    /// `USERNAME`: the poster's display name.
    pub username: Option<String>,
    /// `ICONEMOJI`: e.g. `:rotating_light:`.
    pub icon_emoji: Option<String>,
}

/// The whole configuration of one process.
#[derive(Debug, Clone)]
pub struct Config {
    /// `WEBHOOK_URL`: where records are posted; `None` means preview only (CLI).
    pub webhook: Option<Webhook>,
    /// Channel, username and icon overrides.
    pub overrides: Overrides,
    /// `DEAD_LETTER_QUEUE_URL`: the SQS queue for records that were not posted.
    pub dead_letter_queue_url: Option<String>,
    /// `DEAD_LETTER_FILE`: JSON-lines file used by the CLI when no queue is set.
    pub dead_letter_file: String,
    /// Rate, retry, timeout and concurrency settings.
    pub delivery: DeliverySettings,
    /// `DEADLINE_MARGIN_MS`: time kept free before the invocation deadline.
    pub deadline_margin: Duration,
    /// `DEFAULT_BUDGET_MS`: time allowed for an invocation whose deadline is
    /// unknown (absent, or already past when it starts).
    pub default_budget: Duration,
    /// `METRICS_NAMESPACE`: CloudWatch namespace of the EMF metrics.
    pub metrics_namespace: String,
    /// `METRICS_SERVICE`: value of the `Service` dimension (the function's name
    /// by default).
    pub metrics_service: String,
}

/// Where the process runs; decides which variables are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Inside Lambda (`AWS_LAMBDA_RUNTIME_API` is set).
    Lambda,
    /// The command-line tool.
    Cli,
}

/// True when the process was started by a Lambda Runtime API.
pub fn running_in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env(mode: Mode) -> Result<Self, ConfigError> {
        Self::from_lookup(mode, |name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (a variable name to its value),
    /// so tests need not touch the process environment. Empty values count as
    /// unset.
    pub fn from_lookup(
        mode: Mode,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let webhook = match get("WEBHOOK_URL") {
            Some(url) => Some(Webhook::parse(&url).map_err(|e| match e {
                WebhookError::Invalid(problem) => ConfigError::Invalid {
                    name: "WEBHOOK_URL",
                    problem,
                },
            })?),
            None if mode == Mode::Lambda => return Err(ConfigError::Missing("WEBHOOK_URL")),
            None => None,
        };
        let dead_letter_queue_url = get("DEAD_LETTER_QUEUE_URL");
        if mode == Mode::Lambda && dead_letter_queue_url.is_none() {
            return Err(ConfigError::Missing("DEAD_LETTER_QUEUE_URL"));
        }
        if let Some(url) = &dead_letter_queue_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(invalid(
                "DEAD_LETTER_QUEUE_URL",
                "expected a queue URL starting with https://",
            ));
        }
        let defaults = DeliverySettings::default();
        let rate_per_second = parse_f64(&get, "RATE_PER_SECOND", defaults.rate_per_second)?;
        if !(rate_per_second.is_finite() && rate_per_second > 0.0 && rate_per_second <= 1_000_000.0)
        {
            return Err(invalid(
                "RATE_PER_SECOND",
                "expected a number in (0, 1000000]",
            ));
        }
        let retry_base = millis(&get, "RETRY_BASE_MS", defaults.retry_base, 1)?;
        let retry_max = millis(&get, "RETRY_MAX_MS", defaults.retry_max, 1)?;
        if retry_max < retry_base {
            return Err(invalid("RETRY_MAX_MS", "must not be below RETRY_BASE_MS"));
        }
        let delivery = DeliverySettings {
            rate_per_second,
            rate_burst: parse_int(&get, "RATE_BURST", defaults.rate_burst, 1, 1_000_000)?,
            max_attempts: parse_int(&get, "MAX_ATTEMPTS", defaults.max_attempts, 1, 100)?,
            attempt_timeout: millis(&get, "ATTEMPT_TIMEOUT_MS", defaults.attempt_timeout, 1)?,
            retry_base,
            retry_max,
            max_concurrency: parse_int(&get, "MAX_CONCURRENCY", defaults.max_concurrency, 1, 256)?,
            max_message_chars: parse_int(
                &get,
                "MAX_MESSAGE_CHARS",
                defaults.max_message_chars,
                crate::message::MIN_MAX_MESSAGE_CHARS,
                crate::message::SLACK_TEXT_LIMIT,
            )?,
        };
        let message_format = match get("MESSAGE_FORMAT") {
            None => crate::format::MessageFormat::default(),
            Some(v) => v.parse().map_err(|problem| ConfigError::Invalid {
                name: "MESSAGE_FORMAT",
                problem,
            })?,
        };
        Ok(Self {
            webhook,
            overrides: Overrides {
                message_format,
                channel: get("CHANNEL"),
                username: get("USERNAME"),
                icon_emoji: get("ICONEMOJI"),
            },
            dead_letter_queue_url,
            dead_letter_file: get("DEAD_LETTER_FILE")
                .unwrap_or_else(|| "dead-letters.jsonl".into()),
            delivery,
            deadline_margin: millis(
                &get,
                "DEADLINE_MARGIN_MS",
                Duration::from_millis(DEFAULT_DEADLINE_MARGIN_MS),
                0,
            )?,
            default_budget: millis(&get, "DEFAULT_BUDGET_MS", Duration::from_secs(30), 1)?,
            metrics_namespace: get("METRICS_NAMESPACE").unwrap_or_else(|| "SnsToSlack".into()),
            metrics_service: get("METRICS_SERVICE")
                .or_else(|| get("AWS_LAMBDA_FUNCTION_NAME"))
                .unwrap_or_else(|| "sns-to-slack".into()),
        })
    }
}

fn invalid(name: &'static str, problem: &str) -> ConfigError {
    ConfigError::Invalid {
        name,
        problem: problem.to_string(),
    }
}

fn parse_f64(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: f64,
) -> Result<f64, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<f64>()
            .map_err(|_| invalid(name, &format!("expected a number, got {v:?}"))),
    }
}

fn parse_int<T>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(v) = get(name) else {
        return Ok(default);
    };
    let n: T = v
        .trim()
        .parse()
        .map_err(|_| invalid(name, &format!("expected a whole number, got {v:?}")))?;
    if n < min || n > max {
        return Err(invalid(
            name,
            &format!("expected a value from {min} to {max}, got {n}"),
        ));
    }
    Ok(n)
}

fn millis(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: Duration,
    min: u64,
) -> Result<Duration, ConfigError> {
    let default_ms = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
    parse_int(get, name, default_ms, min, 24 * 3600 * 1000).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const HOOK: &str = "https://hooks.slack.com/services/T000/B000/SECRETSECRET";
    const QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq";

    #[test]
    fn lambda_mode_requires_webhook_and_queue() {
        let err = Config::from_lookup(Mode::Lambda, lookup(&[])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("WEBHOOK_URL"));
        let err = Config::from_lookup(Mode::Lambda, lookup(&[("WEBHOOK_URL", HOOK)])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("DEAD_LETTER_QUEUE_URL"));
    }

    #[test]
    fn cli_mode_needs_nothing_and_uses_defaults() {
        let c = Config::from_lookup(Mode::Cli, lookup(&[])).unwrap();
        assert!(c.webhook.is_none());
        assert_eq!(c.delivery, DeliverySettings::default());
        assert_eq!(c.dead_letter_file, "dead-letters.jsonl");
        assert_eq!(c.deadline_margin, Duration::from_millis(2000));
    }

    #[test]
    fn reads_every_setting() {
        let c = Config::from_lookup(
            Mode::Lambda,
            lookup(&[
                ("WEBHOOK_URL", HOOK),
                ("DEAD_LETTER_QUEUE_URL", QUEUE),
                ("CHANNEL", "#ops"),
                ("USERNAME", "bot"),
                ("ICONEMOJI", ":bell:"),
                ("RATE_PER_SECOND", "2.5"),
                ("RATE_BURST", "3"),
                ("MAX_ATTEMPTS", "2"),
                ("ATTEMPT_TIMEOUT_MS", "900"),
                ("DEADLINE_MARGIN_MS", "0"),
                ("MAX_CONCURRENCY", "4"),
                ("MESSAGE_FORMAT", "Attachments"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.overrides.message_format,
            crate::format::MessageFormat::Attachments
        );
        assert_eq!(c.overrides.channel.as_deref(), Some("#ops"));
        assert_eq!(c.overrides.icon_emoji.as_deref(), Some(":bell:"));
        assert_eq!(c.delivery.rate_per_second, 2.5);
        assert_eq!(c.delivery.rate_burst, 3);
        assert_eq!(c.delivery.max_attempts, 2);
        assert_eq!(c.delivery.attempt_timeout, Duration::from_millis(900));
        assert_eq!(c.delivery.max_concurrency, 4);
        assert_eq!(c.deadline_margin, Duration::ZERO);
        assert_eq!(c.dead_letter_queue_url.as_deref(), Some(QUEUE));
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (name, value) in [
            ("RATE_PER_SECOND", "fast"),
            ("RATE_PER_SECOND", "0"),
            ("RATE_BURST", "0"),
            ("MAX_ATTEMPTS", "-1"),
            ("ATTEMPT_TIMEOUT_MS", "1.5"),
            ("DEADLINE_MARGIN_MS", "soon"),
            ("MAX_CONCURRENCY", "100000"),
            ("MESSAGE_FORMAT", "markdown"),
        ] {
            let err = Config::from_lookup(Mode::Cli, lookup(&[(name, value)])).unwrap_err();
            assert!(err.to_string().starts_with(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn variables_lists_exactly_what_is_read() {
        let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
        Config::from_lookup(Mode::Cli, |name| {
            asked.borrow_mut().insert(name.to_string());
            None
        })
        .unwrap();
        let mut asked = asked.into_inner();
        asked.remove("DEAD_LETTER_FILE");
        asked.remove("AWS_LAMBDA_FUNCTION_NAME");
        let listed: std::collections::BTreeSet<String> =
            VARIABLES.iter().map(|v| v.to_string()).collect();
        assert_eq!(asked, listed);
    }

    #[test]
    fn a_bad_webhook_url_is_named_but_not_echoed() {
        let err = Config::from_lookup(
            Mode::Cli,
            lookup(&[("WEBHOOK_URL", "hooks.slack.com/services/SECRETSECRET")]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("WEBHOOK_URL is invalid"), "{text}");
        assert!(!text.contains("SECRETSECRET"), "{text}");
    }
}
