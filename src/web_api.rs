//! The Slack Web API client for app destinations: `chat.postMessage`,
//! `chat.update`, `reactions.add` and `reactions.remove`, JSON bodies with
//! `Authorization: Bearer <token>`, one HTTP attempt per call.
//!
//! Like the webhook client ([`crate::slack`]), this adapter only makes one
//! attempt and reports what came back as a [`Reply`]; whether to retry now,
//! wait or give up is the pure [`verdict`] (and [`decide`], its form in the
//! retry loop's [`Decision`] vocabulary), so the limiter, retry policy and
//! deadline of [`crate::delivery`] serve both kinds of destination.
//!
//! Unlike a webhook, the Web API answers HTTP 200 for most failures, with
//! `{"ok": false, "error": "channel_not_found"}`; and on success it says
//! which message it made (`ts`, `channel`), which threads and updates need.
//!
//! | Slack answered                                            | verdict                         |
//! |-----------------------------------------------------------|---------------------------------|
//! | `ok: true` (and `already_reacted` / `no_reaction` to reactions) | done, with `ts` and `channel` |
//! | HTTP 429, or `ratelimited`                                | wait `Retry-After` (else backoff) |
//! | HTTP 5xx or 408, `internal_error`, `fatal_error`, `service_unavailable`, `request_timeout`, timeout, transport | retry after backoff |
//! | `message_not_found`, `cant_update_message`, `edit_window_closed` | give up; start a new thread |
//! | any other error (`channel_not_found`, `invalid_auth`, ...), other 4xx, not a Web API answer | give up |
//!
//! The bot token is a secret like a webhook URL: [`BotToken`] cannot be
//! printed (its `Debug` and `Display` show a non-secret id), and no error,
//! [`Reply`] or [`Failure`] carries it.

use std::error::Error as _;
use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::delivery::policy::{self, Decision};
use crate::outcome::{Failure, Reason};

/// The default base URL of the Web API (`SLACK_API_URL`).
pub const DEFAULT_API_URL: &str = "https://slack.com/api/";

/// Most bytes of an answer read. A `chat.postMessage` success echoes the whole
/// message; Slack's own limits (40,000 characters of text, 50 blocks) keep
/// that far below this, so only a misbehaving server or proxy reaches it.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Longest part of a non-JSON answer kept in a failure's detail.
const MAX_DETAIL_CHARS: usize = 200;

/// The longest token accepted. Slack's tokens are well under 100 characters.
const MAX_TOKEN_CHARS: usize = 255;

/// Why a bot token was refused. The message never contains the token.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// The text is not a Slack token (`xoxb-...`); says what is wrong.
    #[error("{0}")]
    Invalid(&'static str),
}

/// A Slack app's bot token (`xoxb-...`): a bearer credential, like a webhook
/// URL. `Debug` and `Display` print only [`BotToken::id`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BotToken {
    token: String,
    id: String,
}

impl BotToken {
    /// Checks a token: `xox` and a letter and `-` (`xoxb-` for a bot, `xoxp-`
    /// for a user), then visible ASCII only (it goes into an HTTP header), at
    /// most 255 characters. Surrounding whitespace is removed.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let token = text.trim();
        let b = token.as_bytes();
        if !(b.len() > 5 && b.starts_with(b"xox") && b[3].is_ascii_lowercase() && b[4] == b'-') {
            return Err(TokenError::Invalid(
                "expected a Slack bot token starting with \"xoxb-\"",
            ));
        }
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Invalid(
                "the token is longer than 255 characters",
            ));
        }
        if !b.iter().all(u8::is_ascii_graphic) {
            return Err(TokenError::Invalid(
                "the token holds spaces or characters other than visible ASCII",
            ));
        }
        let digest = Sha256::digest(token.as_bytes());
        let id = format!(
            "tk-{}",
            digest[..4]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        Ok(Self {
            token: token.to_string(),
            id,
        })
    }

    /// The non-secret name of this token (`tk-` and 8 hex digits of its
    /// SHA-256): safe in logs, metrics and dead letters.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret itself; only the HTTP adapter should call this.
    pub fn expose(&self) -> &str {
        &self.token
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BotToken({})", self.id)
    }
}

