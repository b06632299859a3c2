//! Schema comparison: two [`Schema`]s in, a list of typed [`Difference`]s out, each readable on
//! its own (`Display`). `test` compares the schema before a migration with the one after its
//! down; `drift` the migrations' schema with the live one; a migration generator can walk the
//! same list (and look details up in the two schemas by `table` and `name`).
//!
//! Direction: `compare(expected, actual)` — `Added` is in `actual` only, `Removed` in
//! `expected` only. The order is deterministic: by table, then object kind, then name.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::schema::model::*;

/// What happened to an object going from the expected schema to the actual one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Only in the actual schema.
    Added,
    /// Only in the expected schema.
    Removed,
    /// In both, different.
    Changed,
}

/// The kind of object a [`Difference`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ObjectKind {
    /// A table (`field` "column order" or an option name when changed).
    Table,
    /// A column (`field` says which property changed).
    Column,
    /// A primary key.
    PrimaryKey,
    /// A unique constraint (named by its columns when it has no name).
    Unique,
    /// An index.
    Index,
    /// A foreign key (named by its columns and target when it has no name).
    ForeignKey,
    /// A check constraint (named by its expression when it has no name).
    Check,
    /// A view.
    View,
    /// A sequence.
    Sequence,
    /// An enum type.
    Enum,
    /// A function or procedure.
    Function,
    /// A trigger.
    Trigger,
    /// A MongoDB collection (`field` "validator" or an option name when changed).
    Collection,
    /// A MongoDB index.
    CollectionIndex,
}

impl ObjectKind {
    /// Words for messages.
    pub fn label(self) -> &'static str {
        match self {
            ObjectKind::Table => "table",
            ObjectKind::Column => "column",
            ObjectKind::PrimaryKey => "primary key",
            ObjectKind::Unique => "unique constraint",
            ObjectKind::Index => "index",
            ObjectKind::ForeignKey => "foreign key",
            ObjectKind::Check => "check constraint",
            ObjectKind::View => "view",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Enum => "enum type",
            ObjectKind::Function => "function",
            ObjectKind::Trigger => "trigger",
            ObjectKind::Collection => "collection",
            ObjectKind::CollectionIndex => "index",
        }
    }
}

/// One difference between two schemas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Added, removed or changed.
    pub change: Change,
    /// What kind of object.
    pub object: ObjectKind,
    /// The table (or collection) a table-level object belongs to; None for top-level objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The object's name (for an unnamed constraint, a description of it).
    pub name: String,
    /// For `Changed`: which property (`type`, `nullable`, `default`, `definition`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The expected value, described (removed or changed objects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The actual value, described (added or changed objects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.table {
            Some(t) if self.object == ObjectKind::Table || self.object == ObjectKind::Collection => format!("{} {t}", self.object.label()),
            Some(t) => format!("{} {} on {t}", self.object.label(), self.name),
            None => format!("{} {}", self.object.label(), self.name),
        };
        match self.change {
            Change::Added => write!(f, "+ {what} is extra: {}", self.actual.as_deref().unwrap_or("")),
            Change::Removed => write!(f, "- {what} is missing: {}", self.expected.as_deref().unwrap_or("")),
            Change::Changed => write!(
                f,
                "~ {what}: {} is {}, expected {}",
                self.field.as_deref().unwrap_or("definition"),
                self.actual.as_deref().unwrap_or("none"),
                self.expected.as_deref().unwrap_or("none")
            ),
        }
    }
}

/// Describes a column in one line: `integer NOT NULL DEFAULT 0`.
pub fn describe_column(c: &Column) -> String {
    let mut s = c.data_type.clone();
    if !c.nullable {
        s.push_str(" NOT NULL");
    }
    if let Some(d) = &c.default {
        s.push_str(&format!(" DEFAULT {d}"));
    }
    if let Some(g) = &c.generated {
        s.push_str(&format!(" GENERATED AS ({}){}", g.expression, if g.stored { " STORED" } else { "" }));
    }
    if let Some(i) = &c.identity {
        s.push_str(&format!(" {}", i.to_ascii_uppercase()));
    }
    if let Some(co) = &c.collation {
        s.push_str(&format!(" COLLATE {co}"));
    }
    s
}

