//! What a run does around its migrations: placeholders, callbacks, repeatable migrations and
//! squashed migrations. The migrator calls in at a few points (after reading the history, after
//! planning, around each step, at the end); everything is read and checked before anything runs,
//! so a missing placeholder value or a misnamed callback leaves the database as it was.
//!
//! Bookkeeping tables beside the history (same schema, portable column types):
//! - `<history>_placeholders (version, name, value, applied_at)`: the placeholder values each
//!   applied migration used (`***` for secrets); rows go with the migration when it is reverted.
//! - `<history>_repeatable (name, checksum, applied_at, execution_ms)`: the checksum each
//!   repeatable migration was last applied with.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::backend::guest::{Dialect, GuestSql, GuestSqlError, SqlValue};
use crate::backend::{self, AnyBackend, Backend, BodyFailed, Unit, UnitError};
use crate::migrate::error::{DbError, Direction, Error, MigrationRef, Result};
use crate::migrate::history::{self, AppliedMigration};
use crate::migrate::placeholders::{self, Mode, Placeholders};
use crate::migrate::plan::Step;
use crate::migrate::source::{Migration, Script};
use crate::migrate::squash;
use crate::migrate::statements;
use crate::migrate::workflow_files::{self, Callback, CallbackEvent, Repeatable};

/// A repeatable migration a run applied.
#[derive(Debug, Clone, Serialize)]
pub struct RepeatableReport {
    /// Its name.
    pub name: String,
    /// Its checksum (of the raw file).
    pub checksum: String,
    /// Time it took, in milliseconds.
    pub duration_ms: f64,
}

/// The state of a repeatable migration, as `status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RepeatableState {
    /// Never applied: the next `up` applies it.
    Pending,
    /// Applied with this very content.
    Applied,
    /// Applied, but the file changed since: the next `up` applies it again.
    Changed,
    /// Recorded, but its file is gone (nothing is undone).
    Missing,
}

/// One line of `status` for a repeatable migration.
#[derive(Debug, Clone, Serialize)]
pub struct RepeatableStatus {
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: RepeatableState,
    /// Its file, if there is one.
    pub file: Option<String>,
    /// When it was last applied.
    pub applied_at: Option<String>,
}

fn side_table(history: &str, suffix: &str) -> String {
    format!("{history}_{suffix}")
}

fn message(e: &GuestSqlError) -> String {
    match e {
        GuestSqlError::Denied(m) | GuestSqlError::InvalidInput(m) => m.clone(),
        GuestSqlError::Database { message, code: Some(c), .. } => format!("{message} (code {c})"),
        GuestSqlError::Database { message, .. } => message.clone(),
    }
}

fn db_error(e: GuestSqlError) -> DbError {
    DbError { message: message(&e), code: None }
}

fn param(b: &AnyBackend, i: usize) -> String {
    if b.dialect() == Dialect::Postgres { format!("${i}") } else { "?".to_string() }
}