impl fmt::Display for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// The Web API methods this function calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `chat.postMessage`: a new message, or a reply with `thread_ts`.
    PostMessage,
    /// `chat.update`: edit a message the app posted.
    Update,
    /// `reactions.add`: add an emoji reaction.
    ReactionsAdd,
    /// `reactions.remove`: take the app's reaction away again.
    ReactionsRemove,
}

impl Method {
    /// The method's name, as in its URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::PostMessage => "chat.postMessage",
            Method::Update => "chat.update",
            Method::ReactionsAdd => "reactions.add",
            Method::ReactionsRemove => "reactions.remove",
        }
    }

    /// Errors that mean the method already had its effect, hence success:
    /// `already_reacted` for `reactions.add`, `no_reaction` for
    /// `reactions.remove`.
    fn done_anyway(self, error: &str) -> bool {
        matches!(
            (self, error),
            (Method::ReactionsAdd, "already_reacted") | (Method::ReactionsRemove, "no_reaction")
        )
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The message a successful call made or touched, as Slack names it. Both are
/// `None` for the reaction methods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Posted {
    /// The message's `ts`: its id within the channel, the `thread_ts` of replies.
    pub ts: Option<String>,
    /// The channel id Slack posted in (`C0123ABCD`), even if a name was sent.
    pub channel: Option<String>,
}

/// How one Web API call ended, before any policy. Never holds the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `{"ok": true, ...}` with a 2xx status.
    Ok(Posted),
    /// `{"ok": false, "error": ...}`, with any status (200 mostly, 429 for
    /// `ratelimited`, 404 for `unknown_method`...).
    Error {
        /// The HTTP status.
        status: u16,
        /// Slack's error code, e.g. `channel_not_found`.
        error: String,
        /// The scope Slack says is missing, for `missing_scope` (`needed`).
        needed: Option<String>,
        /// The raw `Retry-After` header, if any.
        retry_after: Option<String>,
    },
    /// An answer that is not a Web API answer (no `ok` field, not JSON, too
    /// long), e.g. from a proxy or a load balancer.
    Other {
        /// The HTTP status.
        status: u16,
        /// The start of the body, for people.
        body: String,
        /// The raw `Retry-After` header, if any.
        retry_after: Option<String>,
    },
    /// No answer within the attempt's timeout.
    TimedOut,
    /// The request failed below HTTP (connect refused, reset, TLS...).
    Transport(String),
}

/// What a [`Reply`] means for the call that got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The call had its effect.
    Done(Posted),
    /// A passing failure: try again after the backoff.
    RetryNow(Failure),
    /// Rate limited: wait `retry_after` (the raw header; the backoff when
    /// absent or unreadable), then try again.
    Wait {
        /// The raw `Retry-After` header, if any.
        retry_after: Option<String>,
        /// What went wrong.
        failure: Failure,
    },
    /// Trying again cannot help.
    GiveUp {
        /// What went wrong; `detail` names the method and Slack's error.
        failure: Failure,
        /// The message to edit or react to is gone or can no longer be
        /// edited (`message_not_found`, `cant_update_message`,
        /// `edit_window_closed`): post a new message and start a new thread.
        new_thread: bool,
    },
}

/// Errors after which a thread's original cannot be edited any more.
const THREAD_GONE: [&str; 3] = [
    "message_not_found",
    "cant_update_message",
    "edit_window_closed",
];

