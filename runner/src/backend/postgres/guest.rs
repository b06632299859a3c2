//! PostgreSQL: what a component's `sql` calls run (binding, decoding, row and byte caps, server-side cursors).

use super::*;
use crate::backend::sqlx_shared::{Stopped, carried, read_capped};

fn bind_all<'q>(q: sqlx::query::Query<'q, Postgres, PgArguments>, params: impl IntoIterator<Item = SqlValue>) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    crate::backend::sqlx_shared::bind_values(q, params, |q, s| match PgTimestamp::parse(&s) {
        Some(t) => q.bind(t),
        None => q.bind(s),
    })
}

/// A guest's `timestamp` value (RFC 3339 text), bound as the database's `timestamptz` (as the
/// WIT promises), so it fits `timestamptz` and `timestamp` columns as a driver's date would:
/// microseconds since 2000-01-01 UTC, PostgreSQL's binary form. Text that does not parse as
/// RFC 3339 is bound as text.
struct PgTimestamp(i64);

impl PgTimestamp {
    fn parse(s: &str) -> Option<Self> {
        let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        let epoch = time::macros::datetime!(2000-01-01 0:00 UTC);
        i64::try_from((t - epoch).whole_microseconds()).ok().map(PgTimestamp)
    }
}

impl sqlx::Type<Postgres> for PgTimestamp {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        // 1184: timestamptz.
        sqlx::postgres::PgTypeInfo::with_oid(sqlx::postgres::types::Oid(1184))
    }
}

impl sqlx::Encode<'_, Postgres> for PgTimestamp {
    fn encode_by_ref(&self, buf: &mut sqlx::postgres::PgArgumentBuffer) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        buf.extend_from_slice(&self.0.to_be_bytes());
        Ok(sqlx::encode::IsNull::No)
    }
}

pub(super) fn guest_error(e: sqlx::Error) -> GuestSqlError {
    match &e {
        sqlx::Error::Database(d) => {
            let code = d.code().map(|c| c.into_owned());
            let kind = match code.as_deref() {
                Some("23505") => DbErrorKind::UniqueViolation,
                Some("23503") => DbErrorKind::ForeignKeyViolation,
                Some("23502") => DbErrorKind::NotNullViolation,
                Some("23514") => DbErrorKind::CheckViolation,
                Some("42601") => DbErrorKind::Syntax,
                _ => DbErrorKind::Other,
            };
            GuestSqlError::Database { kind, message: d.message().to_string(), code }
        }
        other => GuestSqlError::Database { kind: DbErrorKind::Other, message: other.to_string(), code: None },
    }
}

/// One row's values; `max_bytes` bounds what decoding them may allocate (a 10-byte `numeric`
/// can stand for 147,000 digits of text), so a row past it is refused before it is built.
fn row_values(row: &PgRow, max_bytes: usize) -> std::result::Result<Vec<SqlValue>, GuestSqlError> {
    let decode = |e: sqlx::Error| GuestSqlError::Database { kind: DbErrorKind::Other, message: e.to_string(), code: None };
    let mut used = 0usize;
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).map_err(decode)?;
            if raw.is_null() {
                return Ok(SqlValue::Null);
            }
            let ty = raw.type_info().name().to_string();
            let left = max_bytes.saturating_sub(used);
            let value = match ty.as_str() {
                "BOOL" => SqlValue::Bool(row.try_get(i).map_err(decode)?),
                "INT2" => SqlValue::Int(row.try_get::<i16, _>(i).map_err(decode)? as i64),
                "INT4" => SqlValue::Int(row.try_get::<i32, _>(i).map_err(decode)? as i64),
                "INT8" => SqlValue::Int(row.try_get(i).map_err(decode)?),
                "FLOAT4" => SqlValue::Float(row.try_get::<f32, _>(i).map_err(decode)? as f64),
                "FLOAT8" => SqlValue::Float(row.try_get(i).map_err(decode)?),
                "BYTEA" => SqlValue::Blob(row.try_get(i).map_err(decode)?),
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => SqlValue::Text(row.try_get(i).map_err(decode)?),
                "NUMERIC" => match numeric_text(row, i, left).map_err(decode)? {
                    Some(text) => SqlValue::Text(text),
                    None => return Err(crate::backend::guest::too_many_bytes(max_bytes)),
                },
                "TIMESTAMPTZ" | "TIMESTAMP" | "DATE" | "TIME" => date_time(row, i, &ty).map_err(decode)?,
                "JSON" | "JSONB" => SqlValue::Json(json_text(row, i).map_err(decode)?),
                "UUID" => SqlValue::Text(row.try_get::<sqlx::types::Uuid, _>(i).map_err(decode)?.to_string()),
                other => {
                    return Err(GuestSqlError::InvalidInput(format!(
                        "column {} has type {other}, which the sql interface does not carry; cast it to text in the query (`::text`)",
                        i + 1
                    )));
                }
            };
            used += crate::backend::guest::value_bytes(&value);
            if used > max_bytes {
                return Err(crate::backend::guest::too_many_bytes(max_bytes));
            }
            Ok(value)
        })
        .collect()
}

