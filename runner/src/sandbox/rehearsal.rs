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
}

/// What a rehearsal wrote down, bounded.
#[derive(Debug, Default)]
pub struct Recorder {
    /// The statements, in order.
    pub sent: Vec<Sent>,
    /// Statements past the bounds, counted only.
    pub dropped: u64,
    bytes: usize,
}

impl Recorder {
    /// Writes down one statement (`rows`: a batch's row count; `params` is then its first row).
    pub fn note(&mut self, sql: &str, params: &[SqlValue], rows: Option<usize>, read: bool) {
        if self.sent.len() >= MAX_STATEMENTS || self.bytes + sql.len() > MAX_BYTES {
            self.dropped += 1;
            return;
        }
        self.bytes += sql.len();
        self.sent.push(Sent { sql: sql.to_string(), params: params.iter().map(literal).collect(), rows, read });
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
        Rehearsal { statements: Vec::new(), not_shown: 0, stopped: None, skipped: Some(reason.into()) }
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
    fn a_recorder_keeps_a_bounded_number_of_statements() {
        let mut r = Recorder::default();
        for _ in 0..MAX_STATEMENTS + 5 {
            r.note("SELECT 1", &[], None, true);
        }
        assert_eq!(r.sent.len(), MAX_STATEMENTS);
        assert_eq!(r.dropped, 5);
    }
}
