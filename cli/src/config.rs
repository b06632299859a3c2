//! Project configuration: `db-migrate.toml`, environments, and where the database URL comes from.
//!
//! The database URL is taken from the first of: `--database-url`, the `DATABASE_URL` environment
//! variable, `DATABASE_URL` in the project's `.env`, `database_url` of the selected environment in
//! `db-migrate.toml`, the top-level `database_url` there, and finally an embedded SQLite file in the
//! project (`db/<environment>.sqlite3`), announced when it is first created.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use db_migrate::migrate::error::Error;
use db_migrate::migrate::history;

/// The file `init` writes and every command reads.
pub const CONFIG_FILE: &str = "db-migrate.toml";

/// The environment used when none is named.
pub use db_migrate::migrate::DEFAULT_ENV;

/// `db-migrate.toml` as written by users.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Database URL; `${VAR}` is replaced by the environment variable `VAR`.
    pub database_url: Option<String>,
    /// Migrations folder, relative to the project (default `migrations`).
    pub migrations_dir: Option<PathBuf>,
    /// Seeds folder, relative to the project (default `seeds`).
    pub seeds_dir: Option<PathBuf>,
    /// `[migrations]`: how the migrations folder is read (`format = "knex"`).
    #[serde(default)]
    pub migrations: MigrationsConfig,
    /// History table name (default `db_migrate_history`).
    pub history_table: Option<String>,
    /// Accept pending migrations older than the newest applied one.
    pub allow_out_of_order: Option<bool>,
    /// Arguments component migrations read through `context.args` (`--arg k=v` adds and overrides).
    #[serde(default)]
    pub args: BTreeMap<String, toml::Value>,
    /// Seed of the deterministic random numbers components get (default 0).
    pub seed: Option<u64>,
    /// `session` (default) or `table`: how runs lock each other out.
    pub lock_mode: Option<db_migrate::backend::LockMode>,
    /// `[limits]`: what component migrations may use.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[lint]`: what `lint` assumes about the target server. Parsed here so the file's keys are
    /// checked with the rest; `commands/lint.rs` reads the value itself.
    #[serde(default)]
    #[allow(dead_code)]
    pub lint: crate::lint::LintConfig,
    /// `[components.NAME]`: grants, limits, pins and data folders per component.
    #[serde(default)]
    pub components: BTreeMap<String, ComponentConfig>,
    /// `[environments.NAME]` sections, selected with `--env NAME`.
    #[serde(default)]
    pub environments: BTreeMap<String, EnvironmentConfig>,
    /// `[seeds]` and `[[seeds.pack]]`: seed history and third-party seed packs.
    #[serde(default)]
    pub seeds: SeedsConfig,
    /// `"always"`: back up before every `up`, `down` and `redo`; `"never"` (the default).
    pub backup: Option<BackupPolicy>,
    /// Where `up`, `down` and `redo` write `schema dump` after they succeed.
    pub schema_file: Option<PathBuf>,
    /// A disposable database for replaying migrations, instead of a temporary one.
    pub shadow_database_url: Option<String>,
    /// `status --check` also fails on drift.
    pub drift_check: Option<bool>,
    /// `[placeholders]`: values of `${name}` in SQL (see `crate::placeholders`).
    #[serde(default)]
    pub placeholders: BTreeMap<String, toml::Value>,
    /// `[fleets.NAME]`: sets of databases migrated together (see `crate::fleet`).
    #[serde(default)]
    pub fleets: BTreeMap<String, crate::fleet::config::FleetConfig>,
}

/// `[migrations]`: how the migrations folder is read.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationsConfig {
    /// `native` (the default), `knex` (a knex project's `.js`/`.cjs`/`.mjs`/`.ts` files are
    /// migrations too, run by the knex runtime) or `alembic` (the folder is an Alembic
    /// `versions/` folder, its revisions run by the Alembic runtime).
    pub format: Option<db_migrate::migrate::source::Format>,
    /// The knex runtime component (default `.db-migrate/knex/knex-runtime.wasm`, which
    /// `db-migrate build` writes; `DB_MIGRATE_KNEX_RUNTIME` overrides).
    pub knex_runtime: Option<PathBuf>,
    /// The Alembic runtime component (default `.db-migrate/alembic/alembic-runtime.wasm`, which
    /// `db-migrate build` writes; `DB_MIGRATE_ALEMBIC_RUNTIME` overrides).
    pub alembic_runtime: Option<PathBuf>,
}

