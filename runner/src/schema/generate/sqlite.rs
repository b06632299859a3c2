//! SQLite: `ADD COLUMN` (at the end, when SQLite allows it), `DROP COLUMN` (when nothing
//! constrains the column), indexes, and for everything else — a type, nullability or default
//! change, keys, checks, column order — the table rebuild SQLite documents: with foreign keys
//! off, in one transaction, create the new table under a temporary name, copy the surviving
//! columns, drop the old table, rename the new one, recreate its indexes, triggers and the views
//! that read it, then check every foreign key. Foreign keys must be off (a pragma that does
//! nothing inside a transaction), or dropping the old table would cascade into the tables that
//! point at it: so a script with a rebuild manages its own transaction and is marked
//! `transaction:false`.

use std::collections::BTreeSet;

use super::order::{Phase, dependent_views, drop_order, mentions, views_in_order};
use super::{Plan, Statement, WarningKind};
use crate::schema::model::*;
use crate::schema::render::{dq, sqlite_column, sqlite_index, sqlite_literal, sqlite_table};

/// Whether `ALTER TABLE ADD COLUMN` can add `c` (SQLite refuses a NOT NULL column without a
/// default, a non-constant default, a stored generated column, a key).
fn addable(c: &Column) -> bool {
    let default = c.default.as_deref().filter(|d| !d.eq_ignore_ascii_case("NULL"));
    let constant = default.is_none_or(|d| sqlite_literal(d) && !d.to_ascii_uppercase().starts_with("CURRENT_"));
    (c.nullable || default.is_some()) && constant && c.generated.as_ref().is_none_or(|g| !g.stored) && c.identity.is_none()
}

/// Whether `ALTER TABLE DROP COLUMN` can drop `col` from `t` (not in a key, a foreign key, a
/// check or a generated column's expression; indexes on it are dropped before).
fn droppable(t: &Table, col: &str) -> bool {
    let in_list = |cols: &[String]| cols.iter().any(|c| c == col);
    !t.primary_key.as_ref().is_some_and(|pk| in_list(&pk.columns))
        && !t.uniques.iter().any(|u| in_list(&u.columns))
        && !t.foreign_keys.iter().any(|f| in_list(&f.columns))
        && !t.checks.iter().any(|c| mentions(&c.expression, col))
        && !t.columns.iter().any(|c| c.generated.as_ref().is_some_and(|g| mentions(&g.expression, col)))
}

/// Whether going from `a` to `b` needs the rebuild.
fn needs_rebuild(a: &Table, b: &Table) -> bool {
    if a.options.contains_key("definition") || b.options.contains_key("definition") {
        return a != b;
    }
    let kept_a: Vec<&str> = a.columns.iter().filter(|c| b.column(&c.name).is_some()).map(|c| c.name.as_str()).collect();
    let kept_b: Vec<&str> = b.columns.iter().filter(|c| a.column(&c.name).is_some()).map(|c| c.name.as_str()).collect();
    let last_kept = b.columns.iter().rposition(|c| a.column(&c.name).is_some());
    let first_new = b.columns.iter().position(|c| a.column(&c.name).is_none());
    a.columns.iter().any(|c| b.column(&c.name).is_some_and(|d| d != c))
        || a.primary_key != b.primary_key
        || a.uniques != b.uniques
        || a.foreign_keys != b.foreign_keys
        || a.checks != b.checks
        || a.options != b.options
        || kept_a != kept_b
        || matches!((last_kept, first_new), (Some(k), Some(n)) if n < k)
        || b.columns.iter().any(|c| a.column(&c.name).is_none() && !addable(c))
        || a.columns.iter().any(|c| b.column(&c.name).is_none() && !droppable(a, &c.name))
}

/// A temporary name for the new table of a rebuild.
fn new_name(table: &str) -> String {
    format!("{table}__dbm_new")
}

