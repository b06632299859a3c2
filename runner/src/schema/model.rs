//! The normalised schema model: what introspection produces, `schema dump` prints and the
//! comparisons of `test` and `drift` work on.
//!
//! Normalised means two databases with the same schema give equal values (`==`) and the same
//! JSON, byte for byte: every list is sorted by name (columns keep their table order, index
//! columns their key order), types and actions are spelled one way per dialect, and names the
//! database invents alike on every server (PostgreSQL's `t_col_fkey`) are kept while names that
//! say nothing (SQLite's `sqlite_autoindex_*`) are dropped. db-migrate's own tables are never
//! part of a schema.

use std::collections::BTreeMap;

use serde::Serialize;

/// The database a schema came from: types and expressions are spelled in its dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SchemaDialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
    /// MongoDB.
    Mongo,
}

impl SchemaDialect {
    /// The dialect's name for messages.
    pub fn name(self) -> &'static str {
        match self {
            SchemaDialect::Sqlite => "SQLite",
            SchemaDialect::Postgres => "PostgreSQL",
            SchemaDialect::Mysql => "MySQL/MariaDB",
            SchemaDialect::Mongo => "MongoDB",
        }
    }
}

/// A whole schema. Maps are keyed by object name, so iteration (and JSON) is in name order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schema {
    /// The dialect.
    pub dialect: SchemaDialect,
    /// Tables by name.
    pub tables: BTreeMap<String, Table>,
    /// Views (and PostgreSQL materialized views) by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub views: BTreeMap<String, View>,
    /// PostgreSQL sequences not owned by an identity column, by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sequences: BTreeMap<String, Sequence>,
    /// PostgreSQL enum types by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub enums: BTreeMap<String, EnumType>,
    /// Functions and procedures (opaque bodies) by name (PostgreSQL: with argument types).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub functions: BTreeMap<String, Routine>,
    /// Triggers (opaque bodies) by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub triggers: BTreeMap<String, Trigger>,
    /// MongoDB collections by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub collections: BTreeMap<String, Collection>,
}

impl Schema {
    /// An empty schema of `dialect`.
    pub fn new(dialect: SchemaDialect) -> Self {
        Schema {
            dialect,
            tables: BTreeMap::new(),
            views: BTreeMap::new(),
            sequences: BTreeMap::new(),
            enums: BTreeMap::new(),
            functions: BTreeMap::new(),
            triggers: BTreeMap::new(),
            collections: BTreeMap::new(),
        }
    }

    /// Whether the schema holds no object at all.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
            && self.views.is_empty()
            && self.sequences.is_empty()
            && self.enums.is_empty()
            && self.functions.is_empty()
            && self.triggers.is_empty()
            && self.collections.is_empty()
    }

    /// Sorts every inner list into its canonical order. Introspection calls it; code that builds
    /// a schema by hand should too before comparing.
    pub fn normalize(&mut self) {
        for t in self.tables.values_mut() {
            t.normalize();
        }
        for c in self.collections.values_mut() {
            c.indexes.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }
}

/// A table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    /// Name (unqualified).
    pub name: String,
    /// Columns in table order.
    pub columns: Vec<Column>,
    /// The primary key, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<PrimaryKey>,
    /// Unique constraints (MySQL has none: its unique keys are unique [`Index`]es), sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uniques: Vec<Unique>,
    /// Indexes that are not a primary key or unique constraint, sorted by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<Index>,
    /// Foreign keys, sorted by (columns, referenced table, name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<ForeignKey>,
    /// Check constraints, sorted by (name, expression).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    /// Dialect options that change behaviour: SQLite `WITHOUT ROWID`, `STRICT`; MySQL `ENGINE`,
    /// `COLLATE` (the table's default collation).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

impl Table {
    /// An empty table named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Table {
            name: name.into(),
            columns: Vec::new(),
            primary_key: None,
            uniques: Vec::new(),
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            checks: Vec::new(),
            options: BTreeMap::new(),
        }
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The index named `name`.
    pub fn index(&self, name: &str) -> Option<&Index> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// Sorts constraints and indexes canonically.
    pub fn normalize(&mut self) {
        self.uniques.sort();
        self.uniques.dedup();
        self.indexes.sort_by(|a, b| a.name.cmp(&b.name));
        self.foreign_keys.sort_by(|a, b| (&a.columns, &a.ref_table, &a.name).cmp(&(&b.columns, &b.ref_table, &b.name)));
        self.checks.sort();
        self.checks.dedup();
    }
}

