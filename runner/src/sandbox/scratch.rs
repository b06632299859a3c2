//! Scratch tables of a tool's SQLite table rebuild: knex (`_knex_temp_alterNNN`) and Alembic's
//! batch mode (`_alembic_tmp_<table>`) copy a table into a scratch table, drop the original and
//! rename the copy onto it. No grant names the scratch table, so a migration granted the table
//! is granted its copy too; everything else about the statement is checked as usual, and the
//! host checks that no scratch table outlives the migration.

use super::grants::{Admitted, Grants, Reserved};
use crate::backend::Dialect;

/// One tool's scratch tables.
pub(super) struct Scratch<'a> {
    /// The tool, for messages (`knex`, `Alembic`).
    pub tool: &'a str,
    /// Every scratch name starts with this (lower case).
    pub prefix: &'a str,
    /// How messages show a scratch name (`_knex_temp_alterNNN`).
    pub shown: &'a str,
    /// Whether `name` (lower case, starting with `prefix`) is a scratch table a migration with
    /// `grants` may use (Alembic's names the table it copies, which must be granted).
    pub granted: &'a dyn Fn(&str, &Grants) -> bool,
}

impl Scratch<'_> {
    /// Admits `sql` (`lower`: trimmed, lower case) when it names this tool's scratch tables and
    /// is otherwise granted; refuses a rename onto a scratch name; `None` when no scratch table
    /// is involved.
    pub fn admit(&self, dialect: Dialect, sql: &str, lower: &str, grants: &Grants, reserved: &Reserved) -> Option<Result<Admitted, String>> {
        // A tool renames its scratch table onto the table it rebuilds, never a table onto a
        // scratch name: that rename would ride on the scratch name's exemption, and SQLite
        // rewrites every reference to the renamed table (other tables' foreign keys, views) to
        // follow it. Read on the text, not on words: `RENAME TO"x"`, `RENAME/**/TO x` and
        // `TO[x]` are renames too; the tools' own renames name the scratch table before
        // `RENAME`, never after it.
        if crate::backend::guest::renames_onto(lower, self.prefix) {
            let tool = self.tool;
            return Some(Err(format!(
                "renaming a table to {tool}'s scratch name `{}` is refused ({tool} never does; SQLite would repoint other tables' references to it)",
                self.shown
            )));
        }
        // Only SQLite's rebuilds use scratch tables, and only a grant naming tables needs them
        // added.
        if dialect != Dialect::Sqlite || grants.tables.is_none() || !lower.contains(self.prefix) {
            return None;
        }
        let mut widened = grants.clone();
        let tables = widened.tables.as_mut().expect("checked above");
        let mut rest = lower;
        while let Some(at) = rest.find(self.prefix) {
            let tail = &rest[at..];
            let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
            if (self.granted)(&tail[..end], grants) {
                tables.insert(tail[..end].to_string());
            }
            rest = &tail[end..];
        }
        Some(widened.check_with(dialect, sql, reserved))
    }
}
