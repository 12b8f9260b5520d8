//! Typed configuration, read once from the environment at start-up.
//!
//! This is the only module that reads the process environment, each variable
//! once. Every value is validated here; a bad value fails at init with an
//! error that names the variable (and never echoes the webhook URL, which is a
//! secret). Typed per mode: [`Config`] holds what both modes share,
//! [`LambdaConfig`] adds what the function requires (none of it optional),
//! [`CliConfig`] what the command line may use. [`Config::delivery`] is the one
//! place the per-process share of the rates is applied.

use std::sync::Arc;
use std::time::Duration;

use crate::delivery::{Delivery, DeliverySettings, Post};
use crate::destination::secrets::TableSource;
use crate::destination::webhook::{Webhook, WebhookError};
use crate::destination::{self, Webhooks, check_rate_per_second};
use crate::group::DigestAfter;
use crate::redact;
use crate::render::Overrides;
use crate::state::dynamodb::DynamoDbState;

/// Default time kept free before the invocation deadline, in milliseconds.
///
/// Dead-lettering after the last post may need to build the SQS client, resolve
/// credentials and open a TLS connection to SQS; on a 128 MB function that is
/// throttled to a fraction of a vCPU this measures in the hundreds of
/// milliseconds, and one batch may need a retry. Two seconds covers that with room
/// for the reply to the Runtime API.
pub const DEFAULT_DEADLINE_MARGIN_MS: u64 = 2_000;

/// Default `MAX_RECEIVES`, the template's default `maxReceiveCount`.
pub const DEFAULT_MAX_RECEIVES: u32 = 5;

/// Largest `RETRY_AFTER_MAX_MS`: Lambda's longest timeout (15 minutes). A
/// pause longer than an invocation can run only dead-letters later records.
pub const MAX_RETRY_AFTER_MS: u64 = 900_000;

/// Largest value of the other millisecond settings (one day).
pub const MAX_MS: u64 = 24 * 3600 * 1000;

/// Largest `RATE_BURST`.
pub const MAX_RATE_BURST: u32 = 1_000_000;
/// Largest `MAX_ATTEMPTS`.
pub const MAX_MAX_ATTEMPTS: u32 = 100;
/// Default `THREAD_TTL_HOURS`: a week.
pub const DEFAULT_THREAD_TTL_HOURS: u64 = 168;
/// Largest `THREAD_TTL_HOURS`: a year.
pub const MAX_THREAD_TTL_HOURS: u64 = 8_760;