/// A column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    /// Name.
    pub name: String,
    /// Type, normalised per dialect: SQLite the declared type upper-cased; PostgreSQL
    /// `format_type` (`character varying(20)`, `integer[]`); MySQL `COLUMN_TYPE` (`varchar(20)`,
    /// `int(11) unsigned`).
    #[serde(rename = "type")]
    pub data_type: String,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// The default expression, as the database prints it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// A generated (computed) column's expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated: Option<Generated>,
    /// Identity / auto-increment: PostgreSQL `always` or `by default`; MySQL and SQLite
    /// `auto_increment` / `autoincrement`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Collation, when it differs from the default (PostgreSQL: the type's; MySQL: the table's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collation: Option<String>,
    /// MySQL `ON UPDATE` expression (`current_timestamp()`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_update: Option<String>,
}

impl Column {
    /// A nullable column with no default.
    pub fn new(name: impl Into<String>, data_type: impl Into<String>) -> Self {
        Column {
            name: name.into(),
            data_type: data_type.into(),
            nullable: true,
            default: None,
            generated: None,
            identity: None,
            collation: None,
            on_update: None,
        }
    }
}

/// A generated column's definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Generated {
    /// The expression.
    pub expression: String,
    /// Stored (true) or virtual (false).
    pub stored: bool,
}

/// A primary key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrimaryKey {
    /// Constraint name where the database keeps one (PostgreSQL); None elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Columns in key order.
    pub columns: Vec<String>,
}

/// A unique constraint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Unique {
    /// Columns in key order.
    pub columns: Vec<String>,
    /// Constraint name where it is meaningful (PostgreSQL, a named SQLite constraint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Index {
    /// Name.
    pub name: String,
    /// UNIQUE.
    pub unique: bool,
    /// Key parts in order.
    pub parts: Vec<IndexPart>,
    /// A partial index's WHERE condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate: Option<String>,
    /// Access method when not the default (PostgreSQL `gin`, `gist`…; MySQL `FULLTEXT`, `SPATIAL`, `HASH`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// One key part of an index: a column or an expression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexPart {
    /// The column name, or the expression's text when `expression` is true.
    pub key: String,
    /// Whether `key` is an expression rather than a column name.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub expression: bool,
    /// Descending order.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub descending: bool,
    /// MySQL prefix length (`name(10)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u32>,
}

impl IndexPart {
    /// An ascending key part on a column.
    pub fn column(name: impl Into<String>) -> Self {
        IndexPart { key: name.into(), expression: false, descending: false, length: None }
    }
}

/// What a foreign key does when the referenced row changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FkAction {
    /// NO ACTION (the default everywhere).
    NoAction,
    /// RESTRICT.
    Restrict,
    /// CASCADE.
    Cascade,
    /// SET NULL.
    SetNull,
    /// SET DEFAULT.
    SetDefault,
}

impl FkAction {
    /// Parses the spelling databases use (`CASCADE`, `SET NULL`, `NO ACTION`; PostgreSQL's
    /// one-letter codes `a r c n d`).
    pub fn parse(s: &str) -> FkAction {
        match s.trim().to_ascii_uppercase().as_str() {
            "CASCADE" | "C" => FkAction::Cascade,
            "RESTRICT" | "R" => FkAction::Restrict,
            "SET NULL" | "N" => FkAction::SetNull,
            "SET DEFAULT" | "D" => FkAction::SetDefault,
            _ => FkAction::NoAction,
        }
    }

    /// The SQL spelling.
    pub fn sql(self) -> &'static str {
        match self {
            FkAction::NoAction => "NO ACTION",
            FkAction::Restrict => "RESTRICT",
            FkAction::Cascade => "CASCADE",
            FkAction::SetNull => "SET NULL",
            FkAction::SetDefault => "SET DEFAULT",
        }
    }
}

