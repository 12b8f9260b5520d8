//! The state port on DynamoDB (`aws-sdk-dynamodb`): one table, partition key
//! `pk` (String), TTL on `expires_at` (Number, epoch seconds).
//!
//! The client is built on first use, so a cold start that posts nothing to
//! an app destination (or finds no state work) does not pay for loading the
//! AWS configuration. The SDK finds its endpoint the standard way
//! (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`, or the region), so tests
//! aim it at `moto_server` without code of ours.
//!
//! Items (attribute names exact):
//!
//! | item   | attributes                                                                     |
//! |--------|--------------------------------------------------------------------------------|
//! | claim  | `pk`, `kind` = `claim`, `state` (`claimed` / `posted`), `token`, `claimed_at`, `posted_at`, `expires_at` |
//! | thread | `pk`, `kind` = `thread`, `channel`, `ts`, `created_at`, `transitions` (list of `{status, tone, at}`), `version`, `expires_at` |
//!
//! A claim is one conditional `PutItem`: it is written only if no live claim
//! exists, or the one there is unposted and stale (see [`super`]); when the
//! condition fails, the old item (returned by DynamoDB with the failure, or
//! read consistently) says posted or busy. The IAM actions used are
//! `dynamodb:GetItem`, `PutItem`, `UpdateItem` and `DeleteItem`, on this
//! table only.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use tokio::sync::OnceCell;
use tokio::time::Instant;

use super::{
    Claim, ClaimToken, EXPIRES_AT, NOT_RETRYABLE, PK, RETRYABLE, State, StateError, StateSettings,
    claim_pk, later, thread_pk, tone_code, tone_from_code,
};
use crate::lifecycle::{Thread, Transition, epoch_seconds};

type Item = HashMap<String, AttributeValue>;

/// The state table on DynamoDB.
pub struct DynamoDbState {
    settings: StateSettings,
    client: OnceCell<Client>,
}

impl DynamoDbState {
    /// The table of `settings`; no AWS work is done until the first call.
    pub fn new(settings: StateSettings) -> Self {
        Self {
            settings,
            client: OnceCell::new(),
        }
    }

    /// The table of `settings` over an already built client.
    pub fn with_client(settings: StateSettings, client: Client) -> Self {
        Self {
            settings,
            client: OnceCell::new_with(Some(client)),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &StateSettings {
        &self.settings
    }

    /// The client, built on first use from the standard AWS configuration.
    pub async fn client(&self) -> &Client {
        self.client.get_or_init(default_client).await
    }

    async fn get(&self, pk: &str) -> Result<Option<Item>, StateError> {
        let got = self
            .client()
            .await
            .get_item()
            .table_name(&self.settings.table)
            .key(PK, s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| service_error("GetItem", e))?;
        Ok(got.item)
    }

    /// One conditional put of a claim with a fresh token: the token, and on a
    /// failed condition the item found (when DynamoDB returned it).
    async fn try_claim(
        &self,
        pk: &str,
        now: SystemTime,
    ) -> Result<(ClaimToken, Result<(), Option<Item>>), StateError> {
        let now_s = epoch_seconds(now);
        let token = ClaimToken::new();
        let stale_before = now_s.saturating_sub(self.settings.stale_after.as_secs());
        let put = self
            .client()
            .await
            .put_item()
            .table_name(&self.settings.table)
            .item(PK, s(pk))
            .item("kind", s("claim"))
            .item("state", s("claimed"))
            .item("token", s(&token.0))
            .item("claimed_at", n(now_s))
            .item(EXPIRES_AT, n(later(now, self.settings.claim_ttl)))
            .condition_expression(
                "attribute_not_exists(#pk) OR #exp <= :now OR (#state = :claimed AND #claimed_at <= :stale_before)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#claimed_at", "claimed_at")
            .expression_attribute_values(":now", n(now_s))
            .expression_attribute_values(":claimed", s("claimed"))
            .expression_attribute_values(":stale_before", n(stale_before))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(_) => Ok((token, Ok(()))),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => {
                    let old = match se {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                            c.item().cloned()
                        }
                        _ => None,
                    };
                    Ok((token, Err(old)))
                }
                _ => Err(service_error("PutItem", e)),
            },
        }
    }
}

/// A DynamoDB client from the standard AWS configuration.
pub async fn default_client() -> Client {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Client::new(&config)
}

/// Runs `call` unless `deadline` has passed, and gives up when it comes.
pub(crate) async fn bounded<T>(
    operation: &'static str,
    deadline: Instant,
    call: impl Future<Output = Result<T, StateError>>,
) -> Result<T, StateError> {
    if Instant::now() >= deadline {
        return Err(StateError::Deadline { operation });
    }
    tokio::time::timeout_at(deadline, call)
        .await
        .unwrap_or(Err(StateError::Deadline { operation }))
}

