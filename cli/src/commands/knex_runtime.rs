//! `db-migrate build` in a knex project (`[migrations] format = "knex"`): the knex runtime.
//!
//! The runtime's sources (`sdk/knex/`) travel inside this binary. They are written to
//! `.db-migrate/sdk/knex/`, their npm packages installed there once (`npm install`; or taken from
//! `DB_MIGRATE_KNEX_NODE_MODULES`), and `build.mjs` bundles knex with esbuild and builds one
//! component with componentize-js, written where `[migrations] knex_runtime` says (default
//! `.db-migrate/knex/knex-runtime.wasm`) and precompiled into the cache. Node.js is needed for
//! this build only: running knex migrations needs just the component.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::Output;
use crate::commands::build::{WIT, write_if_changed};
use crate::config::Settings;
use db_migrate::migrate::error::Error;

/// The runtime's sources, by their path under `sdk/knex/`.
const FILES: [(&str, &str); 10] = [
    ("runtime.js", include_str!("../../../sdk/knex/runtime.js")),
    ("build.mjs", include_str!("../../../sdk/knex/build.mjs")),
    ("package.json", include_str!("../../../sdk/knex/package.json")),
    ("shims/util.js", include_str!("../../../sdk/knex/shims/util.js")),
    ("shims/assert.js", include_str!("../../../sdk/knex/shims/assert.js")),
    ("shims/empty.js", include_str!("../../../sdk/knex/shims/empty.js")),
    ("shims/tty.js", include_str!("../../../sdk/knex/shims/tty.js")),
    ("shims/timers.js", include_str!("../../../sdk/knex/shims/timers.js")),
    ("shims/stream.js", include_str!("../../../sdk/knex/shims/stream.js")),
    ("shims/globals.js", include_str!("../../../sdk/knex/shims/globals.js")),
];

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), message: e.to_string() }
}

/// Builds the knex runtime unless it is up to date; returns its path and whether it was skipped.
pub fn build(settings: &Settings, out: &Output) -> Result<(PathBuf, bool), Error> {
    let base = settings.project_dir.join(".db-migrate");
    let sdk = base.join("sdk").join("knex");
    let mut h = Sha256::new();
    for (name, text) in FILES {
        write_if_changed(&sdk.join(name), text)?;
        h.update(name.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.update([0]);
    }
    let wit = base.join("wit");
    write_if_changed(&wit.join("runtime.wit"), WIT)?;
    h.update(WIT.as_bytes());
    let print = format!("{:x}", h.finalize());
    let dest = settings.knex_runtime.clone();
    let stamp = dest.with_extension("wasm.sha256");
    if dest.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == print) {
        return Ok((dest, true));
    }
    let node = crate::commands::guest::find_tool("node", &settings.project_dir)
        .ok_or_else(|| Error::Config("building the knex runtime needs Node.js (`node` on PATH), once; running knex migrations does not".into()))?;
    let node_modules = match std::env::var_os("DB_MIGRATE_KNEX_NODE_MODULES").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let nm = sdk.join("node_modules");
            // (An install from before a package was added lacks it: install again.)
            if !nm.join("knex").is_dir() || !nm.join("sucrase").is_dir() {
                out.note(&format!("installing the knex runtime's npm packages into {}", sdk.display()));
                let npm = crate::commands::guest::find_tool("npm", &settings.project_dir)
                    .ok_or_else(|| Error::Config("building the knex runtime needs npm (with Node.js), once".into()))?;
                let o = Command::new(npm)
                    .args(["install", "--no-audit", "--no-fund", "--silent"])
                    .current_dir(&sdk)
                    .output()
                    .map_err(|e| Error::Config(format!("cannot run npm: {e}")))?;
                if !o.status.success() {
                    return Err(Error::Config(format!(
                        "npm install in {} failed:\n{}",
                        sdk.display(),
                        String::from_utf8_lossy(&o.stderr).trim_end()
                    )));
                }
            }
            nm
        }
    };
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    out.note(&format!("building the knex runtime {}", dest.display()));
    let o = Command::new(node)
        .arg(sdk.join("build.mjs"))
        .arg("--node-modules")
        .arg(&node_modules)
        .arg("--wit")
        .arg(&wit)
        .arg("--out")
        .arg(&dest)
        .output()
        .map_err(|e| Error::Config(format!("cannot run node: {e}")))?;
    if !o.status.success() || !dest.is_file() {
        return Err(Error::Config(format!(
            "building the knex runtime failed (it needs knex, esbuild, events, path-browserify and sucrase in {}, and componentize-js):\n{}\n{}",
            node_modules.display(),
            String::from_utf8_lossy(&o.stdout).trim_end(),
            String::from_utf8_lossy(&o.stderr).trim_end()
        )));
    }
    std::fs::write(&stamp, &print).map_err(|e| io(&stamp, e))?;
    Ok((dest, false))
}
