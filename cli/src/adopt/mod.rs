//! Taking over from another migration tool: what a project uses (`detect`), its SQL migrations
//! converted into db-migrate's layout byte for byte (`import`), and its history in the live
//! database turned into db-migrate's (`adopt`), so nothing runs twice.

use std::path::{Path, PathBuf};

use serde::Serialize;

use db_migrate::migrate::error::{Error, ImportError};

mod flyway;
pub mod settings;

/// A migration tool db-migrate recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    /// Prisma Migrate.
    Prisma,
    /// Knex.
    Knex,
    /// Sequelize (sequelize-cli).
    Sequelize,
    /// TypeORM.
    Typeorm,
    /// Alembic.
    Alembic,
    /// migrate-mongo.
    MigrateMongo,
    /// dbmate.
    Dbmate,
    /// golang-migrate.
    GolangMigrate,
    /// sqlx.
    Sqlx,
    /// diesel.
    Diesel,
    /// Flyway.
    Flyway,
}

impl Tool {
    /// The table (collection) the tool records applied migrations in by default.
    pub fn history_table(self) -> &'static str {
        match self {
            Tool::Prisma => "_prisma_migrations",
            Tool::Knex => "knex_migrations",
            Tool::Sequelize => "SequelizeMeta",
            Tool::Typeorm => "migrations",
            Tool::Alembic => "alembic_version",
            Tool::MigrateMongo => "changelog",
            Tool::Dbmate | Tool::GolangMigrate => "schema_migrations",
            Tool::Sqlx => "_sqlx_migrations",
            Tool::Diesel => "__diesel_schema_migrations",
            Tool::Flyway => "flyway_schema_history",
        }
    }

    /// Whether its migrations are SQL files `import` can carry over.
    pub fn sql_based(self) -> bool {
        matches!(self, Tool::Prisma | Tool::Dbmate | Tool::GolangMigrate | Tool::Sqlx | Tool::Diesel | Tool::Flyway)
    }

    /// Its name as users write it.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Prisma => "prisma",
            Tool::Knex => "knex",
            Tool::Sequelize => "sequelize",
            Tool::Typeorm => "typeorm",
            Tool::Alembic => "alembic",
            Tool::MigrateMongo => "migrate-mongo",
            Tool::Dbmate => "dbmate",
            Tool::GolangMigrate => "golang-migrate",
            Tool::Sqlx => "sqlx",
            Tool::Diesel => "diesel",
            Tool::Flyway => "flyway",
        }
    }
}

/// What `detect` found.
#[derive(Debug, Clone, Serialize)]
pub struct Detected {
    /// The tool.
    pub tool: Tool,
    /// The file that gave it away.
    pub evidence: String,
    /// `postgres`, `mysql`, `sqlite`, `mongodb`, or `unknown`.
    pub database: String,
    /// Where the tool takes its database URL from (never the URL itself).
    pub url_source: String,
    /// Its migrations folder.
    pub migrations_dir: String,
    /// How many migrations it holds.
    pub migrations: usize,
    /// The table it records history in, as its settings name it.
    pub history_table: String,
    /// Whether `import` converts its migrations (SQL) or baselines (code).
    pub sql_based: bool,
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn files(dir: &Path, pred: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&pred)).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn database_of(text: &str) -> String {
    let t = text.to_ascii_lowercase();
    for (needle, db) in [
        ("postgres", "postgres"),
        ("\"pg\"", "postgres"),
        ("'pg'", "postgres"),
        ("mysql", "mysql"),
        ("mariadb", "mysql"),
        ("sqlite", "sqlite"),
        ("mongodb", "mongodb"),
    ] {
        if t.contains(needle) {
            return db.to_string();
        }
    }
    "unknown".to_string()
}

/// The value of `key = "…"` / `key: '…'` in a config file, first occurrence.
fn setting(text: &str, key: &str) -> Option<String> {
    for line in text.lines() {
        let l = line.trim();
        let Some(rest) = l.strip_prefix(key) else { continue };
        let rest = rest.trim_start().trim_start_matches([':', '=']).trim();
        let v = rest.trim_end_matches(',').trim().trim_matches(['"', '\'', '`']);
        if !v.is_empty() {
            return Some(v.to_string());
        }
    }
    None
}