/// PostgreSQL's epoch for dates and times.
const PG_EPOCH: time::PrimitiveDateTime = time::macros::datetime!(2000-01-01 0:00);

/// A `timestamptz`, `timestamp`, `date` or `time` read from its binary form (microseconds or
/// days from 2000-01-01, microseconds from midnight) with checked arithmetic: a driver's decoder
/// panics on `infinity` and on years past 9999, which a guest may ask for. `infinity` and
/// `-infinity` arrive as that text; other values outside the years 1–9999 are refused.
fn date_time(row: &PgRow, i: usize, ty: &str) -> std::result::Result<SqlValue, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    if let sqlx::postgres::PgValueFormat::Text = raw.format() {
        return raw.as_str().map(|t| SqlValue::Text(t.to_string())).map_err(sqlx::Error::Decode);
    }
    let bytes = raw.as_bytes().map_err(sqlx::Error::Decode)?;
    let malformed = || sqlx::Error::Decode(format!("a {ty} value that is not in PostgreSQL's binary form").into());
    if ty == "DATE" {
        let days = i32::from_be_bytes(bytes.try_into().map_err(|_| malformed())?);
        return match days {
            i32::MAX => Ok(SqlValue::Text("infinity".into())),
            i32::MIN => Ok(SqlValue::Text("-infinity".into())),
            d => PG_EPOCH.date().checked_add(time::Duration::days(d.into())).and_then(carried::date).map(SqlValue::Text).ok_or_else(|| carried::outside("date")),
        };
    }
    let micros = i64::from_be_bytes(bytes.try_into().map_err(|_| malformed())?);
    match (ty, micros) {
        ("TIME", m) => carried::time_of_day(m).map(SqlValue::Text).ok_or_else(malformed),
        (_, i64::MAX) => Ok(SqlValue::Text("infinity".into())),
        (_, i64::MIN) => Ok(SqlValue::Text("-infinity".into())),
        (_, m) => {
            let at = PG_EPOCH.checked_add(time::Duration::microseconds(m));
            let text = if ty == "TIMESTAMPTZ" { at.and_then(|t| carried::instant(t.assume_utc())) } else { at.and_then(carried::naive) };
            text.map(SqlValue::Timestamp).ok_or_else(|| carried::outside("timestamp"))
        }
    }
}

/// A `json`/`jsonb` value's text, copied as the server sent it: never parsed into a tree here,
/// which could take many times the bytes the result's cap counts (a guest's `[1,1,1,…]`).
fn json_text(row: &PgRow, i: usize) -> std::result::Result<String, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    let binary = matches!(raw.format(), sqlx::postgres::PgValueFormat::Binary);
    let jsonb = raw.type_info().name() == "JSONB";
    let bytes = raw.as_bytes().map_err(sqlx::Error::Decode)?;
    // jsonb's binary form is a version byte (1) before the text.
    let text = match (binary && jsonb, bytes.split_first()) {
        (true, Some((1, rest))) => rest,
        (true, _) => return Err(sqlx::Error::Decode("unknown jsonb version".into())),
        (false, _) => bytes,
    };
    String::from_utf8(text.to_vec()).map_err(|e| sqlx::Error::Decode(e.into()))
}

/// A `numeric` as PostgreSQL prints it: with the value's own scale (`12.50`), `NaN` and
/// `Infinity` as words. Read from the binary form — base-10000 digits after a header of digit
/// count, weight, sign and display scale — in one pass: a decimal type would convert the up to
/// 147,000 digits PostgreSQL allows into a big integer first, in time quadratic in their number.
/// `Ok(None)` when its text would take more than `limit` bytes: it is refused unwritten.
fn numeric_text(row: &PgRow, i: usize, limit: usize) -> std::result::Result<Option<String>, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    if let sqlx::postgres::PgValueFormat::Text = raw.format() {
        return raw.as_str().map(|t| Some(t.to_string())).map_err(sqlx::Error::Decode);
    }
    let bytes = raw.as_bytes().map_err(sqlx::Error::Decode)?;
    if numeric_len(bytes).is_some_and(|n| n > limit) {
        return Ok(None);
    }
    numeric_from_binary(bytes).map(Some).ok_or_else(|| sqlx::Error::Decode("a numeric value that is not in PostgreSQL's binary form".into()))
}

