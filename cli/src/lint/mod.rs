//! `lint`: zero-downtime hazards in SQL migrations, found before they reach production.
//!
//! Each statement is parsed with `sqlparser` for the database's dialect and checked by the rule
//! families below (`locks`, `rewrites`, `types`, `constraints`, `drops`, `mysql`); statements the
//! parser does not know (`CLUSTER`, `REINDEX`…) are checked on their words. A statement nothing
//! recognises is reported (DM000), never skipped. Migrations are linted in order with the schema
//! facts the earlier ones established (column types, indexes, validated checks), so rules such as
//! "varchar shrunk" or "dropped column still indexed" can see what came before. A finding is
//! suppressed by a comment on the statement or the line before it:
//! `-- db-migrate:nolint DM006 the column was unused since v42` (a reason is required).

mod catalog;
mod constraints;
mod drops;
mod locks;
mod mysql;
mod rewrites;
pub mod sarif;
mod schema;
mod types;

#[cfg(test)]
mod tests;

use serde::Serialize;
use sqlparser::ast::Statement;
use sqlparser::dialect::{Dialect as SqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

pub use catalog::RULES;

use db_migrate::backend::Dialect;
use db_migrate::migrate::source::Script;
use db_migrate::migrate::statements;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Warning,
    /// Blocks a production `up` (unless `--force`).
    Error,
}

impl Severity {
    /// `error` or `warning`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A rule: its ID, severity, the dialects it applies to, what it flags, why, and what to do instead.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rule {
    /// `DM001`…
    pub id: &'static str,
    /// Severity.
    pub severity: Severity,
    /// The dialects the rule checks; it never fires on others.
    #[serde(serialize_with = "dialect_names")]
    pub dialects: &'static [Dialect],
    /// What it flags, in a few words.
    pub what: &'static str,
    /// Why it matters: a paragraph whose first sentence is the summary.
    pub why: &'static str,
    /// The safe alternative.
    pub fix: &'static str,
}

impl Rule {
    /// The first sentence of `why`.
    pub fn summary(&self) -> &'static str {
        match self.why.find(". ") {
            Some(i) => &self.why[..=i],
            None => self.why,
        }
    }

    /// Whether the rule checks `dialect`.
    pub fn applies_to(&self, dialect: Dialect) -> bool {
        self.dialects.contains(&dialect)
    }
}

/// A dialect's name as the CLI spells it.
pub fn dialect_name(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres => "postgres",
        Dialect::Mysql => "mysql",
    }
}

fn dialect_names<S: serde::Serializer>(d: &&'static [Dialect], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(d.iter().map(|d| dialect_name(*d)))
}

/// The rule with ID `id`.
pub fn rule(id: &str) -> &'static Rule {
    RULES.iter().find(|r| r.id == id).expect("known rule")
}

/// What lint assumes about the target server.
#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    /// PostgreSQL major version. `None`: a supported release (12 or later) is assumed, so the
    /// version-dependent rules for older servers (DM015, DM037) stay quiet.
    pub postgres_version: Option<u32>,
}

impl LintOptions {
    /// True when the target PostgreSQL is known to be older than `major`.
    pub fn postgres_before(&self, major: u32) -> bool {
        self.postgres_version.is_some_and(|v| v < major)
    }
}

/// The `[lint]` table of `db-migrate.toml`, checked for unknown keys when the config loads;
/// values are validated where they are used (`cli::lint::options`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LintConfig {
    /// The PostgreSQL major version the migrations target.
    #[allow(dead_code)]
    pub postgres_version: Option<toml::Value>,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The file.
    pub file: String,
    /// Line of the statement.
    pub line: usize,
    /// The rule.
    pub rule: &'static str,
    /// Its severity.
    pub severity: Severity,
    /// What was found, and why it matters.
    pub message: String,
    /// The safe alternative.
    pub fix: &'static str,
}

fn parser_dialect(d: Dialect) -> Box<dyn SqlDialect> {
    match d {
        Dialect::Postgres => Box::new(PostgreSqlDialect {}),
        Dialect::Mysql => Box::new(MySqlDialect {}),
        Dialect::Sqlite => Box::new(SQLiteDialect {}),
    }
}

