//! The planner: pure functions from (migrations on disk, history rows) to what to do.
//!
//! Nothing here touches a database or a file, so every rule of the runner — drift, dirty rows,
//! out-of-order migrations, irreversible ones, targets — is unit-tested below.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::error::{Direction, MigrationRef, PlanError};
use super::history::{AppliedMigration, RowStatus};
use super::source::Migration;

/// The state of one migration, as `status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum State {
    /// In the history, checksum matches.
    Applied,
    /// On disk, not in the history.
    Pending,
    /// In the history, but the file changed since.
    Modified,
    /// In the history, but no file has its version.
    Missing,
    /// Recorded as started but not finished (non-transactional failure).
    Dirty,
}

impl State {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Modified => "modified",
            State::Missing => "missing",
            State::Dirty => "dirty",
        }
    }

    /// The name marked `*`, as `status` shows a pending migration older than the newest
    /// applied one.
    pub fn as_str_starred(self) -> &'static str {
        match self {
            State::Applied => "applied*",
            State::Pending => "pending*",
            State::Modified => "modified*",
            State::Missing => "missing*",
            State::Dirty => "dirty*",
        }
    }
}

/// One line of `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusEntry {
    /// Version.
    pub version: i64,
    /// Name (from the file, else from the history).
    pub name: String,
    /// Kind (`sql`, …).
    pub kind: String,
    /// State.
    pub state: State,
    /// When applied, if it was.
    pub applied_at: Option<String>,
    /// How long it took, if applied.
    pub execution_ms: Option<i64>,
    /// The file, if there is one.
    pub file: Option<String>,
    /// Pending, but older than the newest applied migration (merged from another branch, say):
    /// `up` refuses it unless out-of-order migrations are allowed.
    pub out_of_order: bool,
}

impl StatusEntry {
    fn as_ref(&self) -> MigrationRef {
        MigrationRef { version: self.version, name: self.name.clone() }
    }
}

/// The state of every migration known from either side, by version.
pub fn status(migrations: &[Migration], history: &[AppliedMigration]) -> Vec<StatusEntry> {
    merge(migrations, history)
        .into_iter()
        .map(|line| match (line.file.map(|i| &migrations[i]), line.row.map(|i| &history[i])) {
            (Some(m), h) => line.entry(m.version, m.name.clone(), h.map(|h| (h.applied_at.clone(), h.execution_ms)), Some(path_text(m.path.clone())), m.kind().as_str().to_string()),
            (None, Some(h)) => line.entry(h.version, h.name.clone(), Some((h.applied_at.clone(), h.execution_ms)), None, h.kind.clone()),
            (None, None) => unreachable!("every line has a file or a row"),
        })
        .collect()
}

/// [`status`] of lists the caller is done with: names, times and paths are moved into the
/// entries rather than copied (for a thousand migrations, three thousand allocations less on
/// `status`'s critical path).
pub fn status_owned(migrations: Vec<Migration>, history: Vec<AppliedMigration>) -> Vec<StatusEntry> {
    let lines = merge(&migrations, &history);
    // Each file and each row is on one line at most: taken once.
    let mut migrations: Vec<Option<Migration>> = migrations.into_iter().map(Some).collect();
    let mut history: Vec<Option<AppliedMigration>> = history.into_iter().map(Some).collect();
    lines
        .into_iter()
        .map(|line| match (line.file.and_then(|i| migrations[i].take()), line.row.and_then(|i| history[i].take())) {
            (Some(m), h) => {
                let kind = m.kind().as_str().to_string();
                line.entry(m.version, m.name, h.map(|h| (h.applied_at, h.execution_ms)), Some(path_text(m.path)), kind)
            }
            (None, Some(h)) => line.entry(h.version, h.name, Some((h.applied_at, h.execution_ms)), None, h.kind),
            (None, None) => unreachable!("every line has a file or a row"),
        })
        .collect()
}

/// A path as `status` shows it (not through `Display`: for a thousand files the formatting
/// machinery showed).
fn path_text(path: std::path::PathBuf) -> String {
    path.into_os_string().into_string().unwrap_or_else(|p| p.to_string_lossy().into_owned())
}

