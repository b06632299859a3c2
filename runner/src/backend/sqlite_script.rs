//! Running a whole SQL script through SQLite's own C API.
//!
//! sqlx walks a multi-statement script by handing `sqlite3_prepare_v3` the length of what is
//! left; SQLite copies any input that is not NUL-terminated before parsing it, so every
//! statement copied the rest of the script and a big data migration took quadratic time
//! (20 MB: 31 s). A NUL byte inside the script stopped SQLite's parser short of where the driver
//! expected progress, and the driver retried forever. Here the script is copied once into a
//! NUL-terminated buffer and walked with SQLite's tail pointer: linear, and every statement is
//! stepped to completion on this thread, with no hand-off to sqlx's worker per statement.

use std::ffi::{CStr, CString, c_char};
use std::ptr;

use libsqlite3_sys as ffi;

use super::guest::{Cap, CappedRows, SqlValue};
use super::sqlite_conn::Handle;
use crate::migrate::error::DbError;

/// Runs every statement of `script` in order. On failure, returns how many statements had
/// completed and SQLite's error (extended result code, as sqlx reports it).
pub fn exec_script(handle: Handle<'_>, script: &str) -> Result<(), (usize, DbError)> {
    let text = CString::new(script).map_err(|e| {
        (0, DbError { message: format!("the script holds a NUL byte (byte {}); SQL must be text", e.nul_position()), code: None })
    })?;
    let db = handle.as_ptr();
    // Ctrl-C / SIGTERM interrupt the statement in flight; the migration then rolls back.
    let _interrupt = crate::interrupt::on_request(Interrupter(db));
    let mut tail: *const c_char = text.as_ptr();
    let mut done = 0usize;
    // SAFETY: `db` is the connection's handle, locked out from sqlx's worker while `handle`
    // lives (see `sqlite_conn`); `tail` always points into `text` (NUL-terminated, alive for the whole loop), as
    // SQLite's `pzTail` guarantees; each prepared statement is finalized before the next.
    unsafe {
        while *tail != 0 {
            // A signal that came before this statement started: its hook found nothing to stop.
            if let Some(signal) = crate::interrupt::requested() {
                return Err((done, DbError { message: format!("stopped by {} before the next statement", signal.name()), code: None }));
            }
            let mut stmt: *mut ffi::sqlite3_stmt = ptr::null_mut();
            let mut next: *const c_char = ptr::null();
            // -1: read up to the NUL, so SQLite parses in place instead of copying the rest.
            let rc = ffi::sqlite3_prepare_v3(db, tail, -1, 0, &mut stmt, &mut next);
            if rc != ffi::SQLITE_OK {
                return Err((done, error(db)));
            }
            let progressed = next != tail;
            tail = next;
            if stmt.is_null() {
                // Only whitespace or comments: SQLite skips them, as the splitter does.
                if !progressed {
                    break;
                }
                continue;
            }
            let rc = loop {
                match ffi::sqlite3_step(stmt) {
                    ffi::SQLITE_ROW => continue,
                    rc => break rc,
                }
            };
            let err = (rc != ffi::SQLITE_DONE).then(|| error(db));
            ffi::sqlite3_finalize(stmt);
            if let Some(e) = err {
                return Err((done, e));
            }
            done += 1;
        }
    }
    Ok(())
}

/// SQLite's last error on `db`.
///
/// # Safety
/// `db` must be a valid, open connection used by this thread only.
unsafe fn error(db: *mut ffi::sqlite3) -> DbError {
    // SAFETY: per the function's contract; the message is copied before SQLite reuses it.
    let (code, message) = unsafe {
        let code = ffi::sqlite3_extended_errcode(db);
        let msg = ffi::sqlite3_errmsg(db);
        let message = if msg.is_null() { "unknown SQLite error".to_string() } else { CStr::from_ptr(msg).to_string_lossy().into_owned() };
        (code, message)
    };
    DbError { message, code: Some(code.to_string()) }
}

/// Interrupts whatever statement runs on a connection, from another thread.
struct Interrupter(*mut ffi::sqlite3);