/// Rules suppressed for the statement starting at `line` (1-based within `sql`): by comments on
/// that line, inside the statement, or on the line before.
fn suppressed(sql: &str, line: usize, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = sql.lines().collect();
    // The statement's own source lines (a trailing comment after its `;` included), and the
    // line before it.
    let span = text.lines().count().max(1);
    let mut candidates: Vec<&str> = lines.iter().skip(line.saturating_sub(2)).take(span + 1).copied().collect();
    candidates.extend(text.lines());
    for l in candidates {
        if let Some(rest) = l.split("db-migrate:nolint").nth(1) {
            let mut words = rest.split_whitespace();
            if let (Some(id), Some(_reason)) = (words.next(), words.next()) {
                out.push(id.to_ascii_uppercase());
            }
        }
    }
    out
}

/// `text` without `--` and `/* */` comments: what the word-level checks read.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.find('\n').map_or("", |i| &r[i..]);
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.find("*/").map_or("", |i| &r[i + 2..]);
            out.push(' ');
        } else {
            let c = rest.chars().next().expect("non-empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// A name as lint compares it: unquoted, lower-case.
pub(crate) fn norm(name: &str) -> String {
    name.chars().filter(|c| !matches!(c, '"' | '`' | '[' | ']')).collect::<String>().to_ascii_lowercase()
}

/// Facts about the script being linted, gathered statement by statement.
#[derive(Debug, Default)]
pub(crate) struct ScriptState {
    /// Tables created earlier in this script: nobody uses them yet.
    pub new_tables: Vec<String>,
    /// Constraints added `NOT VALID` earlier in this script.
    pub not_valid: Vec<String>,
    /// Indexes dropped `IF EXISTS` earlier in this script (a retry-safe rebuild).
    pub dropped_if_exists: Vec<String>,
    /// Line of the first DDL on an existing table (for DM012).
    pub first_ddl_on_existing: Option<usize>,
}

impl ScriptState {
    /// True when `table` was created earlier in this script.
    pub fn is_new(&self, table: &str) -> bool {
        let t = norm(table);
        self.new_tables.contains(&t)
    }
}

/// One statement, as the checks see it.
pub(crate) struct Ctx<'a> {
    pub dialect: Dialect,
    pub opts: &'a LintOptions,
    /// Whether the script runs in a transaction.
    pub transaction: bool,
    /// Upper-cased, comments removed.
    pub upper: &'a str,
    /// The words of `upper`.
    pub words: &'a [&'a str],
    /// The same words as written (for names in messages).
    pub names: &'a [&'a str],
    pub script: &'a ScriptState,
    pub schema: &'a schema::Schema,
}

impl Ctx<'_> {
    pub fn pg(&self) -> bool {
        self.dialect == Dialect::Postgres
    }
    pub fn mysql(&self) -> bool {
        self.dialect == Dialect::Mysql
    }
    /// The statement starts with these words.
    pub fn starts(&self, words: &[&str]) -> bool {
        self.words.starts_with(words)
    }
    /// Word `i` as written, or "".
    pub fn name(&self, i: usize) -> &str {
        self.names.get(i).copied().unwrap_or_default()
    }
    /// Words `from..to` as written, joined by spaces.
    pub fn phrase(&self, from: usize, to: usize) -> String {
        self.names.iter().skip(from).take(to.saturating_sub(from)).copied().collect::<Vec<_>>().join(" ")
    }
    /// The statement holds this word.
    pub fn has_word(&self, word: &str) -> bool {
        self.words.iter().any(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_') == word)
    }
    /// `table` existed before this script (so people are using it).
    pub fn existing(&self, table: &str) -> bool {
        !self.script.is_new(table)
    }
}

/// Findings of one statement, before suppressions.
#[derive(Default)]
pub(crate) struct Out {
    found: Vec<(&'static str, String)>,
}

impl Out {
    pub fn push(&mut self, id: &'static str, what: impl Into<String>) {
        self.found.push((id, what.into()));
    }
}

/// Lints scripts in order, carrying schema facts from one to the next.
#[derive(Debug, Default)]
pub struct Linter {
    dialect: Option<Dialect>,
    opts: LintOptions,
    schema: schema::Schema,
}

impl Linter {
    /// A linter for `dialect` with `opts`.
    pub fn new(dialect: Dialect, opts: LintOptions) -> Self {
        Linter { dialect: Some(dialect), opts, schema: schema::Schema::default() }
    }

