//! Grants: which statements a component may send, checked on every call — as an allowlist.
//!
//! Every statement from every guest (unrestricted migrations included) is tokenized and parsed
//! with `sqlparser` for the connection's dialect. What does not parse is refused; what parses
//! is admitted only if every part of it is on a list: the statement kind (per class: `read`,
//! `write`, `ddl`), every function it calls ([`crate::backend::functions`]), every relation it names —
//! in joins, subqueries, set operations, `TABLE x`, CTE bodies, DML targets — and nothing on the
//! raw text decides that something is allowed. CTE names shadow tables only inside their own
//! scope, and never as the target of a write. db-migrate's own tables (history, its lock, the
//! seed history, cursor tables) and the catalogs that reach outside the database are never a
//! guest's, whatever it was granted.
//!
//! This is the host's half. The database's half — SQLite's authorizer, a restricted role on
//! PostgreSQL, a restricted account on MySQL — enforces the same grant where the privilege
//! lives (see `docs/SECURITY.md`); the check here is what makes refusals early, typed and
//! audited, and what stands alone where the database cannot help (transaction control, locks).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FromTable, Insert, ObjectName, ObjectNamePart, ObjectType, Query, Select, SetExpr, Statement, TableFactor, TableObject,
    Value, Visit, Visitor,
};
use sqlparser::dialect::{Dialect as SqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

use crate::backend::Dialect;
pub use crate::backend::guest::{InsertPlan, Reserved};

/// A class of statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// `SELECT` (and `WITH … SELECT`, `VALUES`, `TABLE x`).
    Read,
    /// `INSERT`, `UPDATE`, `DELETE`, `REPLACE`, `MERGE`.
    Write,
    /// `CREATE`/`ALTER`/`DROP` of tables, views, indexes, sequences and types; `TRUNCATE`,
    /// `COMMENT`, `RENAME`.
    Ddl,
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Class::Read => "read",
            Class::Write => "write",
            Class::Ddl => "ddl",
        })
    }
}

/// What a component may do with the database.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grants {
    /// Allowed classes.
    pub classes: BTreeSet<Class>,
    /// Allowed tables (lower-case; `schema.table` or `table`); `None` allows any of the
    /// database's own tables (never db-migrate's, never the system catalogs).
    pub tables: Option<BTreeSet<String>>,
    /// Functions beyond the built-in allowlist (the user's own, lower-case).
    pub functions: BTreeSet<String>,
}

impl Default for Grants {
    /// Migrations' default: every class, any table.
    fn default() -> Self {
        Grants { classes: [Class::Read, Class::Write, Class::Ddl].into(), tables: None, functions: BTreeSet::new() }
    }
}

/// What the check learnt about an admitted statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// Its class (`read` for the few settings a guest may change).
    pub class: Class,
    /// Whether it is a plain query (what a cursor may be opened on).
    pub query: bool,
    /// The table it writes, for the per-table row counts seeds report.
    pub target: Option<String>,
    /// The batch fast path, when it is a plain placeholder INSERT.
    pub insert: Option<InsertPlan>,
}

fn parser_dialect(d: Dialect) -> Box<dyn SqlDialect> {
    match d {
        Dialect::Sqlite => Box::new(SQLiteDialect {}),
        Dialect::Postgres => Box::new(PostgreSqlDialect {}),
        Dialect::Mysql => Box::new(MySqlDialect {}),
    }
}

/// One part of a name as the database resolves it: PostgreSQL folds unquoted names to lower
/// case and keeps quoted ones; SQLite and MySQL (for the grant's purposes) ignore case.
fn part(dialect: Dialect, p: &ObjectNamePart) -> Option<String> {
    match p {
        ObjectNamePart::Identifier(i) if dialect == Dialect::Postgres && i.quote_style.is_some() => Some(i.value.clone()),
        ObjectNamePart::Identifier(i) => Some(i.value.to_lowercase()),
        ObjectNamePart::Function(_) => None,
    }
}

fn parts(dialect: Dialect, name: &ObjectName) -> Option<Vec<String>> {
    name.0.iter().map(|p| part(dialect, p)).collect()
}

/// Checks one statement; the `Err` is the reason given to the guest and the audit line.
impl Grants {
    /// True when nothing is restricted beyond what no guest may ever do.
    pub fn unrestricted(&self) -> bool {
        self.classes.len() == 3 && self.tables.is_none()
    }

    /// Under a table allowlist, whether a new index, constraint, sequence or type (`name`: its
    /// own name, without schema) is named after a granted table: `users`, `users_pkey`,
    /// `ix_users_email`, `users_id_seq` for `users`.
    fn named_after_granted(&self, name: &str) -> Result<(), String> {
        let Some(tables) = &self.tables else { return Ok(()) };
        let bare = name.to_ascii_lowercase();
        // The table's name first, or after one of the usual kind prefixes (`ix_users_email`),
        // then nothing or `_…`. (Anywhere in the name let `orders_users_idx` pass for `users`:
        // a name a later migration would give an index on `orders`.)
        let rest = ["ix_", "idx_", "uq_", "uk_", "ak_", "pk_", "fk_", "ck_", "ex_", "seq_"]
            .iter()
            .find_map(|p| bare.strip_prefix(p))
            .into_iter()
            .chain([bare.as_str()]);
        let starts = |table: &str| {
            let t = table.rsplit('.').next().unwrap_or(table);
            rest.clone().any(|r| r == t || r.strip_prefix(t).is_some_and(|after| after.starts_with('_')))
        };
        if tables.iter().any(|t| starts(&t.to_ascii_lowercase())) {
            return Ok(());
        }
        let list: Vec<&str> = tables.iter().map(String::as_str).collect();
        Err(format!(
            "`{name}` does not name a granted table: under a table allowlist a new index, constraint, sequence or type is named after one of its tables ({}), e.g. `{}_…`",
            list.join(", "),
            list.first().map(|t| t.rsplit('.').next().unwrap_or(t)).unwrap_or("table")
        ))
    }

    /// Whether the relation `name` (its parts as resolved) is this guest's to touch.
    pub(crate) fn relation_allowed(&self, dialect: Dialect, reserved: &Reserved, name: &[String]) -> Result<(), String> {
        let shown = name.join(".");
        let (schema, bare) = match name {
            [t] => (None, t.as_str()),
            [s, t] => (Some(s.as_str()), t.as_str()),
            _ => return Err(format!("`{shown}` names another database or catalog; a component works in its own database only")),
        };
        let bare_lc = bare.to_ascii_lowercase();
        if reserved.contains(&bare_lc) {
            return Err(format!("`{shown}` is db-migrate's own table; no component may touch it"));
        }
        let system_schema = schema.map(str::to_ascii_lowercase);
        let system = match dialect {
            Dialect::Sqlite => bare_lc.starts_with("sqlite_") || bare_lc.starts_with("pragma_") || system_schema.as_deref().is_some_and(|s| s != "main" && s != "temp"),
            Dialect::Postgres => {
                // `pg_temp` among them: temporary objects shadow real ones for the session.
                bare_lc.starts_with("pg_") || system_schema.as_deref().is_some_and(|s| s.starts_with("pg_") || s == "information_schema")
            }
            Dialect::Mysql => system_schema.is_some(),
        };
        if system {
            return Err(match dialect {
                Dialect::Mysql => format!("`{shown}` is outside the migration's database (schema-qualified names are refused on MySQL)"),
                _ => format!("`{shown}` is a system catalog or another database; components may not read or change it"),
            });
        }
        let Some(allowed) = &self.tables else { return Ok(()) };
        let default_schema = match dialect {
            Dialect::Sqlite => matches!(system_schema.as_deref(), None | Some("main" | "temp")),
            Dialect::Postgres => matches!(system_schema.as_deref(), None | Some("public")),
            Dialect::Mysql => system_schema.is_none(),
        };
        let full = format!("{}.{}", schema.unwrap_or(""), bare);
        if allowed.contains(&shown) || allowed.contains(&full) || (default_schema && allowed.contains(bare)) {
            return Ok(());
        }
        let list: Vec<&str> = allowed.iter().map(String::as_str).collect();
        Err(format!("table `{shown}` is not in this component's allowlist ({})", if list.is_empty() { "empty".to_string() } else { list.join(", ") }))
    }

