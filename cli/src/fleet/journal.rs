//! The local state of a fleet: `.db-migrate/fleets/NAME.jsonl`, one line per finished target.
//!
//! Appending a line is the only write during a run, so a coordinator killed at any moment
//! leaves at worst one torn last line, which reading skips; the last line of a target wins.
//! Targets are named as they are shown (no secrets), never by URL.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One finished target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The target's name.
    pub target: String,
    /// What the run aimed at (see `rollout::goal`): a done entry counts only for the same goal.
    pub goal: String,
    /// `done` or `failed`.
    pub state: String,
    /// When, RFC 3339 UTC.
    pub at: String,
}

/// The journal of one fleet.
pub struct Journal {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl Journal {
    /// The journal of `fleet` in `project`.
    pub fn new(project: &Path, fleet: &str) -> Self {
        Journal { path: project.join(".db-migrate").join("fleets").join(format!("{fleet}.jsonl")), file: None }
    }

    /// The last entry of each target (a torn or foreign line is skipped).
    pub fn read(&self) -> HashMap<String, Entry> {
        let Ok(text) = std::fs::read_to_string(&self.path) else { return HashMap::new() };
        let mut out = HashMap::new();
        for line in text.lines() {
            if let Ok(e) = serde_json::from_str::<Entry>(line) {
                out.insert(e.target.clone(), e);
            }
        }
        out
    }

    /// Appends one entry, durably enough for a rerun: written in one call, flushed.
    pub fn append(&mut self, e: &Entry) -> std::io::Result<()> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            self.file = Some(std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?);
        }
        let mut line = serde_json::to_string(e).map_err(std::io::Error::other)?;
        line.push('\n');
        let f = self.file.as_mut().expect("opened above");
        f.write_all(line.as_bytes())?;
        f.flush()
    }

    /// Rewrites the file with one line per target (after a run), through a temporary file and a
    /// rename, so it never grows without bound and is never half-written.
    pub fn compact(&mut self) -> std::io::Result<()> {
        self.file = None;
        let entries = self.read();
        let mut list: Vec<&Entry> = entries.values().collect();
        list.sort_by(|a, b| a.target.cmp(&b.target));
        let tmp = self.path.with_extension("jsonl.tmp");
        let mut text = String::new();
        for e in list {
            text.push_str(&serde_json::to_string(e).map_err(std::io::Error::other)?);
            text.push('\n');
        }
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.path)
    }

    /// Where it lives, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_entry_wins_and_a_torn_line_is_skipped() {
        let d = tempfile::tempdir().unwrap();
        let mut j = Journal::new(d.path(), "f");
        let e = |t: &str, s: &str| Entry { target: t.into(), goal: "g".into(), state: s.into(), at: String::new() };
        j.append(&e("a", "failed")).unwrap();
        j.append(&e("a", "done")).unwrap();
        j.append(&e("b", "done")).unwrap();
        drop(j);
        let path = d.path().join(".db-migrate/fleets/f.jsonl");
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"target\":\"c\",\"go").unwrap();
        let mut j = Journal::new(d.path(), "f");
        let got = j.read();
        assert_eq!(got["a"].state, "done");
        assert_eq!(got.len(), 2);
        j.compact().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }
}
