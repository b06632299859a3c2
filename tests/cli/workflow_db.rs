//! The databases the workflow tests (placeholders, repeatable, callbacks, squash) run on: the
//! project's embedded SQLite file and a throw-away PostgreSQL database on the real server.

use crate::common::Project;
use crate::servers::{Kind, TestDb};

pub enum Db {
    Sqlite,
    Server(TestDb),
}

impl Db {
    /// SQLite, then a fresh PostgreSQL database (an unreachable server fails the test).
    pub fn all() -> Vec<Db> {
        vec![Db::Sqlite, Db::Server(TestDb::new(Kind::Postgres))]
    }

    /// [`Db::all`] and a fresh MariaDB database: for what MariaDB does its own way (DDL
    /// commits by itself, so a run keeps autocommit off and commits each step explicitly).
    pub fn all_and_mariadb() -> Vec<Db> {
        let mut all = Db::all();
        all.push(Db::Server(TestDb::new(Kind::Mariadb)));
        all
    }

    pub fn name(&self) -> &'static str {
        match self {
            Db::Sqlite => "sqlite",
            Db::Server(TestDb { kind: Kind::Postgres, .. }) => "postgres",
            Db::Server(TestDb { kind: Kind::Mariadb, .. }) => "mariadb",
        }
    }

    fn args<'a>(&self, url: &'a str, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = Vec::new();
        if let Db::Server(_) = self {
            all.extend(["--database-url", url]);
        }
        all.extend_from_slice(args);
        all
    }

    pub fn run(&self, p: &Project, args: &[&str]) -> (i32, String, String) {
        let url = match self {
            Db::Server(db) => db.url(),
            Db::Sqlite => String::new(),
        };
        p.run(&self.args(&url, args))
    }

    pub fn run_env(&self, p: &Project, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
        let url = match self {
            Db::Server(db) => db.url(),
            Db::Sqlite => String::new(),
        };
        let mut c = p.cmd();
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.args(self.args(&url, args)).output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// Runs, asserts exit 0, and parses stdout as JSON (pass `--json`).
    pub fn json(&self, p: &Project, args: &[&str]) -> serde_json::Value {
        let (code, out, err) = self.run(p, args);
        assert_eq!(code, 0, "{}: db-migrate {args:?} failed\nstdout:\n{out}\nstderr:\n{err}", self.name());
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{}: not JSON ({e}): {out}", self.name()))
    }

    /// Runs and asserts exit 2; returns stderr.
    pub fn fails(&self, p: &Project, args: &[&str]) -> String {
        let (code, out, err) = self.run(p, args);
        assert_eq!(code, 2, "{}: db-migrate {args:?} should fail with 2\nstdout:\n{out}\nstderr:\n{err}", self.name());
        err
    }

    /// Rows of `sql`, columns joined by `|`.
    pub fn query(&self, p: &Project, sql: &str) -> Vec<String> {
        match self {
            Db::Sqlite => p.query(sql).into_iter().map(|r| r.join("|")).collect(),
            Db::Server(db) => db.query(sql),
        }
    }

    /// Tables and rows, to compare before and after a refused run.
    pub fn snapshot(&self, p: &Project) -> String {
        match self {
            Db::Sqlite if !p.db().exists() => "no database".into(),
            Db::Sqlite => p.snapshot(),
            Db::Server(db) => db.snapshot(),
        }
    }
}
