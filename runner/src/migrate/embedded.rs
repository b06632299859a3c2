//! Where migrations come from: a directory on disk, or files held in memory (compiled into the
//! program by `embed_migrations!`).
//!
//! Both read their files by the same rules ([`super::source`]): the same layouts, the same
//! parser, the same checksums. A set embedded at build time and the same folder read at run
//! time give identical [`Migration`]s, so a database migrated by the CLI is up to date for the
//! application that embeds the same files, and the other way round.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::SourceError;
use super::memo::ChecksumMemo;
use super::source::{self, Entry, FileBytes, Files, Migration, NameWarning, checksum_bytes};

/// A set of migrations the [`crate::Migrator`] reads when it runs.
pub trait MigrationSource: Send + Sync {
    /// Reads every migration, sorted by version, reporting every problem at once. `memo` holds
    /// remembered checksums of component files (by file identity); sources without files on
    /// disk ignore it.
    fn migrations(&self, memo: &ChecksumMemo) -> Result<Vec<Migration>, SourceError>;

    /// Entries that are not read but look as if they were meant to be (`1_x.SQL`, …).
    fn warnings(&self) -> Vec<NameWarning> {
        Vec::new()
    }

    /// The folder the migrations are (or were, before embedding) in, for messages.
    fn location(&self) -> &Path;
}

/// The migrations in a directory on disk, read each time they are needed.
#[derive(Debug, Clone)]
pub struct DirectorySource {
    dir: PathBuf,
    format: source::Format,
}

impl DirectorySource {
    /// The migrations in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirectorySource { dir: dir.into(), format: source::Format::Native }
    }

    /// Reads the folder as `format` (`Format::Knex`: knex's `.js` files are migrations too).
    pub fn format(mut self, format: source::Format) -> Self {
        self.format = format;
        self
    }
}

impl MigrationSource for DirectorySource {
    fn migrations(&self, memo: &ChecksumMemo) -> Result<Vec<Migration>, SourceError> {
        source::discover_format(&self.dir, memo, self.format)
    }

    fn warnings(&self) -> Vec<NameWarning> {
        source::name_warnings_format(&self.dir, self.format)
    }

    fn location(&self) -> &Path {
        &self.dir
    }
}

/// Migration files held in memory, by their path inside the migrations folder
/// (`1_init.sql`, `2_users.up.sql`, `3_posts/up.sql`, `4_backfill.wasm`), components included.
///
/// ```
/// use db_migrate::migrate::embedded::{MemorySource, MigrationSource};
///
/// let source = MemorySource::new("migrations")
///     .file("1_init.sql", b"-- migrate:up\nCREATE TABLE t (id INTEGER);\n-- migrate:down\nDROP TABLE t;\n".to_vec());
/// let migrations = source.migrations(&Default::default()).unwrap();
/// assert_eq!((migrations[0].version, migrations[0].name.as_str()), (1, "init"));
/// ```
#[derive(Debug, Clone)]
pub struct MemorySource {
    root: PathBuf,
    files: BTreeMap<String, FileBytes>,
}