/// The most bytes the text of a binary `numeric` takes (sign, integer groups, point, scale).
fn numeric_len(b: &[u8]) -> Option<usize> {
    let word = |at: usize| b.get(at..at + 2).map(|w| i16::from_be_bytes([w[0], w[1]]));
    let (weight, scale) = (i64::from(word(2)?), usize::try_from(word(6)?).ok()?);
    Some(2 + usize::try_from((weight + 1).max(1) * 4).ok()? + 1 + scale)
}

/// [`numeric_text`] of the binary form itself.
fn numeric_from_binary(b: &[u8]) -> Option<String> {
    let word = |at: usize| b.get(at..at + 2).map(|w| i16::from_be_bytes([w[0], w[1]]));
    let (count, weight, sign, scale) = (word(0)?, word(2)?, word(4)? as u16, word(6)?);
    match sign {
        0xC000 => return Some("NaN".into()),
        0xD000 => return Some("Infinity".into()),
        0xF000 => return Some("-Infinity".into()),
        0x0000 | 0x4000 => {}
        _ => return None,
    }
    let digits: Vec<i16> = (0..usize::try_from(count).ok()?).map(|k| word(8 + 2 * k)).collect::<Option<_>>()?;
    // The base-10000 digit at `pos` (0 is the one `weight` groups left of the point).
    let at = |pos: i64| usize::try_from(pos).ok().and_then(|p| digits.get(p)).copied().unwrap_or(0);
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for pos in 0..=i64::from(weight) {
            use std::fmt::Write;
            let _ = if pos == 0 { write!(text, "{}", at(pos)) } else { write!(text, "{:04}", at(pos)) };
        }
    }
    let scale = usize::try_from(scale).ok()?;
    if scale > 0 {
        let mut fraction = String::with_capacity(scale + 4);
        let mut pos = i64::from(weight) + 1;
        while fraction.len() < scale {
            use std::fmt::Write;
            let _ = write!(fraction, "{:04}", at(pos));
            pos += 1;
        }
        fraction.truncate(scale);
        text.push('.');
        text.push_str(&fraction);
    }
    Some(text)
}