/// Every variable the function reads, in the README's order. The template
/// must set each one (a test checks it); `DEAD_LETTER_FILE` is for the CLI only.
pub const VARIABLES: &[&str] = &[
    "WEBHOOK_URL",
    "WEBHOOKS",
    "WEBHOOKS_SECRET_ID",
    "ROUTES",
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
    "RETRY_AFTER_MAX_MS",
    "MAX_CONCURRENCY",
    "MAX_MESSAGE_CHARS",
    "MESSAGE_FORMAT",
    "DIGEST_AFTER",
    "STATE_TABLE",
    "THREAD_TTL_HOURS",
    "SLACK_API_URL",
    "DEADLINE_MARGIN_MS",
    "DEFAULT_BUDGET_MS",
    "MAX_RECEIVES",
    "FUNCTION_CONCURRENCY",
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

/// The HTTP clients could not be built. Not retryable.
#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    /// The webhook client (TLS set-up).
    #[error(transparent)]
    Webhook(#[from] crate::destination::webhook::ClientError),
    /// The Web API client (`SLACK_API_URL`).
    #[error(transparent)]
    WebApi(#[from] crate::web_api::ClientError),
}

/// The process's poster as configured: webhooks and Slack apps over one HTTP
/// client, the state table when `STATE_TABLE` is set.
pub type ConfiguredPoster = crate::post::Poster<
    crate::destination::webhook::WebhookClient,
    crate::state::Table,
    crate::web_api::WebApiClient,
>;

/// What both modes share: webhooks, routes, overrides and delivery.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the named webhooks come from: `WEBHOOKS`, `WEBHOOKS_SECRET_ID`,
    /// or `WEBHOOK_URL` alone as `default`; [`TableSource::None`] (only
    /// on the command line) means preview only.
    pub webhooks: TableSource,
    /// `ROUTES`: the routing rules as written (checked against the webhook
    /// names once they are known, still at start-up).
    pub routes: Option<String>,
    /// Channel, username and icon overrides.
    pub overrides: Overrides,
    /// `DIGEST_AFTER`: when a group of one destination's records in one
    /// invocation becomes digests (`off`: never).
    pub digest_after: DigestAfter,
    /// Rate, retry, timeout and concurrency settings, as configured: the
    /// rates are those of all instances together ([`Config::delivery`] takes
    /// this process's share).
    pub delivery: DeliverySettings,
    /// `FUNCTION_CONCURRENCY`: how many instances of the function may run at
    /// once, sharing the rates.
    pub function_concurrency: u32,
    /// `STATE_TABLE`: the DynamoDB state table, if any. With it, every
    /// process reserves its posts in one schedule per webhook kept there
    /// ([`Config::shared_schedule`]).
    pub state_table: Option<String>,
    /// `THREAD_TTL_HOURS` (default 168): a thread at a Slack app destination
    /// older than this starts anew.
    pub thread_ttl: Duration,
    /// `SLACK_API_URL` (default `https://slack.com/api/`): the Web API's base
    /// URL, for Slack app destinations.
    pub slack_api_url: String,
}

/// The function's configuration: what it requires is not optional.
#[derive(Debug, Clone)]
pub struct LambdaConfig {
    /// What both modes share (its webhooks are never [`TableSource::None`]).
    pub config: Config,
    /// `DEAD_LETTER_QUEUE_URL`: the SQS queue for records that were not posted.
    pub dead_letter_queue_url: String,
    /// `DEADLINE_MARGIN_MS`: time kept free before the invocation deadline.
    pub deadline_margin: Duration,
    /// `DEFAULT_BUDGET_MS`: time allowed for an invocation whose deadline is
    /// unknown (absent, or already past when it starts).
    pub default_budget: Duration,
    /// `MAX_RECEIVES`: the receive count at which a record from the SQS buffer
    /// that could still post later is dead-lettered instead of handed back to
    /// SQS (the buffer's `maxReceiveCount`).
    pub max_receives: u32,
    /// `METRICS_NAMESPACE`: CloudWatch namespace of the EMF metrics.
    pub metrics_namespace: String,
    /// `METRICS_SERVICE`: value of the `Service` dimension (the function's name
    /// by default).
    pub metrics_service: String,
}

/// The command line's configuration: nothing is required.
#[derive(Debug, Clone)]
pub struct CliConfig {
    /// What both modes share.
    pub config: Config,
    /// `DEAD_LETTER_QUEUE_URL`: where `send` dead-letters, when set.
    pub dead_letter_queue_url: Option<String>,
    /// `DEAD_LETTER_FILE`: JSON-lines file `send` uses when no queue is set.
    pub dead_letter_file: String,
}

/// The variables that name the webhooks; Lambda requires one of them.
pub const WEBHOOK_VARIABLES: &str = "one of WEBHOOK_URL, WEBHOOKS or WEBHOOKS_SECRET_ID";

/// Empty values count as unset.
fn getter(lookup: impl Fn(&str) -> Option<String>) -> impl Fn(&str) -> Option<String> {
    move |name| lookup(name).filter(|v| !v.trim().is_empty())
}

impl LambdaConfig {
    /// Reads the function's configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads it through `lookup` (a variable name to its value), so tests need
    /// not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = getter(lookup);
        let config = Config::read(&get)?;
        if config.webhooks == TableSource::None {
            return Err(ConfigError::Missing(WEBHOOK_VARIABLES));
        }
        let dead_letter_queue_url =
            queue_url(&get)?.ok_or(ConfigError::Missing("DEAD_LETTER_QUEUE_URL"))?;
        Ok(Self {
            config,
            dead_letter_queue_url,
            deadline_margin: millis(
                &get,
                "DEADLINE_MARGIN_MS",
                Duration::from_millis(DEFAULT_DEADLINE_MARGIN_MS),
                0,
                MAX_MS,
            )?,
            default_budget: millis(
                &get,
                "DEFAULT_BUDGET_MS",
                Duration::from_secs(30),
                1,
                MAX_MS,
            )?,
            max_receives: parse_int(&get, "MAX_RECEIVES", DEFAULT_MAX_RECEIVES, 1, 1_000)?,
            metrics_namespace: get("METRICS_NAMESPACE").unwrap_or_else(|| "SnsToSlack".into()),
            metrics_service: get("METRICS_SERVICE")
                .or_else(|| get("AWS_LAMBDA_FUNCTION_NAME"))
                .unwrap_or_else(|| "sns-to-slack".into()),
        })
    }
}

