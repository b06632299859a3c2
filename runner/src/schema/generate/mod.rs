//! Migration generation: the statements that turn one schema into another. `diff` and
//! `create --from-schema` compare the schema the migrations produce (`from`) with the desired
//! one (`to`); the up is `from → to` and the down `to → from`, planned the same way.
//!
//! The work is split in three: [`order`] knows which kinds of objects go before which (pure,
//! unit-tested), one module per dialect knows the statements (and where ALTER cannot do it:
//! the SQLite table rebuild), and this module holds what they share — the script and warning
//! types, and the checks that flag what a generator must not decide alone (a column dropped
//! while another of the same type appears might be a rename).

mod mysql;
pub mod order;
mod postgres;
mod sqlite;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::schema::compare::{Difference, compare};
use crate::schema::model::{Schema, SchemaDialect, Table};
use order::Phase;

/// Why a schema pair cannot be turned into a migration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// The two schemas come from different databases.
    #[error("cannot generate a migration between a {0} schema and a {1} schema")]
    Dialects(&'static str, &'static str),
    /// The dialect has no generator (MongoDB: write a `.mongo.json` command file).
    #[error("generating migrations is not supported for {0}: write the migration by hand")]
    Unsupported(&'static str),
}

/// One generated statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// The SQL, without the terminating `;`.
    pub sql: String,
    /// `--` comment lines written before it (without the `-- `).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<String>,
    /// Why the statement is what it is, when it is one a linter rightly warns about (a drop, a
    /// table rewrite): the reason of a `nolint` comment, should the linter flag it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl Statement {
    fn new(sql: impl Into<String>) -> Self {
        Statement { sql: sql.into(), comments: Vec::new(), why: None }
    }

    fn why(mut self, why: impl Into<String>) -> Self {
        self.why = Some(why.into());
        self
    }

    fn comment(mut self, c: impl Into<String>) -> Self {
        self.comments.push(c.into());
        self
    }
}

/// One direction of a generated migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Script {
    /// The statements, in the order they must run.
    pub statements: Vec<Statement>,
    /// Whether the runner may wrap the script in a transaction. False when it holds a statement
    /// that cannot run in one (PostgreSQL `CREATE INDEX CONCURRENTLY`, `ALTER TYPE … ADD VALUE`)
    /// or manages its own (the SQLite rebuild, which must turn foreign keys off first).
    pub transactional: bool,
    /// Why it is not transactional.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_no_transaction: Option<String>,
}

impl Script {
    /// Whether there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// The statements as SQL text, each preceded by its comments and ended with `;`.
    pub fn sql(&self) -> String {
        let mut out = String::new();
        for s in &self.statements {
            for c in &s.comments {
                out.push_str("-- ");
                out.push_str(c);
                out.push('\n');
            }
            out.push_str(&s.sql);
            out.push_str(";\n");
        }
        out
    }
}

/// What kind of thing the generator flags instead of deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// A column (or table) goes while one of the same type (same columns) appears: a rename
    /// would keep the data, the generated drop and add lose it.
    PossibleRename,
    /// A NOT NULL column without a default is added: this fails on a table that has rows.
    NotNullWithoutDefault,
    /// An enum loses or reorders values: the type is rebuilt, and rows holding a removed value
    /// make it fail.
    EnumRebuilt,
    /// The column order differs and the dialect cannot place a column (PostgreSQL appends).
    ColumnOrder,
    /// A column's type changes: rows whose value does not convert make it fail.
    TypeChange,
    /// Something the generator cannot express; the migration needs a hand edit.
    Unsupported,
}

/// Something the generator flags: printed on stderr, in `--json`, and as a comment in the SQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// What kind.
    pub kind: WarningKind,
    /// `up` or `down`.
    pub direction: &'static str,
    /// The table concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// In words.
    pub message: String,
}

/// A generated migration.
#[derive(Debug, Clone, Serialize)]
pub struct Generated {
    /// The dialect its SQL is in.
    pub dialect: SchemaDialect,
    /// `from → to`.
    pub up: Script,
    /// `to → from`.
    pub down: Script,
    /// What the generator flags rather than decides.
    pub warnings: Vec<Warning>,
    /// The differences between `from` and `to` (`added`: only in `to`).
    pub differences: Vec<Difference>,
}

impl Generated {
    /// Whether the two schemas are the same (nothing to migrate).
    pub fn is_empty(&self) -> bool {
        self.differences.is_empty()
    }
}

/// The statements of one direction, by phase, while planning.
pub(crate) struct Plan<'a> {
    from: &'a Schema,
    to: &'a Schema,
    direction: &'static str,
    phases: BTreeMap<Phase, Vec<Statement>>,
    warnings: Vec<Warning>,
    no_transaction: Option<String>,
    /// Statements before and after all phases (the SQLite rebuild's own transaction).
    head: Vec<Statement>,
    tail: Vec<Statement>,
}