/// Describes an index: `UNIQUE (a, lower(b) DESC) WHERE …`.
pub fn describe_index(i: &Index) -> String {
    let parts: Vec<String> = i
        .parts
        .iter()
        .map(|p| format!("{}{}{}", p.key, p.length.map(|n| format!("({n})")).unwrap_or_default(), if p.descending { " DESC" } else { "" }))
        .collect();
    format!(
        "{}{}({}){}",
        if i.unique { "UNIQUE " } else { "" },
        i.method.as_ref().map(|m| format!("USING {m} ")).unwrap_or_default(),
        parts.join(", "),
        i.predicate.as_ref().map(|p| format!(" WHERE {p}")).unwrap_or_default()
    )
}

/// Describes a foreign key: `(user_id) REFERENCES users (id) ON DELETE CASCADE`.
pub fn describe_fk(fk: &ForeignKey) -> String {
    let mut s = format!("({}) REFERENCES {} ({})", fk.columns.join(", "), fk.ref_table, fk.ref_columns.join(", "));
    if fk.on_update != FkAction::NoAction {
        s.push_str(&format!(" ON UPDATE {}", fk.on_update.sql()));
    }
    if fk.on_delete != FkAction::NoAction {
        s.push_str(&format!(" ON DELETE {}", fk.on_delete.sql()));
    }
    s
}

struct Out {
    list: Vec<Difference>,
}

impl Out {
    fn push(&mut self, change: Change, object: ObjectKind, table: Option<&str>, name: &str, field: Option<&str>, expected: Option<String>, actual: Option<String>) {
        self.list.push(Difference { change, object, table: table.map(String::from), name: name.to_string(), field: field.map(String::from), expected, actual });
    }

    /// Compares two maps of described objects, in name order.
    fn maps(&mut self, object: ObjectKind, table: Option<&str>, a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) {
        let names: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for k in names {
            match (a.get(k), b.get(k)) {
                (Some(va), None) => self.push(Change::Removed, object, table, k, None, Some(va.clone()), None),
                (None, Some(vb)) => self.push(Change::Added, object, table, k, None, None, Some(vb.clone())),
                (Some(va), Some(vb)) if va != vb => self.push(Change::Changed, object, table, k, Some("definition"), Some(va.clone()), Some(vb.clone())),
                _ => {}
            }
        }
    }
}

fn keyed<T>(items: impl IntoIterator<Item = T>, f: impl Fn(&T) -> (String, String)) -> BTreeMap<String, String> {
    items.into_iter().map(|i| f(&i)).collect()
}

