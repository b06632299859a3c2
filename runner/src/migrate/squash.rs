//! Squashed migrations: one SQL migration that replaces several older ones.
//!
//! `db-migrate squash --to V` writes `V_squashed.sql` whose up section starts with the line
//! `-- db-migrate:replaces 1,2,V` (Django's `replaces`). A database that applied all of those
//! versions already has what the squashed migration does: it is recorded as applied without
//! running (its history row takes the version V row's place), and the history rows of the replaced
//! versions no longer count as missing. A fresh database just runs it. A database that applied
//! only some of them cannot use it: the run stops and says so.
//!
//! Everything here is pure: the files are written by the CLI and the history changed by the
//! migrator.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::history::{AppliedMigration, RowStatus};
use super::placeholders;
use super::source::{Body, Migration};
use super::statements;

/// The marker line of a squashed migration.
pub const REPLACES: &str = "-- db-migrate:replaces";
/// What a squashed migration's text always contains (its marker, however it is spaced).
pub const REPLACES_MARK: &str = "db-migrate:replaces";

/// The versions a migration replaces, when it is a squashed one.
pub fn replaces(m: &Migration) -> Option<Vec<i64>> {
    let Body::Sql { up, .. } = &m.body else { return None };
    if !up.sql.contains(REPLACES_MARK) {
        return None;
    }
    let line = up.sql.lines().find_map(|l| l.trim().strip_prefix(REPLACES))?;
    Some(line.split(',').filter_map(|v| v.trim().parse::<i64>().ok()).collect())
}

/// What reconciling the history with squashed migrations found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reconciled {
    /// The history as the planner and `status` should see it.
    pub history: Vec<AppliedMigration>,
    /// Squashed migrations (indices) to record as applied without running them.
    pub record: Vec<usize>,
}

/// A database that applied only some of the migrations a squashed one replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartlyApplied {
    /// The squashed migration.
    pub squashed: String,
    /// Versions it replaces that are applied.
    pub applied: Vec<i64>,
    /// Versions it replaces that are not.
    pub missing: Vec<i64>,
}

impl std::fmt::Display for PartlyApplied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        let mut all = [self.applied.clone(), self.missing.clone()].concat();
        all.sort_unstable();
        write!(
            f,
            "{} replaces migrations {}, but the database applied only {} of them (not {}): \
             apply the rest with the original files first (squash moved them to migrations/squashed/; copy them back, run `up --to {}`, \
             and remove them again), then run `up`",
            self.squashed,
            list(&all),
            list(&self.applied),
            list(&self.missing),
            self.missing.iter().max().copied().unwrap_or_default()
        )
    }
}

/// The history as it reads once every squashed migration whose versions are all applied is
/// recorded, and which ones to record.
pub fn reconcile(migrations: &[Migration], history: &[AppliedMigration]) -> Result<Reconciled, PartlyApplied> {
    let mut view: BTreeMap<i64, AppliedMigration> = history.iter().map(|h| (h.version, h.clone())).collect();
    let files: BTreeSet<i64> = migrations.iter().map(|m| m.version).collect();
    let mut record = Vec::new();
    for (i, m) in migrations.iter().enumerate() {
        let Some(replaced) = replaces(m) else { continue };
        let recorded = view.get(&m.version).is_some_and(|h| h.checksum == m.checksum && h.name == m.name);
        let applied: Vec<i64> = replaced.iter().copied().filter(|v| view.get(v).is_some_and(|h| h.status == RowStatus::Applied)).collect();
        // The newest replaced version applied means all of them are (the planner applies in
        // order); this also covers a database that ran an earlier squashed migration, which
        // has its row but not those of the versions it replaced.
        let last = replaced.iter().copied().max().unwrap_or(m.version);
        if !recorded {
            if !replaced.iter().any(|v| view.contains_key(v)) {
                continue;
            }
            if !applied.contains(&last) {
                let missing = replaced.iter().copied().filter(|v| !applied.contains(v)).collect();
                return Err(PartlyApplied { squashed: m.label(), applied, missing });
            }
            let latest = replaced.iter().filter_map(|v| view.get(v)).max_by(|a, b| a.applied_at.cmp(&b.applied_at)).cloned();
            let total: i64 = replaced.iter().filter_map(|v| view.get(v)).map(|h| h.execution_ms).sum();
            let template = latest.expect("the newest replaced version is applied");
            view.insert(
                m.version,
                AppliedMigration {
                    version: m.version,
                    name: m.name.clone(),
                    kind: m.kind().as_str().to_string(),
                    checksum: m.checksum.clone(),
                    status: RowStatus::Applied,
                    applied_at: template.applied_at,
                    execution_ms: total,
                },
            );
            record.push(i);
        }
        // Replaced versions without a file of their own are the squashed migration now.
        for v in replaced {
            if v != m.version && !files.contains(&v) {
                view.remove(&v);
            }
        }
    }
    Ok(Reconciled { history: view.into_values().collect(), record })
}

