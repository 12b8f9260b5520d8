//! Dead letters read from an SQS queue: long-polled batches, deleted once
//! posted, and made visible again at the end when they were not.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, QueueAttributeName};

use super::{Source, SourceError, StoredLetter};

/// An SQS queue as a redrive source.
pub struct SqsSource {
    client: Client,
    queue_url: String,
    wait: Duration,
    visibility: Duration,
    /// MessageId -> latest receipt handle, for messages handed out and not deleted.
    held: HashMap<String, String>,
}

impl SqsSource {
    /// Reads `queue_url`, long-polling `wait` per receive, keeping received
    /// messages invisible to others for `visibility` while the run lasts.
    pub fn new(
        client: Client,
        queue_url: impl Into<String>,
        wait: Duration,
        visibility: Duration,
    ) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            wait,
            visibility,
            held: HashMap::new(),
        }
    }
}

fn sqs_error(what: &str, e: impl std::error::Error) -> SourceError {
    SourceError(format!("{what} failed: {}", DisplayErrorContext(e)))
}

impl Source for SqsSource {
    async fn receive(&mut self, max: usize) -> Result<Vec<StoredLetter>, SourceError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(self.wait.as_secs().min(20) as i32)
            .visibility_timeout(self.visibility.as_secs().min(43_200) as i32)
            .send()
            .await
            .map_err(|e| sqs_error("ReceiveMessage", e))?;
        let mut fresh = Vec::new();
        for m in out.messages() {
            let (Some(id), Some(handle)) = (m.message_id(), m.receipt_handle()) else {
                continue;
            };
            // A message seen before came back (its visibility ran out): keep its
            // newest handle so it can still be released, but do not post it twice.
            let seen = self
                .held
                .insert(id.to_string(), handle.to_string())
                .is_some();
            if !seen {
                fresh.push(StoredLetter {
                    id: id.to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                });
            }
        }
        Ok(fresh)
    }

    async fn delete(&mut self, id: &str) -> Result<(), SourceError> {
        let Some(handle) = self.held.get(id) else {
            return Ok(());
        };
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(handle)
            .send()
            .await
            .map_err(|e| sqs_error("DeleteMessage", e))?;
        self.held.remove(id);
        Ok(())
    }

    async fn release(&mut self) -> Result<(), SourceError> {
        let held: Vec<(String, String)> = self.held.drain().collect();
        let mut failed = 0;
        for chunk in held.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, (_, handle))| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .visibility_timeout(0)
                        .build()
                        .expect("id and handle are set")
                })
                .collect();
            match self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => failed += out.failed().len(),
                Err(_) => failed += chunk.len(),
            }
        }
        if failed > 0 {
            // Not lost: they become visible again when their visibility timeout ends.
            return Err(SourceError(format!(
                "{failed} kept messages could not be made visible again now; they reappear after the visibility timeout"
            )));
        }
        Ok(())
    }

    async fn approximate_len(&mut self) -> Option<u64> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .ok()?;
        out.attributes()?
            .get(&QueueAttributeName::ApproximateNumberOfMessages)?
            .parse()
            .ok()
    }
}
