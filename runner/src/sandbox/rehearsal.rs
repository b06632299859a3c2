//! A dry run's rehearsal of a component (a knex file, an Alembic revision, any migration
//! component): the guest runs against the database as it is, its reads are answered, and every
//! statement that would change something is written down instead of sent.
//!
//! The host decides what is a read — by the class its own check gave the statement — so a guest
//! cannot talk its way into a write; the connection is also read-only on the database's side
//! (`Backend::read_only_session`), so a statement the check misjudged is refused there too.

use serde::Serialize;

use crate::backend::guest::SqlValue;

/// The most statements one rehearsal keeps; later ones are counted, not kept.
const MAX_STATEMENTS: usize = 10_000;
/// The most bytes of statement text one rehearsal keeps.
const MAX_BYTES: usize = 16 << 20;
/// The longest parameter value shown (they are shown, not kept whole).
const MAX_VALUE: usize = 200;
/// The most parameters shown per statement (a call may carry a million).
const MAX_PARAMS: usize = 32;
/// The most cursors a rehearsal holds open at once.
const MAX_CURSORS: usize = 64;

/// One statement a rehearsed component sent.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    /// The statement as the component sent it.
    pub sql: String,
    /// Its parameters, as SQL literals (long values cut).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<String>,
    /// Rows of a batch (`execute-batch`): their count; `params` shows the first row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
    /// Whether it was run (a read, answered from the database) or only written down.
    pub read: bool,
    /// Why the host refused it, when it did (a run would refuse it too, and audit it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied: Option<String>,
}

/// What a rehearsal wrote down, bounded, and the rows of the cursors it opened.
#[derive(Debug, Default)]
pub struct Recorder {
    /// The statements, in order.
    pub sent: Vec<Sent>,
    /// Statements past the bounds, counted only: once one is left out, every later one is (the
    /// list shown is always a beginning of what was sent, never a selection).
    pub dropped: u64,
    /// Of those, the ones that were not reads: a run would send them (or refuse them).
    pub dropped_changes: u64,
    bytes: usize,
    /// A rehearsal's cursors are read whole, within the result cap, when opened: a database
    /// cursor needs what a read-only session may not have (SQLite's and MariaDB's temporary
    /// tables, PostgreSQL's transaction).
    cursors: std::collections::HashMap<u64, (std::collections::VecDeque<Vec<SqlValue>>, usize)>,
    next_cursor: u64,
    /// Bytes of values the open cursors hold, together (one result cap for all of them: a
    /// guest opening many would otherwise hold many caps' worth in the host).
    cursor_bytes: usize,
}

/// What a row takes in the host, generously: the row's vector and allocation, each value's
/// enum, and the bytes its text or blob holds.
fn row_bytes(row: &[SqlValue]) -> usize {
    64 + row
        .iter()
        .map(|v| {
            48 + match v {
                SqlValue::Text(s) | SqlValue::Timestamp(s) | SqlValue::Json(s) => s.len(),
                SqlValue::Blob(b) => b.len(),
                _ => 0,
            }
        })
        .sum::<usize>()
}

impl Recorder {
    /// Writes down one statement (`rows`: a batch's row count; `params` is then its first row).
    pub fn note(&mut self, sql: &str, params: &[SqlValue], rows: Option<usize>, read: bool) {
        self.push(sql, params, rows, read, None);
    }

    /// Writes down a statement the host refused, and why.
    pub fn note_denied(&mut self, sql: &str, reason: &str) {
        self.push(sql, &[], None, false, Some(super::host::clip(reason, 1024).into_owned()));
    }

    fn push(&mut self, sql: &str, params: &[SqlValue], rows: Option<usize>, read: bool, denied: Option<String>) {
        let mut shown: Vec<String> = params.iter().take(MAX_PARAMS).map(literal).collect();
        if params.len() > MAX_PARAMS {
            shown.push(format!("… {} more", params.len() - MAX_PARAMS));
        }
        let bytes = sql.len() + shown.iter().map(String::len).sum::<usize>() + denied.as_ref().map_or(0, String::len);
        if self.dropped > 0 || self.sent.len() >= MAX_STATEMENTS || self.bytes + bytes > MAX_BYTES {
            self.dropped += 1;
            if !read {
                self.dropped_changes += 1;
            }
            return;
        }
        self.bytes += bytes;
        self.sent.push(Sent { sql: sql.to_string(), params: shown, rows, read, denied });
    }

    /// Holds a cursor's rows, unless the open cursors would then hold more than `max_bytes`
    /// together; returns its id.
    pub fn open_cursor(&mut self, rows: Vec<Vec<SqlValue>>, max_bytes: usize) -> Result<u64, String> {
        if self.cursors.len() >= MAX_CURSORS {
            return Err(format!("a dry run holds at most {MAX_CURSORS} cursors open at once; close one first"));
        }
        let bytes: usize = rows.iter().map(|r| row_bytes(r)).sum();
        if self.cursor_bytes + bytes > max_bytes {
            return Err(format!(
                "a dry run holds its cursors' rows in memory, and the open cursors would hold more than {} MiB together (`max_result_mib`); close one first",
                max_bytes >> 20
            ));
        }
        self.cursor_bytes += bytes;
        self.next_cursor += 1;
        self.cursors.insert(self.next_cursor, (rows.into(), bytes));
        Ok(self.next_cursor)
    }

