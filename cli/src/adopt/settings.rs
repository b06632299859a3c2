//! Other tools' own settings — where they keep their migrations and which table records them —
//! read from their configuration files as text. Nothing is executed: values that are computed
//! (a variable, a function other than `path.join`/`path.resolve`) are left unread, and
//! `import --migrations-dir` / `--history-table` supply them.

/// What a tool's configuration says, where it says it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolSettings {
    /// The migrations folder, relative to the project (or absolute).
    pub dir: Option<String>,
    /// The history table, `schema.table` when the tool names a schema.
    pub table: Option<String>,
}

/// Knex: `migrations: { directory, tableName, schemaName }`, from the `development` environment
/// when the knexfile has one with a `migrations` block (knex's default), else the first block.
pub fn knex(text: &str) -> ToolSettings {
    let text = strip_js_comments(text);
    let scope = object_after(&text, "development").filter(|env| object_after(env, "migrations").is_some()).unwrap_or(&text);
    let Some(block) = object_after(scope, "migrations") else { return ToolSettings::default() };
    let table = js_value(block, "tableName").and_then(|e| literal(&e));
    let schema = js_value(block, "schemaName").and_then(|e| literal(&e));
    ToolSettings {
        dir: js_value(block, "directory").and_then(|e| js_path(&e, "")),
        table: table.map(|t| match schema {
            Some(s) => format!("{s}.{t}"),
            None => t,
        }),
    }
}

/// Sequelize: `'migrations-path'` and `'config'` in `.sequelizerc`.
pub fn sequelizerc(text: &str) -> (Option<String>, Option<String>) {
    let text = strip_js_comments(text);
    (js_value(&text, "migrations-path").and_then(|e| js_path(&e, "")), js_value(&text, "config").and_then(|e| js_path(&e, "")))
}

/// Sequelize's `migrationStorageTableName` in its JSON config (the `development` environment, else
/// the first one that sets it).
pub fn sequelize_table(config_json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(config_json).ok()?;
    let obj = v.as_object()?;
    let named = |env: &serde_json::Value| env.get("migrationStorageTableName").and_then(|t| t.as_str()).map(str::to_string);
    obj.get("development").and_then(named).or_else(|| obj.values().find_map(named))
}

/// TypeORM: `migrationsTableName` and the first entry of `migrations` (a folder or a glob; its
/// folder is used) in an ormconfig (JSON, JS/TS, YAML) or a data source file. `file_dir` is the
/// config file's folder relative to the project, for paths built on `__dirname`; `yaml` for
/// `ormconfig.yml`, whose plain scalars are values.
pub fn typeorm(text: &str, file_dir: &str, yaml: bool) -> ToolSettings {
    let text = if yaml { text.to_string() } else { strip_js_comments(text) };
    let value = |key: &str| js_value(&text, key).map(|v| if yaml { quote_yaml(&v) } else { v });
    let dir = value("migrations").and_then(|e| js_path(&e, file_dir)).map(|p| glob_folder(&p));
    ToolSettings { dir, table: value("migrationsTableName").and_then(|e| literal(&e)) }
}

/// Flyway's `flyway.conf`: `flyway.locations` (every entry, in order) and `flyway.table`.
pub fn flyway_conf(text: &str) -> (Vec<String>, Option<String>) {
    let mut locations = Vec::new();
    let mut table = None;
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        let Some((k, v)) = line.split_once('=') else { continue };
        match k.trim() {
            "flyway.locations" => locations.extend(v.split(',').filter_map(flyway_location)),
            "flyway.table" if !v.trim().is_empty() => table = Some(v.trim().to_string()),
            _ => {}
        }
    }
    (locations, table)
}

/// Flyway's `flyway.toml`: `locations` and `table` of its `[flyway]` table.
pub fn flyway_toml(text: &str) -> (Vec<String>, Option<String>) {
    let Ok(v) = text.parse::<toml::Table>() else { return (Vec::new(), None) };
    let Some(f) = v.get("flyway").and_then(|f| f.as_table()) else { return (Vec::new(), None) };
    let locations = match f.get("locations") {
        Some(toml::Value::Array(a)) => a.iter().filter_map(|l| l.as_str()).filter_map(flyway_location).collect(),
        Some(toml::Value::String(s)) => s.split(',').filter_map(flyway_location).collect(),
        _ => Vec::new(),
    };
    (locations, f.get("table").and_then(|t| t.as_str()).map(str::to_string))
}

/// `filesystem:db/sql` → `db/sql`; `classpath:db/migration` (and no prefix, Flyway's default)
/// → Maven's `src/main/resources/db/migration`.
fn flyway_location(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    Some(match raw.split_once(':') {
        Some(("filesystem", p)) => p.trim_start_matches("./").to_string(),
        Some(("classpath", p)) => format!("src/main/resources/{}", p.trim_start_matches('/')),
        Some(_) => return None,
        None => format!("src/main/resources/{}", raw.trim_start_matches('/')),
    })
}

