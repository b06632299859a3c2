//! `db-migrate lint`: zero-downtime hazards in the SQL of migrations.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::Output;
use crate::backend::{DatabaseUrl, Dialect};
use crate::config::Settings;
use crate::lint::{Finding, RULES, Severity};
use crate::migrate::error::Error;
use crate::migrate::source::Migration;

#[derive(Debug, Args)]
#[command(after_help = "\
Suppress a finding with a comment on the statement or the line before it, with a reason:
  -- db-migrate:nolint DM006 the column has been unused since v42
`up` lints pending migrations by itself in the `production` environment and refuses on errors
(unless --force). docs/zero-downtime.md explains the safe patterns.")]
pub struct LintArgs {
    /// Migration files to lint (default: every SQL migration).
    files: Vec<PathBuf>,
    /// `text` (default) or `json`.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    format: String,
    /// List the rules and exit.
    #[arg(long)]
    rules: bool,
}

/// The dialect the configured database speaks (no connection needed), if it is a SQL one.
pub fn dialect(settings: &Settings) -> Result<Option<Dialect>, Error> {
    Ok(match DatabaseUrl::parse(&settings.database_url, &settings.project_dir)? {
        DatabaseUrl::Sqlite(_) => Some(Dialect::Sqlite),
        DatabaseUrl::Postgres(_) => Some(Dialect::Postgres),
        DatabaseUrl::Mysql(_) => Some(Dialect::Mysql),
        DatabaseUrl::Mongo(_) => None,
    })
}

/// Lints the `up` scripts of `migrations`.
pub fn lint_migrations<'a>(migrations: impl IntoIterator<Item = &'a Migration>, dialect: Dialect) -> Vec<Finding> {
    migrations
        .into_iter()
        .filter_map(|m| m.script(crate::migrate::error::Direction::Up))
        .flat_map(|s| crate::lint::lint_script(s, dialect))
        .collect()
}

/// Prints findings as `file:line: RULE severity: message` with the fix underneath.
pub fn print(findings: &[Finding], out: &Output) {
    for f in findings {
        let sev = if f.severity == Severity::Error { "error" } else { "warning" };
        out.line(&format!("{}:{}: {} {sev}: {}", f.file, f.line, f.rule, f.message));
        out.line(&format!("    instead: {}", f.fix));
    }
}

pub fn run(settings: &Settings, args: LintArgs, out: &Output) -> Result<ExitCode, Error> {
    let json = out.json || args.format == "json";
    if !["text", "json"].contains(&args.format.as_str()) {
        return Err(Error::Config(format!("--format is `text` or `json`, not `{}`", args.format)));
    }
    if args.rules {
        for r in RULES {
            out.line(&format!("{} {:<7} {}\n        instead: {}", r.id, if r.severity == Severity::Error { "error" } else { "warning" }, r.why, r.fix));
        }
        if json {
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "rules": RULES })).unwrap_or_default());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(dialect) = dialect(settings)? else {
        out.line("nothing to lint: MongoDB migrations are command files and components, not SQL");
        return Ok(ExitCode::SUCCESS);
    };
    let all = crate::migrate::source::discover(&settings.migrations_dir)?;
    let wanted: Vec<PathBuf> = args.files.iter().map(|f| std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())).collect();
    for (f, c) in args.files.iter().zip(&wanted) {
        if !all.iter().any(|m| std::fs::canonicalize(&m.path).is_ok_and(|p| &p == c || p.parent() == Some(c.as_path())) || m.script(crate::migrate::error::Direction::Up).is_some_and(|s| std::fs::canonicalize(&s.path).is_ok_and(|p| &p == c))) {
            return Err(Error::Config(format!("{} is not a migration in {}", f.display(), settings.migrations_dir.display())));
        }
    }
    let selected = all.iter().filter(|m| {
        wanted.is_empty()
            || m.script(crate::migrate::error::Direction::Up)
                .is_some_and(|s| std::fs::canonicalize(&s.path).is_ok_and(|p| wanted.contains(&p)))
            || std::fs::canonicalize(&m.path).is_ok_and(|p| wanted.contains(&p))
    });
    let findings = lint_migrations(selected, dialect);
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    let warnings = findings.len() - errors;
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "findings": findings, "errors": errors, "warnings": warnings })).unwrap_or_default());
    } else {
        print(&findings, out);
        out.line(&format!("{errors} error(s), {warnings} warning(s)"));
    }
    Ok(if errors > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
