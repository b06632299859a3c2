//! The run-wide migration lock on SQLite: an exclusive lock on a file beside the database.
//!
//! SQLite's own write lock is taken per migration (`BEGIN IMMEDIATE`), which keeps two runners
//! from applying the same migration but cannot honour `--lock-timeout` or say who is migrating.
//! A lock on `<database>.db-migrate.lock` (flock: the kernel frees it when the holder's process
//! ends, however it ends, like a server's session lock) serialises whole runs, and the holder
//! writes its name into the file so a runner that gives up can say who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::migrate::error::{Error, Result};

/// A held lock; dropping it releases the lock (the file stays, empty of meaning until the next
/// holder writes its name).
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

/// The lock file of the database at `db`.
pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".db-migrate.lock");
    db.with_file_name(name)
}

/// Takes the lock of the database at `db`, waiting up to `timeout`; on time-out,
/// [`Error::Locked`] names the holder as it wrote itself into the file.
pub async fn acquire(db: &Path, timeout: Duration, owner: &str) -> Result<FileLock> {
    let path = path_for(db);
    // Never through a symbolic link: the holder truncates and writes the file, so a link planted
    // beside a database in a shared folder would make db-migrate clobber whatever it points at.
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o644)
        .open(&path)
        .map_err(|e| Error::Io { path: path.clone(), message: format!("cannot open the migration lock file (it must be a regular file, not a link): {e}") })?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => {
                // Best effort: the name only serves the message of a runner that waits.
                let _ = file.set_len(0).and_then(|_| file.write_all(owner.as_bytes())).and_then(|_| file.flush());
                return Ok(FileLock { _file: file });
            }
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => {
                return Err(Error::Io { path, message: format!("cannot lock the migration lock file: {e}") });
            }
        }
        if started.elapsed() >= timeout {
            let holder = holder_name(&mut file).unwrap_or_else(|| "holder unknown".into());
            return Err(Error::Locked(format!(
                "another db-migrate run holds the migration lock of {} ({}); waited {:?} (--lock-timeout)",
                db.display(),
                holder.trim(),
                timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The holder's name as it wrote itself into the lock file this runner opened and waited on —
/// read through that handle, never by path again (the path may have been swapped for a link to
/// another file meanwhile), at most 256 bytes, printable characters only.
fn holder_name(file: &mut File) -> Option<String> {
    let mut buf = Vec::with_capacity(256);
    file.rewind().ok()?;
    Read::take(&mut *file, 256).read_to_end(&mut buf).ok()?;
    let text: String = String::from_utf8_lossy(&buf).chars().filter(|c| !c.is_control()).collect();
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}
