//! Placeholder values from `[placeholders]`, `[environments.NAME.placeholders]` and `--set`.
//!
//! ```toml
//! [placeholders]
//! schema = "app"                                   # a plain value
//! app_password = "env:APP_PASSWORD"                # read from the process environment (secret)
//! api_key = { value = "env:API_KEY", secret = true }
//! owner = { value = "alice", secret = true }
//!
//! [environments.production.placeholders]
//! schema = "app_prod"
//! ```
//!
//! Later sources override earlier ones: top level, the selected environment, then `--set`.

use std::collections::BTreeMap;

use db_migrate::migrate::error::Error;
use db_migrate::migrate::placeholders::{self, Placeholders};

fn one(name: &str, v: &toml::Value, at: &str, out: &mut Placeholders, problems: &mut Vec<String>) {
    if !placeholders::is_valid_name(name) {
        problems.push(format!("{at}: `{name}` is not a placeholder name (letters, digits and `_`, not starting with a digit)"));
        return;
    }
    let (raw, secret) = match v {
        toml::Value::String(s) => (s.clone(), false),
        toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => (v.to_string(), false),
        toml::Value::Table(t) => {
            let unknown: Vec<&String> = t.keys().filter(|k| !matches!(k.as_str(), "value" | "secret")).collect();
            if !unknown.is_empty() {
                problems.push(format!("{at}.{name}: unknown key(s) {unknown:?}; a placeholder table takes `value` and `secret`"));
                return;
            }
            let value = match t.get("value") {
                Some(toml::Value::String(s)) => s.clone(),
                Some(other @ (toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_))) => other.to_string(),
                _ => {
                    problems.push(format!("{at}.{name}: needs `value = \"...\"` (a string, or \"env:VAR\")"));
                    return;
                }
            };
            let secret = match t.get("secret") {
                None => false,
                Some(toml::Value::Boolean(b)) => *b,
                Some(_) => {
                    problems.push(format!("{at}.{name}: `secret` is true or false"));
                    return;
                }
            };
            (value, secret)
        }
        _ => {
            problems.push(format!("{at}.{name}: a placeholder is a string, a number, a boolean or {{ value = \"...\", secret = true }}"));
            return;
        }
    };
    match raw.strip_prefix("env:") {
        Some(var) => {
            let value = std::env::var(var).ok();
            out.insert(name, value, true, format!("env:{var}"));
        }
        None => out.insert(name, Some(raw), secret, at.to_string()),
    }
}

/// Resolves the placeholder values of a run; every problem is reported at once.
pub fn resolve(top: &BTreeMap<String, toml::Value>, env: Option<&BTreeMap<String, toml::Value>>, sets: &[(String, String)], environment: &str) -> Result<Placeholders, Error> {
    let mut out = Placeholders::new();
    let mut problems = Vec::new();
    for (k, v) in top {
        one(k, v, "[placeholders]", &mut out, &mut problems);
    }
    if let Some(env) = env {
        let at = format!("[environments.{environment}.placeholders]");
        for (k, v) in env {
            one(k, v, &at, &mut out, &mut problems);
        }
    }
    for (k, v) in sets {
        if !placeholders::is_valid_name(k) {
            problems.push(format!("--set {k}=…: `{k}` is not a placeholder name (letters, digits and `_`, not starting with a digit)"));
            continue;
        }
        out.insert(k.clone(), Some(v.clone()), false, "--set");
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::Config(format!("{} placeholder problem(s):\n  - {}", problems.len(), problems.join("\n  - "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_override_in_order_and_env_values_are_secret() {
        let top: BTreeMap<String, toml::Value> = toml::from_str("schema = \"app\"\nn = 3\nhome = \"env:HOME\"\nowner = { value = \"al\", secret = true }\nunset = \"env:DBM_SURELY_UNSET_VAR\"").unwrap();
        let env: BTreeMap<String, toml::Value> = toml::from_str("schema = \"prod\"").unwrap();
        let p = resolve(&top, Some(&env), &[("n".into(), "4".into())], "production").unwrap();
        assert_eq!(p.get("schema").unwrap().value.as_deref(), Some("prod"));
        assert_eq!(p.get("n").unwrap().value.as_deref(), Some("4"));
        assert!(p.get("home").unwrap().secret && p.get("owner").unwrap().secret);
        assert_eq!(p.get("unset").unwrap().value, None);
        let bad: BTreeMap<String, toml::Value> = toml::from_str("\"1x\" = \"a\"\ny = { valu = \"a\" }").unwrap();
        let e = resolve(&bad, None, &[], "development").unwrap_err().to_string();
        assert!(e.contains("2 placeholder problem(s)") && e.contains("`1x`") && e.contains("unknown key"), "{e}");
    }
}
