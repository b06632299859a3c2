//! Where output goes: human text on stdout, notes and errors on stderr, JSON alone on stdout.

use std::io::Write;

use db_migrate::migrate::error::Error;

/// The warnings of this invocation (one process runs one command).
static WARNINGS: std::sync::Mutex<Vec<serde_json::Value>> = std::sync::Mutex::new(Vec::new());

/// Output settings of one invocation.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// `--json`: stdout carries exactly one JSON document.
    pub json: bool,
    /// `-q`: errors only.
    pub quiet: bool,
    /// `-v`: extra detail.
    pub verbose: bool,
}

impl Output {
    /// Output for the given flags.
    pub fn new(json: bool, quiet: bool, verbose: bool) -> Self {
        Output { json, quiet, verbose }
    }

    /// A line of human output (suppressed by `--json` and `-q`).
    pub fn line(&self, s: &str) {
        if !self.json && !self.quiet {
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{s}");
        }
    }

    /// A note on stderr (suppressed by `-q`). Notes carry guests' log lines and error text:
    /// control characters are shown as escapes (see [`visible`]).
    pub fn note(&self, s: &str) {
        if !self.quiet {
            eprintln!("{}", visible(s));
        }
    }

    /// A detail shown with `-v` only, on stderr.
    pub fn verbose(&self, s: &str) {
        if self.verbose && !self.quiet {
            eprintln!("{}", visible(s));
        }
    }

    /// The JSON document of a command.
    pub fn json(&self, v: &serde_json::Value) {
        if self.json {
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{}", serde_json::to_string_pretty(v).unwrap_or_default());
        }
    }

    /// A warning: something went wrong once a run's work was done (its lock could not be
    /// released, its connection not closed), so the command still succeeds. Printed on stderr as
    /// it happens and kept for the command's `--json` document (see [`Output::warnings`]);
    /// `target` names the fleet target it came from.
    pub fn warning(&self, w: &db_migrate::migrate::events::Warning, target: Option<&str>) {
        match target {
            Some(t) => self.note(&format!("[{t}] warning: {}", w.message)),
            None => self.note(&format!("warning: {}", w.message)),
        }
        let mut v = serde_json::json!(w);
        if let (Some(t), Some(o)) = (target, v.as_object_mut()) {
            o.insert("target".into(), t.into());
        }
        WARNINGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(v);
    }

