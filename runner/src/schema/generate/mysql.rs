//! MySQL and MariaDB: ALTER TABLE for everything. A changed column is one `MODIFY COLUMN` with
//! its whole new definition (it keeps its place); a new column goes `FIRST` or `AFTER` the
//! column before it, so the column order comes out as desired. Unique keys are unique indexes.
//! Foreign keys are dropped before the indexes they may rely on and added after the indexes
//! they need (else the server would invent an index of its own).

use std::collections::BTreeSet;

use super::order::{Phase, dependent_views, drop_order, mentions, views_in_order};
use super::{Plan, Statement, WarningKind, by_key, retyped};
use crate::schema::model::*;
use crate::schema::render::{bq, list, mysql_check, mysql_column, mysql_fk, mysql_index_element, mysql_table, mysql_table_options};

fn fk_key(f: &ForeignKey) -> String {
    f.name.clone().unwrap_or_else(|| format!("({}) -> {}", f.columns.join(", "), f.ref_table))
}

fn check_key(c: &Check) -> String {
    c.name.clone().unwrap_or_else(|| c.expression.clone())
}

pub(super) fn plan(p: &mut Plan) {
    let (from, to) = (p.from, p.to);
    let both: Vec<(&Table, &Table)> = from.tables.values().filter_map(|a| to.tables.get(&a.name).map(|b| (a, b))).collect();
    let removed: BTreeSet<&str> = from.tables.keys().filter(|n| !to.tables.contains_key(*n)).map(String::as_str).collect();
    let touched: std::collections::BTreeMap<String, BTreeSet<String>> =
        both.iter().map(|(a, b)| (a.name.clone(), retyped(a, b).into_iter().collect())).collect();
    let touches = |table: &str, text: &str| touched.get(table).is_some_and(|cols| cols.iter().any(|c| mentions(text, c)));
    let touches_cols = |table: &str, cols: &[String]| touched.get(table).is_some_and(|t| cols.iter().any(|c| t.contains(c)));
    // Tables whose keys or indexes change: their foreign keys, and those pointing at them, are
    // dropped and added again (an index a key relies on cannot be dropped under it).
    let keys_change: BTreeSet<&str> = both
        .iter()
        .filter(|(a, b)| a.primary_key != b.primary_key || a.indexes != b.indexes || a.uniques != b.uniques)
        .map(|(a, _)| a.name.as_str())
        .collect();
    let fk_stays = |t: &Table, f: &ForeignKey| {
        !touches_cols(&t.name, &f.columns)
            && !touches_cols(&f.ref_table, &f.ref_columns)
            && !keys_change.contains(f.ref_table.as_str())
            && !keys_change.contains(t.name.as_str())
    };

    // Tables that go.
    let (order, cycle) = drop_order(&from.tables, &removed);
    for name in order {
        let t = &from.tables[name];
        if cycle {
            for fk in t.foreign_keys.iter().filter(|f| removed.contains(f.ref_table.as_str()) && f.ref_table != t.name) {
                if let Some(n) = &fk.name {
                    p.push(Phase::DropForeignKeys, Statement::new(format!("ALTER TABLE {} DROP FOREIGN KEY {}", bq(name), bq(n))));
                }
            }
        }
        let mut s = Statement::new(format!("DROP TABLE {}", bq(name))).why(format!("the desired schema has no table {name}: its rows are lost"));
        if let Some(note) = p.table_rename_note(name) {
            s = s.comment(note);
        }
        p.push(Phase::DropTables, s);
    }
    // New tables, their foreign keys once every table exists.
    for t in to.tables.values().filter(|t| !from.tables.contains_key(&t.name)) {
        p.push(Phase::CreateTables, Statement::new(mysql_table(t)));
        for fk in &t.foreign_keys {
            p.push(Phase::ForeignKeys, Statement::new(format!("ALTER TABLE {} ADD {}", bq(&t.name), mysql_fk(fk))).why(format!("{} is a new table: it is empty", t.name)));
        }
    }

    // Views that go, change, or read a table whose columns change.
    let mut changed_tables: BTreeSet<String> = removed.iter().map(|s| s.to_string()).collect();
    for (a, b) in &both {
        if a.columns.iter().any(|c| b.column(&c.name) != Some(c)) {
            changed_tables.insert(a.name.clone());
        }
    }
    let seed: BTreeSet<String> = from.views.values().filter(|v| to.views.get(&v.name) != Some(*v)).map(|v| v.name.clone()).collect();
    let drop_views = dependent_views(from, &changed_tables, &seed);
    for v in views_in_order(from, &drop_views).into_iter().rev() {
        p.push(Phase::DropViews, Statement::new(format!("DROP VIEW {}", bq(&v.name))));
    }
    let create_views: BTreeSet<String> = to.views.values().filter(|v| from.views.get(&v.name) != Some(*v) || drop_views.contains(&v.name)).map(|v| v.name.clone()).collect();
    for v in views_in_order(to, &create_views) {
        p.push(Phase::CreateViews, Statement::new(format!("CREATE VIEW {} AS {}", bq(&v.name), v.definition)));
    }
    // Triggers and routines, opaque.
    for (name, tr) in &from.triggers {
        if to.triggers.get(name) != Some(tr) && !removed.contains(tr.table.as_str()) {
            p.push(Phase::DropTriggers, Statement::new(format!("DROP TRIGGER {}", bq(name))));
        }
    }
    for (name, tr) in &to.triggers {
        if from.triggers.get(name) != Some(tr) {
            p.push(Phase::CreateTriggers, Statement::new(tr.definition.clone()));
        }
    }
    for (name, f) in &to.functions {
        if let Some(old) = from.functions.get(name).filter(|o| o.definition != f.definition) {
            p.push(Phase::DropFunctions, Statement::new(format!("DROP {} {}", old.kind.to_ascii_uppercase(), bq(name))));
            p.warn(WarningKind::Unsupported, None, format!("routine {name} changes: it is dropped and created again after the tables (reorder by hand if a table needs it)"));
            p.push(Phase::CreateTriggers, Statement::new(f.definition.clone()));
        } else if !from.functions.contains_key(name) {
            p.push(Phase::Functions, Statement::new(f.definition.clone()));
        }
    }
    for (name, f) in from.functions.iter().filter(|(n, _)| !to.functions.contains_key(*n)) {
        p.push(Phase::DropFunctions, Statement::new(format!("DROP {} {}", f.kind.to_ascii_uppercase(), bq(name))));
    }

    for (a, b) in &both {
        let t = bq(&a.name);
        let tn = a.name.as_str();
        for c in a.columns.iter().filter(|c| b.column(&c.name).is_none()) {
            let mut s = Statement::new(format!("ALTER TABLE {t} DROP COLUMN {}", bq(&c.name))).why(format!("the desired schema has no column {tn}.{}: its data is lost", c.name));
            if let Some(note) = p.rename_note(tn, &c.name) {
                s = s.comment(note);
            }
            p.push(Phase::DropColumns, s);
        }
        // New columns in the desired place; changed ones keep theirs.
        for (i, c) in b.columns.iter().enumerate() {
            match a.column(&c.name) {
                None => {
                    let at = if i == 0 { " FIRST".to_string() } else { format!(" AFTER {}", bq(&b.columns[i - 1].name)) };
                    let mut s = Statement::new(format!("ALTER TABLE {t} ADD COLUMN {}{at}", mysql_column(c)));
                    if !c.nullable && c.default.is_none() && c.identity.is_none() && c.generated.is_none() {
                        let m = format!("column {tn}.{} is NOT NULL without a default: rows of {tn} get the type's implicit default (0, '') or, in strict mode, the statement fails", c.name);
                        p.warn(WarningKind::NotNullWithoutDefault, Some(tn), m.clone());
                        s = s.comment(m);
                    }
                    p.push(Phase::Columns, s);
                }
                Some(old) if old != c => {
                    let mut s = Statement::new(format!("ALTER TABLE {t} MODIFY COLUMN {}", mysql_column(c)));
                    if old.data_type != c.data_type {
                        s = s
                            .comment(format!("{tn}.{}: {} → {} (rows whose value does not convert make this fail)", c.name, old.data_type, c.data_type))
                            .why(format!("the desired schema changes the type of {tn}.{}", c.name));
                    }
                    p.push(Phase::Columns, s);
                }
                Some(_) => {}
            }
        }
        let kept_a: Vec<&str> = a.columns.iter().filter(|c| b.column(&c.name).is_some()).map(|c| c.name.as_str()).collect();
        let kept_b: Vec<&str> = b.columns.iter().filter(|c| a.column(&c.name).is_some()).map(|c| c.name.as_str()).collect();
        if kept_a != kept_b {
            p.warn(WarningKind::ColumnOrder, Some(tn), format!("the columns of {tn} are in another order: the generated migration does not move existing columns"));
        }
        for (k, v) in &b.options {
            if a.options.get(k) != Some(v) {
                let opt = match k.as_str() {
                    "engine" => format!("ENGINE={v}"),
                    "collate" => format!("DEFAULT COLLATE={v}"),
                    _ => continue,
                };
                p.push(Phase::Columns, Statement::new(format!("ALTER TABLE {t} {opt}")).why(format!("the desired schema changes the table option {k} of {tn}")));
            }
        }
        let _ = mysql_table_options;
        if a.primary_key != b.primary_key {
            if a.primary_key.is_some() {
                p.push(Phase::DropConstraints, Statement::new(format!("ALTER TABLE {t} DROP PRIMARY KEY")).why("the desired schema changes the primary key"));
            }
            if let Some(pk) = &b.primary_key {
                p.push(Phase::Constraints, Statement::new(format!("ALTER TABLE {t} ADD PRIMARY KEY ({})", list(&pk.columns, bq))).why("the desired schema changes the primary key"));
            }
        }
        let (ca, cb) = (by_key(&a.checks, check_key), by_key(&b.checks, check_key));
        for (k, c) in &ca {
            if cb.get(k) != Some(c) || touches(tn, &c.expression) {
                if let Some(n) = &c.name {
                    p.push(Phase::DropConstraints, Statement::new(format!("ALTER TABLE {t} DROP CONSTRAINT {}", bq(n))));
                }
            }
        }
        for (k, c) in &cb {
            if ca.get(k) != Some(c) || touches(tn, &c.expression) {
                p.push(Phase::Constraints, Statement::new(format!("ALTER TABLE {t} ADD {}", mysql_check(c))));
            }
        }
        for i in &a.indexes {
            if b.index(&i.name) != Some(i) {
                p.push(Phase::DropIndexes, Statement::new(format!("ALTER TABLE {t} DROP INDEX {}", bq(&i.name))));
            }
        }
        for i in &b.indexes {
            if a.index(&i.name) != Some(i) {
                p.push(Phase::Indexes, Statement::new(format!("ALTER TABLE {t} ADD {}", mysql_index_element(i))));
            }
        }
        let (fa, fb) = (by_key(&a.foreign_keys, fk_key), by_key(&b.foreign_keys, fk_key));
        for (k, f) in &fa {
            if fb.get(k) != Some(f) || !fk_stays(a, f) {
                if let Some(n) = &f.name {
                    p.push(Phase::DropForeignKeys, Statement::new(format!("ALTER TABLE {t} DROP FOREIGN KEY {}", bq(n))));
                }
            }
        }
        for (k, f) in &fb {
            if fa.get(k) != Some(f) || !fk_stays(b, f) {
                p.push(Phase::ForeignKeys, Statement::new(format!("ALTER TABLE {t} ADD {}", mysql_fk(f))));
            }
        }
    }
}