impl State for DynamoDbState {
    async fn claim(
        &self,
        message_id: &str,
        destination: &str,
        now: SystemTime,
        deadline: Instant,
    ) -> Result<Claim, StateError> {
        let pk = claim_pk(destination, message_id);
        bounded("PutItem", deadline, async {
            // Twice at most: a claim released between the failed put and the
            // read leaves nothing to read, and the next put may win.
            for _ in 0..2 {
                let (token, old) = match self.try_claim(&pk, now).await? {
                    (token, Ok(())) => return Ok(Claim::Won(token)),
                    (token, Err(Some(old))) => (token, Some(old)),
                    (token, Err(None)) => (token, self.get(&pk).await?),
                };
                if let Some(old) = old {
                    // The SDK retried a put whose answer was lost, and the
                    // first try had written the claim: it is ours.
                    if text(&old, "token") == Some(token.0.as_str())
                        && text(&old, "state") == Some("claimed")
                    {
                        return Ok(Claim::Won(token));
                    }
                    if text(&old, "state") == Some("posted") {
                        return Ok(Claim::Posted);
                    }
                    let claimed_at = number(&old, "claimed_at").unwrap_or(0);
                    return Ok(Claim::Busy {
                        stale_at: claimed_at.saturating_add(self.settings.stale_after.as_secs()),
                    });
                }
            }
            Ok(Claim::Busy {
                stale_at: epoch_seconds(now),
            })
        })
        .await
    }

    async fn mark_posted(
        &self,
        message_id: &str,
        destination: &str,
        now: SystemTime,
        deadline: Instant,
    ) -> Result<(), StateError> {
        let pk = claim_pk(destination, message_id);
        bounded("UpdateItem", deadline, async {
            self.client()
                .await
                .update_item()
                .table_name(&self.settings.table)
                .key(PK, s(&pk))
                .update_expression(
                    "SET #kind = :kind, #state = :posted, #posted_at = :now, #exp = :exp",
                )
                .expression_attribute_names("#kind", "kind")
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#posted_at", "posted_at")
                .expression_attribute_names("#exp", EXPIRES_AT)
                .expression_attribute_values(":kind", s("claim"))
                .expression_attribute_values(":posted", s("posted"))
                .expression_attribute_values(":now", n(epoch_seconds(now)))
                .expression_attribute_values(":exp", n(later(now, self.settings.claim_ttl)))
                .send()
                .await
                .map_err(|e| service_error("UpdateItem", e))?;
            Ok(())
        })
        .await
    }

    async fn release(
        &self,
        message_id: &str,
        destination: &str,
        token: &ClaimToken,
        deadline: Instant,
    ) -> Result<(), StateError> {
        let pk = claim_pk(destination, message_id);
        bounded("DeleteItem", deadline, async {
            let deleted = self
                .client()
                .await
                .delete_item()
                .table_name(&self.settings.table)
                .key(PK, s(&pk))
                .condition_expression("#state = :claimed AND #token = :token")
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#token", "token")
                .expression_attribute_values(":claimed", s("claimed"))
                .expression_attribute_values(":token", s(&token.0))
                .send()
                .await;
            match deleted {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
                {
                    Ok(())
                }
                Err(e) => Err(service_error("DeleteItem", e)),
            }
        })
        .await
    }

    async fn thread(
        &self,
        destination: &str,
        thread_key: &str,
        deadline: Instant,
    ) -> Result<Option<Thread>, StateError> {
        let pk = thread_pk(destination, thread_key);
        bounded("GetItem", deadline, async {
            match self.get(&pk).await? {
                None => Ok(None),
                Some(item) => decode_thread(&pk, &item).map(Some),
            }
        })
        .await
    }

