//! PostgreSQL and MariaDB: a database of its own on the real server (`servers::TestDb`), read
//! with `psql` / `mariadb`.

use super::target::{Dialect, HistoryRow, Target};
use crate::servers::{Kind, TestDb};

pub struct PostgresDb(TestDb);
pub struct MariadbDb(TestDb);

fn exists(db: &TestDb) -> bool {
    let sql = match db.kind {
        Kind::Postgres => format!("SELECT datname FROM pg_database WHERE datname = '{}'", db.name),
        Kind::Mariadb => format!("SELECT schema_name FROM information_schema.schemata WHERE schema_name = '{}'", db.name),
    };
    let out = db.client(None, &sql);
    assert!(out.status.success(), "{:?} is unreachable: {}", db.kind, String::from_utf8_lossy(&out.stderr));
    !String::from_utf8_lossy(&out.stdout).trim().is_empty()
}

fn objects(db: &TestDb) -> Vec<String> {
    if !exists(db) {
        return Vec::new();
    }
    db.tables()
}

fn history(db: &TestDb) -> Vec<HistoryRow> {
    if !objects(db).iter().any(|o| o == "db_migrate_history") {
        return Vec::new();
    }
    db.query("SELECT version, name, kind, status, checksum FROM db_migrate_history ORDER BY version")
        .into_iter()
        .map(|l| {
            let c: Vec<&str> = l.split('|').collect();
            HistoryRow { version: c[0].parse().unwrap(), name: c[1].into(), kind: c[2].into(), status: c[3].into(), checksum: c[4].into() }
        })
        .collect()
}

fn keys(db: &TestDb, object: &str) -> Vec<i64> {
    db.query(&format!("SELECT id FROM {object} ORDER BY id")).into_iter().map(|l| l.parse().unwrap()).collect()
}

/// The one session (other than ours) that `sql` finds running the slow migration.
fn session_running(db: &TestDb, sql: &str) -> String {
    let rows = db.query(sql);
    assert_eq!(rows.len(), 1, "{:?}: expected one session running the slow migration: {rows:?}", db.kind);
    rows[0].clone()
}

impl Target for PostgresDb {
    const DIALECT: Dialect = Dialect::Postgres;
    fn new() -> Self {
        PostgresDb(TestDb::new(Kind::Postgres))
    }
    fn missing() -> Self {
        PostgresDb(TestDb::fresh(Kind::Postgres))
    }
    fn url(&self) -> String {
        self.0.url()
    }
    fn exists(&self) -> bool {
        exists(&self.0)
    }
    fn objects(&self) -> Vec<String> {
        objects(&self.0)
    }
    fn keys(&self, object: &str) -> Vec<i64> {
        keys(&self.0, object)
    }
    fn drop_object(&self, object: &str) {
        self.0.query(&format!("DROP TABLE {object}"));
    }
    fn history(&self) -> Vec<HistoryRow> {
        history(&self.0)
    }
    fn snapshot(&self) -> String {
        self.0.snapshot()
    }
    fn holder(&self, _pid: u32) -> String {
        let pid = session_running(
            &self.0,
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%pg_sleep%'",
        );
        format!("pid {pid}")
    }
}

impl Target for MariadbDb {
    const DIALECT: Dialect = Dialect::Mariadb;
    fn new() -> Self {
        MariadbDb(TestDb::new(Kind::Mariadb))
    }
    fn missing() -> Self {
        MariadbDb(TestDb::fresh(Kind::Mariadb))
    }
    fn url(&self) -> String {
        self.0.url()
    }
    fn exists(&self) -> bool {
        exists(&self.0)
    }
    fn objects(&self) -> Vec<String> {
        objects(&self.0)
    }
    fn keys(&self, object: &str) -> Vec<i64> {
        keys(&self.0, object)
    }
    fn drop_object(&self, object: &str) {
        self.0.query(&format!("DROP TABLE {object}"));
    }
    fn history(&self) -> Vec<HistoryRow> {
        history(&self.0)
    }
    fn snapshot(&self) -> String {
        self.0.snapshot()
    }
    fn holder(&self, _pid: u32) -> String {
        let id = session_running(
            &self.0,
            "SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID() AND info LIKE '%SLEEP(%'",
        );
        format!("connection id {id}")
    }
}
