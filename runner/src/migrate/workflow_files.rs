//! The files beside the versioned migrations: repeatable migrations and callbacks.
//!
//! - Repeatable migrations: `repeatable/NAME.sql`, or `R__NAME.sql` at the top of the migrations
//!   directory (Flyway's name). The whole file is SQL; it is applied again, after the versioned
//!   migrations, whenever its checksum changes.
//! - Callbacks: `callbacks/EVENT.sql` or `callbacks/EVENT__NAME.sql`, where EVENT is one of
//!   [`CallbackEvent`]; several files of one event run in file-name order.
//! - `squashed/` holds the files `squash` replaced; nothing in it is read.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::SourceError;
use super::source::{self, Script};

/// Folder of repeatable migrations inside the migrations directory.
pub const REPEATABLE_DIR: &str = "repeatable";
/// Folder of callbacks inside the migrations directory.
pub const CALLBACKS_DIR: &str = "callbacks";
/// Folder `squash` moves replaced migrations to.
pub const SQUASHED_DIR: &str = "squashed";

/// Whether a name at the top of the migrations directory belongs to these files (so discovery
/// neither reads it as a versioned migration nor warns about it).
pub fn is_reserved(file_name: &str) -> bool {
    matches!(file_name, REPEATABLE_DIR | CALLBACKS_DIR | SQUASHED_DIR) || repeatable_name(file_name).is_some()
}

/// `R__NAME.sql` → `NAME`.
fn repeatable_name(file_name: &str) -> Option<&str> {
    file_name.strip_prefix("R__")?.strip_suffix(".sql")
}

/// A repeatable migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeatable {
    /// Its name (file stem, without `R__`).
    pub name: String,
    /// The whole file as one script.
    pub script: Script,
    /// SHA-256 of the raw (normalised) file: placeholder values are not part of it.
    pub checksum: String,
}

fn read_script(path: &Path) -> Result<(Script, String), SourceError> {
    let bytes = std::fs::read(path).map_err(|e| SourceError::file(path, format!("cannot read the file: {e}")))?;
    let text = source::decode_sql(bytes, path)?;
    let checksum = source::checksum([text.as_str()]);
    let transaction = !text.lines().next().is_some_and(|l| l.trim() == "-- migrate:up transaction:false" || l.trim() == "-- no-transaction");
    let script = Script { sql: text, path: path.to_path_buf(), first_line: 1, transaction };
    source::check_transaction_control(&script, "this file", "remove it, or make the first line `-- migrate:up transaction:false`")?;
    Ok((script, checksum))
}

fn sql_files(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| SourceError::file(dir, format!("cannot read the folder: {e}")))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().and_then(|x| x.to_str()) == Some("sql"))
        .collect();
    files.sort();
    Ok(files)
}

fn finish<T>(found: Vec<T>, mut problems: Vec<SourceError>) -> Result<Vec<T>, SourceError> {
    match problems.len() {
        0 => Ok(found),
        1 => Err(problems.pop().expect("one")),
        _ => Err(SourceError::Many(problems)),
    }
}

/// Every repeatable migration of `dir`, by name. Two files with one name are an error.
pub fn repeatables(dir: &Path) -> Result<Vec<Repeatable>, SourceError> {
    repeatables_of(dir, &listing(dir))
}

/// The misnamed files ([`source::name_warnings_format`]) and the repeatable migrations
/// ([`repeatables`]) of `dir`, from one listing of it: `status` shows both, and for a thousand
/// migrations each listing is a pass of the kernel's `readdir` and a thousand entries.
pub fn warnings_and_repeatables(dir: &Path, format: source::Format) -> (Vec<source::NameWarning>, Result<Vec<Repeatable>, SourceError>) {
    let entries = listing(dir);
    (source::name_warnings_of(&entries, format), repeatables_of(dir, &entries))
}

/// The entries at the top of `dir` (none when it cannot be read: discovery reports that).
fn listing(dir: &Path) -> Vec<std::fs::DirEntry> {
    std::fs::read_dir(dir).map(|entries| entries.flatten().collect()).unwrap_or_default()
}

fn repeatables_of(dir: &Path, top: &[std::fs::DirEntry]) -> Result<Vec<Repeatable>, SourceError> {
    let mut paths: Vec<(String, PathBuf)> = Vec::new();
    for p in sql_files(&dir.join(REPEATABLE_DIR))? {
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let stem = stem.strip_prefix("R__").map(str::to_string).unwrap_or(stem);
        paths.push((stem, p));
    }
    for e in top {
        let file = e.file_name();
        if let Some(name) = repeatable_name(&file.to_string_lossy()) {
            paths.push((name.to_string(), e.path()));
        }
    }
    paths.sort();
    let mut found: Vec<Repeatable> = Vec::new();
    let mut problems = Vec::new();
    for (name, path) in paths {
        if !source::is_valid_name(&name) {
            problems.push(SourceError::file(&path, "a repeatable migration's name may only hold letters, digits, `_` and `-`"));
            continue;
        }
        if let Some(other) = found.iter().find(|r| r.name == name) {
            problems.push(SourceError::file(&path, format!("repeatable migration `{name}` is also {}; keep one", other.script.path.display())));
            continue;
        }
        match read_script(&path) {
            Ok((script, checksum)) => found.push(Repeatable { name, script, checksum }),
            Err(e) => problems.push(e),
        }
    }
    finish(found, problems)
}

