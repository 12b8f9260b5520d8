//! Response or error -> retry after a wait, or give up with a reason. Pure.
//!
//! | Slack answered                         | decision                                  |
//! |----------------------------------------|-------------------------------------------|
//! | 2xx                                    | posted                                    |
//! | 429                                    | wait `Retry-After` (else backoff), retry  |
//! | 5xx, 408, timeout, connect/reset error | backoff, retry                            |
//! | any other status (400, 403, 404, 410…) | permanent: give up now with Slack's error |
//!
//! A `Retry-After` wait is capped by the caller's `retry_after_max`, so no
//! header can hold a record (or, through the limiter, a webhook) longer.
//! When the attempts run out, the last failure is the reason.

use std::time::{Duration, SystemTime};

use crate::outcome::{Failure, Reason};

/// How a single HTTP attempt ended, as seen by the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Slack accepted the message (any 2xx).
    Accepted,
    /// Slack (or something in front of it) answered with a non-2xx status.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The start of the body: Slack's error string, e.g. `channel_not_found`.
        body: String,
        /// The raw `Retry-After` header, if any.
        retry_after: Option<String>,
    },
    /// No answer within the attempt's timeout.
    TimedOut,
    /// The request failed below HTTP (connect refused, reset, TLS...). The text
    /// never contains the webhook URL.
    Transport(String),
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The record is posted.
    Posted,
    /// Try again after `after` (subject to the deadline).
    Retry {
        /// How long to wait first.
        after: Duration,
        /// What went wrong this time.
        failure: Failure,
    },
    /// Stop: the record is dead-lettered with this failure.
    GiveUp(Failure),
}

