//! The Slack Incoming Webhook client: one HTTP attempt per call, over
//! `reqwest-middleware`, with errors that never carry the webhook URL.
//!
//! Retrying, waiting and rate limiting live in [`crate::delivery`]; this adapter
//! only sends one POST with a timeout and reports what happened as a
//! [`policy::Attempt`](crate::delivery::policy::Attempt).

use std::error::Error as _;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};

use crate::delivery::Post;
use crate::delivery::policy::Attempt;
use crate::webhook::Webhook;

/// Longest part of an error body kept (Slack's are a short code like `channel_not_found`).
const MAX_ERROR_BODY: usize = 200;

/// The client could not be built (TLS set-up failed). Not retryable.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client for Slack: {0}")]
pub struct ClientError(String);

/// Posts JSON bodies to Slack webhooks; cheap to clone, one per process.
#[derive(Clone)]
pub struct SlackClient {
    http: ClientWithMiddleware,
}

impl SlackClient {
    /// Builds the process's one HTTP client (rustls, no redirects, pooled
    /// keep-alive connections).
    ///
    /// It trusts the Mozilla root certificates compiled in (`webpki-root-certs`)
    /// rather than the system store: reading and parsing the ~150 files of
    /// `/etc/ssl/certs` at start-up tripled the function's cold init.
    pub fn new() -> Result<Self, ClientError> {
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|der| reqwest::Certificate::from_der(der))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ClientError(describe(&e.without_url())))?;
        let http = reqwest::Client::builder()
            .tls_certs_only(roots)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sns-to-slack/", env!("CARGO_PKG_VERSION")))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(55))
            .build()
            .map_err(|e| ClientError(describe(&e.without_url())))?;
        Ok(Self {
            http: ClientBuilder::new(http).build(),
        })
    }
}

impl Post for SlackClient {
    async fn post(&self, webhook: &Webhook, body: bytes::Bytes, timeout: Duration) -> Attempt {
        let sent = self
            .http
            .post(webhook.expose_url().clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(timeout)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(reqwest_middleware::Error::Reqwest(e)) => return from_error(e, webhook),
            Err(e) => return Attempt::Transport(redact(&format!("{e:#}"), webhook)),
        };
        let status = response.status();
        if status.is_success() {
            // Drain the short "ok" body so the connection goes back to the pool.
            let _ = response.bytes().await;
            return Attempt::Accepted;
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = match response.bytes().await {
            Ok(bytes) => {
                String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ERROR_BODY)]).into_owned()
            }
            Err(e) if e.is_timeout() => return Attempt::TimedOut,
            Err(_) => String::new(),
        };
        Attempt::Status {
            status: status.as_u16(),
            body: redact(&body, webhook),
            retry_after,
        }
    }
}

fn from_error(e: reqwest::Error, webhook: &Webhook) -> Attempt {
    if e.is_timeout() {
        return Attempt::TimedOut;
    }
    Attempt::Transport(redact(&describe(&e.without_url()), webhook))
}

/// The error and its sources on one line. `reqwest::Error` prints its URL, so
/// callers pass it through `without_url()` first.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Removes the webhook URL (and its secret path) from text that left the
/// adapter, as a second guard behind `without_url()`.
fn redact(text: &str, webhook: &Webhook) -> String {
    let url = webhook.expose_url();
    let mut out = text.replace(url.as_str(), webhook.id());
    let path = url.path();
    if path.len() > 1 {
        out = out.replace(path, "/[redacted]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_the_url_and_its_path() {
        let hook = Webhook::parse("https://hooks.slack.com/services/T1/B2/SECRET").unwrap();
        let text = redact(
            "POST https://hooks.slack.com/services/T1/B2/SECRET failed; path /services/T1/B2/SECRET",
            &hook,
        );
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains(hook.id()), "{text}");
    }
}
