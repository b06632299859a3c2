//! The dependency ordering core of the generator: which objects must go before which, with no
//! database and no dialect in sight (so it is unit-tested on its own).
//!
//! - [`Phase`]: the fixed order of kinds of work in a generated script (drop what depends on a
//!   thing before the thing, create a thing before what depends on it).
//! - [`drop_order`]: tables children first, so no foreign key ever points at a dropped table.
//! - [`views_in_order`]: views after the views they read.
//! - [`mentions`]: whether an expression or a definition names an object (word match).

use std::collections::{BTreeMap, BTreeSet};

use crate::schema::model::{Schema, Table, View};

/// The order of kinds of work in a generated script. Everything of an earlier phase runs
/// before anything of a later one; within a phase, statements keep the order they were planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Views that go or change, or read a table that changes (dependents first).
    DropViews,
    /// Triggers that go or change.
    DropTriggers,
    /// Foreign keys that go or change, or whose columns or referenced key change.
    DropForeignKeys,
    /// Indexes that go or change.
    DropIndexes,
    /// Primary keys, unique and check constraints that go or change.
    DropConstraints,
    /// Tables that go, when nothing else can still need them (PostgreSQL, MySQL: their foreign
    /// keys were dropped above).
    DropTables,
    /// Enum types: created, values added, rebuilt.
    Types,
    /// Sequences created or changed.
    Sequences,
    /// Functions created or replaced (defaults and checks may call them).
    Functions,
    /// New tables.
    CreateTables,
    /// Columns added or changed on tables that stay.
    Columns,
    /// Columns dropped from tables that stay.
    DropColumns,
    /// SQLite table rebuilds (new table, copy, drop, rename).
    Rebuilds,
    /// Tables that go, after rebuilt tables stopped pointing at them (SQLite).
    DropTablesLate,
    /// Primary keys, unique and check constraints added.
    Constraints,
    /// Indexes created.
    Indexes,
    /// Foreign keys added (every table they point at exists now), sequences owned.
    ForeignKeys,
    /// Sequences that go.
    DropSequences,
    /// Enum types that go (no column uses them any more).
    DropTypes,
    /// Functions that go.
    DropFunctions,
    /// Views created, after the tables and views they read.
    CreateViews,
    /// Triggers created, after their tables (and the functions they call).
    CreateTriggers,
}

/// Whether `text` names `name` as a whole word (case-insensitive, quotes ignored): a view that
/// reads a table, a check or index expression that uses a column.
pub fn mentions(text: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let t = text.to_ascii_lowercase();
    let n = name.to_ascii_lowercase();
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
    t.match_indices(&n).any(|(i, _)| !word(t[..i].chars().next_back()) && !word(t[i + n.len()..].chars().next()))
}

/// The tables of `names` in an order to drop them: a table before the tables it points at
/// (children first). The second value is true when foreign keys among them form a cycle (the
/// cycle's tables are then in name order, and their keys must be dropped or disabled first).
pub fn drop_order<'a>(tables: &BTreeMap<String, Table>, names: &BTreeSet<&'a str>) -> (Vec<&'a str>, bool) {
    // parents[t] = tables of `names` that t points at (not itself).
    let parents: BTreeMap<&str, BTreeSet<&str>> = names
        .iter()
        .map(|&n| {
            let ps = tables
                .get(n)
                .map(|t| t.foreign_keys.iter().filter_map(|fk| names.get(fk.ref_table.as_str()).copied()).filter(|p| *p != n).collect())
                .unwrap_or_default();
            (n, ps)
        })
        .collect();
    let mut left: BTreeSet<&str> = names.clone();
    let mut out = Vec::new();
    let mut cycle = false;
    while !left.is_empty() {
        // A table no remaining table points at can go now.
        let ready: Vec<&str> = left.iter().copied().filter(|t| !left.iter().any(|o| o != t && parents[o].contains(t))).collect();
        if ready.is_empty() {
            cycle = true;
            out.extend(left.iter().copied());
            break;
        }
        for t in ready {
            left.remove(t);
            out.push(t);
        }
    }
    (out, cycle)
}

/// The views of `schema` named in `names`, each after the views its definition reads.
pub fn views_in_order<'a>(schema: &'a Schema, names: &BTreeSet<String>) -> Vec<&'a View> {
    let mut left: Vec<&View> = schema.views.values().filter(|v| names.contains(&v.name)).collect();
    let mut done: Vec<&View> = Vec::new();
    while !left.is_empty() {
        let ready = left.iter().position(|v| !left.iter().any(|o| o.name != v.name && mentions(&v.definition, &o.name))).unwrap_or(0);
        done.push(left.remove(ready));
    }
    done
}