impl CliConfig {
    /// Reads the command line's configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads it through `lookup` (a variable name to its value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = getter(lookup);
        Ok(Self {
            config: Config::read(&get)?,
            dead_letter_queue_url: queue_url(&get)?,
            dead_letter_file: get("DEAD_LETTER_FILE")
                .unwrap_or_else(|| "dead-letters.jsonl".into()),
        })
    }
}

/// `DEAD_LETTER_QUEUE_URL`, checked.
fn queue_url(get: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
    let url = get("DEAD_LETTER_QUEUE_URL");
    if let Some(url) = &url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(invalid(
            "DEAD_LETTER_QUEUE_URL",
            "expected a queue URL starting with https://",
        ));
    }
    Ok(url)
}

/// True when the process was started by a Lambda Runtime API.
pub fn running_in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

impl Config {
    /// This process's delivery over `poster`: the one place the rates are
    /// shared. With `FUNCTION_CONCURRENCY` = N, each instance paces at most
    /// `RATE_PER_SECOND / N` per webhook (the burst split likewise, at least
    /// one post), and each of `webhooks` with a rate of its own at its share,
    /// so the sum Slack sees from all instances stays within the rates.
    ///
    /// With the state table (`table`, [`Config::dynamodb`]), every post
    /// reserves its slot in the schedule all instances share, at the whole
    /// rates; the shares above then pace only an invocation whose state
    /// table failed.
    pub fn delivery<P: Post>(
        &self,
        poster: P,
        webhooks: &Webhooks,
        table: Option<&Arc<DynamoDbState>>,
    ) -> Delivery<P> {
        let settings = self.delivery.clone().shared_by(self.processes());
        let delivery = self
            .own_shares(webhooks)
            .fold(Delivery::new(poster, settings), |d, (name, rate)| {
                d.with_rate(name, rate)
            });
        match self.schedule(table, webhooks) {
            Some(shared) => delivery.with_shared(shared),
            None => delivery,
        }
    }

    /// This process's delivery to Slack app destinations over `call`, paced
    /// as webhooks are ([`Config::delivery`]): with the state table, each Web
    /// API call reserves its slot in the schedule every process shares; without
    /// it (or when the table fails), at `RATE_PER_SECOND / FUNCTION_CONCURRENCY`
    /// (or an entry's own rate over the same share).
    pub fn apps<C: crate::web_api::Call>(
        &self,
        call: C,
        webhooks: &Webhooks,
        table: Option<&Arc<DynamoDbState>>,
    ) -> crate::app_delivery::AppDelivery<C> {
        let settings = crate::app_delivery::AppSettings {
            thread_ttl: self.thread_ttl,
            ..crate::app_delivery::AppSettings::new(
                self.delivery.clone().shared_by(self.processes()),
            )
        };
        let apps = self.own_shares(webhooks).fold(
            crate::app_delivery::AppDelivery::new(call, settings),
            |apps, (name, rate)| apps.with_rate(name, rate),
        );
        match self.schedule(table, webhooks) {
            Some(shared) => apps.with_shared(shared),
            None => apps,
        }
    }

    fn processes(&self) -> u32 {
        self.function_concurrency.max(1)
    }

