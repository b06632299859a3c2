//! SQLite: `sqlite_master` and the table pragmas, plus the `CREATE TABLE` text (parsed) for
//! what no pragma tells: CHECK constraints, generated expressions, collations, AUTOINCREMENT.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};

use super::{OwnTables, catalog_error};
use crate::backend::url::SqliteTarget;
use crate::migrate::error::{DbError, Error, Result};
use crate::schema::model::*;

/// Tables already read, by everything their model depends on (the table's text, its flags and
/// its indexes' names and texts): replaying hundreds of migrations re-reads only what changed.
#[derive(Debug, Default)]
pub struct Cache {
    tables: std::collections::HashMap<String, Table>,
}

/// Reads the schema of a SQLite database, read-only.
pub async fn introspect(target: &SqliteTarget, own: &OwnTables) -> Result<Schema> {
    introspect_cached(target, own, &mut Cache::default()).await
}

/// [`introspect`], re-using the tables of `cache` that did not change.
pub async fn introspect_cached(target: &SqliteTarget, own: &OwnTables, cache: &mut Cache) -> Result<Schema> {
    let opts = SqliteConnectOptions::new().busy_timeout(Duration::from_secs(60));
    let opts = match target {
        SqliteTarget::Memory => return Ok(Schema::new(SchemaDialect::Sqlite)),
        SqliteTarget::File(path) if !path.exists() => return Ok(Schema::new(SchemaDialect::Sqlite)),
        SqliteTarget::File(path) => opts.filename(path).read_only(true),
    };
    let mut conn = opts.connect().await.map_err(|e| Error::Connect(format!("cannot open the SQLite database: {}", DbError::from(e))))?;
    let schema = read(&mut conn, own, cache).await;
    let _ = conn.close().await;
    schema
}

/// Reads the schema through an open connection.
pub async fn read(conn: &mut SqliteConnection, own: &OwnTables, cache: &mut Cache) -> Result<Schema> {
    let mut schema = Schema::new(SchemaDialect::Sqlite);
    let objects = sqlx::query("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| catalog_error("sqlite_master", e))?;
    let mut index_sql = BTreeMap::new();
    let mut index_key: BTreeMap<String, String> = BTreeMap::new();
    for r in &objects {
        let (kind, name, tbl, sql): (String, String, String, Option<String>) = (r.get(0), r.get(1), r.get(2), r.get(3));
        if kind == "index" {
            let k = index_key.entry(tbl).or_default();
            k.push_str(&format!("\0{name}\0{}", sql.as_deref().unwrap_or("auto")));
        }
    }
    let mut cached: BTreeMap<String, String> = BTreeMap::new();
    for r in &objects {
        let (kind, name, tbl, sql): (String, String, String, Option<String>) = (r.get(0), r.get(1), r.get(2), r.get(3));
        if own.contains(&tbl) {
            continue;
        }
        match kind.as_str() {
            "table" => {
                let Some(sql) = sql else { continue };
                if sql.get(..20).is_some_and(|p| p.eq_ignore_ascii_case("CREATE VIRTUAL TABLE")) {
                    schema.views.insert(name.clone(), View { name, definition: tidy(&sql), materialized: false });
                    continue;
                }
                let key = format!("{name}\0{sql}{}", index_key.get(&name).map(String::as_str).unwrap_or(""));
                if let Some(t) = cache.tables.get(&key) {
                    schema.tables.insert(name, t.clone());
                    continue;
                }
                cached.insert(name.clone(), key);
                let mut t = table(conn, &name, &sql).await?;
                let (without_rowid, strict) = table_flags(&sql);
                if without_rowid {
                    t.options.insert("without_rowid".into(), "true".into());
                }
                if strict {
                    t.options.insert("strict".into(), "true".into());
                }
                schema.tables.insert(name, t);
            }
            "index" => {
                index_sql.insert(name, sql);
            }
            "view" => {
                let definition = tidy(sql.as_deref().unwrap_or_default());
                schema.views.insert(name.clone(), View { name, definition, materialized: false });
            }
            "trigger" => {
                let definition = tidy(sql.as_deref().unwrap_or_default());
                schema.triggers.insert(name.clone(), Trigger { name, table: tbl, definition });
            }
            _ => {}
        }
    }
    for (name, key) in cached {
        let Some(t) = schema.tables.get_mut(&name) else { continue };
        indexes(conn, t, &index_sql).await?;
        t.normalize();
        cache.tables.insert(key, t.clone());
    }
    Ok(schema)
}

/// `WITHOUT ROWID` and `STRICT`: the table options after the column list's closing parenthesis.
fn table_flags(sql: &str) -> (bool, bool) {
    let tail = sql.rsplit_once(')').map(|(_, t)| t).unwrap_or("").to_ascii_uppercase();
    let words: Vec<&str> = tail.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| !w.is_empty()).collect();
    (words.windows(2).any(|w| w == ["WITHOUT", "ROWID"]), words.contains(&"STRICT"))
}