impl PgBackend {
    /// Opens a restricted guest session: the statements of a component whose grant names its
    /// tables run on a login of a role that has exactly those privileges, so PostgreSQL itself
    /// refuses everything else — other tables, server files and programs, other roles. That
    /// session has no other role to switch back to (`SET ROLE`, `RESET ROLE`, `set_config`,
    /// `SET SESSION AUTHORIZATION` all fail: it is not a member of anything). The migration's
    /// history row is written on the same session, so it still commits with the guest's work in
    /// one transaction; the role may therefore write the history table, which the host's check
    /// keeps every guest statement away from. The run's advisory lock stays on the runner's own
    /// connection, parked meanwhile, where the guest cannot reach it.
    async fn restricted_session(&mut self, scope: &crate::backend::guest::GuestScope) -> std::result::Result<(), GuestSqlError> {
        let Some(base) = self.opts.clone() else {
            return Err(GuestSqlError::Denied(
                "this component's grant is enforced by a login of a restricted role, and a connection lent by the application \
                 does not say how to log in: run it with `Migrator::up` and a URL, or grant it the whole database"
                    .into(),
            ));
        };
        let database = base.get_database().unwrap_or("postgres").to_string();
        // The schema the target works in (its search_path): one role per schema, granted there
        // only. (One role per database collected the grants of every schema's runs, and a
        // guest on one tenant's schema reached another's tables through it.)
        let schema: String = sqlx::query_scalar("SELECT COALESCE(current_schema(), 'public')")
            .fetch_one(&mut *self.conn)
            .await
            .map_err(|e| GuestSqlError::Denied(format!("cannot read the target's schema: {}", DbError::from(e))))?;
        let role = scope.role_name(&format!("{database}\u{0}{schema}"));
        let password = crate::backend::guest::random_password();
        let r = quote_ident(&role);
        let setup = |e: sqlx::Error| GuestSqlError::Denied(format!(
            "cannot set up the restricted role `{role}` that enforces this component's grant: {} \
             (db-migrate's database user needs CREATEROLE, and the right to grant on the granted tables)",
            DbError::from(e)
        ));
        // CREATE ROLE may race with another runner creating the same role: then it exists.
        let create = format!("CREATE ROLE {r} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS");
        match self.conn.execute(AssertSqlSafe(create)).await {
            Ok(_) => {}
            Err(sqlx::Error::Database(d)) if matches!(d.code().as_deref(), Some("42710" | "23505")) => {}
            Err(e) => return Err(setup(e)),
        }
        let mut grants = vec![
            format!("ALTER ROLE {r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 8 PASSWORD '{password}'"),
            format!("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {r}", quote_ident(&database)),
            format!("GRANT USAGE ON SCHEMA {} TO {r}", quote_ident(&schema)),
            // The runner may act on what the guest creates (a later SQL migration altering it).
            format!("GRANT {r} TO CURRENT_USER"),
        ];
        if scope.ddl {
            grants.push(format!("GRANT CREATE ON SCHEMA {} TO {r}", quote_ident(&schema)));
        }
        let mut privileges = Vec::new();
        if scope.read {
            privileges.push("SELECT");
        }
        if scope.write {
            privileges.extend(["INSERT", "UPDATE", "DELETE"]);
        }
        // db-migrate's own tables: the history row is written on this session.
        // (Not its `_lock` table: the run's lock is renewed on the runner's own connection.)
        let own = [self.sql.table.clone(), scope.reserved.seeds.clone()];
        let mut tables: Vec<(String, Vec<&str>)> = own.into_iter().map(|t| (t, vec!["SELECT", "INSERT", "UPDATE", "DELETE"])).collect();
        if !privileges.is_empty() {
            tables.extend(scope.tables.iter().flatten().map(|t| (t.clone(), privileges.clone())));
        }
        for (t, privs) in &tables {
            let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text").bind(quote_ident(t)).fetch_one(&mut *self.conn).await.map_err(setup)?;
            let Some(_) = exists else { continue };
            let qt = quote_ident(t);
            if let Some((schema, _)) = t.split_once('.') {
                grants.push(format!("GRANT USAGE ON SCHEMA {} TO {r}", quote_ident(schema)));
            }
            grants.push(format!("GRANT {} ON TABLE {qt} TO {r}", privs.join(", ")));
            // Sequences behind serial and identity columns, for the inserts' defaults.
            let seqs: Vec<String> = sqlx::query_scalar(
                "SELECT d.objid::regclass::text FROM pg_depend d JOIN pg_class c ON c.oid = d.objid \
                 WHERE c.relkind = 'S' AND d.refobjid = $1::regclass AND d.deptype IN ('a', 'i')",
            )
            .bind(&qt)
            .fetch_all(&mut *self.conn)
            .await
            .map_err(setup)?;
            for s in seqs {
                grants.push(format!("GRANT USAGE, SELECT ON SEQUENCE {s} TO {r}"));
            }
        }
        for g in &grants {
            if let Err(e) = self.conn.execute(AssertSqlSafe(g.clone())).await {
                // GRANT role TO CURRENT_USER fails harmlessly when it is already a member.
                if g.starts_with(&format!("GRANT {r} TO")) {
                    continue;
                }
                return Err(setup(e));
            }
        }
        let guest = match self.guest_conns.remove(&role) {
            Some(c) => c,
            None => {
                let opts = base.clone().username(&role).password(&password).application_name("db-migrate guest");
                let c = opts.connect().await.map_err(|e| GuestSqlError::Denied(format!(
                    "cannot log in as the restricted role `{role}` that enforces this component's grant: {} \
                     (the server's pg_hba.conf must let it connect like db-migrate's own user, with a password)",
                    DbError::from(e)
                )))?;
                crate::backend::disable_nagle();
                let mut c = c;
                // Strings end where the host's parser thinks they do.
                c.execute("SET standard_conforming_strings = on").await.map_err(|e| GuestSqlError::Denied(DbError::from(e).to_string()))?;
                watch_client(&mut c).await;
                c
            }
        };
        self.parked = Some(std::mem::replace(&mut *self.conn, guest));
        self.guest_role = Some(role);
        Ok(())
    }
}

