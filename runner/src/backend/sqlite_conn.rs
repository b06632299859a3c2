//! The SQLite connection, shared between sqlx's worker thread and SQLite's C API.
//!
//! sqlx runs every statement on a worker thread: each call is a hand-off there and back (tens
//! of µs), which for 1,000 small migrations was most of `up`'s time. The host's own statements
//! (the history protocol, whole scripts, reading the history, bulk inserts of seeds) run
//! straight on SQLite's C API instead, on the caller's thread, which needs the handle locked out
//! from the worker. Locking it is itself a hand-off, so it is taken once and kept across
//! statements and migrations, and given back to the worker only when something goes through
//! sqlx again (guest cursors, introspection). [`Conn`] holds both sides and the rule between
//! them: the handle is reachable only while the worker is locked out, and sqlx only after it is
//! given back.

use std::marker::PhantomData;
use std::ptr::NonNull;

use libsqlite3_sys as ffi;
use sqlx::sqlite::{LockedSqliteHandle, SqliteConnection};

use super::sqlite_script::Bind;
use crate::migrate::error::DbError;

/// A sqlx connection whose handle may be held for direct use.
pub struct Conn {
    // Declared before `conn`: dropped first, so the worker is never shut down while locked out.
    held: Option<LockedSqliteHandle<'static>>,
    conn: SqliteConnection,
}

/// The raw handle, usable for as long as this borrow of [`Conn`] lasts (the worker stays
/// locked out meanwhile).
#[derive(Clone, Copy)]
pub struct Handle<'a> {
    db: NonNull<ffi::sqlite3>,
    _held: PhantomData<&'a mut ()>,
}

impl Handle<'_> {
    /// The `sqlite3*` pointer for FFI calls.
    pub fn as_ptr(&self) -> *mut ffi::sqlite3 {
        self.db.as_ptr()
    }
}

impl Conn {
    /// Wraps a connection (nothing is locked yet).
    pub fn new(conn: SqliteConnection) -> Self {
        Conn { held: None, conn }
    }

    /// sqlx's connection, after giving the handle back to its worker (a no-op when not held).
    pub fn sqlx(&mut self) -> &mut SqliteConnection {
        self.release();
        &mut self.conn
    }

    /// Gives the handle back to sqlx's worker.
    pub fn release(&mut self) {
        self.held = None;
    }

    /// The handle locked out from sqlx's worker, locking it first if it is not held yet.
    pub async fn locked(&mut self) -> Result<&mut LockedSqliteHandle<'static>, sqlx::Error> {
        if self.held.is_none() {
            let guard = self.conn.lock_handle().await?;
            // SAFETY: the guard borrows the connection only to reach the worker's mutex, which
            // lives in the worker's shared state behind an `Arc` that the connection keeps
            // alive; moving `Conn` does not move it. The borrow is extended so the guard can be
            // kept across calls; `Conn` upholds what the borrow would have: `conn` is reached
            // only through `sqlx()`/`into_inner()`, which drop the guard first, and the guard
            // is declared before `conn`, so it is dropped before the connection.
            let guard = unsafe { std::mem::transmute::<LockedSqliteHandle<'_>, LockedSqliteHandle<'static>>(guard) };
            self.held = Some(guard);
        }
        Ok(self.held.as_mut().expect("held above"))
    }

    /// The raw handle for host statements on this thread.
    pub async fn handle(&mut self) -> Result<Handle<'_>, DbError> {
        let db = self.locked().await.map_err(DbError::from)?.as_raw_handle();
        Ok(Handle { db, _held: PhantomData })
    }

    /// Runs host statements straight on SQLite (see [`super::sqlite_script::exec_host`]).
    pub async fn exec(&mut self, statements: &[(&str, &[Bind<'_>])]) -> Result<u64, DbError> {
        let handle = self.handle().await?;
        super::sqlite_script::exec_host(handle, statements)
    }

    /// Whether a transaction is open on the connection (SQLite is out of autocommit mode); an
    /// unreachable handle counts as open, so a caller never records on top of an unknown state.
    pub async fn in_transaction(&mut self) -> bool {
        match self.handle().await {
            // SAFETY: the handle is locked out from sqlx's worker for as long as `h` lives.
            Ok(h) => unsafe { libsqlite3_sys::sqlite3_get_autocommit(h.as_ptr()) == 0 },
            Err(_) => true,
        }
    }

    /// The connection, with the handle given back to sqlx's worker.
    pub fn into_inner(mut self) -> SqliteConnection {
        self.release();
        let Conn { held: _, conn } = self;
        conn
    }
}