/// One line of `status` before its values are filled in: which file (index into the
/// migrations) and which history row make it.
struct Line {
    file: Option<usize>,
    row: Option<usize>,
    state: State,
    out_of_order: bool,
}

impl Line {
    fn entry(&self, version: i64, name: String, applied: Option<(String, i64)>, file: Option<String>, kind: String) -> StatusEntry {
        let (applied_at, execution_ms) = applied.map_or((None, None), |(at, ms)| (Some(at), Some(ms)));
        StatusEntry { version, name, kind, state: self.state, applied_at, execution_ms, file, out_of_order: self.out_of_order }
    }
}

/// The lines of `status`, by version: a merge of the two lists. Both usually arrive sorted
/// (discovery sorts the files, the history is read in version order), and sorting sorted
/// indices is one linear pass: for a thousand migrations, two maps' worth of allocations showed
/// in `status`'s profile.
fn merge(migrations: &[Migration], history: &[AppliedMigration]) -> Vec<Line> {
    let mut files: Vec<usize> = (0..migrations.len()).collect();
    files.sort_by_key(|&i| migrations[i].version);
    let mut rows: Vec<usize> = (0..history.len()).collect();
    rows.sort_by_key(|&i| history[i].version);
    let newest = history.iter().map(|h| h.version).max();
    let mut out: Vec<Line> = Vec::with_capacity(files.len().max(rows.len()));
    let (mut f, mut r) = (files.into_iter().peekable(), rows.into_iter().peekable());
    loop {
        let line = match (f.peek().map(|&i| &migrations[i]), r.peek().map(|&i| &history[i])) {
            (None, None) => break,
            (Some(m), h) if h.is_none_or(|h| m.version <= h.version) => {
                // Of files or rows sharing a version (discovery and the history's key prevent
                // it), the last one counts.
                let version = m.version;
                let mut file = f.next().expect("peeked");
                while let Some(next) = f.next_if(|&n| migrations[n].version == version) {
                    file = next;
                }
                let mut row = None;
                while let Some(next) = r.next_if(|&n| history[n].version == version) {
                    row = Some(next);
                }
                let (m, h) = (&migrations[file], row.map(|i| &history[i]));
                let state = match h {
                    None => State::Pending,
                    Some(h) if h.status == RowStatus::Dirty => State::Dirty,
                    Some(h) if h.checksum != m.checksum => State::Modified,
                    Some(_) => State::Applied,
                };
                Line { file: Some(file), row, state, out_of_order: h.is_none() && newest.is_some_and(|n| version < n) }
            }
            (_, Some(h)) => {
                // A version with no file: its first row counts, the others are skipped.
                let version = h.version;
                let row = r.next().expect("peeked");
                while r.next_if(|&n| history[n].version == version).is_some() {}
                let state = if history[row].status == RowStatus::Dirty { State::Dirty } else { State::Missing };
                Line { file: None, row: Some(row), state, out_of_order: false }
            }
            (Some(_), None) => unreachable!("a file with no row left is taken by the arm above"),
        };
        out.push(line);
    }
    out
}

/// One thing to do: apply or revert the migration at `index` of the migrations slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Up or down.
    pub direction: Direction,
    /// Index into the `migrations` slice given to the planner.
    pub index: usize,
}

/// Options of `up`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpOptions {
    /// Apply up to and including this version.
    pub to: Option<i64>,
    /// Accept pending migrations older than the newest applied one.
    pub allow_out_of_order: bool,
}

/// How far `down` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownTarget {
    /// Revert the newest `n` applied migrations.
    Steps(usize),
    /// Revert every applied migration newer than this version (which stays applied).
    To(i64),
    /// Revert everything.
    All,
}

fn refs(entries: &[&StatusEntry]) -> Vec<MigrationRef> {
    entries.iter().map(|e| e.as_ref()).collect()
}

fn refuse_dirty(entries: &[StatusEntry]) -> Result<(), PlanError> {
    let dirty: Vec<&StatusEntry> = entries.iter().filter(|e| e.state == State::Dirty).collect();
    if dirty.is_empty() { Ok(()) } else { Err(PlanError::Dirty(refs(&dirty))) }
}

