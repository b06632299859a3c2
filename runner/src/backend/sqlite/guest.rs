//! SQLite: what a component's `sql` calls run (the authorizer's modes, binding, decoding, row and byte caps, cursors).

use super::*;

fn guest_error(e: sqlx::Error) -> GuestSqlError {
    match &e {
        sqlx::Error::Database(_) => guest_db_error(DbError::from(e)),
        other => GuestSqlError::Database { kind: DbErrorKind::Other, message: other.to_string(), code: None },
    }
}

/// A guest statement's failure as SQLite reported it (extended result code).
fn guest_db_error(e: DbError) -> GuestSqlError {
    let kind = match e.code.as_deref() {
        Some("1555" | "2067") => DbErrorKind::UniqueViolation,
        Some("787") => DbErrorKind::ForeignKeyViolation,
        Some("1299") => DbErrorKind::NotNullViolation,
        Some("275") => DbErrorKind::CheckViolation,
        _ if e.message.contains("syntax error") => DbErrorKind::Syntax,
        _ => DbErrorKind::Other,
    };
    GuestSqlError::Database { kind, message: e.message, code: e.code }
}

/// Reads one row's values by their stored type (SQLite types values, not columns).
fn row_values(row: &SqliteRow, skip: usize) -> std::result::Result<Vec<SqlValue>, GuestSqlError> {
    let decode = |e: sqlx::Error| GuestSqlError::Database { kind: DbErrorKind::Other, message: e.to_string(), code: None };
    (skip..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).map_err(decode)?;
            if raw.is_null() {
                return Ok(SqlValue::Null);
            }
            let ty = raw.type_info().name().to_string();
            Ok(match ty.as_str() {
                "INTEGER" => SqlValue::Int(row.try_get(i).map_err(decode)?),
                "REAL" => SqlValue::Float(row.try_get(i).map_err(decode)?),
                "BLOB" => SqlValue::Blob(row.try_get(i).map_err(decode)?),
                _ => SqlValue::Text(row.try_get(i).map_err(decode)?),
            })
        })
        .collect()
}

/// Why a guest statement is refused after one ended the host's transaction.
const LOST_TRANSACTION: &str = "a statement ended the migration's transaction (a conflict resolved by ROLLBACK, or a full disk or temporary database): SQLite rolled back everything the migration had done, and nothing more may run in it";

/// Pages of the temporary database a guest session may fill with cursor results (×4 KiB).
const TEMP_PAGES: i64 = 262_144;

impl SqliteBackend {
    /// Marks whose statement runs next (see [`crate::backend::sqlite_guard`]).
    fn mode(&self, mode: crate::backend::sqlite_guard::Mode) {
        // Outside a guest session these methods serve the host (reading another tool's history).
        if let Some(g) = self.guard.as_ref().filter(|_| self.guest_depth > 0) {
            g.guard().set(mode);
        }
    }

    /// A guest statement's failure: the authorizer's reason when it refused, a deadline when
    /// the progress handler stopped it (SQLite's error otherwise).
    fn guest_failure_db(&self, e: DbError) -> GuestSqlError {
        self.mode(crate::backend::sqlite_guard::Mode::Off);
        self.guest_refusal().unwrap_or_else(|| guest_db_error(e))
    }

    /// The authorizer's reason, when it refused the guest's last statement.
    fn guest_refusal(&self) -> Option<GuestSqlError> {
        self.guard.as_ref().and_then(|g| g.guard().take_denied()).map(GuestSqlError::Denied)
    }
}

impl SqliteBackend {
    /// `PRAGMA foreign_keys = OFF`, admitted for knex's table rebuilds, is a no-op inside a
    /// transaction; outside one (a `transaction: false` migration) it would switch foreign keys
    /// off for real, for the rest of the run, letting a migration break references from tables
    /// its grant does not name. It is refused there.
    async fn refuse_foreign_keys_off(&mut self, statement: &str) -> std::result::Result<(), GuestSqlError> {
        let lower = statement.trim().trim_end_matches(';').to_ascii_lowercase();
        let words: Vec<&str> = lower.split_ascii_whitespace().collect();
        if words.as_slice() == ["pragma", "foreign_keys", "=", "off"] && !self.conn.in_transaction().await {
            return Err(GuestSqlError::Denied(
                "PRAGMA foreign_keys = OFF outside the migration's transaction would switch foreign keys off for the rest of the run; \
                 it is admitted only inside one (where SQLite ignores it): give the migration its transaction"
                    .into(),
            ));
        }
        Ok(())
    }
}