    async fn save_thread(
        &self,
        destination: &str,
        thread_key: &str,
        thread: &Thread,
        now: SystemTime,
        deadline: Instant,
    ) -> Result<u64, StateError> {
        let pk = thread_pk(destination, thread_key);
        let version = thread.version.saturating_add(1);
        bounded("PutItem", deadline, async {
            let mut put = self
                .client()
                .await
                .put_item()
                .table_name(&self.settings.table)
                .set_item(Some(encode_thread(
                    &pk,
                    thread,
                    version,
                    thread.expires_at(self.settings.thread_ttl),
                )))
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#version", "version");
            put = if thread.version == 0 {
                put.condition_expression(
                    "attribute_not_exists(#pk) OR (#exp <= :now AND attribute_exists(#version))",
                )
                .expression_attribute_names("#exp", EXPIRES_AT)
                .expression_attribute_values(":now", n(epoch_seconds(now)))
            } else {
                put.condition_expression("attribute_exists(#pk) AND #version = :read")
                    .expression_attribute_values(":read", n(thread.version))
            };
            match put.send().await {
                Ok(_) => Ok(version),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
                {
                    Err(StateError::Conflict { pk: pk.clone() })
                }
                Err(e) => Err(service_error("PutItem", e)),
            }
        })
        .await
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// The item of `thread`, saved as `version`, expiring at `expires_at`.
fn encode_thread(pk: &str, thread: &Thread, version: u64, expires_at: u64) -> Item {
    let transitions = thread
        .transitions
        .iter()
        .map(|t| {
            AttributeValue::M(HashMap::from([
                ("status".to_string(), s(&t.status)),
                ("tone".to_string(), s(tone_code(t.tone))),
                ("at".to_string(), n(t.at)),
            ]))
        })
        .collect();
    HashMap::from([
        (PK.to_string(), s(pk)),
        ("kind".to_string(), s("thread")),
        ("channel".to_string(), s(&thread.channel)),
        ("ts".to_string(), s(&thread.ts)),
        ("created_at".to_string(), n(thread.created_at)),
        ("transitions".to_string(), AttributeValue::L(transitions)),
        ("version".to_string(), n(version)),
        (EXPIRES_AT.to_string(), n(expires_at)),
    ])
}

/// The thread an item holds, or what is wrong with it.
fn decode_thread(pk: &str, item: &Item) -> Result<Thread, StateError> {
    let malformed = |problem: &str| StateError::Malformed {
        pk: pk.to_string(),
        problem: problem.to_string(),
    };
    let required = |name: &str| {
        text(item, name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| malformed(&format!("no {name}")))
    };
    if text(item, "kind") != Some("thread") {
        return Err(malformed("not a thread item"));
    }
    let mut transitions = Vec::new();
    if let Some(list) = item.get("transitions") {
        let list = list
            .as_l()
            .map_err(|_| malformed("transitions is not a list"))?;
        for entry in list {
            let entry = entry
                .as_m()
                .map_err(|_| malformed("a transition is not a map"))?;
            transitions.push(Transition {
                status: text(entry, "status")
                    .ok_or_else(|| malformed("a transition has no status"))?
                    .to_string(),
                tone: tone_from_code(text(entry, "tone").unwrap_or_default()),
                at: number(entry, "at").ok_or_else(|| malformed("a transition has no time"))?,
            });
        }
    }
    Ok(Thread {
        channel: required("channel")?.to_string(),
        ts: required("ts")?.to_string(),
        created_at: number(item, "created_at").ok_or_else(|| malformed("no created_at"))?,
        transitions,
        version: number(item, "version").ok_or_else(|| malformed("no version"))?,
    })
}

/// An SDK error as a [`StateError::Service`], retryable when DynamoDB or
/// the network may get past it (throttling, 5xx, timeouts, dispatch
/// failures) and not when the request itself is wrong (no such table, access
/// denied, a validation error).
pub(crate) fn service_error<E, R>(operation: &'static str, e: SdkError<E, R>) -> StateError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let retryable = match &e {
        SdkError::ConstructionFailure(_) => false,
        SdkError::ServiceError(se) => {
            matches!(
                se.err().code(),
                Some(
                    "ProvisionedThroughputExceededException"
                        | "ThrottlingException"
                        | "RequestLimitExceeded"
                        | "InternalServerError"
                        | "ServiceUnavailable"
                        | "TransactionConflictException"
                        | "LimitExceededException"
                )
            )
        }
        _ => true,
    };
    StateError::Service {
        operation,
        kind: if retryable { RETRYABLE } else { NOT_RETRYABLE },
        detail: DisplayErrorContext(&e).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::Tone;

    #[test]
    fn a_thread_item_round_trips() {
        let thread = Thread {
            channel: "C0123ABCD".into(),
            ts: "1790416800.000100".into(),
            created_at: 1_790_416_800,
            transitions: vec![
                Transition {
                    status: "ALARM".into(),
                    tone: Tone::Danger,
                    at: 1_790_416_700,
                },
                Transition {
                    status: "OK".into(),
                    tone: Tone::Good,
                    at: 1_790_417_500,
                },
            ],
            version: 3,
        };
        let item = encode_thread("thread#ops#k", &thread, 4, 1_791_021_600);
        assert_eq!(number(&item, EXPIRES_AT), Some(1_791_021_600));
        assert_eq!(text(&item, PK), Some("thread#ops#k"));
        let back = decode_thread("thread#ops#k", &item).unwrap();
        assert_eq!(
            back,
            Thread {
                version: 4,
                ..thread
            }
        );
    }

    #[test]
    fn a_malformed_item_is_named_not_trusted() {
        let mut item = encode_thread(
            "thread#ops#k",
            &Thread {
                channel: "C1".into(),
                ts: "1.2".into(),
                created_at: 1,
                transitions: vec![],
                version: 0,
            },
            1,
            2,
        );
        item.insert("ts".into(), s(""));
        let err = decode_thread("thread#ops#k", &item).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the state item thread#ops#k is malformed: no ts"
        );
        assert!(!err.is_retryable());
        item.insert("kind".into(), s("claim"));
        assert!(decode_thread("thread#ops#k", &item).is_err());
    }
}
