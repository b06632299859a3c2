//! `db-migrate create --seed NAME`: scaffold a seed — `seeds/NN_NAME.sql`, or a guest folder
//! `components/NN_NAME/` of the `seed` world that `db-migrate build` writes to
//! `seeds/NN_NAME.wasm`. Seeds run in file-name order, so `NN` is the next ordering number after
//! the project's seeds (`01`, `02`, …); a name that starts with digits and `_` keeps them.

use std::path::{Path, PathBuf};

use super::Lang;
use crate::Output;
use crate::config::Settings;
use db_migrate::migrate::error::Error;

const SQL: &str = "\
-- A seed: `db-migrate seed` runs this file once, in one transaction with its record, after the
-- seeds before it in file-name order. Edit it and it runs again; `--force` runs it again as is.
-- It takes no arguments and no random seed: the same content is the same seed.

-- INSERT INTO roles (name) VALUES ('admin'), ('editor');
";

const RUST: &str = r#"//! A db-migrate seed. `db-migrate build` writes it to seeds/; `db-migrate seed` runs it.
use db_migrate_sdk::{Dialect, Result, Seed, Value, context, dialect, execute_batch_owned, log};

struct ThisSeed;

impl Seed for ThisSeed {
    fn run() -> Result<()> {
        // Same --seed, same data: draw everything random from the random seed.
        let mut x = context::random_seed() | 1;
        let n: i64 = context::arg("rows").and_then(|v| v.parse().ok()).unwrap_or(10);
        let rows: Vec<Vec<Value>> = (1..=n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                vec![Value::from(i), Value::from(format!("example {}", x % 1000))]
            })
            .collect();
        let insert = match dialect() {
            Dialect::Postgres => "INSERT INTO example (id, name) VALUES ($1, $2)",
            _ => "INSERT INTO example (id, name) VALUES (?, ?)",
        };
        // By value: the rows' strings go to the host without a copy.
        execute_batch_owned(insert, rows)?;
        log::info(format!("wrote {n} example rows"));
        Ok(())
    }
}

db_migrate_sdk::export_seed!(ThisSeed);
"#;

const PYTHON: &str = r#""""A db-migrate seed in Python; `db-migrate build` writes it to seeds/, `db-migrate seed` runs it."""
import random

from db_migrate import Seed, context, dialect, execute_batch, export, progress


class ThisSeed(Seed):
    def run(self):
        rng = random.Random(context.random_seed())  # same --seed, same data
        n = int(context.arg("rows", "10"))
        mark = "$1, $2" if dialect() == "postgres" else "?, ?"
        rows = [[i, f"example {rng.randint(1, 1000)}"] for i in range(1, n + 1)]
        execute_batch(f"INSERT INTO example (id, name) VALUES ({mark})", rows)
        progress(n, n)


WitWorld = export(ThisSeed)
"#;

const JS: &str = r#"// A db-migrate seed in JavaScript; `db-migrate build` writes it to seeds/ (and writes
// db-migrate.js, the SDK, next to this file); `db-migrate seed` runs it.
import { Seed, context, dialect, executeBatch, progress, exportSeed } from "./db-migrate.js";

class ThisSeed extends Seed {
  run() {
    let x = context.randomSeed() | 1n; // same --seed, same data
    const next = () => { x ^= x << 13n; x ^= x >> 7n; x ^= x << 17n; x &= (1n << 64n) - 1n; return x; };
    const n = Number(context.arg("rows", "10"));
    const mark = dialect() === "postgres" ? "$1, $2" : "?, ?";
    const rows = [];
    for (let i = 1; i <= n; i++) rows.push([i, `example ${(next() % 1000n).toString()}`]);
    executeBatch(`INSERT INTO example (id, name) VALUES (${mark})`, rows);
    progress(n, n);
  }
}

export const { run } = exportSeed(ThisSeed);
"#;

const C: &str = r#"/* A db-migrate seed in C; `db-migrate build` writes it to seeds/, `db-migrate seed` runs it. */
#include "db_migrate.h"
#include <stdio.h>
#include <string.h>

static int run(dbm_error *err) {
    uint64_t x = dbm_random_seed() | 1; /* same --seed, same data */
    enum { N = 10 };
    static dbm_value values[N * 2];
    static char names[N][24];
    for (int i = 0; i < N; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        snprintf(names[i], sizeof names[i], "example %llu", (unsigned long long)(x % 1000));
        values[i * 2] = dbm_int(i + 1);
        values[i * 2 + 1] = dbm_text(names[i]);
    }
    const char *sql = strcmp(dbm_dialect(), "postgres") == 0 ? "INSERT INTO example (id, name) VALUES ($1, $2)"
                                                             : "INSERT INTO example (id, name) VALUES (?, ?)";
    if (dbm_execute_batch(sql, values, N, 2, NULL, err)) return 1;
    dbm_progress(N, N);
    return 0;
}

DBM_EXPORT_SEED(run)
"#;

/// The leading number of a seed's name (`02_users` → 2) and its width.
fn number(name: &str) -> Option<(u64, usize)> {
    let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty() && name[digits.len()..].starts_with('_')).then(|| (digits.parse().unwrap_or(0), digits.len()))
}