/// When a callback runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackEvent {
    /// Before the first migration of an `up` run (its own transaction).
    BeforeUp,
    /// After the last migration of an `up` run, before repeatable migrations.
    AfterUp,
    /// Before each migration, inside its unit of work (its transaction, when it has one).
    BeforeEach,
    /// After each migration, inside its unit of work.
    AfterEach,
    /// Before the first migration a `down` reverts.
    BeforeDown,
    /// After the last migration a `down` reverts.
    AfterDown,
    /// After a migration (or callback) failed and was rolled back; its own failure is reported
    /// beside the first one.
    OnError,
}

impl CallbackEvent {
    /// Every event, in file-name spelling.
    pub const ALL: [(&'static str, CallbackEvent); 7] = [
        ("before_up", CallbackEvent::BeforeUp),
        ("after_up", CallbackEvent::AfterUp),
        ("before_each", CallbackEvent::BeforeEach),
        ("after_each", CallbackEvent::AfterEach),
        ("before_down", CallbackEvent::BeforeDown),
        ("after_down", CallbackEvent::AfterDown),
        ("on_error", CallbackEvent::OnError),
    ];

    /// The file-name spelling.
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, e)| *e == self).map(|(s, _)| *s).expect("every event is listed")
    }
}

/// One callback file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// When it runs.
    pub event: CallbackEvent,
    /// The whole file as one script.
    pub script: Script,
}

/// Every callback of `dir`, by event then file name. A file whose name is not an event is an
/// error (a typo would otherwise silently never run).
pub fn callbacks(dir: &Path) -> Result<Vec<Callback>, SourceError> {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for path in sql_files(&dir.join(CALLBACKS_DIR))? {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let event_name = stem.split_once("__").map(|(e, _)| e).unwrap_or(stem);
        let Some(event) = CallbackEvent::ALL.iter().find(|(s, _)| *s == event_name).map(|(_, e)| *e) else {
            let known: Vec<&str> = CallbackEvent::ALL.iter().map(|(s, _)| *s).collect();
            problems.push(SourceError::file(&path, format!("`{event_name}` is not a callback event: name the file EVENT.sql or EVENT__NAME.sql, EVENT one of {}", known.join(", "))));
            continue;
        };
        match read_script(&path) {
            Ok((script, _)) => found.push(Callback { event, script }),
            Err(e) => problems.push(e),
        }
    }
    found.sort_by(|a, b| a.event.cmp(&b.event).then_with(|| a.script.path.cmp(&b.script.path)));
    finish(found, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names() {
        for n in ["repeatable", "callbacks", "squashed", "R__views.sql"] {
            assert!(is_reserved(n), "{n}");
        }
        for n in ["1_x.sql", "R_views.sql", "r__views.sql", "V1__x.sql"] {
            assert!(!is_reserved(n), "{n}");
        }
    }

    #[test]
    fn repeatables_and_callbacks_are_read_and_checked() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("repeatable")).unwrap();
        std::fs::create_dir_all(d.path().join("callbacks")).unwrap();
        std::fs::write(d.path().join("repeatable/views.sql"), "CREATE VIEW v AS SELECT 1;\r\n").unwrap();
        std::fs::write(d.path().join("R__grants.sql"), "SELECT 1;").unwrap();
        std::fs::write(d.path().join("callbacks/after_each__audit.sql"), "SELECT 2;").unwrap();
        std::fs::write(d.path().join("callbacks/before_up.sql"), "SELECT 3;").unwrap();
        let r = repeatables(d.path()).unwrap();
        assert_eq!(r.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["grants", "views"]);
        assert_eq!(r[1].script.sql, "CREATE VIEW v AS SELECT 1;\n");
        let c = callbacks(d.path()).unwrap();
        assert_eq!(c.iter().map(|c| c.event).collect::<Vec<_>>(), [CallbackEvent::BeforeUp, CallbackEvent::AfterEach]);
        std::fs::write(d.path().join("callbacks/befor_up.sql"), "SELECT 3;").unwrap();
        assert!(callbacks(d.path()).unwrap_err().to_string().contains("`befor_up` is not a callback event"));
        std::fs::write(d.path().join("R__views.sql"), "SELECT 1;").unwrap();
        assert!(repeatables(d.path()).unwrap_err().to_string().contains("`views` is also"));
    }
}
