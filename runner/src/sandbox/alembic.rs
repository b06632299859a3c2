//! Alembic migrations: an Alembic project's revision files run as they are, inside the sandbox.
//!
//! One component — db-migrate's Alembic runtime (`sdk/alembic/`: the real `alembic` and
//! `SQLAlchemy` from PyPI, pure Python, with a DB-API driver over the WIT `sql` interface, built
//! by componentize-py) — runs every revision. Like knex's (`super::knex`), a revision file is
//! data: the host passes its name and text through `context.args` under two names no user
//! argument may take ([`FILE_ARG`], [`SOURCE_ARG`]), and the runtime executes the file and calls
//! its `upgrade()` or `downgrade()`. The order of revisions is the host's
//! (`crate::migrate::alembic`); the checksum is the file's.
//!
//! Ordinary Alembic operations (`create_table`, `add_column`, `create_index`, `bulk_insert`,
//! `op.execute`, reads through `op.get_bind()`) send ordinary statements, checked by the grants
//! like any component's. The runtime never probes the server (the dialects fix those answers),
//! and `SELECT last_insert_rowid()` / `SELECT LAST_INSERT_ID()`, which SQLAlchemy reads after a
//! single-row insert, are plain allowed functions.
//!
//! SQLite *batch mode* (`op.batch_alter_table`, or any change SQLite cannot `ALTER`) reflects
//! the table and the tables its foreign keys reference, then rebuilds it through a scratch
//! copy. Those statements are admitted by an allowlist of the exact forms Alembic sends, each
//! for a table the grant allows reading — nothing else a component may not send becomes allowed:
//! - `PRAGMA main.table_xinfo("t")`, `PRAGMA main.table_info("t")`, `PRAGMA
//!   main|temp.foreign_key_list("t")`, `PRAGMA main.index_list("t")`;
//! - `PRAGMA main.index_info("ix")`, for an index whose table (looked up by the host in
//!   `sqlite_master`, see [`bound_form`]) the grant allows;
//! - `SELECT sql FROM (SELECT * FROM sqlite_master UNION ALL SELECT * FROM sqlite_temp_master)
//!   WHERE name = ? AND type in ('table', 'view')`: the name is a bound parameter, so the host
//!   checks the *parameter* against the grant on every call ([`bound_form`]); without that check
//!   it would return the `CREATE` text of any table it names;
//! - `_alembic_tmp_<t>`, the scratch copy of `<t>`, counts as granted when `<t>` is (renaming a
//!   table *to* a scratch name is refused: SQLite would repoint other tables' references to it;
//!   one left behind fails its migration, see `backend::sqlite`).
//!
//! SQLite's authorizer enforces the same list ([`crate::backend::guest::GuestScope::alembic`]).

use super::grants::{Admitted, Class, Grants, Reserved};
use crate::backend::Dialect;
use crate::migrate::source::{Body, Migration};

/// The least memory an Alembic revision runs with, whatever its `memory_mib`: the runtime's
/// interpreter snapshot alone is 858 pages (54 MiB) before the revision does anything.
pub const MIN_MEMORY: usize = 64 << 20;

/// The argument holding the revision file's name.
pub const FILE_ARG: &str = "db-migrate:alembic-file";
/// The argument holding the revision file's text.
pub const SOURCE_ARG: &str = "db-migrate:alembic-source";

/// The arguments an Alembic migration's runtime gets on top of the user's: its file's name and text.
pub fn args(m: &Migration) -> Option<[(String, String); 2]> {
    let Body::Alembic { source } = &m.body else { return None };
    let file = m.path.file_name().and_then(|n| n.to_str()).unwrap_or("revision.py").to_string();
    Some([(FILE_ARG.to_string(), file), (SOURCE_ARG.to_string(), source.clone())])
}

pub use crate::backend::guest::{ALEMBIC_SCRATCH_PREFIX as SCRATCH_PREFIX, alembic_scratch_of as scratch_of};

/// Batch mode's read of a table's `CREATE` text, whitespace collapsed, lower-case.
const SCHEMA_READ: &str =
    "select sql from (select * from sqlite_master union all select * from sqlite_temp_master) where name = ? and type in ('table', 'view')";

/// A statement whose table only the host can tell: by its parameter, or through the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// [`SCHEMA_READ`]: the table is the one parameter.
    SchemaRead,
    /// `PRAGMA main.index_info("ix")`: the table is the index's (`sqlite_master.tbl_name`).
    IndexInfo(String),
}