    /// Checks one statement with the default reserved names.
    pub fn check(&self, dialect: Dialect, sql: &str) -> Result<Admitted, String> {
        self.check_with(dialect, sql, &Reserved::default())
    }

    /// Checks one statement; `reserved` names db-migrate's tables for this run.
    pub fn check_with(&self, dialect: Dialect, sql: &str, reserved: &Reserved) -> Result<Admitted, String> {
        let pd = parser_dialect(dialect);
        if dialect == Dialect::Mysql && mysql_special_comment(sql) {
            // MySQL and MariaDB run `/*! … */` and `/*M! … */` as SQL, and `/*+ … */` hints can
            // change session variables: a guest's statement is only what the check saw.
            return Err("executable comments and optimizer hints (`/*! … */`, `/*M! … */`, `/*+ … */`) are never allowed to components".into());
        }
        let tokens = Tokenizer::new(&*pd, sql)
            .tokenize_with_location()
            .map_err(|e| format!("the statement cannot be read, so it is refused ({e})"))?;
        for t in &tokens {
            check_token(dialect, &t.token)?;
            // db-migrate's names (and every name they prefix: their indexes, constraints,
            // sequences) are never a guest's to mention, whatever the statement does with them.
            if let Token::Word(w) = &t.token {
                if reserved.prefixes(&w.value.to_ascii_lowercase()) {
                    return Err(format!("`{}` is one of db-migrate's own names; no component may use it", w.value));
                }
            }
            // A quoted string can be a name too (SQLite takes `CREATE TABLE 'x'`, PostgreSQL
            // `'x'::regclass`): one spelled like db-migrate's names is refused as they are.
            // (Only identifier-shaped strings: data that merely mentions them passes.)
            let quoted = match &t.token {
                Token::SingleQuotedString(v)
                | Token::DoubleQuotedString(v)
                | Token::NationalStringLiteral(v)
                | Token::EscapedStringLiteral(v)
                | Token::UnicodeStringLiteral(v) => Some(v),
                Token::DollarQuotedString(d) => Some(&d.value),
                _ => None,
            };
            if let Some(v) = quoted {
                let lower = v.to_ascii_lowercase();
                let bare = lower.rsplit('.').next().unwrap_or(&lower);
                if reserved.prefixes(bare) && bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
                    return Err(format!("'{v}' is one of db-migrate's own names; no component may use it"));
                }
            }
        }
        let tokens = without_drop_index_concurrently(dialect, tokens);
        let statements = Parser::new(&*pd)
            .with_tokens_with_locations(tokens)
            .parse_statements()
            .map_err(|e| format!("the statement cannot be checked, so it is refused ({e})"))?;
        let [stmt] = statements.as_slice() else {
            return Err(format!("one call carries one statement; this text holds {}", statements.len()));
        };

        let (class, what) = classify(dialect, stmt)?;
        let mut walk = Walk::new(dialect, self);
        let _ = stmt.visit(&mut walk);
        if let Some(e) = walk.error {
            return Err(e);
        }
        let class = if class == Class::Read && walk.writes { Class::Write } else { class };
        if !self.classes.contains(&class) {
            let granted: Vec<String> = self.classes.iter().map(|c| c.to_string()).collect();
            return Err(format!(
                "a `{what}` statement is `{class}`, which this component is not granted (it has: {})",
                if granted.is_empty() { "nothing".to_string() } else { granted.join(", ") }
            ));
        }
        if dialect == Dialect::Mysql && matches!(stmt, Statement::CreateTable(_) | Statement::AlterTable(_)) {
            mysql_table_options(stmt)?;
        }
        if let Statement::CreateTable(c) = stmt {
            // Scratch tables are fine where the host drops them when the guest's session ends
            // (so they shadow nothing afterwards); MySQL's outlive it on the shared session.
            if c.temporary && dialect == Dialect::Mysql {
                return Err("temporary tables are not a component's on MySQL: they would outlive it on the session".into());
            }
        }
        if let Statement::CreateView(v) = stmt {
            // On SQLite a view named in `temp` is temporary without the keyword.
            let in_temp = dialect == Dialect::Sqlite && v.name.0.len() == 2 && v.name.0[0].to_string().trim_matches(|c| matches!(c, '"' | '`' | '[' | ']')).eq_ignore_ascii_case("temp");
            if v.temporary || in_temp || v.params.is_some() {
                return Err("temporary views and views with a DEFINER or SQL SECURITY clause are not a component's".into());
            }
        }
        if let Statement::CreateSequence { temporary: true, .. } = stmt {
            return Err("temporary sequences are not a component's".into());
        }
        if self.tables.is_some() {
            // A cascade reaches tables the statement does not name.
            let cascades = match stmt {
                Statement::Drop { cascade, .. } => *cascade,
                Statement::Truncate(t) => matches!(t.cascade, Some(sqlparser::ast::CascadeOption::Cascade)),
                _ => false,
            };
            if cascades {
                return Err("`CASCADE` reaches tables the statement does not name; it is refused under a table allowlist".into());
            }
            // What this grant cannot see into is refused when tables are restricted.
            if let Statement::CreateTable(c) = stmt {
                if c.like.is_some() || c.clone.is_some() || !c.inherits.as_ref().is_none_or(|i| i.is_empty()) {
                    return Err("`CREATE TABLE … LIKE/CLONE/INHERITS` copies another table; it is refused under a table allowlist".into());
                }
            }
        }
        for cte in &walk.cte_names {
            // A CTE's name hides a table of that name from this check. Outside ASCII this check
            // and the databases fold case differently (the Kelvin sign lower-cases to `k` here,
            // to itself in SQLite), so a CTE could hide a real table the database then reads.
            if !cte.is_ascii() {
                return Err(format!("a CTE's name must be ASCII (`{cte}` is not): case folding outside ASCII differs between databases"));
            }
            if reserved.contains(&cte.to_ascii_lowercase()) {
                return Err(format!("a CTE may not take the name `{cte}` of db-migrate's own table"));
            }
        }
        for (name, exempt) in &walk.relations {
            if !exempt {
                self.relation_allowed(dialect, reserved, name)?;
            }
        }
        // Writes land on real tables, never on a CTE of the same name.
        for name in &walk.targets {
            self.relation_allowed(dialect, reserved, name)?;
        }
        for n in named_objects(stmt)? {
            let p = parts(dialect, &n).ok_or("a computed name cannot be checked")?;
            self.relation_allowed(dialect, reserved, &p)?;
        }
        // Names of new indexes, sequences and types share the namespace of tables: never
        // db-migrate's names, never a system schema (the allowlist is about tables).
        let any = Grants { tables: None, ..self.clone() };
        for n in new_names(stmt) {
            let p = parts(dialect, &n).ok_or("a computed name cannot be checked")?;
            any.relation_allowed(dialect, reserved, &p)?;
            // (The last part: a quoted name may hold a dot.)
            self.named_after_granted(p.last().map(String::as_str).unwrap_or(""))?;
        }
        // Under a table allowlist, new names are the granted tables' too: an index, constraint,
        // sequence or type named for another table would be taken by this guest before the
        // migration that means to create it (`CREATE … IF NOT EXISTS` then finds the guest's).
        // (Tokenized again only where it can matter: a table's definition under an allowlist.)
        if self.tables.is_some() && matches!(stmt, Statement::CreateTable(_) | Statement::AlterTable(_)) {
            for n in new_constraint_names(stmt, &tokens_of(dialect, sql)) {
                self.named_after_granted(&n)?;
            }
        }
        let target = walk.targets.first().map(|t| t.join(".").to_ascii_lowercase());
        let insert = match stmt {
            Statement::Insert(i) => insert_plan(dialect, i),
            _ => None,
        };
        Ok(Admitted { class, query: matches!(stmt, Statement::Query(_)) && !walk.writes, target, insert })
    }
}

