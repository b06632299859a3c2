//! `db-migrate lint`: zero-downtime hazards in the SQL of migrations.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::Output;
use db_migrate::backend::{DatabaseUrl, Dialect};
use crate::config::Settings;
use crate::lint::{Finding, LintOptions, Linter, RULES, Severity};
use db_migrate::migrate::error::Error;
use db_migrate::migrate::source::Migration;

#[derive(Debug, Args)]
#[command(after_help = "\
Suppress a finding with a comment on the statement or the line before it, with a reason:
  -- db-migrate:nolint DM006 the column has been unused since v42
Migrations are read in order, so rules see what earlier ones created (a varchar's old length, the
indexes on a column). `--format sarif` writes SARIF 2.1.0 for code-scanning UIs, e.g.
  db-migrate lint --format sarif > lint.sarif
Version-dependent PostgreSQL rules assume 12 or later unless `--postgres-version` or
`[lint] postgres_version` in db-migrate.toml says older.
`up` lints pending migrations by itself in the `production` environment and refuses on errors
(unless --force). docs/zero-downtime.md explains the safe patterns.")]
pub struct LintArgs {
    /// Migration files to lint (default: every SQL migration).
    files: Vec<PathBuf>,
    /// `text` (default), `json`, or `sarif` (SARIF 2.1.0, for code-scanning UIs).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    format: String,
    /// List the rules (ID, severity, dialects, what, why, instead) and exit.
    #[arg(long)]
    rules: bool,
    /// The PostgreSQL major version the migrations target (default: `[lint] postgres_version`
    /// in the config, else 12 or later is assumed). Older versions turn on DM015 (< 12) and
    /// DM037 (< 11) and make DM010 ignore validated CHECKs (< 12).
    #[arg(long, value_name = "MAJOR")]
    postgres_version: Option<u32>,
    /// The SQL dialect to parse with. Default: the configured database URL's (never connected
    /// to), else the one the config's environments agree on, else sqlite (with a note saying so).
    #[arg(long, value_name = "DIALECT", value_enum)]
    dialect: Option<CliDialect>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CliDialect {
    Sqlite,
    Postgres,
    Mysql,
}

impl From<CliDialect> for Dialect {
    fn from(d: CliDialect) -> Self {
        match d {
            CliDialect::Sqlite => Dialect::Sqlite,
            CliDialect::Postgres => Dialect::Postgres,
            CliDialect::Mysql => Dialect::Mysql,
        }
    }
}

use crate::lint::dialect_name;

/// What lint assumes about the server: `--postgres-version`, else `[lint] postgres_version` in
/// the config file.
pub fn options(settings: &Settings, postgres_version: Option<u32>) -> Result<LintOptions, Error> {
    let mut opts = LintOptions { postgres_version };
    if opts.postgres_version.is_none() {
        let text = settings.config_path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
        let doc = text.parse::<toml::Table>().unwrap_or_default();
        if let Some(v) = doc.get("lint").and_then(|l| l.get("postgres_version")) {
            let major = v.as_integer().and_then(|i| u32::try_from(i).ok()).filter(|i| (9..100).contains(i));
            opts.postgres_version = Some(major.ok_or_else(|| Error::Config(format!("[lint] postgres_version is a major version such as 11 or 16, not {v}")))?);
        }
    }
    Ok(opts)
}

/// The dialect of a URL by its scheme alone; `Some(None)` for MongoDB, `None` when unknown.
fn scheme_dialect(url: &str) -> Option<Option<Dialect>> {
    let scheme = url.trim().split(':').next()?.to_ascii_lowercase();
    Some(match scheme.as_str() {
        "sqlite" => Some(Dialect::Sqlite),
        "postgres" | "postgresql" => Some(Dialect::Postgres),
        "mysql" | "mariadb" => Some(Dialect::Mysql),
        "mongodb" | "mongodb+srv" => None,
        _ => return None,
    })
}

/// The `database_url`s of the config file's environments (and its top level), by name.
fn configured_urls(settings: &Settings) -> Vec<(String, String)> {
    let Some(text) = settings.config_path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) else { return Vec::new() };
    let Ok(doc) = text.parse::<toml::Table>() else { return Vec::new() };
    let mut urls = Vec::new();
    if let Some(u) = doc.get("database_url").and_then(|v| v.as_str()) {
        urls.push(("(top level)".to_string(), u.to_string()));
    }
    if let Some(envs) = doc.get("environments").and_then(|v| v.as_table()) {
        for (name, env) in envs {
            if let Some(u) = env.get("database_url").and_then(|v| v.as_str()) {
                urls.push((name.clone(), crate::config::expand_vars(u).unwrap_or_else(|_| u.to_string())));
            }
        }
    }
    urls
}