/// Errors that are Slack's passing trouble: retried after the backoff.
/// `fatal_error` and `internal_error` may have had part of their effect
/// (Slack's docs say so), so a retry of a post may, rarely, post twice;
/// not retrying would lose the notification instead.
const PASSING: [&str; 4] = [
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

/// Classifies `reply` to a call of `method`. Pure: see the module's table.
pub fn verdict(method: Method, reply: &Reply) -> Verdict {
    match reply {
        Reply::Ok(posted) => Verdict::Done(posted.clone()),
        Reply::Error { error, .. } if method.done_anyway(error) => Verdict::Done(Posted::default()),
        Reply::Error {
            status,
            error,
            needed,
            retry_after,
        } => {
            let mut detail = format!("{method}: {error}");
            if let Some(scope) = needed {
                detail.push_str(&format!(" (needs {scope})"));
            }
            if *status != 200 {
                detail = format!("HTTP {status}: {detail}");
            }
            let fail = |reason| Failure {
                reason,
                status: Some(*status),
                detail: detail.clone(),
            };
            if *status == 429 || error == "ratelimited" {
                Verdict::Wait {
                    retry_after: retry_after.clone(),
                    failure: fail(Reason::RateLimited),
                }
            } else if error == "request_timeout" || *status == 408 {
                Verdict::RetryNow(fail(Reason::Timeout))
            } else if PASSING.contains(&error.as_str()) || (500..=599).contains(status) {
                Verdict::RetryNow(fail(Reason::ServerError))
            } else {
                Verdict::GiveUp {
                    failure: fail(Reason::Rejected),
                    new_thread: THREAD_GONE.contains(&error.as_str()),
                }
            }
        }
        Reply::Other {
            status,
            body,
            retry_after,
        } => {
            let body = body.trim();
            let detail = if body.is_empty() {
                format!("{method}: HTTP {status}, not a Web API answer")
            } else {
                format!("{method}: HTTP {status}, not a Web API answer: {body}")
            };
            let failure = Failure {
                reason: policy::classify_status(*status),
                status: Some(*status),
                detail,
            };
            match failure.reason {
                Reason::RateLimited => Verdict::Wait {
                    retry_after: retry_after.clone(),
                    failure,
                },
                Reason::Rejected => Verdict::GiveUp {
                    failure,
                    new_thread: false,
                },
                _ => Verdict::RetryNow(failure),
            }
        }
        Reply::TimedOut => Verdict::RetryNow(Failure {
            reason: Reason::Timeout,
            status: None,
            detail: format!("{method}: no answer from Slack within the attempt timeout"),
        }),
        Reply::Transport(text) => Verdict::RetryNow(Failure {
            reason: Reason::Transport,
            status: None,
            detail: format!("{method}: {text}"),
        }),
    }
}

/// [`verdict`] in the retry loop's terms, as [`policy::decide`] is for
/// webhooks: `reply` is the `attempts_made`-th of at most `max_attempts`;
/// `backoff` the jittered wait for this retry; `now` the wall clock (for a
/// `Retry-After` date); `retry_after_max` caps any `Retry-After`. A
/// [`Decision::Posted`] leaves the `ts` in the reply ([`Reply::Ok`]), and a
/// [`Decision::GiveUp`] whose thread is gone is told by [`verdict`].
pub fn decide(
    method: Method,
    reply: &Reply,
    attempts_made: u32,
    max_attempts: u32,
    backoff: Duration,
    now: SystemTime,
    retry_after_max: Duration,
) -> Decision {
    let (failure, wait) = match verdict(method, reply) {
        Verdict::Done(_) => return Decision::Posted,
        Verdict::GiveUp { failure, .. } => return Decision::GiveUp(failure),
        Verdict::RetryNow(failure) => (failure, backoff),
        Verdict::Wait {
            retry_after,
            failure,
        } => {
            let wait = retry_after
                .as_deref()
                .and_then(|v| policy::parse_retry_after(v, now))
                .map_or(backoff, |w| w.min(retry_after_max));
            (failure, wait)
        }
    };
    if attempts_made >= max_attempts {
        Decision::GiveUp(failure)
    } else {
        Decision::Retry {
            after: wait,
            failure,
        }
    }
}

/// The fields of an answer this client reads; the rest is ignored.
#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    needed: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    channel: Option<String>,
}

/// Reads an answer's status, `Retry-After` and body (at most
/// [`MAX_ANSWER_BYTES`] of it) into a [`Reply`]. Pure; the adapter's one
/// decision about what Slack said.
pub fn read_answer(status: u16, retry_after: Option<String>, body: &[u8], complete: bool) -> Reply {
    let other = |body: &[u8]| Reply::Other {
        status,
        body: String::from_utf8_lossy(body)
            .chars()
            .take(MAX_DETAIL_CHARS)
            .collect(),
        retry_after: retry_after.clone(),
    };
    if !complete {
        let mut reply = other(b"");
        if let Reply::Other { body, .. } = &mut reply {
            *body = format!("an answer longer than {MAX_ANSWER_BYTES} bytes");
        }
        return reply;
    }
    let Ok(answer) = serde_json::from_slice::<Answer>(body) else {
        return other(body);
    };
    match (answer.ok, answer.error) {
        (true, _) if (200..300).contains(&status) => Reply::Ok(Posted {
            ts: answer.ts,
            channel: answer.channel,
        }),
        (false, Some(error)) => Reply::Error {
            status,
            error: error.chars().take(MAX_DETAIL_CHARS).collect(),
            needed: answer
                .needed
                .map(|n| n.chars().take(MAX_DETAIL_CHARS).collect()),
            retry_after,
        },
        _ => other(body),
    }
}