/// Decides what follows `attempt`, the `attempts_made`-th of at most
/// `max_attempts`. `backoff` is the jittered backoff for this retry, `now`
/// the wall clock (for `Retry-After` given as an HTTP date) and
/// `retry_after_max` the longest wait a `Retry-After` may ask for (longer
/// values are cut to it).
pub fn decide(
    attempt: &Attempt,
    attempts_made: u32,
    max_attempts: u32,
    backoff: Duration,
    now: SystemTime,
    retry_after_max: Duration,
) -> Decision {
    let (failure, wait) = match attempt {
        Attempt::Accepted => return Decision::Posted,
        Attempt::Status {
            status,
            body,
            retry_after,
        } => {
            let failure = Failure {
                reason: classify_status(*status),
                status: Some(*status),
                detail: status_detail(*status, body),
            };
            if failure.reason == Reason::Rejected {
                return Decision::GiveUp(failure);
            }
            let wait = match (*status, retry_after) {
                (429, Some(value)) => {
                    parse_retry_after(value, now).map_or(backoff, |wait| wait.min(retry_after_max))
                }
                _ => backoff,
            };
            (failure, wait)
        }
        Attempt::TimedOut => (
            Failure {
                reason: Reason::Timeout,
                status: None,
                detail: "no answer from Slack within the attempt timeout".into(),
            },
            backoff,
        ),
        Attempt::Transport(text) => (
            Failure {
                reason: Reason::Transport,
                status: None,
                detail: text.clone(),
            },
            backoff,
        ),
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

/// The wait before retry number `retry` (1-based): exponential from `base`
/// with a floor. The ceiling is `base * 2^retry` capped by `max`; the wait is
/// `base` plus `jitter` (a uniform draw in `[0, 1]`; anything else counts as
/// 0) of the distance to the ceiling. So `base` is the least wait, `max` the
/// most, and retry 1 waits between `base` and `2 * base`.
///
/// Hand-written rather than `retry-policies`' `ExponentialBackoff`: its full
/// jitter draws from zero and its bounded jitter from half of `base`, and the
/// contract here is that `RETRY_BASE_MS` is the shortest wait.
pub fn backoff(retry: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let ceiling = base
        .saturating_mul(2u32.saturating_pow(retry))
        .min(max)
        .max(base);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // jitter is in [0, 1], so the product is at most the distance: no overflow.
    base.saturating_add((ceiling - base).mul_f64(jitter))
}

/// The reason a status stands for: 429 rate limited; 408 timeout; 5xx server
/// error; anything else (other 4xx, unexpected 1xx/3xx) permanent rejection.
pub fn classify_status(status: u16) -> Reason {
    match status {
        429 => Reason::RateLimited,
        408 => Reason::Timeout,
        500..=599 => Reason::ServerError,
        _ => Reason::Rejected,
    }
}

fn status_detail(status: u16, body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {body}")
    }
}

/// Parses a `Retry-After` value (RFC 9110, section 10.2.3): delay-seconds,
/// ASCII digits only (`3`; too many digits to count saturate at
/// [`Duration::MAX`]), or an HTTP date (a past date means now). Surrounding
/// whitespace is ignored. `None` for anything else (`1.5`, `-1`, `1e19`,
/// `+3`), which the caller treats as no header at all.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Only digits: the sole parse error left is overflow.
        return Some(value.parse().map_or(Duration::MAX, Duration::from_secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Duration = Duration::from_millis(300);
    const CAP: Duration = Duration::from_secs(60);

    fn status(status: u16, body: &str, retry_after: Option<&str>) -> Attempt {
        Attempt::Status {
            status,
            body: body.into(),
            retry_after: retry_after.map(str::to_string),
        }
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000)
    }

    #[test]
    fn classification_table() {
        let cases = [
            (status(200, "ok", None), None, false),
            (
                status(429, "rate_limited", None),
                Some(Reason::RateLimited),
                true,
            ),
            (
                status(500, "rollup_error", None),
                Some(Reason::ServerError),
                true,
            ),
            (status(503, "", None), Some(Reason::ServerError), true),
            (status(408, "", None), Some(Reason::Timeout), true),
            (
                status(400, "invalid_payload", None),
                Some(Reason::Rejected),
                false,
            ),
            (
                status(403, "action_prohibited", None),
                Some(Reason::Rejected),
                false,
            ),
            (
                status(404, "channel_not_found", None),
                Some(Reason::Rejected),
                false,
            ),
            (
                status(410, "channel_is_archived", None),
                Some(Reason::Rejected),
                false,
            ),
            (
                status(404, "no_service", None),
                Some(Reason::Rejected),
                false,
            ),
            (status(302, "", None), Some(Reason::Rejected), false),
            (Attempt::TimedOut, Some(Reason::Timeout), true),
            (
                Attempt::Transport("connection reset".into()),
                Some(Reason::Transport),
                true,
            ),
        ];
        for (attempt, reason, retried) in cases {
            let attempt = match attempt {
                Attempt::Status { status: 200, .. } => Attempt::Accepted,
                other => other,
            };
            let decision = decide(&attempt, 1, 5, BACKOFF, now(), CAP);
            match (reason, decision) {
                (None, Decision::Posted) => {}
                (Some(r), Decision::Retry { failure, after }) if retried => {
                    assert_eq!(failure.reason, r);
                    assert_eq!(after, BACKOFF);
                }
                (Some(r), Decision::GiveUp(failure)) if !retried => assert_eq!(failure.reason, r),
                (r, d) => panic!("{attempt:?}: expected {r:?} retried={retried}, got {d:?}"),
            }
        }
    }

    #[test]
    fn permanent_errors_keep_slacks_error_string() {
        let Decision::GiveUp(f) = decide(
            &status(404, "channel_not_found\n", None),
            1,
            5,
            BACKOFF,
            now(),
            CAP,
        ) else {
            panic!("not given up");
        };
        assert_eq!(f.status, Some(404));
        assert_eq!(f.detail, "HTTP 404: channel_not_found");
    }

    #[test]
    fn retryable_errors_give_up_on_the_last_attempt() {
        let d = decide(
            &status(500, "rollup_error", None),
            5,
            5,
            BACKOFF,
            now(),
            CAP,
        );
        assert!(matches!(
            d,
            Decision::GiveUp(Failure {
                reason: Reason::ServerError,
                ..
            })
        ));
        let d = decide(
            &status(429, "rate_limited", Some("1")),
            5,
            5,
            BACKOFF,
            now(),
            CAP,
        );
        assert!(matches!(
            d,
            Decision::GiveUp(Failure {
                reason: Reason::RateLimited,
                ..
            })
        ));
    }

    #[test]
    fn rate_limits_wait_retry_after_or_backoff() {
        let wait = |h: Option<&str>| match decide(
            &status(429, "rate_limited", h),
            1,
            5,
            BACKOFF,
            now(),
            CAP,
        ) {
            Decision::Retry { after, .. } => after,
            d => panic!("{d:?}"),
        };
        assert_eq!(wait(Some("3")), Duration::from_secs(3));
        assert_eq!(wait(Some("garbage")), BACKOFF);
        assert_eq!(wait(None), BACKOFF);
        let date = httpdate::fmt_http_date(now() + Duration::from_secs(7));
        assert_eq!(wait(Some(&date)), Duration::from_secs(7));
    }

    #[test]
    fn retry_after_parsing() {
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now()),
            Some(Duration::MAX)
        );
        for garbage in [
            "1.5", "-1", "+3", "1e19", "1e400", "NaN", "inf", "3 s", "", "0x10",
        ] {
            assert_eq!(parse_retry_after(garbage, now()), None, "{garbage:?}");
        }
        let past = httpdate::fmt_http_date(now() - Duration::from_secs(60));
        assert_eq!(parse_retry_after(&past, now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now()),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn a_float_retry_after_is_ignored_not_obeyed() {
        // Finding 1: `1e19` was read as a float, and adding it to an instant panicked.
        let wait = |h: &str| match decide(
            &status(429, "rate_limited", Some(h)),
            1,
            5,
            BACKOFF,
            now(),
            CAP,
        ) {
            Decision::Retry { after, .. } => after,
            d => panic!("{d:?}"),
        };
        assert_eq!(wait("1e19"), BACKOFF);
        assert_eq!(wait("1.5"), BACKOFF);
    }

    #[test]
    fn a_long_retry_after_is_capped() {
        // Finding 2: `3600` held the webhook for an hour.
        let wait = |h: &str| match decide(
            &status(429, "rate_limited", Some(h)),
            1,
            5,
            BACKOFF,
            now(),
            CAP,
        ) {
            Decision::Retry { after, .. } => after,
            d => panic!("{d:?}"),
        };
        assert_eq!(wait("3600"), CAP);
        assert_eq!(wait("18446744073709551616"), CAP);
        assert_eq!(
            wait(&httpdate::fmt_http_date(
                now() + Duration::from_secs(86_400)
            )),
            CAP
        );
        assert_eq!(wait("59"), Duration::from_secs(59));
    }

    #[test]
    fn the_backoff_never_goes_below_its_base() {
        // Finding 7: full jitter drew from zero, under RETRY_BASE_MS.
        let (base, max) = (Duration::from_millis(250), Duration::from_millis(8_000));
        for retry in 1..=40 {
            for jitter in [0.0, 1e-9, 0.5, 1.0, -1.0, 2.0, f64::NAN] {
                let wait = backoff(retry, base, max, jitter);
                assert!(wait >= base && wait <= max, "{retry} {jitter}: {wait:?}");
            }
        }
        assert_eq!(backoff(1, base, max, 0.0), base);
        assert_eq!(backoff(1, base, max, 1.0), Duration::from_millis(500));
        assert_eq!(backoff(3, base, max, 1.0), Duration::from_millis(2_000));
        assert_eq!(backoff(3, base, max, 0.5), Duration::from_millis(1_125));
        assert_eq!(backoff(10, base, max, 1.0), max);
        assert_eq!(
            backoff(u32::MAX, Duration::MAX, Duration::MAX, 1.0),
            Duration::MAX
        );
        // A base above the max (refused by the configuration) still waits the base.
        assert_eq!(backoff(2, max, base, 0.7), max);
    }
}