fn pragma(what: &str, table: &str) -> String {
    format!("SELECT * FROM pragma_{what}('{}')", table.replace('\'', "''"))
}

async fn rows(conn: &mut SqliteConnection, what: &str, table: &str) -> Result<Vec<SqliteRow>> {
    sqlx::query(AssertSqlSafe(pragma(what, table))).fetch_all(&mut *conn).await.map_err(|e| catalog_error(&format!("pragma {what} of {table}"), e))
}

/// What the `CREATE TABLE` text adds to the pragmas.
#[derive(Default)]
struct Parsed {
    checks: Vec<Check>,
    generated: BTreeMap<String, String>,
    collations: BTreeMap<String, String>,
    autoincrement: Option<String>,
    fk_names: Vec<(Vec<String>, String)>,
}

fn parse_create(sql: &str) -> Option<Parsed> {
    use sqlparser::ast::{ColumnOption, Statement, TableConstraint};
    let stmts = sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::SQLiteDialect {}, sql).ok()?;
    let Some(Statement::CreateTable(ct)) = stmts.into_iter().next() else { return None };
    let mut p = Parsed::default();
    for c in &ct.columns {
        for o in &c.options {
            match &o.option {
                ColumnOption::Check(ch) => {
                    p.checks.push(Check { name: o.name.as_ref().or(ch.name.as_ref()).map(|n| n.value.clone()), expression: ch.expr.to_string() })
                }
                ColumnOption::Generated { generation_expr: Some(e), .. } => {
                    p.generated.insert(c.name.value.clone(), e.to_string());
                }
                ColumnOption::Collation(n) => {
                    p.collations.insert(c.name.value.clone(), n.to_string().trim_matches('"').to_ascii_uppercase());
                }
                ColumnOption::DialectSpecific(tokens) if tokens.iter().any(|t| t.to_string().eq_ignore_ascii_case("AUTOINCREMENT")) => {
                    p.autoincrement = Some(c.name.value.clone());
                }
                ColumnOption::PrimaryKey(pk) if pk.to_string().to_ascii_uppercase().contains("AUTOINCREMENT") => {
                    p.autoincrement = Some(c.name.value.clone());
                }
                ColumnOption::ForeignKey(fk) => {
                    if let Some(n) = o.name.as_ref().or(fk.name.as_ref()) {
                        p.fk_names.push((vec![c.name.value.clone()], n.value.clone()));
                    }
                }
                _ => {}
            }
        }
    }
    for tc in &ct.constraints {
        match tc {
            TableConstraint::Check(ch) => p.checks.push(Check { name: ch.name.as_ref().map(|n| n.value.clone()), expression: ch.expr.to_string() }),
            TableConstraint::ForeignKey(fk) => {
                if let Some(n) = &fk.name {
                    p.fk_names.push((fk.columns.iter().map(|c| c.value.clone()).collect(), n.value.clone()));
                }
            }
            _ => {}
        }
    }
    if p.autoincrement.is_none() && sql.to_ascii_uppercase().contains("AUTOINCREMENT") {
        p.autoincrement = ct
            .columns
            .iter()
            .find(|c| c.options.iter().any(|o| matches!(o.option, ColumnOption::PrimaryKey(_))))
            .map(|c| c.name.value.clone());
    }
    Some(p)
}