/// Unquotes one identifier as SQLAlchemy writes it (`"users"` or `users`), lower-cased; `None`
/// for anything else.
fn identifier(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(s);
    let plain = !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    plain.then(|| inner.to_ascii_lowercase())
}

/// `PRAGMA schema.name("arg")` as (schema, name, arg); `None` for any other shape.
fn pragma_call(lower: &str) -> Option<(&str, &str, String)> {
    let words: Vec<&str> = lower.split_ascii_whitespace().collect();
    let ["pragma", call] = words.as_slice() else { return None };
    let (schema, rest) = call.split_once('.')?;
    let (name, arg) = rest.split_once('(')?;
    Some((schema, name, identifier(arg.strip_suffix(')')?)?))
}

/// Whether `sql` is one of the forms [`admit_bound`] checks (SQLite only).
pub fn bound_form(sql: &str) -> Option<Bound> {
    let lower = sql.trim().trim_end_matches(';').trim_end().to_ascii_lowercase();
    if lower.split_ascii_whitespace().collect::<Vec<_>>().join(" ") == SCHEMA_READ {
        return Some(Bound::SchemaRead);
    }
    match pragma_call(&lower) {
        Some(("main", "index_info", ix)) => Some(Bound::IndexInfo(ix)),
        _ => None,
    }
}

/// Admits a [`Bound`] statement once the host knows its table: read access to it (or to the
/// table whose scratch copy it is) is required.
pub fn admit_bound(table: &str, grants: &Grants, reserved: &Reserved) -> Result<Admitted, String> {
    let table = table.to_ascii_lowercase();
    if !grants.classes.contains(&Class::Read) {
        return Err("Alembic's batch-mode reflection needs `read`, which this migration is not granted".into());
    }
    let plain = !table.is_empty() && table.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !plain {
        return Err(format!("`{table}` is not a plain table name"));
    }
    let checked = scratch_of(&table).unwrap_or(&table).to_string();
    grants.relation_allowed(Dialect::Sqlite, reserved, std::slice::from_ref(&checked))?;
    Ok(Admitted { class: Class::Read, query: true, target: None, insert: None })
}

