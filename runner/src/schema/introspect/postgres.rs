//! PostgreSQL: `pg_catalog`, one query per kind of object for the whole schema (a 500-table
//! schema costs the same dozen round trips as a 5-table one). Schema-aware: the connection's
//! `current_schema()` (the URL's `search_path` option changes it).

use std::collections::BTreeMap;

use sqlx::postgres::PgConnection;
use sqlx::{ConnectOptions, Connection, Row};

use super::{OwnTables, catalog_error};
use crate::migrate::error::{DbError, Error, Result};
use crate::schema::model::*;

/// Reads the schema of the PostgreSQL database at `url`.
pub async fn introspect(url: &str, own: &OwnTables) -> Result<Schema> {
    Ok(introspect_timed(url, own).await?.0)
}

/// [`introspect`], also saying how long reading took once connected.
pub async fn introspect_timed(url: &str, own: &OwnTables) -> Result<(Schema, std::time::Duration)> {
    let redacted = crate::backend::url::redact(url);
    let opts = crate::backend::url::pg_options(url)
        .map_err(|e| Error::Connect(format!("bad PostgreSQL URL `{redacted}`: {e}")))?
        .application_name("db-migrate schema");
    let mut conn = opts.connect().await.map_err(|e| Error::Connect(format!("cannot connect to PostgreSQL at `{redacted}`: {}", DbError::from(e))))?;
    let started = std::time::Instant::now();
    let schema = read(&mut conn, own).await;
    let took = started.elapsed();
    let _ = conn.close().await;
    Ok((schema?, took))
}

const TABLES: &str = "\
SELECT c.oid::int8, c.relname::text FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition";

const COLUMNS: &str = "\
SELECT a.attrelid::int8, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attgenerated::text, a.attidentity::text,
       CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN co.collname::text END, a.attnum::int2
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum";

const CONSTRAINTS: &str = "\
SELECT c.conrelid::int8, c.conname::text, c.contype::text, c.conkey::int2[], c.confrelid::int8, c.confkey::int2[],
       c.confupdtype::text, c.confdeltype::text, CASE WHEN c.contype = 'c' THEN pg_get_constraintdef(c.oid, true) END
FROM pg_constraint c
WHERE c.connamespace = current_schema()::regnamespace AND c.contype IN ('p', 'u', 'f', 'c') AND c.conrelid <> 0";

const INDEXES: &str = "\
SELECT i.indrelid::int8, ic.relname::text, i.indisunique, am.amname::text,
       pg_get_expr(i.indpred, i.indrelid, true), (i.indkey::int2[])[0:i.indnkeyatts - 1], (i.indoption::int2[])[0:i.indnkeyatts - 1],
       CASE WHEN 0 = ANY (i.indkey::int2[]) THEN
         ARRAY(SELECT pg_get_indexdef(i.indexrelid, k + 1, true) FROM generate_series(0, i.indnkeyatts - 1) k ORDER BY k) END
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class tc ON tc.oid = i.indrelid
JOIN pg_am am ON am.oid = ic.relam
WHERE tc.relnamespace = current_schema()::regnamespace AND tc.relkind IN ('r', 'p')
  AND i.indexrelid NOT IN (SELECT conindid FROM pg_constraint WHERE contype IN ('p', 'u', 'x') AND conindid <> 0)";

const VIEWS: &str = "\
SELECT c.relname::text, pg_get_viewdef(c.oid, true), c.relkind = 'm' FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('v', 'm')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')";

const SEQUENCES: &str = "\
SELECT s.relname::text, format_type(q.seqtypid, NULL), q.seqstart, q.seqincrement, q.seqmin, q.seqmax, q.seqcycle,
       (SELECT t.relname::text || '.' || a.attname::text FROM pg_depend d
        JOIN pg_class t ON t.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype = 'a' LIMIT 1)
FROM pg_class s JOIN pg_sequence q ON q.seqrelid = s.oid
WHERE s.relnamespace = current_schema()::regnamespace AND s.relkind = 'S'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('i', 'e'))";

