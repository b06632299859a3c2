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
//! Not admitted: SQLite *batch mode* (`op.batch_alter_table`, or any change SQLite cannot
//! `ALTER`). It reflects the table and the tables its foreign keys reference
//! (`PRAGMA main.table_xinfo("t")`, `foreign_key_list`, `index_list`, `index_info("ix")`) and
//! reads `SELECT sql FROM (… sqlite_master UNION ALL … sqlite_temp_master) WHERE name = ?`,
//! whose table is a bound parameter the statement check never sees: admitting it would hand a
//! migration the `CREATE` text of any table it names. Those statements are refused here with
//! a message saying so, rather than the statement check's general one.

use super::grants::{Admitted, Grants, Reserved};
use crate::backend::Dialect;
use crate::migrate::source::{Body, Migration};

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

/// What SQLite batch mode's reflection starts with: refused, with why.
const BATCH: &str = "SQLite batch mode (`op.batch_alter_table`, or a change SQLite cannot ALTER) is not supported by db-migrate's Alembic runtime: \
     it reflects tables through PRAGMAs and a schema read whose table name the host cannot check against the grant; \
     write the rebuild as plain operations (create the new table, copy with op.execute, drop, rename)";

/// The statements only Alembic sends that need a word of their own; `None` leaves the
/// statement to the ordinary check. Nothing is widened: this only explains refusals.
pub fn admit(dialect: Dialect, sql: &str, _grants: &Grants, _reserved: &Reserved) -> Option<Result<Admitted, String>> {
    if dialect != Dialect::Sqlite {
        return None;
    }
    let lower = sql.trim().to_ascii_lowercase();
    let words: Vec<&str> = lower.split_ascii_whitespace().collect();
    let reflection = match words.as_slice() {
        ["pragma", call] => ["table_xinfo(", "foreign_key_list(", "index_list(", "index_info(", "table_info("]
            .iter()
            .any(|p| call.strip_prefix("main.").or_else(|| call.strip_prefix("temp.")).is_some_and(|c| c.starts_with(p))),
        _ => false,
    };
    let schema_read = lower.starts_with("select sql from (select * from sqlite_master union all select * from sqlite_temp_master)");
    (reflection || schema_read).then(|| Err(BATCH.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::grants::Class;

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
    fn what_alembic_sends_for_ordinary_operations_is_admitted() {
        let g = users_only();
        for sql in [
            "CREATE TABLE users ( id INTEGER NOT NULL, email VARCHAR(200) NOT NULL, PRIMARY KEY (id), UNIQUE (email) )",
            "ALTER TABLE users ADD COLUMN slug VARCHAR(120)",
            "CREATE UNIQUE INDEX ix_users_slug ON users (slug)",
            "INSERT INTO users (id, email) VALUES (?, ?)",
            "SELECT users.id, users.name FROM users ORDER BY users.id",
            "UPDATE users SET slug=? WHERE users.id = ?",
            "SELECT last_insert_rowid()",
        ] {
            assert!(ok(Dialect::Sqlite, sql, &g), "{sql}");
        }
        assert!(ok(Dialect::Mysql, "SELECT LAST_INSERT_ID()", &g));
    }

    #[test]
    fn batch_mode_reflection_and_look_alikes_are_refused() {
        let g = users_only();
        for sql in [
            "PRAGMA main.table_xinfo(\"users\")",
            "PRAGMA main.foreign_key_list(\"users\")",
            "PRAGMA temp.foreign_key_list(\"users\")",
            "PRAGMA main.index_list(\"users\")",
            "PRAGMA main.index_info(\"ix_users_slug\")",
            "PRAGMA main.table_info(\"users\")",
            "SELECT sql FROM (SELECT * FROM sqlite_master UNION ALL SELECT * FROM sqlite_temp_master) WHERE name = ? AND type in ('table', 'view')",
            // look-alikes of knex's admitted forms, and other tables
            "PRAGMA table_xinfo(\"posts\")",
            "PRAGMA writable_schema = 1",
            "select * from sqlite_master",
            "CREATE TABLE _alembic_tmp_posts (id int)",
            "INSERT INTO _alembic_tmp_users SELECT * FROM posts",
            "SAVEPOINT trx1",
        ] {
            assert!(!ok(Dialect::Sqlite, sql, &g), "{sql}");
        }
        let refusal = admit(Dialect::Sqlite, "PRAGMA main.table_xinfo(\"users\")", &g, &Reserved::default());
        assert!(refusal.is_some_and(|r| r.is_err_and(|m| m.contains("batch mode"))));
    }
}