// SAFETY: `sqlite3_interrupt` is documented as safe to call from any thread while the
// connection is open; the hook is removed (under the registry's lock) before `exec_script`
// returns and the handle is unlocked.
unsafe impl Send for Interrupter {}
unsafe impl Sync for Interrupter {}

impl crate::interrupt::Cancel for Interrupter {
    fn cancel(&self) {
        // SAFETY: see the `Send` impl.
        unsafe { ffi::sqlite3_interrupt(self.0) };
    }
}

/// A value bound to a history statement.
#[derive(Debug, Clone, Copy)]
pub enum Bind<'a> {
    /// An integer.
    Int(i64),
    /// Text.
    Text(&'a str),
}

/// Runs a few host statements (the history protocol: `BEGIN IMMEDIATE`, the history row,
/// `COMMIT`) straight on SQLite, each with its own bound values, and returns the number of rows
/// the last one changed. The history writes of a migration are a handful of tiny statements:
/// through sqlx's worker thread each costs a hand-off, which was most of a small migration's
/// time. Stops at the first failure and returns SQLite's error (extended code, as sqlx reports).
pub fn exec_host(handle: Handle<'_>, statements: &[(&str, &[Bind<'_>])]) -> Result<u64, DbError> {
    let db = handle.as_ptr();
    let mut changes = 0u64;
    for (sql, binds) in statements {
        // SAFETY: `db` is locked out from sqlx's worker while `handle` lives; the statement is
        // finalized on every path before the next one; bound text is copied by SQLite
        // (SQLITE_TRANSIENT) before the call returns.
        unsafe {
            let mut stmt: *mut ffi::sqlite3_stmt = ptr::null_mut();
            // The length is given (host statements are not NUL-terminated): SQLite copies them,
            // which for these few short statements costs less than a terminated copy here.
            if ffi::sqlite3_prepare_v3(db, sql.as_ptr().cast(), sql.len() as std::ffi::c_int, 0, &mut stmt, ptr::null_mut()) != ffi::SQLITE_OK {
                return Err(error(db));
            }
            if stmt.is_null() {
                continue;
            }
            let mut rc = ffi::SQLITE_OK;
            for (i, b) in binds.iter().enumerate() {
                let at = (i + 1) as std::ffi::c_int;
                rc = match b {
                    Bind::Int(v) => ffi::sqlite3_bind_int64(stmt, at, *v),
                    Bind::Text(s) => ffi::sqlite3_bind_text(stmt, at, s.as_ptr().cast(), s.len() as std::ffi::c_int, ffi::SQLITE_TRANSIENT()),
                };
                if rc != ffi::SQLITE_OK {
                    break;
                }
            }
            if rc == ffi::SQLITE_OK {
                rc = loop {
                    match ffi::sqlite3_step(stmt) {
                        ffi::SQLITE_ROW => continue,
                        rc => break rc,
                    }
                };
            }
            let err = (rc != ffi::SQLITE_DONE).then(|| error(db));
            ffi::sqlite3_finalize(stmt);
            if let Some(e) = err {
                return Err(e);
            }
            changes = ffi::sqlite3_changes64(db) as u64;
        }
    }
    Ok(changes)
}

