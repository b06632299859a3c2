//! Placeholders: `${name}` in SQL migrations, repeatable migrations, callbacks and SQL seeds,
//! replaced by configured values just before the SQL runs (or is shown by `--dry-run`).
//!
//! Rules (Flyway's, restated):
//! - a name is `[A-Za-z_][A-Za-z0-9_]*`; `${` followed by anything else is left as written;
//! - substitution happens everywhere in the text, inside string literals and comments too;
//! - `$${name}` is the escape: it becomes the literal `${name}`;
//! - a file holding the line `-- db-migrate:no-placeholders` is left exactly as written;
//! - a placeholder without a value is an error naming the file and line, reported for every
//!   such placeholder at once, before anything runs.
//!
//! The checksum of a migration covers its raw file, so changing a value is not drift. Secret
//! values (`secret = true`, any value from `env:`, or a name holding `password`, `secret` or
//! `token`) are never printed: [`Mode::Display`] shows them as `***`, and the history records
//! `***` in their place.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::SourceError;

/// The line that turns placeholders off for one file.
pub const OPT_OUT: &str = "-- db-migrate:no-placeholders";

/// How a secret value is shown and recorded.
pub const MASK: &str = "***";

/// One placeholder's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// The value; `None` when it comes from an environment variable that is not set.
    pub value: Option<String>,
    /// Never printed nor recorded.
    pub secret: bool,
    /// Where the value comes from, for messages (`db-migrate.toml`, `env:DB_PASSWORD`, `--set`).
    pub origin: String,
}

/// The placeholder values of a run, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    values: BTreeMap<String, Value>,
}

/// Whether substituted text is for running or for showing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The real values.
    Run,
    /// Secrets replaced by [`MASK`].
    Display,
}

/// Text after substitution, and which placeholders it used with the value to record
/// ([`MASK`] for secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substituted {
    /// The text.
    pub text: String,
    /// Name → recorded value, for each placeholder used.
    pub used: BTreeMap<String, String>,
}

impl Placeholders {
    /// No placeholders.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or overrides) `name`. A name that looks like a credential is secret regardless, and
    /// so is one that was declared secret before: an override (an environment's section,
    /// `--set`) replaces the value, never its secrecy.
    pub fn insert(&mut self, name: impl Into<String>, value: Option<String>, secret: bool, origin: impl Into<String>) {
        let name = name.into();
        let secret = secret || is_secret_name(&name) || self.values.get(&name).is_some_and(|v| v.secret);
        self.values.insert(name, Value { value, secret, origin: origin.into() });
    }

    /// The value of `name`, if declared.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// Whether no placeholder is declared.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every secret value replaced by [`MASK`]: for database errors, which may quote
    /// the statement that failed. Values shorter than 4 characters are left alone (they would
    /// mask ordinary words).
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in self.values.values().filter(|v| v.secret) {
            if let Some(x) = v.value.as_deref().filter(|x| x.len() >= 4) {
                out = out.replace(x, MASK);
            }
        }
        out
    }

    /// Every declared name with the value to show ([`MASK`] for secrets, `None` when unset).
    pub fn shown(&self) -> BTreeMap<String, Option<String>> {
        self.values
            .iter()
            .map(|(k, v)| (k.clone(), v.value.as_ref().map(|x| if v.secret { MASK.to_string() } else { x.clone() })))
            .collect()
    }
}

/// Whether a name marks its value as a credential.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["password", "secret", "token"].iter().any(|w| n.contains(w))
}

/// Whether a name is a valid placeholder name.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether a file's text turns placeholders off.
pub fn opts_out(text: &str) -> bool {
    text.lines().any(|l| l.trim() == OPT_OUT)
}

/// Replaces every `${name}` of `text` (which starts on line `first_line` of `path`).
pub fn substitute(text: &str, values: &Placeholders, mode: Mode, path: &Path, first_line: usize) -> Result<Substituted, SourceError> {
    let mut out = String::with_capacity(text.len());
    let mut used = BTreeMap::new();
    let mut problems = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        // `$${name}`: the escape, written out as `${name}`.
        let escaped = bytes.get(i + 1) == Some(&b'$') && bytes.get(i + 2) == Some(&b'{');
        let open = if escaped { i + 2 } else { i + 1 };
        if bytes.get(open) != Some(&b'{') {
            i += 1;
            continue;
        }
        let Some(close) = text[open + 1..].find('}').map(|p| open + 1 + p) else {
            i += 1;
            continue;
        };
        let name = &text[open + 1..close];
        if !is_valid_name(name) {
            i += 1;
            continue;
        }
        out.push_str(&text[copied..i]);
        if escaped {
            out.push_str(&text[i + 1..=close]);
        } else {
            let line = first_line + text[..i].matches('\n').count();
            match values.get(name) {
                Some(Value { value: Some(v), secret, .. }) => {
                    let shown = if *secret { MASK } else { v.as_str() };
                    out.push_str(if mode == Mode::Run { v } else { shown });
                    used.insert(name.to_string(), shown.to_string());
                }
                Some(Value { value: None, origin, .. }) => problems.push(SourceError::at(
                    path,
                    line,
                    format!("placeholder `${{{name}}}` comes from `{origin}`, which is not set: set it, or give the value with `--set {name}=VALUE`"),
                )),
                None => problems.push(SourceError::at(
                    path,
                    line,
                    format!(
                        "placeholder `${{{name}}}` has no value: declare it under [placeholders] in db-migrate.toml or pass `--set {name}=VALUE` \
                         (write `$${{{name}}}` for a literal `${{{name}}}`, or add a line `{OPT_OUT}` to leave the file as written)"
                    ),
                )),
            }
        }
        i = close + 1;
        copied = i;
    }
    out.push_str(&text[copied..]);
    match problems.len() {
        0 => Ok(Substituted { text: out, used }),
        1 => Err(problems.pop().expect("one problem")),
        _ => Err(SourceError::Many(problems)),
    }
}

