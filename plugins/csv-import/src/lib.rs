//! `csv-import`: a db-migrate seed pack loading CSV files into a table.
//!
//! The pack sees one folder, read-only, at `/data` (`data_dir` in its `[[seeds.pack]]`). Each
//! file's header names columns of the target table; values are typed by the table's own column
//! types (`columns`), sent in batches with `execute-batch`. A value that does not fit its column
//! fails the seed with `file:line`, and the transaction takes back every row already sent.
use db_migrate_sdk::{ColumnInfo, Dialect, Result, Seed, Value, columns, context, dialect, execute_batch, log};

/// How a column's text becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Float,
    Bool,
    /// Text columns: an empty field is an empty string.
    Text,
    /// Dates, times, UUIDs and the like: sent as written, an empty field is NULL.
    Literal,
}

fn kind_of(c: &ColumnInfo) -> Kind {
    let t = c.data_type.to_ascii_lowercase();
    if t.contains("int") || t == "serial" || t == "bigserial" {
        Kind::Int
    } else if ["real", "floa", "doub", "numeric", "decimal"].iter().any(|k| t.contains(k)) {
        Kind::Float
    } else if t.starts_with("bool") || t == "bit" {
        Kind::Bool
    } else if ["char", "text", "clob", "string", "json", "enum", "set"].iter().any(|k| t.contains(k)) || t.is_empty() {
        Kind::Text
    } else {
        Kind::Literal
    }
}

fn convert(raw: &str, column: &ColumnInfo, kind: Kind) -> std::result::Result<Value, String> {
    if raw.is_empty() && kind != Kind::Text {
        return if column.nullable { Ok(Value::Null) } else { Err(format!("column `{}` may not be empty (it is NOT NULL)", column.name)) };
    }
    match kind {
        Kind::Int => raw.trim().parse::<i64>().map(Value::Int).map_err(|_| format!("column `{}` ({}): `{raw}` is not an integer", column.name, column.data_type)),
        Kind::Float => raw.trim().parse::<f64>().map(Value::Float).map_err(|_| format!("column `{}` ({}): `{raw}` is not a number", column.name, column.data_type)),
        Kind::Bool => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" => Ok(Value::Bool(true)),
            "false" | "f" | "no" | "n" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("column `{}` ({}): `{raw}` is not a boolean (true/false, yes/no, 1/0)", column.name, column.data_type)),
        },
        Kind::Text | Kind::Literal => Ok(Value::Text(raw.to_string())),
    }
}

fn arg(key: &str) -> Option<String> {
    context::arg(key).filter(|v| !v.is_empty())
}

/// Loads one file into `table`; returns the rows written.
fn import(path: &str, table: &str, batch: usize, delimiter: u8) -> Result<u64> {
    let shown = path.strip_prefix("/data/").unwrap_or(path);
    let file = std::fs::File::open(path).map_err(|e| format!("{shown}: cannot open: {e} (the pack sees only its data_dir, at /data)"))?;
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(false).from_reader(std::io::BufReader::new(file));
    let header = reader.headers().map_err(|e| format!("{shown}:1: cannot read the header: {e}"))?.clone();
    let table_columns = columns(table)?;
    let mut targets = Vec::with_capacity(header.len());
    for name in header.iter() {
        let name = name.trim();
        let Some(c) = table_columns.iter().find(|c| c.name.eq_ignore_ascii_case(name)) else {
            let known: Vec<&str> = table_columns.iter().map(|c| c.name.as_str()).collect();
            return Err(format!("{shown}:1: `{name}` is not a column of {table} (its columns: {})", known.join(", ")).into());
        };
        targets.push((c.clone(), kind_of(c)));
    }
    let pg = dialect() == Dialect::Postgres;
    let marks: Vec<String> = (1..=targets.len()).map(|i| if pg { format!("${i}") } else { "?".into() }).collect();
    let names: Vec<&str> = targets.iter().map(|(c, _)| c.name.as_str()).collect();
    let statement = format!("INSERT INTO {table} ({}) VALUES ({})", names.join(", "), marks.join(", "));

    let mut rows: Vec<Vec<Value>> = Vec::with_capacity(batch);
    let mut written = 0u64;
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                return Err(format!("{shown}:{line}: {e}").into());
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let mut row = Vec::with_capacity(targets.len());
        for (raw, (column, kind)) in record.iter().zip(&targets) {
            row.push(convert(raw, column, *kind).map_err(|why| format!("{shown}:{line}: {why}"))?);
        }
        rows.push(row);
        if rows.len() == batch {
            written += execute_batch(&statement, &rows).map_err(|e| format!("{shown} (rows before line {line}): {e}"))?;
            rows.clear();
            log::progress(written, None);
        }
    }
    if !rows.is_empty() {
        written += execute_batch(&statement, &rows).map_err(|e| format!("{shown} (last rows): {e}"))?;
    }
    Ok(written)
}

struct CsvImport;

impl Seed for CsvImport {
    fn run() -> Result<()> {
        let batch = arg("batch").map(|b| b.parse::<usize>().map_err(|_| format!("`batch` must be a number, not `{b}`"))).transpose()?.unwrap_or(1_000).max(1);
        let delimiter = match arg("delimiter").as_deref() {
            None => b',',
            Some("tab" | "\\t") => b'\t',
            Some(d) if d.len() == 1 => d.as_bytes()[0],
            Some(d) => return Err(format!("`delimiter` is one character (or `tab`), not `{d}`").into()),
        };
        // Either one file into one table, or every *.csv in /data into the table of its name.
        let files: Vec<(String, String)> = match (arg("file"), arg("table")) {
            (Some(f), Some(t)) => vec![(format!("/data/{}", f.trim_start_matches('/')), t)],
            (Some(f), None) => {
                let t = std::path::Path::new(&f).file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
                vec![(format!("/data/{}", f.trim_start_matches('/')), t)]
            }
            (None, table) => {
                let mut found: Vec<(String, String)> = std::fs::read_dir("/data")
                    .map_err(|e| format!("cannot list /data: {e} (give the pack a `data_dir`)"))?
                    .filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let name = e.file_name().into_string().ok()?;
                        let stem = name.strip_suffix(".csv")?.to_string();
                        Some((format!("/data/{name}"), table.clone().unwrap_or(stem)))
                    })
                    .collect();
                found.sort();
                found
            }
        };
        if files.is_empty() {
            return Err("no CSV files in /data (set `file`, or put *.csv files in the pack's data_dir)".into());
        }
        for (path, table) in files {
            let n = import(&path, &table, batch, delimiter)?;
            log::info(format!("{}: {n} rows into {table}", path.trim_start_matches("/data/")));
        }
        Ok(())
    }
}

db_migrate_sdk::export_seed!(CsvImport);