    /// The next page of a cursor opened by [`Recorder::open_cursor`] (`None` at its end).
    pub fn cursor_page(&mut self, id: u64, max_rows: usize) -> Option<Vec<Vec<SqlValue>>> {
        let (rows, _) = self.cursors.get_mut(&id)?;
        if rows.is_empty() {
            return None;
        }
        let n = max_rows.min(rows.len());
        Some(rows.drain(..n).collect())
    }

    /// Forgets a cursor.
    pub fn close_cursor(&mut self, id: u64) {
        if let Some((_, bytes)) = self.cursors.remove(&id) {
            self.cursor_bytes -= bytes;
        }
    }
}

/// A value as a SQL literal, for reading (not for running: long values are cut).
pub fn literal(v: &SqlValue) -> String {
    let quoted = |s: &str| {
        let s = super::host::clip(s, MAX_VALUE);
        format!("'{}'", s.replace('\'', "''"))
    };
    match v {
        SqlValue::Null => "NULL".into(),
        SqlValue::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        SqlValue::Int(i) => i.to_string(),
        SqlValue::Float(f) => f.to_string(),
        SqlValue::Text(s) | SqlValue::Timestamp(s) | SqlValue::Json(s) => quoted(s),
        SqlValue::Blob(b) => {
            let shown: String = b.iter().take(MAX_VALUE / 2).map(|x| format!("{x:02x}")).collect();
            if b.len() > MAX_VALUE / 2 { format!("x'{shown}'… ({} bytes)", b.len()) } else { format!("x'{shown}'") }
        }
    }
}

/// The outcome of one rehearsal, as a dry run reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Rehearsal {
    /// What the component sent, in order.
    pub statements: Vec<Sent>,
    /// Statements past the rehearsal's bounds (counted, not shown).
    #[serde(skip_serializing_if = "is_zero")]
    pub not_shown: u64,
    /// Of those, the ones that were not reads.
    #[serde(skip_serializing_if = "is_zero")]
    pub changes_not_shown: u64,
    /// Why reads were not sent either, when they were not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reads_held: Option<String>,
    /// Why the rehearsal stopped before the component finished, if it did. A later statement
    /// may read what an earlier one (or an earlier pending migration) would have created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Why the component was not rehearsed at all, if it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Rehearsal {
    /// A component that was not run, and why.
    pub fn skipped(reason: impl Into<String>) -> Self {
        Rehearsal { statements: Vec::new(), not_shown: 0, changes_not_shown: 0, reads_held: None, stopped: None, skipped: Some(reason.into()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_shown_as_literals_and_long_ones_are_cut() {
        assert_eq!(literal(&SqlValue::Text("it's".into())), "'it''s'");
        assert_eq!(literal(&SqlValue::Null), "NULL");
        assert_eq!(literal(&SqlValue::Int(-3)), "-3");
        assert_eq!(literal(&SqlValue::Blob(vec![1, 255])), "x'01ff'");
        assert!(literal(&SqlValue::Text("a".repeat(5000))).contains("more bytes cut"));
        assert!(literal(&SqlValue::Blob(vec![0; 5000])).ends_with("(5000 bytes)"));
    }

    #[test]
    fn a_recorder_keeps_a_bounded_beginning_of_the_statements() {
        let mut r = Recorder::default();
        for _ in 0..MAX_STATEMENTS + 5 {
            r.note("SELECT 1", &[], None, true);
        }
        r.note("DROP TABLE users", &[], None, false);
        assert_eq!(r.sent.len(), MAX_STATEMENTS);
        assert_eq!((r.dropped, r.dropped_changes), (6, 1), "a change pushed out of the list is still counted as one");
        // Past the byte budget: that statement and every later one are left out, short or not.
        let mut r = Recorder::default();
        r.note("SELECT 1", &[], None, true);
        r.note(&"x".repeat(MAX_BYTES), &[], None, false);
        r.note("SELECT 2", &[], None, true);
        assert_eq!((r.sent.len(), r.dropped), (1, 2));
    }

    #[test]
    fn parameters_shown_are_bounded_whatever_a_call_carries() {
        let mut r = Recorder::default();
        let many = vec![SqlValue::Int(7); 1_000_000];
        r.note("DELETE FROM t", &many, None, false);
        assert_eq!(r.sent[0].params.len(), MAX_PARAMS + 1);
        assert_eq!(r.sent[0].params[MAX_PARAMS], format!("… {} more", 1_000_000 - MAX_PARAMS));
    }

    #[test]
    fn cursors_hand_out_their_rows_in_pages() {
        let mut r = Recorder::default();
        let id = r.open_cursor((0..5).map(|i| vec![SqlValue::Int(i)]).collect(), 1 << 20).unwrap();
        assert_eq!(r.cursor_page(id, 2).map(|p| p.len()), Some(2));
        assert_eq!(r.cursor_page(id, 10).map(|p| p.len()), Some(3));
        assert_eq!(r.cursor_page(id, 10), None);
        r.close_cursor(id);
        assert_eq!(r.cursor_page(id, 10), None);
    }

    #[test]
    fn open_cursors_share_one_byte_cap() {
        let mut r = Recorder::default();
        let rows = || vec![vec![SqlValue::Text("x".repeat(600))]];
        let a = r.open_cursor(rows(), 1000).unwrap();
        assert!(r.open_cursor(rows(), 1000).is_err(), "two together pass the cap");
        r.close_cursor(a);
        assert!(r.open_cursor(rows(), 1000).is_ok(), "closing one makes room");
        // Values without bytes still cost their place: a million NULLs are not free.
        let nulls = vec![vec![SqlValue::Null]; 1_000_000];
        assert!(Recorder::default().open_cursor(nulls, 32 << 20).is_err());
    }
}
