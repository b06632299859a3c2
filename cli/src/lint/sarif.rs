//! SARIF 2.1.0 output, for code-scanning UIs (GitHub code scanning, GitLab, IDE viewers).
//!
//! One run whose driver lists every rule (`id`, `name`, short and full description, `help`, the
//! default level) and one result per finding, located by the file's path relative to the project
//! (`uriBaseId` `%SRCROOT%`) and the statement's line.

use std::path::Path;

use serde_json::{json, Value};

use super::{Finding, RULES, dialect_name};

/// The SARIF document for `findings`; paths are made relative to `project_dir`.
pub fn render(findings: &[Finding], project_dir: &Path) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id,
                "shortDescription": { "text": r.what.replace('`', "") },
                "fullDescription": { "text": r.why },
                "help": { "text": format!("Instead: {}", r.fix), "markdown": format!("**Instead:** {}", r.fix) },
                "defaultConfiguration": { "level": r.severity.name() },
                "properties": { "dialects": r.dialects.iter().map(|d| dialect_name(*d)).collect::<Vec<_>>() },
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            json!({
                "ruleId": f.rule,
                "ruleIndex": RULES.iter().position(|r| r.id == f.rule).unwrap_or(0),
                "level": f.severity.name(),
                "message": { "text": format!("{} Instead: {}", f.message, f.fix) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": artifact(Path::new(&f.file), project_dir),
                        "region": { "startLine": f.line.max(1) },
                    }
                }],
            })
        })
        .collect();
    let mut driver = json!({ "name": "db-migrate", "version": env!("CARGO_PKG_VERSION"), "rules": rules });
    let home = env!("CARGO_PKG_REPOSITORY");
    if !home.is_empty() {
        driver["informationUri"] = json!(home);
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": driver },
            "originalUriBaseIds": { "%SRCROOT%": { "description": { "text": "the project directory" } } },
            "results": results,
        }],
    })
}

/// The artifact location of `file`: relative to the project (`%SRCROOT%`) when inside it, else an
/// absolute `file://` URI.
fn artifact(file: &Path, base: &Path) -> Value {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (f, b) = (canon(file), canon(base));
    match f.strip_prefix(&b) {
        Ok(rel) => json!({ "uri": escape(rel), "uriBaseId": "%SRCROOT%" }),
        Err(_) => json!({ "uri": format!("file://{}", escape(&f)) }),
    }
}

/// A path with `/` separators and the characters a URI cannot hold escaped.
fn escape(path: &Path) -> String {
    let text = path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/").replace("//", "/");
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_relative_slashed_and_escaped() {
        assert_eq!(artifact(Path::new("/p/migrations/1 a.sql"), Path::new("/p")), json!({ "uri": "migrations/1%20a.sql", "uriBaseId": "%SRCROOT%" }));
        assert_eq!(artifact(Path::new("/elsewhere/x.sql"), Path::new("/p")), json!({ "uri": "file:///elsewhere/x.sql" }));
    }
}