    /// Each destination with a rate of its own, and this process's share of it.
    fn own_shares<'w>(&self, webhooks: &'w Webhooks) -> impl Iterator<Item = (&'w str, f64)> {
        let processes = f64::from(self.processes());
        webhooks
            .iter()
            .filter_map(move |d| Some((d.name.as_str(), d.rate_per_second? / processes)))
    }

    /// The shared rate schedule on `table`, when there is one.
    fn schedule(
        &self,
        table: Option<&Arc<DynamoDbState>>,
        webhooks: &Webhooks,
    ) -> Option<crate::delivery::shared::Shared> {
        let (_, settings) = self.shared_schedule()?;
        Some(crate::delivery::shared::Shared::on_dynamodb(
            table?.clone(),
            settings,
            webhooks,
        ))
    }

    /// The routing this configuration describes: the webhook table (its
    /// secret read from Secrets Manager, once, at start-up) checked against
    /// `ROUTES` and every kind [`crate::kinds`] detects. `None` when no
    /// webhook is configured (the command line then previews).
    pub async fn routing(&self) -> Result<Option<crate::route::Routing>, crate::route::SetupError> {
        if self.webhooks == TableSource::None {
            return Ok(None);
        }
        let webhooks = self
            .webhooks
            .clone()
            .resolve(&crate::destination::secrets::SecretsManager)
            .await?;
        let routing =
            crate::route::Routing::new(webhooks, self.routes.as_deref(), crate::kinds::KIND_NAMES)?;
        Ok(Some(routing))
    }

    /// Everything that posts to `webhooks`, as configured: [`Config::delivery`],
    /// [`Config::apps`] (both over one HTTP client, so one connection pool
    /// and one root store) and the state table (one DynamoDB client for the
    /// claims, the threads and both rate schedules).
    pub fn poster(&self, webhooks: &Webhooks) -> Result<ConfiguredPoster, ClientsError> {
        let client = crate::destination::webhook::WebhookClient::new()?;
        let web_api = crate::web_api::WebApiClient::new(client.http(), &self.slack_api_url)?;
        let table = self.dynamodb();
        let state = match &table {
            Some(t) => crate::state::Table::DynamoDb(t.clone()),
            None => crate::state::Table::Off,
        };
        Ok(
            crate::post::Poster::new(self.delivery(client, webhooks, table.as_ref()))
                .with_state(state)
                .with_apps(self.apps(web_api, webhooks, table.as_ref())),
        )
    }

    /// The state table (`STATE_TABLE`), if any; its DynamoDB client is built
    /// on first use.
    pub fn dynamodb(&self) -> Option<Arc<DynamoDbState>> {
        let table = self.state_table.as_ref()?;
        Some(Arc::new(DynamoDbState::new(crate::state::StateSettings {
            thread_ttl: self.thread_ttl,
            ..crate::state::StateSettings::new(table.clone())
        })))
    }

    /// With `STATE_TABLE`, the table and the shared schedule's settings: the
    /// whole rate and burst, not an instance's share.
    pub fn shared_schedule(&self) -> Option<(&str, crate::delivery::shared::SharedSettings)> {
        let table = self.state_table.as_deref()?;
        Some((
            table,
            crate::delivery::shared::SharedSettings {
                rate_per_second: self.delivery.rate_per_second,
                rate_burst: self.delivery.rate_burst,
                max_pause: self.delivery.retry_after_max,
                timeout: crate::delivery::shared::DEFAULT_TIMEOUT,
            },
        ))
    }

    /// Reads the shared settings through `get` (empty values already unset).
    fn read(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            webhooks: webhook_source(get)?,
            routes: get("ROUTES"),
            overrides: overrides(get)?,
            digest_after: match get("DIGEST_AFTER") {
                None => DigestAfter::default(),
                Some(v) => v.parse().map_err(|problem| ConfigError::Invalid {
                    name: "DIGEST_AFTER",
                    problem,
                })?,
            },
            delivery: delivery_settings(get)?,
            function_concurrency: parse_int(get, "FUNCTION_CONCURRENCY", 1, 1, 1_000)?,
            state_table: get("STATE_TABLE").map(|t| t.trim().to_string()),
            thread_ttl: Duration::from_secs(
                3_600
                    * parse_int(
                        get,
                        "THREAD_TTL_HOURS",
                        DEFAULT_THREAD_TTL_HOURS,
                        1,
                        MAX_THREAD_TTL_HOURS,
                    )?,
            ),
            slack_api_url: get("SLACK_API_URL").map_or_else(
                || crate::web_api::DEFAULT_API_URL.to_string(),
                |u| u.trim().to_string(),
            ),
        })
    }
}

