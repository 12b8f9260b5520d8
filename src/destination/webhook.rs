//! A Slack Incoming Webhook: its secret URL, and the HTTP client that posts to it.
//!
//! A webhook URL is a bearer credential: whoever has it can post. [`Webhook`]
//! keeps it out of `Debug` and `Display`; everything that is printed (logs,
//! errors, dead letters) names the webhook by [`Webhook::id`] instead.
//!
//! [`WebhookClient`] sends one POST per call with a timeout, over
//! `reqwest-middleware`, and reports what happened as a
//! [`policy::Attempt`](crate::delivery::policy::Attempt), with errors that
//! never carry the URL. Retrying, waiting and rate limiting live in
//! [`crate::delivery`].

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use sha2::{Digest, Sha256};

use crate::delivery::Post;
use crate::delivery::policy::Attempt;

/// Why a webhook URL was refused. The message never contains the URL.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    /// The URL does not parse, is not `https` with a host, or is plain `http`
    /// to a host that is not loopback.
    #[error("{0}")]
    Invalid(String),
}

/// A Slack webhook: the secret URL plus a stable id derived from it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Webhook {
    url: reqwest::Url,
    id: String,
}

impl Webhook {
    /// Parses and checks a webhook URL: absolute, `https`, with a host. Plain
    /// `http` is accepted only to a loopback host (`localhost`, 127.0.0.0/8,
    /// `::1`, for local tests): anywhere else every post would carry the secret
    /// in clear.
    pub fn parse(url: &str) -> Result<Self, WebhookError> {
        let parsed = reqwest::Url::parse(url.trim())
            .map_err(|e| WebhookError::Invalid(format!("not an absolute URL ({e})")))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(WebhookError::Invalid(format!(
                "expected an https:// URL, got scheme {:?}",
                parsed.scheme()
            )));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(WebhookError::Invalid("the URL has no host".into()));
        }
        if parsed.scheme() == "http" && !is_loopback(&parsed) {
            return Err(WebhookError::Invalid(
                "plain http:// is refused except to a loopback host (every post would carry \
                 the secret URL in clear); use https://"
                    .into(),
            ));
        }
        let digest = Sha256::digest(parsed.as_str().as_bytes());
        let id = format!(
            "wh-{}",
            digest[..4]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        Ok(Self { url: parsed, id })
    }

    /// The non-secret name of this webhook (`wh-` and 8 hex digits of the URL's
    /// SHA-256): safe in logs, metrics and dead letters, stable across restarts.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret URL itself; only the HTTP adapter should call this.
    pub fn expose_url(&self) -> &reqwest::Url {
        &self.url
    }
}

/// Whether `url`'s host is this machine: `localhost`, 127.0.0.0/8 or `::1`.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Webhook({})", self.id)
    }
}

impl fmt::Display for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// Longest part of an error body kept, in bytes, after redaction (Slack's are
/// a short code like `channel_not_found`).
const MAX_ERROR_BODY: usize = 200;

/// Most bytes of an error body read to keep [`MAX_ERROR_BODY`] of it: enough
/// that redacting can shrink it (a URL becomes an 11-character id) and still
/// leave more than is kept, so the cut never falls inside a secret. The rest
/// is never read: the response is dropped, closing its connection.
const ERROR_BODY_READ: usize = 4 * 1024;

/// Most bytes of a success body read to hand its connection back to the
/// pool (Slack answers `ok`). A longer body is dropped unread, closing the
/// connection, so no answer can make the process buffer it.
const SUCCESS_BODY_DRAIN: usize = 64 * 1024;

/// The client could not be built (TLS set-up failed). Not retryable.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client for Slack: {0}")]
pub struct ClientError(String);

/// Posts JSON bodies to Slack webhooks; cheap to clone, one per process.
#[derive(Clone)]
pub struct WebhookClient {
    http: ClientWithMiddleware,
    /// The same client without middleware, for the Web API client to share.
    raw: reqwest::Client,
}

impl WebhookClient {
    /// Builds the process's one HTTP client (rustls, no redirects, pooled
    /// keep-alive connections, at most
    /// [`DEFAULT_MAX_IN_FLIGHT`](crate::delivery::DEFAULT_MAX_IN_FLIGHT) idle
    /// per host).
    ///
    /// It trusts the Mozilla root certificates compiled in (`webpki-roots`,
    /// already parsed into trust anchors) rather than the system store:
    /// reading and parsing the ~150 files of `/etc/ssl/certs` at start-up
    /// tripled the function's cold init, and parsing even the compiled-in
    /// DER certificates was a quarter of it. The TLS configuration is built
    /// here and handed to reqwest, which cannot take trust anchors itself.
    pub fn new() -> Result<Self, ClientError> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError(format!("TLS set-up: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sns-to-slack/", env!("CARGO_PKG_VERSION")))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(55))
            // No more idle sockets than attempts may be in flight at once.
            .pool_max_idle_per_host(crate::delivery::DEFAULT_MAX_IN_FLIGHT)
            .build()
            .map_err(|e| ClientError(describe(&e.without_url())))?;
        Ok(Self {
            http: ClientBuilder::new(http.clone()).build(),
            raw: http,
        })
    }

    /// The underlying HTTP client (cheap to clone: one pool, one root
    /// store), for [`crate::web_api::WebApiClient`] to share.
    pub fn http(&self) -> reqwest::Client {
        self.raw.clone()
    }
}

