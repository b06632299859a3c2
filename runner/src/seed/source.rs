//! Finding seeds: the project's `seeds/` folder and the configured packs.

use std::path::{Path, PathBuf};


use super::SeedPack;
use crate::migrate::error::{Error, Result};
pub use crate::migrate::events::SeedKind;
use crate::migrate::source::{self, Body, Migration, Script};


/// One seed, read.
#[derive(Debug, Clone)]
pub struct SeedSource {
    /// Its name: the file stem, or the pack's name.
    pub name: String,
    /// What it is.
    pub kind: SeedKind,
    /// Its file.
    pub path: PathBuf,
    /// SHA-256 of its content (normalised SQL text, or component bytes).
    pub checksum: String,
    /// SQL text (SQL seeds).
    pub sql: Option<String>,
    /// Index into the configured packs (packs).
    pub pack: Option<usize>,
}

impl SeedSource {
    /// The seed in the shape the runner's events and the sandbox take (version 0).
    pub fn as_migration(&self) -> Migration {
        let body = match &self.sql {
            Some(sql) => Body::Sql {
                up: Script { sql: sql.clone(), path: self.path.clone(), first_line: 1, transaction: true },
                down: None,
            },
            None => Body::Component(None),
        };
        Migration { version: 0, name: self.name.clone(), path: self.path.clone(), body, checksum: self.checksum.clone() }
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Config(format!("{}: cannot read the seed: {e}", path.display())))
}

/// The project's seeds (by file name), then the packs (in configuration order). A missing
/// `seeds/` folder holds no seeds.
pub fn discover(dir: &Path, packs: &[SeedPack]) -> Result<Vec<SeedSource>> {
    let mut out = Vec::new();
    if dir.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::Config(format!("{}: cannot read the seeds folder: {e}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && matches!(p.extension().and_then(|x| x.to_str()), Some("sql" | "wasm")))
            .collect();
        files.sort();
        for path in files {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            if !source::is_valid_name(&stem) {
                return Err(Error::Config(format!("{}: a seed's name may only hold letters, digits, `_` and `-`", path.display())));
            }
            let bytes = read(&path)?;
            if path.extension().and_then(|x| x.to_str()) == Some("sql") {
                let text = source::decode_sql(bytes, &path)?;
                // A seed runs in one transaction with its record: it may not end it.
                let script = Script { sql: text, path, first_line: 1, transaction: true };
                source::check_transaction_control(&script, "each seed", "remove it")?;
                let Script { sql: text, path, .. } = script;
                out.push(SeedSource { name: stem, kind: SeedKind::Sql, checksum: source::checksum([text.as_str()]), sql: Some(text), path, pack: None });
            } else {
                out.push(SeedSource { name: stem, kind: SeedKind::Component, checksum: source::checksum_bytes(&bytes), sql: None, path, pack: None });
            }
        }
    }
    for (i, p) in packs.iter().enumerate() {
        let bytes = std::fs::read(&p.component).map_err(|e| {
            Error::Config(format!("seed pack `{}`: cannot read its component {}: {e}", p.name, p.component.display()))
        })?;
        if let Some(other) = out.iter().find(|s| s.name == p.name) {
            return Err(Error::Config(format!("seed pack `{}` has the name of {}; rename one", p.name, other.path.display())));
        }
        out.push(SeedSource {
            name: p.name.clone(),
            kind: SeedKind::Pack,
            path: p.component.clone(),
            checksum: source::checksum_bytes(&bytes),
            sql: None,
            pack: Some(i),
        });
    }
    Ok(out)
}