async fn table(conn: &mut SqliteConnection, name: &str, sql: &str) -> Result<Table> {
    let mut t = Table::new(name);
    let parsed = parse_create(sql);
    if parsed.is_none() {
        // Nothing is lost: a table whose text cannot be parsed is compared by its text as well.
        t.options.insert("definition".into(), tidy(sql));
    }
    let parsed = parsed.unwrap_or_default();
    let mut pk: Vec<(i64, String)> = Vec::new();
    for r in rows(conn, "table_xinfo", name).await? {
        let col: String = r.get("name");
        let hidden: i64 = r.get("hidden");
        if hidden == 1 {
            continue;
        }
        let mut c = Column::new(col.clone(), r.get::<Option<String>, _>("type").unwrap_or_default().to_ascii_uppercase());
        c.nullable = r.get::<i64, _>("notnull") == 0;
        c.default = r.get::<Option<String>, _>("dflt_value");
        if hidden == 2 || hidden == 3 {
            c.generated = Some(Generated { expression: parsed.generated.get(&col).cloned().unwrap_or_default(), stored: hidden == 3 });
        }
        c.collation = parsed.collations.get(&col).cloned();
        if parsed.autoincrement.as_deref() == Some(col.as_str()) {
            c.identity = Some("autoincrement".into());
        }
        let k: i64 = r.get("pk");
        if k > 0 {
            pk.push((k, col));
        }
        t.columns.push(c);
    }
    pk.sort();
    if !pk.is_empty() {
        t.primary_key = Some(PrimaryKey { name: None, columns: pk.into_iter().map(|(_, c)| c).collect() });
    }
    let mut fks: BTreeMap<i64, ForeignKey> = BTreeMap::new();
    for r in rows(conn, "foreign_key_list", name).await? {
        let id: i64 = r.get("id");
        let fk = fks.entry(id).or_insert_with(|| ForeignKey {
            name: None,
            columns: Vec::new(),
            ref_table: r.get("table"),
            ref_columns: Vec::new(),
            on_update: FkAction::parse(&r.get::<String, _>("on_update")),
            on_delete: FkAction::parse(&r.get::<String, _>("on_delete")),
        });
        fk.columns.push(r.get("from"));
        if let Some(to) = r.get::<Option<String>, _>("to") {
            fk.ref_columns.push(to);
        }
    }
    for mut fk in fks.into_values() {
        fk.name = parsed.fk_names.iter().find(|(cols, _)| *cols == fk.columns).map(|(_, n)| n.clone());
        t.foreign_keys.push(fk);
    }
    t.checks = parsed.checks;
    Ok(t)
}

async fn indexes(conn: &mut SqliteConnection, t: &mut Table, index_sql: &BTreeMap<String, Option<String>>) -> Result<()> {
    for r in rows(conn, "index_list", &t.name).await? {
        let name: String = r.get("name");
        let origin: String = r.get("origin");
        let unique = r.get::<i64, _>("unique") != 0;
        if origin == "pk" {
            continue;
        }
        let mut parts = Vec::new();
        for k in rows(conn, "index_xinfo", &name).await? {
            if k.get::<i64, _>("key") == 0 {
                continue;
            }
            let col: Option<String> = k.get("name");
            parts.push(IndexPart {
                expression: col.is_none(),
                key: col.unwrap_or_default(),
                descending: k.get::<i64, _>("desc") != 0,
                length: None,
            });
        }
        if origin == "u" {
            t.uniques.push(Unique { columns: parts.into_iter().map(|p| p.key).collect(), name: None });
            continue;
        }
        let mut index = Index { name: name.clone(), unique, parts, predicate: None, method: None };
        if let Some(Some(sql)) = index_sql.get(&name) {
            parse_index(sql, &mut index);
        }
        t.indexes.push(index);
    }
    Ok(())
}

/// Expressions and the WHERE clause come from the index's text.
fn parse_index(sql: &str, index: &mut Index) {
    use sqlparser::ast::{Expr, OrderBySort, Statement};
    let parsed = sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::SQLiteDialect {}, sql);
    let Ok(Some(Statement::CreateIndex(ci))) = parsed.map(|s| s.into_iter().next()) else {
        index.predicate = Some(tidy(sql));
        return;
    };
    index.predicate = ci.predicate.as_ref().map(|p| p.to_string());
    if ci.columns.len() == index.parts.len() {
        for (part, c) in index.parts.iter_mut().zip(&ci.columns) {
            if part.expression {
                part.key = c.column.expr.to_string();
            } else if !matches!(c.column.expr, Expr::Identifier(_)) {
                // A COLLATE on a column: keep the clause.
                part.key = c.column.expr.to_string();
                part.expression = true;
            }
            part.descending = matches!(c.column.options.sort, Some(OrderBySort::Desc));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_flags_come_from_the_tail() {
        assert_eq!(super::table_flags("CREATE TABLE t (a TEXT, b TEXT, PRIMARY KEY (a)) WITHOUT ROWID, STRICT"), (true, true));
        assert_eq!(super::table_flags("CREATE TABLE strict_rowid (a TEXT CHECK (a <> 'WITHOUT ROWID'))"), (false, false));
    }
}
