//! `lint`: zero-downtime hazards in SQL migrations, found before they reach production.
//!
//! Each statement is parsed with `sqlparser` for the database's dialect and checked against the
//! rules below; a statement that does not parse is reported (DM000), never skipped. A finding is
//! suppressed by a comment on the statement or the line before it:
//! `-- db-migrate:nolint DM006 the column was unused since v42` (a reason is required).

use serde::Serialize;
use sqlparser::ast::{AlterColumnOperation, AlterTableOperation, ColumnOption, DataType, Expr, ObjectType, Statement, TableConstraint};
use sqlparser::dialect::{Dialect as SqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

use db_migrate::backend::Dialect;
use db_migrate::migrate::source::Script;
use db_migrate::migrate::statements;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Warning,
    /// Blocks a production `up` (unless `--force`).
    Error,
}

/// A rule: its ID, severity, why it matters and what to do instead.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rule {
    /// `DM001`…
    pub id: &'static str,
    /// Severity.
    pub severity: Severity,
    /// One line: why.
    pub why: &'static str,
    /// The safe alternative.
    pub fix: &'static str,
}

/// Every rule, for `lint --rules` and the docs.
pub const RULES: &[Rule] = &[
    Rule { id: "DM000", severity: Severity::Warning, why: "the statement could not be parsed, so no rule could check it", fix: "check it by hand, or suppress with a reason" },
    Rule { id: "DM001", severity: Severity::Error, why: "CREATE INDEX without CONCURRENTLY blocks writes to the table while the index builds", fix: "CREATE INDEX CONCURRENTLY, in a migration marked transaction:false" },
    Rule { id: "DM002", severity: Severity::Error, why: "DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table", fix: "DROP INDEX CONCURRENTLY, in a migration marked transaction:false" },
    Rule { id: "DM003", severity: Severity::Error, why: "CONCURRENTLY cannot run inside a transaction block: PostgreSQL refuses it", fix: "mark the migration `-- migrate:up transaction:false` and keep the statement alone" },
    Rule { id: "DM004", severity: Severity::Error, why: "adding a NOT NULL column without a default fails on a non-empty table (and locks it)", fix: "add it nullable (or with a constant default), backfill, then set NOT NULL" },
    Rule { id: "DM005", severity: Severity::Warning, why: "renaming a column or table breaks the running application's queries", fix: "expand/contract: add the new name, write both, move readers, then drop the old" },
    Rule { id: "DM006", severity: Severity::Warning, why: "dropping a column or table loses data and breaks application versions still reading it", fix: "stop using it in a deploy first; drop it in a later migration" },
    Rule { id: "DM007", severity: Severity::Error, why: "changing a column's type rewrites the table under an exclusive lock", fix: "add a new column, backfill in batches, switch readers, drop the old one" },
    Rule { id: "DM008", severity: Severity::Error, why: "adding a foreign key or check constraint validates every row under a lock", fix: "ADD CONSTRAINT … NOT VALID, then ALTER TABLE … VALIDATE CONSTRAINT in a later migration" },
    Rule { id: "DM009", severity: Severity::Warning, why: "ADD CONSTRAINT UNIQUE builds its index while blocking writes", fix: "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … UNIQUE USING INDEX" },
    Rule { id: "DM010", severity: Severity::Error, why: "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock", fix: "ADD CONSTRAINT … CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (PostgreSQL 12+ skips the scan)" },
    Rule { id: "DM011", severity: Severity::Warning, why: "a volatile default (random(), clock_timestamp(), gen_random_uuid()…) rewrites the whole table", fix: "add the column without a default, backfill in batches, then set the default" },
    Rule { id: "DM012", severity: Severity::Warning, why: "DDL without a lock_timeout can queue behind a long query and block every other query meanwhile", fix: "start the migration with SET lock_timeout = '5s' (and retry on timeout)" },
    Rule { id: "DM013", severity: Severity::Warning, why: "`json` keeps text, cannot be indexed and is slower to query than `jsonb`", fix: "use jsonb" },
    Rule { id: "DM014", severity: Severity::Warning, why: "this ALTER TABLE copies the table on MySQL/MariaDB, blocking writes for its duration", fix: "ALGORITHM=INSTANT or INPLACE with LOCK=NONE where the server allows it, or an online schema change tool (gh-ost, pt-online-schema-change)" },
];