fn env_source(text: &str) -> String {
    if let Some(i) = text.find("env(\"") {
        let rest = &text[i + 5..];
        if let Some(end) = rest.find('"') {
            return format!("the {} environment variable", &rest[..end]);
        }
    }
    if let Some(i) = text.find("process.env.") {
        let name: String = text[i + 12..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        return format!("the {name} environment variable");
    }
    "its configuration file".to_string()
}

/// How many of `tool`'s migrations `dir` holds.
pub fn count(tool: Tool, dir: &Path) -> usize {
    let ext = |exts: &'static [&'static str]| move |n: &str| exts.iter().any(|e| n.ends_with(e));
    match tool {
        Tool::Prisma => files(dir, |_| true).iter().filter(|p| p.join("migration.sql").is_file()).count(),
        Tool::Diesel => files(dir, |_| true).iter().filter(|p| p.join("up.sql").is_file()).count(),
        Tool::Knex => files(dir, ext(&[".js", ".ts", ".cjs", ".mjs"])).len(),
        Tool::Sequelize => files(dir, ext(&[".js", ".cjs"])).len(),
        Tool::Typeorm => files(dir, ext(&[".ts", ".js"])).len(),
        Tool::Alembic => files(dir, |n| n.ends_with(".py") && n != "__init__.py").len(),
        Tool::MigrateMongo => files(dir, ext(&[".js", ".cjs"])).len(),
        Tool::Flyway => files(dir, is_flyway_versioned).len(),
        Tool::Dbmate => files(dir, ext(&[".sql"])).len(),
        Tool::Sqlx => files(dir, |n| n.ends_with(".sql") && !n.ends_with(".down.sql")).len(),
        Tool::GolangMigrate => files(dir, ext(&[".up.sql"])).len(),
    }
}

/// `NAME=value` in a `.env` file.
fn dotenv(text: &str, name: &str) -> Option<String> {
    text.lines().filter_map(|l| l.trim().strip_prefix(name)?.trim_start().strip_prefix('=')).map(|v| v.trim().trim_matches(['"', '\'']).to_string()).find(|v| !v.is_empty())
}

