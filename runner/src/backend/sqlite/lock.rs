//! SQLite: the run-wide lock (a file lock beside the database; each migration also takes the write lock).

use super::*;

impl crate::backend::Lock for SqliteBackend {
    fn lock(&mut self, timeout: Duration, _mode: crate::backend::LockMode) -> crate::backend::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // Each migration also runs under `BEGIN IMMEDIATE` and writes its history row first; the
            // run-wide lock adds `--lock-timeout` and the holder's name. Both lock modes take the
            // same file lock: the kernel frees it with the process, and no pooler stands between
            // db-migrate and a SQLite file. An in-memory database is this connection's alone.
            if let Some(file) = &self.file {
                self.run_lock = Some(crate::backend::sqlite_lock::acquire(file, timeout, &crate::backend::lock_owner()).await?);
            }
            Ok(())
        })
    }

    fn unlock(&mut self) -> crate::backend::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // Closing the lock file releases the kernel's lock: nothing can fail.
            self.run_lock = None;
            Ok(())
        })
    }
}