impl PgBackend {
    /// A knex savepoint statement without the host's transaction (`transaction: false`): the
    /// outermost `SAVEPOINT` opens a transaction, and releasing or rolling back to that
    /// savepoint commits or rolls it back, as knex's own `BEGIN`/`COMMIT` on a connection of its
    /// own would. Nested savepoints pass through.
    async fn knex_savepoint_outside_transaction(&mut self, statement: &str) -> std::result::Result<(), GuestSqlError> {
        let lower = statement.trim().trim_end_matches(';').trim_end().to_ascii_lowercase();
        let words: Vec<&str> = lower.split_ascii_whitespace().collect();
        let outer = self.knex_outer.clone();
        let text = match (words.as_slice(), outer.as_deref()) {
            (["savepoint", n], None) => {
                self.conn.execute("BEGIN").await.map_err(guest_error)?;
                self.knex_outer = Some(n.to_string());
                format!("SAVEPOINT {n}")
            }
            (["release", "savepoint", n], Some(o)) if *n == o => {
                self.knex_outer = None;
                format!("RELEASE SAVEPOINT {n}; COMMIT")
            }
            (["rollback", "to", "savepoint", n], Some(o)) if *n == o => {
                self.knex_outer = None;
                "ROLLBACK".to_string()
            }
            _ => statement.to_string(),
        };
        match self.conn.execute(AssertSqlSafe(text)).await {
            Ok(_) => Ok(()),
            Err(e) => {
                if self.knex_outer.is_none() && outer.is_some() {
                    // The COMMIT failed: the transaction is gone either way.
                    let _ = self.conn.execute("ROLLBACK").await;
                }
                Err(guest_error(e))
            }
        }
    }
}

/// Rows in `COPY`'s text format.
fn copy_rows(rows: &[Vec<SqlValue>], width: usize) -> Vec<u8> {
    let mut data = Vec::with_capacity(rows.len() * width * 12);
    for row in rows {
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                data.push(b'\t');
            }
            crate::backend::guest::copy_text(&mut data, v);
        }
        data.push(b'\n');
    }
    data
}

/// An open bulk insert: one `COPY … FROM STDIN` that a task streams the guest's rows into while
/// the guest makes the next ones. The task holds the connection (sqlx's COPY borrows it) and
/// gives it back when the COPY ends.
///
/// A COPY is always ended with `CopyDone`, never with `CopyFail`, even when the run is failing:
/// sqlx's abort reads the server's reply to `CopyFail` only when the server had not failed the
/// COPY already, and otherwise leaves a `ReadyForQuery` unread, after which every query on the
/// connection would get the previous one's reply. Inside a transaction the caller rolls back
/// anyway; outside one (`transaction: false`) the rows stay, as each `execute-batch` would
/// have, and the failed migration is dirty.
pub(in crate::backend) struct Bulk {
    /// The `COPY` target: a write into another table ends this stream first.
    target: String,
    tx: Option<tokio::sync::mpsc::Sender<Chunk>>,
    task: tokio::task::JoinHandle<(PgConnection, std::result::Result<u64, sqlx::Error>)>,
    /// Rows handed to the task.
    sent: u64,
    /// Its settings were made `LOCAL` (inside a transaction): they are taken back the same way.
    local: bool,
}

enum Chunk {
    Rows(Vec<u8>),
}

/// The task's side of a bulk insert: the COPY, fed until the sender goes, then finished (its
/// row count, or the server's error). A failed send leaves the connection unusable either way.
async fn stream_copy(conn: &mut PgConnection, copy: &str, rx: &mut tokio::sync::mpsc::Receiver<Chunk>) -> std::result::Result<u64, sqlx::Error> {
    let mut cp = conn.copy_in_raw(copy).await?;
    while let Some(Chunk::Rows(data)) = rx.recv().await {
        cp.send(data).await?;
    }
    cp.finish().await
}

