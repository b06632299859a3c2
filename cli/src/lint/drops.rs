//! Drops and renames: changes that break code still running, or lose data (DM005, DM006, DM024,
//! DM027, DM032).

use sqlparser::ast::{AlterTableOperation, DropBehavior, ObjectType, Statement};

use super::{Ctx, Out};

/// `DROP DATABASE`/`SCHEMA` and `DROP … CASCADE` need no parse.
pub fn check_words(c: &Ctx, out: &mut Out) -> bool {
    if c.starts(&["DROP", "DATABASE"]) || c.starts(&["DROP", "SCHEMA"]) {
        out.push("DM032", c.phrase(0, 3));
    }
    if c.pg() && c.starts(&["DROP"]) && c.has_word("CASCADE") {
        out.push("DM027", format!("DROP {} … CASCADE", c.name(1)));
    }
    false
}

/// Checks on the parsed statement.
pub fn check(c: &Ctx, stmt: &Statement, out: &mut Out) {
    match stmt {
        Statement::Drop { object_type: ObjectType::Table, names, .. } => {
            out.push("DM006", format!("DROP TABLE {}", names.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")));
        }
        Statement::RenameTable(renames) => {
            for r in renames {
                out.push("DM005", format!("table {} renamed to {}", r.old_name, r.new_name));
            }
        }
        Statement::AlterTable(at) => {
            let table = at.name.to_string();
            for op in &at.operations {
                match op {
                    AlterTableOperation::RenameColumn { old_column_name, new_column_name } => {
                        out.push("DM005", format!("{table}.{old_column_name} renamed to {new_column_name}"));
                    }
                    AlterTableOperation::RenameTable { .. } => out.push("DM005", format!("table {table} renamed")),
                    AlterTableOperation::DropColumn { column_names, drop_behavior, .. } => {
                        let cols: Vec<String> = column_names.iter().map(|c| c.to_string()).collect();
                        out.push("DM006", format!("{table}: DROP COLUMN {}", cols.join(", ")));
                        if *drop_behavior == Some(DropBehavior::Cascade) {
                            out.push("DM027", format!("{table}: DROP COLUMN … CASCADE"));
                        }
                        for col in &cols {
                            for ix in c.schema.indexes_on(&table, col) {
                                let name = ix.name.clone().unwrap_or_else(|| "(unnamed)".into());
                                out.push("DM024", format!("{table}.{col} is still covered by index {name} on ({})", ix.columns.join(", ")));
                            }
                        }
                    }
                    AlterTableOperation::DropConstraint { drop_behavior: Some(DropBehavior::Cascade), name, .. } => {
                        out.push("DM027", format!("{table}: DROP CONSTRAINT {name} … CASCADE"));
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}