const ENUMS: &str = "\
SELECT t.typname::text, ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
FROM pg_type t WHERE t.typnamespace = current_schema()::regnamespace AND t.typtype = 'e'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e')";

const FUNCTIONS: &str = "\
SELECT p.proname::text || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END, pg_get_functiondef(p.oid)
FROM pg_proc p
WHERE p.pronamespace = current_schema()::regnamespace AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')";

const TRIGGERS: &str = "\
SELECT t.tgname::text, c.relname::text, pg_get_triggerdef(t.oid, true)
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal";

/// Column names of `attnums` in table `oid`: from the columns already read, else (a table of
/// another schema, referenced by a foreign key) asked for.
async fn names(conn: &mut PgConnection, known: &mut BTreeMap<(i64, i16), String>, oid: i64, attnums: Vec<i16>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for n in attnums {
        if let Some(name) = known.get(&(oid, n)) {
            out.push(name.clone());
            continue;
        }
        let name: String = sqlx::query_scalar("SELECT attname::text FROM pg_attribute WHERE attrelid = $1::int8::oid AND attnum = $2")
            .bind(oid)
            .bind(n)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| catalog_error("columns", e))?;
        known.insert((oid, n), name.clone());
        out.push(name);
    }
    Ok(out)
}

/// A referenced table's name (qualified when it lives in another schema).
async fn table_name(conn: &mut PgConnection, known: &BTreeMap<i64, Table>, oid: i64) -> Result<String> {
    if let Some(t) = known.get(&oid) {
        return Ok(t.name.clone());
    }
    sqlx::query_scalar("SELECT CASE WHEN c.relnamespace = current_schema()::regnamespace THEN c.relname::text ELSE c.relnamespace::regnamespace::text || '.' || c.relname::text END FROM pg_class c WHERE c.oid = $1::int8::oid")
        .bind(oid)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| catalog_error("tables", e))
}