/// Identifies the migration tools a project uses, from its files alone. Each tool's own settings
/// (see [`settings`]) give its folder and history table; its defaults fill the rest.
pub fn detect(root: &Path) -> Vec<Detected> {
    let mut out = Vec::new();
    let rel = |p: &Path| {
        let r = p.strip_prefix(root).unwrap_or(p).display().to_string();
        if r.is_empty() { ".".to_string() } else { r }
    };
    let mut push = |tool: Tool, evidence: &Path, database: String, url_source: String, dir: &Path, table: Option<String>| {
        out.push(Detected {
            tool,
            evidence: rel(evidence),
            database,
            url_source,
            migrations_dir: rel(dir),
            migrations: count(tool, dir),
            history_table: table.unwrap_or_else(|| tool.history_table().to_string()),
            sql_based: tool.sql_based(),
        });
    };

    let package_json = read(&root.join("package.json"));
    let schema = settings::prisma_schema(&package_json).map(|s| root.join(s)).unwrap_or_else(|| root.join("prisma/schema.prisma"));
    if schema.exists() {
        let (text, dir) = if schema.is_dir() {
            (files(&schema, |n| n.ends_with(".prisma")).iter().map(|f| read(f)).collect::<Vec<_>>().join("\n"), schema.join("migrations"))
        } else {
            (read(&schema), schema.parent().unwrap_or(root).join("migrations"))
        };
        let provider = setting(&text, "provider").map(|p| database_of(&format!("\"{p}\""))).unwrap_or_else(|| database_of(&text));
        push(Tool::Prisma, &schema, provider, env_source(&text), &dir, None);
    }
    if let Some(f) = ["knexfile.js", "knexfile.ts", "knexfile.cjs", "knexfile.mjs"].iter().map(|f| root.join(f)).find(|p| p.is_file()) {
        let text = read(&f);
        let s = settings::knex(&text);
        let dir = root.join(s.dir.unwrap_or_else(|| "migrations".into()));
        let client = setting(&text, "client").unwrap_or_default();
        push(Tool::Knex, &f, database_of(&format!("'{client}'")), env_source(&text), &dir, s.table);
    }
    let sequelizerc = root.join(".sequelizerc");
    let (seq_dir, seq_config) = settings::sequelizerc(&read(&sequelizerc));
    let seq_config = root.join(seq_config.unwrap_or_else(|| "config/config.json".into()));
    if sequelizerc.is_file() || (seq_config.is_file() && read(&seq_config).contains("\"dialect\"")) {
        let evidence = if sequelizerc.is_file() { sequelizerc.clone() } else { seq_config.clone() };
        let dir = root.join(seq_dir.unwrap_or_else(|| "migrations".into()));
        let cfg = read(&seq_config);
        let source = if cfg.contains("use_env_variable") { "an environment variable (use_env_variable)".to_string() } else { rel(&seq_config) };
        push(Tool::Sequelize, &evidence, database_of(&cfg), source, &dir, settings::sequelize_table(&cfg));
    }
    let typeorm = ["ormconfig.json", "ormconfig.js", "ormconfig.ts", "ormconfig.yml", "ormconfig.yaml", "src/data-source.ts", "data-source.ts", "src/data-source.js", "data-source.js"]
        .iter()
        .map(|f| root.join(f))
        .find(|p| p.is_file());
    if let Some(f) = typeorm {
        let text = read(&f);
        let yaml = f.extension().is_some_and(|e| e == "yml" || e == "yaml");
        let s = settings::typeorm(&text, &rel(f.parent().unwrap_or(root)), yaml);
        let dir = match s.dir {
            Some(d) => root.join(d),
            None => ["src/migrations", "migrations", "src/migration"].iter().map(|d| root.join(d)).find(|d| d.is_dir()).unwrap_or_else(|| root.join("src/migrations")),
        };
        push(Tool::Typeorm, &f, database_of(&text), env_source(&text), &dir, s.table);
    }
    let alembic = root.join("alembic.ini");
    if alembic.is_file() {
        let text = read(&alembic);
        let (location, ini_table) = settings::alembic_ini(&text);
        let scripts = root.join(location.unwrap_or_else(|| "alembic".into()));
        let table = settings::alembic_env(&read(&scripts.join("env.py"))).or(ini_table);
        let url = setting(&text, "sqlalchemy.url").unwrap_or_default();
        let source = if url.is_empty() || url.contains("driver://") { rel(&scripts.join("env.py")) } else { "sqlalchemy.url in alembic.ini".to_string() };
        push(Tool::Alembic, &alembic, database_of(&url), source, &scripts.join("versions"), table);
    }
    let mongo = root.join("migrate-mongo-config.js");
    if mongo.is_file() {
        let text = read(&mongo);
        let s = settings::migrate_mongo(&text);
        let dir = root.join(s.dir.unwrap_or_else(|| "migrations".into()));
        push(Tool::MigrateMongo, &mongo, "mongodb".into(), env_source(&text), &dir, s.table);
    }
    let diesel = root.join("diesel.toml");
    if diesel.is_file() {
        let dir = root.join(settings::diesel(&read(&diesel)).unwrap_or_else(|| "migrations".into()));
        push(Tool::Diesel, &diesel, "unknown".into(), "the DATABASE_URL environment variable".into(), &dir, None);
    }
    let flyway = ["flyway.conf", "flyway.toml", "conf/flyway.conf"].iter().map(|f| root.join(f)).find(|p| p.is_file());
    let (locations, flyway_table) = match &flyway {
        Some(f) if f.extension().is_some_and(|e| e == "toml") => settings::flyway_toml(&read(f)),
        Some(f) => settings::flyway_conf(&read(f)),
        None => (Vec::new(), None),
    };
    let configured = locations.iter().map(|l| root.join(l)).collect::<Vec<_>>();
    let flyway_dir = configured
        .iter()
        .find(|d| !files(d, is_flyway_versioned).is_empty())
        .or_else(|| configured.iter().find(|d| d.is_dir()))
        .or(configured.first())
        .cloned()
        .or_else(|| ["sql", "db/migration", "src/main/resources/db/migration", "migrations"].iter().map(|d| root.join(d)).find(|d| !files(d, is_flyway_versioned).is_empty()));
    if flyway.is_some() || flyway_dir.is_some() {
        let dir = flyway_dir.clone().unwrap_or_else(|| root.join("sql"));
        let evidence = flyway.clone().unwrap_or_else(|| dir.clone());
        let text = flyway.as_ref().map(|f| read(f)).unwrap_or_default();
        push(Tool::Flyway, &evidence, database_of(&text), "flyway.url in its configuration".into(), &dir, flyway_table);
    }
    let dotenv_text = read(&root.join(".env"));
    let dbmate_dir = root.join(dotenv(&dotenv_text, "DBMATE_MIGRATIONS_DIR").unwrap_or_else(|| "db/migrations".into()));
    let dbmate = files(&dbmate_dir, |n| n.ends_with(".sql"));
    if dbmate.iter().any(|p| read(p).contains("-- migrate:up")) {
        let table = dotenv(&dotenv_text, "DBMATE_MIGRATIONS_TABLE");
        push(Tool::Dbmate, &dbmate_dir, database_of(&dotenv_text), "DATABASE_URL (environment or .env)".into(), &dbmate_dir, table);
    }
    let cargo = read(&root.join("Cargo.toml"));
    let migrations = root.join("migrations");
    if cargo.contains("sqlx") && migrations.is_dir() {
        push(Tool::Sqlx, &root.join("Cargo.toml"), database_of(&cargo), "the DATABASE_URL environment variable".into(), &migrations, None);
    } else if !diesel.is_file() && !files(&migrations, |n| n.ends_with(".up.sql")).is_empty() {
        push(Tool::GolangMigrate, &migrations, "unknown".into(), "the -database flag or its environment".into(), &migrations, None);
    }
    out
}

