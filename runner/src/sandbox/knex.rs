//! Knex migrations: a knex project's migration files run as they are, inside the sandbox.
//!
//! One component — db-migrate's knex runtime (`sdk/knex/`: the real `knex` package from npm,
//! bundled with esbuild, with a client per dialect whose `_query` calls the WIT `sql`
//! interface, built by componentize-js) — runs every knex migration. A migration file is data
//! given to it: the host passes the file's name and text through `context.args` under two names
//! no user argument may take ([`FILE_ARG`], [`SOURCE_ARG`]), and the runtime evaluates the file
//! and calls its `up` or `down` with a knex instance. The migration's checksum is its file's, so
//! `validate` and `status` see the file, never the runtime.
//!
//! Knex's schema builder asks the live database a few questions of its own, and wraps its
//! table rebuilds in transactions. Those statements are admitted here by an allowlist of the
//! exact forms knex sends — nothing else a component may not send becomes allowed:
//! - `SAVEPOINT trxN`, `RELEASE SAVEPOINT trxN`, `ROLLBACK TO SAVEPOINT trxN` (knex's own names):
//!   every knex transaction inside a migration is a savepoint of the migration's transaction;
//! - on SQLite, `PRAGMA foreign_keys` (read, and `= ON`/`= OFF`, which SQLite ignores inside a
//!   transaction), `PRAGMA foreign_key_check`, `PRAGMA table_info(t)` of a granted table;
//! - on SQLite, knex's two reads of `sqlite_master` (`hasTable`, and the `CREATE` statements of
//!   a granted table before a rebuild);
//! - `_knex_temp_alterNNN`, the table a SQLite rebuild copies a granted table into and renames
//!   back: under a table allowlist, it counts as granted.
//!
//! SQLite's authorizer enforces the same list ([`crate::backend::guest::GuestScope::knex`]).

use super::grants::{Admitted, Class, Grants, Reserved};
use crate::backend::Dialect;
use crate::migrate::source::{Body, Migration};

/// The argument holding the migration file's name.
pub const FILE_ARG: &str = "db-migrate:knex-file";
/// The argument holding the migration file's text.
pub const SOURCE_ARG: &str = "db-migrate:knex-source";

/// The arguments a knex migration's runtime gets on top of the user's: its file's name and text.
pub fn args(m: &Migration) -> Option<[(String, String); 2]> {
    let Body::Knex { source } = &m.body else { return None };
    let file = m.path.file_name().and_then(|n| n.to_str()).unwrap_or("migration.js").to_string();
    Some([(FILE_ARG.to_string(), file), (SOURCE_ARG.to_string(), source.clone())])
}

pub use crate::backend::guest::{is_knex_savepoint as is_savepoint, is_knex_temp_table as is_temp_table};

/// knex's query for the foreign keys referring to a table (MySQL `renameColumn`), whitespace
/// collapsed, lower-case.
const FK_REFS: &str = "select kcu.constraint_name, kcu.table_name, kcu.column_name, kcu.referenced_table_name, \
     kcu.referenced_column_name, rc.update_rule, rc.delete_rule from information_schema.key_column_usage as kcu \
     join information_schema.referential_constraints as rc using(constraint_name) where kcu.referenced_table_name = ? \
     and kcu.constraint_schema = ? and rc.constraint_schema = ?";

