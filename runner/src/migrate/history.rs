//! What the history table records about each applied migration.

use serde::Serialize;

/// The state of a history row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RowStatus {
    /// Applied and committed.
    Applied,
    /// Started outside a transaction and not finished: the schema may be half-changed.
    Dirty,
}

impl RowStatus {
    /// The text stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Applied => "applied",
            RowStatus::Dirty => "dirty",
        }
    }

    /// Reads the `status` column; anything unknown is treated as dirty, the safe reading.
    pub fn parse(s: &str) -> Self {
        if s == "applied" { RowStatus::Applied } else { RowStatus::Dirty }
    }
}

/// One row of the history table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedMigration {
    /// Version.
    pub version: i64,
    /// Name at the time it was applied.
    pub name: String,
    /// `sql` (later: `component`, …).
    pub kind: String,
    /// Checksum of the migration's content when it was applied.
    pub checksum: String,
    /// Applied or dirty.
    pub status: RowStatus,
    /// When it was applied, RFC 3339 UTC.
    pub applied_at: String,
    /// How long it took.
    pub execution_ms: i64,
}

/// The default name of the history table.
pub const DEFAULT_TABLE: &str = "db_migrate_history";

/// A history table name must be a plain identifier: it is spliced into SQL (it cannot be bound),
/// so only `[A-Za-z_][A-Za-z0-9_]*`, optionally `schema.table`, is accepted.
pub fn validate_table_name(name: &str) -> Result<(), String> {
    let ok_ident = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() <= 2 && parts.iter().all(|p| ok_ident(p)) {
        Ok(())
    } else {
        Err(format!(
            "history table name `{name}` is not a plain identifier: use letters, digits and `_` \
             (optionally `schema.table`), starting with a letter or `_`"
        ))
    }
}

/// Current time as RFC 3339 UTC with milliseconds, the format of `applied_at`.
pub fn now_utc() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    now.format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        assert!(validate_table_name("db_migrate_history").is_ok());
        assert!(validate_table_name("public.history").is_ok());
        assert!(validate_table_name("bad name").is_err());
        assert!(validate_table_name("x\"; DROP TABLE y; --").is_err());
        assert!(validate_table_name("1abc").is_err());
        assert!(validate_table_name("a.b.c").is_err());
    }

    #[test]
    fn timestamps_are_utc_rfc3339() {
        let t = now_utc();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.ends_with('Z'));
    }
}
