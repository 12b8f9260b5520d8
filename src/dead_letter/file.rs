//! JSON-lines dead-letter file: the local default of `sns-to-slack send`.
//!
//! Each envelope is one line, appended; the file is created when first needed
//! and flushed to disk before `store` returns. A record's insignificant line
//! breaks are dropped so that each envelope stays on one line.
//!
//! Appends and `redrive --file`'s rewrite take the same advisory lock
//! ([`lock`]), so an envelope appended while a redrive runs is never lost.
//! The lock is held on a sidecar file, `<path>.lock`, not on the data file:
//! the rewrite replaces the data file by a rename, and a lock on the replaced
//! file would no longer exclude anyone. Advisory means that only processes
//! that take it (every `send` and `redrive` of this tool) are excluded.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{DeadLetter, DeadLetterError, Envelope};

/// An exclusive advisory lock on a dead-letter file, held until dropped.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

/// The sidecar file whose lock guards the dead-letter file at `path`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the exclusive lock of the dead-letter file at `path`, waiting for
/// whoever holds it (a blocking call: run it off the async runtime). The lock
/// file is created when missing and left in place afterwards.
pub fn lock(path: &Path) -> std::io::Result<FileLock> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(path))?;
    file.lock()?;
    Ok(FileLock { _file: file })
}

/// Flushes the directory holding `path`, so that a file created or renamed in
/// it survives a crash.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Appends envelopes to a JSON-lines file.
pub struct FileDeadLetter {
    path: PathBuf,
}

impl FileDeadLetter {
    /// A dead-letter file at `path` (created on first use).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where the envelopes go.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn append(&self, text: String) -> std::io::Result<()> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let _lock = lock(&path)?;
            let existed = path.exists();
            let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
            file.write_all(text.as_bytes())?;
            file.sync_data()?;
            if !existed {
                sync_dir(&path)?;
            }
            Ok(())
        })
        .await
        .map_err(std::io::Error::other)?
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
        self.append(text).await.map_err(|e| DeadLetterError {
            unsent: (0..envelopes.len()).collect(),
            total: envelopes.len(),
            cause: format!("cannot append to {}: {e}", self.path.display()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Reason;
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
            history: Vec::new(),
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
    async fn an_append_waits_for_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dl.jsonl");
        let held = lock(&path).unwrap();
        let sink = std::sync::Arc::new(FileDeadLetter::new(&path));
        let store = tokio::spawn({
            let sink = sink.clone();
            async move { sink.store(&[envelope("a")]).await }
        });
        // However long we look, nothing is written while the lock is held.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!store.is_finished());
        assert!(!path.exists());
        drop(held);
        store.await.unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
        assert!(lock_path(&path).ends_with("dl.jsonl.lock"));
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
