//! MySQL and MariaDB: `information_schema` for the connection's database, one query per kind
//! of object. Names the server qualifies with the database (`db`.`t` in view bodies) are
//! unqualified, so two databases with the same schema compare equal.

use std::collections::BTreeMap;

use sqlx::mysql::{MySqlConnection, MySqlRow};
use sqlx::{ConnectOptions, Connection, Row};

use super::{OwnTables, catalog_error};
use crate::migrate::error::{DbError, Error, Result};
use crate::schema::model::*;

/// Reads the schema of the MySQL/MariaDB database at `url`.
pub async fn introspect(url: &str, own: &OwnTables) -> Result<Schema> {
    Ok(introspect_timed(url, own).await?.0)
}

/// [`introspect`], also saying how long reading took once connected.
pub async fn introspect_timed(url: &str, own: &OwnTables) -> Result<(Schema, std::time::Duration)> {
    let redacted = crate::backend::url::redact(url);
    let opts = crate::backend::url::mysql_options(url).map_err(|e| Error::Connect(format!("bad MySQL URL `{redacted}`: {e}")))?;
    let mut conn = opts.connect().await.map_err(|e| Error::Connect(format!("cannot connect to MySQL/MariaDB at `{redacted}`: {}", DbError::from(e))))?;
    let started = std::time::Instant::now();
    let schema = read(&mut conn, own).await;
    let took = started.elapsed();
    let _ = conn.close().await;
    Ok((schema?, took))
}

