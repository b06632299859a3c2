//! SQLite enforces a guest's grant itself.
//!
//! The host's parser check (the sandbox's `grants` module) sees the statement as text; SQLite's
//! authorizer sees what the statement actually touches once SQLite has compiled it — every
//! table and column read or written, resolved through CTEs, views and triggers, every function
//! called, every PRAGMA, ATTACH, transaction or schema change. So while a guest session is open
//! the connection carries an authorizer callback that allows exactly the scope's grant, a
//! progress handler that stops a statement when the guest's deadline passes (a runaway
//! recursive CTE inside one call), a length limit on any single string or blob, and a page cap
//! on the temporary database that cursors are materialised into.
//!
//! Host statements between the guest's (history rows, cursor pages) run with the guard in
//! [`Mode::Off`]; the backend switches the mode around each guest statement.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use libsqlite3_sys as ffi;

use super::guest::GuestScope;

/// Whose statement is being compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// The host's own: not checked.
    Off = 0,
    /// The guest's.
    Guest = 1,
    /// The guest's query, wrapped by the host into `CREATE TEMP TABLE _dbm_cursor_N AS …`.
    Cursor = 2,
}

/// One guest session's rules.
struct Session {
    scope: GuestScope,
    /// Columns SQLite reads to enforce foreign keys between a granted table and another
    /// (`(table, column)`, lower-case): the guest's write needs
    /// them checked, and their values never reach it.
    fk_columns: std::collections::HashSet<(String, String)>,
    /// When running guest statements are stopped (moved when a nested session starts).
    deadline: Option<Instant>,
}

/// The state the callbacks read. Installed once per connection; a guest session sets its
/// rules, and leaving clears them.
pub struct Guard {
    mode: AtomicU8,
    session: Mutex<Option<Session>>,
    /// Why the last statement was refused, for the guest's error message.
    denied: Mutex<Option<String>>,
}

impl Guard {
    /// A guard with no session: everything compiled is the host's.
    pub fn new() -> Arc<Self> {
        Arc::new(Guard { mode: AtomicU8::new(Mode::Off as u8), session: Mutex::new(None), denied: Mutex::new(None) })
    }

    /// Starts enforcing `scope` (with the foreign keys of the database, as
    /// `(child table, child column, parent table, parent column)`).
    pub fn start(&self, scope: GuestScope, foreign_keys: &[(String, String, String, Option<String>)]) {
        let mut fk_columns = std::collections::HashSet::new();
        for (child, from, parent, to) in foreign_keys {
            let (child, parent) = (child.to_ascii_lowercase(), parent.to_ascii_lowercase());
            if scope.table_allowed(&parent) {
                fk_columns.insert((child.clone(), from.to_ascii_lowercase()));
            }
            // A parent column not named (nor resolved to the parent's primary key) exempts nothing.
            if let (true, Some(to)) = (scope.table_allowed(&child), to) {
                fk_columns.insert((parent, to.to_ascii_lowercase()));
            }
        }
        let deadline = scope.deadline;
        if let Ok(mut s) = self.session.lock() {
            *s = Some(Session { scope, fk_columns, deadline });
        }
        self.set(Mode::Off);
    }

    /// Ends the session.
    pub fn stop(&self) {
        self.set(Mode::Off);
        if let Ok(mut s) = self.session.lock() {
            *s = None;
        }
    }

    /// Moves the deadline (a guest run inside a session its caller opened).
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        if let Ok(mut s) = self.session.lock() {
            if let Some(s) = s.as_mut() {
                s.deadline = deadline;
            }
        }
    }

    /// Switches whose statements are compiled next.
    pub fn set(&self, mode: Mode) {
        if mode != Mode::Off {
            if let Ok(mut d) = self.denied.lock() {
                *d = None;
            }
        }
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    fn mode(&self) -> Mode {
        match self.mode.load(Ordering::SeqCst) {
            1 => Mode::Guest,
            2 => Mode::Cursor,
            _ => Mode::Off,
        }
    }

    /// Takes the reason of the last refusal.
    pub fn take_denied(&self) -> Option<String> {
        self.denied.lock().ok().and_then(|mut d| d.take())
    }

    /// Whether the deadline has passed while a guest statement runs.
    pub fn expired(&self) -> bool {
        self.mode() != Mode::Off
            && self.session.lock().ok().and_then(|s| s.as_ref().and_then(|s| s.deadline)).is_some_and(|d| Instant::now() >= d)
    }
}