impl SqliteBackend {
    /// A knex savepoint statement. Outside the host's transaction (`transaction: false`) the
    /// outermost `SAVEPOINT` starts SQLite's transaction and its `RELEASE` commits it, as
    /// knex's own `BEGIN`/`COMMIT` would; knex rolls a transaction back with `ROLLBACK TO`
    /// alone, which leaves SQLite's transaction open, so for the outermost one the savepoint is
    /// released too (nothing of it is kept).
    async fn knex_savepoint(&mut self, statement: &str) -> std::result::Result<(), GuestSqlError> {
        let lower = statement.trim().trim_end_matches(';').trim_end().to_ascii_lowercase();
        let words: Vec<&str> = lower.split_ascii_whitespace().collect();
        let starts = matches!(words.as_slice(), ["savepoint", _]) && self.knex_outer.is_none() && !self.host_tx && !self.conn.in_transaction().await;
        let name = words.last().copied().unwrap_or("").to_string();
        let ends_outer = self.knex_outer.as_deref() == Some(name.as_str()) && !matches!(words.as_slice(), ["savepoint", _]);
        let texts = if ends_outer && words[0] == "rollback" {
            vec![format!("ROLLBACK TO SAVEPOINT {name}"), format!("RELEASE SAVEPOINT {name}")]
        } else {
            vec![statement.to_string()]
        };
        self.mode(crate::backend::sqlite_guard::Mode::Guest);
        let handle = match self.conn.handle().await {
            Ok(h) => h,
            Err(e) => return Err(self.guest_failure_db(e)),
        };
        let r = texts.iter().try_for_each(|one| crate::backend::sqlite_script::run_one(handle, one, &[], None).map(drop));
        match r {
            Ok(()) => {
                self.mode(crate::backend::sqlite_guard::Mode::Off);
                if starts {
                    self.knex_outer = Some(name);
                } else if ends_outer {
                    self.knex_outer = None;
                }
                Ok(())
            }
            Err(e) => Err(self.guest_failure_db(e)),
        }
    }
}

impl SqliteBackend {
    /// Refuses every guest statement once one ended the host's transaction (see
    /// `transaction_kept`).
    fn refuse_without_transaction(&self) -> std::result::Result<(), GuestSqlError> {
        if self.tx_lost {
            return Err(GuestSqlError::Denied(LOST_TRANSACTION.into()));
        }
        Ok(())
    }

    /// After a guest statement: whether the host's transaction is still open. SQLite ends a
    /// whole transaction, not just the statement, on a conflict resolved by `ROLLBACK` (`INSERT
    /// OR ROLLBACK`, a table's `ON CONFLICT ROLLBACK`) and on some errors (a full disk or
    /// temporary database); the statements after it would each commit on their own, outside
    /// the migration's all-or-nothing, and a `SAVEPOINT` would start a transaction the host's
    /// `COMMIT` then took for its own. So the session refuses everything from there on, and the
    /// migration fails: SQLite already rolled back all it did, its history row too.
    async fn transaction_kept<T>(&mut self, r: std::result::Result<T, GuestSqlError>) -> std::result::Result<T, GuestSqlError> {
        if self.host_tx && !self.conn.in_transaction().await {
            self.tx_lost = true;
            self.mode(crate::backend::sqlite_guard::Mode::Off);
            return Err(GuestSqlError::Denied(LOST_TRANSACTION.into()));
        }
        r
    }

