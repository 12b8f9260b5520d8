//! Dead letters read from the JSON-lines file of `send`: lines whose records
//! all posted are removed; the rest are kept, unchanged and in order.
//!
//! The file is read, and at the end rewritten, under the lock that `send`'s
//! appends take ([`crate::dead_letter::file::lock`]); the lock is not held
//! while posting, so `send` is never kept waiting for Slack. The rewrite keeps
//! whatever was appended since the file was read, and is written beside the
//! file, fsynced, renamed over it, and the directory fsynced.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Source, SourceError, StoredLetter};
use crate::dead_letter::file::{lock, sync_dir};

/// A JSON-lines dead-letter file as a redrive source.
pub struct FileSource {
    path: PathBuf,
    /// The file's text when it was read.
    snapshot: String,
    lines: Vec<String>,
    next: usize,
    deleted: BTreeSet<usize>,
    rewrite: bool,
}

impl FileSource {
    /// Reads the whole file. With `rewrite` false (a dry run) the file is never
    /// changed.
    pub fn open(path: impl Into<PathBuf>, rewrite: bool) -> Result<Self, SourceError> {
        let path = path.into();
        let cannot =
            |e: std::io::Error| SourceError(format!("cannot read {}: {e}", path.display()));
        // Locked so that no half-written append is read. A dry run that cannot
        // create the lock file (a read-only directory) reads without it.
        let text = {
            let _lock = match lock(&path) {
                Ok(held) => Some(held),
                Err(_) if !rewrite => None,
                Err(e) => return Err(cannot(e)),
            };
            std::fs::read_to_string(&path).map_err(cannot)?
        };
        Ok(Self {
            lines: text.lines().map(str::to_string).collect(),
            snapshot: text,
            path,
            next: 0,
            deleted: BTreeSet::new(),
            rewrite,
        })
    }
}

impl Source for FileSource {
    async fn receive(&mut self, max: usize) -> Result<Vec<StoredLetter>, SourceError> {
        let mut out = Vec::new();
        while out.len() < max && self.next < self.lines.len() {
            let i = self.next;
            self.next += 1;
            if self.lines[i].trim().is_empty() {
                continue;
            }
            out.push(StoredLetter {
                id: format!("line {}", i + 1),
                body: self.lines[i].clone(),
            });
        }
        Ok(out)
    }

    async fn delete(&mut self, id: &str) -> Result<(), SourceError> {
        let line: usize = id
            .strip_prefix("line ")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| SourceError(format!("no such message: {id}")))?;
        self.deleted.insert(line - 1);
        Ok(())
    }

    async fn release(&mut self) -> Result<(), SourceError> {
        if !self.rewrite || self.deleted.is_empty() {
            return Ok(());
        }
        let mut kept = String::new();
        for (i, line) in self.lines.iter().enumerate() {
            if !self.deleted.contains(&i) && !line.trim().is_empty() {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        rewrite(&self.path, &self.snapshot, kept).map_err(|e| {
            SourceError(format!(
                "cannot rewrite {} (nothing was removed; the records posted will post again on the next redrive): {e}",
                self.path.display()
            ))
        })
    }

    async fn approximate_len(&mut self) -> Option<u64> {
        let left = (0..self.lines.len())
            .filter(|i| !self.deleted.contains(i) && !self.lines[*i].trim().is_empty())
            .count();
        Some(left as u64)
    }
}

/// Replaces the file at `path`, read as `snapshot`, by `kept` plus whatever
/// was appended to it since, under the file's lock. Refuses when the file no
/// longer starts with `snapshot` (another redrive rewrote it meanwhile).
fn rewrite(path: &Path, snapshot: &str, mut kept: String) -> std::io::Result<()> {
    let _lock = lock(path)?;
    let now = std::fs::read_to_string(path)?;
    let Some(appended) = now.strip_prefix(snapshot) else {
        return Err(std::io::Error::other(
            "it changed since it was read, other than by appends (another redrive?)",
        ));
    };
    if !kept.is_empty() && !kept.ends_with('\n') {
        kept.push('\n');
    }
    kept.push_str(appended);
    // Write beside, flush, then rename: a crash leaves the old file or the new
    // one, never half of one, and the rename itself is made durable.
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".redrive-tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(kept.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    sync_dir(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dead_letter::file::FileDeadLetter;
    use crate::dead_letter::{DeadLetter, Envelope};
    use crate::outcome::Reason;
    use serde_json::value::RawValue;

    fn envelope(id: &str) -> Envelope {
        Envelope {
            record: RawValue::from_string(format!(r#"{{"Sns":{{"MessageId":"{id}"}}}}"#)).unwrap(),
            reason: Reason::ServerError,
            status: Some(500),
            detail: "d".into(),
            attempts: 1,
            first_attempt_at: None,
            last_attempt_at: None,
            message_id: id.into(),
            webhook: None,
            history: Vec::new(),
            version: 1,
        }
    }

    fn ids(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Envelope>(l).unwrap().message_id)
            .collect()
    }

    #[tokio::test]
    async fn envelopes_appended_while_a_redrive_runs_are_kept() {
        // Finding 6: the rewrite came from the snapshot and dropped them.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead-letters.jsonl");
        let sink = FileDeadLetter::new(&path);
        sink.store(&[envelope("a"), envelope("b")]).await.unwrap();

        let mut source = FileSource::open(&path, true).unwrap();
        let got = source.receive(10).await.unwrap();
        assert_eq!(got.len(), 2);
        // `send` dead-letters another record while the redrive posts.
        let appending = tokio::spawn(async move { sink.store(&[envelope("c")]).await });
        appending.await.unwrap().unwrap();
        source.delete(&got[0].id).await.unwrap();
        source.release().await.unwrap();

        assert_eq!(ids(&path), ["b", "c"]);
        assert!(!dir.path().join("dead-letters.jsonl.redrive-tmp").exists());
    }

    #[tokio::test]
    async fn a_rewrite_by_someone_else_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead-letters.jsonl");
        let sink = FileDeadLetter::new(&path);
        sink.store(&[envelope("a"), envelope("b")]).await.unwrap();
        let mut first = FileSource::open(&path, true).unwrap();
        let mut second = FileSource::open(&path, true).unwrap();
        let a = first.receive(1).await.unwrap();
        first.delete(&a[0].id).await.unwrap();
        first.release().await.unwrap();
        let both = second.receive(10).await.unwrap();
        second.delete(&both[1].id).await.unwrap();
        let err = second.release().await.unwrap_err();
        assert!(
            err.to_string().contains("changed since it was read"),
            "{err}"
        );
        assert_eq!(ids(&path), ["b"]);
    }
}
