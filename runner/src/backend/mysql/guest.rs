//! MySQL/MariaDB: what a component's `sql` calls run (binding, decoding, row and byte caps, cursors, restricted logins).

use super::*;
use crate::backend::sqlx_shared::{carried, read_capped};

fn bind_all<'q>(q: sqlx::query::Query<'q, MySql, MySqlArguments>, params: impl IntoIterator<Item = SqlValue>) -> sqlx::query::Query<'q, MySql, MySqlArguments> {
    crate::backend::sqlx_shared::bind_values(q, params, crate::backend::sqlx_shared::timestamp_as_text)
}

fn guest_error(e: sqlx::Error) -> GuestSqlError {
    match &e {
        sqlx::Error::Database(d) => {
            let number = d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().map(|m| m.number());
            let kind = match number {
                Some(1062) => DbErrorKind::UniqueViolation,
                Some(1451 | 1452) => DbErrorKind::ForeignKeyViolation,
                Some(1048) => DbErrorKind::NotNullViolation,
                Some(3819 | 4025) => DbErrorKind::CheckViolation,
                Some(1064) => DbErrorKind::Syntax,
                _ => DbErrorKind::Other,
            };
            GuestSqlError::Database { kind, message: d.message().to_string(), code: number.map(|n| n.to_string()).or_else(|| d.code().map(|c| c.into_owned())) }
        }
        other => GuestSqlError::Database { kind: DbErrorKind::Other, message: other.to_string(), code: None },
    }
}

fn row_values(row: &MySqlRow, skip: usize) -> std::result::Result<Vec<SqlValue>, GuestSqlError> {
    let decode = |e: sqlx::Error| GuestSqlError::Database { kind: DbErrorKind::Other, message: e.to_string(), code: None };
    (skip..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).map_err(decode)?;
            if raw.is_null() {
                return Ok(SqlValue::Null);
            }
            let ty = raw.type_info().name().to_string();
            Ok(match ty.as_str() {
                "BOOLEAN" | "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => SqlValue::Int(row.try_get(i).map_err(decode)?),
                "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED" => {
                    SqlValue::Int(row.try_get::<u32, _>(i).map_err(decode)? as i64)
                }
                "BIGINT UNSIGNED" => {
                    // Beyond i64 (up to 2^64 - 1): its digits, as text.
                    let n: u64 = row.try_get(i).map_err(decode)?;
                    i64::try_from(n).map(SqlValue::Int).unwrap_or_else(|_| SqlValue::Text(n.to_string()))
                }
                "YEAR" => SqlValue::Int(row.try_get::<u16, _>(i).map_err(decode)? as i64),
                // MySQL sends exact numbers as their text (at most 65 digits): taken as it is.
                "DECIMAL" => SqlValue::Text(row.try_get_unchecked::<String, _>(i).map_err(decode)?),
                "TIMESTAMP" => SqlValue::Timestamp(carried::instant(row.try_get(i).map_err(decode)?).ok_or_else(|| decode(carried::outside("timestamp")))?),
                "DATETIME" => SqlValue::Timestamp(carried::naive(row.try_get(i).map_err(decode)?).ok_or_else(|| decode(carried::outside("timestamp")))?),
                "DATE" => SqlValue::Text(carried::date(row.try_get(i).map_err(decode)?).ok_or_else(|| decode(carried::outside("date")))?),
                "TIME" => SqlValue::Text(carried::mysql_time(row.try_get(i).map_err(decode)?)),
                "FLOAT" => SqlValue::Float(row.try_get::<f32, _>(i).map_err(decode)? as f64),
                "DOUBLE" => SqlValue::Float(row.try_get(i).map_err(decode)?),
                "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" | "BINARY" | "VARBINARY" => SqlValue::Blob(row.try_get(i).map_err(decode)?),
                "VARCHAR" | "CHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" | "JSON" => {
                    SqlValue::Text(row.try_get(i).map_err(decode)?)
                }
                other => {
                    return Err(GuestSqlError::InvalidInput(format!(
                        "column {} has type {other}, which the sql interface does not carry; CAST it to CHAR or SIGNED in the query",
                        i + 1
                    )));
                }
            })
        })
        .collect()
}