/// Checks that applied migrations still match their files (what `validate` reports).
pub fn check_drift(entries: &[StatusEntry]) -> Result<(), PlanError> {
    let modified: Vec<&StatusEntry> = entries.iter().filter(|e| e.state == State::Modified).collect();
    let missing: Vec<&StatusEntry> = entries.iter().filter(|e| e.state == State::Missing).collect();
    if modified.is_empty() && missing.is_empty() {
        Ok(())
    } else {
        Err(PlanError::Drift { modified: refs(&modified), missing: refs(&missing) })
    }
}

/// Plans `up`: the pending migrations, oldest first, up to `opts.to`.
///
/// Refuses when anything is dirty, when applied migrations drifted from their files, when `to`
/// names no migration, and when pending migrations are older than the newest applied one
/// (unless allowed).
pub fn plan_up(migrations: &[Migration], history: &[AppliedMigration], opts: UpOptions) -> Result<Vec<Step>, PlanError> {
    let entries = status(migrations, history);
    refuse_dirty(&entries)?;
    check_drift(&entries)?;
    if let Some(to) = opts.to {
        if !entries.iter().any(|e| e.version == to) {
            return Err(PlanError::UnknownTarget(to));
        }
    }
    let applied: BTreeSet<i64> = history.iter().map(|h| h.version).collect();
    let newest = history.iter().max_by_key(|h| h.version);
    let mut steps = Vec::new();
    let mut early = Vec::new();
    for (index, m) in migrations.iter().enumerate() {
        if applied.contains(&m.version) || opts.to.is_some_and(|t| m.version > t) {
            continue;
        }
        if let Some(n) = newest {
            if m.version < n.version && !opts.allow_out_of_order {
                early.push(MigrationRef { version: m.version, name: m.name.clone() });
            }
        }
        steps.push(Step { direction: Direction::Up, index });
    }
    // `early` holds only migrations older than `newest`, so it is empty without one.
    if let Some(n) = newest.filter(|_| !early.is_empty()) {
        return Err(PlanError::OutOfOrder { pending: early, newest: MigrationRef { version: n.version, name: n.name.clone() } });
    }
    Ok(steps)
}