/// The one-attempt port of the Web API: the HTTP client implements it, and so
/// can a fake in paused-clock tests of the retry loop.
pub trait Call: Send + Sync {
    /// Calls `method` with the JSON `body` and `token`, giving up after `timeout`.
    fn call(
        &self,
        token: &BotToken,
        method: Method,
        body: Bytes,
        timeout: Duration,
    ) -> impl Future<Output = Reply> + Send;
}

/// The client could not be built (a bad base URL, TLS set-up). Not retryable.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the Slack Web API client: {0}")]
pub struct ClientError(String);

/// Calls the Web API at one base URL; cheap to clone, one per process.
#[derive(Clone, Debug)]
pub struct WebApiClient {
    http: reqwest::Client,
    base: reqwest::Url,
}

impl WebApiClient {
    /// A client for the Web API at `base_url` (`SLACK_API_URL`, e.g.
    /// [`DEFAULT_API_URL`]; a missing final `/` is added), over `http`.
    /// Share the process's one `reqwest::Client` (rustls, no redirects) so
    /// webhooks and the Web API use one connection pool and one root store.
    pub fn new(http: reqwest::Client, base_url: &str) -> Result<Self, ClientError> {
        let mut text = base_url.trim().to_string();
        if !text.ends_with('/') {
            text.push('/');
        }
        let base = reqwest::Url::parse(&text)
            .map_err(|e| ClientError(format!("SLACK_API_URL is not an absolute URL ({e})")))?;
        if !matches!(base.scheme(), "https" | "http") || base.host_str().is_none_or(str::is_empty) {
            return Err(ClientError(
                "SLACK_API_URL must be an http(s) URL with a host".into(),
            ));
        }
        Ok(Self { http, base })
    }

    /// The method's URL under the base.
    pub fn url(&self, method: Method) -> reqwest::Url {
        self.base
            .join(method.as_str())
            .expect("a method name joins onto an http(s) base")
    }
}

impl Call for WebApiClient {
    async fn call(
        &self,
        token: &BotToken,
        method: Method,
        body: Bytes,
        timeout: Duration,
    ) -> Reply {
        // Checked at parse (visible ASCII), so the value is always valid; marked
        // sensitive so that no Debug of the request's headers shows it.
        let Ok(mut bearer) =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        else {
            return Reply::Transport("the token cannot be sent as an HTTP header".into());
        };
        bearer.set_sensitive(true);
        let sent = self
            .http
            .post(self.url(method))
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .header(AUTHORIZATION, bearer)
            .body(body)
            .timeout(timeout)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(e) if e.is_timeout() => return Reply::TimedOut,
            Err(e) => return Reply::Transport(redact(&describe(&e), token)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        let mut complete = true;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > MAX_ANSWER_BYTES => {
                    complete = false;
                    break;
                }
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Reply::TimedOut,
                Err(e) => return Reply::Transport(redact(&describe(&e), token)),
            }
        }
        match read_answer(status, retry_after, &body, complete) {
            Reply::Other {
                status,
                body,
                retry_after,
            } => Reply::Other {
                status,
                body: redact(&body, token),
                retry_after,
            },
            reply => reply,
        }
    }
}

/// The error and its sources on one line, without the URL (not secret
/// itself, but `SLACK_API_URL` may carry a proxy's credentials).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "the Web API");
    }
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

/// Replaces the token in text that leaves the adapter by its id: a guard,
/// since neither reqwest's errors nor Slack's answers are expected to hold it.
fn redact(text: &str, token: &BotToken) -> String {
    text.replace(token.expose(), token.id())
}

