//! PostgreSQL: everything is an ALTER; the safe forms are used where they exist — indexes on
//! tables that stay are built and dropped `CONCURRENTLY` (the script then runs outside a
//! transaction), foreign keys and checks are added `NOT VALID` and validated after, `SET NOT
//! NULL` is preceded by a validated `CHECK (c IS NOT NULL)` so it needs no scan under lock, and a
//! new unique constraint adopts an index built concurrently.

use std::collections::BTreeSet;

use super::order::{Phase, dependent_views, drop_order, mentions, views_in_order};
use super::{Plan, Statement, WarningKind, by_key, retyped};
use crate::schema::compare::describe_index;
use crate::schema::model::*;
use crate::schema::render::{dq, list, pg_check, pg_column, pg_enum, pg_fk, pg_index, pg_sequence, pg_table, pg_view, quote_literal};

/// Whether a column's type (as `format_type` prints it) is the enum `name`.
fn is_type(data_type: &str, name: &str) -> bool {
    data_type == name || data_type == dq(name)
}

/// Whether `old` appears in `new` in the same order (values were only added).
fn only_added(old: &[String], new: &[String]) -> bool {
    let mut it = new.iter();
    old.iter().all(|v| it.any(|n| n == v))
}

/// A constraint name of at most 63 bytes.
fn short(name: String) -> String {
    let mut n = name;
    while n.len() > 63 {
        n.pop();
    }
    n
}

fn fk_key(f: &ForeignKey) -> String {
    f.name.clone().unwrap_or_else(|| format!("({}) -> {}", f.columns.join(", "), f.ref_table))
}

fn check_key(c: &Check) -> String {
    c.name.clone().unwrap_or_else(|| c.expression.clone())
}

fn unique_key(u: &Unique) -> String {
    u.name.clone().unwrap_or_else(|| format!("({})", u.columns.join(", ")))
}