/// `WEBHOOK_URL`, `WEBHOOKS` or `WEBHOOKS_SECRET_ID`: at most one.
fn webhook_source(get: &impl Fn(&str) -> Option<String>) -> Result<TableSource, ConfigError> {
    let source = match (
        get("WEBHOOK_URL"),
        get("WEBHOOKS"),
        get("WEBHOOKS_SECRET_ID"),
    ) {
        (Some(url), None, None) => TableSource::Table(Webhooks::single(
            Webhook::parse(&url).map_err(|e| match e {
                WebhookError::Invalid(problem) => ConfigError::Invalid {
                    name: "WEBHOOK_URL",
                    problem,
                },
            })?,
        )),
        (None, Some(table), None) => {
            TableSource::Table(Webhooks::parse(&table, "WEBHOOKS", false).map_err(|e| {
                ConfigError::Invalid {
                    name: "WEBHOOKS",
                    problem: match e {
                        destination::WebhooksError::Invalid { problem, .. } => problem,
                        other => other.to_string(),
                    },
                }
            })?)
        }
        (None, None, Some(id)) => TableSource::Secret(id.trim().to_string()),
        (None, None, None) => TableSource::None,
        _ => {
            return Err(invalid(
                "WEBHOOKS",
                "set only one of WEBHOOK_URL, WEBHOOKS and WEBHOOKS_SECRET_ID",
            ));
        }
    };
    Ok(source)
}

/// Rate, retry, timeout and concurrency settings, as configured.
fn delivery_settings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<DeliverySettings, ConfigError> {
    let defaults = DeliverySettings::default();
    let rate_per_second = parse_f64(&get, "RATE_PER_SECOND", defaults.rate_per_second)?;
    let rate_per_second = check_rate_per_second(rate_per_second)
        .map_err(|problem| invalid("RATE_PER_SECOND", &problem))?;
    let retry_base = millis(&get, "RETRY_BASE_MS", defaults.retry_base, 1, MAX_MS)?;
    let retry_max = millis(&get, "RETRY_MAX_MS", defaults.retry_max, 1, MAX_MS)?;
    if retry_max < retry_base {
        return Err(invalid("RETRY_MAX_MS", "must not be below RETRY_BASE_MS"));
    }
    Ok(DeliverySettings {
        rate_per_second,
        rate_burst: parse_int(&get, "RATE_BURST", defaults.rate_burst, 1, MAX_RATE_BURST)?,
        max_attempts: parse_int(
            &get,
            "MAX_ATTEMPTS",
            defaults.max_attempts,
            1,
            MAX_MAX_ATTEMPTS,
        )?,
        attempt_timeout: millis(
            &get,
            "ATTEMPT_TIMEOUT_MS",
            defaults.attempt_timeout,
            1,
            MAX_MS,
        )?,
        retry_base,
        retry_max,
        retry_after_max: millis(
            &get,
            "RETRY_AFTER_MAX_MS",
            defaults.retry_after_max,
            1,
            MAX_RETRY_AFTER_MS,
        )?,
        max_concurrency: parse_int(&get, "MAX_CONCURRENCY", defaults.max_concurrency, 1, 256)?,
        max_in_flight: defaults.max_in_flight,
        max_message_chars: parse_int(
            &get,
            "MAX_MESSAGE_CHARS",
            defaults.max_message_chars,
            crate::render::MIN_MAX_MESSAGE_CHARS,
            crate::render::SLACK_TEXT_LIMIT,
        )?,
    })
}