/// The schema keys of `db-migrate.toml` (top level).
#[derive(Debug, Default, Clone)]
pub struct SchemaConfig {
    /// Where `up`, `down` and `redo` write `schema dump` after they succeed (e.g. `schema.sql`).
    pub schema_file: Option<PathBuf>,
    /// An existing, disposable database for replaying migrations (`schema dump
    /// --from-migrations`, `test`, `drift`) instead of a temporary one db-migrate creates.
    pub shadow_database_url: Option<String>,
    /// `status --check` also fails on drift (the live schema differs from the migrations').
    pub drift_check: Option<bool>,
}

/// When `up`, `down` and `redo` back the database up first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupPolicy {
    /// Before every run that changes the database.
    Always,
    /// Only with `--backup`.
    Never,
}

/// `[seeds]` of `db-migrate.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedsConfig {
    /// The table recording which seeds ran (default `db_migrate_seeds`).
    pub history_table: Option<String>,
    /// `[[seeds.pack]]`: seed packs, run after the project's own seeds, in this order.
    #[serde(default)]
    pub pack: Vec<PackConfig>,
}

/// One `[[seeds.pack]]`: a seed component the user may not trust, and what it may touch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackConfig {
    /// The pack's name (`db-migrate seed NAME` runs it alone).
    pub name: String,
    /// The `.wasm` file, relative to the project.
    pub component: PathBuf,
    /// Pinned SHA-256 of the `.wasm`; a different file refuses to run.
    pub sha256: Option<String>,
    /// Tables the pack may read and write (nothing else; never DDL).
    pub tables: Vec<String>,
    /// Arguments the pack reads (`--arg k=v` overrides).
    #[serde(default)]
    pub args: BTreeMap<String, toml::Value>,
    /// Environments the pack may run in (default: development and test).
    pub environments: Option<Vec<String>>,
    /// Commit after every batch instead of once at the end (for very large data): a failure
    /// keeps the batches already written.
    #[serde(default)]
    pub batch_commits: bool,
    /// A folder the pack may read (never write) at `/data`, relative to the project.
    pub data_dir: Option<PathBuf>,
    /// Limits for this pack, over `[limits]`.
    #[serde(flatten)]
    pub limits: LimitsConfig,
}

pub use db_migrate::seed::SeedPack;

/// Environments a seed pack runs in when its section does not say.
pub const DEFAULT_PACK_ENVIRONMENTS: [&str; 2] = ["development", "test"];

/// `[limits]` of `db-migrate.toml` (and the limit keys of `[components.NAME]`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Seconds a component may run (default 600; 0 disables the deadline).
    pub timeout_secs: Option<f64>,
    /// Memory a component may use, in MiB (default 256).
    pub memory_mib: Option<u64>,
    /// Fuel budget (about one unit per wasm instruction); unset: no fuel metering.
    pub fuel: Option<u64>,
    /// Most rows one `query` returns (default 100,000); larger results need a cursor.
    pub max_rows: Option<usize>,
    /// Longest statement, in bytes (default 1 MiB).
    pub max_statement_bytes: Option<usize>,
    /// Most parameters in one call (default 1,048,576).
    pub max_params: Option<usize>,
    /// Bytes of log messages shown (default 1 MiB).
    pub max_log_bytes: Option<usize>,
    /// Bytes of stdout and of stderr kept (default 64 KiB each).
    pub max_output_bytes: Option<usize>,
    /// MiB of values one query result or cursor page may carry, and the largest single value
    /// (default 32).
    pub max_result_mib: Option<u64>,
}