pub(super) fn plan(p: &mut Plan) {
    let (from, to) = (p.from, p.to);
    let both: Vec<(&Table, &Table)> = from.tables.values().filter_map(|a| to.tables.get(&a.name).map(|b| (a, b))).collect();
    let removed: BTreeSet<&str> = from.tables.keys().filter(|n| !to.tables.contains_key(*n)).map(String::as_str).collect();
    let rebuilt: BTreeSet<&str> = both.iter().filter(|(a, b)| needs_rebuild(a, b)).map(|(a, _)| a.name.as_str()).collect();
    // Foreign keys must be off while tables go: rebuilds, keys among dropped tables in a cycle, or
    // a table that stays pointing at one that goes.
    let (drops, cycle) = drop_order(&from.tables, &removed);
    let kept_points_at_removed =
        from.tables.values().filter(|t| !removed.contains(t.name.as_str())).any(|t| t.foreign_keys.iter().any(|f| removed.contains(f.ref_table.as_str())));
    let own_transaction = !rebuilt.is_empty() || cycle || kept_points_at_removed;

    for t in to.tables.values().filter(|t| !from.tables.contains_key(&t.name)) {
        p.push(Phase::CreateTables, Statement::new(sqlite_table(t, &t.name)));
        for i in &t.indexes {
            p.push(Phase::Indexes, Statement::new(sqlite_index(&t.name, i)));
        }
    }
    for name in drops {
        let mut s = Statement::new(format!("DROP TABLE {}", dq(name))).why(format!("the desired schema has no table {name}: its rows are lost"));
        if let Some(note) = p.table_rename_note(name) {
            s = s.comment(note);
        }
        p.push(Phase::DropTablesLate, s);
    }

    // Views and triggers that read a table that goes, is rebuilt or loses or changes columns
    // are dropped first and created again after (SQLite re-checks them on every rename).
    let mut changed_tables: BTreeSet<String> = removed.iter().chain(rebuilt.iter()).map(|s| s.to_string()).collect();
    for (a, b) in &both {
        if a.columns.iter().any(|c| b.column(&c.name) != Some(c)) {
            changed_tables.insert(a.name.clone());
        }
    }
    let seed: BTreeSet<String> = from.views.values().filter(|v| to.views.get(&v.name) != Some(*v)).map(|v| v.name.clone()).collect();
    let drop_views = dependent_views(from, &changed_tables, &seed);
    for v in views_in_order(from, &drop_views).into_iter().rev() {
        p.push(Phase::DropViews, Statement::new(format!("DROP VIEW {}", dq(&v.name))));
    }
    let create_views: BTreeSet<String> = to.views.values().filter(|v| from.views.get(&v.name) != Some(*v) || drop_views.contains(&v.name)).map(|v| v.name.clone()).collect();
    for v in views_in_order(to, &create_views) {
        p.push(Phase::CreateViews, Statement::new(v.definition.clone()));
    }
    let trigger_affected = |tr: &Trigger| rebuilt.contains(tr.table.as_str()) || changed_tables.iter().any(|t| t != &tr.table && mentions(&tr.definition, t));
    for (name, tr) in &from.triggers {
        if removed.contains(tr.table.as_str()) {
            continue;
        }
        if to.triggers.get(name) != Some(tr) || trigger_affected(tr) {
            p.push(Phase::DropTriggers, Statement::new(format!("DROP TRIGGER {}", dq(name))));
        }
    }
    for (name, tr) in &to.triggers {
        if from.triggers.get(name) != Some(tr) || trigger_affected(tr) {
            p.push(Phase::CreateTriggers, Statement::new(tr.definition.clone()));
        }
    }

    for (a, b) in &both {
        let tn = a.name.as_str();
        let t = dq(tn);
        let added: Vec<&Column> = b.columns.iter().filter(|c| a.column(&c.name).is_none()).collect();
        let mut notes: Vec<String> = Vec::new();
        for c in &added {
            if !c.nullable && c.default.is_none() && c.generated.is_none() {
                let m = format!("column {tn}.{} is NOT NULL without a default: this fails if {tn} has rows (give it a default, or add it nullable and backfill)", c.name);
                p.warn(WarningKind::NotNullWithoutDefault, Some(tn), m.clone());
                notes.push(m);
            }
        }
        if rebuilt.contains(tn) {
            let tmp = new_name(tn);
            let copied: Vec<String> = b
                .columns
                .iter()
                .filter(|c| c.generated.is_none() && a.column(&c.name).is_some_and(|o| o.generated.is_none()))
                .map(|c| dq(&c.name))
                .collect();
            for c in a.columns.iter().filter(|c| b.column(&c.name).is_none()) {
                if let Some(note) = p.rename_note(tn, &c.name) {
                    notes.push(note);
                }
            }
            let mut changes: Vec<String> = Vec::new();
            for c in &a.columns {
                if let Some(d) = b.column(&c.name).filter(|d| d.data_type != c.data_type) {
                    changes.push(format!("{}: {} → {}", c.name, c.data_type, d.data_type));
                }
            }
            let mut create = Statement::new(sqlite_table(b, &tmp)).comment(format!("rebuild {tn}: SQLite's ALTER TABLE cannot make this change"));
            for n in notes.drain(..) {
                create = create.comment(n);
            }
            if !changes.is_empty() {
                create = create.comment(format!("type change ({}): values are copied as they are", changes.join(", ")));
            }
            p.push(Phase::Rebuilds, create);
            if !copied.is_empty() {
                let cols = copied.join(", ");
                p.push(Phase::Rebuilds, Statement::new(format!("INSERT INTO {} ({cols}) SELECT {cols} FROM {t}", dq(&tmp))));
            }
            p.push(Phase::Rebuilds, Statement::new(format!("DROP TABLE {t}")).why(format!("the table rebuild of {tn}: its rows were copied to the new table first")));
            p.push(Phase::Rebuilds, Statement::new(format!("ALTER TABLE {} RENAME TO {t}", dq(&tmp))).why(format!("the table rebuild of {tn}: the new table takes its name")));
            for i in &b.indexes {
                p.push(Phase::Indexes, Statement::new(sqlite_index(tn, i)).why(format!("the table rebuild of {tn} recreates its indexes")));
            }
            continue;
        }
        for c in a.columns.iter().filter(|c| b.column(&c.name).is_none()) {
            let mut s = Statement::new(format!("ALTER TABLE {t} DROP COLUMN {}", dq(&c.name))).why(format!("the desired schema has no column {tn}.{}: its data is lost", c.name));
            if let Some(note) = p.rename_note(tn, &c.name) {
                s = s.comment(note);
            }
            p.push(Phase::DropColumns, s);
        }
        for (i, c) in added.iter().enumerate() {
            let mut s = Statement::new(format!("ALTER TABLE {t} ADD COLUMN {}", sqlite_column(c, None)));
            if i == 0 {
                for n in notes.drain(..) {
                    s = s.comment(n);
                }
            }
            p.push(Phase::Columns, s);
        }
        for i in &a.indexes {
            if b.index(&i.name) != Some(i) {
                p.push(Phase::DropIndexes, Statement::new(format!("DROP INDEX {}", dq(&i.name))));
            }
        }
        for i in &b.indexes {
            if a.index(&i.name) != Some(i) {
                p.push(Phase::Indexes, Statement::new(sqlite_index(tn, i)));
            }
        }
    }

    if own_transaction {
        p.outside_transaction("the table rebuild needs foreign keys off, which SQLite allows only outside a transaction: the script runs its own");
        p.head.push(Statement::new("PRAGMA foreign_keys = 0").why("the table rebuild needs foreign keys off").comment("SQLite's table rebuild: foreign keys off, everything in one transaction, every key checked before COMMIT"));
        p.head.push(Statement::new("BEGIN"));
        p.tail.push(
            Statement::new("CREATE TEMP TABLE \"_dbm_fk_check\" (\"violations\" INTEGER CHECK (\"violations\" = 0))")
                .comment("PRAGMA foreign_key_check, made to fail the script: a row pointing at a row that no longer exists"),
        );
        p.tail.push(Statement::new("INSERT INTO \"_dbm_fk_check\" SELECT count(*) FROM pragma_foreign_key_check"));
        p.tail.push(Statement::new("DROP TABLE \"_dbm_fk_check\"").why("the temporary table of the foreign key check"));
        p.tail.push(Statement::new("COMMIT"));
        p.tail.push(Statement::new("PRAGMA foreign_keys = 1").why("foreign keys on again after the table rebuild"));
    }
}