impl PgBackend {
    /// Starts a bulk insert's COPY into `target`, under the guest's deadline. Notices are off
    /// meanwhile: sqlx reads nothing from the server until the COPY ends, so a trigger raising a
    /// notice per row would fill the socket until the server stalls, and the COPY with it.
    async fn bulk_start(&mut self, target: String) -> std::result::Result<(), GuestSqlError> {
        let timeout = self.deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()).as_millis().max(1));
        let local = if self.in_tx { "LOCAL " } else { "" };
        let mut set = format!("SET {local}client_min_messages = error");
        if let Some(ms) = timeout {
            set.push_str(&format!("; SET {local}statement_timeout = {ms}"));
        }
        if self.in_tx {
            self.ensure_begun().await.map_err(guest_error)?;
        }
        self.conn.execute(AssertSqlSafe(set)).await.map_err(guest_error)?;
        let mut conn = self.conn.take();
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let copy = format!("COPY {target} FROM STDIN");
        let task = tokio::spawn(async move {
            let r = stream_copy(&mut conn, &copy, &mut rx).await;
            (conn, r)
        });
        self.bulk = Some(Bulk { target, tx: Some(tx), task, sent: 0, local: self.in_tx });
        Ok(())
    }

    /// Ends the open bulk insert, if any (the COPY finished: see [`Bulk`]), and takes the
    /// connection back; returns how many rows sent the server did not keep. The error is the
    /// COPY's, unless `report` is false (the run is failing already). Safe to stop at any
    /// await: the bulk insert stays open until its task is done.
    pub(in crate::backend) async fn bulk_end(&mut self, report: bool) -> std::result::Result<u64, GuestSqlError> {
        let Some(b) = self.bulk.as_mut() else { return Ok(0) };
        // The sender gone, the task finishes the COPY.
        b.tx = None;
        let joined = (&mut b.task).await;
        let Some(b) = self.bulk.take() else { return Ok(0) };
        let (conn, r) = match joined {
            Ok(done) => done,
            // The task panicked: that panic is the error (the connection went with it, and no
            // later call could run; going on would only end in the `LENT` panic).
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                return Err(GuestSqlError::Database {
                    kind: DbErrorKind::Other,
                    message: format!("the bulk insert's connection was lost ({e})"),
                    code: None,
                });
            }
        };
        self.conn.0 = Some(conn);
        // In an aborted transaction this fails, and the rollback to come resets them.
        let reset = if b.local {
            "SET LOCAL statement_timeout TO DEFAULT; SET LOCAL client_min_messages TO DEFAULT"
        } else {
            "RESET statement_timeout; RESET client_min_messages"
        };
        let _ = self.conn.execute(reset).await;
        // (The server's count may be lower than the rows sent, and rightly: a trigger may skip
        // rows, as it would an INSERT's.)
        match r {
            Ok(kept) => Ok(b.sent.saturating_sub(kept)),
            Err(e) if report => Err(guest_error(e)),
            Err(_) => Ok(0),
        }
    }
}