impl MemorySource {
    /// An empty set; `root` is the folder the files are named relative to in messages and in
    /// [`Migration::path`] (`embed_migrations!` passes the folder it read).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        MemorySource { root: root.into(), files: BTreeMap::new() }
    }

    /// Adds a file: `name` is its path inside the migrations folder, `/`-separated.
    pub fn file(mut self, name: impl Into<String>, bytes: impl Into<FileBytes>) -> Self {
        self.files.insert(name.into(), bytes.into());
        self
    }

    /// A set of `(name, bytes)` pairs (what `embed_migrations!` expands to).
    pub fn from_files<N: Into<String>, B: Into<FileBytes>>(root: impl Into<PathBuf>, files: impl IntoIterator<Item = (N, B)>) -> Self {
        files.into_iter().fold(MemorySource::new(root), |s, (n, b)| s.file(n, b))
    }

    /// The top-level entries, as a directory listing would show them: files, and one folder
    /// entry per first path segment of nested names.
    fn entries(&self) -> (Vec<Entry>, Vec<SourceError>) {
        let mut problems = Vec::new();
        let mut entries: BTreeMap<&str, bool> = BTreeMap::new();
        for name in self.files.keys() {
            if name.is_empty() || name.starts_with('/') || name.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
                problems.push(SourceError::file(
                    &self.root.join(name),
                    "an embedded file name must be a relative path inside the migrations folder (no `..`, no leading `/`)",
                ));
                continue;
            }
            match name.split_once('/') {
                Some((folder, _)) => {
                    entries.insert(folder, true);
                }
                None => {
                    entries.entry(name.as_str()).or_insert(false);
                }
            }
        }
        let listed = entries
            .into_iter()
            .filter(|(n, _)| !n.starts_with('.'))
            .map(|(n, is_dir)| Entry { file_name: n.to_string(), path: self.root.join(n), is_dir })
            .collect();
        (listed, problems)
    }

    fn get(&self, rel: &Path) -> Option<&FileBytes> {
        // Names are `/`-separated; `rel` was built by joining them, so it reads back the same.
        let key: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
        self.files.get(&key.join("/"))
    }
}

impl Files for MemorySource {
    fn read(&self, rel: &Path, path: &Path) -> Result<Vec<u8>, SourceError> {
        self.get(rel).map(|b| b.as_bytes().to_vec()).ok_or_else(|| SourceError::file(path, "cannot read: no such embedded file"))
    }

    fn is_file(&self, rel: &Path) -> bool {
        self.get(rel).is_some()
    }

    fn component(&self, rel: &Path, path: &Path) -> Result<(String, Option<FileBytes>), SourceError> {
        let bytes = self.get(rel).ok_or_else(|| SourceError::file(path, "cannot read: no such embedded file"))?;
        Ok((checksum_bytes(bytes.as_bytes()), Some(bytes.clone())))
    }
}

impl MigrationSource for MemorySource {
    fn migrations(&self, _memo: &ChecksumMemo) -> Result<Vec<Migration>, SourceError> {
        let (entries, problems) = self.entries();
        source::collect(self, &self.root, entries, problems)
    }

    fn warnings(&self) -> Vec<NameWarning> {
        let (entries, _) = self.entries();
        entries
            .into_iter()
            .filter_map(|e| {
                let message = source::skipped_name_warning(&e.file_name, e.is_dir)?;
                Some(NameWarning { file: e.path.display().to_string(), message })
            })
            .collect()
    }

    fn location(&self) -> &Path {
        &self.root
    }
}

impl<S: MigrationSource + ?Sized> MigrationSource for std::sync::Arc<S> {
    fn migrations(&self, memo: &ChecksumMemo) -> Result<Vec<Migration>, SourceError> {
        (**self).migrations(memo)
    }
    fn warnings(&self) -> Vec<NameWarning> {
        (**self).warnings()
    }
    fn location(&self) -> &Path {
        (**self).location()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::source::Body;

    /// What `ReadOnce` read is what it hands out, without reading again.
    #[test]
    fn read_once_keeps_its_reading() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1_a.sql"), "-- migrate:up\nCREATE TABLE a (id INTEGER);\n").unwrap();
        let once = ReadOnce::read(&DirectorySource::new(dir.path()), &ChecksumMemo::default()).unwrap();
        std::fs::write(dir.path().join("2_b.sql"), "-- migrate:up\nCREATE TABLE b (id INTEGER);\n").unwrap();
        let again = once.clone().migrations(&ChecksumMemo::default()).unwrap();
        assert_eq!(again, once.list());
        assert_eq!(again.iter().map(|m| m.version).collect::<Vec<_>>(), vec![1]);
        assert_eq!(once.location(), dir.path());
    }