    /// The warnings of this invocation so far, for its JSON document (`kind`, `message`, and
    /// `target` in a fleet). Also in the document of an error: a failed run's lock may not have
    /// been released either.
    pub fn warnings(&self) -> Vec<serde_json::Value> {
        WARNINGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// An error: prose on stderr, or — with `--json` — one JSON document on stdout instead,
    /// with the fields a script needs to act on it (see [`error_json`]).
    pub fn error(&self, e: &Error) {
        if self.json {
            let v = serde_json::json!({ "error": error_json(e), "warnings": self.warnings() });
            let _ = writeln!(std::io::stdout().lock(), "{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        } else {
            eprintln!("error: {}", visible(&e.to_string()));
        }
    }
}

/// An error as JSON: `kind`, `message` (the prose, whole), and where they apply `migration`
/// (`version`, `name`), `direction`, `file`, `line`, `database_code`, `database_message`,
/// `kept` (`nothing`, `dirty`, `unknown`), `blame` (`guest`, `host`), `problems` (every problem
/// with the migration files) and `hint` (what to do next).
pub fn error_json(e: &Error) -> serde_json::Value {
    use serde_json::{Value, json};
    let mut v = json!({ "kind": error_kind(e), "message": e.to_string() });
    let o = v.as_object_mut().expect("an object");
    let mut set = |k: &str, val: Value| {
        o.insert(k.to_string(), val);
    };
    match e {
        Error::Source(src) => {
            let mut problems = Vec::new();
            flatten(src, &mut problems);
            if let [only] = problems.as_slice() {
                set("file", only["file"].clone());
                set("line", only["line"].clone());
            }
            set("problems", Value::Array(problems));
        }
        Error::Database { source, .. } => {
            set("database_code", json!(source.code));
            set("database_message", json!(source.message));
        }
        Error::MigrationFailed { migration, direction, path, line, source, kept } => {
            set("migration", json!(migration));
            set("direction", json!(direction));
            set("file", json!(path));
            set("line", json!(line));
            set("database_code", json!(source.code));
            set("database_message", json!(source.message));
            set("kept", json!(kept));
        }
        Error::ComponentFailed { migration, direction, path, blame, kept, .. } => {
            set("migration", json!(migration));
            set("direction", json!(direction));
            set("file", json!(path));
            set("blame", json!(blame));
            set("kept", json!(kept));
        }
        Error::SeedFailed { seed, path, line, blame, committed, keeps_writes, ddl_kept, .. } => {
            set("seed", json!(seed));
            set("file", json!(path));
            set("line", json!(line));
            set("blame", json!(blame));
            set("committed_batches", json!(committed));
            // What the database holds of the seed now: nothing, its committed batches, or the
            // writes it made before failing (MongoDB).
            let kept = if *keeps_writes || ddl_kept.is_some() { "partial" } else if *committed > 0 { "committed_batches" } else { "nothing" };
            set("kept", json!(kept));
        }
        Error::Conflict(m) => set("migration", json!(m)),
        Error::Interrupted { signal, completed, during } => {
            set("signal", json!(signal));
            set("completed", json!(completed));
            set("during", during.as_deref().map(error_json).unwrap_or(Value::Null));
        }
        Error::LockLost { completed, cause } => {
            set("completed", json!(completed));
            set("cause", error_json(cause));
        }
        Error::Unlock { source, .. } | Error::Close(source) => {
            set("database_code", json!(source.code));
            set("database_message", json!(source.message));
        }
        Error::Io { path, .. } => set("file", json!(path)),
        Error::Import(i) => {
            use db_migrate::migrate::error::ImportError;
            match i {
                ImportError::NothingFound { dir, .. } => set("folder", json!(dir)),
                ImportError::Version { path, version, .. } => {
                    set("file", json!(path));
                    set("version", json!(version));
                }
                ImportError::Differs { existing, .. } => set("file", json!(existing)),
                _ => {}
            }
        }
        _ => {}
    }
    if let Some(h) = hint(e) {
        set("hint", json!(h));
    }
    v
}

fn flatten(e: &db_migrate::migrate::error::SourceError, out: &mut Vec<serde_json::Value>) {
    use db_migrate::migrate::error::SourceError;
    match e {
        SourceError::At { path, line, message } => out.push(serde_json::json!({ "file": path, "line": line, "message": message })),
        SourceError::Many(list) => list.iter().for_each(|e| flatten(e, out)),
    }
}

/// What to do next, in one line, for errors where the next step does not depend on reading
/// the whole message.
fn hint(e: &Error) -> Option<String> {
    use db_migrate::migrate::error::{Kept, PlanError};
    Some(match e {
        Error::Connect(_) => "check the database URL and that the server runs; `--wait=SECONDS` waits for it to start".into(),
        Error::Locked(_) => "another run holds the migration lock: wait for it, or raise --lock-timeout".into(),
        Error::Conflict(_) => "another run applied this migration meanwhile: run `db-migrate status`".into(),
        Error::MigrationFailed { kept, migration, .. } | Error::ComponentFailed { kept, migration, .. } => match kept {
            Kept::Nothing => "nothing was kept: fix the migration and run `up` again".into(),
            Kept::Dirty => format!(
                "check the schema, then `db-migrate repair --mark-applied {v}` or `--mark-reverted {v}`",
                v = migration.version
            ),
            Kept::Unknown => format!("run `db-migrate status` once the database is back and check migration {}", migration.version),
        },
        Error::Plan(PlanError::Dirty(_)) => "check the schema, then `db-migrate repair --mark-applied V` or `--mark-reverted V`".into(),
        Error::Plan(PlanError::Drift { .. }) => "restore the applied files as they were (`db-migrate validate` lists them)".into(),
        Error::Plan(PlanError::OutOfOrder { .. }) => "pass --allow-out-of-order, or give the pending migrations newer versions".into(),
        Error::Interrupted { .. } | Error::LockLost { .. } => "run `db-migrate status` to see where things stand, then run the command again".into(),
        _ => return None,
    })
}

fn error_kind(e: &Error) -> &'static str {
    match e {
        Error::Source(_) => "source",
        Error::Config(_) => "config",
        Error::Plan(_) => "plan",
        Error::Connect(_) => "connect",
        Error::Database { .. } => "database",
        Error::MigrationFailed { .. } => "migration_failed",
        Error::ComponentFailed { .. } => "component_failed",
        Error::SeedFailed { .. } => "seed_failed",
        Error::Conflict(_) => "conflict",
        Error::Locked(_) => "locked",
        Error::Interrupted { .. } => "interrupted",
        Error::LockLost { .. } => "lock_lost",
        Error::Unlock { .. } => "unlock",
        Error::Close(_) => "close",
        Error::Io { .. } => "io",
        Error::Import(_) => "import",
        _ => "other",
    }
}

/// `s` with the characters a terminal acts on instead of showing (controls other than newline
/// and tab: escape sequences that erase or overwrite lines; bidirectional overrides that reorder
/// what is read) written as `\u{…}` escapes. Text a guest wrote (its log lines, its errors, the
/// statements a dry run shows) goes through this before it reaches a terminal, so it cannot hide
/// or disguise what is printed around it.
pub fn visible(s: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            // bidirectional overrides and isolates, zero-width and invisible characters, line and
            // paragraph separators, the byte-order mark, Hangul fillers (blank "letters")
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}'..='\u{200f}' | '\u{2028}' | '\u{2029}'
                | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{00ad}' | '\u{115f}' | '\u{1160}' | '\u{3164}' | '\u{ffa0}')
    };
    if !s.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(s.chars().map(|c| if hidden(c) { c.escape_unicode().to_string() } else { c.to_string() }).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_and_bidi_overrides_are_shown_not_obeyed() {
        assert_eq!(super::visible("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(super::visible("DROP\u{1b}[2K\rx"), "DROP\\u{1b}[2K\\u{d}x");
        assert_eq!(super::visible("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(super::visible("users\u{200b}"), "users\\u{200b}");
        assert_eq!(super::visible("a\u{2028}b\u{3164}"), "a\\u{2028}b\\u{3164}");
    }
}
