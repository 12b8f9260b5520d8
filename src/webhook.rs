//! The webhook URL as a secret, and the non-secret id that names it in logs.
//!
//! A Slack Incoming Webhook URL is a bearer credential: whoever has it can post.
//! [`Webhook`] keeps it out of `Debug` and `Display`; everything that is printed
//! (logs, errors, dead letters) names the webhook by [`Webhook::id`] instead.

use std::fmt;

use sha2::{Digest, Sha256};

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

#[cfg(test)]
mod tests {
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