fn is_flyway_versioned(name: &str) -> bool {
    name.starts_with('V') && name.contains("__") && name.ends_with(".sql") && name[1..].starts_with(|c: char| c.is_ascii_digit())
}

/// The form of a migration's name in the tool's history that `import` matches on: Flyway
/// versions as dotted numbers (`1_1`, `1.1` and `01.1.0` are one version), other names without
/// leading zeros.
pub fn history_key(tool: Tool, name: &str) -> String {
    if tool == Tool::Flyway {
        if let Some(v) = flyway::Version::parse(name) {
            return v.to_string();
        }
    }
    let t = name.trim_start_matches('0');
    if t.is_empty() { name.to_string() } else { t.to_string() }
}

/// One file to write: from, to.
#[derive(Debug, Clone, Serialize)]
pub struct Copy {
    /// The tool's file (or folder).
    pub from: PathBuf,
    /// db-migrate's.
    pub to: PathBuf,
    /// True when `to` exists already with the same content (an earlier import): left as it is.
    pub kept: bool,
}

/// Whether `to` holds exactly what copying `from` would write (files and folders alike).
fn same_content(from: &Path, to: &Path) -> bool {
    if from.is_dir() {
        let names = |d: &Path| -> Option<Vec<std::ffi::OsString>> {
            let mut v: Vec<_> = std::fs::read_dir(d).ok()?.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
            v.sort();
            Some(v)
        };
        match (names(from), names(to)) {
            (Some(a), Some(b)) if a == b => a.iter().all(|n| same_content(&from.join(n), &to.join(n))),
            _ => false,
        }
    } else {
        to.is_file() && matches!((std::fs::read(from), std::fs::read(to)), (Ok(a), Ok(b)) if a == b)
    }
}

/// What `import` does: the copies, and what it could not carry over.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportPlan {
    /// Files to copy, byte for byte.
    pub copies: Vec<Copy>,
    /// Files left behind, with why.
    pub skipped: Vec<(PathBuf, String)>,
    /// Tool migration name → db-migrate version, for adopting its history.
    pub versions: Vec<(String, i64)>,
}

fn version_of(digits: &str) -> Option<i64> {
    let d: String = digits.chars().filter(char::is_ascii_digit).collect();
    d.parse().ok()
}