/// The history rows `sql` selects (version, name, kind, checksum, status, applied_at,
/// execution_ms), read straight from SQLite's columns. The outer error is the database's; the
/// inner one a row whose values are not of the history's types (a table of another shape).
/// (Through sqlx a row cost a worker hand-off each; as one JSON text, building and parsing it
/// was a fifth of `status` for a thousand migrations.)
pub fn history_rows(handle: Handle<'_>, sql: &str) -> Result<Result<Vec<crate::migrate::history::AppliedMigration>, String>, DbError> {
    use crate::migrate::history::{AppliedMigration, RowStatus};
    let db = handle.as_ptr();
    // SAFETY: as in `exec_host`; column text is copied before the next step.
    unsafe {
        let mut stmt: *mut ffi::sqlite3_stmt = ptr::null_mut();
        if ffi::sqlite3_prepare_v3(db, sql.as_ptr().cast(), sql.len() as std::ffi::c_int, 0, &mut stmt, ptr::null_mut()) != ffi::SQLITE_OK {
            return Err(error(db));
        }
        // The column's bytes: valid until the next step, so each caller copies or parses them
        // before that (the returned lifetime does not say so).
        let bytes = |i: std::ffi::c_int| -> Result<&[u8], String> {
            if ffi::sqlite3_column_type(stmt, i) != ffi::SQLITE_TEXT {
                return Err(format!("column {} of a row is not text", i + 1));
            }
            let p = ffi::sqlite3_column_text(stmt, i);
            let n = ffi::sqlite3_column_bytes(stmt, i);
            if p.is_null() {
                // NULL for a TEXT value means SQLite could not allocate its copy.
                if ffi::sqlite3_errcode(db) == ffi::SQLITE_NOMEM {
                    return Err(format!("column {} of a row could not be read (out of memory)", i + 1));
                }
                return Ok(&[]);
            }
            Ok(if n <= 0 { &[] } else { std::slice::from_raw_parts(p, n as usize) })
        };
        let text = |i: std::ffi::c_int| -> Result<String, String> {
            let bytes = bytes(i)?;
            // Valid UTF-8 (all db-migrate writes) is copied as is; the lossy scan is the slow path.
            Ok(match std::str::from_utf8(bytes) {
                Ok(s) => s.to_owned(),
                Err(_) => String::from_utf8_lossy(bytes).into_owned(),
            })
        };
        let int = |i: std::ffi::c_int| -> Result<i64, String> {
            if ffi::sqlite3_column_type(stmt, i) != ffi::SQLITE_INTEGER {
                return Err(format!("column {} of a row is not an integer", i + 1));
            }
            Ok(ffi::sqlite3_column_int64(stmt, i))
        };
        let mut rows = Vec::new();
        let out = loop {
            match ffi::sqlite3_step(stmt) {
                ffi::SQLITE_ROW => {
                    let row = (|| {
                        Ok::<_, String>(AppliedMigration {
                            version: int(0)?,
                            name: text(1)?,
                            kind: text(2)?,
                            checksum: text(3)?,
                            // Read in place: only `applied` is applied, whatever the bytes.
                            status: RowStatus::parse(std::str::from_utf8(bytes(4)?).unwrap_or("")),
                            applied_at: text(5)?,
                            execution_ms: int(6)?,
                        })
                    })();
                    match row {
                        Ok(r) => rows.push(r),
                        Err(e) => break Ok(Err(e)),
                    }
                }
                ffi::SQLITE_DONE => break Ok(Ok(rows)),
                _ => break Err(error(db)),
            }
        };
        ffi::sqlite3_finalize(stmt);
        out
    }
}