/// Reads the schema of the connection's current schema.
pub async fn read(conn: &mut PgConnection, own: &OwnTables) -> Result<Schema> {
    let mut schema = Schema::new(SchemaDialect::Postgres);
    let q = |sql: &'static str| sqlx::query(sqlx::AssertSqlSafe(sql));
    let mut by_oid: BTreeMap<i64, Table> = BTreeMap::new();
    // Column names by (table, attnum), for constraint and index keys.
    let mut attnames: BTreeMap<(i64, i16), String> = BTreeMap::new();
    for r in q(TABLES).fetch_all(&mut *conn).await.map_err(|e| catalog_error("tables", e))? {
        let name: String = r.get(1);
        if !own.contains(&name) {
            by_oid.insert(r.get(0), Table::new(name));
        }
    }
    for r in q(COLUMNS).fetch_all(&mut *conn).await.map_err(|e| catalog_error("columns", e))? {
        let Some(t) = by_oid.get_mut(&r.get::<i64, _>(0)) else { continue };
        attnames.insert((r.get(0), r.get(8)), r.get(1));
        let mut c = Column::new(r.get::<String, _>(1), r.get::<String, _>(2));
        c.nullable = !r.get::<bool, _>(3);
        let default: Option<String> = r.get(4);
        let generated: String = r.get(5);
        if generated == "s" {
            c.generated = Some(Generated { expression: default.unwrap_or_default(), stored: true });
        } else {
            c.default = default;
        }
        c.identity = match r.get::<String, _>(6).as_str() {
            "a" => Some("always".into()),
            "d" => Some("by default".into()),
            _ => None,
        };
        c.collation = r.get(7);
        t.columns.push(c);
    }
    for r in q(CONSTRAINTS).fetch_all(&mut *conn).await.map_err(|e| catalog_error("constraints", e))? {
        let oid: i64 = r.get(0);
        if !by_oid.contains_key(&oid) {
            continue;
        }
        let name: String = r.get(1);
        let columns = names(&mut *conn, &mut attnames, oid, r.get::<Option<Vec<i16>>, _>(3).unwrap_or_default()).await?;
        let kind: String = r.get(2);
        let fk = if kind == "f" {
            let ref_oid: i64 = r.get(4);
            Some((table_name(&mut *conn, &by_oid, ref_oid).await?, names(&mut *conn, &mut attnames, ref_oid, r.get::<Option<Vec<i16>>, _>(5).unwrap_or_default()).await?))
        } else {
            None
        };
        let Some(t) = by_oid.get_mut(&oid) else { continue };
        match (kind.as_str(), fk) {
            ("p", _) => t.primary_key = Some(PrimaryKey { name: Some(name), columns }),
            ("u", _) => t.uniques.push(Unique { columns, name: Some(name) }),
            ("f", Some((ref_table, ref_columns))) => t.foreign_keys.push(ForeignKey {
                name: Some(name),
                columns,
                ref_table,
                ref_columns,
                on_update: FkAction::parse(&r.get::<String, _>(6)),
                on_delete: FkAction::parse(&r.get::<String, _>(7)),
            }),
            _ => {
                let def: String = r.get::<Option<String>, _>(8).unwrap_or_default();
                let expression = def.strip_prefix("CHECK ").unwrap_or(&def).to_string();
                t.checks.push(Check { name: Some(name), expression });
            }
        }
    }
    for r in q(INDEXES).fetch_all(&mut *conn).await.map_err(|e| catalog_error("indexes", e))? {
        let oid: i64 = r.get(0);
        let keys: Vec<i16> = r.get(5);
        let options: Vec<i16> = r.get(6);
        let exprs: Option<Vec<String>> = r.get(7);
        let mut parts = Vec::new();
        for (k, attnum) in keys.iter().enumerate() {
            let (key, expression) = match attnum {
                0 => (exprs.as_ref().and_then(|e| e.get(k).cloned()).unwrap_or_default(), true),
                n => (attnames.get(&(oid, *n)).cloned().unwrap_or_default(), false),
            };
            parts.push(IndexPart { key, expression, descending: options.get(k).is_some_and(|o| o & 1 == 1), length: None });
        }
        let Some(t) = by_oid.get_mut(&oid) else { continue };
        let method: String = r.get(3);
        t.indexes.push(Index {
            name: r.get(1),
            unique: r.get(2),
            parts,
            predicate: r.get(4),
            method: (method != "btree").then_some(method),
        });
    }
    for (_, t) in by_oid {
        schema.tables.insert(t.name.clone(), t);
    }
    for r in q(VIEWS).fetch_all(&mut *conn).await.map_err(|e| catalog_error("views", e))? {
        let name: String = r.get(0);
        let def: String = r.get(1);
        let definition = def.trim().trim_end_matches(';').to_string();
        schema.views.insert(name.clone(), View { name, definition, materialized: r.get(2) });
    }
    for r in q(SEQUENCES).fetch_all(&mut *conn).await.map_err(|e| catalog_error("sequences", e))? {
        let owned_by: Option<String> = r.get(7);
        if owned_by.as_deref().is_some_and(|o| own.contains(o.split('.').next().unwrap_or(o))) {
            continue;
        }
        let name: String = r.get(0);
        schema.sequences.insert(
            name.clone(),
            Sequence { name, data_type: r.get(1), start: r.get(2), increment: r.get(3), min: r.get(4), max: r.get(5), cycle: r.get(6), owned_by },
        );
    }
    for r in q(ENUMS).fetch_all(&mut *conn).await.map_err(|e| catalog_error("enum types", e))? {
        let name: String = r.get(0);
        schema.enums.insert(name.clone(), EnumType { name, values: r.get(1) });
    }
    for r in q(FUNCTIONS).fetch_all(&mut *conn).await.map_err(|e| catalog_error("functions", e))? {
        let name: String = r.get(0);
        schema.functions.insert(name.clone(), Routine { name, kind: r.get(1), definition: r.get::<String, _>(2).trim_end().to_string() });
    }
    for r in q(TRIGGERS).fetch_all(&mut *conn).await.map_err(|e| catalog_error("triggers", e))? {
        let table: String = r.get(1);
        if own.contains(&table) {
            continue;
        }
        let name: String = r.get(0);
        schema.triggers.insert(name.clone(), Trigger { name, table, definition: r.get(2) });
    }
    Ok(schema)
}