impl Session {
    fn table(&self, name: &str, db: Option<&str>, need: &str, granted: bool) -> Result<(), String> {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("sqlite_") {
            return Err(format!("`{name}` is SQLite's own table; components may not {need} it"));
        }
        // db-migrate's names and those they prefix, however the guest spelled them.
        if self.scope.reserved.prefixes(&lower) {
            return Err(format!("`{name}` is one of db-migrate's own names; no component may {need} it"));
        }
        if !granted {
            return Err(format!("{need} on `{name}` needs a class this component is not granted"));
        }
        let qualified = match db {
            Some(d) if d != "main" && d != "temp" => return Err(format!("`{d}.{name}` is another database")),
            _ => lower.clone(),
        };
        if !self.scope.table_allowed(&qualified) {
            return Err(format!("table `{name}` is not this component's to {need} (the database refused it)"));
        }
        Ok(())
    }

    /// The authorizer's decision for one action.
    fn decide(&self, mode: Mode, action: c_int, a1: Option<&str>, a2: Option<&str>, db: Option<&str>) -> Result<(), String> {
        let s = &self.scope;
        let name = a1.unwrap_or("");
        let cursor_table = |n: &str| mode == Mode::Cursor && n.starts_with("_dbm_cursor_") && db == Some("temp");
        match action {
            ffi::SQLITE_SELECT | ffi::SQLITE_RECURSIVE => Ok(()),
            // AUTOINCREMENT's bookkeeping table: SQLite's own DDL code creates, reads and writes it
            // (creating the first AUTOINCREMENT table, dropping or renaming one); the host refuses a
            // guest's own statements naming it before they get here.
            ffi::SQLITE_CREATE_TABLE | ffi::SQLITE_READ | ffi::SQLITE_INSERT | ffi::SQLITE_UPDATE | ffi::SQLITE_DELETE
                if s.ddl && name.eq_ignore_ascii_case("sqlite_sequence") && db.is_none_or(|d| d == "main") =>
            {
                Ok(())
            }
            // Reads of a CTE or subquery name no database: only real tables carry one.
            ffi::SQLITE_READ if db.is_none() => Ok(()),
            // Schema changes read the schema table as they compile (the host refuses a guest's
            // own reads of it before they get here).
            ffi::SQLITE_READ if is_schema_table(name) && (s.ddl || (mode == Mode::Cursor && name.to_ascii_lowercase().starts_with("sqlite_temp"))) => Ok(()),
            // A knex migration reads the schema table (`hasTable`, a rebuild's CREATE statements):
            // the host admitted only knex's own forms of those reads.
            ffi::SQLITE_READ if s.knex && s.read && is_schema_table(name) => Ok(()),
            // An Alembic revision's batch mode reads a table's CREATE text: the host admitted
            // only that form, and only with a granted table's name bound.
            ffi::SQLITE_READ if s.alembic && s.read && is_schema_table(name) => Ok(()),
            ffi::SQLITE_READ => {
                let col = a2.unwrap_or("").to_ascii_lowercase();
                let lower = name.to_ascii_lowercase();
                if self.fk_columns.contains(&(lower, col)) {
                    return Ok(());
                }
                self.table(name, db, "read", s.read)
            }
            ffi::SQLITE_INSERT | ffi::SQLITE_UPDATE | ffi::SQLITE_DELETE => {
                let lower = name.to_ascii_lowercase();
                // DDL records itself in the schema table (SQLite alone may write it).
                if is_schema_table(&lower) {
                    return if s.ddl || (mode == Mode::Cursor && lower.starts_with("sqlite_temp")) {
                        Ok(())
                    } else {
                        Err("changing the schema needs `ddl`, which this component is not granted".into())
                    };
                }
                if cursor_table(name) && action == ffi::SQLITE_INSERT {
                    return Ok(());
                }
                self.table(name, db, "write", s.write)
            }
            ffi::SQLITE_CREATE_TEMP_TABLE if cursor_table(name) => Ok(()),
            // Temporary views would outlive the session's cleanup of scratch tables.
            // (SQLite reports `CREATE VIEW temp.v` as a plain view in the `temp` database.)
            ffi::SQLITE_CREATE_TEMP_VIEW | ffi::SQLITE_DROP_TEMP_VIEW => Err("temporary views are not a component's".into()),
            ffi::SQLITE_CREATE_VIEW | ffi::SQLITE_DROP_VIEW if db.is_some_and(|d| d.eq_ignore_ascii_case("temp")) => {
                Err("temporary views are not a component's".into())
            }
            // Scratch tables (dropped by the host when the guest's session ends).
            ffi::SQLITE_CREATE_TABLE | ffi::SQLITE_CREATE_VIEW | ffi::SQLITE_DROP_TABLE | ffi::SQLITE_DROP_VIEW | ffi::SQLITE_CREATE_TEMP_TABLE
            | ffi::SQLITE_DROP_TEMP_TABLE => self.table(name, db, "create or drop", s.ddl),
            // Index actions name the index, then its table.
            ffi::SQLITE_CREATE_INDEX | ffi::SQLITE_DROP_INDEX | ffi::SQLITE_CREATE_TEMP_INDEX | ffi::SQLITE_DROP_TEMP_INDEX => {
                if s.reserved.prefixes(&name.to_ascii_lowercase()) {
                    return Err(format!("`{name}` is one of db-migrate's own names; no component may use it"));
                }
                self.table(a2.unwrap_or(""), db, "index", s.ddl)
            }
            // ALTER TABLE names the database, then the table.
            ffi::SQLITE_ALTER_TABLE => self.table(a2.unwrap_or(""), a1, "alter", s.ddl),
            ffi::SQLITE_FUNCTION => {
                let f = a2.unwrap_or("").to_ascii_lowercase();
                // SQLite's own helpers of ALTER TABLE (internal: user SQL cannot call them).
                let alter_helper = s.ddl && f.starts_with("sqlite_") && (f.contains("rename") || f.contains("drop_column"));
                if super::functions::allowed(super::Dialect::Sqlite, &f) || s.functions.contains(&f) || alter_helper {
                    Ok(())
                } else {
                    Err(format!("the function `{f}` is not one a component may call (the database refused it)"))
                }
            }
            // Creating an index re-indexes it as it compiles.
            ffi::SQLITE_REINDEX if s.ddl => Ok(()),
            // A knex migration's PRAGMAs: the foreign-key switch (ignored inside the migration's
            // transaction) and check, and the columns of a table it may read.
            ffi::SQLITE_PRAGMA if s.knex && s.read => match name.to_ascii_lowercase().as_str() {
                "foreign_keys" if a2.is_none_or(|v| matches!(v.to_ascii_lowercase().as_str(), "on" | "off")) => Ok(()),
                "foreign_key_check" if a2.is_none() => Ok(()),
                "table_info" => self.table(a2.unwrap_or(""), db, "read", s.read),
                other => Err(format!("PRAGMA {other} is not one knex migrations may send")),
            },
            // An Alembic revision's batch-mode reflection, of a table it may read (`index_info`
            // names an index: the host checked its table before the statement got here).
            ffi::SQLITE_PRAGMA if s.alembic && s.read => match name.to_ascii_lowercase().as_str() {
                "table_xinfo" | "table_info" | "foreign_key_list" | "index_list" => self.table(a2.unwrap_or(""), db, "read", s.read),
                "index_info" if db == Some("main") => Ok(()),
                other => Err(format!("PRAGMA {other} is not one Alembic revisions may send")),
            },
            ffi::SQLITE_PRAGMA => Err("PRAGMA is never allowed to components".into()),
            // knex's transactions, as savepoints of the migration's transaction.
            ffi::SQLITE_SAVEPOINT if s.knex && a2.is_some_and(super::guest::is_knex_savepoint) => Ok(()),
            ffi::SQLITE_ATTACH | ffi::SQLITE_DETACH => Err("attaching databases is never allowed to components".into()),
            ffi::SQLITE_TRANSACTION | ffi::SQLITE_SAVEPOINT => Err("the host owns the transaction".into()),
            ffi::SQLITE_CREATE_TRIGGER | ffi::SQLITE_CREATE_TEMP_TRIGGER | ffi::SQLITE_DROP_TRIGGER | ffi::SQLITE_DROP_TEMP_TRIGGER => {
                Err("triggers are never a component's: put them in a SQL migration".into())
            }
            _ => Err(format!("SQLite action {action} is never allowed to components")),
        }
    }
}