/// A foreign key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignKey {
    /// Constraint name where the database keeps one (PostgreSQL, MySQL, a named SQLite constraint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Referencing columns.
    pub columns: Vec<String>,
    /// Referenced table.
    pub ref_table: String,
    /// Referenced columns (SQLite: empty when the primary key is implied).
    pub ref_columns: Vec<String>,
    /// ON UPDATE.
    pub on_update: FkAction,
    /// ON DELETE.
    pub on_delete: FkAction,
}

/// A check constraint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Check {
    /// Name where the database keeps one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The condition, as the database prints it (without `CHECK`).
    pub expression: String,
}

/// A view: its definition is compared as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct View {
    /// Name.
    pub name: String,
    /// The query (SQLite: the whole `CREATE VIEW` statement, whitespace-normalised).
    pub definition: String,
    /// PostgreSQL materialized view.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub materialized: bool,
}

/// A PostgreSQL sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sequence {
    /// Name.
    pub name: String,
    /// `bigint`, `integer` or `smallint`.
    pub data_type: String,
    /// START WITH.
    pub start: i64,
    /// INCREMENT BY.
    pub increment: i64,
    /// MINVALUE.
    pub min: i64,
    /// MAXVALUE.
    pub max: i64,
    /// CYCLE.
    pub cycle: bool,
    /// `table.column` of an OWNED BY (serial columns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owned_by: Option<String>,
}

/// A PostgreSQL enum type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnumType {
    /// Name.
    pub name: String,
    /// Labels in sort order.
    pub values: Vec<String>,
}

/// A function or procedure, kept as its complete definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Routine {
    /// Name (PostgreSQL: `name(argument types)`).
    pub name: String,
    /// `function` or `procedure`.
    pub kind: String,
    /// The complete `CREATE` statement (PostgreSQL `pg_get_functiondef`), or the body (MySQL).
    pub definition: String,
}

/// A trigger, kept as its complete definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trigger {
    /// Name.
    pub name: String,
    /// The table it fires on.
    pub table: String,
    /// The complete `CREATE TRIGGER` statement.
    pub definition: String,
}

/// A MongoDB collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collection {
    /// Name.
    pub name: String,
    /// Indexes (the implicit `_id_` one excluded), sorted by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<MongoIndex>,
    /// The `validator` document, as canonical JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validator: Option<String>,
    /// Other creation options (`capped`, `size`, `validationLevel`…), canonical JSON values.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// A MongoDB index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MongoIndex {
    /// Name.
    pub name: String,
    /// Key fields in order with their direction or kind (`1`, `-1`, `"text"`, `"2dsphere"`).
    pub keys: Vec<(String, String)>,
    /// Options (`unique`, `sparse`, `expireAfterSeconds`, `partialFilterExpression`…), canonical JSON values.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// Collapses runs of whitespace to one space and trims: definitions the database keeps as
/// written compare equal however they were indented.
pub fn squash_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Trims trailing whitespace of every line, unifies line endings and trims the whole: for
/// definitions kept verbatim (SQLite views and triggers), where comments make squashing unsafe.
pub fn tidy(s: &str) -> String {
    s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_schemas_compare_and_print_alike() {
        let mut a = Schema::new(SchemaDialect::Sqlite);
        let mut t = Table::new("t");
        t.columns.push(Column::new("id", "INTEGER"));
        t.checks = vec![Check { name: None, expression: "b > 0".into() }, Check { name: None, expression: "a > 0".into() }];
        a.tables.insert("t".into(), t.clone());
        let mut b = Schema::new(SchemaDialect::Sqlite);
        t.checks.reverse();
        b.tables.insert("t".into(), t);
        a.normalize();
        b.normalize();
        assert_eq!(a, b);
        assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    }

    #[test]
    fn fk_actions_parse_every_spelling() {
        assert_eq!(FkAction::parse("c"), FkAction::Cascade);
        assert_eq!(FkAction::parse("SET NULL"), FkAction::SetNull);
        assert_eq!(FkAction::parse("a"), FkAction::NoAction);
        assert_eq!(FkAction::parse("restrict"), FkAction::Restrict);
    }
}
