//! Where output goes: human text on stdout, notes and errors on stderr, JSON alone on stdout.

use std::io::Write;

use crate::migrate::error::Error;

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

    /// A note on stderr (suppressed by `-q`).
    pub fn note(&self, s: &str) {
        if !self.quiet {
            eprintln!("{s}");
        }
    }

    /// A detail shown with `-v` only, on stderr.
    pub fn verbose(&self, s: &str) {
        if self.verbose && !self.quiet {
            eprintln!("{s}");
        }
    }

    /// The JSON document of a command.
    pub fn json(&self, v: &serde_json::Value) {
        if self.json {
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{}", serde_json::to_string_pretty(v).unwrap_or_default());
        }
    }

    /// An error: always on stderr; with `--json` also as `{"error": …}` on stdout.
    pub fn error(&self, e: &Error) {
        eprintln!("error: {e}");
        if self.json {
            let v = serde_json::json!({ "error": { "kind": error_kind(e), "message": e.to_string() } });
            let _ = writeln!(std::io::stdout().lock(), "{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
    }
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
        Error::Io { .. } => "io",
    }
}
