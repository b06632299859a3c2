//! `--reset`: the order in which a pack's tables are emptied.
//!
//! A table can only be emptied once every table whose foreign keys point at it is empty, so the
//! pack's tables are emptied children first. The foreign keys come from the database's own
//! catalog (SQLite `pragma_foreign_key_list`, PostgreSQL `pg_constraint`, MySQL/MariaDB
//! `information_schema.REFERENTIAL_CONSTRAINTS`); the order itself is worked out by [`order`],
//! which is pure.

use crate::backend::AnyBackend;
use crate::backend::guest::{Dialect, GuestSql, SqlValue};
use crate::migrate::error::{DbError, Error, Result};

/// One foreign key: the child table refers to the parent. Each end is the names a pack may
/// use for that table (bare when it resolves without a schema, and schema-qualified), lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// Names of the referring table.
    pub child: Vec<String>,
    /// Names of the referenced table.
    pub parent: Vec<String>,
}

impl ForeignKey {
    fn child_is(&self, t: &str) -> bool {
        self.child.iter().any(|n| n == t)
    }
    fn parent_is(&self, t: &str) -> bool {
        self.parent.iter().any(|n| n == t)
    }
}

/// Why the tables cannot be ordered: their foreign keys form a cycle through these tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle(pub Vec<String>);

/// `tables` in an order that empties every referring table before the tables it refers to
/// (ties keep the given order). Self-references need no order. Tables outside `tables` are
/// ignored here (see [`outside_referrers`]).
pub fn order(tables: &[String], fks: &[ForeignKey]) -> std::result::Result<Vec<String>, Cycle> {
    let mut left: Vec<&String> = tables.iter().collect();
    let mut out = Vec::with_capacity(tables.len());
    while !left.is_empty() {
        // The first table no other remaining table refers to.
        let ready = left.iter().position(|t| !fks.iter().any(|fk| fk.parent_is(t) && !fk.child_is(t) && left.iter().any(|c| fk.child_is(c))));
        match ready {
            Some(i) => out.push(left.remove(i).clone()),
            None => return Err(Cycle(left.into_iter().cloned().collect())),
        }
    }
    Ok(out)
}

/// Tables outside `tables` whose foreign keys point at `table` (their rows block emptying it).
pub fn outside_referrers(table: &str, tables: &[String], fks: &[ForeignKey]) -> Vec<String> {
    let mut out: Vec<String> = fks
        .iter()
        .filter(|fk| fk.parent_is(table) && !tables.iter().any(|t| fk.child_is(t)))
        .filter_map(|fk| fk.child.first().cloned())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn text(v: &SqlValue) -> String {
    match v {
        SqlValue::Text(s) => s.to_lowercase(),
        SqlValue::Blob(b) => String::from_utf8_lossy(b).to_lowercase(),
        SqlValue::Bool(b) => b.to_string(),
        SqlValue::Int(i) => i.to_string(),
        _ => String::new(),
    }
}

/// Every foreign key of the database, read from its catalog on the host's connection.
pub async fn foreign_keys(b: &mut AnyBackend) -> Result<Vec<ForeignKey>> {
    // Each row: child schema, child name, child visible bare, parent schema, parent name, parent visible bare.
    let q = match b.dialect() {
        Dialect::Sqlite => {
            "SELECT 'main', m.name, 1, 'main', f.\"table\", 1 FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'"
        }
        Dialect::Postgres => {
            "SELECT cn.nspname, c.relname, pg_table_is_visible(c.oid), pn.nspname, p.relname, pg_table_is_visible(p.oid) \
             FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace \
             JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE k.contype = 'f'"
        }
        Dialect::Mysql => {
            "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, 1, UNIQUE_CONSTRAINT_SCHEMA, REFERENCED_TABLE_NAME, UNIQUE_CONSTRAINT_SCHEMA = DATABASE() \
             FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()"
        }
    };
    let rows = b.host_query(q, Vec::new()).await.map_err(|e| Error::Database {
        context: "--reset cannot read the foreign keys from the catalog".into(),
        source: DbError { message: super::history::message(&e), code: None },
    })?;
    let names = |schema: &SqlValue, name: &SqlValue, visible: &SqlValue| {
        let (s, n) = (text(schema), text(name));
        let mut v = Vec::new();
        if matches!(text(visible).as_str(), "1" | "true" | "t") {
            v.push(n.clone());
        }
        v.push(format!("{s}.{n}"));
        v
    };
    Ok(rows
        .rows
        .iter()
        .filter(|r| r.len() == 6)
        .map(|r| ForeignKey { child: names(&r[0], &r[1], &r[2]), parent: names(&r[3], &r[4], &r[5]) })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fk(child: &str, parent: &str) -> ForeignKey {
        ForeignKey { child: vec![child.into(), format!("main.{child}")], parent: vec![parent.into(), format!("main.{parent}")] }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn children_before_parents_whatever_the_listed_order() {
        let fks = [fk("posts", "users"), fk("comments", "posts"), fk("comments", "users")];
        // The grant keeps tables sorted: comments, posts, users — and users, posts, comments.
        assert_eq!(order(&names(&["comments", "posts", "users"]), &fks).unwrap(), names(&["comments", "posts", "users"]));
        assert_eq!(order(&names(&["users", "posts", "comments"]), &fks).unwrap(), names(&["comments", "posts", "users"]));
        assert_eq!(order(&names(&["posts", "users"]), &fks).unwrap(), names(&["posts", "users"]));
        assert_eq!(order(&names(&["users", "notes"]), &fks).unwrap(), names(&["users", "notes"]), "unrelated tables keep their order");
    }

    #[test]
    fn self_references_are_fine_and_cycles_are_named() {
        let fks = [fk("tree", "tree"), fk("a", "b"), fk("b", "a"), fk("c", "a")];
        assert_eq!(order(&names(&["tree"]), &fks).unwrap(), names(&["tree"]));
        assert_eq!(order(&names(&["a", "b", "c"]), &fks), Err(Cycle(names(&["a", "b"]))));
    }

    #[test]
    fn qualified_names_match_and_outside_referrers_are_found() {
        let fks = [fk("posts", "users"), fk("audit", "users")];
        assert_eq!(order(&names(&["main.users", "posts"]), &fks).unwrap(), names(&["posts", "main.users"]));
        assert_eq!(outside_referrers("users", &names(&["users", "posts"]), &fks), names(&["audit"]));
    }
}