/// The body of a `chat.postMessage` of `message` (a rendered payload: `text`,
/// `blocks`, `attachments`...) to `channel`; a reply in the thread of
/// `thread_ts` when given, also shown in the channel when `broadcast`.
pub fn post_message_body(
    channel: &str,
    thread_ts: Option<&str>,
    broadcast: bool,
    message: &Map<String, Value>,
) -> Bytes {
    let mut body = message.clone();
    body.insert("channel".into(), channel.into());
    if let Some(ts) = thread_ts {
        body.insert("thread_ts".into(), ts.into());
        if broadcast {
            body.insert("reply_broadcast".into(), true.into());
        }
    }
    to_bytes(&body)
}

/// The body of a `chat.update` of the message `ts` in `channel` to `message`.
pub fn update_body(channel: &str, ts: &str, message: &Map<String, Value>) -> Bytes {
    let mut body = message.clone();
    body.insert("channel".into(), channel.into());
    body.insert("ts".into(), ts.into());
    to_bytes(&body)
}

/// The body of a `reactions.add` or `reactions.remove` of emoji `name`
/// (without colons, e.g. `white_check_mark`) on the message `ts` in `channel`.
pub fn reaction_body(channel: &str, ts: &str, name: &str) -> Bytes {
    let mut body = Map::new();
    body.insert("channel".into(), channel.into());
    body.insert("timestamp".into(), ts.into());
    body.insert("name".into(), name.into());
    to_bytes(&body)
}