/// The views of `schema` that must be dropped and created again because they read one of
/// `tables` or one of the views `seed` (a closure: a view reading such a view is included).
pub fn dependent_views(schema: &Schema, tables: &BTreeSet<String>, seed: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = seed.clone();
    loop {
        let before = out.len();
        for v in schema.views.values() {
            if out.contains(&v.name) {
                continue;
            }
            if tables.iter().any(|t| mentions(&v.definition, t)) || out.iter().any(|o| mentions(&v.definition, o)) {
                out.insert(v.name.clone());
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::*;

    fn table(name: &str, refs: &[&str]) -> Table {
        let mut t = Table::new(name);
        for r in refs {
            t.foreign_keys.push(ForeignKey {
                name: None,
                columns: vec![format!("{r}_id")],
                ref_table: r.to_string(),
                ref_columns: vec!["id".into()],
                on_update: FkAction::NoAction,
                on_delete: FkAction::Cascade,
            });
        }
        t
    }

    fn tables(list: Vec<Table>) -> BTreeMap<String, Table> {
        list.into_iter().map(|t| (t.name.clone(), t)).collect()
    }

    #[test]
    fn children_are_dropped_before_their_parents() {
        let ts = tables(vec![table("users", &[]), table("posts", &["users"]), table("comments", &["posts", "users"]), table("tags", &[])]);
        let names: BTreeSet<&str> = ["users", "posts", "comments", "tags"].into();
        let (order, cycle) = drop_order(&ts, &names);
        assert!(!cycle);
        let at = |n: &str| order.iter().position(|x| *x == n).unwrap();
        assert!(at("comments") < at("posts") && at("posts") < at("users"), "{order:?}");
        assert_eq!(order.len(), 4);
    }

    #[test]
    fn a_self_reference_is_no_cycle_but_two_tables_pointing_at_each_other_are() {
        let ts = tables(vec![table("tree", &["tree"])]);
        assert_eq!(drop_order(&ts, &["tree"].into()), (vec!["tree"], false));
        let ts = tables(vec![table("a", &["b"]), table("b", &["a"]), table("c", &["a"])]);
        let (order, cycle) = drop_order(&ts, &["a", "b", "c"].into());
        assert!(cycle);
        assert_eq!(order[0], "c", "the table outside the cycle still goes first: {order:?}");
    }

    #[test]
    fn only_the_named_tables_are_ordered() {
        // posts points at users, but users stays: it is not part of the order.
        let ts = tables(vec![table("users", &[]), table("posts", &["users"])]);
        assert_eq!(drop_order(&ts, &["posts"].into()).0, vec!["posts"]);
    }

    #[test]
    fn views_follow_the_views_they_read_and_dependents_are_found_transitively() {
        let mut s = Schema::new(SchemaDialect::Postgres);
        for (n, d) in [("a", "SELECT * FROM b"), ("b", "SELECT x FROM t"), ("c", "SELECT 1 AS one"), ("d", "SELECT * FROM a")] {
            s.views.insert(n.into(), View { name: n.into(), definition: d.into(), materialized: false });
        }
        let all: BTreeSet<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let names: Vec<&str> = views_in_order(&s, &all).iter().map(|v| v.name.as_str()).collect();
        let at = |n: &str| names.iter().position(|x| *x == n).unwrap();
        assert!(at("b") < at("a") && at("a") < at("d"), "{names:?}");
        let dep = dependent_views(&s, &["t".to_string()].into(), &BTreeSet::new());
        assert_eq!(dep, ["a", "b", "d"].iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());
    }

    #[test]
    fn mentions_match_whole_words_only() {
        assert!(mentions("(\"price\" > 0)", "price"));
        assert!(mentions("lower(name)", "NAME"));
        assert!(!mentions("price_cents > 0", "price"));
        assert!(!mentions("unit_price > 0", "price"));
    }

    #[test]
    fn phases_drop_dependents_first_and_create_dependencies_first() {
        assert!(Phase::DropForeignKeys < Phase::DropTables);
        assert!(Phase::DropViews < Phase::DropColumns);
        assert!(Phase::Types < Phase::CreateTables);
        assert!(Phase::CreateTables < Phase::ForeignKeys);
        assert!(Phase::Indexes < Phase::ForeignKeys, "MySQL: an index before the key that uses it");
        assert!(Phase::Rebuilds < Phase::DropTablesLate);
        assert!(Phase::ForeignKeys < Phase::CreateViews);
        assert!(Phase::DropColumns < Phase::DropTypes);
    }
}
