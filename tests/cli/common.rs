//! Test helpers: a temporary project, the real binary, and a look into the real SQLite file.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use sqlx::{Connection, Row};

/// A temporary project directory with a `migrations/` folder.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("migrations")).unwrap();
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The binary, run in the project, with no database settings leaking in from the environment.
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("db-migrate").unwrap();
        c.current_dir(self.path()).env_remove("DATABASE_URL").env_remove("DB_MIGRATE_ENV");
        c
    }

    /// Runs the binary with `args` and returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "db-migrate {args:?} failed\nstdout:\n{out}\nstderr:\n{err}");
        out
    }

    /// Runs and asserts exit code 2; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 2, "db-migrate {args:?} should fail with 2\nstdout:\n{out}\nstderr:\n{err}");
        err
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    /// Writes a dbmate-style migration.
    pub fn migration(&self, version: i64, name: &str, up: &str, down: Option<&str>) -> PathBuf {
        let mut text = format!("-- migrate:up\n{up}\n");
        if let Some(d) = down {
            text.push_str(&format!("\n-- migrate:down\n{d}\n"));
        }
        self.write(&format!("migrations/{version}_{name}.sql"), text)
    }

    /// The embedded default database.
    pub fn db(&self) -> PathBuf {
        self.path().join("db/development.sqlite3")
    }

    /// Rows of `sql` against the default database, every value as text.
    pub fn query(&self, sql: &str) -> Vec<Vec<String>> {
        query_file(&self.db(), sql)
    }

    /// User tables, sorted (history table included).
    pub fn tables(&self) -> Vec<String> {
        self.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    }

    /// (version, status) of each history row.
    pub fn history(&self) -> Vec<(String, String)> {
        self.query("SELECT version, status FROM db_migrate_history ORDER BY version")
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect()
    }

    /// The whole database as text: schema and every row of every table, to compare before/after.
    pub fn snapshot(&self) -> String {
        let mut out = String::new();
        for r in self.query("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name") {
            out.push_str(&format!("{r:?}\n"));
            if r[0] == "table" {
                for row in self.query(&format!("SELECT * FROM \"{}\" ORDER BY 1", r[1])) {
                    out.push_str(&format!("  {row:?}\n"));
                }
            }
        }
        out
    }
}

pub fn query_file(db: &Path, sql: &str) -> Vec<Vec<String>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}?mode=ro", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).fetch_all(&mut conn).await.unwrap();
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| {
                        if let Ok(v) = r.try_get::<Option<i64>, _>(i) {
                            return v.map(|v| v.to_string()).unwrap_or_else(|| "NULL".into());
                        }
                        if let Ok(v) = r.try_get::<Option<String>, _>(i) {
                            return v.unwrap_or_else(|| "NULL".into());
                        }
                        "?".into()
                    })
                    .collect()
            })
            .collect()
    })
}

/// The test guests of `tests/fixtures/guests`, built once per test run by the project's own
/// `db-migrate build`; returns the folder holding `probe.wasm` and `seed_world.wasm`.
pub fn guests() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let fixtures = root.join("tests/fixtures/guests");
        let out = root.join("target/test-guests");
        let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("db-migrate"))
            .arg("--dir")
            .arg(&fixtures)
            .args(["-q", "build", "--out"])
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success(), "building the test guests failed");
        out
    })
}

/// The first-party seed packs of `plugins/`, built once per test run by `db-migrate build`;
/// returns the folder holding `faker.wasm` and `csv-import.wasm`.
pub fn plugins() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = root.join("target/test-plugins");
        let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("db-migrate"))
            .arg("--dir")
            .arg(&root)
            .args(["-q", "build"])
            .arg(root.join("plugins/faker"))
            .arg(root.join("plugins/csv-import"))
            .arg("--out")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success(), "building the plugins failed");
        out
    })
}

impl Project {
    /// Copies a test guest into `migrations/` as `VERSION_name.wasm`.
    pub fn component(&self, guest: &str, version: i64, name: &str) -> PathBuf {
        let dest = self.path().join(format!("migrations/{version}_{name}.wasm"));
        std::fs::copy(guests().join(format!("{guest}.wasm")), &dest).unwrap();
        dest
    }
}

/// Runs `n` copies of `db-migrate ARGS` at once in the project; asserts each one succeeded and
/// returns how many migrations they applied between them.
pub fn run_concurrently(p: &Project, n: usize, args: &[&str]) -> usize {
    let children: Vec<_> = (0..n)
        .map(|_| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("db-migrate"))
                .current_dir(p.path())
                .env_remove("DATABASE_URL")
                .env_remove("DB_MIGRATE_ENV")
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "a runner of {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        applied += stdout.lines().filter(|l| l.starts_with("applied  ")).count();
    }
    applied
}
