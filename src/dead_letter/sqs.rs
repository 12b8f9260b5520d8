//! SQS dead-letter adapter: `SendMessageBatch` in batches of at most 10 entries
//! and 1 MiB, a client built only when something must be dead-lettered, and
//! failed entries classified: an entry SQS refuses as the sender's fault
//! (`SenderFault: true`, e.g. `InvalidMessageContents`) or one larger than a
//! message may be is not sent again, since the same bytes would be refused
//! again; other failures (SQS's own, or the whole call) are retried within the
//! call, up to three rounds. Either way, what was not stored is reported in
//! the [`DeadLetterError`], so the invocation fails and nothing is dropped
//! silently.
//!
//! The SDK finds its endpoint the standard way (`AWS_ENDPOINT_URL_SQS`,
//! `AWS_ENDPOINT_URL`, or the queue's region), so tests point it at
//! `moto_server` without code of ours.

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use tokio::sync::OnceCell;

use super::{DeadLetter, DeadLetterError, Envelope};

/// Most entries in one `SendMessageBatch`.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Most bytes in one batch, and in one message (SQS's limit).
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Rounds of sending before the entries still failing are given up on.
const ROUNDS: u32 = 3;

/// Sends envelopes to one SQS queue.
pub struct SqsDeadLetter {
    queue_url: String,
    client: OnceCell<Client>,
}

impl SqsDeadLetter {
    /// A dead-letter queue at `queue_url`; no AWS work is done until the first
    /// envelope is stored.
    pub fn new(queue_url: impl Into<String>) -> Self {
        Self {
            queue_url: queue_url.into(),
            client: OnceCell::new(),
        }
    }

    /// A dead-letter queue that uses an already built client.
    pub fn with_client(queue_url: impl Into<String>, client: Client) -> Self {
        Self {
            queue_url: queue_url.into(),
            client: OnceCell::new_with(Some(client)),
        }
    }

    /// The queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// The SQS client, built on first use from the standard AWS configuration.
    pub async fn client(&self) -> &Client {
        self.client.get_or_init(default_client).await
    }

    /// Sends one batch (entries: index into the caller's list, body, reason)
    /// and sorts what failed into retryable and refused. The bodies are moved
    /// into the request, not copied.
    async fn send_batch(&self, batch: Vec<(usize, String, &str)>) -> BatchFailures {
        let indices: Vec<usize> = batch.iter().map(|(i, ..)| *i).collect();
        let entries: Vec<SendMessageBatchRequestEntry> = batch
            .into_iter()
            .enumerate()
            .map(|(i, (_, body, reason))| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .message_attributes(
                        "reason",
                        MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value(reason)
                            .build()
                            .expect("data type is set"),
                    )
                    .build()
                    .expect("id and body are set")
            })
            .collect();
        let sent = self
            .client()
            .await
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        let mut failures = BatchFailures::default();
        match sent {
            Err(e) => {
                failures.retry = indices;
                failures.cause = Some(format!(
                    "SendMessageBatch failed: {}",
                    DisplayErrorContext(&e)
                ));
            }
            Ok(out) => {
                for f in out.failed() {
                    let Some(index) = f.id().parse::<usize>().ok().and_then(|i| indices.get(i))
                    else {
                        continue;
                    };
                    let why = format!(
                        "SQS refused an entry: {} {}",
                        f.code(),
                        f.message().unwrap_or_default()
                    );
                    if f.sender_fault() {
                        failures.refused.push((*index, why));
                    } else {
                        failures.retry.push(*index);
                        failures.cause = Some(why);
                    }
                }
            }
        }
        failures
    }
}

/// The entries of one `SendMessageBatch` that were not stored.
#[derive(Debug, Default)]
struct BatchFailures {
    /// Entries worth sending again (SQS's fault, or the call failed).
    retry: Vec<usize>,
    /// Entries refused as the sender's fault, with SQS's reason: not resent.
    refused: Vec<(usize, String)>,
    /// The last retryable error seen.
    cause: Option<String>,
}

/// An SQS client from the standard AWS configuration (environment, profile,
/// container or instance credentials; `AWS_ENDPOINT_URL_SQS` for local tests).
pub async fn default_client() -> Client {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Client::new(&config)
}

