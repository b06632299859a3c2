//! MySQL/MariaDB online DDL: changes the server runs as a table copy or under a blocking lock
//! (DM014, DM033, DM034, DM035).

use sqlparser::ast::{AlterTableOperation, Statement, TableConstraint};

use super::{Ctx, Out};

/// The statement without whitespace (`ALGORITHM = COPY` → `ALGORITHM=COPY`).
fn compact(c: &Ctx) -> String {
    c.upper.split_whitespace().collect()
}

/// True when the statement asks for an in-place or instant change.
fn online(c: &Ctx) -> bool {
    let s = compact(c);
    s.contains("ALGORITHM=INSTANT") || s.contains("ALGORITHM=INPLACE")
}

/// Word-level checks: the options and the forms the parser does not read.
pub fn check_words(c: &Ctx, out: &mut Out) -> bool {
    if !c.mysql() {
        return false;
    }
    let alter = c.starts(&["ALTER", "TABLE"]);
    let create_index = c.starts(&["CREATE"]) && c.words.iter().take(4).any(|w| *w == "INDEX");
    if !alter && !create_index {
        return false;
    }
    let s = compact(c);
    if s.contains("ALGORITHM=COPY") {
        out.push("DM033", "ALGORITHM=COPY");
    }
    for mode in ["EXCLUSIVE", "SHARED"] {
        if s.contains(&format!("LOCK={mode}")) {
            out.push("DM034", format!("LOCK={mode}"));
        }
    }
    let table = c.name(2);
    // Whether a form the parser cannot read was recognised here.
    let mut known = false;
    let convert = c.upper.contains(" CONVERT TO ");
    let engine = c.words.iter().any(|w| w.starts_with("ENGINE"));
    if alter && (convert || engine) {
        known = true;
        if c.existing(table) && !online(c) {
            let what = if convert { "CONVERT TO CHARACTER SET" } else { "ENGINE=" };
            out.push("DM014", format!("ALTER TABLE {table} {what}"));
        }
    }
    // `CREATE FULLTEXT|SPATIAL INDEX name ON table (…)`.
    if matches!(c.words.get(1).copied(), Some("FULLTEXT" | "SPATIAL")) {
        let on = c.words.iter().position(|w| *w == "ON").map(|i| c.name(i + 1).split('(').next().unwrap_or_default()).unwrap_or_default();
        if c.existing(on) {
            out.push("DM035", format!("CREATE {} INDEX on {on}", c.words[1]));
        }
        known = true;
    }
    known
}

/// Checks on the parsed statement.
pub fn check(c: &Ctx, stmt: &Statement, out: &mut Out) {
    if !c.mysql() {
        return;
    }
    let Statement::AlterTable(at) = stmt else { return };
    let table = at.name.to_string();
    if !c.existing(&table) {
        return;
    }
    let online = online(c);
    for op in &at.operations {
        match op {
            AlterTableOperation::ModifyColumn { col_name, .. } | AlterTableOperation::ChangeColumn { old_name: col_name, .. } if !online => {
                out.push("DM014", format!("ALTER TABLE {table} MODIFY/CHANGE {col_name}"));
            }
            AlterTableOperation::AddConstraint { constraint: TableConstraint::PrimaryKey(_), .. } if !online => out.push("DM014", format!("ALTER TABLE {table} ADD PRIMARY KEY")),
            AlterTableOperation::DropPrimaryKey { .. } => out.push("DM014", format!("ALTER TABLE {table} DROP PRIMARY KEY")),
            AlterTableOperation::AddConstraint { constraint: TableConstraint::FulltextOrSpatial(f), .. } => {
                out.push("DM035", format!("ALTER TABLE {table} ADD {}", if f.fulltext { "FULLTEXT" } else { "SPATIAL" }));
            }
            _ => {}
        }
    }
}
