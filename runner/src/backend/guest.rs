//! What a component may do with the database: the backend side of the WIT `sql` interface.
//!
//! These types mirror the WIT ones without depending on the generated bindings, so backends know
//! nothing of the sandbox and the sandbox nothing of drivers.

/// A SQL value crossing the guest boundary.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// NULL.
    Null,
    /// Boolean.
    Bool(bool),
    /// 64-bit integer.
    Int(i64),
    /// 64-bit float.
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
    /// RFC 3339 timestamp text.
    Timestamp(String),
    /// JSON text.
    Json(String),
}

/// Rows of a query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Column names.
    pub columns: Vec<String>,
    /// Values, row by row.
    pub rows: Vec<Vec<SqlValue>>,
}

/// Kinds of database failure a guest may branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// Unique or primary key violation.
    UniqueViolation,
    /// Foreign key violation.
    ForeignKeyViolation,
    /// NOT NULL violation.
    NotNullViolation,
    /// CHECK violation.
    CheckViolation,
    /// The statement does not parse.
    Syntax,
    /// Anything else.
    Other,
}

/// A host call's failure, as the guest sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum GuestSqlError {
    /// Refused by a grant or a limit.
    Denied(String),
    /// The database failed.
    Database {
        /// Classification.
        kind: DbErrorKind,
        /// The database's message.
        message: String,
        /// SQLSTATE or driver code.
        code: Option<String>,
    },
    /// The request is malformed.
    InvalidInput(String),
}

/// The names no guest may touch: db-migrate's own tables.
#[derive(Debug, Clone)]
pub struct Reserved {
    /// The history table (bare name, lower-case); its `_lock` table is reserved with it.
    pub history: String,
    /// The seed history table (bare name, lower-case).
    pub seeds: String,
}

impl Default for Reserved {
    fn default() -> Self {
        Reserved { history: "db_migrate_history".into(), seeds: "db_migrate_seeds".into() }
    }
}

impl Reserved {
    /// Whether the name is db-migrate's or begins like one (its indexes, constraints and
    /// sequences carry the table's name first).
    pub fn prefixes(&self, name: &str) -> bool {
        self.contains(name) || name.starts_with(&self.history) || name.starts_with(&self.seeds) || name.starts_with("db_migrate_")
    }

    /// Whether the bare (unqualified, lower-case) name is db-migrate's.
    pub fn contains(&self, bare: &str) -> bool {
        bare == self.history
            || bare.strip_suffix("_lock") == Some(self.history.as_str())
            || bare == "db_migrate_seeds"
            || bare == self.seeds
            || bare.starts_with("_dbm_cursor_")
            || bare.starts_with("dbm_cursor_")
    }
}

/// What a guest session may touch, in the form the database's own enforcement needs: the
/// sandbox builds it from the component's grants, and the backend hands it to the database
/// (SQLite's authorizer, a restricted role or account on PostgreSQL and MySQL).
#[derive(Debug, Clone)]
pub struct GuestScope {
    /// `read` granted.
    pub read: bool,
    /// `write` granted.
    pub write: bool,
    /// `ddl` granted.
    pub ddl: bool,
    /// Tables (lower-case, `table` or `schema.table`); `None`: any but db-migrate's own.
    pub tables: Option<std::collections::BTreeSet<String>>,
    /// The user's own functions granted beyond the built-in allowlist.
    pub functions: std::collections::BTreeSet<String>,
    /// db-migrate's tables.
    pub reserved: Reserved,
    /// When the guest's time is up: statements in flight are stopped then.
    pub deadline: Option<std::time::Instant>,
    /// Largest value (and result, and cursor page) in bytes.
    pub max_bytes: usize,
    /// A knex migration: the few statements knex needs are admitted too (`sandbox::knex`).
    pub knex: bool,
    /// An Alembic revision: its SQLite batch mode's reflection and scratch copy are admitted
    /// too (`sandbox::alembic`).
    pub alembic: bool,
}