/// PostgreSQL's `DROP INDEX CONCURRENTLY name` (what Alembic's `drop_index(…,
/// postgresql_concurrently=True)` sends in an `autocommit_block()`) is checked as the `DROP
/// INDEX name` it is, which the parser reads: `CONCURRENTLY` changes how the server locks, not
/// what is dropped.
fn without_drop_index_concurrently(dialect: Dialect, mut tokens: Vec<sqlparser::tokenizer::TokenWithSpan>) -> Vec<sqlparser::tokenizer::TokenWithSpan> {
    if dialect != Dialect::Postgres {
        return tokens;
    }
    let words: Vec<usize> = tokens.iter().enumerate().filter(|(_, t)| !matches!(t.token, Token::Whitespace(_))).map(|(i, _)| i).take(3).collect();
    let word = |i: usize, w: &str| matches!(&tokens[i].token, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w));
    if let [a, b, c] = words[..] {
        if word(a, "drop") && word(b, "index") && word(c, "concurrently") {
            tokens.remove(c);
        }
    }
    tokens
}

/// Refuses tokens where the parser and the server could read the text differently. Outside
/// string literals and quoted identifiers only ASCII is accepted: servers take bytes the parser
/// does not (PostgreSQL dollar-quote tags, MySQL identifiers), and a non-ASCII space after `--`
/// is a comment to one and an identifier to the other. Dollar-quote tags must be plain words.
/// On MySQL no comment is accepted at all: its comment syntax has executable, version-dependent
/// and whitespace-dependent forms.
fn check_token(dialect: Dialect, token: &Token) -> Result<(), String> {
    let non_ascii = "characters outside ASCII are only allowed inside string literals and quoted identifiers";
    match token {
        Token::Whitespace(Whitespace::MultiLineComment(c)) | Token::Whitespace(Whitespace::SingleLineComment { comment: c, .. }) => {
            if dialect == Dialect::Mysql {
                return Err("comments are not allowed in components' statements on MySQL (some of its comments execute)".into());
            }
            if c.starts_with('!') || c.starts_with("M!") || c.starts_with('+') {
                return Err("executable comments and optimizer hints (`/*! … */`, `/*+ … */`) are never allowed to components".into());
            }
            if !c.is_ascii() {
                return Err(format!("{non_ascii} (a comment holds some)"));
            }
            Ok(())
        }
        Token::Whitespace(_) => Ok(()),
        Token::Word(w) if w.quote_style.is_none() && !w.value.is_ascii() => Err(format!("{non_ascii} (`{}`)", w.value)),
        // Server and user variables: server settings, and session state the host shares.
        Token::Word(w) if dialect == Dialect::Mysql && w.quote_style.is_none() && w.value.starts_with('@') => {
            Err(format!("variables (`{}`) are not a component's on MySQL", w.value))
        }
        Token::Word(_) => Ok(()),
        Token::DollarQuotedString(d) => match &d.tag {
            Some(tag) if !(tag.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) => {
                Err("a dollar-quote tag must be a plain ASCII word".into())
            }
            _ => Ok(()),
        },
        Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::NationalStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::HexStringLiteral(_)
        | Token::SingleQuotedByteStringLiteral(_)
        | Token::DoubleQuotedByteStringLiteral(_) => Ok(()),
        Token::UnicodeStringLiteral(_) => Err("`U&'…'` strings are not accepted from components; send the text as a parameter".into()),
        other => {
            let text = other.to_string();
            if text.is_ascii() { Ok(()) } else { Err(format!("{non_ascii} (`{text}`)")) }
        }
    }
}

/// Whether MySQL would see a `/*!`, `/*M!` or `/*+` comment in `sql`, read the way MySQL reads
/// it (quotes with backslash escapes, backticks, `#` and `-- ` comments). This only ever refuses.
fn mysql_special_comment(sql: &str) -> bool {
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() {
                    if b[i] == b'\\' && q != b'`' {
                        i += 2;
                        continue;
                    }
                    if b[i] == q {
                        if b.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') && b.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                if matches!(b.get(i + 2), Some(b'!' | b'+')) || (b.get(i + 2) == Some(&b'M') && b.get(i + 3) == Some(&b'!')) {
                    return true;
                }
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    false
}

/// Tables, views and indexes a DDL statement names where the visitor does not see a relation.
fn named_objects(stmt: &Statement) -> Result<Vec<ObjectName>, String> {
    use sqlparser::ast::CommentObject as C;
    Ok(match stmt {
        Statement::Drop { names, table, .. } => names.iter().cloned().chain(table.iter().cloned()).collect(),
        Statement::Comment { object_type, object_name, .. } => match object_type {
            C::Table | C::View | C::MaterializedView | C::Index => vec![object_name.clone()],
            C::Column => {
                let mut n = object_name.clone();
                n.0.pop();
                vec![n]
            }
            _ => return Err("`COMMENT` on anything but a table, view, index or column is never allowed to components".into()),
        },
        Statement::CreateTable(c) => {
            let mut out = vec![c.name.clone()];
            out.extend(c.clone.iter().cloned());
            out.extend(c.inherits.iter().flatten().cloned());
            if let Some(like) = &c.like {
                out.push(match like {
                    sqlparser::ast::CreateTableLikeKind::Parenthesized(l) | sqlparser::ast::CreateTableLikeKind::Plain(l) => l.name.clone(),
                });
            }
            for col in &c.columns {
                out.extend(column_references(col.options.iter().map(|o| &o.option)));
            }
            out.extend(c.constraints.iter().filter_map(constraint_reference));
            out
        }
        Statement::AlterTable(a) => {
            use sqlparser::ast::AlterTableOperation as Op;
            let mut out = vec![a.name.clone()];
            for op in &a.operations {
                match op {
                    Op::RenameTable { table_name } => out.push(match table_name {
                        sqlparser::ast::RenameTableNameKind::As(n) | sqlparser::ast::RenameTableNameKind::To(n) => n.clone(),
                    }),
                    Op::AddColumn { .. }
                    | Op::DropColumn { .. }
                    | Op::RenameColumn { .. }
                    | Op::AlterColumn { .. }
                    | Op::AddConstraint { .. }
                    | Op::DropConstraint { .. }
                    | Op::RenameConstraint { .. }
                    | Op::ValidateConstraint { .. }
                    | Op::ChangeColumn { .. }
                    | Op::ModifyColumn { .. }
                    | Op::DropPrimaryKey { .. }
                    | Op::DropForeignKey { .. }
                    | Op::DropIndex { .. } => {}
                    other => {
                        let text = other.to_string();
                        let head: String = text.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
                        return Err(format!("`ALTER TABLE … {head}` is not one a component may send (columns, constraints, indexes and renames are)"));
                    }
                }
                match op {
                    Op::AddConstraint { constraint, .. } => out.extend(constraint_reference(constraint)),
                    Op::AddColumn { column_def, .. } => out.extend(column_references(column_def.options.iter().map(|o| &o.option))),
                    Op::ChangeColumn { options, .. } | Op::ModifyColumn { options, .. } => out.extend(column_references(options)),
                    _ => {}
                }
            }
            out
        }
        Statement::AlterIndex { name, .. } => vec![name.clone()],
        Statement::CreateIndex(i) => vec![i.table_name.clone()],
        Statement::CreateView(v) => vec![v.name.clone()],
        Statement::AlterView(v) => vec![v.name.clone()],
        Statement::RenameTable(r) => r.iter().flat_map(|r| [r.old_name.clone(), r.new_name.clone()]).collect(),
        _ => Vec::new(),
    })
}

/// MySQL table options that reach outside the database: files elsewhere (`DATA DIRECTORY`,
/// `INDEX DIRECTORY`), other servers (`CONNECTION`, the FEDERATED and CONNECT engines). Only
/// the storage engines that keep rows in the server's own files are allowed.
fn mysql_table_options(stmt: &Statement) -> Result<(), String> {
    let text = stmt.to_string().to_ascii_uppercase();
    for word in ["DIRECTORY", "CONNECTION", "TABLESPACE"] {
        if text.contains(word) {
            return Err(format!("the table option `{word}` reaches outside the database; it is never allowed to components"));
        }
    }
    let mut rest = text.as_str();
    while let Some(i) = rest.find("ENGINE") {
        rest = &rest[i + 6..];
        let engine: String = rest.trim_start_matches([' ', '=']).chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !matches!(engine.as_str(), "INNODB" | "MYISAM" | "ARIA" | "MEMORY" | "HEAP") {
            return Err(format!("the storage engine `{engine}` is not one a component may use (InnoDB, MyISAM, Aria, MEMORY)"));
        }
    }
    Ok(())
}

/// Names of indexes, sequences and types a statement creates.
fn new_names(stmt: &Statement) -> Vec<ObjectName> {
    match stmt {
        Statement::CreateIndex(i) => i.name.iter().cloned().collect(),
        Statement::CreateSequence { name, .. } | Statement::CreateType { name, .. } => vec![name.clone()],
        Statement::AlterIndex { operation: sqlparser::ast::AlterIndexOperation::RenameIndex { index_name }, .. } => vec![index_name.clone()],
        _ => Vec::new(),
    }
}

/// The statement's tokens, without whitespace and comments (it was tokenized once already;
/// this runs only for DDL under a table allowlist).
fn tokens_of(dialect: Dialect, sql: &str) -> Vec<Token> {
    Tokenizer::new(&*parser_dialect(dialect), sql)
        .tokenize()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect()
}

/// Names the statement gives to new constraints: the word after `CONSTRAINT` (in a table's
/// definition, `ADD CONSTRAINT`), and the new name of `RENAME CONSTRAINT … TO`. (Read from the
/// tokens: every constraint kind of every dialect spells its name this way.)
fn new_constraint_names(stmt: &Statement, tokens: &[Token]) -> Vec<String> {
    use sqlparser::keywords::Keyword;
    if !matches!(stmt, Statement::CreateTable(_) | Statement::AlterTable(_)) {
        return Vec::new();
    }
    let mut names = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if let (Token::Word(w), Some(Token::Word(next))) = (t, tokens.get(i + 1)) {
            if w.keyword == Keyword::CONSTRAINT && w.quote_style.is_none() {
                names.push(next.value.clone());
            }
            // MySQL: `FOREIGN KEY name (…)` names the constraint too (and its names are the
            // database's, not the table's).
            if w.keyword == Keyword::KEY && w.quote_style.is_none() && i > 0 {
                if let Token::Word(before) = &tokens[i - 1] {
                    if before.keyword == Keyword::FOREIGN && before.quote_style.is_none() {
                        names.push(next.value.clone());
                    }
                }
            }
        }
    }
    if let Statement::AlterTable(a) = stmt {
        for op in &a.operations {
            if let sqlparser::ast::AlterTableOperation::RenameConstraint { new_name, .. } = op {
                names.push(new_name.value.clone());
            }
        }
    }
    names
}

