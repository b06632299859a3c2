//! The generator against a seeded corpus of random schema pairs (A, B) per dialect: A is loaded
//! into a real database and given rows, the generated up must give exactly B (introspected and
//! compared with B loaded on its own), keeping the data of every column that survives with its
//! type, and the generated down must give exactly A back. A failure prints the seed, the pair
//! and both schemas; `DBM_CORPUS_SEED` and `DBM_CORPUS_PAIRS` replay or widen a run.
//!
//! The schemas: tables with an integer key, columns of the dialect's common types (a numeric
//! family that converts both ways — integers, decimals, strings of digits — and types that stay),
//! defaults, NOT NULL, unique constraints, indexes (partial and expression ones where the dialect
//! has them), foreign keys with actions, checks, views, PostgreSQL enums. The changes: tables and
//! columns added and dropped, types, nullability and defaults changed, and every kind of
//! constraint, index, key, view and enum value added or dropped. What the corpus leaves out,
//! because no generator can do it without data decisions, is documented on [`mutate`].

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use db_migrate::backend::DatabaseUrl;
use db_migrate::schema::generate::{Script, generate};
use db_migrate::schema::{OwnTables, Schema, compare, introspect};
use sqlx::{AssertSqlSafe, Connection, Row};

use crate::servers::{Kind, TestDb};

/// splitmix64: small, seedable, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dialect {
    Sqlite,
    Postgres,
    Mariadb,
}

