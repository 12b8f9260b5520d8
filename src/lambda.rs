//! The Lambda handler: invocation -> budget -> pipeline -> JSON summary and
//! EMF metrics, or an error whose type says whether Lambda's retry can help.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::budget;
use crate::dead_letter::DeadLetter;
use crate::delivery::Post;
use crate::metrics;
use crate::pipeline::{Pipeline, PipelineError, Until};
use crate::settle::Settlement;
use crate::summary::Summary;
use crate::telemetry;

/// The function: a pipeline plus the deadline settings.
pub struct Handler<P, D, S = crate::state::Disabled, C = crate::web_api::WebApiClient> {
    pipeline: Pipeline<P, D, S, C>,
    margin: Duration,
    default_budget: Duration,
    metrics: MetricsTarget,
    warned_unknown_deadline: AtomicBool,
}

/// Where the EMF documents go: namespace and `Service` dimension.
#[derive(Debug, Clone)]
pub struct MetricsTarget {
    /// CloudWatch namespace.
    pub namespace: String,
    /// `Service` dimension value.
    pub service: String,
}

/// Time kept after storing dead letters, before the deadline, to write the logs
/// and metrics and answer the Runtime API (at most half the margin).
pub const ANSWER_RESERVE: Duration = Duration::from_millis(500);

/// What an invocation answers: the summary for an SNS event (or an unreadable
/// payload), the partial batch response for an SQS event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// `{"records": .., "posted": .., ...}`
    Summary(Summary),
    /// `{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`
    Batch(SqsBatchResponse),
}

impl From<Settlement> for Response {
    fn from(report: Settlement) -> Self {
        match report.requeue {
            None => Response::Summary(report.summary),
            Some(ids) => {
                let mut response = SqsBatchResponse::default();
                response.batch_item_failures = ids
                    .into_iter()
                    .map(|id| {
                        let mut failure = BatchItemFailure::default();
                        failure.item_identifier = id;
                        failure
                    })
                    .collect();
                Response::Batch(response)
            }
        }
    }
}

/// An invocation error, reported to Lambda with `errorType` `Retryable` or
/// `NonRetryable` so a reader of the logs knows what happens next.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct InvocationError(#[from] PipelineError);

impl From<InvocationError> for Diagnostic {
    fn from(e: InvocationError) -> Self {
        Diagnostic {
            error_type: if e.0.is_retryable() {
                "Retryable"
            } else {
                "NonRetryable"
            }
            .into(),
            error_message: e.to_string(),
        }
    }
}

impl<P: Post, D: DeadLetter, S: crate::state::State, C: crate::web_api::Call> Handler<P, D, S, C> {
    /// A handler keeping `margin` free before each deadline and using
    /// `default_budget` when the deadline is unknown.
    pub fn new(
        pipeline: Pipeline<P, D, S, C>,
        margin: Duration,
        default_budget: Duration,
        metrics: MetricsTarget,
    ) -> Self {
        Self {
            pipeline,
            margin,
            default_budget,
            metrics,
            warned_unknown_deadline: AtomicBool::new(false),
        }
    }

    /// Handles one invocation: posts until the deadline less the margin, stores
    /// dead letters until the deadline less [`ANSWER_RESERVE`], then writes the
    /// logs and metrics and answers.
    pub async fn handle(
        &self,
        event: LambdaEvent<Box<RawValue>>,
    ) -> Result<Response, InvocationError> {
        let stop_at = self.stop_at(event.context.deadline);
        let reserve = ANSWER_RESERVE.min(self.margin / 2);
        let store_until = stop_at
            .checked_add(self.margin.saturating_sub(reserve))
            .unwrap_or(stop_at);
        let until = Until {
            post: stop_at,
            store: Some(store_until),
        };
        let result = self.pipeline.run(event.payload.get(), until).await;
        let summary = match &result {
            Ok(report) => &report.summary,
            Err(e) => e.summary(),
        };
        self.emit_metrics(summary);
        match &result {
            Ok(report) => tracing::info!(
                records = report.summary.records,
                posted = report.summary.posted,
                dead_lettered = report.summary.dead_lettered,
                requeued = report.summary.requeued,
                replies = report.summary.replies,
                updates = report.summary.updates,
                skipped_duplicates = report.summary.skipped_duplicates,
                state_errors = report.summary.state_errors,
                "event handled"
            ),
            Err(e) => tracing::error!(
                error = %e,
                retryable = e.is_retryable(),
                "event failed"
            ),
        }
        telemetry::flush();
        Ok(result?.into())
    }

    /// Prints the invocation's EMF documents on stdout, one per line, where
    /// CloudWatch Logs turns them into metrics (through the log buffer).
    fn emit_metrics(&self, summary: &Summary) {
        let docs = metrics::documents(
            summary,
            &self.metrics.namespace,
            &self.metrics.service,
            unix_millis(),
        );
        for doc in docs {
            telemetry::write_line(&doc);
        }
    }