/// The prefix of Alembic's scratch copy of a table rebuilt in SQLite batch mode
/// (`_alembic_tmp_users`).
pub const ALEMBIC_SCRATCH_PREFIX: &str = "_alembic_tmp_";

/// The table whose batch-mode scratch copy `name` (lower-case, bare) is, if it is one.
pub fn alembic_scratch_of(name: &str) -> Option<&str> {
    name.strip_prefix(ALEMBIC_SCRATCH_PREFIX).filter(|t| !t.is_empty())
}

/// Whether `name` (lower-case, bare) is the scratch table of a knex SQLite table rebuild
/// (`_knex_temp_alter123`), which a knex migration may use wherever it may change a table.
pub fn is_knex_temp_table(name: &str) -> bool {
    name.strip_prefix("_knex_temp_alter").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `lower` (a statement, lower-case) renames something onto a name starting with
/// `prefix`: the prefix appears after `rename`. Read on the raw text, so no quoting, comment or
/// missing space (`RENAME TO"x"`) hides it; the runtimes' own renames of a scratch table name it
/// before `RENAME`.
pub fn renames_onto(lower: &str, prefix: &str) -> bool {
    lower.find("rename").is_some_and(|at| lower[at..].contains(prefix))
}

/// Whether `name` is one of knex's savepoint names (`trx1`, `trx2`, …).
pub fn is_knex_savepoint(name: &str) -> bool {
    name.strip_prefix("trx").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `sql` is exactly one of knex's savepoint statements (`SAVEPOINT trxN`, `RELEASE
/// SAVEPOINT trxN`, `ROLLBACK TO SAVEPOINT trxN`), which a backend runs outside its own
/// per-statement savepoint.
pub fn is_knex_savepoint_statement(sql: &str) -> bool {
    let lower = sql.trim().trim_end_matches(';').trim_end().to_ascii_lowercase();
    let words: Vec<&str> = lower.split_ascii_whitespace().collect();
    matches!(words.as_slice(), ["savepoint", n] | ["release", "savepoint", n] | ["rollback", "to", "savepoint", n] if is_knex_savepoint(n))
}

impl GuestScope {
    /// Whether the guest may touch the table `name` (`schema.table` or `table`).
    pub fn table_allowed(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        let bare = lower.rsplit('.').next().unwrap_or(&lower);
        if self.reserved.contains(bare) {
            return false;
        }
        if self.knex && is_knex_temp_table(bare) {
            return true;
        }
        // Alembic's scratch copy of a table is the table's, for as long as the migration runs.
        if self.alembic {
            if let Some(of) = alembic_scratch_of(bare) {
                return self.table_allowed(of);
            }
        }
        match &self.tables {
            None => true,
            Some(t) => t.contains(&lower) || t.contains(bare),
        }
    }

    /// Whether the tables are restricted (the database then enforces them on its own session).
    pub fn restricted(&self) -> bool {
        self.tables.is_some()
    }

    /// A stable name for the database role (account) that enforces this scope on `database`:
    /// the same grant on the same database gets the same role, another grant another one.
    pub fn role_name(&self, database: &str) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(database.as_bytes());
        h.update([0, self.read as u8, self.write as u8, self.ddl as u8]);
        for t in self.tables.iter().flatten() {
            h.update(t.as_bytes());
            h.update([0]);
        }
        h.update([1]);
        for f in &self.functions {
            h.update(f.as_bytes());
            h.update([0]);
        }
        h.update(self.reserved.history.as_bytes());
        let d = h.finalize();
        format!("dbm_guest_{}", d[..6].iter().map(|b| format!("{b:02x}")).collect::<String>())
    }
}

/// A fresh password for a guest role's login (set anew on every run; only the host knows it).
pub fn random_password() -> String {
    let mut b = [0u8; 24];
    getrandom::fill(&mut b).expect("the operating system's random source");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl std::fmt::Display for GuestSqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuestSqlError::Denied(m) | GuestSqlError::InvalidInput(m) => f.write_str(m),
            GuestSqlError::Database { message, .. } => f.write_str(message),
        }
    }
}

