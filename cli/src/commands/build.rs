//! `db-migrate build`: compile guest sources into components, and warm the compiled cache.
//!
//! Guests live in `components/VERSION_name/`; each becomes `migrations/VERSION_name.wasm`, or
//! `seeds/NAME.wasm` when it is a seed. Folders elsewhere (seed packs in `plugins/`) are built
//! when named on the command line. A guest is a Rust crate (`Cargo.toml`), or a Python (`app.py`)
//! or JavaScript (`app.js`) folder with a `component.toml` saying its world:
//!
//! ```toml
//! language = "python"     # python | js
//! world = "migration"     # migration | document-migration | seed
//! ```
//!
//! The SDKs and the WIT package travel inside this binary and are written to `.db-migrate/`, so a
//! project needs db-migrate plus the language's own tool: cargo with the `wasm32-wasip2` target,
//! componentize-py, or componentize-js. Python and JavaScript guests whose sources, SDK and WIT
//! did not change since their last build are skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::Args;

use crate::Output;
use crate::config::Settings;
use db_migrate::migrate::error::Error;
use db_migrate::migrate::source;

const SDK_CARGO: &str = include_str!("../../../sdk/rust/Cargo.toml");
const SDK_LIB: &str = include_str!("../../../sdk/rust/src/lib.rs");
// The SDK's WIT bindings, generated ahead of time (sdk/rust/bindings.sh): a guest's first build
// then compiles no code generator.
const SDK_BINDINGS: [(&str, &str); 2] = [
    ("bindings_migration.rs", include_str!("../../../sdk/rust/src/bindings_migration.rs")),
    ("bindings_seed.rs", include_str!("../../../sdk/rust/src/bindings_seed.rs")),
];
pub const WIT: &str = include_str!("../../../wit/runtime.wit");

/// The Rust target guests are compiled for.
pub const TARGET: &str = "wasm32-wasip2";

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Guest folders to build (default: every guest in components/).
    #[arg(value_name = "GUEST_DIR")]
    crates: Vec<PathBuf>,
    /// Write the components here instead of migrations/ and seeds/ (any folder names allowed).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Whether a guest crate builds a seed: it enables the SDK's `seed` feature.
pub fn is_seed_crate(manifest: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(manifest) else { return false };
    let Ok(doc) = toml::from_str::<toml::Table>(&text) else { return false };
    doc.get("dependencies")
        .and_then(|d| d.get("db-migrate-sdk"))
        .and_then(|s| s.get("features"))
        .and_then(|f| f.as_array())
        .is_some_and(|f| f.iter().any(|v| v.as_str() == Some("seed")))
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), message: e.to_string() }
}

/// Writes `content` to `path` unless it already holds exactly that (so cargo sees no change).
pub fn write_if_changed(path: &Path, content: &str) -> Result<(), Error> {
    if std::fs::read_to_string(path).is_ok_and(|c| c == content) {
        return Ok(());
    }
    std::fs::create_dir_all(path.parent().expect("has a parent")).map_err(|e| io(path, e))?;
    std::fs::write(path, content).map_err(|e| io(path, e))
}

/// Writes the embedded SDK and WIT into `<project>/.db-migrate/`; returns the SDK's folder.
pub fn materialize_sdk(project: &Path) -> Result<PathBuf, Error> {
    let base = project.join(".db-migrate");
    let sdk = base.join("sdk").join("rust");
    write_if_changed(&sdk.join("Cargo.toml"), SDK_CARGO)?;
    write_if_changed(&sdk.join("src").join("lib.rs"), SDK_LIB)?;
    for (name, text) in SDK_BINDINGS {
        write_if_changed(&sdk.join("src").join(name), text)?;
    }
    write_if_changed(&base.join("wit").join("runtime.wit"), WIT)?;
    Ok(sdk)
}