/// Why a set of migrations cannot be squashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Components and command files have no SQL to concatenate.
    NotSql(Vec<String>),
    /// Statements that change data, with their file and line: `--keep-data` or `--drop-data`.
    DataChanges(Vec<String>),
    /// Some files turn placeholders off and others use them: one file cannot do both.
    MixedPlaceholders(Vec<String>),
}

/// What to do with statements that change data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataPolicy {
    /// Refuse when there are any.
    Refuse,
    /// Keep them in the squashed migration (fresh databases get the data too).
    Keep,
    /// Leave them out (fresh databases get the schema only).
    Drop,
}

/// Keywords of statements that change data rather than schema.
const DATA_KEYWORDS: [&str; 7] = ["INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "REPLACE", "TRUNCATE"];

/// Statements of `sql` that change data: (line in the script, keyword).
pub fn data_changes(sql: &str) -> Vec<(usize, String)> {
    statements::split(sql).iter().map(|s| (s.line, s.keyword())).filter(|(_, k)| DATA_KEYWORDS.contains(&k.as_str())).collect()
}

fn without_data(sql: &str) -> String {
    let mut out = String::new();
    for s in statements::split(sql) {
        if !DATA_KEYWORDS.contains(&s.keyword().as_str()) {
            out.push_str(s.text);
            out.push_str(";\n");
        }
    }
    out
}

/// Escapes every placeholder of a file that turned them off, so it stays literal in a file
/// that does not.
fn escape_placeholders(text: &str) -> String {
    let mut p = placeholders::Placeholders::new();
    // Substitute each `${name}` with `$${name}`: collect the names first.
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        if let Some(end) = after.find('}') {
            if placeholders::is_valid_name(&after[..end]) {
                names.insert(after[..end].to_string());
            }
        }
        rest = after;
    }
    for n in &names {
        p.insert(n.clone(), Some(format!("$${{{n}}}")), false, "squash");
    }
    placeholders::substitute(text, &p, placeholders::Mode::Run, Path::new("-"), 1).map(|s| s.text).unwrap_or_else(|_| text.to_string())
}

/// A squashed migration's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SquashedFile {
    /// `V_squashed.sql`.
    pub file_name: String,
    /// Its text.
    pub text: String,
    /// The versions it replaces.
    pub replaces: Vec<i64>,
    /// Whether it has a down section (every part had one).
    pub reversible: bool,
    /// Statements that change data that it kept (`file:line KEYWORD`).
    pub data_kept: Vec<String>,
    /// Statements that change data that it left out.
    pub data_dropped: Vec<String>,
}