/// `MESSAGE_FORMAT`, `CHANNEL`, `USERNAME`, `ICONEMOJI`.
fn overrides(get: &impl Fn(&str) -> Option<String>) -> Result<Overrides, ConfigError> {
    let message_format = match get("MESSAGE_FORMAT") {
        None => crate::render::MessageFormat::default(),
        Some(v) => v.parse().map_err(|problem| ConfigError::Invalid {
            name: "MESSAGE_FORMAT",
            problem,
        })?,
    };
    Ok(Overrides {
        message_format,
        channel: get("CHANNEL"),
        username: get("USERNAME"),
        icon_emoji: get("ICONEMOJI"),
    })
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
        Some(v) => v.trim().parse::<f64>().map_err(|_| {
            invalid(
                name,
                &format!("expected a number, got {}", redact::describe(&v)),
            )
        }),
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
    let n: T = v.trim().parse().map_err(|_| {
        invalid(
            name,
            &format!("expected a whole number, got {}", redact::describe(&v)),
        )
    })?;
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
    max: u64,
) -> Result<Duration, ConfigError> {
    let default_ms = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
    parse_int(get, name, default_ms, min, max).map(Duration::from_millis)
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

    fn cli(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        CliConfig::from_lookup(lookup).map(|c| c.config)
    }

    /// The function's configuration with `name` set to `value` (Lambda reads
    /// every variable).
    fn in_lambda(name: &str, value: &str) -> Result<LambdaConfig, ConfigError> {
        LambdaConfig::from_lookup(lookup(&[
            ("WEBHOOK_URL", HOOK),
            ("DEAD_LETTER_QUEUE_URL", QUEUE),
            (name, value),
        ]))
    }

    #[test]
    fn lambda_mode_requires_webhook_and_queue() {
        let err = LambdaConfig::from_lookup(lookup(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "one of WEBHOOK_URL, WEBHOOKS or WEBHOOKS_SECRET_ID is required but not set"
        );
        let err = LambdaConfig::from_lookup(lookup(&[("WEBHOOK_URL", HOOK)])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("DEAD_LETTER_QUEUE_URL"));
    }

    #[test]
    fn cli_mode_needs_nothing_and_uses_defaults() {
        let cli = CliConfig::from_lookup(lookup(&[])).unwrap();
        let c = &cli.config;
        assert_eq!(c.webhooks, TableSource::None);
        assert_eq!(c.routes, None);
        assert_eq!(c.delivery, DeliverySettings::default());
        assert_eq!(cli.dead_letter_file, "dead-letters.jsonl");
        assert_eq!(cli.dead_letter_queue_url, None);
    }

    #[test]
    fn reads_every_setting() {
        let lambda = LambdaConfig::from_lookup(lookup(&[
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
        ]))
        .unwrap();
        let c = &lambda.config;
        assert_eq!(
            c.overrides.message_format,
            crate::render::MessageFormat::Attachments
        );
        assert_eq!(c.overrides.channel.as_deref(), Some("#ops"));
        assert_eq!(c.overrides.icon_emoji.as_deref(), Some(":bell:"));
        assert_eq!(c.delivery.rate_per_second, 2.5);
        assert_eq!(c.delivery.rate_burst, 3);
        assert_eq!(c.delivery.max_attempts, 2);
        assert_eq!(c.delivery.attempt_timeout, Duration::from_millis(900));
        assert_eq!(c.delivery.max_concurrency, 4);
        assert_eq!(lambda.deadline_margin, Duration::ZERO);
        assert_eq!(lambda.default_budget, Duration::from_secs(30));
        assert_eq!(lambda.dead_letter_queue_url, QUEUE);
    }

    #[test]
    fn each_instance_paces_its_share_of_the_rate() {
        let table =
            format!(r#"{{"ops":"{HOOK}","slow":{{"url":"{HOOK}","rate_per_second":0.5}}}}"#);
        let lambda = LambdaConfig::from_lookup(lookup(&[
            ("WEBHOOKS", &table),
            ("ROUTES", r#"[{"to":["ops"]}]"#),
            ("DEAD_LETTER_QUEUE_URL", QUEUE),
            ("RATE_PER_SECOND", "1"),
            ("RATE_BURST", "4"),
            ("FUNCTION_CONCURRENCY", "5"),
            ("MAX_RECEIVES", "3"),
        ]))
        .unwrap();
        let c = &lambda.config;
        // As configured: the share is taken once, by `delivery`.
        assert_eq!(
            (c.delivery.rate_per_second, c.delivery.rate_burst),
            (1.0, 4)
        );
        assert_eq!((c.function_concurrency, lambda.max_receives), (5, 3));
        let TableSource::Table(table) = &c.webhooks else {
            panic!("{:?}", c.webhooks);
        };
        let delivery = c.delivery(
            crate::destination::webhook::WebhookClient::new().unwrap(),
            table,
            None,
        );
        assert_eq!(delivery.settings().rate_per_second, 0.2);
        assert_eq!(delivery.settings().rate_burst, 1);
        let alone = CliConfig::from_lookup(lookup(&[("RATE_BURST", "4")]))
            .unwrap()
            .config;
        let delivery = alone.delivery(
            crate::destination::webhook::WebhookClient::new().unwrap(),
            &Webhooks::default(),
            None,
        );
        assert_eq!(
            (
                delivery.settings().rate_per_second,
                delivery.settings().rate_burst
            ),
            (1.0, 4)
        );
        let two = DeliverySettings {
            rate_burst: 4,
            ..DeliverySettings::default()
        }
        .shared_by(2);
        assert_eq!((two.rate_per_second, two.rate_burst), (0.5, 2));
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
            ("MAX_RECEIVES", "0"),
            ("FUNCTION_CONCURRENCY", "0"),
            ("FUNCTION_CONCURRENCY", "two"),
            ("MESSAGE_FORMAT", "markdown"),
        ] {
            let err = in_lambda(name, value).unwrap_err();
            assert!(err.to_string().starts_with(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn out_of_range_values_are_refused_naming_the_variable() {
        // Finding 4: `RATE_PER_SECOND=1e-30` passed and panicked in the limiter.
        for (name, value) in [
            ("RATE_PER_SECOND", "1e-30"),
            ("RATE_PER_SECOND", "0.0009"),
            ("RATE_PER_SECOND", "1000001"),
            ("RATE_PER_SECOND", "inf"),
            ("RATE_PER_SECOND", "NaN"),
            ("RATE_PER_SECOND", "-1"),
            ("RATE_BURST", "1000001"),
            ("MAX_ATTEMPTS", "0"),
            ("MAX_ATTEMPTS", "101"),
            ("MAX_ATTEMPTS", "18446744073709551616"),
            ("ATTEMPT_TIMEOUT_MS", "0"),
            ("ATTEMPT_TIMEOUT_MS", "86400001"),
            ("RETRY_BASE_MS", "0"),
            ("RETRY_MAX_MS", "86400001"),
            ("RETRY_AFTER_MAX_MS", "0"),
            ("RETRY_AFTER_MAX_MS", "900001"),
            ("MAX_CONCURRENCY", "0"),
            ("MAX_MESSAGE_CHARS", "10"),
            ("DEADLINE_MARGIN_MS", "86400001"),
            ("DEFAULT_BUDGET_MS", "18446744073709551615"),
        ] {
            let err = in_lambda(name, value).unwrap_err();
            assert!(err.to_string().starts_with(name), "{name}={value}: {err}");
        }
        let c = cli(lookup(&[
            ("RATE_PER_SECOND", "0.001"),
            ("RETRY_AFTER_MAX_MS", "900000"),
        ]))
        .unwrap();
        assert_eq!(
            c.delivery.rate_per_second,
            crate::destination::MIN_RATE_PER_SECOND
        );
        assert_eq!(c.delivery.retry_after_max, Duration::from_secs(900));
    }

    #[test]
    fn variables_lists_exactly_what_is_read_and_each_is_read_once() {
        let asked = std::cell::RefCell::new(Vec::new());
        LambdaConfig::from_lookup(|name| {
            asked.borrow_mut().push(name.to_string());
            match name {
                "WEBHOOK_URL" => Some(HOOK.to_string()),
                "DEAD_LETTER_QUEUE_URL" => Some(QUEUE.to_string()),
                _ => None,
            }
        })
        .unwrap();
        let mut asked = asked.into_inner();
        asked.sort();
        let count = asked.len();
        asked.dedup();
        assert_eq!(count, asked.len(), "a variable read twice: {asked:?}");
        asked.retain(|name| name != "AWS_LAMBDA_FUNCTION_NAME");
        let mut listed: Vec<String> = VARIABLES.iter().map(|v| v.to_string()).collect();
        listed.sort();
        assert_eq!(asked, listed);
        let asked = std::cell::RefCell::new(Vec::new());
        CliConfig::from_lookup(|name| {
            asked.borrow_mut().push(name.to_string());
            None
        })
        .unwrap();
        let asked = asked.into_inner();
        assert_eq!(asked.iter().filter(|n| *n == "DEAD_LETTER_FILE").count(), 1);
        assert!(
            !asked
                .iter()
                .any(|n| n == "MAX_RECEIVES" || n == "METRICS_NAMESPACE")
        );
    }

    #[test]
    fn with_a_state_table_the_schedule_gets_the_whole_rate() {
        let c = cli(lookup(&[
            ("RATE_PER_SECOND", "2"),
            ("RATE_BURST", "4"),
            ("FUNCTION_CONCURRENCY", "5"),
            ("RETRY_AFTER_MAX_MS", "30000"),
            ("STATE_TABLE", " sns-to-slack-state "),
        ]))
        .unwrap();
        let (table, shared) = c.shared_schedule().unwrap();
        assert_eq!(table, "sns-to-slack-state");
        assert_eq!((shared.rate_per_second, shared.rate_burst), (2.0, 4));
        assert_eq!(shared.max_pause, Duration::from_secs(30));
        // The share stays, as the fallback when the table fails.
        let delivery = c.delivery(
            crate::destination::webhook::WebhookClient::new().unwrap(),
            &Webhooks::default(),
            None,
        );
        assert_eq!(
            (
                delivery.settings().rate_per_second,
                delivery.settings().rate_burst
            ),
            (0.4, 1)
        );
        assert!(cli(lookup(&[])).unwrap().shared_schedule().is_none());
    }

    #[test]
    fn webhooks_come_from_exactly_one_place() {
        let table = format!(r#"{{"ops":"{HOOK}"}}"#);
        let c = cli(lookup(&[
            ("WEBHOOKS", &table),
            ("ROUTES", r#"[{"to":["ops"]}]"#),
        ]))
        .unwrap();
        let TableSource::Table(t) = &c.webhooks else {
            panic!("{:?}", c.webhooks);
        };
        assert!(t.get("ops").is_some());
        assert_eq!(c.routes.as_deref(), Some(r#"[{"to":["ops"]}]"#));
        let single = cli(lookup(&[("WEBHOOK_URL", HOOK)])).unwrap();
        assert!(matches!(&single.webhooks, TableSource::Table(t) if t.get("default").is_some()));
        let secret = cli(lookup(&[("WEBHOOKS_SECRET_ID", "hooks ")])).unwrap();
        assert_eq!(secret.webhooks, TableSource::Secret("hooks".into()));
        let both = cli(lookup(&[("WEBHOOK_URL", HOOK), ("WEBHOOKS", &table)]));
        let text = both.unwrap_err().to_string();
        assert!(text.contains("only one of"), "{text}");
        assert!(!text.contains("SECRETSECRET"), "{text}");
        let bad = cli(lookup(&[("WEBHOOKS", r#"{"ops":"ftp://x/SECRETSECRET"}"#)]));
        let text = bad.unwrap_err().to_string();
        assert!(
            text.starts_with("WEBHOOKS is invalid: webhook \"ops\""),
            "{text}"
        );
        assert!(!text.contains("SECRETSECRET"), "{text}");
    }

    #[test]
    fn a_bad_webhook_url_is_named_but_not_echoed() {
        let err = cli(lookup(&[(
            "WEBHOOK_URL",
            "hooks.slack.com/services/SECRETSECRET",
        )]))
        .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("WEBHOOK_URL is invalid"), "{text}");
        assert!(!text.contains("SECRETSECRET"), "{text}");
    }
}
