//! Where the webhook table comes from ([`TableSource`]), and the one adapter
//! that reads it from outside: the [`SecretStore`] port and its AWS Secrets
//! Manager implementation, bounded in time so a hung endpoint cannot hang the
//! cold start.

use std::future::Future;
use std::time::Duration;

use super::{Webhooks, WebhooksError};

/// How long fetching the secret at start-up may take before the process stops
/// with an error (a hung endpoint must not hang the cold start).
///
/// Clearly below Lambda's 10 s limit on the init phase: when the limit is hit,
/// Lambda kills the process before it can write why, so the bound leaves 4 s
/// for the process's start, the error line and the report to the Runtime
/// API's `/runtime/init/error`. A healthy read (credentials from the
/// environment, one HTTPS call in the region) takes a few hundred ms.
pub const SECRET_TIMEOUT: Duration = Duration::from_secs(6);

/// Where the webhook table comes from, as configured.
#[derive(Debug, Clone, PartialEq)]
pub enum TableSource {
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

impl TableSource {
    /// The table: as configured, or fetched from `store` (within
    /// [`SECRET_TIMEOUT`]) and parsed.
    pub async fn resolve(self, store: &impl SecretStore) -> Result<Webhooks, WebhooksError> {
        match self {
            TableSource::None => Ok(Webhooks::default()),
            TableSource::Table(table) => Ok(table),
            TableSource::Secret(id) => {
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
        let secret = TableSource::Secret("sns-to-slack/webhooks".into());
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
        assert!(err.to_string().contains("no answer within 6 s"), "{err}");
    }
}