/// Limits on what one guest call may make the host do.
#[derive(Debug, Clone, Copy)]
pub struct CallLimits {
    /// Longest statement text, in bytes.
    pub max_statement_bytes: usize,
    /// Most parameters in one call (all rows of a batch together).
    pub max_params: usize,
    /// Most rows `query` returns; larger results need a cursor.
    pub max_rows: usize,
    /// Most bytes of values one result (or cursor page) may carry; also the largest value.
    pub max_bytes: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits { max_statement_bytes: 1 << 20, max_params: 1 << 20, max_rows: 100_000, max_bytes: 32 << 20 }
    }
}

impl CallLimits {
    /// Checks the size of a list of documents against the parameter limit.
    pub fn check_count(&self, items: usize) -> Result<(), GuestSqlError> {
        if items > self.max_params {
            return Err(GuestSqlError::Denied(format!("{items} documents exceed the limit of {} per call", self.max_params)));
        }
        Ok(())
    }

    /// Checks a statement and its parameter count: one statement per call, within the limits.
    pub fn check(&self, statement: &str, params: usize) -> Result<(), GuestSqlError> {
        if statement.len() > self.max_statement_bytes {
            return Err(GuestSqlError::Denied(format!(
                "statement of {} bytes exceeds the limit of {} bytes",
                statement.len(),
                self.max_statement_bytes
            )));
        }
        if params > self.max_params {
            return Err(GuestSqlError::Denied(format!("{params} parameters exceed the limit of {}", self.max_params)));
        }
        match crate::migrate::statements::split(statement).len() {
            1 => Ok(()),
            0 => Err(GuestSqlError::InvalidInput("the statement is empty".into())),
            n => Err(GuestSqlError::InvalidInput(format!(
                "one call runs one statement, this text holds {n}; send them one by one"
            ))),
        }
    }
}

/// Which SQL a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
}

