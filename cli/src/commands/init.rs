//! `db-migrate init`: lay out a new project.

use std::path::Path;
use std::process::ExitCode;

use crate::Output;
use crate::config::{CONFIG_FILE, TEMPLATE};
use db_migrate::migrate::error::Error;

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), message: e.to_string() }
}

pub fn run(dir: &Path, out: &Output) -> Result<ExitCode, Error> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut created = Vec::new();
    let mut kept = Vec::new();
    let at = |name: &str| if dir == Path::new(".") { Path::new(name).to_path_buf() } else { dir.join(name) };
    let config = at(CONFIG_FILE);
    if config.exists() {
        kept.push(config.display().to_string());
    } else {
        std::fs::write(&config, TEMPLATE).map_err(|e| io(&config, e))?;
        created.push(config.display().to_string());
    }
    for sub in ["migrations", "seeds"] {
        let p = at(sub);
        if p.is_dir() {
            kept.push(p.display().to_string());
        } else {
            std::fs::create_dir_all(&p).map_err(|e| io(&p, e))?;
            created.push(format!("{}/", p.display()));
        }
    }
    // `.db-migrate/` holds the compiled-component cache and the audit log: machine- and
    // user-specific, never worth committing (a committed cache is refused anyway: entries carry
    // a MAC under a per-user key).
    let state = at(".db-migrate");
    let ignore = state.join(".gitignore");
    if ignore.exists() {
        kept.push(ignore.display().to_string());
    } else {
        std::fs::create_dir_all(&state).map_err(|e| io(&state, e))?;
        std::fs::write(&ignore, "# db-migrate's local state (compiled components, audit log): not for version control\n*\n")
            .map_err(|e| io(&ignore, e))?;
        created.push(ignore.display().to_string());
    }
    for c in &created {
        out.line(&format!("created {c}"));
    }
    for k in &kept {
        out.line(&format!("kept    {k} (already there)"));
    }
    out.line("next: `db-migrate create --name create_users`, edit the file, then `db-migrate up`");
    out.json(&serde_json::json!({ "created": created, "kept": kept }));
    Ok(ExitCode::SUCCESS)
}