/// The table a `REFERENCES` constraint points at.
fn constraint_reference(c: &sqlparser::ast::TableConstraint) -> Option<ObjectName> {
    match c {
        sqlparser::ast::TableConstraint::ForeignKey(fk) => Some(fk.foreign_table.clone()),
        _ => None,
    }
}

fn column_references<'a>(options: impl IntoIterator<Item = &'a sqlparser::ast::ColumnOption>) -> Vec<ObjectName> {
    options
        .into_iter()
        .filter_map(|o| match o {
            sqlparser::ast::ColumnOption::ForeignKey(fk) => Some(fk.foreign_table.clone()),
            _ => None,
        })
        .collect()
}

/// The statement kinds a guest may send, with their class and a word for messages.
fn classify(dialect: Dialect, stmt: &Statement) -> Result<(Class, &'static str), String> {
    use Statement as S;
    Ok(match stmt {
        S::Query(_) => (Class::Read, "SELECT"),
        S::Insert(_) => (Class::Write, "INSERT"),
        S::Update(_) => (Class::Write, "UPDATE"),
        S::Delete(_) => (Class::Write, "DELETE"),
        S::Merge(_) => (Class::Write, "MERGE"),
        S::CreateTable(_) => (Class::Ddl, "CREATE TABLE"),
        S::AlterTable(_) => (Class::Ddl, "ALTER TABLE"),
        S::CreateIndex(_) => (Class::Ddl, "CREATE INDEX"),
        S::AlterIndex { .. } => (Class::Ddl, "ALTER INDEX"),
        S::CreateView(_) => (Class::Ddl, "CREATE VIEW"),
        S::AlterView(_) => (Class::Ddl, "ALTER VIEW"),
        S::CreateSequence { .. } => (Class::Ddl, "CREATE SEQUENCE"),
        S::CreateType { representation: Some(sqlparser::ast::UserDefinedTypeRepresentation::Enum { .. } | sqlparser::ast::UserDefinedTypeRepresentation::Composite { .. }), .. }
            if dialect == Dialect::Postgres =>
        {
            (Class::Ddl, "CREATE TYPE")
        }
        S::Truncate(_) => (Class::Ddl, "TRUNCATE"),
        S::Comment { .. } => (Class::Ddl, "COMMENT"),
        S::RenameTable(_) => (Class::Ddl, "RENAME TABLE"),
        S::Drop { object_type, .. } => match object_type {
            ObjectType::Table | ObjectType::View | ObjectType::MaterializedView | ObjectType::Index | ObjectType::Sequence => (Class::Ddl, "DROP"),
            ObjectType::Type if dialect == Dialect::Postgres => (Class::Ddl, "DROP TYPE"),
            other => return Err(format!("`DROP {other}` is never allowed to components")),
        },
        // The few settings that only tune the migration's own statements.
        S::Set(sqlparser::ast::Set::SingleAssignment { scope: Some(sqlparser::ast::ContextModifier::Local), variable, .. })
            if dialect == Dialect::Postgres
                && variable.to_string().eq_ignore_ascii_case("lock_timeout") =>
        {
            (Class::Read, "SET LOCAL")
        }
        other => return Err(never(other)),
    })
}

/// Why a statement kind is never a guest's.
fn never(stmt: &Statement) -> String {
    use Statement as S;
    let why = match stmt {
        S::StartTransaction { .. } | S::Commit { .. } | S::Rollback { .. } | S::Savepoint { .. } | S::ReleaseSavepoint { .. } => {
            "the host owns the transaction"
        }
        S::Set(_) | S::Reset(_) | S::Discard { .. } | S::ShowVariable { .. } => "session settings are the host's business",
        S::CreateFunction(_) | S::CreateProcedure { .. } | S::CreateTrigger(_) | S::CreateRule(_) | S::CreateAggregate(_) | S::CreateMacro { .. } => {
            "its body runs later with privileges the grant cannot see into; put it in a SQL migration"
        }
        S::Grant(_) | S::Revoke(_) | S::GrantRole(_) | S::RevokeRole(_) | S::CreateRole(_) | S::AlterRole { .. } | S::CreateUser(_) | S::AlterUser(_) => {
            "roles and privileges are the host's business"
        }
        S::Copy { .. } | S::LoadData { .. } | S::Unload { .. } | S::ExportData(_) => "it reads or writes server files or programs",
        S::AttachDatabase { .. } | S::Pragma { .. } | S::Vacuum(_) | S::Use(_) => "it changes the connection the host owns",
        S::Lock(_) | S::LockTables { .. } | S::UnlockTables => "explicit locks are the host's business",
        S::Kill { .. } | S::Flush { .. } => "other sessions and the server are not a component's",
        S::Call(_) | S::Execute { .. } | S::Prepare { .. } | S::Declare { .. } | S::Fetch { .. } => {
            "it runs code or statements the check cannot see"
        }
        _ => "it is not among the statements a component may send (reads, writes, and DDL on tables, views, indexes and sequences)",
    };
    let text = stmt.to_string();
    let head = text.split_whitespace().next().unwrap_or("this").to_ascii_uppercase();
    format!("`{head}` statements are never allowed to components: {why}")
}

