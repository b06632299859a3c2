//! Lists a migrations folder at compile time, checks the names, and writes the expansion.
//!
//! The name rules mirror db-migrate's discovery (`migrate::source::parse_stem` and the layouts
//! it reads); the files' contents are parsed by the library itself when the source is read, so
//! an embedded set and the same folder on disk give identical migrations.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The form a migration takes in the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Form {
    Marked,
    Up,
    Down,
    Folder,
    Component,
    Commands,
}

impl Form {
    /// `.up.sql` and `.down.sql` are the two halves of one form.
    fn family(self) -> u8 {
        match self {
            Form::Marked => 0,
            Form::Up | Form::Down => 1,
            Form::Folder => 2,
            Form::Component => 3,
            Form::Commands => 4,
        }
    }
}

/// Suffixes discovery reads, longest first (as `kind_of` tries them).
const SUFFIXES: [(&str, Form); 5] =
    [(".mongo.json", Form::Commands), (".up.sql", Form::Up), (".down.sql", Form::Down), (".sql", Form::Marked), (".wasm", Form::Component)];

/// A file to embed: its `/`-separated name inside the folder and its absolute path.
struct Embedded {
    name: String,
    path: PathBuf,
}

/// The expansion of `embed_migrations!(dir)` for a crate whose `Cargo.toml` is in `manifest`:
/// an expression building `db_migrate::MemorySource`, or every problem found, one per line.
pub fn expand(manifest: &Path, dir: &str) -> Result<String, String> {
    let root = manifest.join(dir);
    let shown = |name: &str| format!("{dir}/{name}");
    let listing = std::fs::read_dir(&root).map_err(|e| format!("embed_migrations!: cannot read the migrations folder {}: {e}", root.display()))?;
    let mut problems = Vec::new();
    let mut files: Vec<Embedded> = Vec::new();
    // version → name → forms, with the file that showed each.
    let mut groups: BTreeMap<i64, BTreeMap<String, Vec<(Form, String)>>> = BTreeMap::new();
    let mut entries: Vec<_> = listing.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(String::from) else {
            problems.push(format!("{}: file name is not valid UTF-8", path.display()));
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let (stem, form) = if path.is_dir() {
            if !name.starts_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            (name.as_str(), Form::Folder)
        } else {
            match SUFFIXES.iter().find_map(|(s, f)| name.strip_suffix(s).map(|stem| (stem, *f))) {
                Some(found) => found,
                None => continue,
            }
        };
        let (version, migration) = match parse_stem(stem) {
            Some(Ok(key)) => key,
            Some(Err(why)) => {
                problems.push(format!("{}: bad migration name: {why}", shown(&name)));
                continue;
            }
            None => {
                problems.push(format!("{}: bad migration name: expected `VERSION_name.sql` (e.g. `20240101120000_add_users.sql`)", shown(&name)));
                continue;
            }
        };
        if form == Form::Folder {
            let up = path.join("up.sql");
            if !up.is_file() {
                problems.push(format!("{}: migration folder has no `up.sql`", shown(&name)));
                continue;
            }
            files.push(Embedded { name: format!("{name}/up.sql"), path: up });
            let down = path.join("down.sql");
            if down.is_file() {
                files.push(Embedded { name: format!("{name}/down.sql"), path: down });
            }
        } else {
            files.push(Embedded { name: name.clone(), path });
        }
        groups.entry(version).or_default().entry(migration).or_default().push((form, shown(&name)));
    }
    for (version, names) in &groups {
        let mut labels = names.values().map(|forms| forms[0].1.as_str());
        if names.len() > 1 {
            let first = labels.next().unwrap_or_default();
            let others: Vec<&str> = labels.collect();
            problems.push(format!("{}: duplicate version {version}: also used by {first}", others.join(", ")));
        }
        for (name, forms) in names {
            let mut families: Vec<u8> = forms.iter().map(|(f, _)| f.family()).collect();
            families.sort_unstable();
            families.dedup();
            if families.len() > 1 {
                problems.push(format!(
                    "{}: migration {version}_{name} exists in more than one form (.sql file, .up/.down pair, folder, .wasm component, .mongo.json); keep one",
                    forms[0].1
                ));
            } else if forms.iter().all(|(f, _)| *f == Form::Down) {
                problems.push(format!("{}: a `.down.sql` file without its `.up.sql`", forms[0].1));
            }
        }
    }
    if !problems.is_empty() {
        return Err(format!("embed_migrations!(\"{dir}\"): {}", problems.join("\n")));
    }
    if files.is_empty() {
        return Ok(format!("::db_migrate::MemorySource::new({})", string_literal(dir)));
    }
    let mut code = format!("::db_migrate::MemorySource::from_files({}, [", string_literal(dir));
    for f in &files {
        let Some(abs) = f.path.to_str() else {
            return Err(format!("embed_migrations!: {}: the path is not valid UTF-8", f.path.display()));
        };
        code.push_str(&format!("({}, &::core::include_bytes!({})[..]), ", string_literal(&f.name), string_literal(abs)));
    }
    code.push_str("])");
    Ok(code)
}

