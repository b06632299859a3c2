//! Locks: statements that hold a lock long enough to stall traffic, or that cannot run where the
//! migration puts them (DM001–DM003, DM016–DM020, DM026, DM036, DM039, DM041). Transaction
//! control (`BEGIN`, `COMMIT`) in a transactional migration is refused when migrations load.

use sqlparser::ast::{FromTable, Statement, TableFactor};

use super::{norm, Ctx, Out};

/// Word-level checks. Returns true when the statement is one these rules know (so a parse failure
/// is not reported as DM000).
pub fn check_words(c: &Ctx, out: &mut Out) -> bool {
    let concurrently = c.has_word("CONCURRENTLY");
    if c.pg() && c.transaction {
        if concurrently {
            out.push("DM003", "CONCURRENTLY in a transactional migration");
        } else if c.starts(&["VACUUM"]) || c.starts(&["CREATE", "DATABASE"]) || c.starts(&["DROP", "DATABASE"]) || c.starts(&["ALTER", "SYSTEM"]) {
            out.push("DM003", format!("{} {} in a transactional migration", c.words[0], c.name(1)));
        }
    }
    if c.pg() && c.starts(&["DROP", "INDEX"]) {
        if !concurrently {
            out.push("DM002", "DROP INDEX");
        }
        return true;
    }
    if c.starts(&["VACUUM"]) {
        // `VACUUM FULL t` or `VACUUM (FULL, ANALYZE) t`.
        if c.has_word("FULL") {
            out.push("DM016", "VACUUM FULL");
        }
        return c.pg();
    }
    if c.starts(&["CLUSTER"]) {
        out.push("DM017", format!("CLUSTER {}", if c.name(1).is_empty() { "(every clustered table)" } else { c.name(1) }));
        return c.pg();
    }
    if c.starts(&["REINDEX"]) {
        if !concurrently {
            out.push("DM018", c.phrase(0, 3));
        }
        return c.pg();
    }
    if c.starts(&["LOCK"]) {
        out.push("DM019", c.phrase(0, 3));
        return c.pg() || c.mysql();
    }
    if c.starts(&["TRUNCATE"]) {
        out.push("DM020", c.phrase(0, 3));
        if c.has_word("CASCADE") {
            out.push("DM027", "TRUNCATE … CASCADE");
        }
        return c.pg() || c.mysql();
    }
    if c.starts(&["REFRESH", "MATERIALIZED", "VIEW"]) {
        if !concurrently {
            out.push("DM036", format!("REFRESH MATERIALIZED VIEW {}", c.name(3)));
        }
        return c.pg();
    }
    if c.starts(&["ALTER", "TABLE"]) && c.upper.contains(" DETACH PARTITION ") {
        if !concurrently && !c.has_word("FINALIZE") {
            out.push("DM039", format!("ALTER TABLE {} DETACH PARTITION", c.name(2)));
        }
        return c.pg();
    }
    false
}

/// Checks on the parsed statement.
pub fn check(c: &Ctx, stmt: &Statement, out: &mut Out) {
    match stmt {
        Statement::CreateIndex(ix) => {
            let table = ix.table_name.to_string();
            if c.pg() && !ix.concurrently && c.existing(&table) {
                out.push("DM001", format!("CREATE INDEX on {table}"));
            }
            let name = ix.name.as_ref().map(|n| norm(&n.to_string())).unwrap_or_default();
            if c.pg() && !c.transaction && !ix.if_not_exists && c.existing(&table) && !c.script.dropped_if_exists.contains(&name) {
                out.push("DM026", format!("CREATE INDEX {name} in a transaction:false migration"));
            }
        }
        Statement::Update(u) if u.selection.is_none() => {
            if let TableFactor::Table { name, .. } = &u.table.relation
                && c.existing(&name.to_string())
            {
                out.push("DM041", format!("UPDATE {name} without WHERE"));
            }
        }
        Statement::Delete(d) if d.selection.is_none() => {
            let tables = match &d.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
            };
            for t in tables {
                if let TableFactor::Table { name, .. } = &t.relation
                    && c.existing(&name.to_string())
                {
                    out.push("DM041", format!("DELETE FROM {name} without WHERE"));
                }
            }
        }
        _ => {}
    }
}
