//! Dead letters read from the JSON-lines file of `send`: lines whose records
//! all posted are removed; the rest are kept, unchanged and in order.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::{Message, Source, SourceError};

/// A JSON-lines dead-letter file as a redrive source.
pub struct FileSource {
    path: PathBuf,
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
        let text = std::fs::read_to_string(&path)
            .map_err(|e| SourceError(format!("cannot read {}: {e}", path.display())))?;
        Ok(Self {
            path,
            lines: text.lines().map(str::to_string).collect(),
            next: 0,
            deleted: BTreeSet::new(),
            rewrite,
        })
    }
}

impl Source for FileSource {
    async fn receive(&mut self, max: usize) -> Result<Vec<Message>, SourceError> {
        let mut out = Vec::new();
        while out.len() < max && self.next < self.lines.len() {
            let i = self.next;
            self.next += 1;
            if self.lines[i].trim().is_empty() {
                continue;
            }
            out.push(Message {
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
        // Write beside, then rename: a crash leaves the old file or the new one,
        // never half of one.
        let tmp = self.path.with_extension("jsonl.redrive-tmp");
        std::fs::write(&tmp, kept)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| SourceError(format!("cannot rewrite {}: {e}", self.path.display())))
    }

    async fn approximate_len(&mut self) -> Option<u64> {
        let left = (0..self.lines.len())
            .filter(|i| !self.deleted.contains(i) && !self.lines[*i].trim().is_empty())
            .count();
        Some(left as u64)
    }
}