fn is_schema_table(name: &str) -> bool {
    matches!(name.to_ascii_lowercase().as_str(), "sqlite_master" | "sqlite_schema" | "sqlite_temp_master" | "sqlite_temp_schema")
}

fn text<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: SQLite passes NUL-terminated UTF-8 strings that live for the callback's duration.
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}

/// The callback SQLite calls while compiling a statement.
unsafe extern "C" fn authorize(
    user: *mut c_void,
    action: c_int,
    a1: *const c_char,
    a2: *const c_char,
    db: *const c_char,
    _trigger_or_view: *const c_char,
) -> c_int {
    // SAFETY: `user` is the `Guard` the backend keeps alive (an `Arc`) for as long as the
    // callback is installed; it is removed before the `Arc` is dropped.
    let guard = unsafe { &*(user as *const Guard) };
    let mode = guard.mode();
    if mode == Mode::Off {
        return ffi::SQLITE_OK;
    }
    let decision = match guard.session.lock() {
        Ok(s) => match s.as_ref() {
            Some(s) => s.decide(mode, action, text(a1), text(a2), text(db)),
            None => Err("no guest session is open".to_string()),
        },
        Err(_) => Err("the guard is poisoned".to_string()),
    };
    match decision {
        Ok(()) => ffi::SQLITE_OK,
        Err(why) => {
            if let Ok(mut d) = guard.denied.lock() {
                d.get_or_insert(why);
            }
            ffi::SQLITE_DENY
        }
    }
}