impl LimitsConfig {
    /// `base` with these settings applied.
    fn apply(&self, mut base: db_migrate::sandbox::Limits, at: &str, problems: &mut Vec<String>) -> db_migrate::sandbox::Limits {
        if let Some(t) = self.timeout_secs {
            if t == 0.0 {
                base.timeout = None;
            } else if let Some(d) = std::time::Duration::try_from_secs_f64(t).ok().filter(|_| t > 0.0 && t <= 31_536_000.0) {
                base.timeout = Some(d);
            } else {
                problems.push(format!("{at} timeout_secs must be a positive number of seconds up to a year (or 0 for none), not {t}"));
            }
        }
        if let Some(m) = self.memory_mib {
            // A component's memory is 32-bit: 4 GiB is the most it can address.
            if m == 0 || m > 4096 {
                problems.push(format!("{at} memory_mib must be between 1 and 4096 (MiB), not {m}"));
            } else {
                base.memory = (m as usize) << 20;
            }
        }
        if let Some(f) = self.fuel {
            base.fuel = Some(f);
        }
        if let Some(v) = self.max_rows {
            base.calls.max_rows = v.max(1);
        }
        if let Some(v) = self.max_statement_bytes {
            if v == 0 {
                problems.push(format!("{at} max_statement_bytes must be at least 1"));
            }
            base.calls.max_statement_bytes = v;
        }
        if let Some(v) = self.max_params {
            base.calls.max_params = v;
        }
        if let Some(v) = self.max_log_bytes {
            base.log = v;
        }
        if let Some(v) = self.max_output_bytes {
            base.output = v;
        }
        if let Some(m) = self.max_result_mib {
            if m == 0 || m > 1024 {
                problems.push(format!("{at} max_result_mib must be between 1 and 1024, not {m}"));
            } else {
                base.calls.max_bytes = (m as usize) << 20;
            }
        }
        base
    }
}

/// `[components.NAME]`: what one component (by `VERSION_name` or `name`) may do.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    /// Statement classes: any of `read`, `write`, `ddl` (default: all three for migrations).
    pub allow: Option<Vec<db_migrate::sandbox::grants::Class>>,
    /// Tables the component may touch (default: any).
    pub tables: Option<Vec<String>>,
    /// SQL functions of the user's own the component may call, beyond the built-in allowlist.
    pub functions: Option<Vec<String>>,
    /// Pinned SHA-256 of the `.wasm`; a different file refuses to run.
    pub sha256: Option<String>,
    /// A folder the component may read (never write) at `/data`, relative to the project.
    pub data_dir: Option<PathBuf>,
    /// Limits for this component, over `[limits]`.
    #[serde(flatten)]
    pub limits: LimitsConfig,
}

/// One `[environments.NAME]` section: overrides of the top-level settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// Database URL for this environment.
    pub database_url: Option<String>,
    /// History table name for this environment.
    pub history_table: Option<String>,
    /// Out-of-order policy for this environment.
    pub allow_out_of_order: Option<bool>,
    /// Arguments for this environment, over the top-level ones.
    #[serde(default)]
    pub args: BTreeMap<String, toml::Value>,
    /// Seed for this environment.
    pub seed: Option<u64>,
    /// Backups before migrating in this environment (`"always"` for production).
    pub backup: Option<BackupPolicy>,
    /// Placeholder values for this environment, over the top-level ones.
    #[serde(default)]
    pub placeholders: BTreeMap<String, toml::Value>,
}