/// `VERSION_name` → (version, name), as `migrate::source::parse_stem` reads it: dashes between
/// the version's digits (diesel) are dropped. `None` when the stem does not start with a digit.
fn parse_stem(stem: &str) -> Option<Result<(i64, String), String>> {
    if !stem.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let end = stem.char_indices().find(|&(_, c)| !(c.is_ascii_digit() || c == '-')).map(|(i, _)| i).unwrap_or(stem.len());
    let (raw_version, rest) = stem.split_at(end);
    let digits: String = raw_version.chars().filter(char::is_ascii_digit).collect();
    let Some(name) = rest.strip_prefix('_') else {
        return Some(Err("expected `VERSION_name`: the version must be followed by `_` and a name".into()));
    };
    let valid = !name.is_empty() && name.len() <= 200 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Some(Err(format!("the name `{name}` may only hold letters, digits, `_` and `-`")));
    }
    match digits.parse::<i64>() {
        Ok(v) => Some(Ok((v, name.to_string()))),
        Err(_) => Some(Err(format!("version `{raw_version}` is too large (at most 19 digits)"))),
    }
}

/// `s` as a Rust string literal (`Debug` escapes quotes, backslashes and control characters).
pub fn string_literal(s: &str) -> String {
    format!("{s:?}")
}

/// The value of a plain (`"…"`) or raw (`r"…"`, `r#"…"#`) string literal; `None` for other
/// tokens or escapes a folder name has no use for.
pub fn unquote(lit: &str) -> Option<String> {
    if let Some(raw) = lit.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        let inner = raw.get(hashes..raw.len().checked_sub(hashes)?)?;
        return inner.strip_prefix('"')?.strip_suffix('"').map(String::from);
    }
    let inner = lit.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        return None;
    }
    Some(inner.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[&str]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        for f in files {
            let p = tmp.path().join("migrations").join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"-- migrate:up\nSELECT 1;\n").unwrap();
        }
        std::fs::create_dir_all(tmp.path().join("migrations")).unwrap();
        tmp
    }

    #[test]
    fn duplicate_versions_are_a_compile_error_naming_both_files() {
        let tmp = folder(&["1_init.sql", "2_users.sql", "2_accounts.up.sql"]);
        let e = expand(tmp.path(), "migrations").unwrap_err();
        assert!(e.contains("migrations/2_users.sql: duplicate version 2: also used by migrations/2_accounts.up.sql"), "{e}");
    }

    #[test]
    fn bad_names_and_forms_are_compile_errors_reported_together() {
        let tmp = folder(&["1_bad name.sql", "add_users.sql", "3_x.sql", "3_x.up.sql", "4_y.down.sql", "5_z/readme.txt"]);
        let e = expand(tmp.path(), "migrations").unwrap_err();
        for want in [
            "migrations/1_bad name.sql: bad migration name: the name `bad name`",
            "migrations/add_users.sql: bad migration name: expected `VERSION_name.sql`",
            "migration 3_x exists in more than one form",
            "migrations/4_y.down.sql: a `.down.sql` file without its `.up.sql`",
            "migrations/5_z: migration folder has no `up.sql`",
        ] {
            assert!(e.contains(want), "{want} not in: {e}");
        }
    }

    #[test]
    fn expansion_includes_every_migration_file_and_skips_the_rest() {
        let tmp = folder(&["1_init.sql", "2_users.up.sql", "2_users.down.sql", "2019-02-26-002946_posts/up.sql", "4_c.wasm", "README.md", ".keep", "drafts/x.sql"]);
        let code = expand(tmp.path(), "migrations").unwrap();
        assert!(code.starts_with("::db_migrate::MemorySource::from_files(\"migrations\", ["), "{code}");
        for name in ["\"1_init.sql\"", "\"2_users.up.sql\"", "\"2_users.down.sql\"", "\"2019-02-26-002946_posts/up.sql\"", "\"4_c.wasm\""] {
            assert!(code.contains(name), "{name} in {code}");
        }
        assert!(!code.contains("README") && !code.contains(".keep") && !code.contains("drafts"), "{code}");
        let abs = tmp.path().join("migrations/1_init.sql");
        assert!(code.contains(&format!("&::core::include_bytes!({:?})[..]", abs.to_str().unwrap())), "{code}");
        assert_eq!(expand(folder(&[]).path(), "migrations").unwrap(), "::db_migrate::MemorySource::new(\"migrations\")");
        assert!(expand(tmp.path(), "nowhere").unwrap_err().contains("cannot read the migrations folder"));
    }

    #[test]
    fn literals_unquote() {
        assert_eq!(unquote("\"migrations\"").as_deref(), Some("migrations"));
        assert_eq!(unquote("r#\"db/m\"#").as_deref(), Some("db/m"));
        assert_eq!(unquote("42"), None);
        assert_eq!(unquote("\"a\\\"b\""), None);
    }
}
