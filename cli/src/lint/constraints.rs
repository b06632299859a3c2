//! Constraints: keys and checks whose creation scans or locks (DM008–DM010, DM025, DM028, DM031,
//! DM040).

use sqlparser::ast::{AlterColumnOperation, AlterTableOperation, ColumnDef, ColumnOption, ForeignKeyConstraint, ReferentialAction, Statement, TableConstraint};

use super::{norm, Ctx, Out};

fn cascade(table: &str, fk: &ForeignKeyConstraint, out: &mut Out) {
    if fk.on_delete == Some(ReferentialAction::Cascade) {
        out.push("DM031", format!("{table} → {} ON DELETE CASCADE", fk.foreign_table));
    }
}

fn column_options(c: &Ctx, table: &str, col: &ColumnDef, existing: bool, out: &mut Out) {
    for o in &col.options {
        match &o.option {
            ColumnOption::ForeignKey(fk) => {
                cascade(table, fk, out);
                if existing && c.pg() {
                    out.push("DM028", format!("{table}.{} REFERENCES {}", col.name, fk.foreign_table));
                }
            }
            ColumnOption::Unique(_) if existing && c.pg() => out.push("DM009", format!("{table}.{} is added UNIQUE", col.name)),
            ColumnOption::PrimaryKey(_) if existing && c.pg() => out.push("DM025", format!("{table}.{} is added as PRIMARY KEY", col.name)),
            _ => {}
        }
    }
}

/// Checks on the parsed statement.
pub fn check(c: &Ctx, stmt: &Statement, out: &mut Out) {
    match stmt {
        Statement::CreateTable(t) => {
            let table = t.name.to_string();
            for k in &t.constraints {
                if let TableConstraint::ForeignKey(fk) = k {
                    cascade(&table, fk, out);
                }
            }
            for col in &t.columns {
                column_options(c, &table, col, false, out);
            }
        }
        Statement::AlterTable(at) => {
            let table = at.name.to_string();
            let existing = c.existing(&table);
            for op in &at.operations {
                match op {
                    AlterTableOperation::AddColumn { column_def, .. } => column_options(c, &table, column_def, existing, out),
                    AlterTableOperation::AddConstraint { constraint, not_valid } => {
                        if let TableConstraint::ForeignKey(fk) = constraint {
                            cascade(&table, fk, out);
                        }
                        if !existing || !c.pg() {
                            continue;
                        }
                        match constraint {
                            TableConstraint::ForeignKey(_) | TableConstraint::Check(_) if !not_valid => {
                                out.push("DM008", format!("{table}: a constraint added without NOT VALID"));
                            }
                            TableConstraint::Unique(_) => out.push("DM009", format!("{table}: ADD CONSTRAINT UNIQUE")),
                            TableConstraint::PrimaryKey(_) => out.push("DM025", format!("{table}: ADD PRIMARY KEY")),
                            _ => {}
                        }
                    }
                    AlterTableOperation::AlterColumn { column_name, op: AlterColumnOperation::SetNotNull } if c.pg() && existing => {
                        let proven = !c.opts.postgres_before(12) && c.schema.proven_not_null(&table, &column_name.to_string());
                        if !proven {
                            out.push("DM010", format!("{table}.{column_name} SET NOT NULL"));
                        }
                    }
                    AlterTableOperation::ValidateConstraint { name } if c.pg() && c.transaction && c.script.not_valid.contains(&norm(&name.to_string())) => {
                        out.push("DM040", format!("{table}: VALIDATE CONSTRAINT {name} right after adding it NOT VALID"));
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}