pub(super) fn plan(p: &mut Plan) {
    let (from, to) = (p.from, p.to);
    let both: Vec<(&Table, &Table)> = from.tables.values().filter_map(|a| to.tables.get(&a.name).map(|b| (a, b))).collect();
    let removed: BTreeSet<&str> = from.tables.keys().filter(|n| !to.tables.contains_key(*n)).map(String::as_str).collect();

    // Columns whose type changes (an enum rebuilt counts): what reads them is dropped and recreated.
    let mut touched: std::collections::BTreeMap<String, BTreeSet<String>> =
        both.iter().map(|(a, b)| (a.name.clone(), retyped(a, b).into_iter().collect())).collect();

    // Enum types.
    for (name, e) in &to.enums {
        match from.enums.get(name) {
            None => p.push(Phase::Types, Statement::new(pg_enum(e))),
            Some(old) if old.values == e.values => {}
            Some(old) if only_added(&old.values, &e.values) => {
                for (i, v) in e.values.iter().enumerate() {
                    if old.values.contains(v) {
                        continue;
                    }
                    let at = match (i, old.values.first()) {
                        (0, Some(first)) => format!(" BEFORE {}", quote_literal(first)),
                        (0, None) => String::new(),
                        _ => format!(" AFTER {}", quote_literal(&e.values[i - 1])),
                    };
                    p.push(Phase::Types, Statement::new(format!("ALTER TYPE {} ADD VALUE {}{at}", dq(name), quote_literal(v))));
                }
                p.outside_transaction("ALTER TYPE … ADD VALUE: a value added inside a transaction cannot be used before it commits");
            }
            Some(old) => {
                let gone: Vec<&String> = old.values.iter().filter(|v| !e.values.contains(v)).collect();
                p.warn(
                    WarningKind::EnumRebuilt,
                    None,
                    format!(
                        "enum {name} {}: PostgreSQL cannot remove or reorder enum values, so the type is rebuilt (renamed, created anew, columns converted); rows holding {} make it fail",
                        if gone.is_empty() { "changes its order".to_string() } else { format!("loses {}", gone.iter().map(|v| quote_literal(v)).collect::<Vec<_>>().join(", ")) },
                        if gone.is_empty() { "no removed value, so none".to_string() } else { "a removed value".to_string() }
                    ),
                );
                let old_name = short(format!("{name}__dbm_old"));
                p.push(
                    Phase::Types,
                    Statement::new(format!("ALTER TYPE {} RENAME TO {}", dq(name), dq(&old_name)))
                        .comment(format!("enum {name} loses or reorders values: rebuilt (PostgreSQL cannot drop an enum value)")),
                );
                p.push(Phase::Types, Statement::new(pg_enum(e)));
                for (a, b) in &both {
                    for c in &a.columns {
                        let Some(d) = b.column(&c.name) else { continue };
                        if !is_type(&c.data_type, name) || !is_type(&d.data_type, name) {
                            continue;
                        }
                        touched.entry(a.name.clone()).or_default().insert(c.name.clone());
                        let t = dq(&a.name);
                        if c.default.is_some() {
                            p.push(Phase::Types, Statement::new(format!("ALTER TABLE {t} ALTER COLUMN {} DROP DEFAULT", dq(&c.name))));
                        }
                        p.push(
                            Phase::Types,
                            Statement::new(format!("ALTER TABLE {t} ALTER COLUMN {0} TYPE {1} USING {0}::text::{1}", dq(&c.name), dq(name)))
                                .why(format!("enum {name} is rebuilt: its columns take the new type")),
                        );
                        if let Some(def) = &d.default {
                            p.push(Phase::Types, Statement::new(format!("ALTER TABLE {t} ALTER COLUMN {} SET DEFAULT {def}", dq(&c.name))));
                        }
                    }
                }
                p.push(Phase::DropTypes, Statement::new(format!("DROP TYPE {}", dq(&old_name))));
            }
        }
    }
    for name in from.enums.keys().filter(|n| !to.enums.contains_key(*n)) {
        p.push(Phase::DropTypes, Statement::new(format!("DROP TYPE {}", dq(name))).why(format!("the desired schema has no type {name}")));
    }

    // Sequences.
    for (name, s) in &to.sequences {
        let owned = |s: &Sequence| match s.owned_by.as_deref().and_then(|o| o.split_once('.')) {
            Some((t, c)) => format!("{}.{}", dq(t), dq(c)),
            None => "NONE".to_string(),
        };
        match from.sequences.get(name) {
            None => {
                p.push(Phase::Sequences, Statement::new(pg_sequence(s)));
                if s.owned_by.is_some() {
                    p.push(Phase::ForeignKeys, Statement::new(format!("ALTER SEQUENCE {} OWNED BY {}", dq(name), owned(s))));
                }
            }
            Some(old) if old != s => {
                p.push(
                    Phase::Sequences,
                    Statement::new(format!(
                        "ALTER SEQUENCE {} AS {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} {}",
                        dq(name),
                        s.data_type,
                        s.increment,
                        s.min,
                        s.max,
                        s.start,
                        if s.cycle { "CYCLE" } else { "NO CYCLE" }
                    )),
                );
                if old.owned_by != s.owned_by {
                    p.push(Phase::ForeignKeys, Statement::new(format!("ALTER SEQUENCE {} OWNED BY {}", dq(name), owned(s))));
                }
            }
            _ => {}
        }
    }
    for name in from.sequences.keys().filter(|n| !to.sequences.contains_key(*n)) {
        // A sequence owned by a dropped table or column is gone already.
        p.push(Phase::DropSequences, Statement::new(format!("DROP SEQUENCE IF EXISTS {}", dq(name))));
    }

    // Functions (opaque: replaced whole).
    for (name, f) in &to.functions {
        if from.functions.get(name).is_none_or(|o| o.definition != f.definition) {
            p.push(Phase::Functions, Statement::new(f.definition.clone()));
        }
    }
    for (name, f) in from.functions.iter().filter(|(n, _)| !to.functions.contains_key(*n)) {
        let (bare, args) = name.split_once('(').unwrap_or((name, ")"));
        p.push(Phase::DropFunctions, Statement::new(format!("DROP {} {}({args}", f.kind.to_ascii_uppercase(), dq(bare))));
    }

    // Tables that go: children first; keys among them that form a cycle are dropped first.
    let (order, cycle) = drop_order(&from.tables, &removed);
    for name in order {
        let t = &from.tables[name];
        if cycle {
            for fk in t.foreign_keys.iter().filter(|f| removed.contains(f.ref_table.as_str()) && f.ref_table != t.name) {
                if let Some(n) = &fk.name {
                    p.push(Phase::DropForeignKeys, Statement::new(format!("ALTER TABLE {} DROP CONSTRAINT {}", dq(name), dq(n))));
                }
            }
        }
        let mut s = Statement::new(format!("DROP TABLE {}", dq(name))).why(format!("the desired schema has no table {name}: its rows are lost"));
        if let Some(note) = p.table_rename_note(name) {
            s = s.comment(note);
        }
        p.push(Phase::DropTables, s);
    }

    // New tables: created whole, their indexes and keys after every table exists.
    for t in to.tables.values().filter(|t| !from.tables.contains_key(&t.name)) {
        p.push(Phase::CreateTables, Statement::new(pg_table(t)));
        for i in &t.indexes {
            p.push(Phase::Indexes, Statement::new(pg_index(&t.name, i, false)).why(format!("{} is a new table: it is empty", t.name)));
        }
        for fk in &t.foreign_keys {
            p.push(Phase::ForeignKeys, Statement::new(format!("ALTER TABLE {} ADD {}", dq(&t.name), pg_fk(fk))).why(format!("{} is a new table: it is empty", t.name)));
        }
    }

    // Which tables' keys change: a foreign key pointing at them is dropped and added again.
    let keys_change: BTreeSet<&str> = both
        .iter()
        .filter(|(a, b)| a.primary_key != b.primary_key || a.uniques != b.uniques || a.indexes.iter().any(|i| i.unique && b.index(&i.name) != Some(i)))
        .map(|(a, _)| a.name.as_str())
        .collect();
    let touches = |table: &str, text: &str| touched.get(table).is_some_and(|cols| cols.iter().any(|c| mentions(text, c)));
    let touches_cols = |table: &str, cols: &[String]| touched.get(table).is_some_and(|t| cols.iter().any(|c| t.contains(c)));
    let fk_stays = |t: &Table, f: &ForeignKey| !touches_cols(&t.name, &f.columns) && !touches_cols(&f.ref_table, &f.ref_columns) && !keys_change.contains(f.ref_table.as_str());

    // Views: those that go or change, and those reading a table whose columns go or change.
    let mut changed_tables: BTreeSet<String> = removed.iter().map(|s| s.to_string()).collect();
    for (a, b) in &both {
        if a.columns.iter().any(|c| b.column(&c.name) != Some(c)) {
            changed_tables.insert(a.name.clone());
        }
    }
    let seed: BTreeSet<String> = from.views.values().filter(|v| to.views.get(&v.name) != Some(*v)).map(|v| v.name.clone()).collect();
    let drop_views = dependent_views(from, &changed_tables, &seed);
    for v in views_in_order(from, &drop_views).into_iter().rev() {
        let kind = if v.materialized { "MATERIALIZED VIEW" } else { "VIEW" };
        p.push(Phase::DropViews, Statement::new(format!("DROP {kind} {}", dq(&v.name))));
    }
    let create_views: BTreeSet<String> = to.views.values().filter(|v| from.views.get(&v.name) != Some(*v) || drop_views.contains(&v.name)).map(|v| v.name.clone()).collect();
    for v in views_in_order(to, &create_views) {
        p.push(Phase::CreateViews, Statement::new(pg_view(v)));
    }

    // Triggers (opaque: dropped and created whole).
    for (name, tr) in &from.triggers {
        if to.triggers.get(name) != Some(tr) && !removed.contains(tr.table.as_str()) {
            p.push(Phase::DropTriggers, Statement::new(format!("DROP TRIGGER {} ON {}", dq(name), dq(&tr.table))));
        }
    }
    for (name, tr) in &to.triggers {
        if from.triggers.get(name) != Some(tr) {
            p.push(Phase::CreateTriggers, Statement::new(tr.definition.clone()));
        }
    }

    for (a, b) in &both {
        let t = dq(&a.name);
        let tn = a.name.as_str();
        // Columns that go.
        for c in a.columns.iter().filter(|c| b.column(&c.name).is_none()) {
            let mut s = Statement::new(format!("ALTER TABLE {t} DROP COLUMN {}", dq(&c.name))).why(format!("the desired schema has no column {tn}.{}: its data is lost", c.name));
            if let Some(note) = p.rename_note(tn, &c.name) {
                s = s.comment(note);
            }
            p.push(Phase::DropColumns, s);
        }
        // Columns that appear: ADD COLUMN appends, so a column placed before others cannot be placed.
        let last_kept = b.columns.iter().rposition(|c| a.column(&c.name).is_some());
        for (i, c) in b.columns.iter().enumerate().filter(|(_, c)| a.column(&c.name).is_none()) {
            let mut s = Statement::new(format!("ALTER TABLE {t} ADD COLUMN {}", pg_column(c)));
            if !c.nullable && c.default.is_none() && c.identity.is_none() && c.generated.is_none() {
                let m = format!("column {tn}.{} is NOT NULL without a default: adding it fails if {tn} has rows (give it a default, or add it nullable and backfill)", c.name);
                p.warn(WarningKind::NotNullWithoutDefault, Some(tn), m.clone());
                s = s.comment(m);
            }
            if last_kept.is_some_and(|k| i < k) {
                p.warn(WarningKind::ColumnOrder, Some(tn), format!("column {tn}.{} is placed before existing columns, but PostgreSQL can only append it", c.name));
            }
            p.push(Phase::Columns, s);
        }
        let kept_a: Vec<&str> = a.columns.iter().filter(|c| b.column(&c.name).is_some()).map(|c| c.name.as_str()).collect();
        let kept_b: Vec<&str> = b.columns.iter().filter(|c| a.column(&c.name).is_some()).map(|c| c.name.as_str()).collect();
        if kept_a != kept_b {
            p.warn(WarningKind::ColumnOrder, Some(tn), format!("the columns of {tn} are in another order, which PostgreSQL cannot change without recreating the table"));
        }
        // Columns that change.
        for c in &a.columns {
            let Some(d) = b.column(&c.name) else { continue };
            if c == d {
                continue;
            }
            let col = dq(&c.name);
            if c.generated != d.generated {
                p.warn(WarningKind::Unsupported, Some(tn), format!("the generated expression of {tn}.{} changes: the column is dropped and added again (at the end)", c.name));
                p.push(Phase::Columns, Statement::new(format!("ALTER TABLE {t} DROP COLUMN {col}")).why("a generated expression cannot be altered in place"));
                p.push(Phase::Columns, Statement::new(format!("ALTER TABLE {t} ADD COLUMN {}", pg_column(d))));
                continue;
            }
            let enum_done = touched.get(tn).is_some_and(|s| s.contains(&c.name)) && c.data_type == d.data_type;
            if (c.data_type != d.data_type || c.collation != d.collation) && !enum_done {
                if c.default.is_some() {
                    p.push(Phase::Columns, Statement::new(format!("ALTER TABLE {t} ALTER COLUMN {col} DROP DEFAULT")));
                }
                let collate = d.collation.as_ref().map(|co| format!(" COLLATE {}", dq(co))).unwrap_or_default();
                p.push(
                    Phase::Columns,
                    Statement::new(format!("ALTER TABLE {t} ALTER COLUMN {col} TYPE {}{collate} USING {col}::{}", d.data_type, d.data_type))
                        .comment(format!("{tn}.{}: {} → {} (rows whose value does not convert make this fail)", c.name, c.data_type, d.data_type))
                        .why(format!("the desired schema changes the type of {tn}.{}", c.name)),
                );
                if let Some(def) = &d.default {
                    p.push(Phase::Columns, Statement::new(format!("ALTER TABLE {t} ALTER COLUMN {col} SET DEFAULT {def}")));
                }
            } else if c.default != d.default && !enum_done {
                p.push(
                    Phase::Columns,
                    Statement::new(match &d.default {
                        Some(def) => format!("ALTER TABLE {t} ALTER COLUMN {col} SET DEFAULT {def}"),
                        None => format!("ALTER TABLE {t} ALTER COLUMN {col} DROP DEFAULT"),
                    }),
                );
            }
            if c.nullable && !d.nullable {
                // A validated CHECK lets SET NOT NULL skip its scan (PostgreSQL 12+).
                let chk = short(format!("{}_{}_not_null", a.name, c.name));
                p.push(
                    Phase::Columns,
                    Statement::new(format!("ALTER TABLE {t} ADD CONSTRAINT {} CHECK ({col} IS NOT NULL) NOT VALID", dq(&chk)))
                        .comment(format!("{tn}.{} becomes NOT NULL: checked first without a long lock", c.name)),
                );
                p.push(Phase::Columns, Statement::new(format!("ALTER TABLE {t} VALIDATE CONSTRAINT {}", dq(&chk))));
                p.push(Phase::Columns, Statement::new(format!("ALTER TABLE {t} ALTER COLUMN {col} SET NOT NULL")).why("a validated CHECK (… IS NOT NULL) precedes it"));
                p.push(Phase::Columns, Statement::new(format!("ALTER TABLE {t} DROP CONSTRAINT {}", dq(&chk))));
            } else if !c.nullable && d.nullable {
                p.push(Phase::Columns, Statement::new(format!("ALTER TABLE {t} ALTER COLUMN {col} DROP NOT NULL")));
            }
            if c.identity != d.identity {
                let s = match (&c.identity, &d.identity) {
                    (Some(_), None) => format!("ALTER TABLE {t} ALTER COLUMN {col} DROP IDENTITY"),
                    (None, Some(id)) => format!("ALTER TABLE {t} ALTER COLUMN {col} ADD GENERATED {} AS IDENTITY", id.to_ascii_uppercase()),
                    (_, Some(id)) => format!("ALTER TABLE {t} ALTER COLUMN {col} SET GENERATED {}", id.to_ascii_uppercase()),
                    (None, None) => continue,
                };
                p.push(Phase::Columns, Statement::new(s));
            }
        }
        // Primary key.
        if a.primary_key != b.primary_key {
            if let Some(pk) = &a.primary_key {
                let name = pk.name.clone().unwrap_or_else(|| format!("{}_pkey", a.name));
                p.push(Phase::DropConstraints, Statement::new(format!("ALTER TABLE {t} DROP CONSTRAINT {}", dq(&name))));
            }
            if let Some(pk) = &b.primary_key {
                let name = pk.name.as_ref().map(|n| format!("CONSTRAINT {} ", dq(n))).unwrap_or_default();
                p.push(Phase::Constraints, Statement::new(format!("ALTER TABLE {t} ADD {name}PRIMARY KEY ({})", list(&pk.columns, dq))).why("the desired schema changes the primary key"));
            }
        }
        // Unique constraints: a new one adopts an index built concurrently.
        let (ua, ub) = (by_key(&a.uniques, unique_key), by_key(&b.uniques, unique_key));
        for (k, u) in &ua {
            if ub.get(k) != Some(u) {
                let name = u.name.clone().unwrap_or_else(|| k.clone());
                p.push(Phase::DropConstraints, Statement::new(format!("ALTER TABLE {t} DROP CONSTRAINT {}", dq(&name))));
            }
        }
        for (k, u) in &ub {
            if ua.get(k) == Some(u) {
                continue;
            }
            match &u.name {
                Some(n) => {
                    p.push(
                        Phase::Constraints,
                        Statement::new(format!("CREATE UNIQUE INDEX CONCURRENTLY {} ON {t} ({})", dq(n), list(&u.columns, dq)))
                            .why("built CONCURRENTLY for the unique constraint that adopts it; if it fails, drop the INVALID index it leaves and run again"),
                    );
                    p.push(Phase::Constraints, Statement::new(format!("ALTER TABLE {t} ADD CONSTRAINT {} UNIQUE USING INDEX {}", dq(n), dq(n))));
                    p.outside_transaction("CREATE INDEX CONCURRENTLY cannot run inside a transaction");
                }
                None => p.push(Phase::Constraints, Statement::new(format!("ALTER TABLE {t} ADD UNIQUE ({})", list(&u.columns, dq)))),
            }
        }
        // Checks: added NOT VALID, then validated.
        let (ca, cb) = (by_key(&a.checks, check_key), by_key(&b.checks, check_key));
        for (k, c) in &ca {
            if cb.get(k) != Some(c) || touches(tn, &c.expression) {
                if let Some(n) = &c.name {
                    p.push(Phase::DropConstraints, Statement::new(format!("ALTER TABLE {t} DROP CONSTRAINT {}", dq(n))));
                }
            }
        }
        for (k, c) in &cb {
            if ca.get(k) != Some(c) || touches(tn, &c.expression) {
                p.push(Phase::Constraints, Statement::new(format!("ALTER TABLE {t} ADD {} NOT VALID", pg_check(c))));
                if let Some(n) = &c.name {
                    p.push(Phase::Constraints, Statement::new(format!("ALTER TABLE {t} VALIDATE CONSTRAINT {}", dq(n))));
                }
            }
        }
        // Indexes: built and dropped concurrently.
        let index_touched = |i: &Index| i.parts.iter().any(|x| x.expression && touches(tn, &x.key)) || i.predicate.as_deref().is_some_and(|pr| touches(tn, pr));
        for i in &a.indexes {
            if b.index(&i.name) != Some(i) || index_touched(i) {
                p.push(
                    Phase::DropIndexes,
                    Statement::new(format!("DROP INDEX CONCURRENTLY {}", dq(&i.name))).comment(format!("index {} on {tn}: {}", i.name, describe_index(i))),
                );
                p.outside_transaction("DROP INDEX CONCURRENTLY cannot run inside a transaction");
            }
        }
        for i in &b.indexes {
            if a.index(&i.name) != Some(i) || index_touched(i) {
                p.push(
                    Phase::Indexes,
                    Statement::new(pg_index(tn, i, true)).why("built CONCURRENTLY on a table that stays; if it fails, drop the INVALID index it leaves and run again"),
                );
                p.outside_transaction("CREATE INDEX CONCURRENTLY cannot run inside a transaction");
            }
        }
        // Foreign keys: dropped when they change or what they use changes; added NOT VALID, then validated.
        let (fa, fb) = (by_key(&a.foreign_keys, fk_key), by_key(&b.foreign_keys, fk_key));
        for (k, f) in &fa {
            if fb.get(k) != Some(f) || !fk_stays(a, f) {
                if let Some(n) = &f.name {
                    p.push(Phase::DropForeignKeys, Statement::new(format!("ALTER TABLE {t} DROP CONSTRAINT {}", dq(n))));
                }
            }
        }
        for (k, f) in &fb {
            if fa.get(k) != Some(f) || !fk_stays(b, f) {
                p.push(Phase::ForeignKeys, Statement::new(format!("ALTER TABLE {t} ADD {} NOT VALID", pg_fk(f))));
                if let Some(n) = &f.name {
                    p.push(Phase::ForeignKeys, Statement::new(format!("ALTER TABLE {t} VALIDATE CONSTRAINT {}", dq(n))));
                }
            }
        }
    }
    // Fail fast rather than queue behind a long query (and stall everything behind the ALTER).
    let set = if p.no_transaction.is_some() { "SET lock_timeout = '5s'" } else { "SET LOCAL lock_timeout = '5s'" };
    p.head.push(Statement::new(set).comment("wait at most 5 s for a lock instead of blocking every query queued behind this DDL; run again if it times out"));
}