/// The differences that turn `expected` into `actual`, in a deterministic order.
pub fn compare(expected: &Schema, actual: &Schema) -> Vec<Difference> {
    let mut out = Out { list: Vec::new() };
    for (name, ta) in &expected.tables {
        match actual.tables.get(name) {
            None => out.push(Change::Removed, ObjectKind::Table, Some(name), name, None, Some(format!("{} column(s)", ta.columns.len())), None),
            Some(tb) => table(&mut out, ta, tb),
        }
    }
    for (name, tb) in &actual.tables {
        if !expected.tables.contains_key(name) {
            out.push(Change::Added, ObjectKind::Table, Some(name), name, None, None, Some(format!("{} column(s)", tb.columns.len())));
        }
    }
    let views = |s: &Schema| keyed(s.views.values(), |v| (v.name.clone(), format!("{}{}", if v.materialized { "MATERIALIZED " } else { "" }, v.definition)));
    out.maps(ObjectKind::View, None, &views(expected), &views(actual));
    let seqs = |s: &Schema| {
        keyed(s.sequences.values(), |q| {
            (q.name.clone(), format!("{} START {} INCREMENT {} MIN {} MAX {}{}{}", q.data_type, q.start, q.increment, q.min, q.max, if q.cycle { " CYCLE" } else { "" }, q.owned_by.as_ref().map(|o| format!(" OWNED BY {o}")).unwrap_or_default()))
        })
    };
    out.maps(ObjectKind::Sequence, None, &seqs(expected), &seqs(actual));
    let enums = |s: &Schema| keyed(s.enums.values(), |e| (e.name.clone(), format!("({})", e.values.join(", "))));
    out.maps(ObjectKind::Enum, None, &enums(expected), &enums(actual));
    let funcs = |s: &Schema| keyed(s.functions.values(), |f| (f.name.clone(), f.definition.clone()));
    out.maps(ObjectKind::Function, None, &funcs(expected), &funcs(actual));
    let trigs = |s: &Schema| keyed(s.triggers.values(), |t| (t.name.clone(), t.definition.clone()));
    out.maps(ObjectKind::Trigger, None, &trigs(expected), &trigs(actual));
    for (name, ca) in &expected.collections {
        match actual.collections.get(name) {
            None => out.push(Change::Removed, ObjectKind::Collection, Some(name), name, None, Some(format!("{} index(es)", ca.indexes.len())), None),
            Some(cb) => collection(&mut out, ca, cb),
        }
    }
    for name in actual.collections.keys() {
        if !expected.collections.contains_key(name) {
            out.push(Change::Added, ObjectKind::Collection, Some(name), name, None, None, Some("collection".into()));
        }
    }
    out.list
}

fn table(out: &mut Out, a: &Table, b: &Table) {
    let t = Some(a.name.as_str());
    for ca in &a.columns {
        let Some(cb) = b.column(&ca.name) else {
            out.push(Change::Removed, ObjectKind::Column, t, &ca.name, None, Some(describe_column(ca)), None);
            continue;
        };
        let opt = |o: &Option<String>| o.clone();
        let fields: [(&str, Option<String>, Option<String>); 7] = [
            ("type", Some(ca.data_type.clone()), Some(cb.data_type.clone())),
            ("nullable", Some(ca.nullable.to_string()), Some(cb.nullable.to_string())),
            ("default", opt(&ca.default), opt(&cb.default)),
            ("generated", ca.generated.as_ref().map(|g| g.expression.clone() + if g.stored { " STORED" } else { "" }), cb.generated.as_ref().map(|g| g.expression.clone() + if g.stored { " STORED" } else { "" })),
            ("identity", opt(&ca.identity), opt(&cb.identity)),
            ("collation", opt(&ca.collation), opt(&cb.collation)),
            ("on_update", opt(&ca.on_update), opt(&cb.on_update)),
        ];
        for (field, va, vb) in fields {
            if va != vb {
                out.push(Change::Changed, ObjectKind::Column, t, &ca.name, Some(field), va, vb);
            }
        }
    }
    for cb in &b.columns {
        if a.column(&cb.name).is_none() {
            out.push(Change::Added, ObjectKind::Column, t, &cb.name, None, None, Some(describe_column(cb)));
        }
    }
    let order = |x: &Table, other: &Table| x.columns.iter().filter(|c| other.column(&c.name).is_some()).map(|c| c.name.clone()).collect::<Vec<_>>();
    let (oa, ob) = (order(a, b), order(b, a));
    if oa != ob {
        out.push(Change::Changed, ObjectKind::Table, t, &a.name, Some("column order"), Some(oa.join(", ")), Some(ob.join(", ")));
    }
    let opts = |x: &Table| x.options.clone();
    for (k, va) in opts(a) {
        if b.options.get(&k) != Some(&va) {
            out.push(Change::Changed, ObjectKind::Table, t, &a.name, Some(&k), Some(va), b.options.get(&k).cloned());
        }
    }
    for (k, vb) in opts(b) {
        if !a.options.contains_key(&k) {
            out.push(Change::Changed, ObjectKind::Table, t, &a.name, Some(&k), None, Some(vb));
        }
    }
    let pk = |x: &Table| keyed(x.primary_key.iter(), |p| ("primary key".to_string(), format!("{}({})", p.name.as_ref().map(|n| format!("{n} ")).unwrap_or_default(), p.columns.join(", "))));
    out.maps(ObjectKind::PrimaryKey, t, &pk(a), &pk(b));
    let uniques = |x: &Table| keyed(x.uniques.iter(), |u| (u.name.clone().unwrap_or_else(|| format!("({})", u.columns.join(", "))), format!("UNIQUE ({})", u.columns.join(", "))));
    out.maps(ObjectKind::Unique, t, &uniques(a), &uniques(b));
    let indexes = |x: &Table| keyed(x.indexes.iter(), |i| (i.name.clone(), describe_index(i)));
    out.maps(ObjectKind::Index, t, &indexes(a), &indexes(b));
    let fks = |x: &Table| keyed(x.foreign_keys.iter(), |f| (f.name.clone().unwrap_or_else(|| format!("({}) -> {}", f.columns.join(", "), f.ref_table)), describe_fk(f)));
    out.maps(ObjectKind::ForeignKey, t, &fks(a), &fks(b));
    let check = |e: &str| if e.starts_with('(') { format!("CHECK {e}") } else { format!("CHECK ({e})") };
    let checks = |x: &Table| keyed(x.checks.iter(), |c| (c.name.clone().unwrap_or_else(|| c.expression.clone()), check(&c.expression)));
    out.maps(ObjectKind::Check, t, &checks(a), &checks(b));
}