/// What the command line says before configuration is read.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--dir`.
    pub dir: PathBuf,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--env`.
    pub env: Option<String>,
    /// `--arg key=value`, in order.
    pub args: Vec<(String, String)>,
    /// `--set name=value` (placeholders), in order.
    pub sets: Vec<(String, String)>,
}

/// Where the database URL came from, so output can say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlSource {
    /// `--database-url`.
    Flag,
    /// The `DATABASE_URL` environment variable.
    EnvVar,
    /// The project's `.env` file.
    DotEnv,
    /// `db-migrate.toml`.
    ConfigFile,
    /// Nothing configured: the embedded SQLite default.
    Default,
}

impl UrlSource {
    /// Human description.
    pub fn describe(self) -> &'static str {
        match self {
            UrlSource::Flag => "--database-url",
            UrlSource::EnvVar => "the DATABASE_URL environment variable",
            UrlSource::DotEnv => "DATABASE_URL in .env",
            UrlSource::ConfigFile => "db-migrate.toml",
            UrlSource::Default => "the embedded default",
        }
    }
}

/// Fully resolved settings of one invocation.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The project directory.
    pub project_dir: PathBuf,
    /// The migrations folder.
    pub migrations_dir: PathBuf,
    /// The seeds folder.
    pub seeds_dir: PathBuf,
    /// The database URL (may hold secrets: print it through `redact`).
    pub database_url: String,
    /// Where it came from.
    pub url_source: UrlSource,
    /// History table name, validated.
    pub history_table: String,
    /// Out-of-order policy.
    pub allow_out_of_order: bool,
    /// The selected environment.
    pub environment: String,
    /// The config file that was read, if any.
    pub config_path: Option<PathBuf>,
    /// Arguments for components: config, environment, then `--arg`.
    pub args: BTreeMap<String, String>,
    /// Seed for components' deterministic randomness.
    pub seed: u64,
    /// Grants, limits, pins and data folders for component migrations.
    pub policies: db_migrate::sandbox::policy::Policies,
    /// How long to wait for another run's migration lock.
    pub lock_timeout: std::time::Duration,
    /// How runs lock each other out.
    pub lock_mode: db_migrate::backend::LockMode,
    /// `--arg key=value` from the command line alone (they override a seed pack's own args).
    pub cli_args: BTreeMap<String, String>,
    /// Seed packs, in configuration order.
    pub seed_packs: Vec<SeedPack>,
    /// The seed history table, validated.
    pub seed_table: String,
    /// Where compiled components are kept: `DB_MIGRATE_CACHE_DIR`, else `.db-migrate/cache` in
    /// the project (CI can share one across checkouts).
    pub cache_dir: PathBuf,
    /// How the migrations folder is read (`[migrations] format`).
    pub migrations_format: db_migrate::migrate::source::Format,
    /// The knex runtime component: `DB_MIGRATE_KNEX_RUNTIME`, else `[migrations] knex_runtime`,
    /// else `.db-migrate/knex/knex-runtime.wasm` in the project.
    pub knex_runtime: PathBuf,
    /// The Alembic runtime component: `DB_MIGRATE_ALEMBIC_RUNTIME`, else
    /// `[migrations] alembic_runtime`, else `.db-migrate/alembic/alembic-runtime.wasm`.
    pub alembic_runtime: PathBuf,
    /// Back up before `up`, `down` and `redo`.
    pub backup_always: bool,
    /// `schema_file`, `shadow_database_url`, `drift_check` (paths not yet resolved).
    pub schema: SchemaConfig,
    /// Placeholder values: `[placeholders]`, the environment's, then `--set`.
    pub placeholders: db_migrate::migrate::placeholders::Placeholders,
    /// `[fleets.NAME]`, validated.
    pub fleets: BTreeMap<String, crate::fleet::config::Fleet>,
}

impl Settings {
    /// Reads the configuration and resolves every setting.
    pub fn resolve(o: &Overrides) -> Result<Settings, Error> {
        let project_dir = o.dir.clone();
        let (config_path, file) = load_file(o)?;
        let explicit_env = o.env.clone().or_else(|| std::env::var("DB_MIGRATE_ENV").ok().filter(|s| !s.is_empty()));
        let environment = explicit_env.clone().unwrap_or_else(|| DEFAULT_ENV.to_string());
        let env_cfg = file.environments.get(&environment);
        if env_cfg.is_none() && explicit_env.is_some() && environment != DEFAULT_ENV {
            let known: Vec<&str> = file.environments.keys().map(String::as_str).collect();
            let where_ = config_path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| CONFIG_FILE.to_string());
            return Err(Error::Config(format!(
                "environment `{environment}` is not defined: add an `[environments.{environment}]` section to {where_}{}",
                if known.is_empty() { String::new() } else { format!(" (defined: {})", known.join(", ")) }
            )));
        }

        let (database_url, url_source) = if let Some(u) = o.database_url.clone().filter(|s| !s.is_empty()) {
            (u, UrlSource::Flag)
        } else if let Some(u) = std::env::var("DATABASE_URL").ok().filter(|s| !s.is_empty()) {
            (u, UrlSource::EnvVar)
        } else if let Some(u) = dotenv_url(&project_dir)? {
            (u, UrlSource::DotEnv)
        } else if let Some(u) = env_cfg.and_then(|e| e.database_url.clone()).or_else(|| file.database_url.clone()) {
            (expand_vars(&u)?, UrlSource::ConfigFile)
        } else {
            (format!("sqlite:db/{environment}.sqlite3"), UrlSource::Default)
        };

        let history_table = env_cfg
            .and_then(|e| e.history_table.clone())
            .or_else(|| file.history_table.clone())
            .unwrap_or_else(|| history::DEFAULT_TABLE.to_string());
        history::validate_table_name(&history_table).map_err(Error::Config)?;
        let allow_out_of_order =
            env_cfg.and_then(|e| e.allow_out_of_order).or(file.allow_out_of_order).unwrap_or(false);

        let text = |v: &toml::Value| match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut args: BTreeMap<String, String> = file.args.iter().map(|(k, v)| (k.clone(), text(v))).collect();
        if let Some(e) = env_cfg {
            args.extend(e.args.iter().map(|(k, v)| (k.clone(), text(v))));
        }
        args.extend(o.args.iter().cloned());
        let seed = env_cfg.and_then(|e| e.seed).or(file.seed).unwrap_or(0);

        let policies = policies(&file, &project_dir)?;
        let seed_packs = seed_packs(&file, &project_dir, &policies)?;
        let seed_table = file.seeds.history_table.clone().unwrap_or_else(|| "db_migrate_seeds".to_string());
        history::validate_table_name(&seed_table).map_err(|e| Error::Config(format!("[seeds] history_table: {e}")))?;

        let cache_dir = std::env::var_os("DB_MIGRATE_CACHE_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| project_dir.join(".db-migrate").join("cache"));
        let knex_runtime = std::env::var_os("DB_MIGRATE_KNEX_RUNTIME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| file.migrations.knex_runtime.as_ref().map(|p| under(&project_dir, p.clone())))
            .unwrap_or_else(|| project_dir.join(".db-migrate").join("knex").join("knex-runtime.wasm"));
        // A knex project (a JavaScript or TypeScript knexfile at its root) without `[migrations] format` is
        // read as one: its knexfile's `migrations.directory` (default `migrations`) is the folder
        // unless `migrations_dir` says otherwise.
        let knexfile = match file.migrations.format {
            None => ["knexfile.js", "knexfile.cjs", "knexfile.mjs", "knexfile.ts"].iter().map(|f| project_dir.join(f)).find(|p| p.is_file()),
            Some(_) => None,
        };
        let knex_dir = knexfile.as_ref().and_then(|k| std::fs::read_to_string(k).ok()).and_then(|t| crate::adopt::settings::knex(&t).dir);
        let alembic_runtime = std::env::var_os("DB_MIGRATE_ALEMBIC_RUNTIME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| file.migrations.alembic_runtime.as_ref().map(|p| under(&project_dir, p.clone())))
            .unwrap_or_else(|| project_dir.join(".db-migrate").join("alembic").join("alembic-runtime.wasm"));
        // An Alembic project (`alembic.ini` at its root, no knexfile) without `[migrations]
        // format` is read as one: `script_location` (default `alembic`) + `/versions` is the
        // folder unless `migrations_dir` says otherwise.
        let alembic_ini = match (file.migrations.format, &knexfile) {
            (None, None) => Some(project_dir.join("alembic.ini")).filter(|p| p.is_file()),
            _ => None,
        };
        let alembic_dir = alembic_ini.as_ref().map(|ini| {
            let location = std::fs::read_to_string(ini).ok().and_then(|t| crate::adopt::settings::alembic_ini(&t).0);
            Path::new(&location.unwrap_or_else(|| "alembic".into())).join("versions")
        });
        let migrations_format = match (file.migrations.format, &knexfile, &alembic_ini) {
            (Some(f), _, _) => f,
            (None, Some(_), _) => db_migrate::migrate::source::Format::Knex,
            (None, None, Some(_)) => db_migrate::migrate::source::Format::Alembic,
            (None, None, None) => Default::default(),
        };
        let backup_always = env_cfg.and_then(|e| e.backup).or(file.backup) == Some(BackupPolicy::Always);
        let fleets = crate::fleet::config::validate(&file.fleets)
            .map_err(|p| Error::Config(format!("{CONFIG_FILE} has {} problem(s):\n  - {}", p.len(), p.join("\n  - "))))?;
        let placeholders = crate::placeholders::resolve(&file.placeholders, env_cfg.map(|e| &e.placeholders), &o.sets, &environment)?;
        Ok(Settings {
            schema: SchemaConfig {
                schema_file: file.schema_file.clone(),
                shadow_database_url: file.shadow_database_url.as_deref().map(expand_vars).transpose()?,
                drift_check: file.drift_check,
            },
            placeholders,
            fleets,
            backup_always,
            cache_dir,
            migrations_format,
            knex_runtime,
            alembic_runtime,
            cli_args: o.args.iter().cloned().collect(),
            seed_packs,
            seed_table,
            args,
            seed,
            policies,
            lock_timeout: std::time::Duration::from_secs(60),
            lock_mode: file.lock_mode.unwrap_or_default(),
            migrations_dir: under(&project_dir, file.migrations_dir.or(knex_dir.map(PathBuf::from)).or(alembic_dir).unwrap_or_else(|| PathBuf::from("migrations"))),
            seeds_dir: under(&project_dir, file.seeds_dir.unwrap_or_else(|| PathBuf::from("seeds"))),
            project_dir,
            database_url,
            url_source,
            history_table,
            allow_out_of_order,
            environment,
            config_path,
        })
    }
}