/// The statements Alembic sends that a component may not, admitted for an Alembic revision
/// when they are exactly Alembic's; `None` leaves the statement to the ordinary check. The
/// [`Bound`] forms are the host's to check first; reaching here, they are refused.
pub fn admit(dialect: Dialect, sql: &str, grants: &Grants, reserved: &Reserved) -> Option<Result<Admitted, String>> {
    if dialect != Dialect::Sqlite {
        return None;
    }
    if bound_form(sql).is_some() {
        return Some(Err("this batch-mode read is checked by its table, which the host looks up for each call".into()));
    }
    let lower = sql.trim().trim_end_matches(';').trim_end().to_ascii_lowercase();
    if let Some((schema, name, table)) = pragma_call(&lower) {
        let known = match name {
            "table_xinfo" | "table_info" => schema == "main",
            // SQLAlchemy asks `temp` too when `main` has no index or foreign key for the table.
            "index_list" | "foreign_key_list" => schema == "main" || schema == "temp",
            _ => false,
        };
        if known {
            return Some(admit_bound(&table, grants, reserved));
        }
        return None;
    }
    let granted = |name: &str, grants: &Grants| scratch_of(name).is_some_and(|of| grants.relation_allowed(dialect, reserved, &[of.to_string()]).is_ok());
    let scratch = super::scratch::Scratch { tool: "Alembic", prefix: SCRATCH_PREFIX, shown: "_alembic_tmp_<table>", granted: &granted };
    scratch.admit(dialect, sql, &lower, grants, reserved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users_only() -> Grants {
        Grants { classes: [Class::Read, Class::Write, Class::Ddl].into(), tables: Some(["users".to_string()].into()), functions: Default::default() }
    }

    fn ok(dialect: Dialect, sql: &str, g: &Grants) -> bool {
        match admit(dialect, sql, g, &Reserved::default()) {
            Some(r) => r.is_ok(),
            None => g.check(dialect, sql).is_ok(),
        }
    }

    #[test]
    fn what_alembic_sends_is_admitted_exactly() {
        let g = users_only();
        for sql in [
            "CREATE TABLE users ( id INTEGER NOT NULL, email VARCHAR(200) NOT NULL, PRIMARY KEY (id), UNIQUE (email) )",
            "ALTER TABLE users ADD COLUMN slug VARCHAR(120)",
            "CREATE UNIQUE INDEX ix_users_slug ON users (slug)",
            "INSERT INTO users (id, email) VALUES (?, ?)",
            "SELECT users.id, users.name FROM users ORDER BY users.id",
            "UPDATE users SET slug=? WHERE users.id = ?",
            "SELECT last_insert_rowid()",
            "PRAGMA main.table_xinfo(\"users\")",
            "PRAGMA main.table_info(\"users\")",
            "PRAGMA main.foreign_key_list(\"users\")",
            "PRAGMA temp.foreign_key_list(\"users\")",
            "PRAGMA main.index_list(\"users\")",
            "CREATE TABLE _alembic_tmp_users ( id INTEGER NOT NULL, email VARCHAR(400) NOT NULL, PRIMARY KEY (id) )",
            "INSERT INTO _alembic_tmp_users (id, email) SELECT users.id, users.email FROM users",
            "DROP TABLE users",
            "ALTER TABLE _alembic_tmp_users RENAME TO users",
        ] {
            assert!(ok(Dialect::Sqlite, sql, &g), "{sql}");
        }
        assert!(ok(Dialect::Mysql, "SELECT LAST_INSERT_ID()", &g));
    }

    #[test]
    fn bound_forms_are_left_to_the_host_and_checked_by_their_table() {
        let g = users_only();
        let r = Reserved::default();
        let read = "SELECT sql FROM (SELECT * FROM sqlite_master UNION ALL SELECT * FROM sqlite_temp_master) WHERE name = ? AND type in ('table', 'view')";
        assert_eq!(bound_form(read), Some(Bound::SchemaRead));
        assert_eq!(bound_form("PRAGMA main.index_info(\"ix_users_slug\")"), Some(Bound::IndexInfo("ix_users_slug".into())));
        // Reaching the ordinary check, they are refused: only the host can tell their table.
        assert!(!ok(Dialect::Sqlite, read, &g));
        assert!(!ok(Dialect::Sqlite, "PRAGMA main.index_info(\"ix_users_slug\")", &g));
        assert!(admit_bound("users", &g, &r).is_ok());
        assert!(admit_bound("USERS", &g, &r).is_ok());
        assert!(admit_bound("_alembic_tmp_users", &g, &r).is_ok());
        for t in ["posts", "db_migrate_history", "sqlite_master", "users' or 1=1", "", "_alembic_tmp_posts"] {
            assert!(admit_bound(t, &g, &r).is_err(), "{t}");
        }
        let no_read = Grants { classes: [Class::Write].into(), ..users_only() };
        assert!(admit_bound("users", &no_read, &r).is_err());
        // Look-alikes are not bound forms.
        for sql in [
            "SELECT sql FROM (SELECT * FROM sqlite_master UNION ALL SELECT * FROM sqlite_temp_master) WHERE name = ? OR 1=1",
            "SELECT * FROM (SELECT * FROM sqlite_master UNION ALL SELECT * FROM sqlite_temp_master) WHERE name = ? AND type in ('table', 'view')",
            "PRAGMA temp.index_info(\"ix\")",
            "PRAGMA main.index_info(ix); DROP TABLE users",
        ] {
            assert_eq!(bound_form(sql), None, "{sql}");
        }
    }

    #[test]
    fn look_alikes_and_other_tables_are_refused() {
        let g = users_only();
        for sql in [
            "PRAGMA main.table_xinfo(\"posts\")",
            "PRAGMA main.foreign_key_list(\"db_migrate_history\")",
            "PRAGMA other.table_xinfo(\"users\")",
            "PRAGMA temp.table_xinfo(\"users\")",
            "PRAGMA table_xinfo(\"users\")",
            "PRAGMA main.table_xinfo(\"users\") ; PRAGMA writable_schema = 1",
            "PRAGMA main.writable_schema(\"users\")",
            "PRAGMA writable_schema = 1",
            "select * from sqlite_master",
            "CREATE TABLE _alembic_tmp_posts (id int)",
            "INSERT INTO _alembic_tmp_users SELECT * FROM posts",
            "ALTER TABLE users RENAME TO _alembic_tmp_users",
            "ALTER TABLE \"users\" RENAME TO \"_alembic_tmp_x\"",
            "ALTER TABLE users RENAME TO\"_alembic_tmp_users\"",
            "ALTER TABLE users RENAME TO[_alembic_tmp_users]",
            "ALTER TABLE users RENAME/**/TO/**/_alembic_tmp_users",
            "SAVEPOINT trx1",
        ] {
            assert!(!ok(Dialect::Sqlite, sql, &g), "{sql}");
        }
    }
}