fn collection(out: &mut Out, a: &Collection, b: &Collection) {
    let t = Some(a.name.as_str());
    if a.validator != b.validator {
        out.push(Change::Changed, ObjectKind::Collection, t, &a.name, Some("validator"), a.validator.clone(), b.validator.clone());
    }
    let describe = |c: &Collection| {
        keyed(c.indexes.iter(), |i| {
            let keys: Vec<String> = i.keys.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            let opts: Vec<String> = i.options.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            (i.name.clone(), format!("{{{}}}{}", keys.join(", "), if opts.is_empty() { String::new() } else { format!(" {{{}}}", opts.join(", ")) }))
        })
    };
    out.maps(ObjectKind::CollectionIndex, t, &describe(a), &describe(b));
    let (oa, ob) = (&a.options, &b.options);
    for k in oa.keys().chain(ob.keys().filter(|k| !oa.contains_key(*k))) {
        if oa.get(k) != ob.get(k) {
            out.push(Change::Changed, ObjectKind::Collection, t, &a.name, Some(k), oa.get(k).cloned(), ob.get(k).cloned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        let mut s = Schema::new(SchemaDialect::Postgres);
        let mut t = Table::new("users");
        t.columns.push(Column::new("id", "integer"));
        t.columns.push(Column::new("email", "text"));
        t.indexes.push(Index { name: "users_email".into(), unique: false, parts: vec![IndexPart::column("email")], predicate: None, method: None });
        s.tables.insert("users".into(), t);
        s
    }

    #[test]
    fn equal_schemas_have_no_differences() {
        assert!(compare(&schema(), &schema()).is_empty());
    }

    #[test]
    fn added_index_changed_type_and_dropped_table_are_named() {
        let a = schema();
        let mut b = schema();
        let t = b.tables.get_mut("users").unwrap();
        t.columns[1].data_type = "character varying(10)".into();
        t.indexes.push(Index { name: "by_id".into(), unique: true, parts: vec![IndexPart::column("id")], predicate: None, method: None });
        let d = compare(&a, &b);
        assert_eq!(d.len(), 2, "{d:#?}");
        assert_eq!((d[0].change, d[0].object, d[0].field.as_deref()), (Change::Changed, ObjectKind::Column, Some("type")));
        assert_eq!((d[1].change, d[1].object, d[1].name.as_str()), (Change::Added, ObjectKind::Index, "by_id"));
        assert_eq!(d[1].to_string(), "+ index by_id on users is extra: UNIQUE (id)");
        let gone = compare(&a, &Schema::new(SchemaDialect::Postgres));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].to_string(), "- table users is missing: 2 column(s)");
    }
}
