//! Writing a backup file so that only a complete one ever carries its name: the tool writes
//! to a hidden temporary name in the target folder, and the file is published under its final
//! name only when the tool succeeded (never over an existing file). A failure removes the
//! temporary file.

use std::path::{Path, PathBuf};

use db_migrate::migrate::error::Error;

/// Where a backup goes.
#[derive(Debug, Clone)]
pub enum Destination {
    /// Exactly this file (`--out`); an existing file is an error.
    Exact(PathBuf),
    /// `DIR/STEM.EXT`, or `DIR/STEM-2.EXT`, `-3`… when that name is taken (default names).
    Fresh {
        /// The folder.
        dir: PathBuf,
        /// The name before the counter and the extension.
        stem: String,
        /// The extension, without its dot.
        ext: &'static str,
    },
}

impl Destination {
    /// The `n`th name to try (the first is 1).
    fn candidate(&self, n: u32) -> PathBuf {
        match self {
            Destination::Exact(p) => p.clone(),
            Destination::Fresh { dir, stem, ext } if n == 1 => dir.join(format!("{stem}.{ext}")),
            Destination::Fresh { dir, stem, ext } => dir.join(format!("{stem}-{n}.{ext}")),
        }
    }

    /// The folder the backup lands in (created if missing).
    pub fn dir(&self) -> PathBuf {
        match self {
            Destination::Exact(p) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
            Destination::Fresh { dir, .. } => dir.clone(),
        }
    }

    /// The name the backup will most likely get (the first candidate).
    pub fn first(&self) -> PathBuf {
        self.candidate(1)
    }

    /// A hidden temporary name in the same folder, so publishing is a rename on one filesystem.
    pub fn temporary(&self) -> PathBuf {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let first = self.first();
        let name = first.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "backup".into());
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        first.with_file_name(format!(".{name}.partial-{}-{nanos}-{n}", std::process::id()))
    }

    /// Gives the complete backup at `tmp` its final name, never replacing a file: a hard link
    /// fails when the name exists (so two runners cannot take the same one), then the
    /// temporary name goes. Returns the final path.
    pub fn publish(&self, tmp: &Path) -> Result<PathBuf, Error> {
        let io = |p: &Path, e: std::io::Error| Error::Io { path: p.to_path_buf(), message: e.to_string() };
        for n in 1..10_000 {
            let target = self.candidate(n);
            let taken = match std::fs::hard_link(tmp, &target) {
                Ok(()) => {
                    let _ = std::fs::remove_file(tmp);
                    return Ok(target);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => true,
                // A filesystem without hard links: a rename, after checking the name is free.
                Err(_) if target.exists() => true,
                Err(_) => {
                    std::fs::rename(tmp, &target).map_err(|e| io(&target, e))?;
                    return Ok(target);
                }
            };
            if taken && matches!(self, Destination::Exact(_)) {
                let _ = std::fs::remove_file(tmp);
                return Err(exists(&target));
            }
        }
        let _ = std::fs::remove_file(tmp);
        Err(exists(&self.first()))
    }
}

/// The error for a backup name that is taken.
pub fn exists(p: &Path) -> Error {
    Error::Config(format!("{} exists already; choose another --out (a backup never replaces a file)", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_names_count_up_and_exact_names_are_never_replaced() {
        let dir = std::env::temp_dir().join(format!("dbm-output-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fresh = Destination::Fresh { dir: dir.clone(), stem: "dev-1".into(), ext: "mongo.json" };
        let mut got = Vec::new();
        for body in ["a", "b", "c"] {
            let tmp = fresh.temporary();
            std::fs::write(&tmp, body).unwrap();
            got.push(fresh.publish(&tmp).unwrap());
            assert!(!tmp.exists());
        }
        let names: Vec<String> = got.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["dev-1.mongo.json", "dev-1-2.mongo.json", "dev-1-3.mongo.json"]);
        assert_eq!(std::fs::read_to_string(&got[1]).unwrap(), "b");

        let exact = Destination::Exact(got[0].clone());
        let tmp = exact.temporary();
        std::fs::write(&tmp, "new").unwrap();
        assert!(exact.publish(&tmp).is_err());
        assert!(!tmp.exists(), "the temporary file is removed");
        assert_eq!(std::fs::read_to_string(&got[0]).unwrap(), "a", "never replaced");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