/// The database operations a component reaches through the `sql` interface.
#[allow(async_fn_in_trait)]
pub trait GuestSql {
    /// The backend's dialect.
    fn dialect(&self) -> Dialect;
    /// Runs one statement; rows changed.
    async fn execute(&mut self, statement: &str, params: Vec<SqlValue>) -> Result<u64, GuestSqlError>;
    /// Runs one statement; its rows (at most `max_rows`, and `max_bytes` of values).
    async fn query(&mut self, statement: &str, params: Vec<SqlValue>, max_rows: usize, max_bytes: usize) -> Result<Rows, GuestSqlError>;
    /// Runs one statement for each parameter row; rows changed in total. `plan`, when the
    /// statement is a plain placeholder INSERT (worked out from its parse), allows one
    /// multi-row statement or one COPY instead of a round trip per row.
    async fn execute_batch(&mut self, statement: &str, rows: Vec<Vec<SqlValue>>, plan: Option<&InsertPlan>) -> Result<u64, GuestSqlError>;
    /// Hands the rows of a bulk insert (`plan`: its plain INSERT, already admitted; every row
    /// `plan.width` wide) to the database; rows handed over. A backend that can stream them
    /// (PostgreSQL's COPY) returns once they are sent, and its errors come from
    /// [`GuestSql::bulk_settle`]; the others run them as [`GuestSql::execute_batch`] does.
    /// Either way the caller treats any error as ending the run.
    async fn bulk_write(&mut self, statement: &str, rows: Vec<Vec<SqlValue>>, plan: &InsertPlan) -> Result<u64, GuestSqlError> {
        self.execute_batch(statement, rows, Some(plan)).await
    }
    /// Waits until the database has taken every row of the open bulk insert, if one is open;
    /// returns how many of the rows [`GuestSql::bulk_write`] counted as sent it did not keep (a
    /// trigger skipping rows, as it would an INSERT's).
    async fn bulk_settle(&mut self) -> Result<u64, GuestSqlError> {
        Ok(0)
    }
    /// Ends the open bulk insert, if one is open, without reporting its error. Called when the
    /// run is failing, before its unit is rolled back (PostgreSQL finishes the COPY: its rows
    /// go with that rollback, or stay, and the migration is dirty, outside a transaction).
    async fn bulk_abort(&mut self) {}
    /// Opens a cursor; returns its id and columns.
    async fn open_cursor(&mut self, statement: &str, params: Vec<SqlValue>) -> Result<(u64, Vec<String>), GuestSqlError>;
    /// Next page of a cursor (at most `max_rows`, and `max_bytes` of values); `None` when exhausted.
    async fn cursor_next(&mut self, id: u64, max_rows: usize, max_bytes: usize) -> Result<Option<Vec<Vec<SqlValue>>>, GuestSqlError>;
    /// Releases a cursor.
    async fn close_cursor(&mut self, id: u64);
    /// A catalog query of the host's own on the guest's behalf (already checked against its
    /// grant), run outside the guest's enforcement.
    /// (Servers need nothing special: the host's check already ran; SQLite sets its guard aside.)
    async fn host_query(&mut self, statement: &str, params: Vec<SqlValue>) -> Result<Rows, GuestSqlError> {
        self.query(statement, params, usize::MAX, usize::MAX).await
    }
    /// A statement of the host's own inside a guest session (a seed's record, a reset).
    async fn host_execute(&mut self, statement: &str, params: Vec<SqlValue>) -> Result<u64, GuestSqlError> {
        self.execute(statement, params).await
    }
    /// Starts a guest session: from here until [`GuestSql::leave_guest`], the database
    /// enforces `scope` on the guest's statements (host statements in between are the host's).
    async fn enter_guest(&mut self, scope: &GuestScope) -> Result<(), GuestSqlError>;
    /// Called when the guest's code has returned successfully, still inside the migration's (or
    /// seed's) transaction: takes away what the session made that would outlive it (SQLite's
    /// temporary tables). An error fails the migration, and its transaction undoes it.
    async fn end_guest_writes(&mut self) -> Result<(), GuestSqlError> {
        Ok(())
    }
    /// Ends the guest session. An error means the guest left something behind that the host
    /// could not take away.
    async fn leave_guest(&mut self) -> Result<(), GuestSqlError>;
}

/// The size a value takes in a result, for byte budgets.
pub fn value_bytes(v: &SqlValue) -> usize {
    match v {
        SqlValue::Text(s) | SqlValue::Timestamp(s) | SqlValue::Json(s) => s.len() + 8,
        SqlValue::Blob(b) => b.len() + 8,
        _ => 8,
    }
}

/// Which cap a result would pass with one more row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// More rows than the call allows.
    Rows,
    /// More bytes of values than the call allows.
    Bytes,
}

/// Rows read under the caps of one call (`max_rows` rows, `max_bytes` of values): every
/// backend counts the same way, row by row as they arrive, so a larger result is refused
/// without being held.
#[derive(Debug)]
pub struct CappedRows {
    /// The rows kept so far.
    pub rows: Vec<Vec<SqlValue>>,
    bytes: usize,
    max_rows: usize,
    max_bytes: usize,
}

impl CappedRows {
    /// No rows yet.
    pub fn new(max_rows: usize, max_bytes: usize) -> Self {
        CappedRows { rows: Vec::new(), bytes: 0, max_rows, max_bytes }
    }

    /// Keeps one more row, or says which cap it would pass (the row is then not kept).
    pub fn push(&mut self, row: Vec<SqlValue>) -> Result<(), Cap> {
        if self.rows.len() == self.max_rows {
            return Err(Cap::Rows);
        }
        let bytes = self.bytes + row.iter().map(value_bytes).sum::<usize>();
        if bytes > self.max_bytes {
            return Err(Cap::Bytes);
        }
        self.bytes = bytes;
        self.rows.push(row);
        Ok(())
    }