impl<'a> Plan<'a> {
    fn new(from: &'a Schema, to: &'a Schema, direction: &'static str) -> Self {
        Plan { from, to, direction, phases: BTreeMap::new(), warnings: Vec::new(), no_transaction: None, head: Vec::new(), tail: Vec::new() }
    }

    fn push(&mut self, phase: Phase, s: Statement) {
        self.phases.entry(phase).or_default().push(s);
    }

    fn warn(&mut self, kind: WarningKind, table: Option<&str>, message: String) {
        let w = Warning { kind, direction: self.direction, table: table.map(String::from), message };
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// Marks the script as one that cannot run in the runner's transaction.
    fn outside_transaction(&mut self, why: &str) {
        if self.no_transaction.is_none() {
            self.no_transaction = Some(why.to_string());
        }
    }

    fn finish(self) -> (Script, Vec<Warning>) {
        let mut statements = self.head;
        if self.phases.values().all(Vec::is_empty) {
            statements.clear();
        } else {
            statements.extend(self.phases.into_values().flatten());
            statements.extend(self.tail);
        }
        let script = Script { statements, transactional: self.no_transaction.is_none(), why_no_transaction: self.no_transaction };
        (script, self.warnings)
    }

    /// The possible-rename note of a column that goes, if one of the same type appears in its
    /// table (also recorded as a warning).
    fn rename_note(&mut self, table: &str, column: &str) -> Option<String> {
        let (a, b) = (self.from.tables.get(table)?, self.to.tables.get(table)?);
        let gone = a.column(column)?;
        let candidates: Vec<&str> =
            b.columns.iter().filter(|c| a.column(&c.name).is_none() && c.data_type.eq_ignore_ascii_case(&gone.data_type)).map(|c| c.name.as_str()).collect();
        if candidates.is_empty() {
            return None;
        }
        let note = format!(
            "possible rename: column {table}.{column} goes and {} of the same type ({}) appears; this drops and adds (the data of {column} is lost) — if it is a rename, write ALTER TABLE … RENAME COLUMN instead",
            candidates.join(", "),
            gone.data_type
        );
        self.warn(WarningKind::PossibleRename, Some(table), note.clone());
        Some(note)
    }

    /// The possible-rename note of a table that goes while one with the same columns appears.
    fn table_rename_note(&mut self, table: &str) -> Option<String> {
        let gone = self.from.tables.get(table)?;
        let shape = |t: &Table| t.columns.iter().map(|c| (c.name.clone(), c.data_type.to_ascii_lowercase())).collect::<Vec<_>>();
        let twin = self.to.tables.values().find(|t| !self.from.tables.contains_key(&t.name) && shape(t) == shape(gone))?;
        let note = format!(
            "possible rename: table {table} goes and {} with the same columns appears; this drops and creates (the rows of {table} are lost) — if it is a rename, write ALTER TABLE … RENAME TO instead",
            twin.name
        );
        self.warn(WarningKind::PossibleRename, Some(table), note.clone());
        Some(note)
    }
}

/// Generates the migration from `from` to `to` (both introspected from the same kind of
/// database): the up, the down, and what it flags.
pub fn generate(from: &Schema, to: &Schema) -> Result<Generated, GenerateError> {
    if from.dialect != to.dialect {
        return Err(GenerateError::Dialects(from.dialect.name(), to.dialect.name()));
    }
    let one = |a: &Schema, b: &Schema, direction: &'static str| -> Result<(Script, Vec<Warning>), GenerateError> {
        let mut plan = Plan::new(a, b, direction);
        match a.dialect {
            SchemaDialect::Sqlite => sqlite::plan(&mut plan),
            SchemaDialect::Postgres => postgres::plan(&mut plan),
            SchemaDialect::Mysql => mysql::plan(&mut plan),
            other => return Err(GenerateError::Unsupported(other.name())),
        }
        Ok(plan.finish())
    };
    let (up, mut warnings) = one(from, to, "up")?;
    let (down, down_warnings) = one(to, from, "down")?;
    // A rename candidate one way is one the other way too: say it once, for the up.
    warnings.extend(down_warnings.into_iter().filter(|w| w.kind != WarningKind::PossibleRename));
    Ok(Generated { dialect: from.dialect, up, down, warnings, differences: compare(from, to) })
}

/// Columns of `table` whose type differs between the two schemas (both have the table).
pub(crate) fn retyped(from: &Table, to: &Table) -> Vec<String> {
    from.columns.iter().filter(|c| to.column(&c.name).is_some_and(|d| d.data_type != c.data_type)).map(|c| c.name.clone()).collect()
}

/// The keyed view of a list: its items by a name (an unnamed constraint by its description).
pub(crate) fn by_key<T, F: Fn(&T) -> String>(items: &[T], key: F) -> BTreeMap<String, &T> {
    items.iter().map(|i| (key(i), i)).collect()
}

#[cfg(test)]
mod tests;
