//! `status` and `validate`: read-only views of the migrations and the history.

use std::process::ExitCode;

use clap::Args;

use crate::{Output, migrator};
use db_migrate::backend::url::redact;
use crate::config::Settings;
use db_migrate::migrate::error::Error;
use db_migrate::migrate::plan::{State, StatusEntry};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Exit 1 if anything is pending, modified, missing or dirty.
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    pub db: crate::DbArgs,
}

pub async fn status(settings: &Settings, args: StatusArgs, out: &Output) -> Result<ExitCode, Error> {
    // The file-name warnings and the repeatable migrations each list the migrations folder
    // apart: on a thread of their own, while this one reads the history (for a thousand
    // migrations, a listing is a good part of `status`'s time).
    let (dir, format) = (settings.migrations_dir.clone(), settings.migrations_format);
    let listed = tokio::task::spawn_blocking(move || {
        (db_migrate::migrate::source::name_warnings_format(&dir, format), db_migrate::migrate::workflow_files::repeatables(&dir))
    });
    let entries = migrator(settings).status().await?;
    let (warnings, repeatables) = listed.await.map_err(|e| Error::Config(format!("listing the migrations folder failed: {e}")))?;
    // [workflow] repeatable migrations, with their own states.
    let repeatable = migrator(settings).repeatable_status_of(repeatables?).await?;
    crate::show_name_warnings(&warnings, out);
    if entries.is_empty() {
        out.line(&format!("no migrations in {}; `db-migrate create --name NAME` writes one", settings.migrations_dir.display()));
    } else if !out.quiet && !out.json {
        print_table(&entries, out);
    }
    let count = |s: State| entries.iter().filter(|e| e.state == s).count();
    let summary: Vec<String> = [State::Applied, State::Pending, State::Modified, State::Missing, State::Dirty]
        .into_iter()
        .filter(|&s| count(s) > 0)
        .map(|s| format!("{} {}", count(s), s.as_str()))
        .collect();
    if !repeatable.is_empty() && !out.quiet && !out.json {
        let rows: Vec<String> = repeatable
            .iter()
            .map(|r| format!("R  {:<30}  {:<8}  {}", r.name, serde_json::to_value(r.state).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(), r.applied_at.clone().unwrap_or_else(|| "-".into())))
            .collect();
        out.line(&format!("\nrepeatable migrations:\n{}", rows.join("\n")));
    }
    if !summary.is_empty() {
        out.line(&format!("\n{}", summary.join(", ")));
    }
    let early: Vec<String> = entries.iter().filter(|e| e.out_of_order).map(|e| format!("{}_{}", e.version, e.name)).collect();
    if !early.is_empty() {
        let newest = entries.iter().filter(|e| e.applied_at.is_some()).map(|e| e.version).max().unwrap_or_default();
        let what = if settings.allow_out_of_order {
            "`up` applies them, since out-of-order migrations are allowed here".to_string()
        } else {
            "`up` refuses them: rename them to a newer version, or run `up --allow-out-of-order` (or set allow_out_of_order = true)".to_string()
        };
        out.note(&format!(
            "hint: {} pending migration(s) marked * are older than the newest applied one ({newest}): {}; {what}",
            early.len(),
            early.join(", ")
        ));
    }
    if !entries.is_empty() && entries.iter().all(|e| e.state == State::Pending) {
        if let Some(n) = migrator(settings).unadopted().await? {
            out.note(&crate::baseline_hint(n));
        }
    }
    let drift = if args.check { super::schema::status_drift(settings, out).await? } else { None };
    // Built only for `--json`: for a thousand migrations it is a good part of `status`'s own time.
    if out.json {
        let mut doc = serde_json::json!({
            "environment": settings.environment,
            "database": redact(&settings.database_url),
            "migrations": entries,
            "repeatable": repeatable,
            "warnings": warnings,
        });
        if let Some(d) = &drift {
            doc["drift"] = serde_json::to_value(d).unwrap_or_default();
        }
        out.json(&doc);
    }
    let clean = entries.iter().all(|e| e.state == State::Applied)
        && repeatable.iter().all(|r| r.state == db_migrate::run::workflow::RepeatableState::Applied)
        && drift.is_none_or(|d| d.is_empty());
    Ok(if args.check && !clean { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn print_table(entries: &[StatusEntry], out: &Output) {
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            [
                e.version.to_string(),
                e.name.clone(),
                e.kind.clone(),
                if e.out_of_order { format!("{}*", e.state.as_str()) } else { e.state.as_str().to_string() },
                e.applied_at.clone().unwrap_or_else(|| "-".into()),
                e.execution_ms.map(|ms| format!("{ms} ms")).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = ["VERSION", "NAME", "KIND", "STATE", "APPLIED AT", "DURATION"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let fmt = |r: &[String; 6]| {
        r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_string()
    };
    let mut text = fmt(&header);
    for r in &rows {
        text.push('\n');
        text.push_str(&fmt(r));
    }
    out.line(&text);
}

pub async fn validate(settings: &Settings, out: &Output) -> Result<ExitCode, Error> {
    let drift = migrator(settings).validate().await?;
    if drift.is_empty() {
        out.line("ok: every applied migration matches its file");
    } else {
        out.line("drift: applied migrations no longer match their files");
        for e in &drift {
            let why = if e.state == State::Modified { "modified after being applied" } else { "file missing" };
            out.line(&format!("  {}_{}: {why}", e.version, e.name));
        }
    }
    out.json(&serde_json::json!({ "ok": drift.is_empty(), "drift": drift }));
    Ok(if drift.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
