//! `db-migrate build`: compile guest sources into components, and warm the compiled cache.
//!
//! Guest crates live in `components/VERSION_name/`; each becomes `migrations/VERSION_name.wasm`.
//! The Rust SDK and the WIT package travel inside this binary and are written to
//! `.db-migrate/sdk/rust` and `.db-migrate/wit`, so a project needs nothing but db-migrate and a
//! Rust toolchain with the `wasm32-wasip2` target.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::Args;

use super::Output;
use crate::config::Settings;
use crate::migrate::error::Error;
use crate::migrate::source;

const SDK_CARGO: &str = include_str!("../../../sdk/rust/Cargo.toml");
const SDK_LIB: &str = include_str!("../../../sdk/rust/src/lib.rs");
const WIT: &str = include_str!("../../../wit/runtime.wit");

/// The Rust target guests are compiled for.
pub const TARGET: &str = "wasm32-wasip2";

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Write the components here instead of the migrations folder (any folder names allowed).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), message: e.to_string() }
}

/// Writes `content` to `path` unless it already holds exactly that (so cargo sees no change).
fn write_if_changed(path: &Path, content: &str) -> Result<(), Error> {
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
    let mut crates: Vec<PathBuf> = match std::fs::read_dir(&components) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.join("Cargo.toml").is_file()).collect(),
        Err(_) => Vec::new(),
    };
    crates.sort();
    if crates.is_empty() {
        out.line(&format!("nothing to build: no guest crates in {}/ (`db-migrate create --name NAME --lang rust` makes one)", components.display()));
        out.json(&serde_json::json!({ "built": [] }));
        return Ok(ExitCode::SUCCESS);
    }
    check_toolchain()?;
    materialize_sdk(&settings.project_dir)?;
    let out_dir = args.out.clone().unwrap_or_else(|| settings.migrations_dir.clone());
    std::fs::create_dir_all(&out_dir).map_err(|e| io(&out_dir, e))?;
    let target_dir = settings.project_dir.join(".db-migrate").join("target");
    let sandbox = crate::sandbox::Sandbox::new(Some(settings.project_dir.join(".db-migrate").join("cache")), settings.policies.features())?;

    let mut built = Vec::new();
    for dir in crates {
        let stem = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if args.out.is_none() && !matches!(source::parse_stem(&stem), Some(Ok(_))) {
            return Err(Error::Config(format!(
                "{}: a component folder is named VERSION_name (it becomes {}/VERSION_name.wasm); rename it or pass --out",
                dir.display(),
                settings.migrations_dir.display()
            )));
        }
        let manifest = dir.join("Cargo.toml");
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