/// Groups message sizes into batches of at most [`MAX_BATCH_ENTRIES`] entries
/// and [`MAX_BATCH_BYTES`] bytes, keeping order. A message larger than the limit
/// on its own is returned in `too_large` instead.
pub fn plan_batches(sizes: &[usize]) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut too_large = Vec::new();
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        if size > MAX_BATCH_BYTES {
            too_large.push(i);
            continue;
        }
        match batches.last_mut() {
            Some(batch) if batch.len() < MAX_BATCH_ENTRIES && bytes + size <= MAX_BATCH_BYTES => {
                batch.push(i);
                bytes += size;
            }
            _ => {
                batches.push(vec![i]);
                bytes = size;
            }
        }
    }
    (batches, too_large)
}

/// Bytes SQS counts for one message: body plus the `reason` attribute.
fn message_size(body: &str, reason: &str) -> usize {
    body.len() + "reason".len() + "String".len() + reason.len()
}

impl DeadLetter for SqsDeadLetter {
    fn batch_size(&self) -> usize {
        MAX_BATCH_ENTRIES
    }

    async fn store(&self, envelopes: &[Envelope]) -> Result<(), DeadLetterError> {
        // Each envelope serialized once; a body moves into its first request,
        // and only an entry sent again is serialized again.
        let mut bodies: Vec<Option<String>> = envelopes.iter().map(|e| Some(e.to_json())).collect();
        let sizes: Vec<usize> = envelopes
            .iter()
            .zip(&bodies)
            .map(|(e, b)| message_size(b.as_deref().unwrap_or_default(), e.reason.as_str()))
            .collect();
        let mut pending: Vec<usize> = (0..envelopes.len()).collect();
        // Entries that sending again cannot help: (index, why).
        let mut refused: Vec<(usize, String)> = Vec::new();
        let mut cause = String::new();
        for round in 0..ROUNDS {
            if pending.is_empty() {
                break;
            }
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(100 << round)).await;
            }
            let pending_sizes: Vec<usize> = pending.iter().map(|&i| sizes[i]).collect();
            let (batches, too_large) = plan_batches(&pending_sizes);
            refused.extend(too_large.iter().map(|&k| {
                let i = pending[k];
                let why = format!(
                    "a dead letter of {} bytes is larger than SQS's {MAX_BATCH_BYTES}-byte message limit",
                    pending_sizes[k]
                );
                (i, why)
            }));
            let mut still_failing: Vec<usize> = Vec::new();
            for batch in batches {
                let entries: Vec<(usize, String, &str)> = batch
                    .iter()
                    .map(|&k| {
                        let i = pending[k];
                        let body = bodies[i].take().unwrap_or_else(|| envelopes[i].to_json());
                        (i, body, envelopes[i].reason.as_str())
                    })
                    .collect();
                let failures = self.send_batch(entries).await;
                if let Some(why) = failures.cause {
                    cause = why;
                }
                still_failing.extend(failures.retry);
                refused.extend(failures.refused);
            }
            still_failing.sort_unstable();
            pending = still_failing;
        }
        if pending.is_empty() && refused.is_empty() {
            return Ok(());
        }
        // The refused are named first: they need a person, not another try.
        refused.sort_unstable();
        let mut causes: Vec<String> = refused
            .iter()
            .map(|(i, why)| format!("{} ({why})", describe(&envelopes[*i])))
            .collect();
        if !pending.is_empty() {
            causes.push(cause);
        }
        let mut unsent: Vec<usize> = pending;
        unsent.extend(refused.iter().map(|(i, _)| *i));
        unsent.sort_unstable();
        Err(DeadLetterError {
            unsent,
            total: envelopes.len(),
            cause: causes.join("; "),
        })
    }
}

/// Names an envelope in an error: its SNS message id, or that it has none.
fn describe(envelope: &Envelope) -> String {
    if envelope.message_id.is_empty() {
        "a record without a message id".to_string()
    } else {
        format!("record {}", envelope.message_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_at_most_ten_entries() {
        let (batches, too_large) = plan_batches(&[10; 25]);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [10, 10, 5]
        );
        assert!(too_large.is_empty());
        assert_eq!(batches.concat(), (0..25).collect::<Vec<_>>());
    }

    #[test]
    fn batches_hold_at_most_one_mebibyte() {
        let big = 300 * 1024;
        let (batches, _) = plan_batches(&[big, big, big, big, 10]);
        assert_eq!(batches, vec![vec![0, 1, 2], vec![3, 4]]);
        for b in &batches {
            assert!(b.iter().map(|_| big).sum::<usize>() <= MAX_BATCH_BYTES);
        }
    }

    #[test]
    fn an_oversized_message_is_set_apart() {
        let (batches, too_large) = plan_batches(&[5, MAX_BATCH_BYTES + 1, 5]);
        assert_eq!(batches, vec![vec![0, 2]]);
        assert_eq!(too_large, vec![1]);
    }
}