fn to_bytes(body: &Map<String, Value>) -> Bytes {
    Bytes::from(serde_json::to_vec(body).expect("a JSON map serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Duration = Duration::from_millis(300);
    const CAP: Duration = Duration::from_secs(60);

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000)
    }

    fn error(status: u16, error: &str) -> Reply {
        Reply::Error {
            status,
            error: error.into(),
            needed: None,
            retry_after: None,
        }
    }

    #[derive(Debug, PartialEq)]
    enum Class {
        Done,
        RetryNow(Reason),
        Wait,
        GiveUp { new_thread: bool },
    }

    fn class(method: Method, reply: &Reply) -> Class {
        match verdict(method, reply) {
            Verdict::Done(_) => Class::Done,
            Verdict::RetryNow(f) => Class::RetryNow(f.reason),
            Verdict::Wait { failure, .. } => {
                assert_eq!(failure.reason, Reason::RateLimited);
                Class::Wait
            }
            Verdict::GiveUp {
                failure,
                new_thread,
            } => {
                assert_eq!(failure.reason, Reason::Rejected);
                Class::GiveUp { new_thread }
            }
        }
    }

    #[test]
    fn every_listed_error_has_its_class() {
        use Class::*;
        let table = [
            ("ratelimited", Wait),
            ("internal_error", RetryNow(Reason::ServerError)),
            ("fatal_error", RetryNow(Reason::ServerError)),
            ("service_unavailable", RetryNow(Reason::ServerError)),
            ("request_timeout", RetryNow(Reason::Timeout)),
            ("channel_not_found", GiveUp { new_thread: false }),
            ("not_in_channel", GiveUp { new_thread: false }),
            ("is_archived", GiveUp { new_thread: false }),
            ("invalid_auth", GiveUp { new_thread: false }),
            ("token_revoked", GiveUp { new_thread: false }),
            ("account_inactive", GiveUp { new_thread: false }),
            ("missing_scope", GiveUp { new_thread: false }),
            ("msg_too_long", GiveUp { new_thread: false }),
            ("invalid_blocks", GiveUp { new_thread: false }),
            ("no_text", GiveUp { new_thread: false }),
            ("message_not_found", GiveUp { new_thread: true }),
            ("cant_update_message", GiveUp { new_thread: true }),
            ("edit_window_closed", GiveUp { new_thread: true }),
            ("some_error_slack_adds_later", GiveUp { new_thread: false }),
        ];
        for (code, expected) in table {
            for method in [Method::PostMessage, Method::Update] {
                assert_eq!(
                    class(method, &error(200, code)),
                    expected,
                    "{method} {code}"
                );
            }
        }
    }

    #[test]
    fn http_statuses_are_classified_like_webhook_answers() {
        use Class::*;
        assert_eq!(class(Method::PostMessage, &error(429, "ratelimited")), Wait);
        let other = |status| Reply::Other {
            status,
            body: "<html>busy</html>".into(),
            retry_after: None,
        };
        assert_eq!(class(Method::PostMessage, &other(429)), Wait);
        assert_eq!(
            class(Method::PostMessage, &other(502)),
            RetryNow(Reason::ServerError)
        );
        assert_eq!(
            class(Method::PostMessage, &other(408)),
            RetryNow(Reason::Timeout)
        );
        assert_eq!(
            class(Method::PostMessage, &other(200)),
            GiveUp { new_thread: false }
        );
        assert_eq!(
            class(Method::PostMessage, &other(403)),
            GiveUp { new_thread: false }
        );
        assert_eq!(
            class(Method::PostMessage, &error(503, "whatever")),
            RetryNow(Reason::ServerError)
        );
        assert_eq!(
            class(Method::PostMessage, &Reply::TimedOut),
            RetryNow(Reason::Timeout)
        );
        assert_eq!(
            class(Method::PostMessage, &Reply::Transport("reset".into())),
            RetryNow(Reason::Transport)
        );
    }

    #[test]
    fn an_existing_reaction_is_success_for_reactions_only() {
        assert_eq!(
            class(Method::ReactionsAdd, &error(200, "already_reacted")),
            Class::Done
        );
        assert_eq!(
            class(Method::ReactionsRemove, &error(200, "no_reaction")),
            Class::Done
        );
        assert_eq!(
            class(Method::PostMessage, &error(200, "already_reacted")),
            Class::GiveUp { new_thread: false }
        );
        assert_eq!(
            class(Method::ReactionsAdd, &error(200, "message_not_found")),
            Class::GiveUp { new_thread: true }
        );
    }

    #[test]
    fn failures_name_the_method_and_slacks_error() {
        let reply = Reply::Error {
            status: 200,
            error: "missing_scope".into(),
            needed: Some("reactions:write".into()),
            retry_after: None,
        };
        let Verdict::GiveUp { failure, .. } = verdict(Method::ReactionsAdd, &reply) else {
            panic!("not given up");
        };
        assert_eq!(failure.status, Some(200));
        assert_eq!(
            failure.detail,
            "reactions.add: missing_scope (needs reactions:write)"
        );
        let Verdict::Wait { failure, .. } =
            verdict(Method::PostMessage, &error(429, "ratelimited"))
        else {
            panic!("not waiting");
        };
        assert_eq!(failure.detail, "HTTP 429: chat.postMessage: ratelimited");
    }

    #[test]
    fn decide_waits_retry_after_capped_and_gives_up_at_the_last_attempt() {
        let limited = |h: Option<&str>| Reply::Error {
            status: 429,
            error: "ratelimited".into(),
            needed: None,
            retry_after: h.map(str::to_string),
        };
        let wait =
            |reply: &Reply| match decide(Method::PostMessage, reply, 1, 5, BACKOFF, now(), CAP) {
                Decision::Retry { after, .. } => after,
                d => panic!("{d:?}"),
            };
        assert_eq!(wait(&limited(Some("3"))), Duration::from_secs(3));
        assert_eq!(wait(&limited(Some("3600"))), CAP);
        assert_eq!(wait(&limited(Some("soon"))), BACKOFF);
        assert_eq!(wait(&limited(None)), BACKOFF);
        assert_eq!(wait(&error(200, "internal_error")), BACKOFF);
        assert!(matches!(
            decide(
                Method::PostMessage,
                &limited(Some("3")),
                5,
                5,
                BACKOFF,
                now(),
                CAP
            ),
            Decision::GiveUp(Failure {
                reason: Reason::RateLimited,
                ..
            })
        ));
        assert!(matches!(
            decide(
                Method::Update,
                &error(200, "edit_window_closed"),
                1,
                5,
                BACKOFF,
                now(),
                CAP
            ),
            Decision::GiveUp(Failure {
                reason: Reason::Rejected,
                ..
            })
        ));
        assert_eq!(
            decide(
                Method::PostMessage,
                &Reply::Ok(Posted::default()),
                1,
                5,
                BACKOFF,
                now(),
                CAP
            ),
            Decision::Posted
        );
    }

    #[test]
    fn answers_are_read_into_replies() {
        let ok = br#"{"ok":true,"channel":"C0123ABCD","ts":"1503435956.000247","message":{"text":"hi","type":"message"}}"#;
        assert_eq!(
            read_answer(200, None, ok, true),
            Reply::Ok(Posted {
                ts: Some("1503435956.000247".into()),
                channel: Some("C0123ABCD".into()),
            })
        );
        assert_eq!(
            read_answer(200, None, br#"{"ok":true}"#, true),
            Reply::Ok(Posted::default())
        );
        assert_eq!(
            read_answer(
                429,
                Some("30".into()),
                br#"{"ok":false,"error":"ratelimited"}"#,
                true
            ),
            Reply::Error {
                status: 429,
                error: "ratelimited".into(),
                needed: None,
                retry_after: Some("30".into()),
            }
        );
        assert!(matches!(
            read_answer(200, None, b"ok", true),
            Reply::Other { status: 200, .. }
        ));
        assert!(matches!(
            read_answer(200, None, br#"{"ok":false}"#, true),
            Reply::Other { status: 200, .. }
        ));
        // ok:true on an error status is not trusted as a post.
        assert!(matches!(
            read_answer(500, None, br#"{"ok":true}"#, true),
            Reply::Other { status: 500, .. }
        ));
        let Reply::Other { body, .. } = read_answer(200, None, b"", false) else {
            panic!("an incomplete answer is not a Web API answer");
        };
        assert!(body.contains("longer than"), "{body}");
    }

    #[test]
    fn tokens_are_checked_and_never_printed() {
        let token = BotToken::parse(" xoxb-1234-5678-SECRETsecret ").unwrap();
        assert_eq!(token.expose(), "xoxb-1234-5678-SECRETsecret");
        assert!(token.id().starts_with("tk-") && token.id().len() == 11);
        for shown in [format!("{token:?}"), format!("{token}")] {
            assert!(!shown.contains("SECRET"), "{shown}");
        }
        for bad in [
            "",
            "xoxb-",
            "https://hooks.slack.com/x",
            "xoxb-a b",
            "xoxb-é",
        ] {
            let err = BotToken::parse(bad).unwrap_err().to_string();
            assert!(!err.is_empty() && !err.contains("hooks"), "{err}");
        }
        assert!(BotToken::parse(&format!("xoxb-{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn bodies_carry_the_channel_thread_and_broadcast() {
        let message: Map<String, Value> =
            serde_json::from_str(r#"{"text":"ALARM","blocks":[]}"#).unwrap();
        let v = |b: Bytes| serde_json::from_slice::<Value>(&b).unwrap();
        assert_eq!(
            v(post_message_body("C1", None, true, &message)),
            serde_json::json!({"text":"ALARM","blocks":[],"channel":"C1"})
        );
        assert_eq!(
            v(post_message_body("C1", Some("1.2"), true, &message)),
            serde_json::json!({"text":"ALARM","blocks":[],"channel":"C1","thread_ts":"1.2","reply_broadcast":true})
        );
        assert_eq!(
            v(update_body("C1", "1.2", &message)),
            serde_json::json!({"text":"ALARM","blocks":[],"channel":"C1","ts":"1.2"})
        );
        assert_eq!(
            v(reaction_body("C1", "1.2", "white_check_mark")),
            serde_json::json!({"channel":"C1","timestamp":"1.2","name":"white_check_mark"})
        );
    }

    #[test]
    fn the_base_url_is_checked_and_methods_join_onto_it() {
        let http = reqwest::Client::new();
        let client = WebApiClient::new(http.clone(), "https://slack.com/api").unwrap();
        assert_eq!(
            client.url(Method::PostMessage).as_str(),
            "https://slack.com/api/chat.postMessage"
        );
        assert_eq!(
            WebApiClient::new(http.clone(), DEFAULT_API_URL)
                .unwrap()
                .url(Method::ReactionsAdd)
                .as_str(),
            "https://slack.com/api/reactions.add"
        );
        assert!(WebApiClient::new(http.clone(), "slack.com/api").is_err());
        assert!(WebApiClient::new(http, "ftp://slack.com/api/").is_err());
    }
}
