//! The audit log, `.db-migrate/audit.log`, one JSON line each: every statement a component was
//! refused (also shown on stderr as it happens), and every change an operator made to the
//! history or the database by hand (`repair`, `reset`, `drop`).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// Appends audit records to a file; failures to write are reported once and never stop a run.
pub struct AuditLog {
    path: PathBuf,
    warned: Mutex<bool>,
}

impl AuditLog {
    /// A log at `path` (created on the first record).
    pub fn new(path: PathBuf) -> Self {
        AuditLog { path, warned: Mutex::new(false) }
    }

    /// Records one refusal.
    pub fn record(&self, migration: &str, statement: &str, reason: &str) {
        self.record_on(None, migration, statement, reason);
    }

    /// Records one refusal on a fleet's `target` (by its printable name), when there is one.
    pub fn record_on(&self, target: Option<&str>, migration: &str, statement: &str, reason: &str) {
        let statement: String = statement.chars().take(2000).collect();
        let mut line = serde_json::json!({
            "at": db_migrate::migrate::history::now_utc(),
            "migration": migration,
            "decision": "denied",
            "reason": reason,
            "statement": statement,
        });
        if let Some(t) = target {
            line["target"] = t.into();
        }
        self.append(&line);
    }

    /// Records an operator's change: `command` (`repair`, `reset`, `drop`), the OS user, and
    /// `fields` (what was changed, e.g. `action`, `migration`, checksums, the database).
    pub fn operation(&self, command: &str, fields: serde_json::Value) {
        let mut line = serde_json::json!({
            "at": db_migrate::migrate::history::now_utc(),
            "command": command,
            "user": std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_default(),
        });
        if let (Some(l), serde_json::Value::Object(f)) = (line.as_object_mut(), fields) {
            l.extend(f);
        }
        self.append(&line);
    }

    fn append(&self, line: &serde_json::Value) {
        let write = || -> std::io::Result<()> {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            // Never through a link: a guest's refused statement is part of the line, and a link
            // planted in a shared or cloned folder (`audit.log -> ~/.bashrc`) would append it
            // wherever it points.
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new().create(true).append(true).custom_flags(libc::O_NOFOLLOW).mode(0o600).open(&self.path)?;
            writeln!(f, "{line}")
        };
        if let Err(e) = write() {
            let mut warned = self.warned.lock().unwrap();
            if !*warned {
                *warned = true;
                eprintln!("warning: cannot write the audit log {}: {e}", self.path.display());
            }
        }
    }
}