/// Plans converting a SQL-based tool's migrations in `dir` into db-migrate's layout in `into`.
pub fn plan_import(tool: Tool, dir: &Path, into: &Path) -> Result<ImportPlan, Error> {
    let mut plan = ImportPlan::default();
    let stem = |p: &Path| p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    match tool {
        Tool::Prisma => {
            for d in files(dir, |_| true).into_iter().filter(|p| p.join("migration.sql").is_file()) {
                let name = stem(&d);
                let Some((ts, rest)) = name.split_once('_') else { continue };
                let v = version_of(ts).ok_or_else(|| Error::Config(format!("{}: no timestamp in the folder name", d.display())))?;
                plan.copies.push(Copy { from: d.join("migration.sql"), to: into.join(format!("{v}_{rest}.up.sql")), kept: false });
                plan.versions.push((name.clone(), v));
            }
        }
        Tool::Dbmate => {
            for f in files(dir, |n| n.ends_with(".sql")) {
                let name = stem(&f);
                let v = version_of(name.split('_').next().unwrap_or_default());
                if let Some(v) = v {
                    plan.copies.push(Copy { from: f.clone(), to: into.join(&name), kept: false });
                    plan.versions.push((name.split('_').next().unwrap_or_default().to_string(), v));
                }
            }
        }
        Tool::GolangMigrate | Tool::Sqlx => {
            for f in files(dir, |n| n.ends_with(".sql")) {
                let name = stem(&f);
                let Some((ver, _)) = name.split_once('_') else { continue };
                let Some(v) = version_of(ver) else { continue };
                // sqlx's one-file migrations become `.up.sql` (no markers needed).
                let to = if name.ends_with(".up.sql") || name.ends_with(".down.sql") { name.clone() } else { name.replace(".sql", ".up.sql") };
                plan.copies.push(Copy { from: f.clone(), to: into.join(to), kept: false });
                if !name.ends_with(".down.sql") {
                    plan.versions.push((ver.to_string(), v));
                }
            }
        }
        Tool::Diesel => {
            for d in files(dir, |_| true).into_iter().filter(|p| p.join("up.sql").is_file()) {
                let name = stem(&d);
                let Some((ver, _)) = name.split_once('_') else { continue };
                let Some(v) = version_of(ver) else { continue };
                plan.copies.push(Copy { from: d.clone(), to: into.join(&name), kept: false });
                plan.versions.push((ver.chars().filter(char::is_ascii_digit).collect(), v));
            }
        }
        Tool::Flyway => {
            let mut found = Vec::new();
            for f in files(dir, |n| n.ends_with(".sql")) {
                let name = stem(&f);
                // [workflow] Flyway's repeatable migrations become `repeatable/NAME.sql`.
                if let Some(rest) = name.strip_prefix("R__").and_then(|r| r.strip_suffix(".sql")) {
                    let desc: String = rest.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
                    plan.copies.push(Copy { from: f.clone(), to: into.join(db_migrate::migrate::workflow_files::REPEATABLE_DIR).join(format!("{desc}.sql")), kept: false });
                    continue;
                }
                if !is_flyway_versioned(&name) {
                    continue;
                }
                let (ver, desc) = name[1..].split_once("__").expect("checked");
                let version = flyway::Version::parse(ver).ok_or_else(|| ImportError::Version {
                    path: f.clone(),
                    version: ver.to_string(),
                    why: "Flyway versions are numbers separated by `.` or `_`".into(),
                })?;
                let desc: String = desc.trim_end_matches(".sql").chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
                found.push((f, ver.to_string(), version, desc));
            }
            let mapping = flyway::Mapping::for_set(found.iter().map(|(_, _, v, _)| v));
            for (f, raw, version, desc) in found {
                let v = mapping.map(&version).map_err(|why| ImportError::Version { path: f.clone(), version: raw, why })?;
                plan.copies.push(Copy { from: f, to: into.join(format!("{v}_{desc}.up.sql")), kept: false });
                plan.versions.push((version.to_string(), v));
            }
        }
        other => {
            return Err(Error::Config(format!(
                "{} migrations are code, not SQL: `import --from {}` baselines the database instead (see `import --help`)",
                other.name(),
                other.name()
            )));
        }
    }
    if plan.versions.is_empty() {
        return Err(ImportError::NothingFound { tool: tool.name().to_string(), dir: dir.to_path_buf() }.into());
    }
    let mut seen = std::collections::BTreeMap::new();
    for (name, v) in &plan.versions {
        if let Some(other) = seen.insert(*v, name.clone()) {
            return Err(Error::Config(format!("{other} and {name} both become version {v}: rename one before importing")));
        }
    }
    for c in &mut plan.copies {
        if c.to.exists() {
            if !same_content(&c.from, &c.to) {
                return Err(ImportError::Differs { existing: c.to.clone(), from: c.from.clone() }.into());
            }
            c.kept = true;
        }
    }
    for (name, _) in &mut plan.versions {
        *name = history_key(tool, name);
    }
    Ok(plan)
}