/// Inserts `rows` with one statement (`INSERT INTO t (…) VALUES (?, …)`, one row's worth of
/// parameters) prepared once and stepped per row: SQLite compiles it once — so the guest's
/// authorizer, when its session is open, checks it once, at the prepare, for the whole batch —
/// and each row is only bound and run. Through sqlx the rows went as multi-row INSERTs, each a
/// hand-off to its worker with every value copied into its argument buffer; this is the same
/// work as a native program's prepared insert loop. The batch stays all-or-nothing: it runs
/// under a savepoint that a failing row rolls back. Returns the rows inserted, or the error of
/// the first row that failed (a refusal by the authorizer is a prepare error).
pub fn insert_rows(handle: Handle<'_>, statement: &str, rows: &[Vec<super::guest::SqlValue>], mut around: impl FnMut(bool)) -> Result<u64, DbError> {
    let db = handle.as_ptr();
    exec_host(handle, &[("SAVEPOINT dbm_batch", &[])])?;
    let mut inserted = 0u64;
    // `around(true)` marks the guest's statement as about to be compiled and run (the guard's
    // mode); `around(false)` ends it, before the host's own RELEASE / ROLLBACK TO.
    around(true);
    // SAFETY: `db` is locked out from sqlx's worker while `handle` lives; the statement is
    // finalized before returning, while `rows` (bound in place by `bind_row`) is still borrowed.
    let result = unsafe {
        let mut stmt: *mut ffi::sqlite3_stmt = ptr::null_mut();
        if ffi::sqlite3_prepare_v3(db, statement.as_ptr().cast(), statement.len() as std::ffi::c_int, 0, &mut stmt, ptr::null_mut()) != ffi::SQLITE_OK {
            Err(error(db))
        } else if stmt.is_null() {
            Err(DbError { message: "the insert statement is empty".into(), code: None })
        } else {
            let mut failure = None;
            'rows: for row in rows {
                if bind_row(stmt, row) != ffi::SQLITE_OK {
                    failure = Some(error(db));
                    break 'rows;
                }
                let rc = loop {
                    match ffi::sqlite3_step(stmt) {
                        ffi::SQLITE_ROW => continue,
                        rc => break rc,
                    }
                };
                if rc != ffi::SQLITE_DONE {
                    failure = Some(error(db));
                    break;
                }
                inserted += ffi::sqlite3_changes64(db) as u64;
                ffi::sqlite3_reset(stmt);
            }
            ffi::sqlite3_finalize(stmt);
            match failure {
                Some(e) => Err(e),
                None => Ok(inserted),
            }
        }
    };
    around(false);
    match result {
        Ok(n) => {
            exec_host(handle, &[("RELEASE dbm_batch", &[])])?;
            Ok(n)
        }
        Err(e) => {
            let _ = exec_host(handle, &[("ROLLBACK TO dbm_batch", &[]), ("RELEASE dbm_batch", &[])]);
            Err(e)
        }
    }
}