impl Dialect {
    /// Types whose values (small integers) convert to one another both ways.
    fn numeric(self) -> &'static [&'static str] {
        match self {
            Dialect::Sqlite => &["INTEGER", "TEXT", "REAL", "NUMERIC", "BIGINT"],
            Dialect::Postgres => &["integer", "bigint", "numeric(10,2)", "text", "varchar(40)"],
            Dialect::Mariadb => &["int", "bigint", "decimal(10,2)", "varchar(40)"],
        }
    }
    /// Other common types, with a value for rows and defaults; never retyped.
    fn others(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Dialect::Sqlite => &[("BLOB", "x'01'"), ("DATE", "'2024-01-02'"), ("BOOLEAN", "1")],
            Dialect::Postgres => &[("boolean", "true"), ("date", "'2024-01-02'"), ("timestamptz", "'2024-01-02 03:04:05+00'"), ("uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'")],
            Dialect::Mariadb => &[("date", "'2024-01-02'"), ("datetime", "'2024-01-02 03:04:05'"), ("tinyint(1)", "1")],
        }
    }
    fn key_type(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INTEGER",
            Dialect::Postgres => "integer",
            Dialect::Mariadb => "int",
        }
    }
    fn q(self, name: &str) -> String {
        match self {
            Dialect::Mariadb => format!("`{name}`"),
            _ => format!("\"{name}\""),
        }
    }
    fn length_check(self, col: &str) -> String {
        match self {
            Dialect::Sqlite => format!("length({}) < 50", self.q(col)),
            Dialect::Postgres => format!("length(({})::text) < 50", self.q(col)),
            Dialect::Mariadb => format!("char_length({}) < 50", self.q(col)),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Family {
    /// Retypeable within [`Dialect::numeric`]; row r holds `r * 10 + n`.
    Numeric,
    /// A foreign key column: integer, nullable, row r holds r (every table has ids 1..=3).
    Ref,
    /// One of [`Dialect::others`], holding its value.
    Other(&'static str),
    /// A PostgreSQL enum, holding its first value.
    Enum(String),
}

#[derive(Clone, Debug)]
struct Col {
    name: String,
    ty: String,
    family: Family,
    not_null: bool,
    default: Option<String>,
}

#[derive(Clone, Debug)]
struct Idx {
    name: String,
    cols: Vec<String>,
    unique: bool,
    partial: bool,
    /// PostgreSQL: `lower(col::text)` instead of the column.
    expression: bool,
}

#[derive(Clone, Debug)]
struct Fk {
    name: String,
    col: String,
    parent: String,
    on_delete: &'static str,
    on_update: &'static str,
}

#[derive(Clone, Debug)]
struct Tab {
    name: String,
    cols: Vec<Col>,
    indexes: Vec<Idx>,
    uniques: Vec<(String, Vec<String>)>,
    fks: Vec<Fk>,
    checks: Vec<(String, String)>,
    /// Whether it exists in A (rows are inserted only into A's tables).
    serial: usize,
}

#[derive(Clone, Debug, Default)]
struct Spec {
    tables: Vec<Tab>,
    enums: Vec<(String, Vec<String>)>,
    views: Vec<(String, String, String)>,
    counter: usize,
}

impl Spec {
    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}", self.counter)
    }
}

const ACTIONS: [&str; 4] = ["NO ACTION", "CASCADE", "SET NULL", "RESTRICT"];

fn new_column(d: Dialect, s: &mut Spec, r: &mut Rng, allow_not_null_without_default: bool) -> Col {
    let roll = r.below(10);
    let (ty, family) = if roll < 5 {
        (r.pick(d.numeric()).to_string(), Family::Numeric)
    } else if roll < 7 {
        (d.key_type().to_string(), Family::Ref)
    } else if roll < 9 || s.enums.is_empty() {
        let (t, v) = *r.pick(d.others());
        (t.to_string(), Family::Other(v))
    } else {
        let e = r.pick(&s.enums).0.clone();
        (e.clone(), Family::Enum(e))
    };
    let prefix = if family == Family::Ref { "p" } else { "c" };
    let name = s.fresh(prefix);
    let default = match (&family, r.chance(40)) {
        (Family::Numeric, true) => Some(format!("'{}'", r.below(9) + 1)),
        (Family::Other(v), true) => Some(v.to_string()),
        (Family::Enum(e), true) => s.enums.iter().find(|(n, _)| n == e).map(|(_, vals)| format!("'{}'", vals[0])),
        _ => None,
    };
    let not_null = family != Family::Ref && r.chance(35) && (default.is_some() || allow_not_null_without_default);
    Col { name, ty, family, not_null, default }
}

fn new_table(d: Dialect, s: &mut Spec, r: &mut Rng, in_a: bool) -> Tab {
    let name = s.fresh("t");
    let mut t = Tab { name: name.clone(), cols: Vec::new(), indexes: Vec::new(), uniques: Vec::new(), fks: Vec::new(), checks: Vec::new(), serial: if in_a { 1 } else { 0 } };
    t.cols.push(Col { name: "id".into(), ty: d.key_type().into(), family: Family::Other("0"), not_null: true, default: None });
    for _ in 0..1 + r.below(4) {
        let c = new_column(d, s, r, true);
        t.cols.push(c);
    }
    // The parents a new table may point at: tables before it (and itself), so A's rows load in order.
    let parents: Vec<String> = s.tables.iter().filter(|p| p.serial == 1 || !in_a).map(|p| p.name.clone()).chain([name.clone()]).collect();
    for c in t.cols.clone().iter().filter(|c| c.family == Family::Ref) {
        if r.chance(70) {
            let fk = Fk { name: s.fresh("fk"), col: c.name.clone(), parent: r.pick(&parents).clone(), on_delete: *r.pick(&ACTIONS), on_update: *r.pick(&ACTIONS) };
            t.fks.push(fk);
        }
    }
    add_index(d, s, r, &mut t);
    if r.chance(40) {
        add_unique(s, r, &mut t);
    }
    if r.chance(40) {
        add_check(d, s, r, &mut t);
    }
    t
}

fn indexable(t: &Tab, unique: bool) -> Vec<String> {
    t.cols.iter().filter(|c| c.name != "id" && (matches!(c.family, Family::Numeric | Family::Ref) || (!unique && matches!(c.family, Family::Other(_))))).map(|c| c.name.clone()).collect()
}

fn add_index(d: Dialect, s: &mut Spec, r: &mut Rng, t: &mut Tab) {
    let unique = r.chance(30);
    let cols = indexable(t, unique);
    if cols.is_empty() {
        return;
    }
    let mut pick = vec![r.pick(&cols).clone()];
    if cols.len() > 1 && r.chance(30) {
        let other = r.pick(&cols).clone();
        if other != pick[0] {
            pick.push(other);
        }
    }
    let numeric = t.cols.iter().find(|c| c.name == pick[0]).is_some_and(|c| c.family == Family::Numeric);
    let expression = d == Dialect::Postgres && numeric && pick.len() == 1 && r.chance(30);
    let partial = d != Dialect::Mariadb && r.chance(35);
    t.indexes.push(Idx { name: s.fresh("ix"), cols: pick, unique, partial, expression });
}

fn add_unique(s: &mut Spec, r: &mut Rng, t: &mut Tab) {
    let cols = indexable(t, true);
    if !cols.is_empty() {
        let c = r.pick(&cols).clone();
        t.uniques.push((s.fresh("uq"), vec![c]));
    }
}

fn add_check(d: Dialect, s: &mut Spec, r: &mut Rng, t: &mut Tab) {
    let cols: Vec<String> = t.cols.iter().filter(|c| c.family == Family::Numeric).map(|c| c.name.clone()).collect();
    if !cols.is_empty() {
        let c = r.pick(&cols).clone();
        let _ = d;
        t.checks.push((s.fresh("ck"), c));
    }
}

fn schema_a(d: Dialect, r: &mut Rng) -> Spec {
    let mut s = Spec::default();
    if d == Dialect::Postgres && r.chance(50) {
        let e = s.fresh("e");
        s.enums.push((e, vec!["a".into(), "b".into(), "c".into()]));
    }
    for _ in 0..1 + r.below(3) {
        let t = new_table(d, &mut s, r, true);
        s.tables.push(t);
    }
    if r.chance(40) {
        add_view(&mut s, r);
    }
    s
}

fn add_view(s: &mut Spec, r: &mut Rng) {
    let t = r.pick(&s.tables).clone();
    let cols: Vec<&Col> = t.cols.iter().filter(|c| c.name != "id").collect();
    if cols.is_empty() {
        return;
    }
    let c = r.pick(&cols).name.clone();
    let v = s.fresh("v");
    s.views.push((v, t.name, c));
}

/// B: A with one to four random changes. Left out on purpose (they need a decision about data no
/// generator can make, and the generator warns about them instead): a NOT NULL column without a
/// default added to a table with rows; type changes outside the numeric family (text that is
/// not a number cannot become one); removing an enum value rows still hold; on PostgreSQL, a
/// column placed before existing ones (it can only append, and says so) — so its corpus drops
/// only trailing columns, which the down appends back in place.
fn mutate(d: Dialect, a: &Spec, r: &mut Rng) -> (Spec, Vec<String>) {
    let mut b = a.clone();
    let mut log = Vec::new();
    for _ in 0..1 + r.below(4) {
        let ti = r.below(b.tables.len().max(1));
        match r.below(14) {
            0 => {
                let t = new_table(d, &mut b, r, false);
                log.push(format!("add table {}", t.name));
                b.tables.push(t);
            }
            // Not a table rows of another point at: its down could not give them their rows back.
            1 if b.tables.len() > 1 && !b.tables.iter().any(|o| o.name != b.tables[ti].name && o.fks.iter().any(|f| f.parent == b.tables[ti].name)) => {
                let t = b.tables.remove(ti);
                log.push(format!("drop table {}", t.name));
            }
            2 if !b.tables.is_empty() => {
                let mut c = new_column(d, &mut b, r, false);
                let t = &mut b.tables[ti];
                if c.family == Family::Ref {
                    c.not_null = false;
                }
                let at = if d == Dialect::Postgres { t.cols.len() } else { 1 + r.below(t.cols.len()) };
                log.push(format!("add column {}.{} at {at}", t.name, c.name));
                t.cols.insert(at, c);
            }
            3 if !b.tables.is_empty() => {
                let t = &mut b.tables[ti];
                let last = t.cols.len() - 1;
                let at = if d == Dialect::Postgres { last } else { 1 + r.below(last.max(1)) };
                // Its down adds it back to a table with rows: NOT NULL needs a default, and a
                // unique one cannot get distinct values back.
                let in_unique = |t: &Tab, c: &str| t.uniques.iter().any(|u| u.1.iter().any(|x| x == c)) || t.indexes.iter().any(|i| i.unique && i.cols.iter().any(|x| x == c));
                let original = a.tables.iter().find(|x| x.name == t.name);
                let unique = at < t.cols.len() && (in_unique(t, &t.cols[at].name) || original.is_some_and(|o| in_unique(o, &t.cols[at].name)));
                if at >= 1 && at < t.cols.len() && !unique && (!t.cols[at].not_null || t.cols[at].default.is_some()) {
                    let c = t.cols.remove(at);
                    log.push(format!("drop column {}.{}", t.name, c.name));
                }
            }
            4 if !b.tables.is_empty() => {
                let t = &mut b.tables[ti];
                let cands: Vec<usize> = (0..t.cols.len()).filter(|&i| t.cols[i].family == Family::Numeric).collect();
                if !cands.is_empty() {
                    let i = *r.pick(&cands);
                    let ty = r.pick(d.numeric()).to_string();
                    log.push(format!("retype {}.{} {} -> {ty}", t.name, t.cols[i].name, t.cols[i].ty));
                    t.cols[i].ty = ty;
                }
            }
            5 if !b.tables.is_empty() => {
                let t = &mut b.tables[ti];
                let cands: Vec<usize> = (1..t.cols.len()).filter(|&i| t.cols[i].family != Family::Ref).collect();
                if !cands.is_empty() {
                    let i = *r.pick(&cands);
                    t.cols[i].not_null = !t.cols[i].not_null;
                    log.push(format!("{}.{} not null = {}", t.name, t.cols[i].name, t.cols[i].not_null));
                }
            }
            6 if !b.tables.is_empty() => {
                let t = &mut b.tables[ti];
                let cands: Vec<usize> = (1..t.cols.len()).filter(|&i| t.cols[i].family == Family::Numeric || matches!(t.cols[i].family, Family::Other(_))).collect();
                if !cands.is_empty() {
                    let i = *r.pick(&cands);
                    let c = &mut t.cols[i];
                    c.default = match (&c.family, c.default.is_some() && r.chance(50)) {
                        (_, true) => None,
                        (Family::Other(v), false) => Some(v.to_string()),
                        _ => Some(format!("'{}'", r.below(9) + 1)),
                    };
                    log.push(format!("default of {}.{} = {:?}", t.name, c.name, c.default));
                }
            }
            7 if !b.tables.is_empty() => {
                let mut t = b.tables[ti].clone();
                if !t.indexes.is_empty() && r.chance(40) {
                    let i = r.below(t.indexes.len());
                    log.push(format!("drop index {}", t.indexes.remove(i).name));
                } else {
                    add_index(d, &mut b, r, &mut t);
                    log.push(format!("add index on {}", t.name));
                }
                b.tables[ti] = t;
            }
            8 if !b.tables.is_empty() => {
                let mut t = b.tables[ti].clone();
                if !t.uniques.is_empty() && r.chance(50) {
                    log.push(format!("drop unique {}", t.uniques.remove(0).0));
                } else {
                    add_unique(&mut b, r, &mut t);
                    log.push(format!("add unique on {}", t.name));
                }
                b.tables[ti] = t;
            }
            9 if !b.tables.is_empty() => {
                let t = b.tables[ti].clone();
                if !t.fks.is_empty() && r.chance(40) {
                    let mut t = t;
                    log.push(format!("drop foreign key {}", t.fks.remove(0).name));
                    b.tables[ti] = t;
                } else if let Some(c) = t.cols.iter().find(|c| c.family == Family::Ref && !t.fks.iter().any(|f| f.col == c.name)) {
                    // A key on a table with rows points at a table of A (ids 1..=3), never at a new, empty one.
                    let parents: Vec<String> = b.tables[..=ti].iter().filter(|p| p.serial == 1 || t.serial == 0).map(|p| p.name.clone()).collect();
                    if !parents.is_empty() {
                        let fk = Fk { name: b.fresh("fk"), col: c.name.clone(), parent: r.pick(&parents).clone(), on_delete: *r.pick(&ACTIONS), on_update: *r.pick(&ACTIONS) };
                        log.push(format!("add foreign key {} {}.{} -> {}", fk.name, t.name, fk.col, fk.parent));
                        b.tables[ti].fks.push(fk);
                    }
                }
            }
            10 if !b.tables.is_empty() => {
                let mut t = b.tables[ti].clone();
                if !t.checks.is_empty() && r.chance(50) {
                    log.push(format!("drop check {}", t.checks.remove(0).0));
                } else {
                    add_check(d, &mut b, r, &mut t);
                    log.push(format!("add check on {}", t.name));
                }
                b.tables[ti] = t;
            }
            11 if d == Dialect::Postgres => {
                if b.enums.is_empty() || r.chance(30) {
                    let e = b.fresh("e");
                    b.enums.push((e.clone(), vec!["x".into(), "y".into()]));
                    log.push(format!("add enum {e}"));
                } else {
                    let ei = r.below(b.enums.len());
                    let (name, vals) = &mut b.enums[ei];
                    if vals.len() > 2 && r.chance(40) {
                        // Rows hold the first value: another one may go (a rebuild).
                        let i = 1 + r.below(vals.len() - 1);
                        log.push(format!("enum {name} loses {}", vals.remove(i)));
                    } else {
                        let v = format!("n{}", b.counter);
                        let (name, vals) = &mut b.enums[ei];
                        let at = 1 + r.below(vals.len());
                        log.push(format!("enum {name} gets {v} at {at}"));
                        vals.insert(at, v);
                        b.counter += 1;
                    }
                }
            }
            12 if !b.tables.is_empty() => {
                if !b.views.is_empty() && r.chance(40) {
                    log.push(format!("drop view {}", b.views.remove(0).0));
                } else {
                    add_view(&mut b, r);
                    log.push("add view".into());
                }
            }
            _ => {}
        }
    }
    // Whatever named what went goes too.
    let names: Vec<String> = b.tables.iter().map(|t| t.name.clone()).collect();
    let enums: Vec<String> = b.enums.iter().map(|e| e.0.clone()).collect();
    for t in &mut b.tables {
        t.cols.retain(|c| !matches!(&c.family, Family::Enum(e) if !enums.contains(e)));
        let has = |c: &String, t: &Tab| t.cols.iter().any(|x| &x.name == c);
        let tc = t.clone();
        t.indexes.retain(|i| i.cols.iter().all(|c| has(c, &tc)));
        t.uniques.retain(|u| u.1.iter().all(|c| has(c, &tc)));
        t.checks.retain(|c| has(&c.1, &tc));
        t.fks.retain(|f| has(&f.col, &tc) && names.contains(&f.parent));
    }
    let tables = b.tables.clone();
    b.views.retain(|(_, t, c)| tables.iter().any(|x| &x.name == t && x.cols.iter().any(|y| &y.name == c)));
    (b, log)
}

fn ddl(d: Dialect, s: &Spec) -> Vec<String> {
    let mut out = Vec::new();
    for (name, vals) in &s.enums {
        let v: Vec<String> = vals.iter().map(|v| format!("'{v}'")).collect();
        out.push(format!("CREATE TYPE {} AS ENUM ({})", d.q(name), v.join(", ")));
    }
    for t in &s.tables {
        let mut lines = Vec::new();
        for c in &t.cols {
            let mut l = format!("{} {}", d.q(&c.name), if matches!(c.family, Family::Enum(_)) { d.q(&c.ty) } else { c.ty.clone() });
            if c.name == "id" {
                l.push_str(" NOT NULL PRIMARY KEY");
            } else {
                if c.not_null {
                    l.push_str(" NOT NULL");
                }
                if let Some(def) = &c.default {
                    let _ = write!(l, " DEFAULT {def}");
                }
            }
            lines.push(l);
        }
        for (n, cols) in &t.uniques {
            lines.push(format!("CONSTRAINT {} UNIQUE ({})", d.q(n), cols.iter().map(|c| d.q(c)).collect::<Vec<_>>().join(", ")));
        }
        for (n, c) in &t.checks {
            lines.push(format!("CONSTRAINT {} CHECK ({})", d.q(n), d.length_check(c)));
        }
        for f in &t.fks {
            lines.push(format!(
                "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
                d.q(&f.name),
                d.q(&f.col),
                d.q(&f.parent),
                d.q("id"),
                f.on_delete,
                f.on_update
            ));
        }
        out.push(format!("CREATE TABLE {} (\n  {}\n)", d.q(&t.name), lines.join(",\n  ")));
        for i in &t.indexes {
            let parts: Vec<String> = i.cols.iter().map(|c| if i.expression { format!("(lower(({})::text))", d.q(c)) } else { d.q(c) }).collect();
            let pred = if i.partial { format!(" WHERE {} IS NOT NULL", d.q(&i.cols[0])) } else { String::new() };
            out.push(format!("CREATE {}INDEX {} ON {} ({}){pred}", if i.unique { "UNIQUE " } else { "" }, d.q(&i.name), d.q(&t.name), parts.join(", ")));
        }
    }
    for (v, t, c) in &s.views {
        out.push(format!("CREATE VIEW {} AS SELECT {}, {} FROM {}", d.q(v), d.q("id"), d.q(c), d.q(t)));
    }
    out
}

fn rows(d: Dialect, s: &Spec) -> Vec<String> {
    let mut out = Vec::new();
    for t in s.tables.iter().filter(|t| t.serial == 1) {
        for r in 1..=3usize {
            let mut vals = Vec::new();
            for (n, c) in t.cols.iter().enumerate() {
                vals.push(match &c.family {
                    _ if c.name == "id" => r.to_string(),
                    Family::Numeric => format!("'{}'", r * 10 + n),
                    Family::Ref => r.to_string(),
                    Family::Other(v) => v.to_string(),
                    Family::Enum(e) => format!("'{}'", s.enums.iter().find(|x| &x.0 == e).map(|x| x.1[0].clone()).unwrap_or_default()),
                });
            }
            let cols: Vec<String> = t.cols.iter().map(|c| d.q(&c.name)).collect();
            out.push(format!("INSERT INTO {} ({}) VALUES ({})", d.q(&t.name), cols.join(", "), vals.join(", ")));
        }
    }
    out
}

/// A connection to one of the corpus databases.
enum Conn {
    Sqlite(sqlx::SqliteConnection),
    Pg(sqlx::PgConnection),
    My(sqlx::MySqlConnection),
}

impl Conn {
    async fn exec(&mut self, sql: &str) -> Result<(), String> {
        let q = sqlx::raw_sql(AssertSqlSafe(sql.to_string()));
        let r = match self {
            Conn::Sqlite(c) => q.execute(c).await.map(|_| ()),
            Conn::Pg(c) => q.execute(c).await.map(|_| ()),
            Conn::My(c) => q.execute(c).await.map(|_| ()),
        };
        r.map_err(|e| format!("`{sql}`: {e}"))
    }

    async fn column(&mut self, d: Dialect, table: &str, col: &str) -> Result<Vec<Option<String>>, String> {
        let sql = match d {
            Dialect::Sqlite => format!("SELECT quote({}) FROM {} ORDER BY \"id\"", d.q(col), d.q(table)),
            Dialect::Postgres => format!("SELECT ({})::text FROM {} ORDER BY \"id\"", d.q(col), d.q(table)),
            Dialect::Mariadb => format!("SELECT CAST({} AS CHAR) FROM {} ORDER BY `id`", d.q(col), d.q(table)),
        };
        let q = || sqlx::raw_sql(AssertSqlSafe(sql.clone()));
        let r = match self {
            Conn::Sqlite(c) => q().fetch_all(c).await.map(|rows| rows.iter().map(|r| r.get::<Option<String>, _>(0)).collect()),
            Conn::Pg(c) => q().fetch_all(c).await.map(|rows| rows.iter().map(|r| r.get::<Option<String>, _>(0)).collect()),
            Conn::My(c) => q().fetch_all(c).await.map(|rows| rows.iter().map(|r| r.get::<Option<String>, _>(0)).collect()),
        };
        r.map_err(|e| format!("`{sql}`: {e}"))
    }

    /// Runs a generated script as the runner would: in one transaction when it is transactional
    /// (MySQL's DDL commits by itself), statement by statement otherwise.
    async fn run(&mut self, d: Dialect, script: &Script) -> Result<(), String> {
        let wrap = script.transactional && d != Dialect::Mariadb;
        if wrap {
            self.exec("BEGIN").await?;
        }
        for s in &script.statements {
            if let Err(e) = self.exec(&s.sql).await {
                if wrap {
                    let _ = self.exec("ROLLBACK").await;
                }
                return Err(e);
            }
        }
        if wrap {
            self.exec("COMMIT").await?;
        }
        Ok(())
    }
}

/// One dialect's pair of databases: A's (migrated up and down) and B's (the reference).
struct Dbs {
    d: Dialect,
    /// Time spent running generated scripts (up and down).
    migrating: Duration,
    /// Time spent emptying databases and loading A and B.
    loading: Duration,
    /// Time spent introspecting.
    reading: Duration,
    dir: tempfile::TempDir,
    servers: Vec<TestDb>,
    pair: usize,
}

impl Dbs {
    fn new(d: Dialect) -> Self {
        let servers = match d {
            Dialect::Sqlite => Vec::new(),
            Dialect::Postgres => vec![TestDb::new(Kind::Postgres), TestDb::new(Kind::Postgres)],
            Dialect::Mariadb => vec![TestDb::new(Kind::Mariadb), TestDb::new(Kind::Mariadb)],
        };
        // SQLite files on tmpfs where there is one: the corpus measures the generator, not fsync.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() };
        Dbs { d, migrating: Duration::ZERO, loading: Duration::ZERO, reading: Duration::ZERO, dir: dir.unwrap(), servers, pair: 0 }
    }

    fn url(&self, which: usize) -> String {
        match self.d {
            Dialect::Sqlite => format!("sqlite:{}", self.dir.path().join(format!("p{}_{which}.sqlite3", self.pair)).display()),
            // Plain TCP on loopback: a TLS handshake per introspection would be most of the run.
            Dialect::Postgres => format!("{}?sslmode=disable", self.servers[which].url()),
            Dialect::Mariadb => format!("{}?ssl-mode=disabled", self.servers[which].url()),
        }
    }

    /// An empty database `which` (0: A, 1: B), connected.
    async fn fresh(&self, which: usize) -> Result<Conn, String> {
        let url = self.url(which);
        let e = |e: sqlx::Error| format!("connect {url}: {e}");
        Ok(match self.d {
            Dialect::Sqlite => {
                let opts: sqlx::sqlite::SqliteConnectOptions = url.parse::<sqlx::sqlite::SqliteConnectOptions>().map_err(e)?.create_if_missing(true);
                Conn::Sqlite(sqlx::ConnectOptions::connect(&opts).await.map_err(e)?)
            }
            Dialect::Postgres => {
                let mut c = Conn::Pg(sqlx::PgConnection::connect(&url).await.map_err(e)?);
                // Test data need not survive a crash: commits need not wait for the disk.
                c.exec("SET synchronous_commit = off").await?;
                c.exec("DROP SCHEMA public CASCADE").await?;
                c.exec("CREATE SCHEMA public").await?;
                c
            }
            Dialect::Mariadb => {
                let name = &self.servers[which].name;
                let mut c = Conn::My(sqlx::MySqlConnection::connect(&url).await.map_err(e)?);
                c.exec(&format!("DROP DATABASE `{name}`")).await?;
                c.exec(&format!("CREATE DATABASE `{name}`")).await?;
                c.exec(&format!("USE `{name}`")).await?;
                c
            }
        })
    }

    async fn schema(&self, which: usize) -> Result<Schema, String> {
        let url = DatabaseUrl::parse(&self.url(which), Path::new(".")).map_err(|e| e.to_string())?;
        introspect(&url, &OwnTables::default_names()).await.map_err(|e| format!("{e:#}"))
    }

    /// An empty database `which` with `ddl` loaded.
    async fn load(&self, which: usize, ddl: &[String]) -> Result<Conn, String> {
        let mut c = self.fresh(which).await?;
        for s in ddl {
            c.exec(s).await.map_err(|e| format!("{} does not load: {e}", if which == 0 { "A" } else { "B" }))?;
        }
        Ok(c)
    }
}

/// The data of every column that keeps its name and type from `a` to `b`, by table.
async fn data(conn: &mut Conn, d: Dialect, a: &Schema, b: &Schema, spec: &Spec) -> Result<Vec<(String, String, Vec<Option<String>>)>, String> {
    let mut out = Vec::new();
    for t in spec.tables.iter().filter(|t| t.serial == 1) {
        let (Some(ta), Some(tb)) = (a.tables.get(&t.name), b.tables.get(&t.name)) else { continue };
        for c in &ta.columns {
            if tb.column(&c.name).is_some_and(|x| x.data_type == c.data_type) {
                out.push((t.name.clone(), c.name.clone(), conn.column(d, &t.name, &c.name).await?));
            }
        }
    }
    Ok(out)
}

async fn pair(dbs: &mut Dbs, seed: u64, index: usize) -> Result<(), String> {
    let d = dbs.d;
    dbs.pair = index;
    let mut r = Rng(seed ^ (index as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let a = schema_a(d, &mut r);
    let (b, log) = mutate(d, &a, &mut r);
    let (ddl_a, ddl_b) = (ddl(d, &a), ddl(d, &b));
    let context = |what: String, g: Option<&db_migrate::schema::generate::Generated>| {
        let mut s = format!(
            "{d:?} seed {seed} pair {index}: {what}\nchanges: {log:?}\n--- A\n{};\n--- B\n{};\n",
            ddl_a.join(";\n"),
            ddl_b.join(";\n")
        );
        if let Some(g) = g {
            let _ = write!(s, "--- up\n{}--- down\n{}", g.up.sql(), g.down.sql());
        }
        s
    };
    // A and B load side by side (one waits on the server while the other is sent).
    let t0 = Instant::now();
    let (ca, cb) = futures_util::future::join(dbs.load(0, &ddl_a), dbs.load(1, &ddl_b)).await;
    let (mut ca, cb) = (ca.map_err(|e| context(e, None))?, cb.map_err(|e| context(e, None))?);
    dbs.loading += t0.elapsed();
    let t0 = Instant::now();
    let (sa, sb) = futures_util::future::join(dbs.schema(0), dbs.schema(1)).await;
    let (sa, sb) = (sa.map_err(|e| context(e, None))?, sb.map_err(|e| context(e, None))?);
    dbs.reading += t0.elapsed();
    let g = generate(&sa, &sb).map_err(|e| context(e.to_string(), None))?;
    for s in rows(d, &a) {
        ca.exec(&s).await.map_err(|e| context(format!("rows do not load: {e}"), Some(&g)))?;
    }
    let kept = data(&mut ca, d, &sa, &sb, &a).await.map_err(|e| context(e, Some(&g)))?;
    let t0 = Instant::now();
    ca.run(d, &g.up).await.map_err(|e| context(format!("the up fails: {e}"), Some(&g)))?;
    dbs.migrating += t0.elapsed();
    let t0 = Instant::now();
    let after = dbs.schema(0).await.map_err(|e| context(e, Some(&g)))?;
    dbs.reading += t0.elapsed();
    let diff = compare(&sb, &after);
    if !diff.is_empty() {
        let lines: Vec<String> = diff.iter().map(|x| x.to_string()).collect();
        return Err(context(format!("the up does not give B:\n  {}", lines.join("\n  ")), Some(&g)));
    }
    for (t, c, before) in &kept {
        let now = ca.column(d, t, c).await.map_err(|e| context(e, Some(&g)))?;
        if &now != before {
            return Err(context(format!("the up changed the data of {t}.{c}: {before:?} -> {now:?}"), Some(&g)));
        }
    }
    let t0 = Instant::now();
    ca.run(d, &g.down).await.map_err(|e| context(format!("the down fails: {e}"), Some(&g)))?;
    dbs.migrating += t0.elapsed();
    let t0 = Instant::now();
    let back = dbs.schema(0).await.map_err(|e| context(e, Some(&g)))?;
    dbs.reading += t0.elapsed();
    let diff = compare(&sa, &back);
    if !diff.is_empty() {
        let lines: Vec<String> = diff.iter().map(|x| x.to_string()).collect();
        return Err(context(format!("the down does not give A back:\n  {}", lines.join("\n  ")), Some(&g)));
    }
    for (t, c, before) in &kept {
        let now = ca.column(d, t, c).await.map_err(|e| context(e, Some(&g)))?;
        if &now != before {
            return Err(context(format!("the down changed the data of {t}.{c}: {before:?} -> {now:?}"), Some(&g)));
        }
    }
    for c in [ca, cb] {
        let _ = match c {
            Conn::Sqlite(c) => c.close().await,
            Conn::Pg(c) => c.close().await,
            Conn::My(c) => c.close().await,
        };
    }
    Ok(())
}

fn corpus(d: Dialect) {
    let seed: u64 = std::env::var("DBM_CORPUS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(17);
    let pairs: usize = std::env::var("DBM_CORPUS_PAIRS").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    let only: Option<usize> = std::env::var("DBM_CORPUS_PAIR").ok().and_then(|s| s.parse().ok());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let started = Instant::now();
    let mut dbs = Dbs::new(d);
    let mut failures = Vec::new();
    let mut ran = 0;
    for i in (0..pairs).filter(|i| only.is_none_or(|o| o == *i)) {
        ran += 1;
        if let Err(e) = rt.block_on(pair(&mut dbs, seed, i)) {
            failures.push(e);
        }
    }
    let took: Duration = started.elapsed();
    eprintln!(
        "{d:?} corpus: {ran} pair(s), seed {seed}, {} failure(s), {:.1} s ({:.1} s emptying databases and loading A and B, {:.1} s introspecting, {:.1} s running the generated ups and downs)",
        failures.len(),
        took.as_secs_f64(),
        dbs.loading.as_secs_f64(),
        dbs.reading.as_secs_f64(),
        dbs.migrating.as_secs_f64()
    );
    if !failures.is_empty() {
        let shown: Vec<&String> = failures.iter().take(3).collect();
        panic!(
            "{} of {ran} {d:?} pairs failed (replay one: DBM_CORPUS_SEED={seed} DBM_CORPUS_PAIR=<n>); the first:\n\n{}",
            failures.len(),
            shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n\n")
        );
    }
}

#[test]
fn corpus_sqlite() {
    corpus(Dialect::Sqlite);
}

#[test]
fn corpus_postgres() {
    corpus(Dialect::Postgres);
}

#[test]
fn corpus_mariadb() {
    corpus(Dialect::Mariadb);
}