/// Builds the component policies, reporting every problem of every section at once.
fn policies(file: &ConfigFile, project: &Path) -> Result<db_migrate::sandbox::policy::Policies, Error> {
    use db_migrate::sandbox::grants::{Class, Grants};
    use db_migrate::sandbox::policy::{Policies, Policy};
    let mut problems = Vec::new();
    let base = file.limits.apply(db_migrate::sandbox::Limits::default(), "[limits]", &mut problems);
    let mut out = Policies { default: Policy { limits: base, ..Default::default() }, ..Default::default() };
    for (name, c) in &file.components {
        let at = format!("[components.{name}]");
        let mut p = Policy { limits: c.limits.apply(base, &at, &mut problems), ..Default::default() };
        if let Some(allow) = &c.allow {
            p.grants.classes = allow.iter().copied().collect::<std::collections::BTreeSet<Class>>();
        }
        if let Some(tables) = &c.tables {
            p.grants.tables = Some(tables.iter().map(|t| t.to_ascii_lowercase()).collect());
            // As written too: MongoDB collection names are case-sensitive.
            p.collections = Some(tables.iter().cloned().collect());
        }
        if let Some(functions) = &c.functions {
            p.grants.functions = functions.iter().map(|f| f.to_ascii_lowercase()).collect();
        }
        if let Some(sha) = &c.sha256 {
            if sha.len() != 64 || !sha.chars().all(|ch| ch.is_ascii_hexdigit()) {
                problems.push(format!("{at} sha256 must be 64 hex digits (`db-migrate inspect FILE` prints it)"));
            }
            p.sha256 = Some(sha.to_ascii_lowercase());
        }
        if let Some(dir) = &c.data_dir {
            let full = if dir.is_absolute() { dir.clone() } else { project.join(dir) };
            if !full.is_dir() {
                problems.push(format!("{at} data_dir {} is not a folder", full.display()));
            }
            p.data_dir = Some(full);
        }
        let _: &Grants = &p.grants;
        out.by_name.insert(name.clone(), p);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::Config(format!("{CONFIG_FILE} has {} problem(s):\n  - {}", problems.len(), problems.join("\n  - "))))
    }
}

