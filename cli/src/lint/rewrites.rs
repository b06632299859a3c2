//! Rewrites: changes that make the database touch every row of an existing table (DM004, DM007,
//! DM011, DM015, DM021, DM023, DM037).

use sqlparser::ast::{AlterColumnOperation, AlterTableOperation, ColumnDef, ColumnOption, DataType, Expr, GeneratedExpressionMode, Statement};

use super::{Ctx, Out};

const VOLATILE: &[&str] = &["random", "clock_timestamp", "gen_random_uuid", "uuid_generate_v4", "uuid_generate_v1", "timeofday", "nextval", "uuid"];

fn volatile(e: &Expr) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    VOLATILE.iter().any(|f| text.contains(&format!("{f}(")))
}

/// A character type's length limit: `Some(Some(n))` for `varchar(n)`, `Some(None)` for an
/// unbounded `varchar` / `text`; `None` for other types.
fn char_limit(ty: &str) -> Option<Option<u64>> {
    let t = ty.trim().to_ascii_lowercase();
    for prefix in ["varchar", "character varying"] {
        if let Some(rest) = t.strip_prefix(prefix) {
            let rest = rest.trim();
            if rest.is_empty() {
                return Some(None);
            }
            return rest.strip_prefix('(').and_then(|r| r.trim_end_matches(')').trim().parse().ok()).map(Some);
        }
    }
    (t == "text").then_some(None)
}

/// What a column's type change does, given its old type (if known).
enum TypeChange {
    /// Shrinks a varchar from the first length to the second.
    Shrink(u64, u64),
    /// Widens a varchar or makes it unbounded: metadata-only on PostgreSQL.
    Widen,
    /// Anything else, or the old type is unknown.
    Other,
}

fn type_change(old: Option<&str>, new: &DataType) -> TypeChange {
    let (Some(old), Some(new)) = (old.and_then(char_limit), char_limit(&new.to_string())) else { return TypeChange::Other };
    match (old, new) {
        (Some(o), Some(n)) if n < o => TypeChange::Shrink(o, n),
        (Some(_), _) | (None, None) => TypeChange::Widen,
        (None, Some(_)) => TypeChange::Other,
    }
}

/// `ALTER TYPE … ADD VALUE` needs no parse.
pub fn check_words(c: &Ctx, out: &mut Out) -> bool {
    if c.pg() && c.starts(&["ALTER", "TYPE"]) && c.upper.contains(" ADD VALUE") && c.transaction && c.opts.postgres_before(12) {
        out.push("DM015", format!("ALTER TYPE {} ADD VALUE", c.name(2)));
    }
    false
}

fn add_column(c: &Ctx, table: &str, col: &ColumnDef, out: &mut Out) {
    if !c.existing(table) {
        return;
    }
    let name = &col.name;
    let not_null = col.options.iter().any(|o| matches!(o.option, ColumnOption::NotNull));
    let default = col.options.iter().find_map(|o| match &o.option {
        ColumnOption::Default(e) => Some(e),
        _ => None,
    });
    let generated = col.options.iter().any(|o| matches!(o.option, ColumnOption::Generated { .. }));
    if not_null && default.is_none() && !generated {
        out.push("DM004", format!("{table}.{name} is NOT NULL without a default"));
    }
    if default.is_some_and(volatile) {
        out.push("DM011", format!("{table}.{name} defaults to a volatile expression"));
    } else if default.is_some_and(|d| !matches!(d, Expr::Value(v) if v.to_string().eq_ignore_ascii_case("NULL"))) && c.opts.postgres_before(11) {
        out.push("DM037", format!("{table}.{name} is added with a default"));
    }
    let stored = col.options.iter().any(|o| matches!(&o.option, ColumnOption::Generated { generation_expr: Some(_), generation_expr_mode: Some(GeneratedExpressionMode::Stored), .. }));
    if stored {
        out.push("DM021", format!("{table}.{name} is a STORED generated column"));
    }
}

fn retype(c: &Ctx, table: &str, column: &str, new: &DataType, out: &mut Out) {
    if !c.existing(table) {
        return;
    }
    match type_change(c.schema.column_type(table, column), new) {
        TypeChange::Shrink(o, n) => out.push("DM023", format!("{table}.{column} shrinks from {o} to {n} characters")),
        TypeChange::Widen if c.pg() => {}
        _ => out.push("DM007", format!("{table}.{column} changes type to {new}")),
    }
}

/// Checks on the parsed statement.
pub fn check(c: &Ctx, stmt: &Statement, out: &mut Out) {
    let Statement::AlterTable(at) = stmt else { return };
    let table = at.name.to_string();
    for op in &at.operations {
        match op {
            AlterTableOperation::AddColumn { column_def, .. } => add_column(c, &table, column_def, out),
            AlterTableOperation::AlterColumn { column_name, op: AlterColumnOperation::SetDataType { data_type, .. } } if !c.mysql() => {
                retype(c, &table, &column_name.to_string(), data_type, out);
            }
            AlterTableOperation::ModifyColumn { col_name, data_type, .. } => retype(c, &table, &col_name.to_string(), data_type, out),
            AlterTableOperation::ChangeColumn { old_name, data_type, .. } => retype(c, &table, &old_name.to_string(), data_type, out),
            _ => {}
        }
    }
}