    /// A folder using every layout, the same files in memory: the same migrations come out.
    #[test]
    fn embedded_and_directory_sources_read_identical_migrations() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("migrations");
        let files: Vec<(&str, &[u8])> = vec![
            ("1_init.sql", b"-- migrate:up\r\nCREATE TABLE a (id INTEGER);\r\n-- migrate:down\r\nDROP TABLE a;\r\n"),
            ("2_users.up.sql", b"\xef\xbb\xbfCREATE TABLE users (id INTEGER);\n"),
            ("2_users.down.sql", b"DROP TABLE users;\n"),
            ("2019-02-26-002946_posts/up.sql", b"-- no-transaction\nCREATE TABLE posts (id INTEGER);\n"),
            ("2019-02-26-002946_posts/down.sql", b"DROP TABLE posts;\n"),
            ("30000000000000_backfill.wasm", b"\0asm\x0d\0\x01\0not really a component"),
            ("40000000000000_docs.mongo.json", br#"{"up": [{"create": "docs"}], "down": [{"drop": "docs"}]}"#),
            ("README.md", b"notes"),
        ];
        for (name, bytes) in &files {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        let on_disk = DirectorySource::new(&dir).migrations(&ChecksumMemo::default()).unwrap();
        let in_memory = MemorySource::from_files(&dir, files.iter().map(|(n, b)| (*n, *b))).migrations(&ChecksumMemo::default()).unwrap();
        assert_eq!(on_disk.len(), 5);
        assert_eq!(in_memory.len(), 5);
        for (d, m) in on_disk.iter().zip(&in_memory) {
            assert_eq!((d.version, &d.name, &d.checksum, &d.path, d.kind()), (m.version, &m.name, &m.checksum, &m.path, m.kind()));
            match (&d.body, &m.body) {
                // On disk the component stays in its file; in memory its bytes come along.
                (Body::Component(None), Body::Component(Some(bytes))) => {
                    assert_eq!(bytes.as_bytes(), std::fs::read(&d.path).unwrap());
                    assert_eq!(checksum_bytes(bytes.as_bytes()), d.checksum);
                }
                (a, b) => assert_eq!(a, b),
            }
        }
    }

    #[test]
    fn embedded_sets_report_problems_like_directories() {
        let src = MemorySource::new("migrations")
            .file("1_a.sql", b"-- migrate:up\nSELECT 1;\n".to_vec())
            .file("1_b.sql", b"-- migrate:up\nSELECT 2;\n".to_vec())
            .file("add_users.sql", b"-- migrate:up\nSELECT 3;\n".to_vec())
            .file("../x.sql", b"".to_vec());
        let e = src.migrations(&ChecksumMemo::default()).unwrap_err().to_string();
        assert!(e.contains("duplicate version 1"), "{e}");
        assert!(e.contains("migrations/add_users.sql") && e.contains("bad migration name"), "{e}");
        assert!(e.contains("relative path inside the migrations folder"), "{e}");
        let w = MemorySource::new("m").file("1_a.SQL", b"x".to_vec()).warnings();
        assert!(w[0].message.contains("`1_a.sql`"), "{w:?}");
    }
}

/// Migrations read once and handed out again: what a fleet run uses, so a thousand targets do
/// not read and checksum the same folder a thousand times. Cloning is cheap (the list is shared).
#[derive(Debug, Clone)]
pub struct ReadOnce {
    dir: PathBuf,
    migrations: std::sync::Arc<Vec<Migration>>,
    warnings: std::sync::Arc<Vec<NameWarning>>,
}

impl ReadOnce {
    /// Reads `source` now; every later [`MigrationSource::migrations`] returns this reading.
    pub fn read(source: &dyn MigrationSource, memo: &ChecksumMemo) -> Result<Self, SourceError> {
        Ok(ReadOnce {
            dir: source.location().to_path_buf(),
            migrations: std::sync::Arc::new(source.migrations(memo)?),
            warnings: std::sync::Arc::new(source.warnings()),
        })
    }

    /// The migrations as read.
    pub fn list(&self) -> &[Migration] {
        &self.migrations
    }
}

impl MigrationSource for ReadOnce {
    fn migrations(&self, _memo: &ChecksumMemo) -> Result<Vec<Migration>, SourceError> {
        Ok(self.migrations.as_ref().clone())
    }

    fn warnings(&self) -> Vec<NameWarning> {
        self.warnings.as_ref().clone()
    }

    fn location(&self) -> &Path {
        &self.dir
    }
}