/// The batch plan of a plain `INSERT INTO t [(cols)] VALUES (placeholders)`.
fn insert_plan(dialect: Dialect, i: &Insert) -> Option<InsertPlan> {
    let TableObject::TableName(name) = &i.table else { return None };
    if i.on.is_some() || i.returning.is_some() || i.or.is_some() || i.ignore || i.replace_into || i.partitioned.is_some() || !i.assignments.is_empty() {
        return None;
    }
    let source = i.source.as_ref()?;
    if source.with.is_some() || source.order_by.is_some() || source.limit_clause.is_some() {
        return None;
    }
    let SetExpr::Values(v) = source.body.as_ref() else { return None };
    let [row] = v.rows.as_slice() else { return None };
    let row = &row.content;
    if row.is_empty() {
        return None;
    }
    for (n, e) in row.iter().enumerate() {
        let Expr::Value(v) = e else { return None };
        let Value::Placeholder(p) = &v.value else { return None };
        let ok = match dialect {
            Dialect::Postgres => p.strip_prefix('$').and_then(|d| d.parse::<usize>().ok()) == Some(n + 1),
            _ => p == "?",
        };
        if !ok {
            return None;
        }
    }
    let quote = |s: &str| match dialect {
        Dialect::Mysql => format!("`{}`", s.replace('`', "``")),
        _ => format!("\"{}\"", s.replace('"', "\"\"")),
    };
    let table: Vec<String> = parts(dialect, name)?.iter().map(|p| quote(p)).collect();
    let mut columns = Vec::new();
    for c in &i.columns {
        let p = parts(dialect, c)?;
        let [col] = p.as_slice() else { return None };
        columns.push(quote(col));
    }
    if !columns.is_empty() && columns.len() != row.len() {
        return None;
    }
    Some(InsertPlan { table: table.join("."), columns, width: row.len() })
}

/// A CTE scope: the names a `WITH` defines, and how many of them are visible right now (a CTE
/// body sees the ones before it, and itself when `RECURSIVE`).
struct Frame {
    names: Vec<String>,
    visible: usize,
}

/// Walks a statement: relations with their CTE scoping, write targets, functions, and forms
/// that are never allowed.
struct Walk<'a> {
    dialect: Dialect,
    grants: &'a Grants,
    frames: Vec<Frame>,
    /// CTE bodies (by address in the AST) → (frame index, names visible inside).
    cte_bodies: HashMap<*const Query, (usize, usize)>,
    relations: Vec<(Vec<String>, bool)>,
    targets: Vec<Vec<String>>,
    cte_names: Vec<String>,
    /// A table factor that is a function call: its name is not a relation.
    function_tables: Vec<*const ObjectName>,
    writes: bool,
    error: Option<String>,
}

impl<'a> Walk<'a> {
    fn new(dialect: Dialect, grants: &'a Grants) -> Self {
        Walk {
            dialect,
            grants,
            frames: Vec::new(),
            cte_bodies: HashMap::new(),
            relations: Vec::new(),
            targets: Vec::new(),
            cte_names: Vec::new(),
            function_tables: Vec::new(),
            writes: false,
            error: None,
        }
    }

    fn fail(&mut self, why: String) -> ControlFlow<()> {
        self.error.get_or_insert(why);
        ControlFlow::Break(())
    }

    fn in_cte_scope(&self, name: &str) -> bool {
        self.frames.iter().any(|f| f.names[..f.visible].iter().any(|n| n == name))
    }

    fn relation(&mut self, name: &ObjectName) -> ControlFlow<()> {
        let Some(p) = parts(self.dialect, name) else { return self.fail("a computed table name cannot be checked".into()) };
        let exempt = p.len() == 1 && self.in_cte_scope(&p[0]);
        self.relations.push((p, exempt));
        ControlFlow::Continue(())
    }

    fn function(&mut self, name: &ObjectName) -> ControlFlow<()> {
        let Some(p) = parts(self.dialect, name) else { return self.fail("a computed function name cannot be checked".into()) };
        let (schema, f) = match p.as_slice() {
            [f] => (None, f.to_ascii_lowercase()),
            [s, f] => (Some(s.to_ascii_lowercase()), f.to_ascii_lowercase()),
            _ => return self.fail(format!("the function `{}` is not one a component may call", p.join("."))),
        };
        let builtin_schema = match (self.dialect, schema.as_deref()) {
            (_, None) => true,
            (Dialect::Postgres, Some("pg_catalog")) => true,
            _ => false,
        };
        if (builtin_schema && crate::backend::functions::allowed(self.dialect, &f)) || self.grants.functions.contains(&p.join(".").to_ascii_lowercase()) {
            return ControlFlow::Continue(());
        }
        self.fail(format!(
            "the function `{}` is not one a component may call (built-in computation only; list your own in `functions = [...]`)",
            p.join(".")
        ))
    }

    /// `TABLE x` inside a query body (the visitor does not see it as a relation).
    fn table_commands(&mut self, body: &SetExpr) -> ControlFlow<()> {
        match body {
            SetExpr::Table(t) => {
                let Some(name) = &t.table_name else { return self.fail("`TABLE` without a name cannot be checked".into()) };
                let mut p = Vec::new();
                if let Some(s) = &t.schema_name {
                    p.push(if self.dialect == Dialect::Postgres && s.quote_style.is_some() { s.value.clone() } else { s.value.to_lowercase() });
                }
                p.push(if self.dialect == Dialect::Postgres && name.quote_style.is_some() { name.value.clone() } else { name.value.to_lowercase() });
                let exempt = p.len() == 1 && self.in_cte_scope(&p[0]);
                self.relations.push((p, exempt));
                ControlFlow::Continue(())
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.table_commands(left)?;
                self.table_commands(right)
            }
            _ => ControlFlow::Continue(()),
        }
    }
}