/// The guard installed on a connection.
pub struct Installed {
    guard: Arc<Guard>,
}

impl Installed {
    /// The guard.
    pub fn guard(&self) -> &Arc<Guard> {
        &self.guard
    }
}

/// The default largest string or blob of the bundled SQLite.
const DEFAULT_LENGTH: c_int = 1_000_000_000;

/// Installs an (idle) guard on the connection: the authorizer and the progress handler stay for
/// the connection's life and cost nothing while no guest session is open.
pub fn install(h: &mut sqlx::sqlite::LockedSqliteHandle<'_>) -> Installed {
    let guard = Guard::new();
    let db = h.as_raw_handle().as_ptr();
    // SAFETY: the handle is locked out from sqlx's worker; the guard outlives the callback: it
    // is kept in `Installed` for the connection's life (and leaked if the connection is, see
    // `SqliteBackend`'s drop order: the connection closes first).
    unsafe {
        ffi::sqlite3_set_authorizer(db, Some(authorize), Arc::as_ptr(&guard) as *mut c_void);
    }
    let g = guard.clone();
    // Every 1,000 VM steps: a guest statement past its deadline is interrupted.
    h.set_progress_handler(1000, move || !g.expired());
    Installed { guard }
}

/// Takes the guard off a connection that goes back to the application that lent it: after this
/// returns, SQLite no longer calls into the guard, which may then be dropped.
pub fn uninstall(h: &mut sqlx::sqlite::LockedSqliteHandle<'_>) {
    let db = h.as_raw_handle().as_ptr();
    // SAFETY: the handle is locked out from sqlx's worker while `h` lives; clearing the callback
    // needs no user data.
    unsafe {
        ffi::sqlite3_set_authorizer(db, None, std::ptr::null_mut());
    }
    h.remove_progress_handler();
}