    fn stop_at(&self, deadline_ms: u64) -> Instant {
        let budget = budget::plan(deadline_ms, unix_millis(), self.margin, self.default_budget);
        if !budget.deadline_known && !self.warned_unknown_deadline.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                deadline_ms,
                default_budget_ms = self.default_budget.as_millis() as u64,
                "the invocation deadline is absent or already past (an emulator?); using DEFAULT_BUDGET_MS"
            );
        }
        let now = Instant::now();
        now.checked_add(budget.time_left).unwrap_or(now)
    }
}

/// Wall-clock now in Unix epoch milliseconds (Lambda's deadline unit).
fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Why the function could not start: its configuration, its webhooks and
/// routes (the secret included), or the HTTP client. Reported to the Runtime
/// API's `/runtime/init/error` as well as logged; no variant carries a URL.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A variable is missing or invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The webhook table, its secret or `ROUTES`.
    #[error(transparent)]
    Setup(#[from] crate::route::SetupError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Clients(#[from] crate::config::ClientsError),
}

impl InitError {
    /// Whether a new cold start may get past it (the secret could not be
    /// read); everything else needs a corrected configuration.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            InitError::Setup(crate::route::SetupError::Webhooks(
                crate::destination::WebhooksError::Secret(_)
            ))
        )
    }
}

/// How long reporting a failed init to the Runtime API may take.
const INIT_REPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the function against the Lambda Runtime API until the process ends:
/// one HTTP client and one limiter for all invocations, the SQS client built
/// only when a record must be dead-lettered.
///
/// When `config` is an error, or the webhooks, routes or client cannot be set
/// up, the error is posted to `/runtime/init/error` (so Lambda shows it as the
/// init failure instead of a bare exit) and returned.
pub async fn serve(
    config: Result<crate::config::LambdaConfig, crate::config::ConfigError>,
) -> Result<(), lambda_runtime::Error> {
    let handler = match init(config).await {
        Ok(handler) => handler,
        Err(e) => {
            report_init_error(&e).await;
            return Err(e.into());
        }
    };
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| {
        handler.handle(event)
    }))
    .await
}

type LambdaHandler = Handler<
    crate::destination::webhook::WebhookClient,
    crate::dead_letter::sqs::SqsDeadLetter,
    crate::state::Table,
    crate::web_api::WebApiClient,
>;

async fn init(
    lambda: Result<crate::config::LambdaConfig, crate::config::ConfigError>,
) -> Result<LambdaHandler, InitError> {
    let lambda = lambda?;
    let config = lambda.config;
    // LambdaConfig requires a webhook table, so there is always one.
    let routing = config
        .routing()
        .await?
        .ok_or(crate::config::ConfigError::Missing(
            crate::config::WEBHOOK_VARIABLES,
        ))?;
    let poster = config.poster(routing.webhooks())?;
    let dead_letter = crate::dead_letter::sqs::SqsDeadLetter::new(lambda.dead_letter_queue_url);
    let pipeline = Pipeline::over(poster, dead_letter, routing, config.overrides)
        .with_max_receives(lambda.max_receives)
        .with_digest_after(config.digest_after);
    let metrics = MetricsTarget {
        namespace: lambda.metrics_namespace,
        service: lambda.metrics_service,
    };
    Ok(Handler::new(
        pipeline,
        lambda.deadline_margin,
        lambda.default_budget,
        metrics,
    ))
}

/// Posts `error` to the Runtime API's `/runtime/init/error`, within
/// [`INIT_REPORT_TIMEOUT`]. A failure to report is logged, never raised: the
/// process exits with the error either way.
async fn report_init_error(error: &InitError) {
    let diagnostic = Diagnostic {
        error_type: if error.is_retryable() {
            "Retryable"
        } else {
            "NonRetryable"
        }
        .into(),
        error_message: error.to_string(),
    };
    let request = serde_json::to_vec(&diagnostic)
        .map_err(|e| e.to_string())
        .and_then(|body| {
            lambda_runtime_api_client::build_request()
                .method("POST")
                .uri("/2018-06-01/runtime/init/error")
                .header("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
                .header("Content-Type", "application/json")
                .body(lambda_runtime_api_client::body::Body::from(body))
                .map_err(|e| e.to_string())
        });
    let sent = match request {
        Ok(request) => {
            // Reads AWS_LAMBDA_RUNTIME_API, as lambda_runtime::run does.
            let client = lambda_runtime_api_client::PooledClient::builder().build();
            match tokio::time::timeout(INIT_REPORT_TIMEOUT, client.call(request)).await {
                Ok(Ok(response)) if response.status().is_success() => Ok(()),
                Ok(Ok(response)) => Err(format!("the Runtime API answered {}", response.status())),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!(
                    "no answer within {} s",
                    INIT_REPORT_TIMEOUT.as_secs()
                )),
            }
        }
        Err(e) => Err(e),
    };
    if let Err(why) = sent {
        tracing::warn!(why = %why, "the init error could not be reported to the Runtime API");
    }
}