fn copy_all(from: &Path, to: &Path) -> std::io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for e in std::fs::read_dir(from)? {
            let e = e?;
            copy_all(&e.path(), &to.join(e.file_name()))?;
        }
        Ok(())
    } else {
        if let Some(d) = to.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::copy(from, to).map(drop)
    }
}

/// Carries out a plan: copies byte for byte.
pub fn apply(plan: &ImportPlan) -> Result<(), Error> {
    for c in plan.copies.iter().filter(|c| !c.kept) {
        copy_all(&c.from, &c.to).map_err(|e| Error::Io { path: c.to.clone(), message: e.to_string() })?;
    }
    Ok(())
}

/// The SQL that lists what `tool` recorded as applied in `table`, as one text column per row.
/// `table` comes from the tool's settings or the user, so it must be a plain identifier
/// (optionally `schema.table`); it is quoted for MySQL (`mysql`) or standard SQL.
pub fn applied_query(tool: Tool, table: &str, mysql: bool) -> Result<String, Error> {
    let t = quoted_table(tool, table, mysql)?;
    let text = if mysql { "CHAR" } else { "TEXT" };
    Ok(match tool {
        Tool::Prisma => format!("SELECT migration_name FROM {t} WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL"),
        Tool::Dbmate => format!("SELECT CAST(version AS {text}) FROM {t}"),
        Tool::GolangMigrate => format!("SELECT CAST(version AS {text}) FROM {t} WHERE dirty = false"),
        Tool::Sqlx => format!("SELECT CAST(version AS {text}) FROM {t} WHERE success = true"),
        Tool::Diesel => format!("SELECT version FROM {t}"),
        Tool::Flyway => format!("SELECT version FROM {t} WHERE success = true AND version IS NOT NULL AND type <> 'BASELINE' ORDER BY installed_rank"),
        Tool::Knex | Tool::Sequelize | Tool::Typeorm => format!("SELECT name FROM {t}"),
        Tool::Alembic => format!("SELECT version_num FROM {t}"),
        Tool::MigrateMongo => String::new(),
    })
}

/// The SQL that lists the versions a tool baselined at (`flyway baseline`): every version up to
/// one of them counts as applied. Only Flyway has them.
pub fn baseline_query(tool: Tool, table: &str, mysql: bool) -> Result<Option<String>, Error> {
    if tool != Tool::Flyway {
        return Ok(None);
    }
    let t = quoted_table(tool, table, mysql)?;
    Ok(Some(format!("SELECT version FROM {t} WHERE success = true AND version IS NOT NULL AND type = 'BASELINE'")))
}

/// A tool's history table, checked to be a plain identifier and quoted for splicing into SQL.
fn quoted_table(tool: Tool, table: &str, mysql: bool) -> Result<String, Error> {
    db_migrate::migrate::history::validate_table_name(table).map_err(|e| Error::Config(format!("{} (the history table of {}): pass `--history-table NAME`", e, tool.name())))?;
    Ok(table.split('.').map(|p| if mysql { format!("`{p}`") } else { format!("\"{p}\"") }).collect::<Vec<_>>().join("."))
}

/// Whether the migration with history key `key` is covered by a baseline at `baseline`
/// (Flyway versions, compared segment by segment).
pub fn below_baseline(key: &str, baseline: &str) -> bool {
    matches!((flyway::Version::parse(key), flyway::Version::parse(baseline)), (Some(k), Some(b)) if k <= b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_cover_lower_versions() {
        assert!(below_baseline("1", "1.1") && below_baseline("1.1", "1.1") && below_baseline("1.0.9", "1.1"));
        assert!(!below_baseline("1.2", "1.1") && !below_baseline("2", "1.10") && !below_baseline("x", "1"));
    }

    #[test]
    fn flyway_names() {
        assert!(is_flyway_versioned("V1__init.sql"));
        assert!(is_flyway_versioned("V2_1__add users.sql"));
        assert!(!is_flyway_versioned("R__views.sql"));
        assert!(!is_flyway_versioned("Vx__no.sql"));
    }

    #[test]
    fn settings_are_read_from_config_text() {
        assert_eq!(setting("  client: 'pg',\n", "client").as_deref(), Some("pg"));
        assert_eq!(setting("provider = \"postgresql\"", "provider").as_deref(), Some("postgresql"));
        assert_eq!(env_source("url = env(\"DATABASE_URL\")"), "the DATABASE_URL environment variable");
    }
}