/// Which dialect `lint` parses with, and — when it had to guess — a note saying so.
/// `Ok((None, _))`: the database is MongoDB, which has no SQL to lint.
fn choose_dialect(settings: &Settings, flag: Option<CliDialect>) -> Result<(Option<Dialect>, Option<String>), Error> {
    if let Some(d) = flag {
        return Ok((Some(d.into()), None));
    }
    if settings.url_source != crate::config::UrlSource::Default {
        if let Some(d) = scheme_dialect(&settings.database_url) {
            return Ok((d, None));
        }
        return Ok((dialect(settings)?, None));
    }
    let mut seen: std::collections::BTreeMap<&'static str, (Dialect, Vec<String>)> = std::collections::BTreeMap::new();
    for (env, url) in configured_urls(settings) {
        if let Some(Some(d)) = scheme_dialect(&url) {
            seen.entry(dialect_name(d)).or_insert((d, Vec::new())).1.push(env);
        }
    }
    if seen.len() == 1 {
        let (d, _) = seen.into_values().next().expect("one entry");
        return Ok((Some(d), None));
    }
    let why = if seen.is_empty() {
        "no database URL is configured".to_string()
    } else {
        let list: Vec<String> = seen.iter().map(|(n, (_, envs))| format!("{n} ({})", envs.join(", "))).collect();
        format!("the configured environments disagree: {}", list.join(", "))
    };
    Ok((
        Some(Dialect::Sqlite),
        Some(format!("note: lint assumed the sqlite dialect ({why}); choose with --dialect sqlite|postgres|mysql")),
    ))
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

/// Lints the `pending` migrations before a production `up`, as `lint` would: every migration in
/// the directory is read in order (applied ones lend their schema facts, such as a CHECK they
/// validated), and only the pending ones report.
pub fn lint_pending<'a>(settings: &Settings, pending: impl IntoIterator<Item = &'a Migration>, dialect: Dialect) -> Result<Vec<Finding>, Error> {
    let pending: Vec<&Migration> = pending.into_iter().collect();
    let all = db_migrate::migrate::source::discover(&settings.migrations_dir)?;
    let opts = options(settings, None)?;
    Ok(lint_selected(&all, dialect, &opts, |m| pending.iter().any(|p| p.version == m.version && p.path == m.path)))
}

/// Like [`lint_migrations`], keeping only the findings of the migrations `keep` selects (the
/// others are still read for their schema facts).
fn lint_selected<'a>(migrations: impl IntoIterator<Item = &'a Migration>, dialect: Dialect, opts: &LintOptions, keep: impl Fn(&Migration) -> bool) -> Vec<Finding> {
    let mut linter = Linter::new(dialect, opts.clone());
    let mut findings = Vec::new();
    for m in migrations {
        if let Some(s) = m.script(db_migrate::migrate::error::Direction::Up) {
            let found = linter.lint(s);
            if keep(m) {
                findings.extend(found);
            }
        }
    }
    findings
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
    let sarif = args.format == "sarif";
    let json = !sarif && (out.json || args.format == "json");
    if !["text", "json", "sarif"].contains(&args.format.as_str()) {
        return Err(Error::Config(format!("--format is `text`, `json` or `sarif`, not `{}`", args.format)));
    }
    if args.rules {
        if json {
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "rules": RULES })).unwrap_or_default());
            return Ok(ExitCode::SUCCESS);
        }
        for r in RULES {
            let dialects: Vec<&str> = r.dialects.iter().map(|d| dialect_name(*d)).collect();
            out.line(&format!("{} {:<7} [{}] {}\n        why: {}\n        instead: {}", r.id, r.severity.name(), dialects.join(","), r.what, r.why, r.fix));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (dialect, assumed) = choose_dialect(settings, args.dialect)?;
    let Some(dialect) = dialect else {
        if sarif {
            println!("{}", serde_json::to_string_pretty(&crate::lint::sarif::render(&[], &settings.project_dir)).unwrap_or_default());
            return Ok(ExitCode::SUCCESS);
        }
        out.line("nothing to lint: MongoDB migrations are command files and components, not SQL (--dialect lints them as SQL anyway)");
        return Ok(ExitCode::SUCCESS);
    };
    if let Some(note) = &assumed {
        out.note(note);
    }
    let all = db_migrate::migrate::source::discover(&settings.migrations_dir)?;
    let wanted: Vec<PathBuf> = args.files.iter().map(|f| std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())).collect();
    for (f, c) in args.files.iter().zip(&wanted) {
        if !all.iter().any(|m| std::fs::canonicalize(&m.path).is_ok_and(|p| &p == c || p.parent() == Some(c.as_path())) || m.script(db_migrate::migrate::error::Direction::Up).is_some_and(|s| std::fs::canonicalize(&s.path).is_ok_and(|p| &p == c))) {
            return Err(Error::Config(format!("{} is not a migration in {}", f.display(), settings.migrations_dir.display())));
        }
    }
    let selected = |m: &Migration| {
        wanted.is_empty()
            || m.script(db_migrate::migrate::error::Direction::Up)
                .is_some_and(|s| std::fs::canonicalize(&s.path).is_ok_and(|p| wanted.contains(&p)))
            || std::fs::canonicalize(&m.path).is_ok_and(|p| wanted.contains(&p))
    };
    let opts = options(settings, args.postgres_version)?;
    let findings = lint_selected(&all, dialect, &opts, selected);
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    let warnings = findings.len() - errors;
    if sarif {
        println!("{}", serde_json::to_string_pretty(&crate::lint::sarif::render(&findings, &settings.project_dir)).unwrap_or_default());
    } else if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "dialect": dialect_name(dialect), "dialect_assumed": assumed.is_some(), "findings": findings, "errors": errors, "warnings": warnings })).unwrap_or_default());
    } else {
        print(&findings, out);
        out.line(&format!("{errors} error(s), {warnings} warning(s)"));
    }
    Ok(if errors > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
