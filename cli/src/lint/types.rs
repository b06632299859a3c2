//! Types: column types that cost later (DM013, DM022, DM029, DM030, DM038). They apply to new and
//! existing tables alike: a type is cheapest to get right when the column is created.

use sqlparser::ast::{AlterTableOperation, ColumnDef, ColumnOption, Statement, TableConstraint};

use super::{norm, Ctx, Out};

/// A type's base name, lower-case, without its length or precision (`character varying`, `int`).
fn base(ty: &str) -> String {
    ty.split('(').next().unwrap_or_default().trim().to_ascii_lowercase()
}

fn is_32bit(ty: &str) -> bool {
    let b = base(ty);
    let b = b.trim_end_matches(" unsigned");
    matches!(b, "int" | "integer" | "int4" | "int2" | "smallint" | "mediumint" | "tinyint" | "serial" | "serial4" | "serial2" | "smallserial")
}

fn column(c: &Ctx, table: &str, col: &ColumnDef, primary: bool, out: &mut Out) {
    let ty = col.data_type.to_string();
    let lower = ty.to_ascii_lowercase();
    let b = base(&ty);
    let at = format!("{table}.{}", col.name);
    if c.pg() {
        if b == "json" {
            out.push("DM013", format!("{at} is `json`"));
        }
        if matches!(b.as_str(), "serial" | "bigserial" | "smallserial" | "serial2" | "serial4" | "serial8") {
            out.push("DM022", format!("{at} is `{b}`"));
        }
        if lower.starts_with("timestamp") && !lower.starts_with("timestamptz") && !lower.contains("with time zone") {
            out.push("DM029", format!("{at} is `{lower}`"));
        }
        if matches!(b.as_str(), "char" | "character" | "bpchar" | "nchar") {
            out.push("DM030", format!("{at} is `{lower}`"));
        }
    }
    let pk_option = col.options.iter().any(|o| matches!(o.option, ColumnOption::PrimaryKey(_)));
    if (c.pg() || c.mysql()) && (primary || pk_option) && is_32bit(&ty) {
        out.push("DM038", format!("primary key {at} is `{lower}`"));
    }
}

/// Checks on the parsed statement.
pub fn check(c: &Ctx, stmt: &Statement, out: &mut Out) {
    match stmt {
        Statement::CreateTable(t) => {
            let table = t.name.to_string();
            // A single-column table-level PRIMARY KEY (id).
            let pk: Vec<String> = t
                .constraints
                .iter()
                .filter_map(|k| match k {
                    TableConstraint::PrimaryKey(p) if p.columns.len() == 1 => Some(norm(&p.columns[0].column.expr.to_string())),
                    _ => None,
                })
                .collect();
            for col in &t.columns {
                column(c, &table, col, pk.contains(&norm(&col.name.to_string())), out);
            }
        }
        Statement::AlterTable(at) => {
            let table = at.name.to_string();
            for op in &at.operations {
                if let AlterTableOperation::AddColumn { column_def, .. } = op {
                    column(c, &table, column_def, false, out);
                }
            }
        }
        _ => {}
    }
}