    async fn execute_inner(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<u64, GuestSqlError> {
        self.refuse_foreign_keys_off(statement).await?;
        if crate::backend::guest::is_knex_savepoint_statement(statement) {
            return self.knex_savepoint(statement).await.map(|()| 0);
        }
        // On SQLite's C API, on this thread (see `sqlite_script::run_one`): compiled — and so
        // authorized — anew each time, never served from a statement the host prepared.
        self.mode(crate::backend::sqlite_guard::Mode::Guest);
        let handle = match self.conn.handle().await {
            Ok(h) => h,
            Err(e) => return Err(self.guest_failure_db(e)),
        };
        match crate::backend::sqlite_script::run_one(handle, statement, &params, None) {
            Ok(ran) => {
                self.mode(crate::backend::sqlite_guard::Mode::Off);
                Ok(ran.changes)
            }
            Err(e) => Err(self.guest_failure_db(e)),
        }
    }

    async fn query_inner(&mut self, statement: &str, params: Vec<SqlValue>, max_rows: usize, max_bytes: usize) -> std::result::Result<Rows, GuestSqlError> {
        self.refuse_foreign_keys_off(statement).await?;
        self.mode(crate::backend::sqlite_guard::Mode::Guest);
        let handle = match self.conn.handle().await {
            Ok(h) => h,
            Err(e) => return Err(self.guest_failure_db(e)),
        };
        match crate::backend::sqlite_script::run_one(handle, statement, &params, Some((max_rows, max_bytes))) {
            Ok(ran) => {
                self.mode(crate::backend::sqlite_guard::Mode::Off);
                match ran.stopped {
                    None => Ok(Rows { columns: ran.columns, rows: ran.rows.rows }),
                    Some(Ok(cap)) => Err(ran.rows.refusal(cap)),
                    Some(Err(message)) => Err(GuestSqlError::Database { kind: DbErrorKind::Other, message, code: None }),
                }
            }
            Err(e) => Err(self.guest_failure_db(e)),
        }
    }

    async fn execute_batch_inner(&mut self, statement: &str, rows: Vec<Vec<SqlValue>>, plan: Option<&crate::backend::guest::InsertPlan>) -> std::result::Result<u64, GuestSqlError> {
        let Some(width) = crate::backend::guest::batch_width(&rows)? else { return Ok(0) };
        // `INSERT … VALUES (?, ?)`, rebuilt from the parsed statement (the plan), is prepared
        // once — and so authorized once — and stepped per row on SQLite's C API.
        if let Some(plan) = plan.filter(|p| width > 0 && p.width == width) {
            let text = plan.multi_row(1);
            let guard = self.guard.as_ref().filter(|_| self.guest_depth > 0).map(|g| Arc::clone(g.guard()));
            let mode = |guest: bool| {
                if let Some(g) = &guard {
                    g.set(if guest { crate::backend::sqlite_guard::Mode::Guest } else { crate::backend::sqlite_guard::Mode::Off });
                }
            };
            let handle = self.conn.handle().await.map_err(guest_db_error)?;
            return match crate::backend::sqlite_script::insert_rows(handle, &text, &rows, mode) {
                Ok(n) => Ok(n),
                Err(e) => Err(self.guest_refusal().unwrap_or_else(|| guest_db_error(e))),
            };
        }
        crate::backend::guest::row_by_row(self, statement, rows).await
    }

    async fn open_cursor_inner(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<(u64, Vec<String>), GuestSqlError> {
        // The result is materialised into a temporary table (on disk, not in memory, within
        // the session's page cap) and read back by rowid: pages stay small, the guest may
        // change the source table between pages, and the rows are those of the moment the
        // cursor opened. The authorizer checks the guest's query inside the wrapper.
        let id = self.next_cursor;
        self.next_cursor += 1;
        let table = format!("_dbm_cursor_{id}");
        let create = format!("CREATE TEMP TABLE \"{table}\" AS {statement}");
        // Through `run_one`, as `query`: a parameter SQLite reads more into than the host's
        // parser, or a second statement in the text, is refused before anything runs (through
        // sqlx, which runs every statement of a text, a hidden second one ran).
        self.mode(crate::backend::sqlite_guard::Mode::Cursor);
        let handle = match self.conn.handle().await {
            Ok(h) => h,
            Err(e) => return Err(self.guest_failure_db(e)),
        };
        if let Err(e) = crate::backend::sqlite_script::run_one(handle, &create, &params, None) {
            return Err(self.guest_failure_db(e));
        }
        self.mode(crate::backend::sqlite_guard::Mode::Off);
        let info = format!("SELECT name FROM pragma_table_info('{table}', 'temp') ORDER BY cid");
        let handle = self.conn.handle().await.map_err(guest_db_error)?;
        let ran = crate::backend::sqlite_script::run_one(handle, &info, &[], Some((usize::MAX, usize::MAX))).map_err(guest_db_error)?;
        let columns: Vec<String> = ran
            .rows
            .rows
            .into_iter()
            .map(|r| match r.into_iter().next() {
                Some(SqlValue::Text(t)) => t,
                _ => String::new(),
            })
            .collect();
        // Pages are read by the temporary table's rowid: a result column of that name would
        // stand in for it, and pages would follow the guest's values (rows lost or reordered).
        if let Some(c) = columns.iter().find(|c| ["rowid", "oid", "_rowid_"].iter().any(|r| c.eq_ignore_ascii_case(r))) {
            let drop = format!("DROP TABLE IF EXISTS temp.\"{table}\"");
            let _ = self.conn.exec(&[(&drop, &[])]).await;
            return Err(GuestSqlError::Denied(format!(
                "a cursor's result may not have a column named `{c}` (SQLite's name for a row's position, by which the cursor pages); name it otherwise with AS"
            )));
        }
        self.cursors.insert(id, (table, 0));
        Ok((id, columns))
    }

    async fn cursor_next_inner(&mut self, id: u64, max_rows: usize, max_bytes: usize) -> std::result::Result<Option<Vec<Vec<SqlValue>>>, GuestSqlError> {
        let Some((table, last)) = self.cursors.get(&id).cloned() else {
            return Err(GuestSqlError::InvalidInput("the cursor is closed".into()));
        };
        let q = format!("SELECT rowid, * FROM temp.\"{table}\" WHERE rowid > ? ORDER BY rowid LIMIT ?");
        let rows = sqlx::query(AssertSqlSafe(q)).bind(last).bind(max_rows as i64).fetch_all(self.conn.sqlx()).await.map_err(guest_error)?;
        if rows.is_empty() {
            return Ok(None);
        }
        // A page stops early at the byte budget; the rest comes with the next page.
        let mut page = crate::backend::guest::CappedRows::new(max_rows, max_bytes);
        let mut new_last = last;
        for r in &rows {
            match page.push(row_values(r, 1)?) {
                Ok(()) => new_last = r.try_get(0).map_err(guest_error)?,
                Err(_) if page.rows.is_empty() => return Err(crate::backend::guest::too_many_bytes(max_bytes)),
                Err(_) => break,
            }
        }
        self.cursors.insert(id, (table, new_last));
        Ok(Some(page.rows))
    }
}

impl GuestSql for SqliteBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn execute(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<u64, GuestSqlError> {
        self.refuse_without_transaction()?;
        let r = self.execute_inner(statement, params).await;
        self.transaction_kept(r).await
    }

    async fn query(&mut self, statement: &str, params: Vec<SqlValue>, max_rows: usize, max_bytes: usize) -> std::result::Result<Rows, GuestSqlError> {
        self.refuse_without_transaction()?;
        let r = self.query_inner(statement, params, max_rows, max_bytes).await;
        self.transaction_kept(r).await
    }

    async fn execute_batch(&mut self, statement: &str, rows: Vec<Vec<SqlValue>>, plan: Option<&crate::backend::guest::InsertPlan>) -> std::result::Result<u64, GuestSqlError> {
        self.refuse_without_transaction()?;
        let r = self.execute_batch_inner(statement, rows, plan).await;
        self.transaction_kept(r).await
    }

    async fn open_cursor(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<(u64, Vec<String>), GuestSqlError> {
        self.refuse_without_transaction()?;
        let r = self.open_cursor_inner(statement, params).await;
        self.transaction_kept(r).await
    }

    async fn cursor_next(&mut self, id: u64, max_rows: usize, max_bytes: usize) -> std::result::Result<Option<Vec<Vec<SqlValue>>>, GuestSqlError> {
        self.refuse_without_transaction()?;
        let r = self.cursor_next_inner(id, max_rows, max_bytes).await;
        self.transaction_kept(r).await
    }

    async fn host_query(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<Rows, GuestSqlError> {
        // With the guard set aside, the mode stays `Off`: the authorizer lets it through.
        let guard = self.guard.take();
        let r = self.query(statement, params, usize::MAX, usize::MAX).await;
        self.guard = guard;
        r
    }

    async fn host_execute(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<u64, GuestSqlError> {
        let guard = self.guard.take();
        let r = self.execute(statement, params).await;
        self.guard = guard;
        r
    }

    async fn enter_guest(&mut self, scope: &crate::backend::guest::GuestScope) -> std::result::Result<(), GuestSqlError> {
        self.guest_depth += 1;
        if self.guest_depth > 1 {
            if let Some(g) = &self.guard {
                g.guard().set_deadline(scope.deadline);
            }
            return Ok(());
        }
        self.knex_session = scope.knex;
        self.alembic_session = scope.alembic;
        self.deferred_at_entry = self.deferred_violations().await;
        if scope.alembic {
            // A table under the scratch name, left by anyone, would count as its table's.
            let refusal = match self.alembic_scratch_left().await {
                Ok(None) => None,
                Ok(Some(t)) => Some(GuestSqlError::Denied(format!(
                    "a table named `{t}` exists: that is Alembic batch mode's scratch name, which an Alembic revision may use wherever it may use the table, so no Alembic revision runs while it exists; drop or rename it"
                ))),
                Err(e) => Some(guest_error(e)),
            };
            if let Some(e) = refusal {
                self.guest_depth -= 1;
                return Err(e);
            }
        }
        if scope.knex {
            // A scratch table left by anyone (plain SQL, an older run) would be granted to this
            // migration by its name alone.
            let refusal = match self.knex_scratch_left().await {
                Ok(None) => None,
                Ok(Some(t)) => Some(GuestSqlError::Denied(format!(
                    "a table named `{t}` exists: that is knex's scratch name for a table rebuild, which a knex migration may use whatever its grant, so no knex migration runs while it exists; drop or rename it"
                ))),
                Err(e) => Some(guest_error(e)),
            };
            if let Some(e) = refusal {
                self.guest_depth -= 1;
                return Err(e);
            }
        }
        let r = async {
            if self.guard.is_none() {
                // Once per connection: the temporary database's cap, and the guard itself.
                let pages = format!("PRAGMA temp.max_page_count = {TEMP_PAGES}");
                self.conn.sqlx().execute(AssertSqlSafe(pages)).await?;
                self.guard = Some(crate::backend::sqlite_guard::install(self.conn.locked().await?));
            }
            // Foreign keys between granted tables and others: SQLite reads their columns to
            // check the guest's writes. (Unrestricted guests may read every table but
            // db-migrate's, which have none.)
            // Read on the C API (the guard is idle: the host's read passes).
            let fks: Vec<(String, String, String, Option<String>)> = if scope.restricted() {
                let h = self.conn.handle().await.map_err(|e| sqlx::Error::Protocol(e.message))?;
                let ran = crate::backend::sqlite_script::run_one(
                    h,
                    // A key naming no parent column refers to the parent's primary key: its
                    // columns by position (never "every column of the parent").
                    "SELECT m.name, f.\"from\", f.\"table\", COALESCE(f.\"to\", p.name) FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
                     LEFT JOIN pragma_table_info(f.\"table\") p ON f.\"to\" IS NULL AND p.pk = f.seq + 1 WHERE m.type = 'table'",
                    &[],
                    Some((usize::MAX, usize::MAX)),
                )
                .map_err(|e| sqlx::Error::Protocol(e.message))?;
                let text = |v: &SqlValue| match v {
                    SqlValue::Text(t) => Some(t.clone()),
                    _ => None,
                };
                ran.rows
                    .rows
                    .iter()
                    .map(|r| (text(&r[0]).unwrap_or_default(), text(&r[1]).unwrap_or_default(), text(&r[2]).unwrap_or_default(), text(&r[3])))
                    .collect()
            } else {
                Vec::new()
            };
            crate::backend::sqlite_guard::limit_length(self.conn.locked().await?, Some(scope.max_bytes));
            self.guard.as_ref().expect("installed above").guard().start(scope.clone(), &fks);
            Ok::<(), sqlx::Error>(())
        }
        .await;
        if let Err(e) = r {
            self.guest_depth -= 1;
            return Err(guest_error(e));
        }
        Ok(())
    }

    async fn leave_guest(&mut self) -> std::result::Result<(), GuestSqlError> {
        self.guest_depth = self.guest_depth.saturating_sub(1);
        let Some(g) = &self.guard else { return Ok(()) };
        if self.guest_depth > 0 {
            g.guard().set_deadline(None);
            return Ok(());
        }
        g.guard().stop();
        self.knex_outer = None;
        if let Ok(h) = self.conn.locked().await {
            crate::backend::sqlite_guard::limit_length(h, None);
        }
        // Normally `end_guest_writes` did this already, inside the migration's transaction;
        // here for a guest that failed (its transaction is gone, its scratch must go too).
        self.drop_session_objects().await
    }

    async fn end_guest_writes(&mut self) -> std::result::Result<(), GuestSqlError> {
        self.refuse_without_transaction()?;
        // (Whatever the depth: a seed's session sits inside the host's, which outlives the
        // seed's transaction.)
        self.drop_session_objects().await?;
        // A deferred foreign key the guest broke fails the commit, whose message names
        // nothing ("cannot record the migration … FOREIGN KEY constraint failed"): say it here.
        if self.deferred_violations().await > self.deferred_at_entry {
            return Err(GuestSqlError::Denied(
                "the component's writes leave a deferred foreign key unsatisfied (SQLite would refuse them when the migration commits)".into(),
            ));
        }
        Ok(())
    }

    async fn close_cursor(&mut self, id: u64) {
        if let Some((table, _)) = self.cursors.remove(&id) {
            let _ = self.conn.sqlx().execute(AssertSqlSafe(format!("DROP TABLE IF EXISTS temp.\"{table}\""))).await;
        }
    }
}

impl SqliteBackend {
    /// What the temporary database holds (type, name): the guest's scratch tables and its
    /// cursors, and anything else that got there. Indexes go with their tables.
    /// Read on the C API: through sqlx this read was two hand-offs per component.
    async fn temp_objects(&mut self) -> std::result::Result<Vec<(String, String)>, GuestSqlError> {
        let h = self.conn.handle().await.map_err(guest_db_error)?;
        let ran = crate::backend::sqlite_script::run_one(
            h,
            "SELECT type, name FROM sqlite_temp_master WHERE type <> 'index' ORDER BY type = 'table'",
            &[],
            Some((usize::MAX, usize::MAX)),
        )
        .map_err(guest_db_error)?;
        Ok(ran
            .rows
            .rows
            .into_iter()
            .filter_map(|r| match (r.first(), r.get(1)) {
                (Some(SqlValue::Text(t)), Some(SqlValue::Text(n))) => Some((t.clone(), n.clone())),
                _ => None,
            })
            .collect())
    }

    /// Foreign-key violations SQLite holds until the transaction commits.
    async fn deferred_violations(&mut self) -> i64 {
        let Ok(h) = self.conn.handle().await else { return 0 };
        let (mut now, mut high) = (0, 0);
        // SAFETY: the handle is locked out from sqlx's worker while `h` lives.
        unsafe { libsqlite3_sys::sqlite3_db_status(h.as_ptr(), libsqlite3_sys::SQLITE_DBSTATUS_DEFERRED_FKS, &mut now, &mut high, 0) };
        now as i64
    }

    /// Drops everything the guest's session put in the temporary database when it ends: a
    /// table or view left there would stand in for the main table of its name for everything
    /// that runs after (SQLite looks in `temp` first), and the history would say those later
    /// migrations read and wrote the real one.
    ///
    /// A scratch table another one references cannot simply be dropped: the implicit delete
    /// of its rows fails the reference. So the drops run in a savepoint with foreign keys
    /// deferred, and what still stands afterwards fails the session, whose transaction then
    /// takes it away.
    async fn drop_session_objects(&mut self) -> std::result::Result<(), GuestSqlError> {
        self.cursors.clear();
        let objects = self.temp_objects().await?;
        if objects.is_empty() {
            return Ok(());
        }
        let h = self.conn.handle().await.map_err(guest_db_error)?;
        let deferred = crate::backend::sqlite_script::run_one(h, "PRAGMA defer_foreign_keys", &[], Some((1, usize::MAX)))
            .map(|ran| ran.rows.rows.first().and_then(|r| r.first()).is_some_and(|v| matches!(v, SqlValue::Int(1))))
            .map_err(guest_db_error)?;
        let _ = self.conn.exec(&[("SAVEPOINT _dbm_session_end", &[]), ("PRAGMA defer_foreign_keys = ON", &[])]).await;
        // Views and triggers first (ordered so above): they may name the tables.
        for (kind, name) in &objects {
            let kind = match kind.as_str() {
                "view" => "VIEW",
                "trigger" => "TRIGGER",
                _ => "TABLE",
            };
            let drop = format!("DROP {kind} IF EXISTS temp.\"{}\"", name.replace('"', "\"\""));
            let _ = self.conn.exec(&[(&drop, &[])]).await;
        }
        if self.conn.exec(&[("RELEASE _dbm_session_end", &[])]).await.is_err() {
            // Outside the host's transaction the release commits, and a reference the drops
            // left broken fails it: undo them (the check below reports what stands).
            let _ = self.conn.exec(&[("ROLLBACK TO _dbm_session_end", &[]), ("RELEASE _dbm_session_end", &[])]).await;
        }
        if !deferred {
            let _ = self.conn.exec(&[("PRAGMA defer_foreign_keys = OFF", &[])]).await;
        }
        let left = self.temp_objects().await?;
        if left.is_empty() {
            return Ok(());
        }
        Err(GuestSqlError::Denied(format!(
            "what the component put in the temporary database could not be removed when its session ended ({}); left there, it would stand in for the main table of its name for everything that runs after it",
            left.iter().map(|(k, n)| format!("{k} `{n}`")).collect::<Vec<_>>().join(", ")
        )))
    }
}