    /// The refusal of a whole result (a `query`) that passed a cap.
    pub fn refusal(&self, cap: Cap) -> GuestSqlError {
        match cap {
            Cap::Rows => GuestSqlError::Denied(format!("the query returns more than {} rows; read large results with a cursor", self.max_rows)),
            Cap::Bytes => too_many_bytes(self.max_bytes),
        }
    }
}

/// The width of a batch's rows (`None` for no rows), refused unless every row has it.
pub fn batch_width(rows: &[Vec<SqlValue>]) -> Result<Option<usize>, GuestSqlError> {
    let Some(first) = rows.first() else { return Ok(None) };
    let width = first.len();
    if rows.iter().any(|r| r.len() != width) {
        return Err(GuestSqlError::InvalidInput("every row of a batch needs the same number of values".into()));
    }
    Ok(Some(width))
}

/// A batch the backend cannot send at once, run as one statement per row; rows changed in total.
pub async fn row_by_row<G: GuestSql + ?Sized>(g: &mut G, statement: &str, rows: Vec<Vec<SqlValue>>) -> Result<u64, GuestSqlError> {
    let mut total = 0;
    for row in rows {
        total += g.execute(statement, row).await?;
    }
    Ok(total)
}

/// The refusal when a result outgrows its byte budget.
pub fn too_many_bytes(max_bytes: usize) -> GuestSqlError {
    GuestSqlError::Denied(format!(
        "the result holds more than {} MiB of values (the limit per result and per cursor page, `max_result_mib`); read it with a cursor in smaller pages",
        max_bytes >> 20
    ))
}

/// An `INSERT INTO t (cols) VALUES (p1, …, pn)` of placeholders only, rebuilt from the parsed
/// statement (never from the guest's text): backends turn a batch of it into one multi-row
/// INSERT or one `COPY … FROM STDIN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertPlan {
    /// The target, quoted for the dialect (`"public"."users"`, `` `users` ``).
    pub table: String,
    /// The columns, quoted; empty when the statement names none.
    pub columns: Vec<String>,
    /// Values per row.
    pub width: usize,
}

impl InsertPlan {
    /// `table (c1, c2)` or `table`.
    pub fn target(&self) -> String {
        if self.columns.is_empty() { self.table.clone() } else { format!("{} ({})", self.table, self.columns.join(", ")) }
    }

    /// `INSERT INTO target VALUES (?, …), …` for `rows` rows (`?` placeholders: SQLite, MySQL).
    pub fn multi_row(&self, rows: usize) -> String {
        let tuple = format!("({})", vec!["?"; self.width].join(", "));
        let target = self.target();
        let mut text = String::with_capacity(20 + target.len() + rows * (tuple.len() + 1));
        text.push_str("INSERT INTO ");
        text.push_str(&target);
        text.push_str(" VALUES ");
        for i in 0..rows {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&tuple);
        }
        text
    }
}