/// Binds a row of values to parameters 1, 2, … as the sqlx driver would (booleans as 0/1,
/// timestamps and JSON as text); SQLite's result code.
///
/// # Safety
/// `stmt` must be a live statement of a connection used by this thread only, and `row` must
/// outlive its binding: text and blobs are bound in place (SQLITE_STATIC, not copied; a seed's
/// batch binds a million values), so the caller finalizes `stmt`, or binds it again, before
/// `row` goes.
unsafe fn bind_row(stmt: *mut ffi::sqlite3_stmt, row: &[SqlValue]) -> std::ffi::c_int {
    for (i, v) in row.iter().enumerate() {
        let at = (i + 1) as std::ffi::c_int;
        // SAFETY: per the function's contract.
        let rc = unsafe {
            match v {
                SqlValue::Null => ffi::sqlite3_bind_null(stmt, at),
                SqlValue::Bool(b) => ffi::sqlite3_bind_int64(stmt, at, *b as i64),
                SqlValue::Int(n) => ffi::sqlite3_bind_int64(stmt, at, *n),
                SqlValue::Float(f) => ffi::sqlite3_bind_double(stmt, at, *f),
                SqlValue::Text(s) | SqlValue::Timestamp(s) | SqlValue::Json(s) => {
                    ffi::sqlite3_bind_text64(stmt, at, s.as_ptr().cast(), s.len() as u64, ffi::SQLITE_STATIC(), ffi::SQLITE_UTF8 as u8)
                }
                SqlValue::Blob(b) => ffi::sqlite3_bind_blob64(stmt, at, b.as_ptr().cast(), b.len() as u64, ffi::SQLITE_STATIC()),
            }
        };
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    ffi::SQLITE_OK
}

/// What one statement run by [`run_one`] gave.
#[derive(Debug)]
pub struct Ran {
    /// The result's column names (also when it has no rows).
    pub columns: Vec<String>,
    /// The rows read, within the caps.
    pub rows: CappedRows,
    /// Why reading stopped before the result's end: the cap the next row would pass, or a
    /// value that cannot be carried (text that is not UTF-8).
    pub stopped: Option<Result<Cap, String>>,
    /// Rows the statement inserted, updated or deleted (0 for any other statement).
    pub changes: u64,
}

/// Runs one statement with `params` straight on SQLite, on this thread: a component's `execute`
/// and `query` (and the host's own small reads). Through sqlx each was two hand-offs to its
/// worker thread, most of a small component migration's cost. The statement is compiled anew
/// (never cached), so the authorizer checks it each time. With `read`, rows are decoded by
/// their stored type until the result ends or the next would pass `(max_rows, max_bytes)`;
/// without, they are stepped through and dropped. Text holding a second statement is refused
/// before anything runs (the caller checked it holds one; this holds SQLite to the same).
/// Ctrl-C / SIGTERM interrupt it and the guard's progress handler stops it at the guest's
/// deadline, both between SQLite's VM steps (one function call that runs long, such as a
/// quadratic `instr`, is stopped by the sandbox's watchdog past the deadline instead).
pub fn run_one(handle: Handle<'_>, sql: &str, params: &[SqlValue], read: Option<(usize, usize)>) -> Result<Ran, DbError> {
    let db = handle.as_ptr();
    let text = CString::new(sql).map_err(|e| DbError { message: format!("the statement holds a NUL byte (byte {})", e.nul_position()), code: None })?;
    let _interrupt = crate::interrupt::on_request(Interrupter(db));
    let (max_rows, max_bytes) = read.unwrap_or_default();
    let mut ran = Ran { columns: Vec::new(), rows: CappedRows::new(max_rows, max_bytes), stopped: None, changes: 0 };
    // SAFETY: `db` is locked out from sqlx's worker while `handle` lives; `text` outlives both
    // statements, which are finalized on every path; column values are copied before the next
    // step; `params`, bound in place (see `bind_row`), is borrowed past the finalize.
    unsafe {
        let mut stmt: *mut ffi::sqlite3_stmt = ptr::null_mut();
        let mut tail: *const c_char = ptr::null();
        if ffi::sqlite3_prepare_v3(db, text.as_ptr(), -1, 0, &mut stmt, &mut tail) != ffi::SQLITE_OK {
            return Err(error(db));
        }
        if stmt.is_null() {
            return Ok(ran);
        }
        if !tail.is_null() && *tail != 0 {
            let mut second: *mut ffi::sqlite3_stmt = ptr::null_mut();
            let rc = ffi::sqlite3_prepare_v3(db, tail, -1, 0, &mut second, ptr::null_mut());
            let refusal = if rc != ffi::SQLITE_OK {
                Some(error(db))
            } else if !second.is_null() {
                Some(DbError { message: "one call runs one statement; SQLite reads more than one in this text".into(), code: None })
            } else {
                None
            };
            ffi::sqlite3_finalize(second);
            if let Some(e) = refusal {
                ffi::sqlite3_finalize(stmt);
                return Err(e);
            }
        }
        if let Some(e) = odd_parameter(stmt) {
            ffi::sqlite3_finalize(stmt);
            return Err(e);
        }
        if bind_row(stmt, params) != ffi::SQLITE_OK {
            let e = error(db);
            ffi::sqlite3_finalize(stmt);
            return Err(e);
        }
        let width = ffi::sqlite3_column_count(stmt);
        if read.is_some() {
            ran.columns = (0..width)
                .map(|i| {
                    let p = ffi::sqlite3_column_name(stmt, i);
                    if p.is_null() { String::new() } else { CStr::from_ptr(p).to_string_lossy().into_owned() }
                })
                .collect();
        }
        let before = ffi::sqlite3_total_changes64(db);
        let rc = loop {
            match ffi::sqlite3_step(stmt) {
                ffi::SQLITE_ROW if read.is_some() && ran.stopped.is_none() => match row(stmt, width) {
                    Ok(values) => {
                        if let Err(cap) = ran.rows.push(values) {
                            ran.stopped = Some(Ok(cap));
                            break ffi::SQLITE_DONE;
                        }
                    }
                    Err(e) => {
                        ran.stopped = Some(Err(e));
                        break ffi::SQLITE_DONE;
                    }
                },
                ffi::SQLITE_ROW => continue,
                rc => break rc,
            }
        };
        let err = (rc != ffi::SQLITE_DONE).then(|| error(db));
        // A statement that wrote rows (`INSERT`, `UPDATE`, `DELETE`) moved the connection's
        // total; `sqlite3_changes` alone would repeat the last write's count after DDL.
        if ffi::sqlite3_total_changes64(db) != before {
            ran.changes = ffi::sqlite3_changes64(db) as u64;
        }
        ffi::sqlite3_finalize(stmt);
        match err {
            Some(e) => Err(e),
            None => Ok(ran),
        }
    }
}

/// A parameter SQLite reads differently from the host's parser, if the statement has one.
/// SQLite's named parameters may carry `::` and a `(…)` suffix (Tcl's forms), which swallow
/// what other parsers read as a cast, a call or a comment: the text the host checked would not
/// be the statement SQLite runs. Only `?`, `?N`, and `:`, `@` or `$` followed by letters,
/// digits and `_` are taken.
///
/// # Safety
/// `stmt` must be a live statement of this thread's connection.
unsafe fn odd_parameter(stmt: *mut ffi::sqlite3_stmt) -> Option<DbError> {
    // SAFETY: per the function's contract; names are copied before the statement is finalized.
    unsafe {
        for i in 1..=ffi::sqlite3_bind_parameter_count(stmt) {
            let p = ffi::sqlite3_bind_parameter_name(stmt, i);
            if p.is_null() {
                continue;
            }
            let name = CStr::from_ptr(p).to_bytes();
            let plain = match name.split_first() {
                Some((b'?', rest)) => rest.iter().all(u8::is_ascii_digit),
                Some((b':' | b'@' | b'$', rest)) => !rest.is_empty() && rest.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_'),
                _ => false,
            };
            if !plain {
                return Some(DbError {
                    message: format!(
                        "parameter `{}` is not a plain `?`, `?N`, `:name`, `@name` or `$name`; SQLite would read more into it than was checked",
                        String::from_utf8_lossy(name)
                    ),
                    code: None,
                });
            }
        }
    }
    None
}

/// The current row's values by their stored type (SQLite types values, not columns).
///
/// # Safety
/// `stmt` must be a statement of this thread's connection positioned on a row.
unsafe fn row(stmt: *mut ffi::sqlite3_stmt, width: std::ffi::c_int) -> Result<Vec<SqlValue>, String> {
    (0..width)
        .map(|i| {
            // SAFETY: per the function's contract; bytes are copied before the next step.
            unsafe {
                Ok(match ffi::sqlite3_column_type(stmt, i) {
                    ffi::SQLITE_NULL => SqlValue::Null,
                    ffi::SQLITE_INTEGER => SqlValue::Int(ffi::sqlite3_column_int64(stmt, i)),
                    ffi::SQLITE_FLOAT => SqlValue::Float(ffi::sqlite3_column_double(stmt, i)),
                    ffi::SQLITE_BLOB => {
                        let p = ffi::sqlite3_column_blob(stmt, i).cast::<u8>();
                        let n = ffi::sqlite3_column_bytes(stmt, i) as usize;
                        SqlValue::Blob(if p.is_null() { Vec::new() } else { std::slice::from_raw_parts(p, n).to_vec() })
                    }
                    _ => {
                        let p = ffi::sqlite3_column_text(stmt, i);
                        let n = ffi::sqlite3_column_bytes(stmt, i) as usize;
                        let bytes = if p.is_null() { &[][..] } else { std::slice::from_raw_parts(p, n) };
                        SqlValue::Text(String::from_utf8(bytes.to_vec()).map_err(|_| format!("column {} holds text that is not valid UTF-8", i + 1))?)
                    }
                })
            }
        })
        .collect()
}

/// A digest of the schema as SQLite stores it: every `sqlite_master` row (type, name, table,
/// `CREATE` text) in name order, but SQLite's own and those of tables `skip` names. The schema
/// model is a function of these rows (the pragmas it also reads derive from the same text), so
/// equal digests mean equal schemas: `db-migrate test` compares digests after each step and
/// builds the full model only when two differ. Read on the C API, on this thread: through sqlx
/// each row was a hand-off to its worker.
pub async fn master_digest(conn: &mut sqlx::SqliteConnection, skip: &dyn Fn(&str) -> bool) -> Result<[u8; 32], DbError> {
    use sha2::{Digest, Sha256};
    const SQL: &str = "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";
    let mut locked = conn.lock_handle().await.map_err(DbError::from)?;
    let db = locked.as_raw_handle().as_ptr();
    let mut h = Sha256::new();
    // SAFETY: `db` is the connection's handle, locked out from sqlx's worker while `locked`
    // lives; each column's bytes are hashed before the next step, while SQLite keeps them valid;
    // the statement is finalized on every path.
    unsafe {
        let mut stmt: *mut ffi::sqlite3_stmt = ptr::null_mut();
        if ffi::sqlite3_prepare_v3(db, SQL.as_ptr().cast(), SQL.len() as std::ffi::c_int, 0, &mut stmt, ptr::null_mut()) != ffi::SQLITE_OK {
            return Err(error(db));
        }
        let column = |i: std::ffi::c_int| -> Option<&[u8]> {
            let p = ffi::sqlite3_column_text(stmt, i);
            (!p.is_null()).then(|| std::slice::from_raw_parts(p, ffi::sqlite3_column_bytes(stmt, i) as usize))
        };
        loop {
            match ffi::sqlite3_step(stmt) {
                ffi::SQLITE_ROW => {
                    if skip(std::str::from_utf8(column(2).unwrap_or_default()).unwrap_or_default()) {
                        continue;
                    }
                    for i in 0..4 {
                        match column(i) {
                            Some(bytes) => {
                                h.update([1]);
                                h.update((bytes.len() as u64).to_le_bytes());
                                h.update(bytes);
                            }
                            None => h.update([0]),
                        }
                    }
                }
                ffi::SQLITE_DONE => break,
                _ => {
                    let e = error(db);
                    ffi::sqlite3_finalize(stmt);
                    return Err(e);
                }
            }
        }
        ffi::sqlite3_finalize(stmt);
    }
    Ok(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sqlite_conn::Conn;
    use sqlx::ConnectOptions;

    async fn conn() -> Conn {
        let c = sqlx::sqlite::SqliteConnectOptions::new().in_memory(true).connect().await.unwrap();
        Conn::new(c)
    }

    fn text(v: &SqlValue) -> &str {
        match v {
            SqlValue::Text(s) => s,
            other => panic!("not text: {other:?}"),
        }
    }

    #[tokio::test]
    async fn one_statement_runs_with_its_values_and_counts_only_rows_it_wrote() {
        let mut c = conn().await;
        let h = c.handle().await.unwrap();
        assert_eq!(run_one(h, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, raw BLOB, ok)", &[], None).unwrap().changes, 0);
        let row = [SqlValue::Int(1), SqlValue::Text("ada".into()), SqlValue::Float(1.5), SqlValue::Blob(vec![0, 1]), SqlValue::Bool(true)];
        assert_eq!(run_one(h, "INSERT INTO t VALUES (?, ?, ?, ?, ?)", &row, None).unwrap().changes, 1);
        let two = [SqlValue::Int(2), SqlValue::Null, SqlValue::Null, SqlValue::Null, SqlValue::Timestamp("2024-05-01T10:00:00Z".into())];
        assert_eq!(run_one(h, "INSERT INTO t VALUES (?, ?, ?, ?, ?)", &two, None).unwrap().changes, 1);
        // DDL and reads after a write do not repeat the write's count (sqlite3_changes would).
        assert_eq!(run_one(h, "CREATE INDEX t_name ON t (name)", &[], None).unwrap().changes, 0);
        assert_eq!(run_one(h, "SELECT * FROM t", &[], None).unwrap().changes, 0);
        assert_eq!(run_one(h, "UPDATE t SET score = 2", &[], None).unwrap().changes, 2);
        let ran = run_one(h, "SELECT id, name, score, raw, ok FROM t ORDER BY id", &[], Some((10, 1 << 20))).unwrap();
        assert_eq!(ran.columns, ["id", "name", "score", "raw", "ok"]);
        assert!(ran.stopped.is_none());
        assert_eq!(ran.rows.rows[0], row[..4].iter().cloned().chain([SqlValue::Int(1)]).map(|v| if v == SqlValue::Float(1.5) { SqlValue::Float(2.0) } else { v }).collect::<Vec<_>>());
        assert_eq!(text(&ran.rows.rows[1][4]), "2024-05-01T10:00:00Z");
        assert_eq!(ran.rows.rows[1][1], SqlValue::Null);
        // An empty result still names its columns.
        let empty = run_one(h, "SELECT id AS n FROM t WHERE id > 9", &[], Some((10, 1 << 20))).unwrap();
        assert_eq!((empty.columns, empty.rows.rows.len()), (vec!["n".to_string()], 0));
        // Only whitespace and comments: nothing runs.
        assert_eq!(run_one(h, "  -- nothing\n", &[], None).unwrap().changes, 0);
    }

    #[tokio::test]
    async fn a_second_statement_is_refused_before_the_first_runs() {
        let mut c = conn().await;
        let h = c.handle().await.unwrap();
        run_one(h, "CREATE TABLE t (id INTEGER)", &[], None).unwrap();
        let e = run_one(h, "INSERT INTO t VALUES (1); DROP TABLE t", &[], None).unwrap_err();
        assert!(e.message.contains("one statement"), "{e:?}");
        // A tail that does not parse is an error too, and the first statement did not run.
        assert!(run_one(h, "INSERT INTO t VALUES (1); nonsense here", &[], None).is_err());
        let n = run_one(h, "SELECT COUNT(*) FROM t", &[], Some((1, 100))).unwrap();
        assert_eq!(n.rows.rows, vec![vec![SqlValue::Int(0)]]);
        // A trailing semicolon or comment is no second statement.
        assert_eq!(run_one(h, "INSERT INTO t VALUES (1); -- done", &[], None).unwrap().changes, 1);
        // Named parameters in SQLite's Tcl forms swallow what other parsers read as a cast and
        // a comment (the host would check one statement and SQLite run another): refused.
        let hidden = "SELECT $a::varchar(--) AS k, (SELECT COUNT(*) FROM t) AS s /*\n10) --*/";
        assert!(run_one(h, hidden, &[SqlValue::Int(1)], Some((10, 1000))).unwrap_err().message.contains("not a plain"));
        assert!(run_one(h, "SELECT @a(x) AS k", &[SqlValue::Int(1)], Some((10, 1000))).is_err());
        for ok in ["SELECT ?", "SELECT ?1", "SELECT :a", "SELECT @a_1", "SELECT $a"] {
            assert!(run_one(h, ok, &[SqlValue::Int(1)], Some((10, 1000))).is_ok(), "{ok}");
        }
        // A NUL byte is refused, not cut short.
        assert!(run_one(h, "INSERT INTO t VALUES (1)\0; DROP TABLE t", &[], None).unwrap_err().message.contains("NUL"));
    }

    #[tokio::test]
    async fn results_stop_at_the_caps_and_bad_text_is_named() {
        let mut c = conn().await;
        let h = c.handle().await.unwrap();
        run_one(h, "CREATE TABLE t (v)", &[], None).unwrap();
        for i in 0..5 {
            run_one(h, "INSERT INTO t VALUES (?)", &[SqlValue::Int(i)], None).unwrap();
        }
        let rows = run_one(h, "SELECT v FROM t", &[], Some((3, 1 << 20))).unwrap();
        assert_eq!((rows.rows.rows.len(), rows.stopped), (3, Some(Ok(Cap::Rows))));
        let bytes = run_one(h, "SELECT v FROM t", &[], Some((10, 20))).unwrap();
        assert_eq!((bytes.rows.rows.len(), bytes.stopped), (2, Some(Ok(Cap::Bytes))));
        let bad = run_one(h, "SELECT CAST(x'ff00' AS TEXT)", &[], Some((10, 100))).unwrap();
        assert!(matches!(&bad.stopped, Some(Err(m)) if m.contains("not valid UTF-8")), "{:?}", bad.stopped);
    }
}
