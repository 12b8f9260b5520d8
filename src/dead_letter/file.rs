//! JSON-lines dead-letter file: the local default of `sns-to-slack send`.
//!
//! Each envelope is one line, appended; the file is created when first needed
//! and flushed to disk before `store` returns. A record's insignificant line
//! breaks are dropped so that each envelope stays on one line.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use super::{DeadLetter, DeadLetterError, Envelope};

/// Appends envelopes to a JSON-lines file.
pub struct FileDeadLetter {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileDeadLetter {
    /// A dead-letter file at `path` (created on first use).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// Where the envelopes go.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn append(&self, text: &str) -> std::io::Result<()> {
        let _guard = self.lock.lock().await;
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await?;
        file.write_all(text.as_bytes()).await?;
        file.sync_data().await
    }
}

impl DeadLetter for FileDeadLetter {
    async fn store(&self, envelopes: &[Envelope]) -> Result<(), DeadLetterError> {
        if envelopes.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for envelope in envelopes {
            // A record kept verbatim may be pretty-printed. JSON strings cannot hold
            // a raw line break, so the ones in the text are whitespace between tokens:
            // dropping them keeps one envelope per line without changing its meaning.
            text.extend(
                envelope
                    .to_json()
                    .chars()
                    .filter(|c| !matches!(c, '\n' | '\r')),
            );
            text.push('\n');
        }
        self.append(&text).await.map_err(|e| DeadLetterError {
            unsent: (0..envelopes.len()).collect(),
            total: envelopes.len(),
            cause: format!("cannot append to {}: {e}", self.path.display()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::policy::Reason;
    use serde_json::value::RawValue;

    fn envelope(id: &str) -> Envelope {
        Envelope {
            record: RawValue::from_string(format!(
                "{{\n  \"Sns\": {{\"MessageId\": \"{id}\", \"Message\": \"a\\nb\"}}\r\n}}"
            ))
            .unwrap(),
            reason: Reason::Deadline,
            status: None,
            detail: "d".into(),
            attempts: 0,
            first_attempt_at: None,
            last_attempt_at: None,
            message_id: id.into(),
            webhook: None,
            version: 1,
        }
    }

    #[tokio::test]
    async fn appends_one_line_per_envelope() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileDeadLetter::new(dir.path().join("dl.jsonl"));
        sink.store(&[envelope("a"), envelope("b")]).await.unwrap();
        sink.store(&[envelope("c")]).await.unwrap();
        let text = std::fs::read_to_string(sink.path()).unwrap();
        let ids: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<Envelope>(l).unwrap().message_id)
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn an_unwritable_path_is_an_error_naming_it() {
        let sink = FileDeadLetter::new("/nonexistent-dir/dl.jsonl");
        let err = sink.store(&[envelope("a")]).await.unwrap_err();
        assert_eq!(err.unsent, [0]);
        assert!(
            err.to_string().contains("/nonexistent-dir/dl.jsonl"),
            "{err}"
        );
    }
}