/// Names of the project's seeds: `seeds/*.sql`, `seeds/*.wasm` and seed guests in `components/`.
fn existing(settings: &Settings) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&settings.seeds_dir) {
        for p in rd.filter_map(|e| e.ok()).map(|e| e.path()) {
            if matches!(p.extension().and_then(|x| x.to_str()), Some("sql" | "wasm")) {
                names.extend(p.file_stem().and_then(|s| s.to_str()).map(String::from));
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(settings.project_dir.join("components")) {
        for p in rd.filter_map(|e| e.ok()).map(|e| e.path()) {
            if matches!(crate::commands::guest::detect(&p), Some(Ok(g)) if g.world == crate::commands::guest::World::Seed) {
                names.extend(p.file_name().and_then(|s| s.to_str()).map(String::from));
            }
        }
    }
    names
}

/// `NAME` with the next ordering number in front (unless it has one).
fn numbered(name: &str, existing: &[String]) -> String {
    if number(name).is_some() {
        return name.to_string();
    }
    let found: Vec<(u64, usize)> = existing.iter().filter_map(|n| number(n)).collect();
    let next = found.iter().map(|(n, _)| n + 1).max().unwrap_or(1);
    let width = found.iter().map(|(_, w)| *w).max().unwrap_or(2).max(2);
    format!("{next:0width$}_{name}")
}

pub fn run(settings: &Settings, name: &str, lang: Option<Lang>, out: &Output) -> Result<(PathBuf, String), Error> {
    let io = |path: &Path, e: std::io::Error| Error::Io { path: path.to_path_buf(), message: e.to_string() };
    let mongo = settings.database_url.starts_with("mongodb://") || settings.database_url.starts_with("mongodb+srv://");
    if mongo || lang == Some(Lang::Mongo) {
        return Err(Error::Config(
            "`create --seed` writes SQL seeds and seed components; on MongoDB, write seeds/NN_NAME.json by hand: \
             `{\"collection\": [documents…]}` or `{\"up\": [commands…]}` (see Seeds on MongoDB in the README)".into(),
        ));
    }
    let existing = existing(settings);
    let full = numbered(name, &existing);
    if existing.contains(&full) {
        return Err(Error::Config(format!("a seed named `{full}` exists already; choose another name")));
    }
    let lang = lang.unwrap_or(Lang::Sql);
    if lang == Lang::Sql {
        let dir = &settings.seeds_dir;
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let path = dir.join(format!("{full}.sql"));
        std::fs::write(&path, SQL).map_err(|e| io(&path, e))?;
        out.line(&format!("created {} (a SQL seed; `db-migrate seed` runs it)", path.display()));
        return Ok((path, full));
    }
    let dir = settings.project_dir.join("components").join(&full);
    if dir.exists() {
        return Err(Error::Config(format!("{} exists already; choose another name", dir.display())));
    }
    match lang {
        Lang::Rust => {
            let sdk = crate::commands::build::materialize_sdk(&settings.project_dir)?;
            std::fs::create_dir_all(dir.join("src")).map_err(|e| io(&dir, e))?;
            let sdk_rel = super::pathdiff(&sdk, &dir);
            let package = format!("seed_{}", full.replace('-', "_")).to_lowercase();
            let manifest = format!(
                "[package]\nname = \"{package}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
                 [lib]\ncrate-type = [\"cdylib\"]\n\n# The `seed` feature makes this crate a seed (world `seed`).\n\
                 [dependencies]\ndb-migrate-sdk = {{ path = \"{sdk_rel}\", features = [\"seed\"] }}\n\n\
                 # A seed writes many rows: one codegen unit with LTO inlines the SDK's and the allocator's\n\
                 # small functions into the row loop (each call also pays the sandbox's deadline check).\n\
                 [profile.release]\nlto = true\ncodegen-units = 1\n\n\
                 # Each guest is its own workspace, outside any workspace around the project.\n[workspace]\n"
            );
            std::fs::write(dir.join("Cargo.toml"), manifest).map_err(|e| io(&dir, e))?;
            std::fs::write(dir.join("src").join("lib.rs"), RUST).map_err(|e| io(&dir, e))?;
        }
        _ => {
            std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            let (file, text, language) = match lang {
                Lang::Python => ("app.py", PYTHON, "python"),
                Lang::Js => ("app.js", JS, "js"),
                _ => ("app.c", C, "c"),
            };
            std::fs::write(dir.join(file), text).map_err(|e| io(&dir, e))?;
            let manifest = format!("# How `db-migrate build` builds this folder.\nlanguage = \"{language}\"\nworld = \"seed\"\n");
            std::fs::write(dir.join("component.toml"), manifest).map_err(|e| io(&dir, e))?;
        }
    }
    out.line(&format!("created {}/ (a seed component; it writes to an `example` table: make it yours)", dir.display()));
    out.line(&format!("next: edit it, then `db-migrate build` writes {}, and `db-migrate seed` runs it", settings.seeds_dir.join(format!("{full}.wasm")).display()));
    Ok((dir, full))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_the_next_ordering_number() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(numbered("users", &[]), "01_users");
        assert_eq!(numbered("users", &s(&["01_roles", "notes"])), "02_users");
        assert_eq!(numbered("users", &s(&["009_big"])), "010_users");
        assert_eq!(numbered("05_users", &s(&["01_roles"])), "05_users", "a number of its own is kept");
        assert_eq!(numbered("2fa", &[]), "01_2fa", "digits without `_` are part of the name");
    }
}
