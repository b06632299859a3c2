//! `db-migrate create`: write a new, empty migration (or, with `--seed`, a seed).

mod seed;

use std::process::ExitCode;

use clap::Args;

use crate::Output;
use crate::config::Settings;
use db_migrate::migrate::error::Error;
use db_migrate::migrate::source;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  db-migrate create --name add_users              migrations/<yyyymmddHHMMSS>_add_users.sql
  db-migrate create --name backfill --lang rust   components/<version>_backfill/ (build: migrations/)
  db-migrate create --seed roles                  seeds/NN_roles.sql (NN: the next ordering number)
  db-migrate create --seed demo --lang python     components/NN_demo/ of the `seed` world (build: seeds/)

Seeds run in file-name order, so a seed's name gets the next two-digit number after the
project's seeds (01_, 02_, …) unless it starts with digits and `_` itself.")]
pub struct CreateArgs {
    /// Name of the migration: letters, digits, `_` and `-` (e.g. add_users_table).
    #[arg(long, short, required_unless_present = "seed", conflicts_with = "seed")]
    pub name: Option<String>,
    /// Generate the migration (up and down) that turns the schema the migrations produce into
    /// this desired schema: a .sql file of DDL, or a folder of them (see `db-migrate diff`).
    #[arg(long, value_name = "FILE|DIR", conflicts_with_all = ["seed", "lang"])]
    pub from_schema: Option<std::path::PathBuf>,
    /// Write a seed instead: seeds/NN_NAME.sql, or with --lang rust|python|js|c a guest folder
    /// components/NN_NAME/ of the `seed` world that `db-migrate build` writes to seeds/.
    #[arg(long, value_name = "NAME")]
    seed: Option<String>,
    /// What to write: a SQL file (the default), a MongoDB command file (the default when the
    /// database URL is `mongodb://`), or a component in a language — a guest crate in
    /// components/, built into migrations/ (or seeds/) by `db-migrate build`.
    #[arg(long, value_enum)]
    lang: Option<Lang>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A `.sql` file with up and down sections.
    Sql,
    /// A `.mongo.json` file with `up` and `down` arrays of MongoDB commands.
    Mongo,
    /// A Rust crate using the db-migrate SDK.
    Rust,
    /// A Python module (`app.py`), built with componentize-py.
    Python,
    /// A JavaScript module (`app.js`), built with componentize-js.
    Js,
    /// A C file (`app.c`), built with wit-bindgen, clang for wasm32-wasi and wasm-component-ld.
    C,
}

const C_APP: &str = r#"/* A db-migrate migration in C; `db-migrate build` makes it a component. */
#include "db_migrate.h"

static int up(dbm_error *err) {
    if (dbm_execute("CREATE TABLE example (id INTEGER PRIMARY KEY)", NULL, 0, NULL, err)) return 1;
    dbm_log_info("created the example table");
    return 0;
}

static int down(dbm_error *err) {
    return dbm_execute("DROP TABLE example", NULL, 0, NULL, err);
}

DBM_EXPORT_MIGRATION("describe what this migration does", up, down)
"#;

const PY_APP: &str = r#""""A db-migrate migration in Python; `db-migrate build` makes it a component."""
from db_migrate import Migration, execute, log, export


class ThisMigration(Migration):
    description = "describe what this migration does"

    def up(self):
        execute("CREATE TABLE example (id INTEGER PRIMARY KEY)")
        log.info("created the example table")

    def down(self):
        execute("DROP TABLE example")


WitWorld = export(ThisMigration)
"#;

const PY_MONGO_APP: &str = r#""""A db-migrate migration for MongoDB in Python; `db-migrate build` makes it a component."""
from db_migrate import Migration, documents, log, export


class ThisMigration(Migration):
    description = "describe what this migration does"
    # Index and collection changes cannot run in a MongoDB transaction.
    transactional = False

    def up(self):
        name = documents.create_index("example", {"name": 1}, unique=True)
        log.info(f"created index {name}")

    def down(self):
        documents.drop_index("example", "name_1")


WitWorld = export(ThisMigration)
"#;

const JS_APP: &str = r#"// A db-migrate migration in JavaScript; `db-migrate build` makes it a component
// (and writes db-migrate.js, the SDK, next to this file).
import { Migration, execute, log, exportMigration } from "./db-migrate.js";