/// Resolves `[[seeds.pack]]` sections: each pack gets `read` + `write` on its tables only.
fn seed_packs(file: &ConfigFile, project: &Path, policies: &db_migrate::sandbox::policy::Policies) -> Result<Vec<SeedPack>, Error> {
    use db_migrate::sandbox::grants::{Class, Grants};
    use db_migrate::sandbox::policy::Policy;
    let mut problems = Vec::new();
    let mut out: Vec<SeedPack> = Vec::new();
    for (i, p) in file.seeds.pack.iter().enumerate() {
        let at = format!("[[seeds.pack]] #{} (`{}`)", i + 1, p.name);
        if !db_migrate::migrate::source::is_valid_name(&p.name) {
            problems.push(format!("{at}: the name may only hold letters, digits, `_` and `-`"));
        }
        if out.iter().any(|o| o.name == p.name) {
            problems.push(format!("{at}: a second pack with this name"));
        }
        if p.tables.is_empty() {
            problems.push(format!("{at}: `tables` must list the tables the pack may write (it gets nothing else)"));
        }
        let component = if p.component.is_absolute() { p.component.clone() } else { project.join(&p.component) };
        let mut policy = Policy {
            grants: Grants {
                classes: [Class::Read, Class::Write].into(),
                tables: Some(p.tables.iter().map(|t| t.to_ascii_lowercase()).collect()),
                functions: Default::default(),
            },
            limits: p.limits.apply(policies.default.limits, &at, &mut problems),
            ..Default::default()
        };
        if let Some(sha) = &p.sha256 {
            if sha.len() != 64 || !sha.chars().all(|ch| ch.is_ascii_hexdigit()) {
                problems.push(format!("{at}: sha256 must be 64 hex digits (`db-migrate inspect FILE` prints it)"));
            }
            policy.sha256 = Some(sha.to_ascii_lowercase());
        }
        if let Some(dir) = &p.data_dir {
            let full = if dir.is_absolute() { dir.clone() } else { project.join(dir) };
            if !full.is_dir() {
                problems.push(format!("{at}: data_dir {} is not a folder", full.display()));
            }
            policy.data_dir = Some(full);
        }
        let text = |v: &toml::Value| match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push(SeedPack {
            name: p.name.clone(),
            component,
            args: p.args.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
            environments: p.environments.clone().unwrap_or_else(|| DEFAULT_PACK_ENVIRONMENTS.iter().map(|e| e.to_string()).collect()),
            batch_commits: p.batch_commits,
            policy,
        });
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::Config(format!("{CONFIG_FILE} has {} problem(s):\n  - {}", problems.len(), problems.join("\n  - "))))
    }
}