fn rule(id: &str) -> &'static Rule {
    RULES.iter().find(|r| r.id == id).expect("known rule")
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The file.
    pub file: String,
    /// Line of the statement.
    pub line: usize,
    /// The rule.
    pub rule: &'static str,
    /// Its severity.
    pub severity: Severity,
    /// What was found, and why it matters.
    pub message: String,
    /// The safe alternative.
    pub fix: &'static str,
}

fn parser_dialect(d: Dialect) -> Box<dyn SqlDialect> {
    match d {
        Dialect::Postgres => Box::new(PostgreSqlDialect {}),
        Dialect::Mysql => Box::new(MySqlDialect {}),
        Dialect::Sqlite => Box::new(SQLiteDialect {}),
    }
}

const VOLATILE: &[&str] = &["random", "clock_timestamp", "gen_random_uuid", "uuid_generate_v4", "uuid_generate_v1", "timeofday", "nextval"];

fn volatile(e: &Expr) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    VOLATILE.iter().any(|f| text.contains(&format!("{f}(")))
}

/// Rules suppressed for the statement starting at `line` (1-based within `sql`): by comments on
/// that line, inside the statement, or on the line before.
fn suppressed(sql: &str, line: usize, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = sql.lines().collect();
    // The statement's own source lines (a trailing comment after its `;` included), and the
    // line before it.
    let span = text.lines().count().max(1);
    let mut candidates: Vec<&str> = lines.iter().skip(line.saturating_sub(2)).take(span + 1).copied().collect();
    candidates.extend(text.lines());
    for l in candidates {
        if let Some(rest) = l.split("db-migrate:nolint").nth(1) {
            let mut words = rest.split_whitespace();
            if let (Some(id), Some(_reason)) = (words.next(), words.next()) {
                out.push(id.to_ascii_uppercase());
            }
        }
    }
    out
}