impl Post for WebhookClient {
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
        let mut response = response;
        let status = response.status();
        if status.is_success() {
            // Drain the short "ok" body so the connection goes back to the
            // pool; a long one is dropped unread instead.
            if response
                .content_length()
                .is_none_or(|n| n <= SUCCESS_BODY_DRAIN as u64)
            {
                let _ = read_at_most(&mut response, SUCCESS_BODY_DRAIN, false).await;
            }
            return Attempt::Accepted;
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = match read_at_most(&mut response, ERROR_BODY_READ, true).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.is_timeout() => return Attempt::TimedOut,
            Err(_) => String::new(),
        };
        Attempt::Status {
            status: status.as_u16(),
            body: cut(redact(&body, webhook), MAX_ERROR_BODY),
            retry_after,
        }
    }
}

/// Reads the body chunk by chunk until it ends or `limit` bytes came, keeping
/// them when `keep` (else only counting): memory stays within `limit` plus
/// one chunk whatever the server sends. What lies beyond is left unread.
async fn read_at_most(
    response: &mut reqwest::Response,
    limit: usize,
    keep: bool,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while seen < limit {
        let Some(chunk) = response.chunk().await? else {
            break;
        };
        let take = chunk.len().min(limit - seen);
        if keep {
            kept.extend_from_slice(&chunk[..take]);
        }
        seen += take;
    }
    Ok(kept)
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
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

/// Removes the webhook URL and its secret path from text that left the
/// adapter (as a second guard behind `without_url()`), in every form a server
/// may echo it: plain, JSON-escaped (`\/services\/…`), percent-encoded
/// (`%2Fservices%2F…`), and any part of the path after `/services/`, even
/// cut short at the end of the text. Redact before cutting: a cut made first
/// could split the secret so that no form of it matches any more.
fn redact(text: &str, webhook: &Webhook) -> String {
    let url = webhook.expose_url();
    let path = url.path();
    let secret = path
        .split_once("/services/")
        .map_or(path.trim_start_matches('/'), |(_, after)| after);
    let mut out = text.to_string();
    let replace_forms = |out: &mut String, plain: &str, with: &str| {
        if plain.len() < 2 {
            return;
        }
        for form in forms(plain) {
            if out.contains(&form) {
                *out = out.replace(&form, with);
            }
        }
    };
    replace_forms(&mut out, url.as_str(), webhook.id());
    replace_forms(&mut out, path, "/[redacted]");
    replace_forms(&mut out, secret, "[redacted]");
    out = redact_after_services(&out);
    for segment in secret.split('/').filter(|s| s.len() >= 6) {
        replace_forms(&mut out, segment, "[redacted]");
    }
    // A form cut short by the end of the text (a body read only in part).
    for plain in [url.as_str(), path, secret] {
        for form in forms(plain) {
            if let Some(k) = (4..form.len())
                .rev()
                .find(|&k| form.is_char_boundary(k) && out.ends_with(&form[..k]))
            {
                out.truncate(out.len() - k);
                out.push_str("[redacted]");
            }
        }
    }
    out
}

/// `plain` as written, JSON-escaped (`/` as `\/`), and percent-encoded
/// (upper- and lower-case hex).
fn forms(plain: &str) -> Vec<String> {
    let encoded = percent_encoding::utf8_percent_encode(plain, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    let mut forms = vec![
        plain.to_string(),
        plain.replace('/', "\\/"),
        encoded.to_lowercase(),
        encoded,
    ];
    forms.dedup();
    forms
}

/// Replaces whatever follows `/services/` (in any of its forms) up to the end
/// of the path with `[redacted]`, whoever's path it is.
fn redact_after_services(text: &str) -> String {
    const MARKERS: [&str; 4] = [
        "/services/",
        "\\/services\\/",
        "%2Fservices%2F",
        "%2fservices%2f",
    ];
    const SEPARATORS: [&str; 4] = ["/", "\\/", "%2F", "%2f"];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, marker)) = MARKERS
        .iter()
        .filter_map(|m| rest.find(m).map(|at| (at, *m)))
        .min_by_key(|(at, _)| *at)
    {
        out.push_str(&rest[..at + marker.len()]);
        let mut tail = &rest[at + marker.len()..];
        let start_len = tail.len();
        loop {
            if let Some(sep) = SEPARATORS.iter().find(|s| tail.starts_with(**s)) {
                tail = &tail[sep.len()..];
            } else if let Some(c) = tail
                .chars()
                .next()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
            {
                tail = &tail[c.len_utf8()..];
            } else {
                break;
            }
        }
        if tail.len() < start_len {
            out.push_str("[redacted]");
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod url_tests {
    use super::*;

    const URL: &str = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";

    #[test]
    fn id_is_stable_and_secret_free() {
        let a = Webhook::parse(URL).unwrap();
        let b = Webhook::parse(URL).unwrap();
        assert_eq!(a.id(), b.id());
        assert!(a.id().starts_with("wh-") && a.id().len() == 11);
        assert_ne!(
            a.id(),
            Webhook::parse("https://hooks.slack.com/services/T000/B000/OTHER")
                .unwrap()
                .id()
        );
        for shown in [format!("{a:?}"), format!("{a}")] {
            assert!(!shown.contains("XXXXSECRET"), "{shown}");
        }
    }

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        for local in [
            "http://127.0.0.1:8080/services/T0/B0/SECRET",
            "http://127.3.4.5/services/T0/B0/SECRET",
            "http://localhost:9/services/T0/B0/SECRET",
            "http://LOCALHOST/services/T0/B0/SECRET",
            "http://[::1]:8080/services/T0/B0/SECRET",
        ] {
            assert!(Webhook::parse(local).is_ok(), "{local}");
        }
        for remote in [
            "http://hooks.slack.com/services/T0/B0/SECRET",
            "http://10.0.0.1/services/T0/B0/SECRET",
            "http://[::2]/services/T0/B0/SECRET",
            "http://localhost.evil.example/services/T0/B0/SECRET",
            "http://128.0.0.1/services/T0/B0/SECRET",
        ] {
            let err = Webhook::parse(remote).unwrap_err().to_string();
            assert!(err.contains("http://"), "{remote}: {err}");
            assert!(!err.contains("SECRET") && !err.contains("hooks"), "{err}");
        }
    }

    #[test]
    fn refuses_what_cannot_be_posted_to() {
        for bad in ["", "not a url", "ftp://example.com/x", "mailto:a@b.c"] {
            let err = Webhook::parse(bad).unwrap_err();
            assert!(!err.to_string().is_empty());
        }
    }
}

#[cfg(test)]
mod client_tests {
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

    const URL: &str = "https://hooks.slack.com/services/T0AB12CD/B0EF34GH/XyZsecretTOKEN1234567890";

    /// Whether `text` holds any piece of the secret path longer than 3 characters.
    fn leaks(text: &str) -> bool {
        let secret = "T0AB12CD/B0EF34GH/XyZsecretTOKEN1234567890";
        (0..secret.len()).any(|i| (i + 4..=secret.len()).any(|j| text.contains(&secret[i..j])))
    }

    #[test]
    fn every_form_of_the_path_is_redacted() {
        let hook = Webhook::parse(URL).unwrap();
        for body in [
            r#"{"error":"no_service","path":"\/services\/T0AB12CD\/B0EF34GH\/XyZsecretTOKEN1234567890"}"#,
            "GET%20%2Fservices%2FT0AB12CD%2FB0EF34GH%2FXyZsecretTOKEN1234567890%20404",
            "lower %2fservices%2ft0ab12cd%2fb0ef34gh%2fXyZsecretTOKEN1234567890",
            "no route to /services/T0AB12CD/B0EF34GH/XyZsecretTOKEN1234567890?x=1",
            "token XyZsecretTOKEN1234567890 revoked",
            "other hook /services/T9/B9/ANOTHERsecretTOKEN and https://hooks.slack.com/services/T0AB12CD/B0EF34GH/XyZsecretTOKEN1234567890",
            // Cut by the end of what was read, inside the path.
            "echo: /services/T0AB12CD/B0EF34GH/XyZsec",
            "echo: https://hooks.slack.com/servi",
        ] {
            let text = redact(body, &hook);
            assert!(!leaks(&text), "{body} -> {text}");
            assert!(!text.contains("ANOTHERsecret"), "{body} -> {text}");
        }
    }

    #[test]
    fn a_cut_after_redaction_keeps_no_part_of_the_path() {
        // The path straddles byte 200: cutting first kept its first half.
        let hook = Webhook::parse(URL).unwrap();
        for pad in 150..200 {
            let body = format!(
                "{}{}",
                "x".repeat(pad),
                r#"\/services\/T0AB12CD\/B0EF34GH\/XyZsecretTOKEN1234567890"#
            );
            let kept = cut(redact(&body, &hook), MAX_ERROR_BODY);
            assert!(kept.len() <= MAX_ERROR_BODY);
            assert!(!leaks(&kept), "{kept}");
        }
        assert_eq!(
            cut("é".repeat(150), 201).len(),
            200,
            "cut on a char boundary"
        );
    }
}