    /// Lints one script and learns its schema changes.
    pub fn lint(&mut self, script: &Script) -> Vec<Finding> {
        let dialect = self.dialect.unwrap_or(Dialect::Sqlite);
        let file = script.path.display().to_string();
        let mut findings = Vec::new();
        let mut state = ScriptState::default();
        let suppressed_anywhere = suppressed(&script.sql, 1, &script.sql);
        for st in statements::split(&script.sql) {
            let text = st.text.trim();
            let plain = strip_comments(text);
            let upper = plain.to_ascii_uppercase();
            let words: Vec<&str> = upper.split_whitespace().collect();
            let names: Vec<&str> = plain.split_whitespace().collect();
            if words.is_empty() {
                continue;
            }
            let line = script.file_line(st.line);
            let parsed = Parser::parse_sql(&*parser_dialect(dialect), text);
            let mut out = Out::default();
            {
                let ctx = Ctx { dialect, opts: &self.opts, transaction: script.transaction, upper: &upper, words: &words, names: &names, script: &state, schema: &self.schema };
                // Word-level checks: they need no parse (and the parser reads some of these poorly).
                let recognised = locks::check_words(&ctx, &mut out) | rewrites::check_words(&ctx, &mut out) | mysql::check_words(&ctx, &mut out) | drops::check_words(&ctx, &mut out);
                match &parsed {
                    Ok(v) if v.len() == 1 => {
                        let stmt = &v[0];
                        locks::check(&ctx, stmt, &mut out);
                        rewrites::check(&ctx, stmt, &mut out);
                        types::check(&ctx, stmt, &mut out);
                        constraints::check(&ctx, stmt, &mut out);
                        drops::check(&ctx, stmt, &mut out);
                        mysql::check(&ctx, stmt, &mut out);
                    }
                    Ok(_) => {}
                    Err(e) if !recognised && !matches!(words[0], "SET" | "RESET") => {
                        out.push("DM000", format!("`{}…` does not parse ({e})", text.chars().take(40).collect::<String>()));
                    }
                    Err(_) => {}
                }
            }
            let skip = suppressed(&script.sql, st.line, text);
            for (id, what) in out.found {
                let r = rule(id);
                if skip.iter().any(|s| s == id) || !r.applies_to(dialect) || findings.iter().any(|f: &Finding| f.line == line && f.rule == id && f.message.starts_with(&what)) {
                    continue;
                }
                findings.push(Finding { file: file.clone(), line, rule: id, severity: r.severity, message: format!("{what}: {}", r.summary()), fix: r.fix });
            }
            // Learn what the statement did, for the statements (and scripts) after it.
            if let Ok(v) = &parsed {
                for stmt in v {
                    learn(&mut state, stmt, line);
                    self.schema.apply(stmt);
                }
            }
            if words.starts_with(&["DROP", "INDEX"]) && upper.contains("IF EXISTS") {
                state.dropped_if_exists.extend(words.iter().skip(2).map(|w| norm(w.trim_end_matches(','))));
            }
        }
        if let Some(line) = state.first_ddl_on_existing
            && dialect == Dialect::Postgres
            && !script.sql.to_ascii_lowercase().contains("lock_timeout")
            && !suppressed_anywhere.iter().any(|s| s == "DM012")
        {
            let r = rule("DM012");
            findings.push(Finding { file, line, rule: "DM012", severity: r.severity, message: format!("ALTER TABLE on an existing table: {}", r.summary()), fix: r.fix });
        }
        findings
    }
}

/// Records what `stmt` tells about the rest of the script.
fn learn(state: &mut ScriptState, stmt: &Statement, line: usize) {
    match stmt {
        Statement::CreateTable(t) => state.new_tables.push(norm(&t.name.to_string())),
        Statement::AlterTable(at) => {
            if !state.is_new(&at.name.to_string()) && state.first_ddl_on_existing.is_none() {
                state.first_ddl_on_existing = Some(line);
            }
            for op in &at.operations {
                if let sqlparser::ast::AlterTableOperation::AddConstraint { constraint, not_valid: true } = op
                    && let Some(name) = constraint_name(constraint)
                {
                    state.not_valid.push(name);
                }
            }
        }
        _ => {}
    }
}

/// A table constraint's name, normalised.
pub(crate) fn constraint_name(c: &sqlparser::ast::TableConstraint) -> Option<String> {
    use sqlparser::ast::TableConstraint as T;
    let name = match c {
        T::ForeignKey(f) => f.name.as_ref(),
        T::Check(c) => c.name.as_ref(),
        T::Unique(u) => u.name.as_ref(),
        T::PrimaryKey(p) => p.name.as_ref(),
        _ => None,
    };
    name.map(|n| norm(&n.to_string()))
}

