//! What the conformance suite needs to know about a backend: how to get a database, how to look
//! into it with the database's own client, and how to write a migration in its language.

use std::path::Path;

use sha2::{Digest, Sha256};

/// The language migrations are written in, and what the backend promises about transactions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mariadb,
    Mongo,
}

impl Dialect {
    /// A failure after a schema change inside a transactional migration takes the change back.
    pub fn transactional_ddl(self) -> bool {
        matches!(self, Dialect::Sqlite | Dialect::Postgres)
    }

    /// A failing migration of data only (no DDL) keeps nothing: it runs in one transaction.
    pub fn transactional_data(self) -> bool {
        self != Dialect::Mongo
    }

    /// The `kind` a plain migration file has in the history and in `status --json`.
    pub fn kind(self) -> &'static str {
        match self {
            Dialect::Mongo => "commands",
            _ => "sql",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Dialect::Mongo => "mongo.json",
            _ => "sql",
        }
    }

    /// The file name of migration `version_name`.
    pub fn file_name(self, version: i64, name: &str) -> String {
        format!("{version}_{name}.{}", self.extension())
    }

    /// The file's text. Up step `i` is always on line `i + 2`, on every backend.
    pub fn render(self, m: &Migration) -> String {
        match self {
            Dialect::Mongo => {
                let cmds = |steps: &[Step]| steps.iter().map(|s| self.step(s)).collect::<Vec<_>>().join(",\n");
                let mut text = format!("{{\"up\": [\n{}\n]", cmds(&m.up));
                if let Some(down) = &m.down {
                    text.push_str(&format!(",\n\"down\": [\n{}\n]", cmds(down)));
                }
                text.push_str("}\n");
                text
            }
            _ => {
                let opt = if m.transaction { "" } else { " transaction:false" };
                let stmts = |steps: &[Step]| steps.iter().map(|s| self.step(s)).collect::<Vec<_>>().join("\n");
                let mut text = format!("-- migrate:up{opt}\n{}\n", stmts(&m.up));
                if let Some(down) = &m.down {
                    text.push_str(&format!("\n-- migrate:down{opt}\n{}\n", stmts(down)));
                }
                text
            }
        }
    }

    fn step(self, s: &Step) -> String {
        match (self, s) {
            (Dialect::Mongo, Step::Create(t)) => format!("{{\"create\": \"{t}\"}}"),
            (Dialect::Mongo, Step::Insert(t, id)) => format!("{{\"insert\": \"{t}\", \"documents\": [{{\"_id\": {id}}}]}}"),
            (Dialect::Mongo, Step::Drop(t)) => format!("{{\"drop\": \"{t}\"}}"),
            // Five inserts of 20,000 documents: a few seconds on the test server, on one line.
            (Dialect::Mongo, Step::Slow) => (0..5)
                .map(|b| {
                    let docs: Vec<String> = (0..20_000).map(|i| format!("{{\"_id\": {}}}", b * 20_000 + i)).collect();
                    format!("{{\"insert\": \"slow\", \"documents\": [{}]}}", docs.join(","))
                })
                .collect::<Vec<_>>()
                .join(", "),
            (_, Step::Create(t)) => format!("CREATE TABLE {t} (id INTEGER PRIMARY KEY);"),
            (_, Step::Insert(t, id)) => format!("INSERT INTO {t} (id) VALUES ({id});"),
            (_, Step::Drop(t)) => format!("DROP TABLE {t};"),
            (Dialect::Sqlite, Step::Slow) => {
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 15000000) SELECT count(*) FROM c;".into()
            }
            (Dialect::Postgres, Step::Slow) => "SELECT pg_sleep(6);".into(),
            (Dialect::Mariadb, Step::Slow) => "DO SLEEP(6);".into(),
        }
    }
}

/// One step of a migration; every backend writes it in its own language.
#[derive(Clone, Debug)]
pub enum Step {
    /// A table or collection with an integer key `id` (`_id`).
    Create(String),
    /// One row or document with this key; a second one with the same key fails.
    Insert(String, i64),
    /// Drops a table or collection.
    Drop(String),
    /// A few seconds of work that changes nothing (holds the run's lock meanwhile).
    Slow,
}

pub fn create(t: &str) -> Step {
    Step::Create(t.into())
}
pub fn insert(t: &str, id: i64) -> Step {
    Step::Insert(t.into(), id)
}
pub fn drop(t: &str) -> Step {
    Step::Drop(t.into())
}

/// A migration: its up steps, its down steps (none: irreversible), and whether it asks for a
/// transaction (`transaction:false` on the SQL backends; command files never have one).
#[derive(Clone, Debug)]
pub struct Migration {
    pub up: Vec<Step>,
    pub down: Option<Vec<Step>>,
    pub transaction: bool,
}

impl Migration {
    /// Creates `t` with one row (key 1); down drops it.
    pub fn table(t: &str) -> Self {
        Migration { up: vec![create(t), insert(t, 1)], down: Some(vec![drop(t)]), transaction: true }
    }

    pub fn steps(up: Vec<Step>, down: Vec<Step>) -> Self {
        Migration { up, down: Some(down), transaction: true }
    }

    pub fn without_transaction(mut self) -> Self {
        self.transaction = false;
        self
    }
}

/// One history row as the backend stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRow {
    pub version: i64,
    pub name: String,
    pub kind: String,
    pub status: String,
    pub checksum: String,
}

/// A throw-away database of one backend, inspected with the database's own client. Dropped at
/// the end of the test; an unreachable server fails the test.
pub trait Target: Sized {
    const DIALECT: Dialect;
    /// An existing, empty database.
    fn new() -> Self;
    /// A database that does not exist yet.
    fn missing() -> Self;
    fn url(&self) -> String;
    fn exists(&self) -> bool;
    /// Every table or collection, db-migrate's own included, sorted.
    fn objects(&self) -> Vec<String>;
    /// The keys in a table or collection, sorted.
    fn keys(&self, object: &str) -> Vec<i64>;
    /// Drops a table or collection by hand, as a human repairing a dirty migration would.
    fn drop_object(&self, object: &str);
    fn history(&self) -> Vec<HistoryRow>;
    /// Every object with every row, and the history: a before/after dump.
    fn snapshot(&self) -> String;
    /// What the `locked` error of another runner must contain to name the runner with OS
    /// process id `pid`, which is running the slow migration now.
    fn holder(&self, pid: u32) -> String;

    /// Tables or collections other than db-migrate's own.
    fn user_objects(&self) -> Vec<String> {
        self.objects().into_iter().filter(|o| !o.starts_with("db_migrate_")).collect()
    }

    /// (version, status) of each history row.
    fn statuses(&self) -> Vec<(i64, String)> {
        self.history().into_iter().map(|h| (h.version, h.status)).collect()
    }
}

/// SHA-256 of a file, hex: the checksum db-migrate records for a single-file migration whose
/// text has no BOM and no CR.
pub fn sha256_file(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}