/// Lints one script. `created` holds tables created earlier in the same script (rules about
/// locking existing tables do not apply to them).
pub fn lint_script(script: &Script, dialect: Dialect) -> Vec<Finding> {
    let file = script.path.display().to_string();
    let mut findings = Vec::new();
    let mut created: Vec<String> = Vec::new();
    let stmts = statements::split(&script.sql);
    let pg = dialect == Dialect::Postgres;
    let mysql = dialect == Dialect::Mysql;
    let has_lock_timeout = script.sql.to_ascii_lowercase().contains("lock_timeout");
    let mut ddl_on_existing = None;
    for st in &stmts {
        let text = st.text.trim();
        let line = script.file_line(st.line);
        let skip = suppressed(&script.sql, st.line, text);
        let mut push = |id: &'static str, what: String| {
            if skip.iter().any(|s| s == id) {
                return;
            }
            let r = rule(id);
            findings.push(Finding { file: file.clone(), line, rule: id, severity: r.severity, message: format!("{what}: {}", r.why), fix: r.fix });
        };
        let upper = text.to_ascii_uppercase();
        let words: Vec<&str> = upper.split_whitespace().collect();
        // Lexical checks first: they need no parse (and sqlparser reads some of them poorly).
        if pg && upper.contains("CONCURRENTLY") && script.transaction {
            push("DM003", "CONCURRENTLY in a transactional migration".into());
        }
        if pg && words.starts_with(&["DROP", "INDEX"]) && !upper.contains("CONCURRENTLY") {
            push("DM002", "DROP INDEX".into());
            continue;
        }
        if words.first() == Some(&"SET") || words.first() == Some(&"RESET") {
            continue;
        }
        let parsed = Parser::parse_sql(&*parser_dialect(dialect), text);
        let stmt = match parsed {
            Ok(mut v) if v.len() == 1 => v.remove(0),
            Ok(_) => continue,
            Err(e) => {
                push("DM000", format!("`{}…` does not parse ({e})", text.chars().take(40).collect::<String>()));
                continue;
            }
        };
        let is_new = |name: &str| created.iter().any(|c| c.eq_ignore_ascii_case(name));
        match &stmt {
            Statement::CreateTable(t) => {
                created.push(t.name.to_string());
                if pg && t.columns.iter().any(|c| matches!(c.data_type, DataType::JSON)) {
                    push("DM013", format!("table {} has a `json` column", t.name));
                }
            }
            Statement::CreateIndex(ix) => {
                let table = ix.table_name.to_string();
                if pg && !ix.concurrently && !is_new(&table) {
                    push("DM001", format!("CREATE INDEX on {table}"));
                }
            }
            Statement::Drop { object_type, names, .. } => match object_type {
                ObjectType::Table => push("DM006", format!("DROP TABLE {}", names.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "))),
                _ => {}
            },
            Statement::AlterTable(at) => {
                let table = at.name.to_string();
                let existing = !is_new(&table);
                if existing && ddl_on_existing.is_none() {
                    ddl_on_existing = Some(line);
                }
                let mut instant = false;
                for op in &at.operations {
                    if let AlterTableOperation::Algorithm { algorithm, .. } = op {
                        let a = algorithm.to_string().to_ascii_uppercase();
                        instant = a.contains("INSTANT") || a.contains("INPLACE");
                    }
                }
                for op in &at.operations {
                    match op {
                        AlterTableOperation::AddColumn { column_def, .. } => {
                            let not_null = column_def.options.iter().any(|o| matches!(o.option, ColumnOption::NotNull));
                            let default = column_def.options.iter().find_map(|o| match &o.option {
                                ColumnOption::Default(e) => Some(e),
                                _ => None,
                            });
                            if existing && not_null && default.is_none() {
                                push("DM004", format!("{table}.{} is NOT NULL without a default", column_def.name));
                            }
                            if existing && default.is_some_and(volatile) {
                                push("DM011", format!("{table}.{} defaults to a volatile expression", column_def.name));
                            }
                            if pg && matches!(column_def.data_type, DataType::JSON) {
                                push("DM013", format!("{table}.{} is `json`", column_def.name));
                            }
                        }
                        AlterTableOperation::RenameColumn { old_column_name, new_column_name } => {
                            push("DM005", format!("{table}.{old_column_name} renamed to {new_column_name}"));
                        }
                        AlterTableOperation::RenameTable { .. } => push("DM005", format!("table {table} renamed")),
                        AlterTableOperation::DropColumn { column_names, .. } => {
                            let cols: Vec<String> = column_names.iter().map(|c| c.to_string()).collect();
                            push("DM006", format!("{table}: DROP COLUMN {}", cols.join(", ")));
                        }
                        AlterTableOperation::AlterColumn { column_name, op } => match op {
                            AlterColumnOperation::SetDataType { .. } if existing && !mysql => push("DM007", format!("{table}.{column_name} changes type")),
                            AlterColumnOperation::SetNotNull if pg && existing => push("DM010", format!("{table}.{column_name} SET NOT NULL")),
                            _ => {}
                        },
                        AlterTableOperation::ModifyColumn { col_name, .. } | AlterTableOperation::ChangeColumn { old_name: col_name, .. } if existing => {
                            push("DM007", format!("{table}.{col_name} is redefined"));
                            if mysql && !instant {
                                push("DM014", format!("ALTER TABLE {table} MODIFY/CHANGE"));
                            }
                        }
                        AlterTableOperation::AddConstraint { constraint, not_valid } if existing => match constraint {
                            TableConstraint::ForeignKey(_) | TableConstraint::Check(_) if pg && !not_valid => {
                                push("DM008", format!("{table}: a constraint added without NOT VALID"));
                            }
                            TableConstraint::Unique(_) if pg => push("DM009", format!("{table}: ADD CONSTRAINT UNIQUE")),
                            TableConstraint::PrimaryKey(_) if mysql && !instant => push("DM014", format!("ALTER TABLE {table} ADD PRIMARY KEY")),
                            _ => {}
                        },
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if pg && !has_lock_timeout {
        if let Some(line) = ddl_on_existing {
            let r = rule("DM012");
            if !suppressed(&script.sql, 1, &script.sql).iter().any(|s| s == "DM012") {
                findings.push(Finding { file, line, rule: "DM012", severity: r.severity, message: format!("ALTER TABLE on an existing table: {}", r.why), fix: r.fix });
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint(sql: &str, dialect: Dialect, transaction: bool) -> Vec<&'static str> {
        let s = Script { sql: sql.to_string(), path: "m.sql".into(), first_line: 1, transaction };
        lint_script(&s, dialect).into_iter().map(|f| f.rule).collect()
    }

    #[test]
    fn postgres_hazards_are_found() {
        let pg = Dialect::Postgres;
        assert_eq!(lint("CREATE INDEX i ON users (email);", pg, true), ["DM001"]);
        assert_eq!(lint("CREATE TABLE t (id int);\nCREATE INDEX i ON t (id);", pg, true), Vec::<&str>::new(), "a new table is fine");
        assert_eq!(lint("CREATE INDEX CONCURRENTLY i ON users (email);", pg, true), ["DM003"]);
        assert_eq!(lint("CREATE INDEX CONCURRENTLY i ON users (email);", pg, false), Vec::<&str>::new());
        assert_eq!(lint("DROP INDEX i;", pg, true), ["DM002"]);
        assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN age int NOT NULL;", pg, true), ["DM004"]);
        assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE users RENAME COLUMN a TO b;", pg, true), ["DM005"]);
        assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE users DROP COLUMN a;", pg, true), ["DM006"]);
        assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE users ALTER COLUMN a TYPE bigint;", pg, true), ["DM007"]);
        assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE posts ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id);", pg, true), ["DM008"]);
        assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE posts ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id) NOT VALID;", pg, true), Vec::<&str>::new());
        assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE users ADD CONSTRAINT u UNIQUE (email);", pg, true), ["DM009"]);
        assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE users ALTER COLUMN email SET NOT NULL;", pg, true), ["DM010"]);
        assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();", pg, true), ["DM011"]);
        assert_eq!(lint("ALTER TABLE users ADD COLUMN note text;", pg, true), ["DM012"]);
        assert_eq!(lint("CREATE TABLE t (doc json);", pg, true), ["DM013"]);
        assert_eq!(lint("DROP TABLE users;", pg, true), ["DM006"]);
        assert_eq!(lint("FROB the database;", pg, true), ["DM000"]);
    }

    #[test]
    fn mysql_table_copies_are_found() {
        let my = Dialect::Mysql;
        assert!(lint("ALTER TABLE users MODIFY COLUMN name VARCHAR(200) NOT NULL;", my, true).contains(&"DM014"));
        assert!(!lint("ALTER TABLE users MODIFY COLUMN name VARCHAR(200) NOT NULL, ALGORITHM=INPLACE;", my, true).contains(&"DM014"));
        assert_eq!(lint("CREATE INDEX i ON users (email);", my, true), Vec::<&str>::new(), "online on InnoDB");
    }

    #[test]
    fn suppressions_need_a_reason() {
        let pg = Dialect::Postgres;
        assert_eq!(lint("-- db-migrate:nolint DM006 unused since v42\nDROP TABLE users;", pg, true), Vec::<&str>::new());
        assert_eq!(lint("DROP TABLE users; -- db-migrate:nolint DM006 unused since v42", pg, true), Vec::<&str>::new());
        assert_eq!(lint("-- db-migrate:nolint DM006\nDROP TABLE users;", pg, true), ["DM006"], "no reason, no suppression");
    }
}
