//! `db-migrate inspect FILE.wasm`: what a component is, imports and exports — without running it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::Output;
use db_migrate::migrate::error::Error;
use db_migrate::sandbox;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The component file.
    file: PathBuf,
}

pub fn run(args: InspectArgs, out: &Output) -> Result<ExitCode, Error> {
    let fail = |m: String| Error::Config(format!("{}: {m}", args.file.display()));
    let bytes = std::fs::read(&args.file).map_err(|e| fail(format!("cannot read: {e}")))?;
    sandbox::check_header(&bytes).map_err(fail)?;
    let engine = sandbox::engine().map_err(|e| fail(format!("{e:#}")))?;
    let component = wasmtime::component::Component::new(&engine, &bytes).map_err(|e| fail(format!("not a valid component: {e:#}")))?;
    let d = sandbox::inspect::describe(&engine, &component);
    let sha = db_migrate::migrate::source::checksum_bytes(&bytes);
    out.line(&format!("file     {} ({:.1} KiB)", args.file.display(), bytes.len() as f64 / 1024.0));
    out.line(&format!("sha256   {sha}"));
    out.line(&format!("world    {}", d.world));
    out.line("imports");
    for i in &d.imports {
        let funcs = if i.functions.is_empty() { String::new() } else { format!(": {}", i.functions.join(", ")) };
        out.line(&format!("  {} ({}){funcs}", i.name, i.kind));
    }
    out.line("exports");
    for e in &d.exports {
        out.line(&format!("  {} ({})", e.name, e.kind));
    }
    out.json(&serde_json::json!({ "file": args.file.display().to_string(), "bytes": bytes.len(), "sha256": sha, "world": d.world, "imports": d.imports, "exports": d.exports }));
    Ok(ExitCode::SUCCESS)
}