impl Visitor for Walk<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let Some((fi, visible)) = self.cte_bodies.get(&(q as *const Query)).copied() {
            self.frames[fi].visible = visible;
        }
        let mut frame = Frame { names: Vec::new(), visible: 0 };
        if let Some(with) = &q.with {
            let index = self.frames.len();
            for (i, cte) in with.cte_tables.iter().enumerate() {
                let name = if self.dialect == Dialect::Postgres && cte.alias.name.quote_style.is_some() {
                    cte.alias.name.value.clone()
                } else {
                    cte.alias.name.value.to_lowercase()
                };
                // As written: checked for db-migrate's names and for being ASCII.
                self.cte_names.push(cte.alias.name.value.clone());
                frame.names.push(name);
                let visible = if with.recursive { i + 1 } else { i };
                self.cte_bodies.insert(&*cte.query as *const Query, (index, visible));
            }
        }
        if !q.pipe_operators.is_empty() || q.for_clause.is_some() || q.format_clause.is_some() || q.settings.is_some() {
            return self.fail("this query form is not one a component may send".into());
        }
        self.frames.push(frame);
        self.table_commands(&q.body)
    }

    fn post_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        self.frames.pop();
        if let Some((fi, _)) = self.cte_bodies.get(&(q as *const Query)).copied() {
            // The rest of the statement sees every CTE of that WITH.
            let f = &mut self.frames[fi];
            f.visible = f.names.len();
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, s: &Select) -> ControlFlow<()> {
        if s.into.is_some() {
            return self.fail("`SELECT … INTO` creates a table or writes outside the statement; use `CREATE TABLE … AS` or `INSERT … SELECT`".into());
        }
        if !s.lateral_views.is_empty() || !s.connect_by.is_empty() {
            return self.fail("this query form is not one a component may send".into());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<()> {
        if self.function_tables.iter().any(|p| std::ptr::eq(*p, name)) {
            return ControlFlow::Continue(());
        }
        self.relation(name)
    }

    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
        match t {
            TableFactor::Table { name, args: Some(_), .. } => {
                self.function_tables.push(name as *const ObjectName);
                self.function(name)
            }
            TableFactor::Table { .. } | TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } | TableFactor::UNNEST { .. } => {
                ControlFlow::Continue(())
            }
            TableFactor::Function { name, .. } => self.function(name),
            TableFactor::TableFunction { expr, .. } => match expr {
                Expr::Function(_) => ControlFlow::Continue(()),
                _ => self.fail("this table function cannot be checked".into()),
            },
            _ => self.fail("this FROM form (JSON_TABLE, PIVOT, XMLTABLE, …) is not one a component may use".into()),
        }
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e {
            return self.function(&f.name);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, s: &Statement) -> ControlFlow<()> {
        match s {
            Statement::Insert(i) => {
                self.writes = true;
                match &i.table {
                    TableObject::TableName(n) => match parts(self.dialect, n) {
                        Some(p) => self.targets.push(p),
                        None => return self.fail("a computed table name cannot be checked".into()),
                    },
                    _ => return self.fail("`INSERT INTO FUNCTION` is never allowed to components".into()),
                }
            }
            Statement::Update(u) => {
                self.writes = true;
                if let TableFactor::Table { name, .. } = &u.table.relation {
                    if let Some(p) = parts(self.dialect, name) {
                        self.targets.push(p);
                    }
                }
                for j in &u.table.joins {
                    if let TableFactor::Table { name, .. } = &j.relation {
                        if let Some(p) = parts(self.dialect, name) {
                            self.targets.push(p);
                        }
                    }
                }
            }
            Statement::Delete(d) => {
                self.writes = true;
                for n in &d.tables {
                    if let Some(p) = parts(self.dialect, n) {
                        self.targets.push(p);
                    }
                }
                let from = match &d.from {
                    FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f) => f,
                };
                for t in from {
                    if let TableFactor::Table { name, .. } = &t.relation {
                        if let Some(p) = parts(self.dialect, name) {
                            self.targets.push(p);
                        }
                    }
                }
            }
            Statement::Merge(m) => {
                self.writes = true;
                if let TableFactor::Table { name, .. } = &m.table {
                    match parts(self.dialect, name) {
                        Some(p) => self.targets.push(p),
                        None => return self.fail("a computed table name cannot be checked".into()),
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_pack(tables: &[&str]) -> Grants {
        Grants { classes: [Class::Read, Class::Write].into(), tables: Some(tables.iter().map(|t| t.to_string()).collect()), functions: BTreeSet::new() }
    }

    fn refused(g: &Grants, d: Dialect, sql: &str) -> String {
        match g.check(d, sql) {
            Ok(a) => panic!("admitted on {d:?}: {sql}\n{a:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn default_migration_grants_allow_ordinary_sql() {
        let g = Grants::default();
        for sql in [
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT 'x')",
            "INSERT INTO t VALUES (1)",
            "INSERT INTO t (id) SELECT id + 1 FROM t WHERE id > ?",
            "SELECT count(*), max(id) FROM t",
            "DROP TABLE t",
            "ALTER TABLE t ADD COLUMN x TEXT",
            "CREATE INDEX t_x ON t (x)",
            "-- note\nUPDATE t SET id = 2",
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10) SELECT x FROM c",
            "SELECT lower(name), coalesce(x, 'none') FROM t ORDER BY 1",
        ] {
            assert!(g.check(Dialect::Sqlite, sql).is_ok(), "{sql}: {:?}", g.check(Dialect::Sqlite, sql));
        }
        for sql in ["SET LOCAL lock_timeout = '1s'", "UPDATE public.t SET x = now() WHERE id = $1", "SELECT * FROM generate_series(1, 10)"] {
            assert!(g.check(Dialect::Postgres, sql).is_ok(), "{sql}: {:?}", g.check(Dialect::Postgres, sql));
        }
    }

    #[test]
    fn escapes_are_refused_whatever_the_grants() {
        let g = Grants::default();
        for sql in [
            "ATTACH DATABASE '/tmp/x.db' AS x",
            "attach '/etc/passwd' as p",
            "PRAGMA writable_schema = 1",
            "VACUUM INTO '/tmp/copy.db'",
            "COMMIT",
            "BEGIN",
            "ROLLBACK",
            "SAVEPOINT x",
            "/* hidden */ DETACH x",
            "SELECT load_extension('/tmp/evil.so')",
            "SELECT writefile('/tmp/x', 'y')",
            "SELECT \"load_extension\"('/tmp/evil.so')",
            "SELECT * FROM sqlite_master",
            "SELECT * FROM db_migrate_history",
            "WITH db_migrate_history AS (SELECT 1) DELETE FROM db_migrate_history",
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END",
            "SELECT random()",
            "FROBNICATE the database",
        ] {
            refused(&g, Dialect::Sqlite, sql);
        }
        for sql in [
            "SELECT pg_read_file('/etc/passwd')",
            "SELECT \"pg_read_file\"('/etc/passwd')",
            "SELECT pg_catalog.pg_read_file('/etc/passwd')",
            "COPY t FROM PROGRAM 'id'",
            "COPY t TO '/tmp/x'",
            "SET search_path = evil",
            "SET LOCAL statement_timeout = 0",
            "SET ROLE postgres",
            "RESET ROLE",
            "SET SESSION AUTHORIZATION postgres",
            "SELECT set_config('role', 'postgres', true)",
            "SELECT query_to_xml('SELECT * FROM secret', true, true, '')",
            "SELECT database_to_xml(true, true, '')",
            "SELECT setval('t_id_seq', 1000)",
            "SELECT pg_advisory_unlock_all()",
            "SELECT * FROM pg_read_file('/etc/passwd')",
            "SELECT * FROM pg_authid",
            "SELECT rolpassword FROM pg_catalog.pg_authid",
            "SELECT * FROM pg_stat_activity",
            "DO $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''id'''; END $$",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "CREATE ROLE evil SUPERUSER",
            "ALTER ROLE postgres PASSWORD 'x'",
            "ABORT",
            "PREPARE TRANSACTION 'x'",
            "SELECT pg_sleep(100)",
            "LISTEN x",
            "SELECT * INTO newtab FROM t",
            "DROP DATABASE postgres",
            "DROP SCHEMA public CASCADE",
            "CREATE TYPE t (INPUT = f, OUTPUT = g)",
            "CREATE TABLE x () INHERITS (db_migrate_history)",
            "CREATE TABLE x () INHERITS (pg_authid)",
            "CREATE TABLE x (LIKE db_migrate_history)",
            "ALTER TABLE secrets OWNER TO someone",
            "CREATE TYPE pg_catalog.mood AS ENUM ('planted')",
            "ALTER TABLE users RENAME TO db_migrate_seeds",
            "CREATE INDEX db_migrate_seeds ON users (name)",
            "CREATE TABLE 'db_migrate_x' (id int)",
            "CREATE INDEX 'db_migrate_history_pkey' ON users (name)",
            "ALTER TABLE users RENAME TO 'db_migrate_seeds2'",
            "SELECT 'public.db_migrate_history'::regclass",
            "SELECT nextval('invoice_no')",
            "CREATE TABLE mine (id int, CONSTRAINT db_migrate_seeds PRIMARY KEY (id))",
            "ALTER INDEX users_pkey RENAME TO db_migrate_seeds",
            "ALTER TABLE users RENAME CONSTRAINT users_pkey TO db_migrate_history_lock",
            "ALTER INDEX db_migrate_history_pkey RENAME TO zz",
            "CREATE SEQUENCE s OWNED BY db_migrate_history.version",
            "CREATE TABLE pg_temp.users (id int)",
            "CREATE TYPE pg_temp.text AS ENUM ('pwned')",
            "SET LOCAL work_mem = '2000GB'",
            "SELECT $q\u{b7}$, $$ $q\u{b7}$ AS a, (DELETE FROM db_migrate_history) $q\u{b7}$ $$, $q\u{b7}$",
            "SELECT U&'\\0041'",
        ] {
            refused(&g, Dialect::Postgres, sql);
        }
        assert!(g.check(Dialect::Postgres, "CREATE TYPE mood AS ENUM ('sad', 'ok')").is_ok());
        for sql in [
            "CREATE TABLE t (id INT) DATA DIRECTORY = '/tmp'",
            "CREATE TABLE t (id INT) ENGINE = FEDERATED CONNECTION = 'mysql://u@h/db/t'",
            "CREATE TABLE t (id INT) ENGINE = CONNECT",
        ] {
            refused(&g, Dialect::Mysql, sql);
        }
        assert!(g.check(Dialect::Mysql, "CREATE TABLE t (id INT) ENGINE = InnoDB").is_ok());
        for sql in [
            "SELECT LOAD_FILE('/etc/passwd')",
            "SELECT 1 /*!UNION SELECT * FROM secret */",
            "SELECT 1 /*M!UNION SELECT * FROM secret */",
            "SELECT * FROM t INTO OUTFILE '/tmp/x'",
            "SELECT GET_LOCK('x', 1)",
            "SELECT RELEASE_ALL_LOCKS()",
            "SELECT * FROM mysql.user",
            "SELECT * FROM otherdb.t",
            "SELECT SLEEP(100)",
            "SELECT BENCHMARK(100000000, md5('x'))",
            "LOAD DATA INFILE '/etc/passwd' INTO TABLE t",
            "HANDLER t OPEN",
            "LOCK TABLES t WRITE",
            "SET GLOBAL general_log = 1",
            "CREATE USER evil",
            "SELECT 1 FROM t WHERE 0 --\u{a0} UNION SELECT v FROM secrets",
            "SELECT 1 -- a comment",
            "SELECT 1 # a comment",
            "ALTER TABLE secrets RENAME TO mysql.planted",
            "INSERT INTO users (id, name) VALUES (101, CONCAT(@@datadir, '|', @@hostname))",
            "SELECT @x := 1",
            "CREATE TABLE t2 (id int) ENGINE=InnoDB TABLESPACE innodb_system",
        ] {
            refused(&g, Dialect::Mysql, sql);
        }
        assert!(g.check(Dialect::Postgres, "SELECT 'caf\u{e9}', \"na\u{ef}ve\" FROM t").is_ok(), "non-ASCII inside strings and quoted names is fine");
    }

    #[test]
    fn non_ascii_cte_names_are_refused() {
        // Red-team: `api_\u{212a}eys` (Kelvin sign) lower-cases to `api_keys` here but names
        // another table in SQLite, which then read the real, ungranted `api_keys`.
        let g = seed_pack(&["orders"]);
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let e = refused(&g, d, "WITH \"api_\u{212a}eys\" AS (SELECT 1 AS key) SELECT key FROM api_keys");
            assert!(e.contains("must be ASCII"), "{e}");
        }
        assert!(g.check(Dialect::Sqlite, "WITH o AS (SELECT id FROM orders) SELECT id FROM o").is_ok());
    }

    #[test]
    fn quoted_strings_spelled_like_db_migrate_names_are_refused() {
        // Red-team round three: SQLite takes a single-quoted string as a name in DDL, so
        // `CREATE TABLE 'db_migrate_x'` passed the rule that was applied to words only.
        let g = Grants::default();
        for sql in [
            "CREATE TABLE 'db_migrate_x' (id INTEGER)",
            "CREATE INDEX 'db_migrate_history_pkey' ON users (name)",
            "ALTER TABLE users RENAME TO 'db_migrate_seeds'",
            "CREATE TABLE \"main\".'db_migrate_history_lock' (id INTEGER)",
        ] {
            let e = refused(&g, Dialect::Sqlite, sql);
            assert!(e.contains("db-migrate's own names"), "{sql}: {e}");
        }
        // PostgreSQL's other string forms (a `regclass` cast reads them as names).
        for sql in ["SELECT $$db_migrate_history$$::regclass::oid", "SELECT E'db_migrate_history'::regclass", "SELECT $t$db_migrate_seeds$t$::regclass"] {
            let e = refused(&g, Dialect::Postgres, sql);
            assert!(e.contains("db-migrate's own names"), "{sql}: {e}");
        }
        // Data that mentions the names is data.
        assert!(g.check(Dialect::Sqlite, "INSERT INTO notes (body) VALUES ('see db_migrate_history for what ran')").is_ok());
    }

    #[test]
    fn new_names_under_a_table_allowlist_are_named_after_a_granted_table() {
        // Red-team (wave 2, PostgreSQL): a guest granted `import_staging` made the unique index
        // `orders_email_key` on it; a later migration's `CREATE UNIQUE INDEX IF NOT EXISTS
        // orders_email_key ON orders` then built nothing, and was recorded as applied.
        let g = Grants { classes: [Class::Read, Class::Write, Class::Ddl].into(), tables: Some(["import_staging".to_string(), "users".to_string()].into()), functions: BTreeSet::new() };
        for (d, sql) in [
            (Dialect::Postgres, "CREATE UNIQUE INDEX orders_email_key ON import_staging (x)"),
            (Dialect::Postgres, "CREATE SEQUENCE order_no_seq START WITH 777000"),
            (Dialect::Postgres, "CREATE TYPE order_status AS ENUM ('new')"),
            (Dialect::Postgres, "ALTER TABLE users ADD CONSTRAINT orders_pkey UNIQUE (id)"),
            (Dialect::Postgres, "CREATE TABLE import_staging (x int CONSTRAINT orders_x_key UNIQUE)"),
            (Dialect::Postgres, "CREATE TABLE import_staging (x int, CONSTRAINT orders_pkey PRIMARY KEY (x))"),
            (Dialect::Postgres, "ALTER TABLE users RENAME CONSTRAINT users_pkey TO orders_pkey"),
            (Dialect::Sqlite, "CREATE INDEX orders_email ON users (name)"),
            (Dialect::Mysql, "ALTER TABLE users ADD CONSTRAINT fk_orders FOREIGN KEY (id) REFERENCES import_staging (x)"),
            // A granted name inside another word is not the table's.
            (Dialect::Postgres, "CREATE INDEX superusers_idx ON users (name)"),
            // Red-team: the granted name after another table's is that table's name.
            (Dialect::Sqlite, "CREATE INDEX orders_users_idx ON users (name)"),
            (Dialect::Postgres, "CREATE INDEX \"orders_x.users\" ON users (name)"),
            (Dialect::Mysql, "CREATE TABLE users (uid INT, FOREIGN KEY orders_user_fk (uid) REFERENCES import_staging (x))"),
            (Dialect::Mysql, "ALTER TABLE users ADD FOREIGN KEY orders_user_fk (id) REFERENCES import_staging (x)"),
        ] {
            let e = refused(&g, d, sql);
            assert!(e.contains("named after one of its tables"), "{sql}: {e}");
        }
        for (d, sql) in [
            (Dialect::Postgres, "CREATE UNIQUE INDEX users_email_key ON users (name)"),
            (Dialect::Postgres, "CREATE INDEX ix_users_name ON users (name)"),
            (Dialect::Postgres, "CREATE INDEX ON users (name)"),
            (Dialect::Postgres, "CREATE SEQUENCE import_staging_x_seq"),
            (Dialect::Postgres, "CREATE TABLE import_staging (x int CONSTRAINT import_staging_pkey PRIMARY KEY)"),
            (Dialect::Sqlite, "CREATE INDEX idx_import_staging_x ON import_staging (x)"),
            (Dialect::Mysql, "CREATE TABLE users (uid INT, FOREIGN KEY users_uid_fk (uid) REFERENCES import_staging (x))"),
            (Dialect::Mysql, "CREATE TABLE users (uid INT, FOREIGN KEY (uid) REFERENCES import_staging (x))"),
        ] {
            assert!(g.check(d, sql).is_ok(), "{sql}: {:?}", g.check(d, sql));
        }
        // Unrestricted grants name what they like.
        assert!(Grants::default().check(Dialect::Postgres, "CREATE UNIQUE INDEX orders_email_key ON orders (email)").is_ok());
    }

    #[test]
    fn two_statements_are_refused() {
        let e = refused(&seed_pack(&["t"]), Dialect::Sqlite, "INSERT INTO t VALUES (1); DROP TABLE users");
        assert!(e.contains("one statement"), "{e}");
    }

    #[test]
    fn classes_are_enforced() {
        let g = seed_pack(&["users", "posts"]);
        assert!(g.check(Dialect::Sqlite, "INSERT INTO users (id) VALUES (?)").is_ok());
        assert!(g.check(Dialect::Sqlite, "SELECT u.id FROM users u JOIN posts p ON p.user_id = u.id").is_ok());
        let e = refused(&g, Dialect::Sqlite, "DROP TABLE users");
        assert!(e.contains("`ddl`"), "{e}");
        let e = refused(&g, Dialect::Sqlite, "CREATE TABLE users2 (id INTEGER)");
        assert!(e.contains("`ddl`"), "{e}");
        let read_only = Grants { classes: [Class::Read].into(), tables: None, functions: BTreeSet::new() };
        let e = refused(&read_only, Dialect::Postgres, "WITH d AS (DELETE FROM t RETURNING id) SELECT * FROM d");
        assert!(e.contains("`write`"), "{e}");
    }

    #[test]
    fn tables_are_enforced_everywhere_in_the_statement() {
        let g = seed_pack(&["users"]);
        for (d, sql) in [
            (Dialect::Sqlite, "INSERT INTO secrets VALUES (1)"),
            (Dialect::Sqlite, "SELECT * FROM secrets"),
            (Dialect::Sqlite, "INSERT INTO users (id) SELECT id FROM secrets"),
            (Dialect::Sqlite, "UPDATE users SET id = (SELECT max(id) FROM secrets)"),
            (Dialect::Sqlite, "DELETE FROM users WHERE id IN (SELECT id FROM other.secrets)"),
            (Dialect::Sqlite, "SELECT * FROM main.secrets"),
            (Dialect::Sqlite, "SELECT id FROM users UNION ALL SELECT v FROM secrets"),
            (Dialect::Postgres, "SELECT * FROM users UNION ALL TABLE secrets"),
            (Dialect::Postgres, "WITH secrets AS (SELECT 1) UPDATE secrets SET v = 'x'"),
            (Dialect::Sqlite, "WITH secrets AS (SELECT 1) UPDATE secrets SET v = 'x'"),
            (Dialect::Sqlite, "WITH secrets AS (SELECT * FROM secrets) SELECT * FROM secrets"),
            (Dialect::Sqlite, "WITH a AS (SELECT * FROM secrets), secrets AS (SELECT 1) SELECT * FROM a"),
            (Dialect::Sqlite, "WITH x AS (SELECT 1) SELECT * FROM users WHERE id IN (WITH y AS (SELECT 1) SELECT * FROM secrets)"),
            (Dialect::Sqlite, "SELECT * FROM (WITH secrets AS (SELECT 1) SELECT * FROM secrets) a, secrets"),
            (Dialect::Mysql, "UPDATE users, secrets SET users.name = secrets.v"),
            (Dialect::Mysql, "DELETE users, secrets FROM users JOIN secrets"),
            (Dialect::Postgres, "SELECT * FROM \"secrets\""),
            (Dialect::Postgres, "SELECT * FROM other.users"),
        ] {
            let e = refused(&g, d, sql);
            assert!(e.contains("allowlist") || e.contains("catalog") || e.contains("outside") || e.contains("cannot be checked"), "{sql}: {e}");
        }
        refused(&g, Dialect::Postgres, "TABLE secrets");
        assert!(mysql_special_comment("SELECT 1 /*!50000 UNION */"));
        assert!(mysql_special_comment("SELECT '\\'' /*! x */"), "after a backslash-escaped quote");
        assert!(!mysql_special_comment("SELECT '/*! not a comment */'"));
        assert!(mysql_special_comment("SELECT 1 /*+ SET_VAR(max_statement_time=0) */"));
        assert!(g.check(Dialect::Sqlite, "SELECT * FROM main.users").is_ok());
        assert!(g.check(Dialect::Postgres, "SELECT * FROM public.users").is_ok());
        assert!(g.check(Dialect::Sqlite, "WITH recent AS (SELECT id FROM users) SELECT * FROM recent").is_ok());
        assert!(g.check(Dialect::Sqlite, "WITH secrets AS (SELECT id FROM users) SELECT * FROM secrets").is_ok(), "a CTE in its scope");
        assert!(g.check(Dialect::Sqlite, "INSERT INTO \"USERS\" (id) VALUES (1)").is_ok());
    }

    #[test]
    fn ddl_under_a_table_allowlist_stays_on_its_tables() {
        let g = Grants { classes: [Class::Read, Class::Write, Class::Ddl].into(), tables: Some(["users".to_string()].into()), functions: BTreeSet::new() };
        for (d, sql) in [
            (Dialect::Sqlite, "ALTER TABLE secrets ADD COLUMN x INT"),
            (Dialect::Sqlite, "CREATE INDEX i ON secrets (v)"),
            (Dialect::Sqlite, "DROP TABLE secrets"),
            (Dialect::Sqlite, "DROP TABLE users, secrets"),
            (Dialect::Postgres, "TRUNCATE secrets"),
            (Dialect::Sqlite, "CREATE VIEW users AS SELECT * FROM secrets"),
            (Dialect::Sqlite, "CREATE TABLE users AS SELECT * FROM secrets"),
            (Dialect::Postgres, "COMMENT ON TABLE secrets IS 'x'"),
            (Dialect::Postgres, "CREATE TABLE users (id int REFERENCES secrets (id))"),
            (Dialect::Postgres, "CREATE TABLE users (LIKE secrets)"),
            (Dialect::Mysql, "RENAME TABLE secrets TO users"),
            (Dialect::Sqlite, "CREATE TABLE other (id INT)"),
            (Dialect::Postgres, "TRUNCATE users CASCADE"),
            (Dialect::Postgres, "CREATE SEQUENCE db_migrate_seeds"),
            (Dialect::Postgres, "CREATE TYPE db_migrate_history_lock AS ENUM ('x')"),
            (Dialect::Postgres, "ALTER TABLE users OWNER TO postgres"),
            (Dialect::Postgres, "ALTER TABLE users RENAME TO db_migrate_seeds"),
            (Dialect::Postgres, "DROP TABLE users CASCADE"),
            (Dialect::Postgres, "MERGE INTO secrets USING users ON secrets.id = users.id WHEN MATCHED THEN DELETE"),
        ] {
            refused(&g, d, sql);
        }
        assert!(g.check(Dialect::Sqlite, "CREATE TABLE users (id INTEGER PRIMARY KEY)").is_ok());
        assert!(g.check(Dialect::Sqlite, "CREATE INDEX users_id ON users (id)").is_ok());
    }

    #[test]
    fn insert_plans_come_from_the_parsed_statement() {
        let g = Grants::default();
        let plan = |d, sql| g.check(d, sql).unwrap().insert;
        assert_eq!(
            plan(Dialect::Postgres, "INSERT INTO users (id, \"Name\") VALUES ($1, $2)"),
            Some(InsertPlan { table: "\"users\"".into(), columns: vec!["\"id\"".into(), "\"Name\"".into()], width: 2 })
        );
        assert_eq!(plan(Dialect::Postgres, "insert into public.t values ($1)").unwrap().target(), "\"public\".\"t\"");
        assert_eq!(plan(Dialect::Postgres, "INSERT INTO t (a, b) VALUES ($2, $1)"), None);
        assert_eq!(plan(Dialect::Postgres, "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING"), None);
        assert_eq!(plan(Dialect::Postgres, "INSERT INTO t (a, b) VALUES ($1, now())"), None);
        assert_eq!(plan(Dialect::Sqlite, "INSERT INTO t (a, b) VALUES (?, ?)").unwrap().target(), "\"t\" (\"a\", \"b\")");
        assert_eq!(plan(Dialect::Mysql, "INSERT INTO t (a) VALUES (?)").unwrap().target(), "`t` (`a`)");
        assert_eq!(plan(Dialect::Sqlite, "INSERT INTO t (a) SELECT x FROM y WHERE z IN (?)"), None);
        assert_eq!(g.check(Dialect::Sqlite, "INSERT INTO Users (id) VALUES (?)").unwrap().target.as_deref(), Some("users"));
    }

    #[test]
    fn own_functions_can_be_granted() {
        let mut g = Grants::default();
        refused(&g, Dialect::Postgres, "SELECT slugify(name) FROM t");
        g.functions.insert("slugify".into());
        assert!(g.check(Dialect::Postgres, "SELECT slugify(name) FROM t").is_ok());
    }

    #[test]
    fn drop_index_concurrently_is_checked_as_the_drop_it_is() {
        let g = Grants::default();
        assert!(g.check(Dialect::Postgres, "DROP INDEX CONCURRENTLY ix_users_email").is_ok());
        assert!(g.check(Dialect::Postgres, "drop index concurrently if exists users_name_idx").is_ok());
        refused(&g, Dialect::Postgres, "DROP INDEX CONCURRENTLY db_migrate_history_pkey");
        refused(&g, Dialect::Postgres, "DROP INDEX CONCURRENTLY pg_catalog.pg_class_oid_index");
        // Only in that place: elsewhere the word is what it was.
        refused(&g, Dialect::Sqlite, "DROP INDEX CONCURRENTLY ix_users_email");
        refused(&g, Dialect::Postgres, "DROP TABLE CONCURRENTLY users");
        // Under a table allowlist an index is dropped by its table's name only, as without it.
        let users = Grants { tables: Some(["users".to_string()].into()), ..Grants::default() };
        refused(&users, Dialect::Postgres, "DROP INDEX CONCURRENTLY ix_users_email");
    }
}