class ThisMigration extends Migration {
  static description = "describe what this migration does";

  up() {
    execute("CREATE TABLE example (id INTEGER PRIMARY KEY)");
    log.info("created the example table");
  }

  down() {
    execute("DROP TABLE example");
  }
}

export const { metadata, up, down } = exportMigration(ThisMigration);
"#;

const RUST_LIB: &str = r#"//! A db-migrate component migration. Build it with `db-migrate build`.
use db_migrate_sdk::{Migration, Result, execute, log};

struct ThisMigration;

impl Migration for ThisMigration {
    const DESCRIPTION: &'static str = "describe what this migration does";

    fn up() -> Result<()> {
        execute("CREATE TABLE example (id INTEGER PRIMARY KEY)", &[])?;
        log::info("created the example table");
        Ok(())
    }

    fn down() -> Result<()> {
        execute("DROP TABLE example", &[])?;
        Ok(())
    }
}

db_migrate_sdk::export_migration!(ThisMigration);
"#;

const RUST_MONGO_LIB: &str = r##"//! A db-migrate component migration for MongoDB. Build it with `db-migrate build`.
use db_migrate_sdk::{Migration, Result, documents, log};

struct ThisMigration;

impl Migration for ThisMigration {
    const DESCRIPTION: &'static str = "describe what this migration does";
    // Index and collection changes cannot run in a MongoDB transaction; a data-only migration
    // may set this to `true` to be all or nothing on a replica set.
    const TRANSACTIONAL: bool = false;