impl MySqlBackend {
    /// A guest statement with the server's own time limit attached (MariaDB's
    /// `SET STATEMENT max_statement_time = … FOR`): a statement still running at the guest's
    /// deadline is killed by the server, not waited for. (MySQL has no per-statement form for
    /// every statement; there the deadline is checked between statements.)
    fn timed(&self, statement: &str) -> String {
        match self.deadline {
            Some(d) if self.mariadb => {
                let left = d.saturating_duration_since(std::time::Instant::now()).as_secs_f64().max(0.001);
                format!("SET STATEMENT max_statement_time = {left:.3} FOR {statement}")
            }
            _ => statement.to_string(),
        }
    }
}

impl MySqlBackend {
    /// Opens a restricted guest session. MySQL cannot drop privileges inside a session, so a
    /// component whose grant names its tables runs on its own login: an account with exactly
    /// those privileges (and none of FILE, PROCESS, SUPER, lock or user administration), so the
    /// server refuses other tables, `LOAD_FILE`, `INTO OUTFILE` and other sessions' locks. The
    /// history row is written on the same session (the account may write the history table,
    /// which the host's check keeps every guest statement away from): a data-only migration
    /// still commits with its row in one transaction, and DDL keeps the dirty protocol. The
    /// run's `GET_LOCK` stays on the runner's own connection, parked meanwhile.
    async fn restricted_session(&mut self, scope: &crate::backend::guest::GuestScope) -> std::result::Result<(), GuestSqlError> {
        let database = self.opts.get_database().unwrap_or_default().to_string();
        let account = scope.role_name(&database);
        let password = crate::backend::guest::random_password();
        let who = format!("'{account}'@'%'");
        let setup = |e: sqlx::Error| GuestSqlError::Denied(format!(
            "cannot set up the restricted account `{account}` that enforces this component's grant: {} \
             (db-migrate's database user needs CREATE USER and GRANT OPTION on the granted tables)",
            DbError::from(e)
        ));
        let db = format!("`{}`", database.replace('`', "``"));
        let mut grants = vec![
            format!("CREATE USER IF NOT EXISTS {who} IDENTIFIED BY '{password}'"),
            format!("ALTER USER {who} IDENTIFIED BY '{password}' WITH MAX_USER_CONNECTIONS 8"),
            // Cursors are materialised into temporary tables of the session.
            format!("GRANT CREATE TEMPORARY TABLES ON {db}.* TO {who}"),
        ];
        let mut privileges = Vec::new();
        if scope.read {
            privileges.push("SELECT");
        }
        if scope.write {
            privileges.extend(["INSERT", "UPDATE", "DELETE"]);
        }
        if scope.ddl {
            privileges.extend(["CREATE", "ALTER", "DROP", "INDEX", "REFERENCES"]);
        }
        // (Not its `_lock` table: the run's lock is renewed on the runner's own connection.)
        let own = [self.table.clone(), scope.reserved.seeds.clone()];
        let mut tables: Vec<(String, Vec<&str>)> = own.into_iter().map(|t| (t, vec!["SELECT", "INSERT", "UPDATE", "DELETE"])).collect();
        if !privileges.is_empty() {
            tables.extend(scope.tables.iter().flatten().map(|t| (t.clone(), privileges.clone())));
        }
        for (t, privs) in &tables {
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?")
                .bind(t)
                .fetch_optional(&mut self.conn)
                .await
                .map_err(setup)?;
            // Creating a table needs the grant before the table exists.
            if exists.is_none() && !privs.contains(&"CREATE") {
                continue;
            }
            grants.push(format!("GRANT {} ON {db}.`{}` TO {who}", privs.join(", "), t.replace('`', "``")));
        }
        for g in &grants {
            self.conn.execute(AssertSqlSafe(g.clone())).await.map_err(setup)?;
        }
        let (guest, manual) = match self.guest_conns.remove(&account) {
            Some(c) => c,
            None => {
                let opts = self.opts.clone().username(&account).password(&password);
                let c = opts.connect().await.map_err(|e| GuestSqlError::Denied(format!(
                    "cannot log in as the restricted account `{account}` that enforces this component's grant: {}",
                    DbError::from(e)
                )))?;
                crate::backend::disable_nagle();
                (c, false)
            }
        };
        let own_manual = std::mem::replace(&mut self.manual_commit, manual);
        self.parked = Some((std::mem::replace(&mut self.conn, guest), own_manual));
        self.guest_account = Some(account);
        Ok(())
    }
}