/// Substitutes one script in place (unless its file opts out) and returns the placeholders it
/// used, with the values to record.
pub fn apply(script: &mut super::source::Script, values: &Placeholders, mode: Mode) -> Result<BTreeMap<String, String>, SourceError> {
    if !script.sql.contains("${") || opts_out(&script.sql) {
        return Ok(BTreeMap::new());
    }
    // The opt-out line may sit outside the script's section (before `-- migrate:up`).
    if std::fs::read_to_string(&script.path).is_ok_and(|t| opts_out(&t)) {
        return Ok(BTreeMap::new());
    }
    let s = substitute(&script.sql, values, mode, &script.path, script.first_line)?;
    script.sql = s.text;
    Ok(s.used)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Placeholders {
        let mut p = Placeholders::new();
        p.insert("schema", Some("app".into()), false, "db-migrate.toml");
        p.insert("owner", Some("alice".into()), true, "db-migrate.toml");
        p.insert("api_token", Some("t0k".into()), false, "--set");
        p.insert("missing", None, true, "env:NOPE");
        p
    }

    fn run(text: &str) -> Result<Substituted, SourceError> {
        substitute(text, &values(), Mode::Run, Path::new("x.sql"), 10)
    }

    #[test]
    fn an_override_keeps_the_secrecy_of_the_declaration() {
        let mut p = values();
        p.insert("owner", Some("bob".into()), false, "--set");
        assert!(p.get("owner").unwrap().secret);
        assert_eq!(p.shown()["owner"].as_deref(), Some(MASK));
    }

    #[test]
    fn replaces_everywhere_even_inside_quotes_and_comments() {
        let s = run("CREATE TABLE ${schema}.t (c text DEFAULT '${schema}'); -- in ${schema}\n").unwrap();
        assert_eq!(s.text, "CREATE TABLE app.t (c text DEFAULT 'app'); -- in app\n");
        assert_eq!(s.used, BTreeMap::from([("schema".to_string(), "app".to_string())]));
    }

    #[test]
    fn escape_gives_the_literal() {
        let s = run("SELECT '$${schema}', '${schema}', '$$${schema}'").unwrap();
        assert_eq!(s.text, "SELECT '${schema}', 'app', '$${schema}'");
    }

    #[test]
    fn only_valid_names_are_placeholders() {
        for text in ["${1x}", "${ schema }", "${}", "${a-b}", "${schema", "$schema", "$$ body $$", "$1"] {
            assert_eq!(run(text).unwrap().text, text, "{text}");
        }
    }

    #[test]
    fn secrets_are_masked_in_display_and_record() {
        let s = substitute("GRANT ${owner} ${api_token}", &values(), Mode::Display, Path::new("x.sql"), 1).unwrap();
        assert_eq!(s.text, "GRANT *** ***");
        let s = run("GRANT ${owner} ${api_token}").unwrap();
        assert_eq!(s.text, "GRANT alice t0k");
        assert_eq!(s.used["owner"], MASK);
        assert_eq!(s.used["api_token"], MASK);
    }

    #[test]
    fn unset_placeholders_name_file_and_line_all_at_once() {
        let e = run("SELECT 1;\nSELECT ${nope};\n\nSELECT ${missing};").unwrap_err().to_string();
        assert!(e.contains("x.sql:11") && e.contains("`${nope}` has no value"), "{e}");
        assert!(e.contains("x.sql:13") && e.contains("`env:NOPE`, which is not set"), "{e}");
    }

    #[test]
    fn secrets_are_masked_in_messages() {
        let mut p = values();
        p.insert("db_password", Some("hunter2".into()), false, "x");
        assert_eq!(p.mask("syntax error at or near \"hunter2\" (alice)"), "syntax error at or near \"***\" (***)");
        assert_eq!(p.mask("no secrets here"), "no secrets here");
    }

    #[test]
    fn secret_names_and_opt_out() {
        assert!(is_secret_name("DB_PASSWORD") && is_secret_name("client_secret") && is_secret_name("Token"));
        assert!(!is_secret_name("schema"));
        assert!(opts_out("-- migrate:up\n  -- db-migrate:no-placeholders  \nSELECT '${x}';"));
        assert!(!opts_out("SELECT 1; -- db-migrate:no-placeholders"));
    }
}