    fn up() -> Result<()> {
        let index = documents::create_index("example", r#"{"name": 1}"#, Some(r#"{"unique": true}"#))?;
        log::info(format!("created index {index}"));
        Ok(())
    }

    fn down() -> Result<()> {
        documents::drop_index("example", "name_1")
    }
}

db_migrate_sdk::export_migration!(ThisMigration);
"##;

const TEMPLATE: &str = "-- migrate:up\n\n\n-- migrate:down\n\n";

pub fn run(settings: &Settings, args: CreateArgs, out: &Output) -> Result<ExitCode, Error> {
    let what = if args.seed.is_some() { "seed" } else { "migration" };
    let name = args.seed.clone().or(args.name.clone()).unwrap_or_default();
    if !source::is_valid_name(&name) {
        return Err(Error::Config(format!(
            "invalid {what} name `{name}`: use letters, digits, `_` and `-` only (e.g. `add_users_table`), \
             at most 200 characters"
        )));
    }
    if args.seed.is_some() {
        let (path, full) = seed::run(settings, &name, args.lang, out)?;
        out.json(&serde_json::json!({ "seed": full, "file": path.display().to_string() }));
        return Ok(ExitCode::SUCCESS);
    }
    let dir = &settings.migrations_dir;
    let version = next_version(settings)?;

    let io = |path: &std::path::Path, e: std::io::Error| Error::Io { path: path.to_path_buf(), message: e.to_string() };
    let mongo = settings.database_url.starts_with("mongodb://") || settings.database_url.starts_with("mongodb+srv://");
    let lang = args.lang.unwrap_or(if mongo { Lang::Mongo } else { Lang::Sql });
    let path = match lang {
        Lang::Mongo => {
            let path = dir.join(format!("{version}_{name}.mongo.json"));
            std::fs::write(&path, db_migrate::migrate::commands::TEMPLATE).map_err(|e| io(&path, e))?;
            out.line(&format!("created {}", path.display()));
            path
        }
        Lang::Sql => {
            let path = dir.join(format!("{version}_{name}.sql"));
            std::fs::write(&path, TEMPLATE).map_err(|e| io(&path, e))?;
            out.line(&format!("created {}", path.display()));
            path
        }
        Lang::Python | Lang::Js | Lang::C => {
            if lang != Lang::Python && mongo {
                return Err(Error::Config(
                    "JavaScript and C migrations for MongoDB are not supported yet: use a `.mongo.json` command file, Rust or Python".into(),
                ));
            }
            let dir = settings.project_dir.join("components").join(format!("{version}_{name}"));
            std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            let (file, text, language) = match (lang, mongo) {
                (Lang::Python, false) => ("app.py", PY_APP, "python"),
                (Lang::Python, true) => ("app.py", PY_MONGO_APP, "python"),
                (Lang::C, _) => ("app.c", C_APP, "c"),
                _ => ("app.js", JS_APP, "js"),
            };
            let world = if mongo { "document-migration" } else { "migration" };
            std::fs::write(dir.join(file), text).map_err(|e| io(&dir, e))?;
            let manifest = format!("# How `db-migrate build` builds this folder.\nlanguage = \"{language}\"\nworld = \"{world}\"\n");
            std::fs::write(dir.join("component.toml"), manifest).map_err(|e| io(&dir, e))?;
            let (tool, name) = match lang {
                Lang::Python => ("componentize-py (`pip install componentize-py`)", "Python"),
                Lang::C => ("clang with wasi-libc and wit-bindgen (`apt install clang lld wasi-libc`, `cargo install wit-bindgen-cli`)", "C"),
                _ => ("componentize-js (`npm install @bytecodealliance/componentize-js`)", "JavaScript"),
            };
            out.line(&format!("created {}/ (a {name} component migration)", dir.display()));
            out.line(&format!("next: edit its {file}, then `db-migrate build` (needs {tool}) writes the component into migrations/"));
            dir
        }
        Lang::Rust => {
            let sdk = crate::commands::build::materialize_sdk(&settings.project_dir)?;
            let crate_dir = settings.project_dir.join("components").join(format!("{version}_{name}"));
            std::fs::create_dir_all(crate_dir.join("src")).map_err(|e| io(&crate_dir, e))?;
            let sdk_rel = pathdiff(&sdk, &crate_dir);
            let package = format!("migration_{version}_{}", name.replace('-', "_")).to_lowercase();
            let manifest = format!(
                "[package]\nname = \"{package}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
                 [lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\ndb-migrate-sdk = {{ path = \"{sdk_rel}\" }}\n\n\
                 # Each guest is its own workspace, outside any workspace around the project.\n[workspace]\n"
            );
            std::fs::write(crate_dir.join("Cargo.toml"), manifest).map_err(|e| io(&crate_dir, e))?;
            let lib = if mongo { RUST_MONGO_LIB } else { RUST_LIB };
            std::fs::write(crate_dir.join("src").join("lib.rs"), lib).map_err(|e| io(&crate_dir, e))?;
            out.line(&format!("created {}/ (a Rust component migration)", crate_dir.display()));
            out.line("next: edit its src/lib.rs, then `db-migrate build` writes the component into migrations/");
            crate_dir
        }
    };
    out.json(&serde_json::json!({ "version": version, "name": name, "file": path.display().to_string() }));
    Ok(ExitCode::SUCCESS)
}

/// The version of a new migration: the UTC timestamp, bumped past any existing version so the
/// new migration always sorts last. Creates the migrations folder.
fn next_version(settings: &Settings) -> Result<i64, Error> {
    let dir = &settings.migrations_dir;
    std::fs::create_dir_all(dir).map_err(|e| Error::Io { path: dir.clone(), message: e.to_string() })?;
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day][hour][minute][second]");
    let stamp: i64 = now.format(&fmt).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let newest = existing_versions(dir).into_iter().max().unwrap_or(0);
    Ok(stamp.max(newest + 1))
}

/// A new migration file's version and path: `migrations/<version>_NAME.EXT`.
pub(super) fn new_file(settings: &Settings, name: &str, ext: &str) -> Result<(i64, std::path::PathBuf), Error> {
    let version = next_version(settings)?;
    Ok((version, settings.migrations_dir.join(format!("{version}_{name}.{ext}"))))
}

/// Versions of the entries in `dir`, read leniently from names (a broken file must not stop `create`).
fn existing_versions(dir: &std::path::Path) -> Vec<i64> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.split('.').next().unwrap_or("").to_string();
            source::parse_stem(&stem).and_then(|r| r.ok()).map(|(v, _)| v)
        })
        .collect()
}

/// `to` relative to `from` (both inside the project), with `/` separators for Cargo.toml.
fn pathdiff(to: &std::path::Path, from: &std::path::Path) -> String {
    let to: Vec<_> = to.components().collect();
    let from: Vec<_> = from.components().collect();
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_string(), from.len() - common).collect();
    parts.extend(to[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    parts.join("/")
}