impl GuestSql for PgBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn execute(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<u64, GuestSqlError> {
        self.bulk_end(true).await?;
        if crate::backend::guest::is_knex_savepoint_statement(statement) {
            // A knex migration's own savepoint (the host admits these for knex migrations only)
            // lives beside the per-statement savepoint, which would take it along when released.
            if self.in_tx {
                self.ensure_begun().await.map_err(guest_error)?;
                return self.conn.execute(AssertSqlSafe(statement.to_string())).await.map(|r| r.rows_affected()).map_err(guest_error);
            }
            return self.knex_savepoint_outside_transaction(statement).await.map(|()| 0);
        }
        let q = bind_all(sqlx::query(AssertSqlSafe(statement.to_string())), params);
        self.guarded(async |c| q.execute(c).await.map(|r| r.rows_affected())).await
    }

    async fn query(&mut self, statement: &str, params: Vec<SqlValue>, max_rows: usize, max_bytes: usize) -> std::result::Result<Rows, GuestSqlError> {
        self.bulk_end(true).await?;
        let q = bind_all(sqlx::query(AssertSqlSafe(statement.to_string())), params);
        self.guarded(async |c| read_capped(q.fetch(c), max_rows, max_bytes, |r| row_values(r, max_bytes)).await).await?.whole()
    }

    async fn execute_batch(&mut self, statement: &str, rows: Vec<Vec<SqlValue>>, plan: Option<&crate::backend::guest::InsertPlan>) -> std::result::Result<u64, GuestSqlError> {
        self.bulk_end(true).await?;
        let Some(width) = crate::backend::guest::batch_width(&rows)? else { return Ok(0) };
        // A plain `INSERT … VALUES ($1, …)` becomes one COPY: the fastest way rows reach the
        // server (no parameter limit, no per-row round trip). Anything else runs row by row.
        if let Some(plan) = plan.filter(|p| width > 0 && p.width == width) {
            let target = plan.target();
            let data = copy_rows(&rows, width);
            let copy = format!("COPY {target} FROM STDIN");
            return self
                .guarded(async |c| {
                    let mut cp = c.copy_in_raw(&copy).await?;
                    if let Err(e) = cp.send(data).await {
                        let _ = cp.abort("db-migrate: sending the batch failed").await;
                        return Err(e);
                    }
                    cp.finish().await
                })
                .await;
        }
        crate::backend::guest::row_by_row(self, statement, rows).await
    }

    async fn bulk_write(&mut self, _statement: &str, rows: Vec<Vec<SqlValue>>, plan: &crate::backend::guest::InsertPlan) -> std::result::Result<u64, GuestSqlError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let target = plan.target();
        if self.bulk.as_ref().is_some_and(|b| b.target != target) {
            self.bulk_end(true).await?;
        }
        if self.bulk.is_none() {
            self.bulk_start(target).await?;
        }
        let data = copy_rows(&rows, plan.width);
        let n = rows.len() as u64;
        let Some(b) = self.bulk.as_mut() else { return Ok(0) };
        let sent = match b.tx.as_ref() {
            Some(tx) => tx.send(Chunk::Rows(data)).await.is_ok(),
            None => false,
        };
        if !sent {
            // The task stopped early (its COPY was refused or sending failed): its error.
            self.bulk_end(true).await?;
            return Err(GuestSqlError::Database { kind: DbErrorKind::Other, message: "the bulk insert's COPY ended early".into(), code: None });
        }
        b.sent += n;
        // Let the task hand the rows to the socket now, so the server works on them while the
        // guest makes the next ones.
        tokio::task::yield_now().await;
        Ok(n)
    }

    async fn bulk_settle(&mut self) -> std::result::Result<u64, GuestSqlError> {
        self.bulk_end(true).await
    }

    async fn bulk_abort(&mut self) {
        let _ = self.bulk_end(false).await;
    }

    async fn open_cursor(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<(u64, Vec<String>), GuestSqlError> {
        self.bulk_end(true).await?;
        // A server-side cursor in the migration's transaction: pages are fetched on demand.
        let id = self.next_cursor;
        self.next_cursor += 1;
        let name = format!("dbm_cursor_{id}");
        // Outside a transaction (a non-transactional migration committing its batches as it
        // goes), a cursor must outlive each statement's implicit transaction: WITH HOLD.
        let hold = if self.in_tx { "" } else { " WITH HOLD" };
        let declare = bind_all(sqlx::query(AssertSqlSafe(format!("DECLARE {name} NO SCROLL CURSOR{hold} FOR {statement}"))), params);
        self.guarded(async |c| declare.execute(c).await.map(drop)).await?;
        let prepared = (&mut *self.conn).prepare(sqlx::SqlSafeStr::into_sql_str(AssertSqlSafe(format!("SELECT * FROM ({statement}) AS q LIMIT 0")))).await;
        let columns = prepared
            .map(|st| sqlx::Statement::columns(&st).iter().map(|c| sqlx::Column::name(c).to_string()).collect())
            .unwrap_or_default();
        self.cursors.insert(id, name);
        Ok((id, columns))
    }

    async fn cursor_next(&mut self, id: u64, max_rows: usize, max_bytes: usize) -> std::result::Result<Option<Vec<Vec<SqlValue>>>, GuestSqlError> {
        self.bulk_end(true).await?;
        let Some(name) = self.cursors.get(&id).cloned() else {
            return Err(GuestSqlError::InvalidInput("the cursor is closed".into()));
        };
        let fetch = sqlx::query(AssertSqlSafe(format!("FETCH {max_rows} FROM {name}")));
        let read = self.guarded(async |c| read_capped(fetch.fetch(c), max_rows, max_bytes, |r| row_values(r, max_bytes)).await).await?;
        match read.stopped {
            // The server's cursor has moved past the rows; the page cannot be cut short.
            Some(Stopped::Cap(_)) => Err(GuestSqlError::Denied(format!(
                "a page of this cursor holds more than {} MiB of values; ask for fewer rows per page",
                max_bytes >> 20
            ))),
            Some(Stopped::Decode(e)) => Err(e),
            None if read.page.rows.is_empty() => Ok(None),
            None => Ok(Some(read.page.rows)),
        }
    }

    async fn enter_guest(&mut self, scope: &crate::backend::guest::GuestScope) -> std::result::Result<(), GuestSqlError> {
        self.bulk_end(true).await?;
        self.deadline = scope.deadline;
        self.guest_depth += 1;
        if self.guest_depth > 1 {
            return Ok(());
        }
        if !scope.restricted() {
            // Strings end where the host's parser thinks they do (the default since 9.1).
            let scs: String = sqlx::query_scalar("SHOW standard_conforming_strings").fetch_one(&mut *self.conn).await.unwrap_or_default();
            if scs != "on" {
                if let Err(e) = self.conn.execute("SET standard_conforming_strings = on").await {
                    self.guest_depth -= 1;
                    return Err(guest_error(e));
                }
            }
            return Ok(());
        }
        match self.restricted_session(scope).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.guest_depth -= 1;
                Err(e)
            }
        }
    }

    async fn end_guest_writes(&mut self) -> std::result::Result<(), GuestSqlError> {
        self.bulk_end(true).await?;
        if let Some(e) = self.bulk_failed.take() {
            return Err(e);
        }
        if let Some(name) = self.knex_outer.take() {
            let _ = self.conn.execute("ROLLBACK").await;
            return Err(GuestSqlError::Denied(format!(
                "the migration left a knex transaction open (savepoint `{name}`, never committed or rolled back); what it did inside that transaction was rolled back"
            )));
        }
        Ok(())
    }

    async fn leave_guest(&mut self) -> std::result::Result<(), GuestSqlError> {
        // Still open here only when the run is failing (its unit's rollback, or the dirty rule
        // without a transaction, takes care of what it wrote).
        self.bulk_abort().await;
        self.bulk_failed = None;
        self.guest_depth = self.guest_depth.saturating_sub(1);
        if self.guest_depth > 0 {
            return Ok(());
        }
        // A knex transaction the failed migration left open: nothing of it is kept.
        if self.knex_outer.take().is_some() {
            let _ = self.conn.execute("ROLLBACK").await;
        }
        self.deadline = None;
        // The guest's scratch tables go with its session: they shadow nothing afterwards.
        if !self.in_tx {
            let _ = self.conn.execute("DISCARD TEMP").await;
        }
        if let (Some(own), Some(role)) = (self.parked.take(), self.guest_role.take()) {
            let guest = std::mem::replace(&mut *self.conn, own);
            self.guest_conns.insert(role, guest);
        }
        Ok(())
    }

    async fn close_cursor(&mut self, id: u64) {
        // (The host settles a bulk insert before any call; should one still be open, its error
        // is kept for the end of the guest rather than lost.)
        if let Err(e) = self.bulk_end(true).await {
            self.bulk_failed.get_or_insert(e);
        }
        if let Some(name) = self.cursors.remove(&id) {
            let _ = self.conn.execute(AssertSqlSafe(format!("CLOSE {name}"))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::numeric_from_binary;

    /// The binary form of a numeric: header then base-10000 digits.
    fn bin(weight: i16, sign: u16, scale: i16, digits: &[i16]) -> Vec<u8> {
        let mut b = Vec::new();
        for w in [digits.len() as i16, weight, sign as i16, scale] {
            b.extend_from_slice(&w.to_be_bytes());
        }
        for d in digits {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b
    }

    #[test]
    fn numerics_read_as_postgresql_prints_them() {
        assert_eq!(numeric_from_binary(&bin(0, 0, 2, &[12, 5000])).as_deref(), Some("12.50"));
        assert_eq!(numeric_from_binary(&bin(0, 0, 0, &[])).as_deref(), Some("0"));
        assert_eq!(numeric_from_binary(&bin(0, 0, 3, &[])).as_deref(), Some("0.000"));
        assert_eq!(numeric_from_binary(&bin(1, 0x4000, 0, &[1, 2])).as_deref(), Some("-10002"));
        // 0.00012 is groups 0001 2000 right of the point; 0.000000012, two groups further.
        assert_eq!(numeric_from_binary(&bin(-1, 0, 5, &[1, 2000])).as_deref(), Some("0.00012"));
        assert_eq!(numeric_from_binary(&bin(-3, 0, 9, &[1, 2000])).as_deref(), Some("0.000000000"));
        assert_eq!(numeric_from_binary(&bin(-3, 0, 13, &[1, 2000])).as_deref(), Some("0.0000000000012"));
        // 123456789.5: trailing zero groups are not sent.
        assert_eq!(numeric_from_binary(&bin(2, 0, 1, &[1, 2345, 6789, 5000])).as_deref(), Some("123456789.5"));
        assert_eq!(numeric_from_binary(&bin(3, 0, 0, &[7])).as_deref(), Some("7000000000000"));
        assert_eq!(numeric_from_binary(&bin(0, 0xC000, 0, &[])).as_deref(), Some("NaN"));
        assert_eq!(numeric_from_binary(&bin(0, 0xF000, 0, &[])).as_deref(), Some("-Infinity"));
        assert_eq!(numeric_from_binary(&[0, 1]), None);
        assert_eq!(numeric_from_binary(&bin(0, 0x1234, 0, &[])), None);
    }
}
