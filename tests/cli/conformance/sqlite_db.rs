//! SQLite: a database file in its own temporary folder, read with SQLite itself
//! (`common::query_file`).

use std::path::PathBuf;

use sqlx::Connection;

use super::target::{Dialect, HistoryRow, Target};
use crate::common::query_file;

pub struct SqliteDb {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl SqliteDb {
    fn exec(&self, sql: &str) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", self.path.display())).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        });
    }

    fn texts(&self, sql: &str) -> Vec<Vec<String>> {
        if !self.exists() {
            return Vec::new();
        }
        query_file(&self.path, sql)
    }
}

impl Target for SqliteDb {
    const DIALECT: Dialect = Dialect::Sqlite;

    fn new() -> Self {
        let db = Self::missing();
        db.exec("PRAGMA user_version = 0");
        assert!(db.exists());
        db
    }

    fn missing() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.sqlite3");
        SqliteDb { _dir: dir, path }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    fn exists(&self) -> bool {
        self.path.exists()
    }

    fn objects(&self) -> Vec<String> {
        self.texts("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    }

    fn keys(&self, object: &str) -> Vec<i64> {
        self.texts(&format!("SELECT id FROM \"{object}\" ORDER BY id")).into_iter().map(|r| r[0].parse().unwrap()).collect()
    }

    fn drop_object(&self, object: &str) {
        self.exec(&format!("DROP TABLE \"{object}\""));
    }

    fn history(&self) -> Vec<HistoryRow> {
        if !self.objects().iter().any(|o| o == "db_migrate_history") {
            return Vec::new();
        }
        self.texts("SELECT version, name, kind, status, checksum FROM db_migrate_history ORDER BY version")
            .into_iter()
            .map(|r| HistoryRow { version: r[0].parse().unwrap(), name: r[1].clone(), kind: r[2].clone(), status: r[3].clone(), checksum: r[4].clone() })
            .collect()
    }

    fn snapshot(&self) -> String {
        let mut out = String::new();
        for r in self.texts("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name") {
            out.push_str(&format!("{r:?}\n"));
            if r[0] == "table" {
                for row in self.texts(&format!("SELECT * FROM \"{}\" ORDER BY 1", r[1])) {
                    out.push_str(&format!("  {row:?}\n"));
                }
            }
        }
        out
    }

    fn holder(&self, pid: u32) -> String {
        // SQLite has no server to ask; the runner can name only its own kind of lock holder.
        format!("pid {pid}")
    }
}