/// `dir/sub`, written as plain `sub` when `dir` is `.` so messages show `migrations/…`.
fn under(dir: &Path, sub: PathBuf) -> PathBuf {
    if dir == Path::new(".") { sub } else { dir.join(sub) }
}

fn load_file(o: &Overrides) -> Result<(Option<PathBuf>, ConfigFile), Error> {
    let (path, required) = match &o.config {
        Some(p) => (p.clone(), true),
        None => (o.dir.join(CONFIG_FILE), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok((None, ConfigFile::default())),
        Err(e) => return Err(Error::Config(format!("{}: cannot read the configuration: {e}", path.display()))),
    };
    let file: ConfigFile = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
        let loc = match line {
            Some(l) => format!("{}:{l}", path.display()),
            None => path.display().to_string(),
        };
        Error::Config(format!("{loc}: {}", e.message()))
    })?;
    Ok((Some(path), file))
}

fn dotenv_url(dir: &Path) -> Result<Option<String>, Error> {
    let path = dir.join(".env");
    if !path.is_file() {
        return Ok(None);
    }
    let iter = dotenvy::from_path_iter(&path).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    for item in iter {
        let (k, v) = item.map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        if k == "DATABASE_URL" && !v.is_empty() {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// Replaces `${VAR}` with the environment variable `VAR`; an unset variable is an error.
pub fn expand_vars(s: &str) -> Result<String, Error> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(Error::Config(format!("unterminated `${{` in `{}`", db_migrate::backend::url::redact(s))));
        };
        let name = &after[..end];
        let value = std::env::var(name).map_err(|_| {
            Error::Config(format!("database_url in {CONFIG_FILE} uses ${{{name}}}, but the environment variable {name} is not set"))
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The commented configuration `init` writes.
pub const TEMPLATE: &str = r#"# db-migrate configuration. Every setting is optional; the values shown are the defaults.

# Where the database is. Also read, in this order of precedence, from --database-url,
# the DATABASE_URL environment variable and DATABASE_URL in .env.
# `${VAR}` is replaced by the environment variable VAR, so secrets stay out of this file.
# Without any URL, db-migrate uses an embedded SQLite file: db/<environment>.sqlite3.
# Servers: postgres://user:${PGPASSWORD}@host/db, mysql:// or mariadb://user@host/db,
# mongodb://host:27017/db (MongoDB migrations are .mongo.json command files or components).
# database_url = "sqlite:db/development.sqlite3"

# migrations_dir = "migrations"
# seeds_dir = "seeds"

# The table that records applied migrations.
# history_table = "db_migrate_history"

# Apply pending migrations older than the newest applied one (e.g. merged from a branch).
# allow_out_of_order = false

# How runs lock each other out on PostgreSQL/MySQL: "session" (the server's own lock) or "table"
# (a lock row with an expiry; for PgBouncer transaction pooling). --lock-mode overrides.
# MongoDB always uses a lock document with an expiry, a MariaDB Galera cluster a lock row.
# lock_mode = "session"

# Arguments component migrations read (`--arg key=value` adds and overrides), and the seed of
# the deterministic random numbers they get.
# args = { batch_size = "1000" }
# seed = 0

# What component migrations may use (every key optional; these are the defaults).
# [limits]
# timeout_secs = 600          # wall clock per run; 0 = no deadline
# memory_mib = 256
# fuel = 1000000000           # unset = no fuel metering
# max_rows = 100000           # per query; larger results need a cursor
# max_statement_bytes = 1048576
# max_log_bytes = 1048576
# max_result_mib = 32         # values per query result or cursor page (and the largest value)

# Per component (by `VERSION_name` or `name`): grants, a pinned checksum, a read-only data folder
# (seen as /data), and any [limits] key. Without a section, a migration may read, write and run DDL
# on any table.
# [components.20240105090000_backfill_slugs]
# allow = ["read", "write"]
# tables = ["posts"]
# functions = ["slugify"]       # your own SQL functions it may call (built-ins are allowlisted)
# sha256 = "…"                  # `db-migrate inspect FILE` prints it
# data_dir = "data"
# timeout_secs = 60

# Seed packs for `db-migrate seed`: components that may read and write only their tables, only
# in the environments they list (development and test unless listed), optionally pinned.
# [seeds]
# history_table = "db_migrate_seeds"
#
# [[seeds.pack]]
# name = "demo"
# component = "plugins/dist/faker.wasm"
# tables = ["users", "posts", "comments"]
# args = { users = 1000, posts_per_user = 5 }
# environments = ["development", "test"]
# sha256 = "…"
# batch_commits = false         # true: commit per batch (very large data; a failure keeps them)

# Back up before every up/down/redo ("always"), or only with --backup ("never", the default).
# backup = "never"

# Fleets: many databases (a database or schema per tenant) migrated together with
# `db-migrate fleet up|down|status|test NAME`. One source of targets each: urls, urls_file,
# sqlite_glob, query (against control_url) or postgres_schemas (a LIKE pattern).
# [fleets.tenants]
# sqlite_glob = "tenants/*.sqlite3"
# canary = 2                    # the first 2 targets go first; a failure there stops the rollout
# wave_size = 100
# parallel = 4
# control_url = "postgres://ops@host/ops"   # state and claims shared by several workers

# Per-environment overrides, selected with --env NAME (or DB_MIGRATE_ENV=NAME).
# [environments.test]
# database_url = "sqlite:db/test.sqlite3"
#
# [environments.production]
# database_url = "${PRODUCTION_DATABASE_URL}"
# backup = "always"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses() {
        let f: ConfigFile = toml::from_str(TEMPLATE).unwrap();
        assert!(f.database_url.is_none());
    }

    #[test]
    fn expands_variables() {
        // SAFETY: tests in this module do not read this variable concurrently.
        unsafe { std::env::set_var("DBM_TEST_HOST", "db.example") };
        assert_eq!(expand_vars("postgres://${DBM_TEST_HOST}/x").unwrap(), "postgres://db.example/x");
        assert!(expand_vars("${DBM_TEST_NOT_SET_EVER}").unwrap_err().to_string().contains("DBM_TEST_NOT_SET_EVER"));
    }

    #[test]
    fn unknown_keys_are_errors_with_lines() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "history_table = \"h\"\nmigration_dir = \"x\"\n").unwrap();
        let e = load_file(&Overrides { dir: dir.path().into(), ..Default::default() }).unwrap_err().to_string();
        assert!(e.contains("db-migrate.toml:2"), "{e}");
        assert!(e.contains("migration_dir"), "{e}");
    }
}