/// Plans `down`: applied migrations, newest first, as far as `target` says.
///
/// Refuses when anything is dirty, when a migration to revert has no file or no down section,
/// and when `To(v)` names no migration.
pub fn plan_down(migrations: &[Migration], history: &[AppliedMigration], target: DownTarget) -> Result<Vec<Step>, PlanError> {
    let entries = status(migrations, history);
    refuse_dirty(&entries)?;
    if let DownTarget::To(v) = target {
        if !entries.iter().any(|e| e.version == v) {
            return Err(PlanError::UnknownTarget(v));
        }
    }
    let by_version: BTreeMap<i64, usize> = migrations.iter().enumerate().map(|(i, m)| (m.version, i)).collect();
    let mut applied: Vec<&AppliedMigration> = history.iter().collect();
    applied.sort_by_key(|h| std::cmp::Reverse(h.version));
    let chosen: Vec<&AppliedMigration> = match target {
        DownTarget::Steps(n) => applied.into_iter().take(n).collect(),
        DownTarget::To(v) => applied.into_iter().filter(|h| h.version > v).collect(),
        DownTarget::All => applied,
    };
    let mut steps = Vec::new();
    for h in chosen {
        let r = MigrationRef { version: h.version, name: h.name.clone() };
        let Some(&index) = by_version.get(&h.version) else {
            return Err(PlanError::MissingFile(r));
        };
        if !migrations[index].reversible() {
            return Err(PlanError::Irreversible(r));
        }
        steps.push(Step { direction: Direction::Down, index });
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::source::{Body, Script};
    use std::path::PathBuf;

    fn mig(version: i64, reversible: bool) -> Migration {
        let script = |sql: &str| Script { sql: sql.into(), path: PathBuf::from("f.sql"), first_line: 1, transaction: true };
        Migration {
            version,
            name: format!("m{version}"),
            path: PathBuf::from(format!("{version}_m{version}.sql")),
            body: Body::Sql { up: script("SELECT 1;"), down: reversible.then(|| script("SELECT 2;")) },
            checksum: format!("sum{version}"),
        }
    }

    fn row(version: i64) -> AppliedMigration {
        AppliedMigration {
            version,
            name: format!("m{version}"),
            kind: "sql".into(),
            checksum: format!("sum{version}"),
            status: RowStatus::Applied,
            applied_at: "2026-01-01T00:00:00.000Z".into(),
            execution_ms: 1,
        }
    }

    fn versions(ms: &[Migration], steps: &[Step]) -> Vec<i64> {
        steps.iter().map(|s| ms[s.index].version).collect()
    }

    #[test]
    fn up_applies_pending_in_order() {
        let ms = vec![mig(1, true), mig(2, true), mig(3, true)];
        let steps = plan_up(&ms, &[row(1)], UpOptions::default()).unwrap();
        assert_eq!(versions(&ms, &steps), vec![2, 3]);
        assert!(steps.iter().all(|s| s.direction == Direction::Up));
    }

    #[test]
    fn up_to_stops_at_target() {
        let ms = vec![mig(1, true), mig(2, true), mig(3, true)];
        let steps = plan_up(&ms, &[], UpOptions { to: Some(2), ..Default::default() }).unwrap();
        assert_eq!(versions(&ms, &steps), vec![1, 2]);
        assert_eq!(plan_up(&ms, &[], UpOptions { to: Some(9), ..Default::default() }), Err(PlanError::UnknownTarget(9)));
    }

    #[test]
    fn up_with_nothing_pending_is_empty() {
        let ms = vec![mig(1, true)];
        assert!(plan_up(&ms, &[row(1)], UpOptions::default()).unwrap().is_empty());
    }

    #[test]
    fn out_of_order_is_refused_unless_allowed() {
        let ms = vec![mig(1, true), mig(2, true), mig(3, true)];
        let hist = [row(1), row(3)];
        match plan_up(&ms, &hist, UpOptions::default()) {
            Err(PlanError::OutOfOrder { pending, newest }) => {
                assert_eq!(pending.iter().map(|p| p.version).collect::<Vec<_>>(), vec![2]);
                assert_eq!(newest.version, 3);
            }
            other => panic!("{other:?}"),
        }
        let steps = plan_up(&ms, &hist, UpOptions { allow_out_of_order: true, ..Default::default() }).unwrap();
        assert_eq!(versions(&ms, &steps), vec![2]);
    }

    #[test]
    fn drift_blocks_up() {
        let ms = vec![mig(1, true), mig(3, true)];
        let mut modified = row(1);
        modified.checksum = "other".into();
        match plan_up(&ms, &[modified, row(2)], UpOptions::default()) {
            Err(PlanError::Drift { modified, missing }) => {
                assert_eq!(modified[0].version, 1);
                assert_eq!(missing[0].version, 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dirty_blocks_up_and_down() {
        let ms = vec![mig(1, true), mig(2, true)];
        let mut dirty = row(2);
        dirty.status = RowStatus::Dirty;
        let hist = [row(1), dirty];
        assert!(matches!(plan_up(&ms, &hist, UpOptions::default()), Err(PlanError::Dirty(d)) if d[0].version == 2));
        assert!(matches!(plan_down(&ms, &hist, DownTarget::Steps(1)), Err(PlanError::Dirty(_))));
    }

    #[test]
    fn down_targets() {
        let ms = vec![mig(1, true), mig(2, true), mig(3, true)];
        let hist = [row(1), row(2), row(3)];
        assert_eq!(versions(&ms, &plan_down(&ms, &hist, DownTarget::Steps(1)).unwrap()), vec![3]);
        assert_eq!(versions(&ms, &plan_down(&ms, &hist, DownTarget::Steps(2)).unwrap()), vec![3, 2]);
        assert_eq!(versions(&ms, &plan_down(&ms, &hist, DownTarget::Steps(10)).unwrap()), vec![3, 2, 1]);
        assert_eq!(versions(&ms, &plan_down(&ms, &hist, DownTarget::To(1)).unwrap()), vec![3, 2]);
        assert_eq!(versions(&ms, &plan_down(&ms, &hist, DownTarget::All).unwrap()), vec![3, 2, 1]);
        assert!(plan_down(&ms, &[], DownTarget::Steps(1)).unwrap().is_empty());
        assert_eq!(plan_down(&ms, &hist, DownTarget::To(7)), Err(PlanError::UnknownTarget(7)));
    }

    #[test]
    fn down_refuses_irreversible_and_missing() {
        let ms = vec![mig(1, false), mig(2, true)];
        assert!(matches!(plan_down(&ms, &[row(1), row(2)], DownTarget::All), Err(PlanError::Irreversible(r)) if r.version == 1));
        // Reverting only the reversible one is fine.
        assert_eq!(plan_down(&ms, &[row(1), row(2)], DownTarget::Steps(1)).unwrap().len(), 1);
        assert!(matches!(plan_down(&ms[..1], &[row(1), row(2)], DownTarget::Steps(1)), Err(PlanError::MissingFile(r)) if r.version == 2));
    }

    #[test]
    fn status_states() {
        let ms = vec![mig(1, true), mig(2, true), mig(3, true)];
        let mut modified = row(2);
        modified.checksum = "x".into();
        let mut dirty = row(4);
        dirty.status = RowStatus::Dirty;
        let rows = [row(1), modified, dirty, row(5)];
        let st = status(&ms, &rows);
        assert_eq!(status_owned(ms.clone(), rows.to_vec()), st, "both variants agree");
        let states: Vec<(i64, State)> = st.iter().map(|e| (e.version, e.state)).collect();
        assert_eq!(
            states,
            vec![(1, State::Applied), (2, State::Modified), (3, State::Pending), (4, State::Dirty), (5, State::Missing)]
        );
        assert!(st[4].file.is_none());
        // 3 is pending while 4 and 5 are recorded: out of order.
        assert_eq!(st.iter().filter(|e| e.out_of_order).map(|e| e.version).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn status_flags_pending_migrations_older_than_the_newest_applied() {
        let ms = vec![mig(1, true), mig(2, true), mig(3, true), mig(4, true)];
        let st = status(&ms, &[row(1), row(3)]);
        let flagged: Vec<(i64, bool)> = st.iter().map(|e| (e.version, e.out_of_order)).collect();
        assert_eq!(flagged, vec![(1, false), (2, true), (3, false), (4, false)]);
        assert!(status(&ms, &[]).iter().all(|e| !e.out_of_order));
    }

    #[test]
    fn status_merges_lists_in_any_order() {
        // Files and rows out of order, rows interleaved with files, a row past the last file.
        let ms = vec![mig(5, true), mig(1, true), mig(3, true)];
        let rows = [row(6), row(3), row(2), row(1)];
        let st = status(&ms, &rows);
        assert_eq!(status_owned(ms.clone(), rows.to_vec()), st, "both variants agree");
        let states: Vec<(i64, State)> = st.iter().map(|e| (e.version, e.state)).collect();
        assert_eq!(
            states,
            vec![(1, State::Applied), (2, State::Missing), (3, State::Applied), (5, State::Pending), (6, State::Missing)]
        );
        assert_eq!(st.iter().filter(|e| e.out_of_order).map(|e| e.version).collect::<Vec<_>>(), vec![5]);
        assert!(status(&[], &[]).is_empty());
        assert_eq!(status(&[], &[row(2), row(1)]).iter().map(|e| e.version).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn status_of_duplicate_versions_keeps_one_entry_each() {
        // Not reachable through discovery or a history table, but `status` is public: the last
        // file and the last of its rows count; of rows without a file, the first.
        let (mut a, b) = (mig(1, true), mig(1, true));
        a.checksum = "other".into();
        let mut stale = row(1);
        stale.checksum = "stale".into();
        let mut first = row(2);
        first.name = "first".into();
        let rows = [stale, row(1), first, row(2)];
        let st = status(&[a.clone(), b.clone()], &rows);
        assert_eq!(status_owned(vec![a, b], rows.to_vec()), st, "both variants agree");
        let states: Vec<(i64, State)> = st.iter().map(|e| (e.version, e.state)).collect();
        assert_eq!(states, vec![(1, State::Applied), (2, State::Missing)]);
        assert_eq!(st[1].name, "first");
    }
}