/// Appends one value in COPY's text format.
pub fn copy_text(out: &mut Vec<u8>, v: &SqlValue) {
    use std::io::Write;
    match v {
        SqlValue::Null => out.extend_from_slice(b"\\N"),
        SqlValue::Bool(b) => out.push(if *b { b't' } else { b'f' }),
        SqlValue::Int(i) => {
            // Decimal digits without the formatting machinery (this runs per value).
            let mut buf = [0u8; 20];
            let mut pos = buf.len();
            let mut n = i.unsigned_abs();
            loop {
                pos -= 1;
                buf[pos] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            if *i < 0 {
                out.push(b'-');
            }
            out.extend_from_slice(&buf[pos..]);
        }
        SqlValue::Float(f) if f.is_nan() => out.extend_from_slice(b"NaN"),
        SqlValue::Float(f) if f.is_infinite() => out.extend_from_slice(if *f > 0.0 { b"Infinity" } else { b"-Infinity" }),
        SqlValue::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        SqlValue::Text(s) | SqlValue::Timestamp(s) | SqlValue::Json(s) if !s.bytes().any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r')) => {
            out.extend_from_slice(s.as_bytes());
        }
        SqlValue::Text(s) | SqlValue::Timestamp(s) | SqlValue::Json(s) => {
            for b in s.bytes() {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    other => out.push(other),
                }
            }
        }
        SqlValue::Blob(bytes) => {
            // bytea's hex form, its backslash escaped for COPY.
            out.extend_from_slice(b"\\\\x");
            for b in bytes {
                let _ = write!(out, "{b:02x}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_rows_stop_at_either_cap_and_keep_nothing_past_it() {
        let row = |s: &str| vec![SqlValue::Int(1), SqlValue::Text(s.into())];
        // Two rows at most.
        let mut c = CappedRows::new(2, usize::MAX);
        assert_eq!(c.push(row("a")), Ok(()));
        assert_eq!(c.push(row("b")), Ok(()));
        assert_eq!(c.push(row("c")), Err(Cap::Rows));
        assert_eq!(c.rows.len(), 2);
        assert!(matches!(c.refusal(Cap::Rows), GuestSqlError::Denied(m) if m.contains("more than 2 rows")));
        // 8 bytes for the int, 8 + 3 for the text: 19 per row; 40 bytes hold two.
        let mut c = CappedRows::new(usize::MAX, 40);
        assert_eq!(c.push(row("abc")), Ok(()));
        assert_eq!(c.push(row("abc")), Ok(()));
        assert_eq!(c.push(row("abc")), Err(Cap::Bytes));
        assert_eq!(c.rows.len(), 2);
        // A refused row does not count: a smaller one still fits.
        assert_eq!(c.push(vec![]), Ok(()));
    }

    #[test]
    fn batches_have_one_width() {
        assert_eq!(batch_width(&[]), Ok(None));
        assert_eq!(batch_width(&[vec![SqlValue::Null], vec![SqlValue::Int(2)]]), Ok(Some(1)));
        assert!(matches!(batch_width(&[vec![SqlValue::Null], vec![]]), Err(GuestSqlError::InvalidInput(_))));
    }

    #[test]
    fn copy_targets_and_text() {
        let mut out = Vec::new();
        for v in [SqlValue::Null, SqlValue::Bool(true), SqlValue::Int(-3), SqlValue::Float(0.5), SqlValue::Text("a\tb\\c\n".into()), SqlValue::Blob(vec![1, 255])] {
            copy_text(&mut out, &v);
            out.push(b'|');
        }
        assert_eq!(String::from_utf8(out).unwrap(), "\\N|t|-3|0.5|a\\tb\\\\c\\n|\\\\x01ff|");
    }

    #[test]
    fn multi_row_inserts_repeat_the_tuple() {
        let p = InsertPlan { table: "`t`".into(), columns: vec!["`a`".into(), "`b`".into()], width: 2 };
        assert_eq!(p.multi_row(2), "INSERT INTO `t` (`a`, `b`) VALUES (?, ?),(?, ?)");
    }

    #[test]
    fn limits() {
        let l = CallLimits { max_statement_bytes: 20, max_params: 2, max_rows: 1, max_bytes: 100 };
        assert!(l.check("SELECT 1", 0).is_ok());
        assert!(matches!(l.check("SELECT 1; SELECT 2", 0), Err(GuestSqlError::InvalidInput(_))));
        assert!(matches!(l.check("SELECT 1", 3), Err(GuestSqlError::Denied(_))));
        assert!(matches!(l.check("SELECT 'a very long statement'", 0), Err(GuestSqlError::Denied(_))));
        assert!(matches!(l.check("  ", 0), Err(GuestSqlError::InvalidInput(_))));
    }
}