/// Unquotes one identifier as knex writes it (`` `users` `` or `"users"`); `None` for anything
/// else (a qualified name, a quote inside).
fn identifier(s: &str) -> Option<String> {
    let inner = s
        .strip_prefix('`')
        .and_then(|r| r.strip_suffix('`'))
        .or_else(|| s.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
        .unwrap_or(s);
    let plain = !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    plain.then(|| inner.to_ascii_lowercase())
}

/// The statements knex sends that a component may not, admitted for a knex migration when
/// they are exactly knex's; `None` leaves the statement to the ordinary check.
pub fn admit(dialect: Dialect, sql: &str, grants: &Grants, reserved: &Reserved) -> Option<Result<Admitted, String>> {
    let text = sql.trim().trim_end_matches(';').trim_end();
    let lower = text.to_ascii_lowercase();
    let words: Vec<&str> = lower.split_ascii_whitespace().collect();
    let admitted = |query: bool| {
        if grants.classes.contains(&Class::Read) {
            Ok(Admitted { class: Class::Read, query, target: None, insert: None })
        } else {
            Err("knex's catalog reads and savepoints need `read`, which this migration is not granted".to_string())
        }
    };
    match words.as_slice() {
        ["savepoint", name] | ["release", "savepoint", name] | ["rollback", "to", "savepoint", name] if is_savepoint(name) => {
            return Some(admitted(false));
        }
        _ => {}
    }
    // `hasTable` and `hasColumn` on PostgreSQL and MySQL: the catalog, for the current schema or
    // database only (names are parameters; the catalog shows what the session may see).
    let catalog: &[&str] = match dialect {
        Dialect::Postgres => &[
            "select * from information_schema.tables where table_name = $1 and table_schema = current_schema()",
            "select * from information_schema.columns where table_name = $1 and column_name = $2 and table_schema = current_schema()",
        ],
        Dialect::Mysql => &[
            // (the runtime asks for `table_name` where knex says `*`: BIGINT UNSIGNED columns)
            "select table_name from information_schema.tables where table_name = ? and table_schema = database()",
            // The runtime's `client.database()`, which knex binds into its catalog queries.
            "select database() as db",
        ],
        Dialect::Sqlite => &[],
    };
    if catalog.contains(&lower.as_str()) {
        return Some(admitted(true));
    }
    if dialect == Dialect::Mysql {
        // `hasColumn`, and `renameColumn` reading the column's definition, of a table it may read.
        if let ["show", "columns", "from", table] | ["show", "full", "fields", "from", table, "where", "field", "=", "?"] = words.as_slice() {
            let table = identifier(table)?;
            return Some(grants.relation_allowed(dialect, reserved, std::slice::from_ref(&table)).and_then(|()| admitted(true)));
        }
        // `renameColumn`: the foreign keys that refer to the table (names are parameters).
        if words.join(" ") == FK_REFS {
            return Some(admitted(true));
        }
    }
    if dialect == Dialect::Sqlite {
        match words.as_slice() {
            ["pragma", "foreign_keys"] | ["pragma", "foreign_key_check"] => return Some(admitted(true)),
            ["pragma", "foreign_keys", "=", "on" | "off"] => return Some(admitted(false)),
            ["pragma", call] => {
                let table = call.strip_prefix("table_info(").and_then(|r| r.strip_suffix(')')).and_then(identifier)?;
                return Some(grants.relation_allowed(dialect, reserved, std::slice::from_ref(&table)).and_then(|()| admitted(true)));
            }
            _ => {}
        }
        // `hasTable`: whether a table exists. The runtime asks for the name only, where knex says
        // `*`: `*` would hand over the `CREATE` text of any table whose name the migration guesses,
        // granted or not; the name it bound is all this form can return.
        if lower == "select name from sqlite_master where type = 'table' and name = ?" {
            return Some(admitted(true));
        }
        // Before a rebuild: the table's and its indexes' CREATE statements, of a granted table.
        const TABLE_SQL: &str = "select type, sql from sqlite_master where (type='table' or (type='index' and sql is not null)) and lower(tbl_name)='";
        if let Some(rest) = lower.strip_prefix(TABLE_SQL) {
            let table = rest.strip_suffix('\'').and_then(identifier)?;
            return Some(grants.relation_allowed(dialect, reserved, std::slice::from_ref(&table)).and_then(|()| admitted(true)));
        }
    }
    let scratch = super::scratch::Scratch { tool: "knex", prefix: "_knex_temp_alter", shown: "_knex_temp_alterNNN", granted: &|name, _| is_temp_table(name) };
    scratch.admit(dialect, sql, &lower, grants, reserved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users_only() -> Grants {
        Grants { classes: [Class::Read, Class::Write, Class::Ddl].into(), tables: Some(["users".to_string()].into()), functions: Default::default() }
    }

    fn ok(sql: &str, g: &Grants) -> bool {
        match admit(Dialect::Sqlite, sql, g, &Reserved::default()) {
            Some(r) => r.is_ok(),
            None => g.check(Dialect::Sqlite, sql).is_ok(),
        }
    }

    #[test]
    fn knex_statements_are_admitted_exactly() {
        let g = users_only();
        for sql in [
            "SAVEPOINT trx1;",
            "RELEASE SAVEPOINT trx12;",
            "ROLLBACK TO SAVEPOINT trx3",
            "PRAGMA foreign_keys",
            "PRAGMA foreign_keys = OFF",
            "PRAGMA foreign_key_check",
            "PRAGMA table_info(`users`)",
            "select name from sqlite_master where type = 'table' and name = ?",
            "SELECT type, sql FROM sqlite_master WHERE (type='table' OR (type='index' AND sql IS NOT NULL)) AND lower(tbl_name)='users'",
            "CREATE TABLE `_knex_temp_alter624` (`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL, `email` varchar(500))",
            "INSERT INTO \"_knex_temp_alter624\" SELECT * FROM \"users\";",
            "ALTER TABLE \"_knex_temp_alter624\" RENAME TO \"users\"",
        ] {
            assert!(ok(sql, &g), "{sql}");
        }
    }

    #[test]
    fn knex_catalog_reads_on_servers_are_admitted_exactly() {
        let g = users_only();
        let r = Reserved::default();
        for sql in [
            "select * from information_schema.tables where table_name = $1 and table_schema = current_schema()",
            "select * from information_schema.columns where table_name = $1 and column_name = $2 and table_schema = current_schema()",
        ] {
            assert!(admit(Dialect::Postgres, sql, &g, &r).is_some_and(|a| a.is_ok()), "{sql}");
        }
        assert!(admit(Dialect::Postgres, "select * from information_schema.tables", &g, &r).is_none());
        assert!(admit(Dialect::Mysql, "show columns from `users`", &g, &r).is_some_and(|a| a.is_ok()));
        assert!(admit(Dialect::Mysql, "show columns from `posts`", &g, &r).is_some_and(|a| a.is_err()));
        assert!(admit(Dialect::Mysql, "show full fields from `users` where field = ?", &g, &r).is_some_and(|a| a.is_ok()));
        assert!(admit(Dialect::Mysql, "show full fields from `posts` where field = ?", &g, &r).is_some_and(|a| a.is_err()));
        let fk_refs = "SELECT KCU.CONSTRAINT_NAME, KCU.TABLE_NAME, KCU.COLUMN_NAME,        KCU.REFERENCED_TABLE_NAME, KCU.REFERENCED_COLUMN_NAME, \
             RC.UPDATE_RULE, RC.DELETE_RULE FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE AS KCU JOIN INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS AS RC \
                    USING(CONSTRAINT_NAME) WHERE KCU.REFERENCED_TABLE_NAME = ?   AND KCU.CONSTRAINT_SCHEMA = ?   AND RC.CONSTRAINT_SCHEMA = ?";
        assert!(admit(Dialect::Mysql, fk_refs, &g, &r).is_some_and(|a| a.is_ok()));
        assert!(admit(Dialect::Mysql, "select database() as db", &g, &r).is_some_and(|a| a.is_ok()));
        assert!(admit(Dialect::Mysql, "select * from information_schema.tables", &g, &r).is_none());
    }

    #[test]
    fn a_table_is_never_renamed_to_a_scratch_name() {
        let g = users_only();
        assert!(!ok("ALTER TABLE users RENAME TO _knex_temp_alter1", &g));
        assert!(!ok("ALTER TABLE `users` RENAME TO `_knex_temp_alter1`", &g));
        assert!(!ok("alter table \"users\" rename to \"_knex_temp_alter22\"", &g));
        // No space, comments, brackets: still a rename onto the scratch name.
        assert!(!ok("ALTER TABLE users RENAME TO\"_knex_temp_alter1\"", &g));
        assert!(!ok("ALTER TABLE users RENAME TO`_knex_temp_alter1`", &g));
        assert!(!ok("ALTER TABLE users RENAME TO[_knex_temp_alter1]", &g));
        assert!(!ok("ALTER TABLE users RENAME/**/TO/**/_knex_temp_alter1", &g));
        // What knex does: the scratch table back onto the table it rebuilds.
        assert!(ok("ALTER TABLE \"_knex_temp_alter624\" RENAME TO \"users\"", &g));
    }

    #[test]
    fn has_table_on_sqlite_returns_the_name_only() {
        // knex's own form reads the whole row, the CREATE text of any table it names included.
        let g = users_only();
        assert!(!ok("select * from sqlite_master where type = 'table' and name = ?", &g));
        assert!(!ok("select sql from sqlite_master where type = 'table' and name = ?", &g));
        assert!(ok("select name from sqlite_master where type = 'table' and name = ?", &g));
    }

    #[test]
    fn look_alikes_and_other_tables_are_refused() {
        let g = users_only();
        for sql in [
            "SAVEPOINT mine",
            "RELEASE SAVEPOINT db_migrate",
            "ROLLBACK",
            "BEGIN",
            "COMMIT",
            "PRAGMA writable_schema = 1",
            "PRAGMA foreign_keys = 1; DROP TABLE users",
            "PRAGMA table_info(`posts`)",
            "PRAGMA table_info(`db_migrate_history`)",
            "select * from sqlite_master",
            "SELECT type, sql FROM sqlite_master WHERE (type='table' OR (type='index' AND sql IS NOT NULL)) AND lower(tbl_name)='posts'",
            "SELECT type, sql FROM sqlite_master WHERE (type='table' OR (type='index' AND sql IS NOT NULL)) AND lower(tbl_name)='x' or 1=1 or ''='",
            "INSERT INTO \"_knex_temp_alter624\" SELECT * FROM \"posts\";",
            "CREATE TABLE `_knex_temp_alterx` (id int)",
        ] {
            assert!(!ok(sql, &g), "{sql}");
        }
    }
}
