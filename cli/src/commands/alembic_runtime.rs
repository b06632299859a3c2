//! `db-migrate build` in an Alembic project (`[migrations] format = "alembic"`): the Alembic runtime.
//!
//! The runtime's sources (`sdk/alembic/runtime/`) travel inside this binary. They are written
//! to `.db-migrate/sdk/alembic/`, the pinned PyPI packages installed there once as pure Python
//! (`pip install --target`, SQLAlchemy built without its C extensions; or taken from
//! `DB_MIGRATE_ALEMBIC_SITE_PACKAGES`), and componentize-py builds one component, written where
//! `[migrations] alembic_runtime` says (default `.db-migrate/alembic/alembic-runtime.wasm`) and
//! precompiled into the cache. Python is needed for this build only: running Alembic revisions
//! needs just the component.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::Output;
use crate::commands::build::{WIT, write_if_changed};
use crate::config::Settings;
use db_migrate::migrate::error::Error;

/// The runtime's sources, by their path under `sdk/alembic/runtime/`.
const FILES: [(&str, &str); 7] = [
    ("app.py", include_str!("../../../sdk/alembic/runtime/app.py")),
    ("dbm_alembic/__init__.py", include_str!("../../../sdk/alembic/runtime/dbm_alembic/__init__.py")),
    ("dbm_alembic/dialects.py", include_str!("../../../sdk/alembic/runtime/dbm_alembic/dialects.py")),
    ("dbm_alembic/driver.py", include_str!("../../../sdk/alembic/runtime/dbm_alembic/driver.py")),
    ("dbm_alembic/recorder.py", include_str!("../../../sdk/alembic/runtime/dbm_alembic/recorder.py")),
    ("dbm_alembic/runner.py", include_str!("../../../sdk/alembic/runtime/dbm_alembic/runner.py")),
    ("dbm_alembic/warm.py", include_str!("../../../sdk/alembic/runtime/dbm_alembic/warm.py")),
];

/// What the runtime was written and tested against (as `sdk/alembic/build.sh` pins them).
pub const PINS: [&str; 5] = ["alembic==1.20.1", "SQLAlchemy==2.1.9", "Mako==1.4.3", "MarkupSafe==3.0.4", "typing-extensions==4.16.0"];

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), message: e.to_string() }
}

/// Removes native extension modules under `dir`: componentize-py cannot load them, and every
/// pinned package falls back to its pure-Python modules without them (MarkupSafe's speedups).
fn drop_native(dir: &Path) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| io(&path, e))?;
        if kind.is_dir() {
            drop_native(&path)?;
        } else if path.extension().is_some_and(|x| x == "so" || x == "pyd") {
            std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
        }
    }
    Ok(())
}

/// Installs the pinned packages into `site` unless they are there already.
fn install(settings: &Settings, site: &Path, out: &Output) -> Result<(), Error> {
    let marker = site.join(".db-migrate-pins");
    if std::fs::read_to_string(&marker).is_ok_and(|s| s == PINS.join("\n")) {
        return Ok(());
    }
    let python = crate::commands::guest::find_tool("python3", &settings.project_dir)
        .ok_or_else(|| Error::Config("building the Alembic runtime needs Python 3 with pip (`python3` on PATH), once; running Alembic revisions does not".into()))?;
    out.note(&format!("installing the Alembic runtime's PyPI packages into {}", site.display()));
    std::fs::create_dir_all(site).map_err(|e| io(site, e))?;
    let o = Command::new(python)
        .args(["-m", "pip", "install", "--quiet", "--upgrade", "--no-warn-script-location", "--target"])
        .arg(site)
        .args(["--no-binary", "SQLAlchemy"])
        .args(PINS)
        // SQLAlchemy from its sdist, without the Cython extensions componentize-py cannot load.
        .env("DISABLE_SQLALCHEMY_CEXT", "1")
        .output()
        .map_err(|e| Error::Config(format!("cannot run python3 -m pip: {e}")))?;
    if !o.status.success() {
        return Err(Error::Config(format!("pip install into {} failed:\n{}", site.display(), String::from_utf8_lossy(&o.stderr).trim_end())));
    }
    drop_native(site)?;
    std::fs::write(&marker, PINS.join("\n")).map_err(|e| io(&marker, e))
}

/// Builds the Alembic runtime unless it is up to date; returns its path and whether it was skipped.
pub fn build(settings: &Settings, out: &Output) -> Result<(PathBuf, bool), Error> {
    let base = settings.project_dir.join(".db-migrate");
    let sdk = base.join("sdk").join("alembic");
    let runtime = sdk.join("runtime");
    let mut h = Sha256::new();
    for (name, text) in FILES {
        write_if_changed(&runtime.join(name), text)?;
        h.update(name.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.update([0]);
    }
    for pin in PINS {
        h.update(pin.as_bytes());
        h.update([0]);
    }
    let wit = base.join("wit");
    write_if_changed(&wit.join("runtime.wit"), WIT)?;
    h.update(WIT.as_bytes());
    let print = format!("{:x}", h.finalize());
    let dest = settings.alembic_runtime.clone();
    let stamp = dest.with_extension("wasm.sha256");
    if dest.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == print) {
        return Ok((dest, true));
    }
    let componentize = crate::commands::guest::find_tool("componentize-py", &settings.project_dir).ok_or_else(|| {
        Error::Config("building the Alembic runtime needs `componentize-py` (on PATH or in .venv/bin: `pip install componentize-py`), once; running Alembic revisions does not".into())
    })?;
    let site = match std::env::var_os("DB_MIGRATE_ALEMBIC_SITE_PACKAGES").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let site = sdk.join("site-packages");
            install(settings, &site, out)?;
            site
        }
    };
    if !site.join("alembic").is_dir() || !site.join("sqlalchemy").is_dir() {
        return Err(Error::Config(format!("{} has no alembic or sqlalchemy package: the Alembic runtime needs {}", site.display(), PINS.join(", "))));
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    out.note(&format!("building the Alembic runtime {} (componentize-py, about a minute)", dest.display()));
    let o = Command::new(componentize)
        .arg("-d")
        .arg(&wit)
        .args(["-w", "migration", "componentize", "app", "-p"])
        .arg(&runtime)
        .arg("-p")
        .arg(&site)
        .arg("-o")
        .arg(&dest)
        .output()
        .map_err(|e| Error::Config(format!("cannot run componentize-py: {e}")))?;
    if !o.status.success() || !dest.is_file() {
        return Err(Error::Config(format!(
            "building the Alembic runtime failed (it needs {} in {}):\n{}\n{}",
            PINS.join(", "),
            site.display(),
            String::from_utf8_lossy(&o.stdout).trim_end(),
            String::from_utf8_lossy(&o.stderr).trim_end()
        )));
    }
    std::fs::write(&stamp, &print).map_err(|e| io(&stamp, e))?;
    Ok((dest, false))
}