impl GuestSql for MySqlBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    async fn execute(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<u64, GuestSqlError> {
        let text = self.timed(statement);
        bind_all(sqlx::query(AssertSqlSafe(text)), params).execute(&mut self.conn).await.map(|r| r.rows_affected()).map_err(guest_error)
    }

    async fn query(&mut self, statement: &str, params: Vec<SqlValue>, max_rows: usize, max_bytes: usize) -> std::result::Result<Rows, GuestSqlError> {
        let text = self.timed(statement);
        let q = bind_all(sqlx::query(AssertSqlSafe(text)), params);
        read_capped(q.fetch(&mut self.conn), max_rows, max_bytes, |r| row_values(r, 0)).await.map_err(guest_error)?.whole()
    }

    async fn execute_batch(&mut self, statement: &str, rows: Vec<Vec<SqlValue>>, plan: Option<&crate::backend::guest::InsertPlan>) -> std::result::Result<u64, GuestSqlError> {
        let Some(width) = crate::backend::guest::batch_width(&rows)? else { return Ok(0) };
        // `INSERT … VALUES (?, ?)` becomes multi-row statements within MySQL's 65,535
        // placeholders per statement: one round trip per chunk instead of one per row.
        if let Some(plan) = plan.filter(|p| width > 0 && p.width == width) {
            let per_chunk = (65_535 / width).clamp(1, 5_000);
            let mut total = 0;
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                let chunk: Vec<Vec<SqlValue>> = rows.by_ref().take(per_chunk).collect();
                let text = plan.multi_row(chunk.len());
                let q = bind_all(sqlx::query(AssertSqlSafe(self.timed(&text))), chunk.into_iter().flatten());
                total += q.execute(&mut self.conn).await.map_err(guest_error)?.rows_affected();
            }
            return Ok(total);
        }
        crate::backend::guest::row_by_row(self, statement, rows).await
    }

    async fn open_cursor(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<(u64, Vec<String>), GuestSqlError> {
        // Materialised into a temporary table with a row number, read back in pages.
        let id = self.next_cursor;
        self.next_cursor += 1;
        let table = format!("dbm_cursor_{id}");
        let create = self.timed(&format!(
            "CREATE TEMPORARY TABLE `{table}` (dbm_row BIGINT AUTO_INCREMENT PRIMARY KEY) SELECT * FROM ({statement}) AS q"
        ));
        bind_all(sqlx::query(AssertSqlSafe(create)), params).execute(&mut self.conn).await.map_err(guest_error)?;
        // Temporary tables are not in information_schema on older servers: ask the statement.
        let prepared = (&mut self.conn).prepare(sqlx::SqlSafeStr::into_sql_str(AssertSqlSafe(format!("SELECT * FROM `{table}` LIMIT 0")))).await;
        let columns: Vec<String> = prepared
            .map(|st| {
                sqlx::Statement::columns(&st).iter().map(|c| sqlx::Column::name(c).to_string()).filter(|n| n != "dbm_row").collect()
            })
            .unwrap_or_default();
        self.cursors.insert(id, (table, 0));
        Ok((id, columns))
    }

    async fn cursor_next(&mut self, id: u64, max_rows: usize, max_bytes: usize) -> std::result::Result<Option<Vec<Vec<SqlValue>>>, GuestSqlError> {
        let Some((table, last)) = self.cursors.get(&id).cloned() else {
            return Err(GuestSqlError::InvalidInput("the cursor is closed".into()));
        };
        let q = format!("SELECT * FROM `{table}` WHERE dbm_row > ? ORDER BY dbm_row LIMIT ?");
        // Streamed: a page stops at the byte budget, and the rest comes with the next page.
        let mut page = crate::backend::guest::CappedRows::new(max_rows, max_bytes);
        let mut new_last = last;
        {
            let mut stream = sqlx::query(AssertSqlSafe(q)).bind(last).bind(max_rows as i64).fetch(&mut self.conn);
            while let Some(row) = stream.next().await {
                let row = row.map_err(guest_error)?;
                match page.push(row_values(&row, 1)?) {
                    Ok(()) => new_last = row.try_get("dbm_row").map_err(guest_error)?,
                    Err(_) if page.rows.is_empty() => return Err(crate::backend::guest::too_many_bytes(max_bytes)),
                    Err(_) => break,
                }
            }
        }
        if page.rows.is_empty() {
            return Ok(None);
        }
        self.cursors.insert(id, (table, new_last));
        Ok(Some(page.rows))
    }

    async fn enter_guest(&mut self, scope: &crate::backend::guest::GuestScope) -> std::result::Result<(), GuestSqlError> {
        self.deadline = scope.deadline;
        self.guest_depth += 1;
        if self.guest_depth > 1 {
            return Ok(());
        }
        let r = if scope.restricted() { self.restricted_session(scope).await } else { Ok(()) };
        if let Err(e) = r {
            self.guest_depth -= 1;
            return Err(e);
        }
        // The host reads a guest's strings with backslash escapes (MySQL's default); a server
        // set to NO_BACKSLASH_ESCAPES would end them elsewhere. Guests get the default.
        // A mode that cannot be read is not taken to be the default: the guest does not start.
        // On failure the session is left as it was entered (the runner's own connection back
        // in place of a guest login).
        let mode: String = match sqlx::query_scalar("SELECT CAST(@@SESSION.sql_mode AS CHAR)").fetch_one(&mut self.conn).await {
            Ok(m) => m,
            Err(e) => {
                let _ = self.leave_guest().await;
                return Err(guest_error(e));
            }
        };
        let differs = |m: &str| m.eq_ignore_ascii_case("NO_BACKSLASH_ESCAPES") || m.eq_ignore_ascii_case("ANSI_QUOTES") || m.eq_ignore_ascii_case("ANSI");
        if mode.split(',').any(differs) {
            let cleaned: Vec<&str> = mode.split(',').filter(|m| !differs(m)).collect();
            let set = format!("SET SESSION sql_mode = '{}'", cleaned.join(",").replace('\'', ""));
            if let Err(e) = self.conn.execute(AssertSqlSafe(set)).await {
                let _ = self.leave_guest().await;
                return Err(guest_error(e));
            }
            self.saved_sql_mode = Some(mode);
        }
        Ok(())
    }

    async fn leave_guest(&mut self) -> std::result::Result<(), GuestSqlError> {
        self.guest_depth = self.guest_depth.saturating_sub(1);
        if self.guest_depth > 0 {
            return Ok(());
        }
        self.deadline = None;
        if let Some(mode) = self.saved_sql_mode.take() {
            let _ = self.conn.execute(AssertSqlSafe(format!("SET SESSION sql_mode = '{}'", mode.replace('\'', "")))).await;
        }
        if let (Some((own, manual)), Some(account)) = (self.parked.take(), self.guest_account.take()) {
            let guest = std::mem::replace(&mut self.conn, own);
            let guest_manual = std::mem::replace(&mut self.manual_commit, manual);
            self.guest_conns.insert(account, (guest, guest_manual));
        }
        Ok(())
    }

    async fn close_cursor(&mut self, id: u64) {
        if let Some((table, _)) = self.cursors.remove(&id) {
            let _ = self.conn.execute(AssertSqlSafe(format!("DROP TEMPORARY TABLE IF EXISTS `{table}`"))).await;
        }
    }
}
