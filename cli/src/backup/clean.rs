//! Emptying a database before a restore, so that the restore replaces it exactly: objects
//! created after the backup (which the backup does not know about) go too.


use sqlx::{AssertSqlSafe, Connection, Executor, Row};

use db_migrate::migrate::error::Error;

/// PostgreSQL: one statement, run in the same transaction as the restore script (so a failed
/// restore keeps the database as it was). It drops, among the objects db-migrate's user may
/// drop (those of roles it belongs to): extensions outside `pg_catalog`, every schema but
/// `public` and the system ones (the backup creates them again), and in `public` every table,
/// view, materialized view, sequence, foreign table, routine, type, domain and collation. The
/// `public` schema itself stays with its owner, grants and comment.
pub const POSTGRES: &str = r#"DO $dbm_restore$
DECLARE r record;
BEGIN
  FOR r IN SELECT e.extname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
           WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema' AND pg_has_role(e.extowner, 'USAGE') LOOP
    EXECUTE format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname);
  END LOOP;
  FOR r IN SELECT nspname FROM pg_namespace
           WHERE nspname NOT LIKE 'pg\_%' AND nspname NOT IN ('information_schema', 'public') AND pg_has_role(nspowner, 'USAGE') LOOP
    EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', r.nspname);
  END LOOP;
  FOR r IN SELECT c.relkind, format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND pg_has_role(c.relowner, 'USAGE')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e')) LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.name);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure::text AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND pg_has_role(p.proowner, 'USAGE')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') LOOP
    EXECUTE 'DROP ROUTINE IF EXISTS ' || r.sig || ' CASCADE';
  END LOOP;
  FOR r IN SELECT t.typtype, format('%I.%I', n.nspname, t.typname) AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = 'public' AND t.typtype IN ('e', 'c', 'd', 'r') AND pg_has_role(t.typowner, 'USAGE')
             AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e') LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', CASE r.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, r.name);
  END LOOP;
  FOR r IN SELECT format('%I.%I', n.nspname, c.collname) AS name FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
           WHERE n.nspname = 'public' AND pg_has_role(c.collowner, 'USAGE') LOOP
    EXECUTE format('DROP COLLATION IF EXISTS %s CASCADE', r.name);
  END LOOP;
END
$dbm_restore$"#;

fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// MySQL/MariaDB: drops every table, view, sequence, routine and event of the URL's database
/// (triggers go with their tables), with foreign key checks off for the session. MySQL cannot
/// make DDL transactional, so this happens before the restore.
pub async fn mysql(url: &str) -> Result<(), Error> {
    let redacted = db_migrate::backend::url::redact(url);
    let opts = db_migrate::backend::url::mysql_options(url).map_err(|e| Error::Connect(format!("bad MySQL URL `{redacted}`: {e}")))?;
    let mut c = sqlx::MySqlConnection::connect_with(&opts).await.map_err(|e| Error::Connect(format!("cannot connect to {redacted}: {e}")))?;
    let fail = |what: &str, e: sqlx::Error| Error::Config(format!("the MySQL restore could not {what}: {e}. Nothing was restored; run `restore` again once this is fixed"));
    let r = async {
        let mut drops = Vec::new();
        let rows = c
            .fetch_all("SELECT CAST(TABLE_NAME AS CHAR), CAST(TABLE_TYPE AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 2, 1")
            .await
            .map_err(|e| fail("list the tables", e))?;
        for row in rows {
            let (name, kind): (String, String) = (row.try_get(0).unwrap_or_default(), row.try_get(1).unwrap_or_default());
            let what = match kind.as_str() {
                "VIEW" | "SYSTEM VIEW" => "VIEW",
                "SEQUENCE" => "SEQUENCE",
                _ => "TABLE",
            };
            drops.push(format!("DROP {what} IF EXISTS {}", quote(&name)));
        }
        let rows = c
            .fetch_all("SELECT CAST(ROUTINE_NAME AS CHAR), CAST(ROUTINE_TYPE AS CHAR) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()")
            .await
            .map_err(|e| fail("list the routines", e))?;
        for row in rows {
            let (name, kind): (String, String) = (row.try_get(0).unwrap_or_default(), row.try_get(1).unwrap_or_default());
            let what = if kind == "FUNCTION" { "FUNCTION" } else { "PROCEDURE" };
            drops.push(format!("DROP {what} IF EXISTS {}", quote(&name)));
        }
        let rows = c
            .fetch_all("SELECT CAST(EVENT_NAME AS CHAR) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()")
            .await
            .map_err(|e| fail("list the events", e))?;
        for row in rows {
            let name: String = row.try_get(0).unwrap_or_default();
            drops.push(format!("DROP EVENT IF EXISTS {}", quote(&name)));
        }
        c.execute("SET FOREIGN_KEY_CHECKS = 0").await.map_err(|e| fail("turn off foreign key checks", e))?;
        // Views before tables, so no view is left pointing at nothing.
        drops.sort_by_key(|d| !d.starts_with("DROP VIEW"));
        for d in drops {
            c.execute(AssertSqlSafe(d.clone())).await.map_err(|e| fail(&format!("empty the database (`{d}`)"), e))?;
        }
        Ok(())
    }
    .await;
    let _ = c.close().await;
    r
}