/// Limits any one string or blob to `max` bytes (a guest session) or back to the default.
pub fn limit_length(h: &mut sqlx::sqlite::LockedSqliteHandle<'_>, max: Option<usize>) {
    let db = h.as_raw_handle().as_ptr();
    let length = max.map_or(DEFAULT_LENGTH, |m| m.min(DEFAULT_LENGTH as usize).max(1 << 16) as c_int);
    // SAFETY: the handle is locked out from sqlx's worker while `h` lives.
    unsafe { ffi::sqlite3_limit(db, ffi::SQLITE_LIMIT_LENGTH, length) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(ddl: bool, tables: Option<&[&str]>) -> Session {
        Session {
            scope: GuestScope {
                read: true,
                write: true,
                ddl,
                tables: tables.map(|t| t.iter().map(|s| s.to_string()).collect()),
                functions: Default::default(),
                reserved: crate::backend::guest::Reserved { history: "db_migrate_history".into(), seeds: "db_migrate_seeds".into() },
                deadline: None,
                max_bytes: 1 << 20,
                knex: false,
                alembic: false,
            },
            fk_columns: Default::default(),
            deadline: None,
        }
    }

    #[test]
    fn views_in_the_temporary_database_are_refused_however_spelled() {
        // Red-team (wave 2): `CREATE VIEW temp.users …` reaches the authorizer as a plain view
        // in the `temp` database, not as a temporary view, and outlived the session.
        let s = session(true, None);
        for db in ["temp", "TEMP"] {
            assert!(s.decide(Mode::Guest, ffi::SQLITE_CREATE_VIEW, Some("users"), None, Some(db)).is_err(), "{db}");
            assert!(s.decide(Mode::Guest, ffi::SQLITE_DROP_VIEW, Some("users"), None, Some(db)).is_err(), "{db}");
        }
        assert!(s.decide(Mode::Guest, ffi::SQLITE_CREATE_TEMP_VIEW, Some("users"), None, Some("temp")).is_err());
        assert!(s.decide(Mode::Guest, ffi::SQLITE_CREATE_VIEW, Some("users_v"), None, Some("main")).is_ok());
        // Scratch tables stay the guest's (the host drops them when the session ends).
        assert!(s.decide(Mode::Guest, ffi::SQLITE_CREATE_TABLE, Some("scratch"), None, Some("temp")).is_ok());
    }

    #[test]
    fn names_db_migrate_prefixes_are_refused_to_tables_and_indexes() {
        let s = session(true, None);
        assert!(s.decide(Mode::Guest, ffi::SQLITE_CREATE_TABLE, Some("db_migrate_x"), None, Some("main")).is_err());
        assert!(s.decide(Mode::Guest, ffi::SQLITE_CREATE_TABLE, Some("DB_MIGRATE_HISTORY_lock"), None, Some("main")).is_err());
        assert!(s.decide(Mode::Guest, ffi::SQLITE_CREATE_INDEX, Some("db_migrate_history_pkey"), Some("users"), Some("main")).is_err());
        assert!(s.decide(Mode::Guest, ffi::SQLITE_CREATE_INDEX, Some("users_name"), Some("users"), Some("main")).is_ok());
        assert!(s.decide(Mode::Guest, ffi::SQLITE_INSERT, Some("users"), None, Some("main")).is_ok());
    }
}
