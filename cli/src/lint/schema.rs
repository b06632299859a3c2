//! Schema facts lint learns from the migrations it has read so far: column types, indexes and
//! validated `CHECK (col IS NOT NULL)` constraints. Only what rules need; unknown means "say nothing".

use sqlparser::ast::{AlterColumnOperation, AlterTableOperation, ColumnOption, Expr, ObjectType, Statement, TableConstraint};

use super::norm;

/// An index: its name (if known), table and columns.
#[derive(Debug, Clone)]
pub struct Index {
    pub name: Option<String>,
    pub table: String,
    pub columns: Vec<String>,
}

/// What earlier statements established.
#[derive(Debug, Default)]
pub struct Schema {
    /// `(table, column)` → the column's type as written, lower-case.
    columns: Vec<((String, String), String)>,
    indexes: Vec<Index>,
    /// `(table, column)` proven NOT NULL by a validated CHECK.
    not_null_checks: Vec<(String, String)>,
    /// Constraint name → `(table, column)` of a NOT VALID `CHECK (column IS NOT NULL)`.
    pending_checks: Vec<(String, (String, String))>,
}

/// The column an `X IS NOT NULL` expression tests.
fn is_not_null_column(e: &Expr) -> Option<String> {
    match e {
        Expr::IsNotNull(inner) => Some(norm(&inner.to_string())),
        Expr::Nested(inner) => is_not_null_column(inner),
        _ => None,
    }
}

/// An index column's name (its expression as written, unquoted).
fn index_column(c: &sqlparser::ast::IndexColumn) -> String {
    norm(&c.column.expr.to_string())
}

impl Schema {
    /// The type of `table.column`, lower-case, if an earlier statement declared it.
    pub fn column_type(&self, table: &str, column: &str) -> Option<&str> {
        let key = (norm(table), norm(column));
        self.columns.iter().rev().find(|(k, _)| *k == key).map(|(_, t)| t.as_str())
    }

    /// Indexes on `table` that cover `column`.
    pub fn indexes_on(&self, table: &str, column: &str) -> Vec<&Index> {
        let (t, c) = (norm(table), norm(column));
        self.indexes.iter().filter(|i| i.table == t && i.columns.contains(&c)).collect()
    }

    /// Whether a validated CHECK proves `table.column` NOT NULL.
    pub fn proven_not_null(&self, table: &str, column: &str) -> bool {
        self.not_null_checks.contains(&(norm(table), norm(column)))
    }

    fn set_column(&mut self, table: &str, column: &str, ty: String) {
        let key = (norm(table), norm(column));
        self.columns.retain(|(k, _)| *k != key);
        self.columns.push((key, ty.to_ascii_lowercase()));
    }

    fn add_constraint(&mut self, table: &str, c: &TableConstraint, validated: bool) {
        let t = norm(table);
        let index = |name: Option<&sqlparser::ast::Ident>, cols: &[sqlparser::ast::IndexColumn]| Index { name: name.map(|n| norm(&n.to_string())), table: t.clone(), columns: cols.iter().map(index_column).collect() };
        match c {
            TableConstraint::Unique(u) => self.indexes.push(index(u.name.as_ref().or(u.index_name.as_ref()), &u.columns)),
            TableConstraint::PrimaryKey(p) => self.indexes.push(index(p.name.as_ref(), &p.columns)),
            TableConstraint::Index(i) => self.indexes.push(index(i.name.as_ref(), &i.columns)),
            TableConstraint::FulltextOrSpatial(f) => self.indexes.push(index(f.opt_index_name.as_ref(), &f.columns)),
            TableConstraint::Check(ch) => {
                if let Some(col) = is_not_null_column(&ch.expr) {
                    if validated {
                        self.not_null_checks.push((t.clone(), col));
                    } else if let Some(name) = &ch.name {
                        self.pending_checks.push((norm(&name.to_string()), (t.clone(), col)));
                    }
                }
            }
            _ => {}
        }
    }

    fn column_options(&mut self, table: &str, col: &sqlparser::ast::ColumnDef) {
        let t = norm(table);
        let c = norm(&col.name.to_string());
        for o in &col.options {
            match &o.option {
                ColumnOption::Unique(_) | ColumnOption::PrimaryKey(_) => self.indexes.push(Index { name: None, table: t.clone(), columns: vec![c.clone()] }),
                ColumnOption::Check(ch) if is_not_null_column(&ch.expr).is_some() => self.not_null_checks.push((t.clone(), c.clone())),
                _ => {}
            }
        }
    }