/// Alembic: `script_location` and `version_table` of `alembic.ini`.
pub fn alembic_ini(text: &str) -> (Option<String>, Option<String>) {
    let value = |key: &str| {
        text.lines().map(str::trim).filter_map(|l| l.split_once('=')).find(|(k, _)| k.trim() == key).map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty())
    };
    let location = value("script_location").map(|l| l.replace("%(here)s/", "").replace("%(here)s", "."));
    (location, value("version_table"))
}

/// Alembic: `version_table=` / `version_table_schema=` string arguments in `env.py`.
pub fn alembic_env(text: &str) -> Option<String> {
    let table = py_kwarg(text, "version_table")?;
    Some(match py_kwarg(text, "version_table_schema") {
        Some(s) => format!("{s}.{table}"),
        None => table,
    })
}

/// Prisma: `"prisma": { "schema": "…" }` in `package.json`.
pub fn prisma_schema(package_json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(package_json).ok()?;
    v.get("prisma")?.get("schema")?.as_str().map(|s| s.trim_start_matches("./").to_string())
}

/// diesel: `dir` of `[migrations_directory]` in `diesel.toml`.
pub fn diesel(text: &str) -> Option<String> {
    let v = text.parse::<toml::Table>().ok()?;
    v.get("migrations_directory")?.get("dir")?.as_str().map(|d| d.trim_start_matches("./").to_string())
}

/// migrate-mongo: `migrationsDir` and `changelogCollectionName`.
pub fn migrate_mongo(text: &str) -> ToolSettings {
    let text = strip_js_comments(text);
    ToolSettings {
        dir: js_value(&text, "migrationsDir").and_then(|e| js_path(&e, "")),
        table: js_value(&text, "changelogCollectionName").and_then(|e| literal(&e)),
    }
}

/// The folder of a glob (`src/migrations/*.ts` → `src/migrations`) or of a file path.
fn glob_folder(p: &str) -> String {
    let cut = p.find(['*', '?', '{', '[']).map(|i| &p[..i]);
    let folder = match cut {
        Some(prefix) => prefix.rsplit_once('/').map(|(d, _)| d).unwrap_or(""),
        None if p.ends_with(".ts") || p.ends_with(".js") => p.rsplit_once('/').map(|(d, _)| d).unwrap_or(""),
        None => p,
    };
    let folder = folder.trim_end_matches('/');
    if folder.is_empty() { ".".to_string() } else { folder.to_string() }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$'
}

/// JavaScript without `//` and `/* */` comments (string contents kept).
fn strip_js_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('/', Some('/')) => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
            }
            ('"' | '\'' | '`', _) => {
                quote = Some(c);
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Byte offsets just after each `key:` (bare or quoted property name, also YAML `key:`) in `text`.
fn property_ends(text: &str, key: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(key).map(|i| i + from) {
        from = i + key.len();
        let before = text[..i].chars().next_back();
        let after = text[from..].chars().next();
        let (open, close) = match (before, after) {
            (Some(q @ ('"' | '\'')), Some(a)) if a == q => (true, from + 1),
            (b, _) => (!b.is_some_and(|b| is_ident(b) || b == '-' || b == '.'), from),
        };
        if !open {
            continue;
        }
        if close == from && text[from..].starts_with(|c: char| is_ident(c) || c == '-') {
            continue;
        }
        let rest = &text[close..];
        let trimmed = rest.trim_start_matches([' ', '\t']);
        if let Some(after_colon) = trimmed.strip_prefix(':') {
            ends.push(text.len() - after_colon.len());
        }
    }
    ends
}

/// The balanced `{ … }` value of property `key` (its inside), first occurrence.
fn object_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    property_ends(text, key).into_iter().find_map(|end| {
        let rest = text[end..].trim_start();
        let start = text.len() - rest.len();
        rest.starts_with('{').then(|| balanced(text, start)).flatten()
    })
}