/// Builds the squashed migration of `parts` (the migrations up to and including the target, in
/// version order). `opted_out(path)` says whether a part's file turns placeholders off.
pub fn build(parts: &[&Migration], data: DataPolicy, opted_out: impl Fn(&Path) -> bool) -> Result<SquashedFile, Refusal> {
    let not_sql: Vec<String> = parts.iter().filter(|m| !matches!(m.body, Body::Sql { .. })).map(|m| format!("{} ({})", m.path.display(), m.kind())).collect();
    if !not_sql.is_empty() {
        return Err(Refusal::NotSql(not_sql));
    }
    let ups: Vec<_> = parts.iter().map(|m| (m, m.script(super::error::Direction::Up).expect("SQL migrations have an up script"))).collect();
    let mut found_data = Vec::new();
    for (_, up) in &ups {
        for (line, kw) in data_changes(&up.sql) {
            found_data.push(format!("{}:{} {kw}", up.path.display(), up.file_line(line)));
        }
    }
    if !found_data.is_empty() && data == DataPolicy::Refuse {
        return Err(Refusal::DataChanges(found_data));
    }
    let opting: Vec<bool> = ups.iter().map(|(_, up)| opted_out(&up.path) && up.sql.contains("${")).collect();
    let using = ups.iter().zip(&opting).any(|((_, up), o)| !o && up.sql.contains("${"));
    if using && opting.iter().any(|o| *o) {
        let files = ups.iter().zip(&opting).filter(|(_, o)| **o).map(|((_, up), _)| up.path.display().to_string()).collect();
        return Err(Refusal::MixedPlaceholders(files));
    }
    let mut replaced: Vec<i64> = Vec::new();
    for m in parts {
        replaced.extend(replaces(m).unwrap_or_else(|| vec![m.version]));
    }
    replaced.sort_unstable();
    replaced.dedup();
    let last = parts.last().expect("at least one migration");
    let transactional = ups.iter().all(|(_, up)| up.transaction);
    let list = replaced.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let labels = parts.iter().map(|m| m.label()).collect::<Vec<_>>().join(", ");
    let mut text = format!(
        "-- migrate:up{}\n{REPLACES} {list}\n-- Squashed by `db-migrate squash` from {labels}; the originals are in migrations/squashed/.\n",
        if transactional { "" } else { " transaction:false" }
    );
    let part_text = |sql: &str, opt: bool| {
        let sql = if opt { escape_placeholders(sql) } else { sql.to_string() };
        // A squashed migration's own marker line is not repeated.
        sql.lines().filter(|l| !l.trim().starts_with(REPLACES)).collect::<Vec<_>>().join("\n")
    };
    for (((m, up), opt), _) in ups.iter().zip(&opting).zip(0..) {
        let sql = if data == DataPolicy::Drop { without_data(&up.sql) } else { up.sql.clone() };
        text.push_str(&format!("\n-- from {}\n{}\n", m.label(), part_text(&sql, *opt).trim_end()));
    }
    let downs: Option<Vec<_>> = parts.iter().rev().map(|m| m.script(super::error::Direction::Down).map(|d| (m, d))).collect();
    let reversible = downs.is_some();
    if let Some(downs) = downs {
        let down_tx = downs.iter().all(|(_, d)| d.transaction);
        text.push_str(&format!("\n-- migrate:down{}\n", if down_tx { "" } else { " transaction:false" }));
        for (m, d) in downs {
            let opt = opted_out(&d.path) && d.sql.contains("${");
            text.push_str(&format!("\n-- from {}\n{}\n", m.label(), part_text(&d.sql, opt).trim_end()));
        }
    }
    let (data_kept, data_dropped) = if data == DataPolicy::Drop { (Vec::new(), found_data) } else { (found_data, Vec::new()) };
    Ok(SquashedFile { file_name: format!("{}_squashed.sql", last.version), text, replaces: replaced, reversible, data_kept, data_dropped })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::source::{Script, checksum};
    use std::path::PathBuf;

    fn sql(version: i64, up: &str, down: Option<&str>) -> Migration {
        let script = |s: &str| Script { sql: s.to_string(), path: PathBuf::from(format!("{version}_m.sql")), first_line: 2, transaction: true };
        Migration {
            version,
            name: "m".into(),
            path: PathBuf::from(format!("{version}_m.sql")),
            checksum: checksum([up]),
            body: Body::Sql { up: script(up), down: down.map(script) },
        }
    }

    fn row(version: i64, checksum: &str) -> AppliedMigration {
        AppliedMigration {
            version,
            name: "m".into(),
            kind: "sql".into(),
            checksum: checksum.into(),
            status: RowStatus::Applied,
            applied_at: format!("2024-01-0{version}"),
            execution_ms: 1,
        }
    }

    #[test]
    fn builds_concatenated_up_and_reversed_down() {
        let a = sql(1, "CREATE TABLE a (id int);\n", Some("DROP TABLE a;\n"));
        let b = sql(2, "CREATE TABLE b (id int);\n", Some("DROP TABLE b;\n"));
        let f = build(&[&a, &b], DataPolicy::Refuse, |_| false).unwrap();
        assert_eq!(f.file_name, "2_squashed.sql");
        assert_eq!(f.replaces, [1, 2]);
        let up = f.text.find("CREATE TABLE a").unwrap();
        assert!(up < f.text.find("CREATE TABLE b").unwrap());
        let down = f.text.find("-- migrate:down").unwrap();
        assert!(f.text[down..].find("DROP TABLE b").unwrap() < f.text[down..].find("DROP TABLE a").unwrap());
        assert!(f.text.starts_with("-- migrate:up\n-- db-migrate:replaces 1,2\n"));
        let (u, _) = crate::migrate::source::parse_marked(&f.text, Path::new("x.sql")).unwrap();
        let squashed = Migration { body: Body::Sql { up: u, down: None }, ..a.clone() };
        assert_eq!(replaces(&squashed), Some(vec![1, 2]));
        // No down when a part has none.
        let c = sql(3, "CREATE TABLE c (id int);\n", None);
        assert!(!build(&[&a, &c], DataPolicy::Refuse, |_| false).unwrap().reversible);
    }

    #[test]
    fn data_changes_need_a_decision() {
        let a = sql(1, "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n", None);
        match build(&[&a], DataPolicy::Refuse, |_| false) {
            Err(Refusal::DataChanges(d)) => assert_eq!(d, ["1_m.sql:3 INSERT"]),
            other => panic!("{other:?}"),
        }
        assert!(build(&[&a], DataPolicy::Keep, |_| false).unwrap().text.contains("INSERT INTO a"));
        let dropped = build(&[&a], DataPolicy::Drop, |_| false).unwrap();
        assert!(!dropped.text.contains("INSERT") && dropped.text.contains("CREATE TABLE a"));
    }

    #[test]
    fn opted_out_placeholders_are_escaped() {
        let a = sql(1, "SELECT '${x}';\n", None);
        let f = build(&[&a], DataPolicy::Refuse, |_| true).unwrap();
        assert!(f.text.contains("SELECT '$${x}';"), "{}", f.text);
        let b = sql(2, "SELECT '${y}';\n", None);
        assert!(matches!(build(&[&a, &b], DataPolicy::Refuse, |p| p == Path::new("1_m.sql")), Err(Refusal::MixedPlaceholders(_))));
    }

    #[test]
    fn reconcile_records_when_all_replaced_are_applied() {
        let squashed = sql(2, "-- db-migrate:replaces 1,2\nCREATE TABLE a (id int);\n", None);
        let ms = vec![squashed.clone(), sql(3, "SELECT 1;", None)];
        // Fresh database: nothing to record, nothing hidden.
        assert_eq!(reconcile(&ms, &[]).unwrap(), Reconciled::default());
        // Both applied with the old files: the squashed one is recorded, version 1 hidden.
        let r = reconcile(&ms, &[row(1, "old1"), row(2, "old2")]).unwrap();
        assert_eq!(r.record, [0]);
        assert_eq!(r.history.len(), 1);
        assert_eq!((r.history[0].version, r.history[0].checksum.as_str()), (2, squashed.checksum.as_str()));
        // Recorded already: only the old rows are hidden.
        let r = reconcile(&ms, &[row(1, "old1"), row(2, &squashed.checksum)]).unwrap();
        assert!(r.record.is_empty());
        assert_eq!(r.history.len(), 1);
        // Partly applied: refused.
        let e = reconcile(&ms, &[row(1, "old1")]).unwrap_err();
        assert_eq!((e.applied, e.missing), (vec![1], vec![2]));
        // Squashed again (1..4 replaced) on a database that ran the first squashed migration
        // fresh: it has rows 2 (the old squashed one), 3 and 4 only, and is up to date.
        let again = sql(4, "-- db-migrate:replaces 1,2,3,4\nCREATE TABLE a (id int);\n", None);
        let r = reconcile(&[again.clone()], &[row(2, &squashed.checksum), row(3, "c3"), row(4, "c4")]).unwrap();
        assert_eq!(r.record, [0]);
        assert_eq!(r.history.iter().map(|h| h.version).collect::<Vec<_>>(), [4]);
    }
}