    fn rename_table(&mut self, old: &str, new: &str) {
        let (o, n) = (norm(old), norm(new));
        for ((t, _), _) in &mut self.columns {
            if *t == o {
                *t = n.clone();
            }
        }
        for i in &mut self.indexes {
            if i.table == o {
                i.table = n.clone();
            }
        }
    }

    fn drop_table(&mut self, table: &str) {
        let t = norm(table);
        self.columns.retain(|((tt, _), _)| *tt != t);
        self.indexes.retain(|i| i.table != t);
        self.not_null_checks.retain(|(tt, _)| *tt != t);
    }

    /// Learns what `stmt` changes.
    pub fn apply(&mut self, stmt: &Statement) {
        match stmt {
            Statement::CreateTable(ct) => {
                let table = ct.name.to_string();
                self.drop_table(&table);
                for col in &ct.columns {
                    self.set_column(&table, &col.name.to_string(), col.data_type.to_string());
                    self.column_options(&table, col);
                }
                for c in &ct.constraints {
                    self.add_constraint(&table, c, true);
                }
            }
            Statement::CreateIndex(ix) => self.indexes.push(Index {
                name: ix.name.as_ref().map(|n| norm(&n.to_string())),
                table: norm(&ix.table_name.to_string()),
                columns: ix.columns.iter().map(index_column).collect(),
            }),
            Statement::Drop { object_type: ObjectType::Table, names, .. } => names.iter().for_each(|n| self.drop_table(&n.to_string())),
            Statement::Drop { object_type: ObjectType::Index, names, .. } => {
                let names: Vec<String> = names.iter().map(|n| norm(&n.to_string())).collect();
                self.indexes.retain(|i| !i.name.as_ref().is_some_and(|n| names.contains(n)));
            }
            Statement::RenameTable(renames) => renames.iter().for_each(|r| self.rename_table(&r.old_name.to_string(), &r.new_name.to_string())),
            Statement::AlterTable(at) => {
                let table = at.name.to_string();
                for op in &at.operations {
                    self.alter(&table, op);
                }
            }
            _ => {}
        }
    }

    fn alter(&mut self, table: &str, op: &AlterTableOperation) {
        let t = norm(table);
        match op {
            AlterTableOperation::AddColumn { column_def, .. } => {
                self.set_column(table, &column_def.name.to_string(), column_def.data_type.to_string());
                self.column_options(table, column_def);
            }
            AlterTableOperation::AlterColumn { column_name, op: AlterColumnOperation::SetDataType { data_type, .. } } => {
                self.set_column(table, &column_name.to_string(), data_type.to_string());
            }
            AlterTableOperation::ModifyColumn { col_name, data_type, .. } => self.set_column(table, &col_name.to_string(), data_type.to_string()),
            AlterTableOperation::ChangeColumn { old_name, new_name, data_type, .. } => {
                let key = (t.clone(), norm(&old_name.to_string()));
                self.columns.retain(|(k, _)| *k != key);
                self.set_column(table, &new_name.to_string(), data_type.to_string());
            }
            AlterTableOperation::DropColumn { column_names, .. } => {
                for c in column_names {
                    let c = norm(&c.to_string());
                    self.columns.retain(|((tt, cc), _)| !(*tt == t && *cc == c));
                    // PostgreSQL drops indexes on the column; MySQL narrows them. Either way the
                    // old index no longer covers it.
                    self.indexes.retain(|i| !(i.table == t && i.columns.contains(&c)));
                }
            }
            AlterTableOperation::RenameColumn { old_column_name, new_column_name } => {
                let (o, n) = (norm(&old_column_name.to_string()), norm(&new_column_name.to_string()));
                for ((tt, cc), _) in &mut self.columns {
                    if *tt == t && *cc == o {
                        *cc = n.clone();
                    }
                }
                for i in &mut self.indexes {
                    if i.table == t {
                        i.columns.iter_mut().filter(|c| **c == o).for_each(|c| *c = n.clone());
                    }
                }
            }
            AlterTableOperation::RenameTable { table_name } => {
                let (sqlparser::ast::RenameTableNameKind::As(new) | sqlparser::ast::RenameTableNameKind::To(new)) = table_name;
                self.rename_table(table, &new.to_string());
            }
            AlterTableOperation::AddConstraint { constraint, not_valid } => self.add_constraint(table, constraint, !not_valid),
            AlterTableOperation::ValidateConstraint { name } => {
                let n = norm(&name.to_string());
                if let Some(pos) = self.pending_checks.iter().position(|(p, _)| *p == n) {
                    let (_, tc) = self.pending_checks.remove(pos);
                    self.not_null_checks.push(tc);
                }
            }
            _ => {}
        }
    }
}