/// The inside of the bracketed value starting at `start` (`{`, `[` or `(`), strings skipped.
fn balanced(text: &str, start: usize) -> Option<&str> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text[start..].char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[start + 1..start + i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The raw expression of property `key` (first occurrence that has one): up to the next
/// top-level `,`, `}` or line end after a YAML scalar; a YAML block list gives its first item.
fn js_value(text: &str, key: &str) -> Option<String> {
    property_ends(text, key).into_iter().find_map(|end| {
        let rest = &text[end..];
        let line = rest.lines().next().unwrap_or("").trim();
        if line.is_empty() {
            // YAML: `key:` then `  - item` lines.
            let item = rest.lines().skip(1).map(str::trim).find(|l| !l.is_empty())?;
            return item.strip_prefix("- ").map(|i| quote_yaml(i.trim()));
        }
        let mut depth = 0i32;
        let mut quote: Option<char> = None;
        let mut escaped = false;
        let body = rest.trim_start();
        for (i, c) in body.char_indices() {
            if let Some(q) = quote {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                continue;
            }
            match c {
                '"' | '\'' | '`' => quote = Some(c),
                '{' | '[' | '(' => depth += 1,
                '}' | ']' | ')' if depth > 0 => depth -= 1,
                '}' | ']' | ')' | ',' | ';' if depth == 0 => return Some(body[..i].trim().to_string()),
                '\n' if depth == 0 => return Some(body[..i].trim().to_string()),
                _ => {}
            }
        }
        Some(body.trim().to_string())
    })
}

/// A YAML scalar as a quoted literal, so [`literal`] reads it.
fn quote_yaml(v: &str) -> String {
    if v.starts_with(['"', '\'']) { v.to_string() } else { format!("'{v}'") }
}

/// The value of a lone string literal (`'x'`, `"x"`, `` `x` `` without `${}`), or of the first
/// element of an array of them.
fn literal(expr: &str) -> Option<String> {
    let e = expr.trim();
    if let Some(inner) = e.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return literal(inner.split(',').next()?);
    }
    let q = e.chars().next()?;
    if matches!(q, '"' | '\'' | '`') && e.len() >= 2 && e.ends_with(q) {
        let v = &e[1..e.len() - 1];
        return (!v.contains(q) && !v.contains("${")).then(|| v.to_string());
    }
    None
}

/// A path expression: a literal, `path.join(…)` / `path.resolve(…)` of literals, `__dirname` and
/// `process.cwd()`, string concatenation with `+`, or a template literal over `__dirname`;
/// the first element of an array. Paths built on `__dirname` are relative to `file_dir`.
fn js_path(expr: &str, file_dir: &str) -> Option<String> {
    let e = expr.trim();
    if let Some(inner) = e.strip_prefix('[') {
        let end = inner.rfind(']')?;
        let first = split_top_level(&inner[..end]).into_iter().next()?;
        return js_path(&first, file_dir);
    }
    let mut parts: Vec<String> = Vec::new();
    let mut dirname = false;
    let mut leftover = String::new();
    let mut chars = e.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if matches!(c, '"' | '\'' | '`') {
            let end = e[i + 1..].find(c)? + i + 1;
            let mut s = e[i + 1..end].to_string();
            if c == '`' {
                if s.contains("${__dirname}") {
                    dirname = true;
                    s = s.replace("${__dirname}", "");
                }
                if s.contains("${") {
                    return None;
                }
            }
            parts.push(s);
            while chars.peek().is_some_and(|(j, _)| *j <= end) {
                chars.next();
            }
        } else {
            leftover.push(c);
        }
    }
    if leftover.contains("__dirname") {
        dirname = true;
    }
    let mut leftover = leftover;
    for known in ["path.resolve", "path.join", "resolve", "join", "process.cwd()", "__dirname"] {
        leftover = leftover.replace(known, " ");
    }
    if leftover.chars().any(|c| !matches!(c, ' ' | '\t' | '\n' | '\r' | '(' | ')' | ',' | '+')) {
        return None;
    }
    if parts.is_empty() {
        return None;
    }
    let joined = parts.iter().filter(|p| !p.is_empty()).map(|p| p.as_str()).collect::<Vec<_>>().join("/");
    let mut path = String::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            s => {
                if !path.is_empty() || joined.starts_with('/') && !dirname {
                    path.push('/');
                }
                path.push_str(s);
            }
        }
    }
    if dirname && !file_dir.is_empty() && file_dir != "." {
        path = format!("{file_dir}/{path}");
    }
    Some(if path.is_empty() { ".".to_string() } else { path })
}

