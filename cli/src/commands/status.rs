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
    // The file-name warnings and the repeatable migrations come from one more listing of the
    // migrations folder, on a thread of their own while this one reads the history (for a
    // thousand migrations, a listing is a good part of `status`'s time).
    let (dir, format) = (settings.migrations_dir.clone(), settings.migrations_format);
    let listed = tokio::task::spawn_blocking(move || db_migrate::migrate::workflow_files::warnings_and_repeatables(&dir, format));
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
    use std::fmt::Write;
    // Every cell is borrowed but the numbers, which are written once into one buffer, and the
    // table is built in one string: for a thousand migrations, a String per cell and a
    // `format!` per padded cell were a quarter of `status`'s instructions.
    let mut numbers = String::with_capacity(entries.len() * 24);
    let spans: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> = entries
        .iter()
        .map(|e| {
            let start = numbers.len();
            let _ = write!(numbers, "{}", e.version);
            let mid = numbers.len();
            if let Some(ms) = e.execution_ms {
                let _ = write!(numbers, "{ms} ms");
            }
            (start..mid, mid..numbers.len())
        })
        .collect();
    let rows: Vec<[&str; 6]> = entries
        .iter()
        .zip(&spans)
        .map(|(e, (version, ms))| {
            [
                &numbers[version.clone()],
                &e.name,
                &e.kind,
                if e.out_of_order { e.state.as_str_starred() } else { e.state.as_str() },
                e.applied_at.as_deref().unwrap_or("-"),
                if e.execution_ms.is_some() { &numbers[ms.clone()] } else { "-" },
            ]
        })
        .collect();
    let header = ["VERSION", "NAME", "KIND", "STATE", "APPLIED AT", "DURATION"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut text = String::with_capacity((rows.len() + 1) * (widths.iter().sum::<usize>() + 12));
    for (i, r) in std::iter::once(&header).chain(&rows).enumerate() {
        if i > 0 {
            text.push('\n');
        }
        let start = text.len();
        for (j, (c, w)) in r.iter().zip(widths).enumerate() {
            if j > 0 {
                text.push_str("  ");
            }
            // Padded as `format!("{c:<w$}")` pads: to `w` characters.
            text.push_str(c);
            text.extend(std::iter::repeat_n(' ', w.saturating_sub(c.chars().count())));
        }
        let kept = text[start..].trim_end().len();
        text.truncate(start + kept);
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