/// Fails with the exact command to run when the toolchain cannot build guests.
fn check_toolchain() -> Result<(), Error> {
    let missing = |what: &str| Error::Config(what.to_string());
    let out = Command::new("rustc").args(["--print", "target-libdir", "--target", TARGET]).output().map_err(|_| {
        missing("building Rust components needs a Rust toolchain, and `rustc` was not found: install one with rustup (https://rustup.rs)")
    })?;
    let libdir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || libdir.is_empty() || !Path::new(&libdir).is_dir() {
        return Err(missing(&format!(
            "the Rust target {TARGET} is not installed, so components cannot be built: run `rustup target add {TARGET}`"
        )));
    }
    Ok(())
}

/// A guest crate's package name, from its Cargo.toml.
fn package_name(manifest: &Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(manifest).map_err(|e| io(manifest, e))?;
    let doc: toml::Table = toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {}", manifest.display(), e.message())))?;
    doc.get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(String::from)
        .ok_or_else(|| Error::Config(format!("{}: no [package] name", manifest.display())))
}

pub fn run(settings: &Settings, args: BuildArgs, out: &Output) -> Result<ExitCode, Error> {
    let components = settings.project_dir.join("components");
    let mut crates: Vec<PathBuf> = if args.crates.is_empty() {
        match std::fs::read_dir(&components) {
            Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| crate::commands::guest::detect(p).is_some()).collect(),
            Err(_) => Vec::new(),
        }
    } else {
        for c in &args.crates {
            if crate::commands::guest::detect(c).is_none() {
                return Err(Error::Config(format!(
                    "{}: not a guest (no Cargo.toml, app.py or app.js)",
                    c.display()
                )));
            }
        }
        args.crates.clone()
    };
    crates.sort();
    // A knex or Alembic project: the runtime its migration files run in.
    let runtime = match settings.migrations_format {
        source::Format::Knex => Some(("knex", crate::commands::knex_runtime::build(settings, out)?)),
        source::Format::Alembic => Some(("Alembic", crate::commands::alembic_runtime::build(settings, out)?)),
        _ => None,
    };
    let mut built_knex = None;
    if let Some((tool, (dest, skipped))) = runtime {
        let sandbox = db_migrate::sandbox::Sandbox::new(Some(settings.cache_dir.clone()), settings.policies.features())?;
        let loaded = std::time::Instant::now();
        let (_, origin) = sandbox.load(&dest, None).map_err(|m| Error::Config(format!("{}: {m}", dest.display())))?;
        let how = match origin {
            db_migrate::sandbox::Origin::Cached => "cached".to_string(),
            db_migrate::sandbox::Origin::Compiled => format!("precompiled in {:.1} s", loaded.elapsed().as_secs_f64()),
        };
        let bytes = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
        let verb = if skipped { "up to date" } else { "built   " };
        out.line(&format!("{verb} the {tool} runtime -> {} ({:.1} MiB, {how})", dest.display(), bytes as f64 / (1 << 20) as f64));
        built_knex = Some(serde_json::json!({ "source": format!("{tool} runtime"), "component": dest.display().to_string(), "bytes": bytes, "skipped": skipped }));
    }
    if crates.is_empty() && built_knex.is_some() {
        out.json(&serde_json::json!({ "built": [built_knex] }));
        return Ok(ExitCode::SUCCESS);
    }
    if crates.is_empty() {
        out.line(&format!("nothing to build: no guests in {}/ (`db-migrate create --name NAME --lang rust|python|js` makes one)", components.display()));
        out.json(&serde_json::json!({ "built": [] }));
        return Ok(ExitCode::SUCCESS);
    }
    let guests: Vec<(PathBuf, crate::commands::guest::Guest)> = crates
        .into_iter()
        .map(|d| crate::commands::guest::detect(&d).expect("filtered above").map(|g| (d.clone(), g)))
        .collect::<Result<_, _>>()?;
    if guests.iter().any(|(_, g)| g.language == crate::commands::guest::Language::Rust) {
        check_toolchain()?;
    }
    materialize_sdk(&settings.project_dir)?;
    if let Some(o) = &args.out {
        std::fs::create_dir_all(o).map_err(|e| io(o, e))?;
    }
    let target_dir = settings.project_dir.join(".db-migrate").join("target");
    let sandbox = db_migrate::sandbox::Sandbox::new(Some(settings.cache_dir.clone()), settings.policies.features())?;

    let mut built: Vec<serde_json::Value> = built_knex.into_iter().collect();
    // Python and JavaScript first, two at a time (each tool takes a core and a few hundred MB).
    let others: Vec<&(PathBuf, crate::commands::guest::Guest)> = guests.iter().filter(|(_, g)| g.language != crate::commands::guest::Language::Rust).collect();
    let results = crate::commands::guest::build_all(settings, &others, args.out.as_deref(), out)?;
    for (dir, dest, skipped) in results {
        let bytes = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
        let loaded = std::time::Instant::now();
        let (_, origin) = sandbox.load(&dest, None).map_err(|m| Error::Config(format!("{}: {m}", dest.display())))?;
        let how = match origin {
            db_migrate::sandbox::Origin::Cached => "cached".to_string(),
            db_migrate::sandbox::Origin::Compiled => format!("precompiled in {:.1} s", loaded.elapsed().as_secs_f64()),
        };
        let verb = if skipped { "up to date" } else { "built   " };
        out.line(&format!("{verb} {} -> {} ({:.1} MiB, {how})", dir.display(), dest.display(), bytes as f64 / (1 << 20) as f64));
        built.push(serde_json::json!({ "source": dir.display().to_string(), "component": dest.display().to_string(), "bytes": bytes, "skipped": skipped }));
    }
    for (dir, guest) in guests.iter().filter(|(_, g)| g.language == crate::commands::guest::Language::Rust) {
        let dir = dir.clone();
        let stem = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let manifest = dir.join("Cargo.toml");
        let seed = guest.world == crate::commands::guest::World::Seed;
        let out_dir = match (&args.out, seed) {
            (Some(o), _) => o.clone(),
            (None, true) => settings.seeds_dir.clone(),
            (None, false) => settings.migrations_dir.clone(),
        };
        std::fs::create_dir_all(&out_dir).map_err(|e| io(&out_dir, e))?;
        if args.out.is_none() && !seed && !matches!(source::parse_stem(&stem), Some(Ok(_))) {
            return Err(Error::Config(format!(
                "{}: a component folder is named VERSION_name (it becomes {}/VERSION_name.wasm); rename it or pass --out",
                dir.display(),
                settings.migrations_dir.display()
            )));
        }
        let package = package_name(&manifest)?;
        out.note(&format!("building {} ({package})", dir.display()));
        let status = Command::new("cargo")
            .args(["build", "--release", "--target", TARGET, "--manifest-path"])
            .arg(&manifest)
            .env("CARGO_TARGET_DIR", &target_dir)
            .args(if out.quiet { &["--quiet"][..] } else { &[][..] })
            .status()
            .map_err(|e| Error::Config(format!("cannot run cargo: {e}")))?;
        if !status.success() {
            return Err(Error::Config(format!("building {} failed (cargo's messages are above)", dir.display())));
        }
        let artifact = target_dir.join(TARGET).join("release").join(format!("{}.wasm", package.replace('-', "_")));
        let bytes = std::fs::read(&artifact).map_err(|e| io(&artifact, e))?;
        let dest = out_dir.join(format!("{stem}.wasm"));
        if std::fs::read(&dest).ok().as_deref() != Some(&bytes[..]) {
            std::fs::write(&dest, &bytes).map_err(|e| io(&dest, e))?;
        }
        // Precompile now so the first `up` deserializes instead of compiling.
        sandbox.load(&dest, None).map_err(|m| Error::Config(format!("{}: {m}", dest.display())))?;
        out.line(&format!("built    {} -> {} ({:.1} KiB)", dir.display(), dest.display(), bytes.len() as f64 / 1024.0));
        built.push(serde_json::json!({ "source": dir.display().to_string(), "component": dest.display().to_string(), "bytes": bytes.len() }));
    }
    out.json(&serde_json::json!({ "built": built }));
    Ok(ExitCode::SUCCESS)
}
