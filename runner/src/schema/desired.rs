//! The desired schema of `diff` and `create --from-schema`: plain SQL DDL, one file or a folder
//! of `.sql` files (run in name order), loaded into a shadow database so the database itself
//! says what the schema is — the same introspection then reads both sides of the comparison.

use std::path::{Path, PathBuf};

use crate::backend::{Backend, DatabaseUrl, connect_writable};
use crate::migrate::error::{Error, Result, SourceError};
use crate::migrate::statements;

/// The files of a desired schema: `path` itself, or the `.sql` files of the folder `path` in
/// name order. A folder without any is an error.
pub fn files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::Source(SourceError::file(path, format!("cannot read the desired schema: {e}"))))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let rd = std::fs::read_dir(path).map_err(|e| Error::Source(SourceError::file(path, format!("cannot read the folder: {e}"))))?;
    let mut out: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "sql")).collect();
    out.sort();
    if out.is_empty() {
        return Err(Error::Source(SourceError::file(path, "the folder holds no .sql file: give a schema file or a folder of .sql files")));
    }
    Ok(out)
}

/// Runs the desired schema's files on the (empty) database at `url`. A statement that fails is
/// reported with its file and line; nothing else is run.
pub async fn load(url: &str, base: &Path, history_table: &str, path: &Path) -> Result<usize> {
    let list = files(path)?;
    let parsed = DatabaseUrl::parse(url, base)?;
    if matches!(parsed, DatabaseUrl::Mongo(_)) {
        return Err(Error::Config("a desired schema is SQL DDL: MongoDB has no generator, write a `.mongo.json` migration by hand".into()));
    }
    // A shadow database no lock is taken on: how its connection ends matters to nothing, so
    // close errors are ignored below.
    let mut backend = connect_writable(&parsed, history_table).await?;
    let mut count = 0;
    for file in &list {
        let bytes = std::fs::read(file).map_err(|e| Error::Source(SourceError::file(file, format!("cannot read the desired schema: {e}"))))?;
        let sql = match String::from_utf8(bytes) {
            Ok(s) => s.trim_start_matches('\u{feff}').replace("\r\n", "\n"),
            Err(_) => {
                let _ = backend.close().await;
                return Err(Error::Source(SourceError::file(file, "the desired schema is not UTF-8 text")));
            }
        };
        if sql.contains('\0') {
            let _ = backend.close().await;
            return Err(Error::Source(SourceError::file(file, "the desired schema holds a NUL byte: it is not SQL text")));
        }
        let stmts = statements::split(&sql);
        if let Some(s) = stmts.iter().find(|s| statements::is_transaction_control(s)) {
            let (line, kw) = (s.line, s.keyword());
            let _ = backend.close().await;
            return Err(Error::Source(SourceError::at(file, line, format!("`{kw}`: a desired schema is DDL only, without transaction control"))));
        }
        count += stmts.len();
        if let Err((done, e)) = backend.exec_script(&sql, false).await {
            let line = stmts.get(done).map(|s| s.line).unwrap_or(1);
            let _ = backend.close().await;
            return Err(Error::Source(SourceError::at(file, line, format!("the desired schema does not load: {e}"))));
        }
    }
    let _ = backend.close().await;
    Ok(count)
}
