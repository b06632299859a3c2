//! Canonical DDL: a [`Schema`] printed as the statements that recreate it, in its own dialect,
//! in an order that satisfies dependencies (types and sequences, tables, foreign keys, indexes,
//! views in dependency order, triggers). The same schema always prints the same bytes, and
//! loading the output into an empty database of that dialect gives the same schema back.

use std::fmt::Write;

use crate::schema::model::*;

/// Renders `schema` as SQL (MongoDB: a `.mongo.json` migration whose `up` recreates it).
pub fn render(schema: &Schema) -> String {
    if schema.dialect == SchemaDialect::Mongo {
        let mut out = String::new();
        mongo(schema, &mut out);
        return out;
    }
    let mut out = format!("-- {} schema, written by `db-migrate schema dump`\n", schema.dialect.name());
    match schema.dialect {
        SchemaDialect::Sqlite => sqlite(schema, &mut out),
        SchemaDialect::Postgres => postgres(schema, &mut out),
        SchemaDialect::Mysql => mysql(schema, &mut out),
        SchemaDialect::Mongo => unreachable!("rendered above"),
    }
    out
}

/// `"name"` (SQLite, PostgreSQL).
pub fn dq(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `` `name` `` (MySQL).
pub fn bq(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

pub(crate) fn list(cols: &[String], q: fn(&str) -> String) -> String {
    cols.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ")
}

pub(crate) fn actions(fk: &ForeignKey) -> String {
    let mut s = String::new();
    if fk.on_update != FkAction::NoAction {
        let _ = write!(s, " ON UPDATE {}", fk.on_update.sql());
    }
    if fk.on_delete != FkAction::NoAction {
        let _ = write!(s, " ON DELETE {}", fk.on_delete.sql());
    }
    s
}

/// Views ordered so each comes after the views its definition names.
pub(crate) fn views_in_order(schema: &Schema) -> Vec<&View> {
    let mut left: Vec<&View> = schema.views.values().collect();
    let mut done: Vec<&View> = Vec::new();
    let mentions = |v: &View, other: &str| {
        let def = v.definition.to_ascii_lowercase();
        let o = other.to_ascii_lowercase();
        def.match_indices(&o).any(|(i, _)| {
            let before = def[..i].chars().next_back();
            let after = def[i + o.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            !word(before) && !word(after)
        })
    };
    while !left.is_empty() {
        let ready = left.iter().position(|v| !left.iter().any(|o| o.name != v.name && mentions(v, &o.name))).unwrap_or(0);
        done.push(left.remove(ready));
    }
    done
}

fn statement(out: &mut String, s: &str) {
    out.push('\n');
    out.push_str(s.trim_end().trim_end_matches(';'));
    out.push_str(";\n");
}

/// Whether an SQLite default is a literal that needs no parentheses.
pub(crate) fn sqlite_literal(d: &str) -> bool {
    let u = d.to_ascii_uppercase();
    d.parse::<f64>().is_ok()
        || (d.starts_with('\'') && d.ends_with('\'') && d.len() >= 2)
        || (u.starts_with("X'") && d.ends_with('\''))
        || matches!(u.as_str(), "NULL" | "TRUE" | "FALSE" | "CURRENT_TIME" | "CURRENT_DATE" | "CURRENT_TIMESTAMP")
}

fn sqlite(schema: &Schema, out: &mut String) {
    for t in schema.tables.values() {
        statement(out, &sqlite_table(t, &t.name));
    }
    for t in schema.tables.values() {
        for i in &t.indexes {
            statement(out, &sqlite_index(&t.name, i));
        }
    }
    for v in views_in_order(schema) {
        statement(out, &v.definition);
    }
    for tr in schema.triggers.values() {
        statement(out, &tr.definition);
    }
}

/// One SQLite column definition (`single_pk`: the table's one-column primary key, inlined).
pub(crate) fn sqlite_column(c: &Column, single_pk: Option<&str>) -> String {
    let mut l = dq(&c.name);
    if !c.data_type.is_empty() {
        let _ = write!(l, " {}", c.data_type);
    }
    if let Some(g) = &c.generated {
        let _ = write!(l, " GENERATED ALWAYS AS ({}) {}", g.expression, if g.stored { "STORED" } else { "VIRTUAL" });
    }
    if single_pk == Some(c.name.as_str()) {
        l.push_str(" PRIMARY KEY");
        if c.identity.is_some() {
            l.push_str(" AUTOINCREMENT");
        }
    }
    if !c.nullable {
        l.push_str(" NOT NULL");
    }
    if let Some(d) = &c.default {
        if sqlite_literal(d) {
            let _ = write!(l, " DEFAULT {d}");
        } else {
            let _ = write!(l, " DEFAULT ({d})");
        }
    }
    if let Some(co) = &c.collation {
        let _ = write!(l, " COLLATE {co}");
    }
    l
}

/// `CREATE TABLE name (…)` for SQLite table `t` (named `name`: a rebuild creates it under
/// another name first), foreign keys and checks inline.
pub(crate) fn sqlite_table(t: &Table, name: &str) -> String {
    if let Some(def) = t.options.get("definition") {
        return def.clone();
    }
    let single_pk = t.primary_key.as_ref().filter(|pk| pk.columns.len() == 1).map(|pk| pk.columns[0].as_str());
    let mut lines: Vec<String> = t.columns.iter().map(|c| sqlite_column(c, single_pk)).collect();
    if let Some(pk) = t.primary_key.as_ref().filter(|pk| pk.columns.len() > 1) {
        lines.push(format!("PRIMARY KEY ({})", list(&pk.columns, dq)));
    }
    for u in &t.uniques {
        lines.push(format!("UNIQUE ({})", list(&u.columns, dq)));
    }
    for ch in &t.checks {
        let name = ch.name.as_ref().map(|n| format!("CONSTRAINT {} ", dq(n))).unwrap_or_default();
        lines.push(format!("{name}CHECK ({})", ch.expression));
    }
    for fk in &t.foreign_keys {
        let name = fk.name.as_ref().map(|n| format!("CONSTRAINT {} ", dq(n))).unwrap_or_default();
        let refs = if fk.ref_columns.is_empty() { String::new() } else { format!(" ({})", list(&fk.ref_columns, dq)) };
        lines.push(format!("{name}FOREIGN KEY ({}) REFERENCES {}{refs}{}", list(&fk.columns, dq), dq(&fk.ref_table), actions(fk)));
    }
    let mut opts = Vec::new();
    if t.options.contains_key("without_rowid") {
        opts.push("WITHOUT ROWID");
    }
    if t.options.contains_key("strict") {
        opts.push("STRICT");
    }
    let opts = if opts.is_empty() { String::new() } else { format!(" {}", opts.join(", ")) };
    format!("CREATE TABLE {} (\n  {}\n){opts}", dq(name), lines.join(",\n  "))
}

/// `CREATE [UNIQUE] INDEX` for SQLite.
pub(crate) fn sqlite_index(table: &str, i: &Index) -> String {
    let parts: Vec<String> =
        i.parts.iter().map(|p| format!("{}{}", if p.expression { p.key.clone() } else { dq(&p.key) }, if p.descending { " DESC" } else { "" })).collect();
    let pred = i.predicate.as_ref().map(|p| format!(" WHERE {p}")).unwrap_or_default();
    let unique = if i.unique { "UNIQUE " } else { "" };
    format!("CREATE {unique}INDEX {} ON {} ({}){pred}", dq(&i.name), dq(table), parts.join(", "))
}

fn postgres(schema: &Schema, out: &mut String) {
    out.push_str("\nSET check_function_bodies = false;\n");
    for e in schema.enums.values() {
        statement(out, &pg_enum(e));
    }
    for s in schema.sequences.values() {
        statement(out, &pg_sequence(s));
    }
    for f in schema.functions.values() {
        statement(out, &f.definition);
    }
    for t in schema.tables.values() {
        statement(out, &pg_table(t));
    }
    for s in schema.sequences.values() {
        if let Some((t, c)) = s.owned_by.as_deref().and_then(|o| o.split_once('.')) {
            statement(out, &format!("ALTER SEQUENCE {} OWNED BY {}.{}", dq(&s.name), dq(t), dq(c)));
        }
    }
    for t in schema.tables.values() {
        for fk in &t.foreign_keys {
            statement(out, &format!("ALTER TABLE {} ADD {}", dq(&t.name), pg_fk(fk)));
        }
    }
    for t in schema.tables.values() {
        for i in &t.indexes {
            statement(out, &pg_index(&t.name, i, false));
        }
    }
    for v in views_in_order(schema) {
        statement(out, &pg_view(v));
    }
    for tr in schema.triggers.values() {
        statement(out, &tr.definition);
    }
}

/// `CREATE TYPE … AS ENUM (…)`.
pub(crate) fn pg_enum(e: &EnumType) -> String {
    let values: Vec<String> = e.values.iter().map(|v| quote_literal(v)).collect();
    format!("CREATE TYPE {} AS ENUM ({})", dq(&e.name), values.join(", "))
}

/// A SQL string literal.
pub(crate) fn quote_literal(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

/// `CREATE SEQUENCE …` (without OWNED BY: the table may not exist yet).
pub(crate) fn pg_sequence(s: &Sequence) -> String {
    format!(
        "CREATE SEQUENCE {} AS {} START WITH {} INCREMENT BY {} MINVALUE {} MAXVALUE {} {}",
        dq(&s.name),
        s.data_type,
        s.start,
        s.increment,
        s.min,
        s.max,
        if s.cycle { "CYCLE" } else { "NO CYCLE" }
    )
}

/// One PostgreSQL column definition.
pub(crate) fn pg_column(c: &Column) -> String {
    let mut l = format!("{} {}", dq(&c.name), c.data_type);
    if let Some(co) = &c.collation {
        let _ = write!(l, " COLLATE {}", dq(co));
    }
    if let Some(g) = &c.generated {
        let _ = write!(l, " GENERATED ALWAYS AS ({}) STORED", g.expression);
    }
    if let Some(id) = &c.identity {
        let _ = write!(l, " GENERATED {} AS IDENTITY", id.to_ascii_uppercase());
    }
    if let Some(d) = &c.default {
        let _ = write!(l, " DEFAULT {d}");
    }
    if !c.nullable {
        l.push_str(" NOT NULL");
    }
    l
}

/// `CREATE TABLE` for PostgreSQL: columns, primary key, unique and check constraints (foreign
/// keys and indexes are separate statements).
pub(crate) fn pg_table(t: &Table) -> String {
    let mut lines: Vec<String> = t.columns.iter().map(pg_column).collect();
    if let Some(pk) = &t.primary_key {
        let name = pk.name.as_ref().map(|n| format!("CONSTRAINT {} ", dq(n))).unwrap_or_default();
        lines.push(format!("{name}PRIMARY KEY ({})", list(&pk.columns, dq)));
    }
    for u in &t.uniques {
        let name = u.name.as_ref().map(|n| format!("CONSTRAINT {} ", dq(n))).unwrap_or_default();
        lines.push(format!("{name}UNIQUE ({})", list(&u.columns, dq)));
    }
    for ch in &t.checks {
        lines.push(pg_check(ch));
    }
    format!("CREATE TABLE {} (\n  {}\n)", dq(&t.name), lines.join(",\n  "))
}

/// `[CONSTRAINT name] CHECK …` for PostgreSQL (the expression as the catalog prints it).
pub(crate) fn pg_check(ch: &Check) -> String {
    let name = ch.name.as_ref().map(|n| format!("CONSTRAINT {} ", dq(n))).unwrap_or_default();
    format!("{name}CHECK {}", ch.expression)
}

/// `[CONSTRAINT name] FOREIGN KEY (…) REFERENCES …` for PostgreSQL.
pub(crate) fn pg_fk(fk: &ForeignKey) -> String {
    let name = fk.name.as_ref().map(|n| format!("CONSTRAINT {} ", dq(n))).unwrap_or_default();
    format!("{name}FOREIGN KEY ({}) REFERENCES {} ({}){}", list(&fk.columns, dq), dq(&fk.ref_table), list(&fk.ref_columns, dq), actions(fk))
}

/// `CREATE [UNIQUE] INDEX [CONCURRENTLY]` for PostgreSQL.
pub(crate) fn pg_index(table: &str, i: &Index, concurrently: bool) -> String {
    let parts: Vec<String> = i
        .parts
        .iter()
        .map(|p| format!("{}{}", if p.expression { format!("({})", p.key) } else { dq(&p.key) }, if p.descending { " DESC" } else { "" }))
        .collect();
    let using = i.method.as_ref().map(|m| format!(" USING {m}")).unwrap_or_default();
    let pred = i.predicate.as_ref().map(|p| format!(" WHERE {p}")).unwrap_or_default();
    let unique = if i.unique { "UNIQUE " } else { "" };
    let conc = if concurrently { "CONCURRENTLY " } else { "" };
    format!("CREATE {unique}INDEX {conc}{} ON {}{using} ({}){pred}", dq(&i.name), dq(table), parts.join(", "))
}

/// `CREATE [MATERIALIZED] VIEW … AS …` for PostgreSQL.
pub(crate) fn pg_view(v: &View) -> String {
    let kind = if v.materialized { "MATERIALIZED VIEW" } else { "VIEW" };
    format!("CREATE {kind} {} AS\n{}", dq(&v.name), v.definition)
}

fn mysql(schema: &Schema, out: &mut String) {
    for t in schema.tables.values() {
        statement(out, &mysql_table(t));
    }
    for t in schema.tables.values() {
        for fk in &t.foreign_keys {
            statement(out, &format!("ALTER TABLE {} ADD {}", bq(&t.name), mysql_fk(fk)));
        }
    }
    for v in views_in_order(schema) {
        statement(out, &format!("CREATE VIEW {} AS {}", bq(&v.name), v.definition));
    }
    for f in schema.functions.values() {
        statement(out, &f.definition);
    }
    for tr in schema.triggers.values() {
        statement(out, &tr.definition);
    }
}

/// One MySQL column definition.
pub(crate) fn mysql_column(c: &Column) -> String {
    let mut l = format!("{} {}", bq(&c.name), c.data_type);
    if let Some(co) = &c.collation {
        let _ = write!(l, " COLLATE {co}");
    }
    if let Some(g) = &c.generated {
        let _ = write!(l, " GENERATED ALWAYS AS ({}) {}", g.expression, if g.stored { "STORED" } else { "VIRTUAL" });
    } else {
        l.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
        if let Some(d) = &c.default {
            let _ = write!(l, " DEFAULT {d}");
        }
        if let Some(u) = &c.on_update {
            let _ = write!(l, " ON UPDATE {u}");
        }
        if c.identity.is_some() {
            l.push_str(" AUTO_INCREMENT");
        }
    }
    l
}

/// A MySQL index as a table element (`KEY name (…)`, `UNIQUE KEY`, `FULLTEXT KEY`).
pub(crate) fn mysql_index_element(i: &Index) -> String {
    let parts: Vec<String> = i
        .parts
        .iter()
        .map(|p| {
            let key = if p.expression { format!("({})", p.key) } else { bq(&p.key) };
            let len = p.length.map(|n| format!("({n})")).unwrap_or_default();
            format!("{key}{len}{}", if p.descending { " DESC" } else { "" })
        })
        .collect();
    let (kind, using) = match i.method.as_deref() {
        Some("FULLTEXT") => ("FULLTEXT KEY".to_string(), String::new()),
        Some("SPATIAL") => ("SPATIAL KEY".to_string(), String::new()),
        Some(m) => (if i.unique { "UNIQUE KEY" } else { "KEY" }.to_string(), format!(" USING {m}")),
        None => (if i.unique { "UNIQUE KEY" } else { "KEY" }.to_string(), String::new()),
    };
    format!("{kind} {} ({}){using}", bq(&i.name), parts.join(", "))
}

/// `[CONSTRAINT name] CHECK (…)` for MySQL.
pub(crate) fn mysql_check(ch: &Check) -> String {
    let name = ch.name.as_ref().map(|n| format!("CONSTRAINT {} ", bq(n))).unwrap_or_default();
    format!("{name}CHECK ({})", ch.expression)
}

/// `[CONSTRAINT name] FOREIGN KEY (…) REFERENCES …` for MySQL, both actions spelled out: a
/// clause left out means RESTRICT there, which the catalog tells apart from NO ACTION.
pub(crate) fn mysql_fk(fk: &ForeignKey) -> String {
    let name = fk.name.as_ref().map(|n| format!("CONSTRAINT {} ", bq(n))).unwrap_or_default();
    format!(
        "{name}FOREIGN KEY ({}) REFERENCES {} ({}) ON UPDATE {} ON DELETE {}",
        list(&fk.columns, bq),
        bq(&fk.ref_table),
        list(&fk.ref_columns, bq),
        fk.on_update.sql(),
        fk.on_delete.sql()
    )
}

/// `CREATE TABLE` for MySQL: columns, keys, indexes and checks (foreign keys are separate).
pub(crate) fn mysql_table(t: &Table) -> String {
    let mut lines: Vec<String> = t.columns.iter().map(mysql_column).collect();
    if let Some(pk) = &t.primary_key {
        lines.push(format!("PRIMARY KEY ({})", list(&pk.columns, bq)));
    }
    for i in &t.indexes {
        lines.push(mysql_index_element(i));
    }
    for u in &t.uniques {
        lines.push(format!("UNIQUE ({})", list(&u.columns, bq)));
    }
    for ch in &t.checks {
        lines.push(mysql_check(ch));
    }
    format!("CREATE TABLE {} (\n  {}\n){}", bq(&t.name), lines.join(",\n  "), mysql_table_options(t))
}

/// ` ENGINE=… DEFAULT COLLATE=…` of a MySQL table.
pub(crate) fn mysql_table_options(t: &Table) -> String {
    let mut opts = String::new();
    if let Some(e) = t.options.get("engine") {
        let _ = write!(opts, " ENGINE={e}");
    }
    if let Some(c) = t.options.get("collate") {
        let _ = write!(opts, " DEFAULT COLLATE={c}");
    }
    opts
}

fn mongo(schema: &Schema, out: &mut String) {
    use serde_json::{Map, Value};
    let parse = |v: &str| serde_json::from_str(v).unwrap_or(Value::Null);
    let mut commands = Vec::new();
    for c in schema.collections.values() {
        let mut create = Map::new();
        create.insert("create".into(), c.name.clone().into());
        for (k, v) in &c.options {
            create.insert(k.clone(), parse(v));
        }
        if let Some(v) = &c.validator {
            create.insert("validator".into(), parse(v));
        }
        commands.push(Value::Object(create));
        if !c.indexes.is_empty() {
            let indexes: Vec<Value> = c
                .indexes
                .iter()
                .map(|i| {
                    let key: Map<String, Value> = i.keys.iter().map(|(f, v)| (f.clone(), parse(v))).collect();
                    let mut ix = Map::new();
                    ix.insert("name".into(), i.name.clone().into());
                    ix.insert("key".into(), key.into());
                    for (k, v) in &i.options {
                        ix.insert(k.clone(), parse(v));
                    }
                    ix.into()
                })
                .collect();
            commands.push(serde_json::json!({ "createIndexes": c.name, "indexes": indexes }));
        }
    }
    out.push_str(&serde_json::to_string_pretty(&serde_json::json!({ "up": commands })).unwrap_or_default());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_come_after_the_views_they_read() {
        let mut s = Schema::new(SchemaDialect::Sqlite);
        s.views.insert("a".into(), View { name: "a".into(), definition: "CREATE VIEW a AS SELECT * FROM b".into(), materialized: false });
        s.views.insert("b".into(), View { name: "b".into(), definition: "CREATE VIEW b AS SELECT 1 AS ab".into(), materialized: false });
        let names: Vec<&str> = views_in_order(&s).iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
    }

    #[test]
    fn sqlite_defaults_keep_their_parentheses_where_needed() {
        assert!(sqlite_literal("'x'") && sqlite_literal("-1.5") && sqlite_literal("CURRENT_TIMESTAMP"));
        assert!(!sqlite_literal("datetime('now')"));
    }
}