/// Splits at top-level commas (outside brackets and strings).
fn split_top_level(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut cur = String::new();
    for c in text.chars() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            cur.push(c);
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// A Python keyword argument `key="…"` / `key='…'` (string literals only).
fn py_kwarg(text: &str, key: &str) -> Option<String> {
    let mut from = 0;
    while let Some(i) = text[from..].find(key).map(|i| i + from) {
        from = i + key.len();
        if text[..i].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let rest = text[from..].trim_start_matches([' ', '\t']);
        let Some(rest) = rest.strip_prefix('=') else { continue };
        if rest.starts_with('=') {
            continue;
        }
        let rest = rest.trim_start();
        let q = rest.chars().next()?;
        if matches!(q, '"' | '\'') {
            let end = rest[1..].find(q)?;
            return Some(rest[1..1 + end].to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knex_reads_the_development_migrations_block() {
        let text = "// migrations: { directory: 'nope' }\nmodule.exports = {\n  production: { client: 'pg', migrations: { directory: './prod' } },\n  development: {\n    client: 'pg',\n    migrations: {\n      directory: path.join(__dirname, 'db', 'migrations'),\n      tableName: \"knex_history\",\n      schemaName: 'app',\n    },\n  },\n};\n";
        assert_eq!(knex(text), ToolSettings { dir: Some("db/migrations".into()), table: Some("app.knex_history".into()) });
        let one_line = "module.exports = { client: 'sqlite3', migrations: { tableName: 'kx', directory: './db/migrate' } };";
        assert_eq!(knex(one_line), ToolSettings { dir: Some("db/migrate".into()), table: Some("kx".into()) });
        assert_eq!(knex("module.exports = { migrations: { directory: dir } }").dir, None, "variables are not guessed");
        assert_eq!(knex("module.exports = { client: 'pg' }"), ToolSettings::default());
    }

    #[test]
    fn sequelizerc_paths() {
        let rc = "const path = require('path');\nmodule.exports = {\n  'config': path.resolve('config', 'database.json'),\n  'models-path': path.resolve('db', 'models'),\n  'migrations-path': path.resolve('db', 'migrations'),\n};\n";
        assert_eq!(sequelizerc(rc), (Some("db/migrations".into()), Some("config/database.json".into())));
        assert_eq!(sequelizerc("module.exports = { \"migrations-path\": \"./database/migrations\" }").0.as_deref(), Some("database/migrations"));
        assert_eq!(sequelize_table(r#"{"test": {"migrationStorageTableName": "t"}, "development": {"migrationStorageTableName": "seq_meta"}}"#).as_deref(), Some("seq_meta"));
    }

    #[test]
    fn typeorm_globs_become_folders() {
        let json = r#"{"type": "postgres", "migrationsTableName": "typeorm_history", "migrations": ["dist/db/migrations/*.js"]}"#;
        assert_eq!(typeorm(json, ".", false), ToolSettings { dir: Some("dist/db/migrations".into()), table: Some("typeorm_history".into()) });
        let ts = "export const AppDataSource = new DataSource({\n  type: 'postgres',\n  entities: [__dirname + '/entity/*.ts'],\n  migrations: [__dirname + '/db/migrations/*{.ts,.js}'],\n  migrationsTableName: 'orm_migrations',\n  migrationsRun: false,\n});\n";
        assert_eq!(typeorm(ts, "src", false), ToolSettings { dir: Some("src/db/migrations".into()), table: Some("orm_migrations".into()) });
        let yml = "default:\n  type: mysql\n  migrationsTableName: mig\n  migrations:\n    - src/mig/**/*.ts\n";
        assert_eq!(typeorm(yml, ".", true), ToolSettings { dir: Some("src/mig".into()), table: Some("mig".into()) });
        assert_eq!(typeorm("new DataSource({ migrations: [CreateUsers1700000000000] })", ".", false).dir, None);
    }

    #[test]
    fn flyway_locations_and_table() {
        let conf = "# comment\nflyway.url=jdbc:postgresql://localhost/app\nflyway.locations=filesystem:db/sql, classpath:db/migration\nflyway.table=schema_history\n";
        assert_eq!(flyway_conf(conf), (vec!["db/sql".to_string(), "src/main/resources/db/migration".to_string()], Some("schema_history".into())));
        let toml = "[environments.default]\nurl = \"jdbc:sqlite:app.db\"\n\n[flyway]\nlocations = [\"filesystem:./database\"]\ntable = \"fw_history\"\n";
        assert_eq!(flyway_toml(toml), (vec!["database".to_string()], Some("fw_history".into())));
    }

    #[test]
    fn alembic_version_table() {
        assert_eq!(alembic_ini("[alembic]\nscript_location = %(here)s/db\nversion_table = av\n"), (Some("db".into()), Some("av".into())));
        let env = "context.configure(\n    connection=connection,\n    target_metadata=target_metadata,\n    version_table=\"alembic_history\",\n    version_table_schema='app',\n)\n";
        assert_eq!(alembic_env(env).as_deref(), Some("app.alembic_history"));
        assert_eq!(alembic_env("context.configure(version_table=config.get_main_option('vt'))"), None);
    }

    #[test]
    fn diesel_migrations_directory() {
        assert_eq!(diesel("[print_schema]\nfile = \"src/schema.rs\"\n\n[migrations_directory]\ndir = \"./db/migrations\"\n").as_deref(), Some("db/migrations"));
        assert_eq!(diesel("[print_schema]\nfile = \"src/schema.rs\"\n"), None);
    }

    #[test]
    fn prisma_schema_from_package_json() {
        assert_eq!(prisma_schema(r#"{"name": "x", "prisma": {"schema": "./db/schema.prisma"}}"#).as_deref(), Some("db/schema.prisma"));
        assert_eq!(prisma_schema(r#"{"name": "x"}"#), None);
    }
}