fn text(v: &SqlValue) -> String {
    match v {
        SqlValue::Text(s) | SqlValue::Timestamp(s) | SqlValue::Json(s) => s.clone(),
        SqlValue::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

/// Reads `(name, checksum, applied_at)` of the repeatable table; a missing table reads as empty.
pub async fn repeatable_rows(b: &mut AnyBackend, history: &str) -> Result<Vec<(String, String, String)>> {
    if b.is_documents() {
        return Ok(Vec::new());
    }
    let q = format!("SELECT name, checksum, applied_at FROM {} ORDER BY name", side_table(history, "repeatable"));
    match b.query(&q, Vec::new(), usize::MAX, usize::MAX).await {
        Ok(rows) => Ok(rows.rows.iter().filter(|r| r.len() == 3).map(|r| (text(&r[0]), text(&r[1]), text(&r[2]))).collect()),
        Err(GuestSqlError::Database { .. }) => Ok(Vec::new()),
        Err(e) => Err(Error::Database { context: "cannot read the repeatable migrations' history".into(), source: db_error(e) }),
    }
}

/// The placeholder values recorded for `version`; a missing table reads as empty.
pub async fn recorded_placeholders(b: &mut AnyBackend, history: &str, version: i64) -> Result<BTreeMap<String, String>> {
    if b.is_documents() {
        return Ok(BTreeMap::new());
    }
    let q = format!("SELECT name, value FROM {} WHERE version = {} ORDER BY name", side_table(history, "placeholders"), param(b, 1));
    match b.query(&q, vec![SqlValue::Int(version)], usize::MAX, usize::MAX).await {
        Ok(rows) => Ok(rows.rows.iter().filter(|r| r.len() == 2).map(|r| (text(&r[0]), text(&r[1]))).collect()),
        Err(GuestSqlError::Database { .. }) => Ok(BTreeMap::new()),
        Err(e) => Err(Error::Database { context: "cannot read the recorded placeholders".into(), source: db_error(e) }),
    }
}

/// The state of each repeatable migration against the recorded checksums.
pub fn repeatable_status(files: &[Repeatable], rows: &[(String, String, String)]) -> Vec<RepeatableStatus> {
    let mut out: Vec<RepeatableStatus> = files
        .iter()
        .map(|r| {
            let row = rows.iter().find(|(n, _, _)| *n == r.name);
            let state = match row {
                None => RepeatableState::Pending,
                Some((_, c, _)) if *c == r.checksum => RepeatableState::Applied,
                Some(_) => RepeatableState::Changed,
            };
            RepeatableStatus { name: r.name.clone(), state, file: Some(r.script.path.display().to_string()), applied_at: row.map(|(_, _, a)| a.clone()) }
        })
        .collect();
    for (name, _, at) in rows {
        if !files.iter().any(|r| r.name == *name) {
            out.push(RepeatableStatus { name: name.clone(), state: RepeatableState::Missing, file: None, applied_at: Some(at.clone()) });
        }
    }
    out
}

/// The repeatable migrations an `up` would apply: those pending or changed.
pub fn due(files: Vec<Repeatable>, rows: &[(String, String, String)]) -> Vec<Repeatable> {
    files.into_iter().filter(|r| !rows.iter().any(|(n, c, _)| *n == r.name && *c == r.checksum)).collect()
}

/// Substitutes placeholders in the scripts the planned steps run, for display (secrets masked).
pub fn display(migrations: &mut [Migration], steps: &[Step], values: &Placeholders) -> Result<()> {
    substitute_steps(migrations, steps, values, Mode::Display).map(drop)
}

fn substitute_steps(migrations: &mut [Migration], steps: &[Step], values: &Placeholders, mode: Mode) -> Result<BTreeMap<i64, BTreeMap<String, String>>> {
    let mut used = BTreeMap::new();
    let mut problems = Vec::new();
    let mut done = std::collections::BTreeSet::new();
    for step in steps {
        if !done.insert((step.index, step.direction == Direction::Up)) {
            continue;
        }
        let m = &mut migrations[step.index];
        let version = m.version;
        let script = match (&mut m.body, step.direction) {
            (crate::migrate::source::Body::Sql { up, .. }, Direction::Up) => Some(up),
            (crate::migrate::source::Body::Sql { down: Some(d), .. }, Direction::Down) => Some(d),
            _ => None,
        };
        if let Some(script) = script {
            match placeholders::apply(script, values, mode) {
                Ok(u) if step.direction == Direction::Up => {
                    used.insert(version, u);
                }
                Ok(_) => {}
                Err(e) => problems.push(e),
            }
        }
    }
    match problems.len() {
        0 => Ok(used),
        1 => Err(Error::Source(problems.pop().expect("one"))),
        _ => Err(Error::Source(crate::migrate::error::SourceError::Many(problems))),
    }
}

fn substitute_scripts<'a>(scripts: impl Iterator<Item = &'a mut Script>, values: &Placeholders, mode: Mode) -> Result<()> {
    let mut problems = Vec::new();
    for s in scripts {
        if let Err(e) = placeholders::apply(s, values, mode) {
            problems.push(e);
        }
    }
    match problems.len() {
        0 => Ok(()),
        1 => Err(Error::Source(problems.pop().expect("one"))),
        _ => Err(Error::Source(crate::migrate::error::SourceError::Many(problems))),
    }
}

/// The callbacks a run of `steps` would use, substituted for display (secrets masked): the
/// events of the steps' directions, `*_each` included. None when nothing would run.
pub fn planned_callbacks(dir: &std::path::Path, steps: &[Step], values: &Placeholders) -> Result<Vec<Callback>> {
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    let up = steps.iter().any(|s| s.direction == Direction::Up);
    let down = steps.iter().any(|s| s.direction == Direction::Down);
    let mut c: Vec<Callback> = workflow_files::callbacks(dir)?
        .into_iter()
        .filter(|c| match c.event {
            CallbackEvent::BeforeUp | CallbackEvent::AfterUp => up,
            CallbackEvent::BeforeDown | CallbackEvent::AfterDown => down,
            CallbackEvent::BeforeEach | CallbackEvent::AfterEach | CallbackEvent::OnError => true,
        })
        .collect();
    substitute_scripts(c.iter_mut().map(|c| &mut c.script), values, Mode::Display)?;
    Ok(c)
}

/// Reads the repeatable migrations of `dir` with placeholders substituted for `mode`.
pub fn read_repeatables(dir: &std::path::Path, values: &Placeholders, mode: Mode) -> Result<Vec<Repeatable>> {
    let mut r = workflow_files::repeatables(dir)?;
    substitute_scripts(r.iter_mut().map(|r| &mut r.script), values, mode)?;
    Ok(r)
}

/// Squashed migrations: the history as the planner should see it, after recording (without
/// running) those whose replaced versions are all applied.
pub async fn reconcile_squashed(b: &mut AnyBackend, migrations: &[Migration], history: Vec<AppliedMigration>, write: bool) -> Result<Vec<AppliedMigration>> {
    if !migrations.iter().any(|m| squash::replaces(m).is_some()) {
        return Ok(history);
    }
    let r = squash::reconcile(migrations, &history).map_err(|e| Error::Config(e.to_string()))?;
    if write {
        for &i in &r.record {
            let m = &migrations[i];
            if history.iter().any(|h| h.version == m.version) {
                b.history().set_checksum(m.version, &m.name, &m.checksum).await?;
            } else {
                Unit::new(m, Direction::Up, true).record(b).await?;
            }
        }
    }
    Ok(r.history)
}

/// Squashed migrations as `status` sees them (nothing is written).
pub fn squashed_view(migrations: &[Migration], history: Vec<AppliedMigration>) -> Result<Vec<AppliedMigration>> {
    if !migrations.iter().any(|m| squash::replaces(m).is_some()) {
        return Ok(history);
    }
    // A database that applied only some replaced versions shows them as they are (the squashed
    // one pending, the replaced ones missing); `up` refuses it and says why.
    Ok(squash::reconcile(migrations, &history).map(|r| r.history).unwrap_or(history))
}

/// One run's placeholders, callbacks and repeatable migrations, read and substituted up front.
pub struct Flow {
    table: String,
    callbacks: Vec<Callback>,
    repeatables: Option<Vec<Repeatable>>,
    used: BTreeMap<i64, BTreeMap<String, String>>,
    record_placeholders: bool,
    phase: Option<Direction>,
    values: Placeholders,
}

impl Flow {
    /// Substitutes the planned steps' scripts and reads callbacks and (for `up` runs,
    /// `repeatables`) the repeatable migrations. Nothing touches the database.
    pub fn prepare(dir: &std::path::Path, table: &str, values: &Placeholders, migrations: &mut [Migration], steps: &[Step], repeatables: bool) -> Result<Flow> {
        let used = substitute_steps(migrations, steps, values, Mode::Run)?;
        let mut callbacks = workflow_files::callbacks(dir)?;
        substitute_scripts(callbacks.iter_mut().map(|c| &mut c.script), values, Mode::Run)?;
        let repeatables = if repeatables { Some(read_repeatables(dir, values, Mode::Run)?) } else { None };
        let record_placeholders = !values.is_empty() || used.values().any(|u| !u.is_empty());
        Ok(Flow { table: table.to_string(), callbacks, repeatables, used, record_placeholders, phase: None, values: values.clone() })
    }

    /// Whether [`Flow::finish`] has anything to run (`after_up`/`after_down` callbacks, or
    /// repeatable migrations to look at): the run's lock is renewed before it if so.
    pub fn work_left(&self) -> bool {
        let after = |d: Direction| self.of(if d == Direction::Up { CallbackEvent::AfterUp } else { CallbackEvent::AfterDown }).next().is_some();
        self.phase.is_some_and(after) || self.repeatables.as_ref().is_some_and(|r| !r.is_empty())
    }

    fn of(&self, event: CallbackEvent) -> impl Iterator<Item = &Callback> {
        self.callbacks.iter().filter(move |c| c.event == event)
    }

    /// Creates the bookkeeping tables this run writes, and refuses SQL callbacks or repeatable
    /// migrations on MongoDB before anything runs.
    pub async fn ensure_tables(&mut self, b: &mut AnyBackend) -> Result<()> {
        if b.is_documents() {
            let sql = self.callbacks.first().map(|c| c.script.path.clone()).or_else(|| self.repeatables.as_ref().and_then(|r| r.first()).map(|r| r.script.path.clone()));
            if let Some(p) = sql {
                return Err(Error::Config(format!("{} is SQL, but the database is MongoDB; nothing was run. Callbacks and repeatable migrations are SQL files for SQL databases", p.display())));
            }
            self.record_placeholders = false;
            return Ok(());
        }
        let mysql = b.dialect() == Dialect::Mysql;
        let t = if mysql { "VARCHAR(255)" } else { "TEXT" };
        let mut ddl = Vec::new();
        if self.record_placeholders {
            ddl.push(format!(
                "CREATE TABLE IF NOT EXISTS {} (version BIGINT NOT NULL, name {t} NOT NULL, value TEXT NOT NULL, applied_at VARCHAR(40) NOT NULL, PRIMARY KEY (version, name))",
                side_table(&self.table, "placeholders")
            ));
        }
        if self.repeatables.as_ref().is_some_and(|r| !r.is_empty()) {
            ddl.push(format!(
                "CREATE TABLE IF NOT EXISTS {} (name {t} PRIMARY KEY, checksum VARCHAR(64) NOT NULL, applied_at VARCHAR(40) NOT NULL, execution_ms BIGINT NOT NULL)",
                side_table(&self.table, "repeatable")
            ));
        }
        for d in ddl {
            b.host_execute(&d, Vec::new()).await.map_err(|e| Error::Database { context: "cannot create db-migrate's bookkeeping table".into(), source: db_error(e) })?;
        }
        Ok(())
    }

    /// Before a step in `direction`: closes the previous phase (`after_*`) and opens this one
    /// (`before_*`) when the direction changes.
    pub async fn enter(&mut self, b: &mut AnyBackend, direction: Direction) -> Result<()> {
        if self.phase == Some(direction) {
            return Ok(());
        }
        self.close_phase(b).await?;
        self.phase = Some(direction);
        let event = if direction == Direction::Up { CallbackEvent::BeforeUp } else { CallbackEvent::BeforeDown };
        self.run_callbacks(b, event).await
    }

    async fn close_phase(&mut self, b: &mut AnyBackend) -> Result<()> {
        let Some(d) = self.phase.take() else { return Ok(()) };
        let event = if d == Direction::Up { CallbackEvent::AfterUp } else { CallbackEvent::AfterDown };
        self.run_callbacks(b, event).await
    }

    async fn run_callbacks(&self, b: &mut AnyBackend, event: CallbackEvent) -> Result<()> {
        for c in self.of(event) {
            run_standalone(b, &c.script, &format!("callback {}", event.as_str()), async |_| Ok(())).await.map_err(|e| self.masked(e))?;
        }
        Ok(())
    }

    /// After a failure: runs the `on_error` callbacks. Their own failure is added to the message.
    pub async fn failed(&self, b: &mut AnyBackend, error: Error) -> Error {
        if self.of(CallbackEvent::OnError).next().is_none() || matches!(error, Error::Interrupted { .. }) {
            return error;
        }
        match self.run_callbacks(b, CallbackEvent::OnError).await {
            Ok(()) => error,
            Err(e) => Error::Config(format!("{error}\nthen the on_error callback failed too: {e}")),
        }
    }

    /// Applies or reverts a SQL migration inside its unit of work with the `before_each` and
    /// `after_each` callbacks, and records the placeholder values it used.
    pub async fn run_sql(&self, b: &mut AnyBackend, m: &Migration, direction: Direction) -> Result<Duration> {
        let before: Vec<&Script> = self.of(CallbackEvent::BeforeEach).map(|c| &c.script).collect();
        let after: Vec<&Script> = self.of(CallbackEvent::AfterEach).map(|c| &c.script).collect();
        let record = self.record_placeholders.then(|| self.used.get(&m.version).cloned().unwrap_or_default());
        if before.is_empty() && after.is_empty() && record.is_none() {
            return backend::run_sql(b, m, direction).await;
        }
        // (With placeholders declared, `record` is set, so failures below are masked.)
        let Some(script) = m.script(direction) else { return backend::run_sql(b, m, direction).await };
        let table = side_table(&self.table, "placeholders");
        let unit = Unit::new(m, direction, script.transaction);
        let tx = script.transaction;
        let ran = unit
            .run(b, backend::unit::itself, async |b: &mut AnyBackend| {
                let mut changed = false;
                let run = async |b: &mut AnyBackend, s: &Script, changed: &mut bool| {
                    let r = b.exec_script(&s.sql, tx).await.map_err(|(done, source)| BodyFailed {
                        changed: *changed || done > 0,
                        error: (s.path.clone(), statements::split(&s.sql).get(done).map(|st| s.file_line(st.line)), source),
                    });
                    *changed = true;
                    r
                };
                for s in &before {
                    run(b, s, &mut changed).await?;
                }
                run(b, script, &mut changed).await?;
                if let Some(values) = &record {
                    write_placeholders(b, &table, m.version, values).await.map_err(|source| BodyFailed { changed: true, error: (m.path.clone(), None, source) })?;
                }
                for s in &after {
                    run(b, s, &mut changed).await?;
                }
                Ok(())
            })
            .await;
        match ran {
            Ok(took) => Ok(took),
            Err(UnitError::Protocol(e)) => Err(e),
            Err(UnitError::Body { error: (path, line, mut source), kept }) => {
                source.message = self.values.mask(&source.message);
                Err(Error::MigrationFailed { migration: MigrationRef { version: m.version, name: m.name.clone() }, direction, path, line, source, kept })
            }
        }
    }

    /// A database error with secret placeholder values masked (the database may quote them).
    fn masked(&self, e: Error) -> Error {
        match e {
            Error::Database { context, mut source } => {
                source.message = self.values.mask(&source.message);
                Error::Database { context, source }
            }
            other => other,
        }
    }

    /// After a reverted squashed migration: forgets the history rows of the versions it replaced,
    /// so the next `up` applies it again instead of recording it.
    pub async fn after_step(&self, b: &mut AnyBackend, m: &Migration, direction: Direction) -> Result<()> {
        if direction == Direction::Down {
            for v in squash::replaces(m).unwrap_or_default() {
                if v != m.version {
                    b.history().remove(v).await?;
                }
            }
        }
        Ok(())
    }

    /// At the end of a run: `after_*` callbacks, then (for `up`) the repeatable migrations that
    /// are new or changed, by name.
    pub async fn finish(&mut self, b: &mut AnyBackend) -> Result<Vec<RepeatableReport>> {
        self.close_phase(b).await?;
        let Some(files) = self.repeatables.take() else { return Ok(Vec::new()) };
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let rows = repeatable_rows(b, &self.table).await?;
        let table = side_table(&self.table, "repeatable");
        let mut out = Vec::new();
        for r in due(files, &rows) {
            let started = Instant::now();
            let record = async |b: &mut AnyBackend| {
                let took = started.elapsed().as_millis() as i64;
                let del = format!("DELETE FROM {table} WHERE name = {}", param(b, 1));
                b.host_execute(&del, vec![SqlValue::Text(r.name.clone())]).await.map_err(db_error)?;
                let ins = format!("INSERT INTO {table} (name, checksum, applied_at, execution_ms) VALUES ({}, {}, {}, {})", param(b, 1), param(b, 2), param(b, 3), param(b, 4));
                let params = vec![SqlValue::Text(r.name.clone()), SqlValue::Text(r.checksum.clone()), SqlValue::Text(history::now_utc()), SqlValue::Int(took)];
                b.host_execute(&ins, params).await.map(drop).map_err(db_error)
            };
            run_standalone(b, &r.script, &format!("repeatable migration {}", r.name), record).await.map_err(|e| self.masked(e))?;
            out.push(RepeatableReport { name: r.name.clone(), checksum: r.checksum.clone(), duration_ms: started.elapsed().as_secs_f64() * 1e3 });
        }
        Ok(out)
    }
}

/// Runs a script in its own transaction (unless it says `transaction:false`) followed by `then`;
/// a failure rolls both back and names the file and line.
async fn run_standalone(b: &mut AnyBackend, s: &Script, what: &str, then: impl AsyncFnOnce(&mut AnyBackend) -> std::result::Result<(), DbError>) -> Result<()> {
    // MySQL and MariaDB commit each DDL statement by itself, with what ran before it: a
    // rollback there takes back only what came after the script's last DDL statement (the
    // backend's transactions run with autocommit off, so that part stays in one).
    let ddl_commits = b.dialect() == Dialect::Mysql;
    let fail = |line: Option<usize>, source: DbError, tx: bool| {
        let loc = match line {
            Some(l) => format!("{}:{l}", s.path.display()),
            None => s.path.display().to_string(),
        };
        let kept = match (tx, ddl_commits) {
            (true, false) => "it was rolled back",
            (true, true) => "it was rolled back, except what its DDL statements committed: MySQL and MariaDB commit each DDL statement with what ran before it",
            (false, _) => "it ran outside a transaction, so part of it may have been applied",
        };
        Error::Database { context: format!("{what} failed at {loc} ({kept}; the run stopped)"), source }
    };
    // Without a transaction each statement is kept as it runs (the MySQL backend turns
    // autocommit on for such a script). A run there may have autocommit off otherwise (after
    // its first migration or transaction), so what follows the script (a repeatable's record)
    // is committed here, on failure too: else the lock's release would roll it back.
    let keep = async |b: &mut AnyBackend| if !s.transaction && ddl_commits { b.commit_plain().await } else { Ok(()) };
    if s.transaction {
        b.begin_plain().await?;
    }
    if let Err((done, source)) = b.exec_script(&s.sql, s.transaction).await {
        if s.transaction {
            b.rollback_plain().await;
        }
        // The script's own error is the one to report.
        let _ = keep(b).await;
        return Err(fail(statements::split(&s.sql).get(done).map(|st| s.file_line(st.line)), source, s.transaction));
    }
    if let Err(source) = then(b).await {
        if s.transaction {
            b.rollback_plain().await;
        }
        let _ = keep(b).await;
        return Err(fail(None, source, s.transaction));
    }
    if s.transaction {
        b.commit_plain().await?;
    }
    keep(b).await
}

async fn write_placeholders(b: &mut AnyBackend, table: &str, version: i64, values: &BTreeMap<String, String>) -> std::result::Result<(), DbError> {
    let del = format!("DELETE FROM {table} WHERE version = {}", param(b, 1));
    b.host_execute(&del, vec![SqlValue::Int(version)]).await.map_err(db_error)?;
    let ins = format!("INSERT INTO {table} (version, name, value, applied_at) VALUES ({}, {}, {}, {})", param(b, 1), param(b, 2), param(b, 3), param(b, 4));
    let now = history::now_utc();
    for (name, value) in values {
        let params = vec![SqlValue::Int(version), SqlValue::Text(name.clone()), SqlValue::Text(value.clone()), SqlValue::Text(now.clone())];
        b.host_execute(&ins, params).await.map_err(db_error)?;
    }
    Ok(())
}