/// A text column whatever the server's column type (MySQL 8 reports some catalog columns as binary).
fn text(r: &MySqlRow, i: usize) -> Option<String> {
    if let Ok(v) = r.try_get::<Option<String>, _>(i) {
        return v;
    }
    r.try_get::<Option<Vec<u8>>, _>(i).ok().flatten().map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn int(r: &MySqlRow, i: usize) -> Option<i64> {
    r.try_get::<Option<i64>, _>(i).ok().flatten().or_else(|| text(r, i).and_then(|s| s.parse().ok()))
}

/// Reads the schema of the connection's database.
pub async fn read(conn: &mut MySqlConnection, own: &OwnTables) -> Result<Schema> {
    let mut schema = Schema::new(SchemaDialect::Mysql);
    let q = |sql: &'static str| sqlx::query(sqlx::AssertSqlSafe(sql));
    let db: String = sqlx::query_scalar("SELECT CAST(DATABASE() AS CHAR)").fetch_one(&mut *conn).await.map_err(|e| catalog_error("database name", e))?;
    let version: String = sqlx::query_scalar("SELECT CAST(VERSION() AS CHAR)").fetch_one(&mut *conn).await.map_err(|e| catalog_error("server version", e))?;
    let mariadb = version.to_ascii_lowercase().contains("mariadb");
    let unqualify = |s: &str| s.replace(&format!("`{}`.", db.replace('`', "``")), "");

    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let rows = q("SELECT TABLE_NAME, ENGINE, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| catalog_error("tables", e))?;
    for r in &rows {
        let name = text(r, 0).unwrap_or_default();
        if own.contains(&name) {
            continue;
        }
        let mut t = Table::new(name.clone());
        if let Some(e) = text(r, 1) {
            t.options.insert("engine".into(), e);
        }
        if let Some(c) = text(r, 2) {
            t.options.insert("collate".into(), c);
        }
        tables.insert(name, t);
    }
    let rows = q("SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, GENERATION_EXPRESSION, COLLATION_NAME
                  FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| catalog_error("columns", e))?;
    for r in &rows {
        let Some(t) = tables.get_mut(&text(r, 0).unwrap_or_default()) else { continue };
        let mut c = Column::new(text(r, 1).unwrap_or_default(), text(r, 2).unwrap_or_default());
        c.nullable = text(r, 3).as_deref() == Some("YES");
        let extra = text(r, 5).unwrap_or_default().to_ascii_lowercase();
        let default = text(r, 4);
        c.default = match default {
            // MariaDB spells "no default" and "DEFAULT NULL" alike as NULL.
            Some(d) if mariadb && d == "NULL" => None,
            Some(d) if !mariadb && !extra.contains("default_generated") => Some(format!("'{}'", d.replace('\'', "''"))),
            other => other,
        };
        if extra.contains("generated") && !extra.contains("default_generated") {
            let expression = text(r, 6).unwrap_or_default();
            c.generated = Some(Generated { expression: unqualify(&expression), stored: extra.contains("stored") || extra.contains("persistent") });
            c.default = None;
        }
        if extra.contains("auto_increment") {
            c.identity = Some("auto_increment".into());
        }
        if let Some(i) = extra.find("on update ") {
            c.on_update = Some(extra[i + "on update ".len()..].trim().to_string());
        }
        let collation = text(r, 7);
        if collation.is_some() && collation.as_ref() != t.options.get("collate") {
            c.collation = collation;
        }
        t.columns.push(c);
    }
    let rows = q("SELECT TABLE_NAME, INDEX_NAME, CAST(NON_UNIQUE AS SIGNED), COLUMN_NAME, CAST(SUB_PART AS SIGNED), COLLATION, INDEX_TYPE
                  FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| catalog_error("indexes", e))?;
    for r in &rows {
        let Some(t) = tables.get_mut(&text(r, 0).unwrap_or_default()) else { continue };
        let name = text(r, 1).unwrap_or_default();
        let column = text(r, 3);
        let part = IndexPart {
            expression: column.is_none(),
            key: column.unwrap_or_default(),
            descending: text(r, 5).as_deref() == Some("D"),
            length: int(r, 4).map(|n| n as u32),
        };
        if name == "PRIMARY" {
            t.primary_key.get_or_insert_with(|| PrimaryKey { name: None, columns: Vec::new() }).columns.push(part.key);
            continue;
        }
        if let Some(i) = t.indexes.iter_mut().find(|i| i.name == name) {
            i.parts.push(part);
            continue;
        }
        let method = text(r, 6).filter(|m| m != "BTREE");
        t.indexes.push(Index { name, unique: int(r, 2) == Some(0), parts: vec![part], predicate: None, method });
    }
    let rows = q("SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, c.UPDATE_RULE, c.DELETE_RULE
                  FROM information_schema.KEY_COLUMN_USAGE k
                  JOIN information_schema.REFERENTIAL_CONSTRAINTS c ON c.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND c.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND c.TABLE_NAME = k.TABLE_NAME
                  WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL
                  ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| catalog_error("foreign keys", e))?;
    for r in &rows {
        let Some(t) = tables.get_mut(&text(r, 0).unwrap_or_default()) else { continue };
        let name = text(r, 1);
        let (col, ref_col) = (text(r, 2).unwrap_or_default(), text(r, 4).unwrap_or_default());
        if let Some(fk) = t.foreign_keys.iter_mut().find(|f| f.name == name) {
            fk.columns.push(col);
            fk.ref_columns.push(ref_col);
            continue;
        }
        t.foreign_keys.push(ForeignKey {
            name,
            columns: vec![col],
            ref_table: text(r, 3).unwrap_or_default(),
            ref_columns: vec![ref_col],
            on_update: FkAction::parse(&text(r, 5).unwrap_or_default()),
            on_delete: FkAction::parse(&text(r, 6).unwrap_or_default()),
        });
    }
    // CHECK constraints: MySQL 8.0.16+ and MariaDB 10.2+; older servers have no such table.
    let checks = if mariadb {
        "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()"
    } else {
        "SELECT t.TABLE_NAME, t.CONSTRAINT_NAME, c.CHECK_CLAUSE FROM information_schema.TABLE_CONSTRAINTS t
         JOIN information_schema.CHECK_CONSTRAINTS c ON c.CONSTRAINT_SCHEMA = t.CONSTRAINT_SCHEMA AND c.CONSTRAINT_NAME = t.CONSTRAINT_NAME
         WHERE t.TABLE_SCHEMA = DATABASE() AND t.CONSTRAINT_TYPE = 'CHECK'"
    };
    if let Ok(rows) = q(checks).fetch_all(&mut *conn).await {
        for r in &rows {
            let Some(t) = tables.get_mut(&text(r, 0).unwrap_or_default()) else { continue };
            t.checks.push(Check { name: text(r, 1), expression: unqualify(&text(r, 2).unwrap_or_default()) });
        }
    }
    schema.tables = tables;
    let rows = q("SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| catalog_error("views", e))?;
    for r in &rows {
        let name = text(r, 0).unwrap_or_default();
        schema.views.insert(name.clone(), View { name, definition: unqualify(&text(r, 1).unwrap_or_default()), materialized: false });
    }
    let rows = q("SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_STATEMENT
                  FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| catalog_error("triggers", e))?;
    for r in &rows {
        let (name, table) = (text(r, 0).unwrap_or_default(), text(r, 1).unwrap_or_default());
        if own.contains(&table) {
            continue;
        }
        let definition = format!(
            "CREATE TRIGGER `{name}` {} {} ON `{table}` FOR EACH ROW {}",
            text(r, 2).unwrap_or_default(),
            text(r, 3).unwrap_or_default(),
            unqualify(&text(r, 4).unwrap_or_default())
        );
        schema.triggers.insert(name.clone(), Trigger { name, table, definition });
    }
    let rows = q("SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| catalog_error("routines", e))?;
    for r in &rows {
        let (name, kind) = (text(r, 0).unwrap_or_default(), text(r, 1).unwrap_or_default().to_ascii_uppercase());
        let show = format!("SHOW CREATE {} `{}`", if kind == "PROCEDURE" { "PROCEDURE" } else { "FUNCTION" }, name.replace('`', "``"));
        let row = sqlx::query(sqlx::AssertSqlSafe(show)).fetch_one(&mut *conn).await.map_err(|e| catalog_error("routine definition", e))?;
        let definition = strip_definer(&text(&row, 2).unwrap_or_default());
        schema.functions.insert(name.clone(), Routine { name, kind: kind.to_ascii_lowercase(), definition });
    }
    Ok(schema)
}

/// `CREATE DEFINER=`u`@`h` FUNCTION …` → `CREATE FUNCTION …`: who created it is not schema.
fn strip_definer(s: &str) -> String {
    let Some(i) = s.find("DEFINER=") else { return s.to_string() };
    let rest = &s[i..];
    let end = rest.find(' ').unwrap_or(rest.len());
    format!("{}{}", &s[..i], rest[end..].trim_start())
}

#[cfg(test)]
mod tests {
    #[test]
    fn definer_is_dropped() {
        assert_eq!(super::strip_definer("CREATE DEFINER=`root`@`localhost` FUNCTION `f`() RETURNS int RETURN 1"), "CREATE FUNCTION `f`() RETURNS int RETURN 1");
    }
}
