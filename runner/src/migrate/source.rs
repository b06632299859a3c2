//! Reading migration files — from a directory, or from memory through [`super::embedded`] — into [`Migration`]s.
//!
//! Three layouts are read side by side, so projects arriving from other tools work unchanged:
//! - `VERSION_name.sql` with `-- migrate:up` / `-- migrate:down` markers (dbmate);
//! - `VERSION_name.up.sql` + `VERSION_name.down.sql` (golang-migrate, sqlx);
//! - a folder `VERSION_name/` with `up.sql` and `down.sql` (diesel; `2019-02-26-002946` becomes
//!   `20190226002946`).
//!
//! Beside them: `VERSION_name.wasm` components and, for MongoDB, `VERSION_name.mongo.json`
//! command files (see [`super::commands`]).
//!
//! Discovery reports every problem it finds at once rather than stopping at the first.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use sha2::{Digest, Sha256};

use super::error::{Direction, SourceError};
use super::commands::CommandScript;
use super::statements;

/// What a migration is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum MigrationKind {
    /// Plain SQL text.
    Sql,
    /// A WebAssembly component (world `migration` or `document-migration`), run in the sandbox.
    Component,
    /// A MongoDB command file (`.mongo.json`).
    Commands,
    /// A knex migration file (`.js`, `.cjs`, `.mjs`; TypeScript `.ts`, `.mts`, `.cts`), run by
    /// the bundled knex runtime.
    Knex,
    /// An Alembic revision file (`.py`), run by the Alembic runtime.
    Alembic,
}

impl MigrationKind {
    /// The name stored in the history table.
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationKind::Sql => "sql",
            MigrationKind::Component => "component",
            MigrationKind::Commands => "commands",
            MigrationKind::Knex => "knex",
            MigrationKind::Alembic => "alembic",
        }
    }
}

/// What runs when a migration is applied or reverted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// SQL scripts; no `down` makes the migration irreversible.
    Sql {
        /// How to apply it.
        up: Script,
        /// How to revert it.
        down: Option<Script>,
    },
    /// A WebAssembly component: read from [`Migration::path`] when it runs, or — for a migration
    /// read from memory ([`super::embedded::MemorySource`]) — these bytes. Whether it is
    /// reversible or transactional is its own answer (`metadata`), learnt only when it runs:
    /// read-only commands never compile it.
    Component(Option<FileBytes>),
    /// MongoDB commands; no `down` makes the migration irreversible.
    Commands {
        /// How to apply it.
        up: CommandScript,
        /// How to revert it.
        down: Option<CommandScript>,
    },
    /// A knex migration file, given as data to db-migrate's knex runtime component (one
    /// component for every knex migration; see `sandbox::knex`). Like a component, it says
    /// whether it is reversible or transactional (`exports.down`, `exports.config`) when it runs.
    Knex {
        /// The file's text (BOM stripped, line endings normalised).
        source: String,
    },
    /// An Alembic revision file, given as data to db-migrate's Alembic runtime component (see
    /// `sandbox::alembic`); kept parallel to [`Body::Knex`]. Its version is its `Create Date`
    /// and its place in the order comes from its `down_revision` (see [`super::alembic`]).
    Alembic {
        /// The file's text (BOM stripped, line endings normalised).
        source: String,
    },
}

/// How the migrations folder is read: db-migrate's own layouts, or another tool's files too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Format {
    /// SQL files, folders, components and command files.
    #[default]
    Native,
    /// The above, and knex migration files (`VERSION_name.js`, `.cjs`, `.mjs`, `.ts`, `.mts`,
    /// `.cts`) run as they are.
    Knex,
    /// An Alembic `versions/` folder: every `*.py` revision file, ordered by its revision graph
    /// (see [`super::alembic`]); nothing else in the folder is read.
    Alembic,
}

/// The bytes of a file held in memory (an embedded migration set): compiled into the program
/// (`include_bytes!`) or shared. Cheap to clone; shown by length, not content.
#[derive(Clone)]
pub struct FileBytes(Held);

#[derive(Clone)]
enum Held {
    Static(&'static [u8]),
    Shared(std::sync::Arc<[u8]>),
}

impl FileBytes {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Held::Static(b) => b,
            Held::Shared(b) => b,
        }
    }
}

impl From<&'static [u8]> for FileBytes {
    fn from(bytes: &'static [u8]) -> Self {
        FileBytes(Held::Static(bytes))
    }
}

impl From<Vec<u8>> for FileBytes {
    fn from(bytes: Vec<u8>) -> Self {
        FileBytes(Held::Shared(bytes.into()))
    }
}

impl From<std::sync::Arc<[u8]>> for FileBytes {
    fn from(bytes: std::sync::Arc<[u8]>) -> Self {
        FileBytes(Held::Shared(bytes))
    }
}

impl PartialEq for FileBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for FileBytes {}

impl fmt::Debug for FileBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileBytes({} bytes)", self.as_bytes().len())
    }
}

impl fmt::Display for MigrationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One direction of a migration: the SQL to run and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The SQL, with BOM stripped and line endings normalised to `\n`.
    pub sql: String,
    /// The file holding it.
    pub path: PathBuf,
    /// Line of `path` on which `sql` starts (1-based), so statement lines map back to the file.
    pub first_line: usize,
    /// Whether the runner wraps the script and its history change in one transaction.
    pub transaction: bool,
}

impl Script {
    /// True when the script holds no statement at all.
    pub fn is_empty(&self) -> bool {
        statements::split(&self.sql).is_empty()
    }

    /// Line in [`Script::path`] of a line within [`Script::sql`].
    pub fn file_line(&self, script_line: usize) -> usize {
        self.first_line + script_line - 1
    }
}

/// A migration, read from the migrations directory or from memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Version: the file name's leading digits, as a number.
    pub version: i64,
    /// Name: the file name after the version and `_`, without extension.
    pub name: String,
    /// The file or folder the migration was read from (for a migration read from memory, the
    /// path it had in the embedded folder, e.g. `migrations/1_init.sql`).
    pub path: PathBuf,
    /// What runs.
    pub body: Body,
    /// SHA-256 (hex) of the migration's normalised content (SQL) or bytes (component); see [`checksum`].
    pub checksum: String,
}

impl Migration {
    /// What the migration is made of.
    pub fn kind(&self) -> MigrationKind {
        match self.body {
            Body::Sql { .. } => MigrationKind::Sql,
            Body::Component(_) => MigrationKind::Component,
            Body::Commands { .. } => MigrationKind::Commands,
            Body::Knex { .. } => MigrationKind::Knex,
            Body::Alembic { .. } => MigrationKind::Alembic,
        }
    }

    /// Whether `down` may be planned. Components say for themselves when they run.
    pub fn reversible(&self) -> bool {
        match &self.body {
            Body::Sql { down, .. } => down.is_some(),
            Body::Commands { down, .. } => down.is_some(),
            Body::Component(_) | Body::Knex { .. } | Body::Alembic { .. } => true,
        }
    }

    /// The SQL script of one direction, for SQL migrations.
    pub fn script(&self, direction: Direction) -> Option<&Script> {
        match (&self.body, direction) {
            (Body::Sql { up, .. }, Direction::Up) => Some(up),
            (Body::Sql { down, .. }, Direction::Down) => down.as_ref(),
            (Body::Component(_) | Body::Commands { .. } | Body::Knex { .. } | Body::Alembic { .. }, _) => None,
        }
    }

    /// The commands of one direction, for MongoDB command files.
    pub fn commands(&self, direction: Direction) -> Option<&CommandScript> {
        match (&self.body, direction) {
            (Body::Commands { up, .. }, Direction::Up) => Some(up),
            (Body::Commands { down, .. }, Direction::Down) => down.as_ref(),
            _ => None,
        }
    }

    /// `VERSION_name`, as users see it in file names.
    pub fn label(&self) -> String {
        format!("{}_{}", self.version, self.name)
    }
}

/// Strips a UTF-8 BOM and turns CRLF (and lone CR) line endings into LF, so that an editor's
/// line-ending change never looks like a modified migration.
pub fn normalize(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.contains('\r') {
        return text.to_string();
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// SHA-256 over the normalised content of a migration's files, in order (up, then down),
/// separated by a NUL byte. Pinned: changing it would mark every applied migration modified.
pub fn checksum<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for (i, p) in parts.into_iter().enumerate() {
        if i > 0 {
            h.update([0u8]);
        }
        h.update(p.as_bytes());
    }
    hex(&h.finalize())
}

/// SHA-256 (hex) of raw bytes: the checksum of a component, whose bytes are its content.
pub fn checksum_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The characters a migration name may hold.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 200 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Splits `VERSION_name` into its parts. Dashes between digits (diesel) are dropped.
/// Returns `None` when the stem does not start with a digit.
pub fn parse_stem(stem: &str) -> Option<Result<(i64, String), String>> {
    if !stem.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let end = stem
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '-'))
        .map(|(i, _)| i)
        .unwrap_or(stem.len());
    let (raw_version, rest) = stem.split_at(end);
    let digits: String = raw_version.chars().filter(char::is_ascii_digit).collect();
    let Some(name) = rest.strip_prefix('_') else {
        return Some(Err("expected `VERSION_name`: the version must be followed by `_` and a name".into()));
    };
    if !is_valid_name(name) {
        return Some(Err(format!(
            "the name `{name}` may only hold letters, digits, `_` and `-`"
        )));
    }
    match digits.parse::<i64>() {
        Ok(v) => Some(Ok((v, name.to_string()))),
        Err(_) => Some(Err(format!("version `{raw_version}` is too large (at most 19 digits)"))),
    }
}

/// Options on a marker line, read as dbmate reads them: whitespace-separated `key:value` pairs;
/// only `transaction` means anything, and only `transaction:false` turns the transaction off.
/// Other keys, and words that are not one `key:value` pair, are ignored (dbmate ignores them).
fn parse_marker_options(rest: &str) -> bool {
    let mut transaction = true;
    for opt in rest.split_whitespace() {
        let parts: Vec<&str> = opt.split(':').collect();
        if let ["transaction", value] = parts[..] {
            transaction = value != "false";
        }
    }
    transaction
}

/// Recognises a `-- migrate:up` / `-- migrate:down` marker as dbmate does: `--` at the very
/// start of the line, optional whitespace, `migrate:up` or `migrate:down`, then the end of the
/// line or whitespace and options. Returns the direction and the options text.
fn marker(line: &str) -> Option<(&'static str, &str)> {
    let l = line.strip_prefix("--")?.trim_start_matches([' ', '\t']);
    let l = l.strip_prefix("migrate:")?;
    for dir in ["up", "down"] {
        if let Some(rest) = l.strip_prefix(dir) {
            if rest.is_empty() || rest.starts_with(char::is_whitespace) {
                return Some((if dir == "up" { "up" } else { "down" }, rest));
            }
        }
    }
    None
}

/// A line that looks like a marker but is not one to dbmate (indented, other case, a space
/// after the colon): which marker it resembles.
fn near_marker(line: &str) -> Option<&'static str> {
    if marker(line).is_some() {
        return None;
    }
    let squeezed: String = line.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    let rest = squeezed.strip_prefix("--migrate:")?;
    if rest.starts_with("down") {
        Some("down")
    } else if rest.starts_with("up") && !rest[2..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Some("up")
    } else {
        None
    }
}

/// Reads a dbmate-style file with `-- migrate:up` / `-- migrate:down` sections, by dbmate's
/// rules: markers start at the very beginning of a line; the up section comes first; before
/// it only blank lines and `--` comment lines are allowed. db-migrate adds two: each marker
/// appears once, and a file without a down section is irreversible (dbmate refuses it).
pub fn parse_marked(text: &str, path: &Path) -> Result<(Script, Option<Script>), SourceError> {
    struct Section {
        marker_line: usize,
        start_line: usize,
        begin: usize,
        end: usize,
        transaction: bool,
    }
    let mut up: Option<Section> = None;
    let mut down: Option<Section> = None;
    let mut current: Option<&'static str> = None;
    let mut offset = 0;
    let mut near: Vec<(usize, &'static str)> = Vec::new();
    let mut duplicate = None;
    for (idx, line) in text.split_inclusive('\n').enumerate() {
        let lineno = idx + 1;
        let next = offset + line.len();
        if let Some((dir, rest)) = marker(line) {
            let slot = if dir == "up" { &mut up } else { &mut down };
            if slot.is_some() {
                duplicate.get_or_insert((lineno, dir));
            } else {
                *slot = Some(Section { marker_line: lineno, start_line: lineno + 1, begin: next, end: next, transaction: parse_marker_options(rest) });
            }
            current = Some(dir);
        } else {
            if let Some(dir) = near_marker(line) {
                near.push((lineno, dir));
            }
            let section = match current {
                Some("up") => up.as_mut(),
                Some(_) => down.as_mut(),
                None => None,
            };
            if let Some(section) = section {
                section.end = next;
            }
        }
        offset = next;
    }
    let looks_like = |dir: &str| near.iter().find(|(_, d)| *d == dir).map(|(l, _)| *l);
    let Some(up) = up else {
        let hint = match looks_like("up") {
            Some(l) => format!(
                " (line {l} looks like one, but a marker must be exactly `-- migrate:up` at the very start of its line, in lower case)"
            ),
            None => String::new(),
        };
        return Err(SourceError::file(
            path,
            format!(
                "no `-- migrate:up` section{hint}: a migration file starts its SQL with a `-- migrate:up` line \
                 (and may add a `-- migrate:down` section to make it reversible)"
            ),
        ));
    };
    if down.is_none() {
        if let Some(l) = looks_like("down") {
            return Err(SourceError::at(
                path,
                l,
                "this line looks like a `-- migrate:down` marker but is not one (a marker starts at the very beginning of its line, \
                 in lower case, with no space after the colon), so its SQL would run with the up section",
            ));
        }
    }
    if let Some(d) = &down {
        if d.marker_line < up.marker_line {
            return Err(SourceError::at(
                path,
                d.marker_line,
                format!("`-- migrate:down` comes before `-- migrate:up` (line {}): the up section must come first", up.marker_line),
            ));
        }
    }
    // Before the up marker: blank lines and `--` comments only (dbmate's rule; `/* */` counts as SQL).
    let preamble = &text[..up.begin];
    for (idx, line) in preamble.split_inclusive('\n').enumerate().take(up.marker_line - 1) {
        let t = line.trim_start();
        if !(t.trim().is_empty() || t.starts_with("--")) {
            return Err(SourceError::at(
                path,
                idx + 1,
                "text before the `-- migrate:up` marker would never run: only blank lines and `--` comments may come before it",
            ));
        }
    }
    if let Some((line, dir)) = duplicate {
        return Err(SourceError::at(
            path,
            line,
            format!(
                "a second `-- migrate:{dir}` marker: a file holds one up and one down section (dbmate 2 applies a second section, \
                 then fails recording the same file twice); put further changes in a new migration"
            ),
        ));
    }
    let to_script = |s: Section| Script {
        sql: text[s.begin..s.end].to_string(),
        path: path.to_path_buf(),
        first_line: s.start_line,
        transaction: s.transaction,
    };
    Ok((to_script(up), down.map(to_script)))
}

/// Reads one side of a pair (`.up.sql`/`.down.sql` or diesel's `up.sql`/`down.sql`). An optional
/// first line `-- migrate:up transaction:false` (or sqlx's `-- no-transaction`) sets options.
pub fn parse_plain(text: &str, path: &Path) -> Result<Script, SourceError> {
    let first = text.lines().next().unwrap_or("");
    let mut transaction = true;
    if let Some((_, rest)) = marker(first) {
        transaction = parse_marker_options(rest);
    } else if first.trim() == "-- no-transaction" {
        transaction = false;
    }
    Ok(Script { sql: text.to_string(), path: path.to_path_buf(), first_line: 1, transaction })
}

/// Turns a SQL file's bytes into normalised text, refusing what no database reads as SQL: bytes
/// that are not UTF-8, and NUL characters (C APIs such as SQLite's stop reading at a NUL, so the
/// rest of the file would silently not run — or, in a driver, never finish). The error names the
/// line, so the user can find the byte.
pub fn decode_sql(bytes: Vec<u8>, path: &Path) -> Result<String, SourceError> {
    let line_of = |bytes: &[u8], at: usize| bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let line = line_of(e.as_bytes(), at);
            return Err(SourceError::at(
                path,
                line,
                format!("byte {at} (0x{:02x}) is not valid UTF-8: SQL files must be UTF-8 text (re-save it as UTF-8)", e.as_bytes()[at]),
            ));
        }
    };
    if let Some(at) = memchr_nul(text.as_bytes()) {
        let line = line_of(text.as_bytes(), at);
        return Err(SourceError::at(path, line, format!("byte {at} is a NUL character: SQL files must be text (is this a binary file?)")));
    }
    Ok(normalize(&text))
}

/// Position of the first NUL byte.
fn memchr_nul(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == 0)
}

/// Reads `path`, which is `rel` inside `dir`: opening relative to the directory handle
/// (`openat`) spares the kernel a walk of the whole path per file, which is most of what
/// reading a thousand small migrations costs. The file is read without asking its size first:
/// `File::read_to_end` would `statx` and `lseek` each file to size its buffer, two system calls
/// of six per file; migrations are small, so one read into the initial buffer usually does.
fn read_bytes(dir: &Dir, rel: &Path, path: &Path) -> Result<Vec<u8>, SourceError> {
    use std::io::Read;
    /// Only `read`: the default `read_to_end` over it grows the buffer as it fills.
    struct Unsized<'a>(&'a mut cap_std::fs::File);
    impl Read for Unsized<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(buf)
        }
    }
    let err = |e: std::io::Error| SourceError::file(path, format!("cannot read: {e}"));
    let mut f = dir.open(rel).map_err(err)?;
    let mut buf = Vec::with_capacity(8192);
    Unsized(&mut f).read_to_end(&mut buf).map_err(err)?;
    Ok(buf)
}

/// Checks a script against rules that hold for every database: a transactional script may not
/// manage the transaction itself.
fn check_script(script: &Script) -> Result<(), SourceError> {
    check_transaction_control(script, "this migration", "remove it, or mark the section `transaction:false`")
}

/// Refuses a transaction-control statement in a script db-migrate wraps in a transaction
/// (migrations, callbacks, repeatable migrations, SQL seeds): it would end the unit of work
/// early, and what follows it — the rest of the script, the history row or seed record — would
/// run outside it. `what` names the script in the message; `fix` says what to do instead.
pub fn check_transaction_control(script: &Script, what: &str, fix: &str) -> Result<(), SourceError> {
    if script.transaction {
        if let Some(stmt) = statements::split(&script.sql).iter().find(|s| statements::is_transaction_control(s)) {
            return Err(SourceError::at(
                &script.path,
                script.file_line(stmt.line),
                format!("`{}` controls the transaction, but db-migrate already runs {what} in one; {fix}", stmt.keyword()),
            ));
        }
    }
    Ok(())
}

enum Found {
    Component(PathBuf),
    Knex(PathBuf),
    Commands(PathBuf),
    Marked(PathBuf),
    Up(PathBuf),
    Down(PathBuf),
    Dir(PathBuf),
}

/// What discovery makes of a directory entry: its stem and layout, or `None` when it is not
/// read at all.
fn kind_of(file_name: &str, is_dir: bool) -> Option<(&str, fn(PathBuf) -> Found)> {
    kind_in(file_name, is_dir, Format::Native)
}

/// [`kind_of`] for a folder of the given format.
fn kind_in(file_name: &str, is_dir: bool, format: Format) -> Option<(&str, fn(PathBuf) -> Found)> {
    if is_dir {
        return Some((file_name, Found::Dir));
    }
    if format == Format::Knex {
        // TypeScript declarations are not migrations (knex skips them too).
        if file_name.ends_with(".d.ts") || file_name.ends_with(".d.mts") || file_name.ends_with(".d.cts") {
            return None;
        }
        const KNEX: [&str; 6] = [".js", ".cjs", ".mjs", ".ts", ".mts", ".cts"];
        if let Some(stem) = KNEX.into_iter().find_map(|suffix| file_name.strip_suffix(suffix)) {
            return Some((stem, Found::Knex));
        }
    }
    let kinds: [(&str, fn(PathBuf) -> Found); 5] = [
        (".mongo.json", Found::Commands),
        (".up.sql", Found::Up),
        (".down.sql", Found::Down),
        (".sql", Found::Marked),
        (".wasm", Found::Component),
    ];
    kinds.into_iter().find_map(|(suffix, found)| file_name.strip_suffix(suffix).map(|s| (s, found)))
}

/// Why a `.sql` name without a leading version is refused, with the fix for the usual cases.
fn unversioned_hint(stem: &str) -> String {
    let flyway = stem.strip_prefix(['V', 'v']).and_then(|rest| {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))?;
        let (version, name) = rest.split_at(digits);
        let version = version.strip_suffix("__")?;
        Some((version.replace(['.', '_'], ""), name.to_string()))
    });
    match flyway {
        Some((v, name)) if !v.is_empty() => format!(
            "`{stem}` is a Flyway name (V<version>__<name>); db-migrate expects `VERSION_name.sql`, e.g. `{v}_{name}.sql` \
             (`db-migrate import --from flyway` converts a whole folder)"
        ),
        _ => "expected `VERSION_name.sql` (e.g. `20240101120000_add_users.sql`); \
              `db-migrate create --name NAME` makes one"
            .to_string(),
    }
}

/// A file in the migrations directory that is not read, with what db-migrate expects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NameWarning {
    /// The file or folder.
    pub file: String,
    /// Why it is not read, and what name would be.
    pub message: String,
}

/// What to say about a directory entry discovery skips; `None` for dotfiles and `README*`,
/// which are plainly not migrations.
pub fn skipped_name_warning(file_name: &str, is_dir: bool) -> Option<String> {
    let lower = file_name.to_ascii_lowercase();
    if file_name.starts_with('.') || lower.starts_with("readme") {
        return None;
    }
    // [workflow] `repeatable/`, `callbacks/`, `squashed/` and `R__name.sql` are read elsewhere.
    if super::workflow_files::is_reserved(file_name) {
        return None;
    }
    if is_dir {
        if file_name.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        return Some("a folder without a version is not read: a folder migration is `VERSION_name/` holding `up.sql` (and `down.sql`)".into());
    }
    if kind_of(file_name, false).is_some() {
        return None;
    }
    for suffix in [".mongo.json", ".up.sql", ".down.sql", ".sql", ".wasm"] {
        if lower.ends_with(suffix) {
            let stem = &file_name[..file_name.len() - suffix.len()];
            return Some(format!("not read: extensions are lower-case; rename it to `{stem}{suffix}`"));
        }
    }
    if let Some(at) = lower.find(".sql") {
        let extra = &file_name[at + 4..];
        return Some(format!(
            "not read: a migration's name ends in `.sql`, and this one goes on with `{extra}`; if it is a migration, rename it to `{}.sql`",
            &file_name[..at]
        ));
    }
    Some(
        "not a migration, so it is not read: db-migrate reads `VERSION_name.sql` (with `-- migrate:up`), \
         `VERSION_name.up.sql`/`.down.sql`, `VERSION_name/` folders, `.wasm` components and `.mongo.json` command files"
            .into(),
    )
}

/// Every entry of the migrations directory that discovery skips and that deserves a word.
/// Read-only, cheap (one directory listing), and never an error: an unreadable directory is
/// reported by discovery itself.
pub fn name_warnings(dir: &Path) -> Vec<NameWarning> {
    name_warnings_format(dir, Format::Native)
}

/// [`name_warnings`] for a folder of the given format (a knex folder's `.js` files are read).
pub fn name_warnings_format(dir: &Path, format: Format) -> Vec<NameWarning> {
    // An Alembic `versions/` folder holds `__pycache__`, `__init__.py` and the like: only its
    // `.py` revisions are read, and nothing else there is a misnamed migration.
    if format == Format::Alembic {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    name_warnings_of(entries.flatten(), format)
}

/// [`name_warnings_format`] of a listing already made.
pub fn name_warnings_of<E: std::borrow::Borrow<std::fs::DirEntry>>(entries: impl IntoIterator<Item = E>, format: Format) -> Vec<NameWarning> {
    if format == Format::Alembic {
        return Vec::new();
    }
    let mut out: Vec<NameWarning> = entries
        .into_iter()
        .filter_map(|e| {
            let e = e.borrow();
            let name = e.file_name().into_string().ok()?;
            let is_dir = e.file_type().map(|t| if t.is_symlink() { e.path().is_dir() } else { t.is_dir() }).unwrap_or(false);
            if !is_dir && format == Format::Knex && kind_in(&name, false, format).is_some() {
                return None;
            }
            let message = skipped_name_warning(&name, is_dir)?;
            Some(NameWarning { file: e.path().display().to_string(), message })
        })
        .collect();
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// Reads every migration in `dir`, sorted by version.
///
/// Files that are not migrations (`README.md`, `.gitkeep`, …) are ignored; a `.sql` file or a
/// digit-led folder whose name does not parse is an error.
pub fn discover(dir: &Path) -> Result<Vec<Migration>, SourceError> {
    discover_with(dir, &super::memo::ChecksumMemo::default())
}

/// [`discover`], taking components' checksums from `memo` where their files did not change.
pub fn discover_with(dir: &Path, memo: &super::memo::ChecksumMemo) -> Result<Vec<Migration>, SourceError> {
    discover_format(dir, memo, Format::Native)
}

/// [`discover_with`] for a folder of the given format (`Format::Knex` reads knex files too).
pub fn discover_format(dir: &Path, memo: &super::memo::ChecksumMemo, format: Format) -> Result<Vec<Migration>, SourceError> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SourceError::file(dir, "the migrations directory does not exist; run `db-migrate init` or point --dir at your project")
        } else {
            SourceError::file(dir, format!("cannot read the migrations directory: {e}"))
        }
    })?;
    if !meta.is_dir() {
        return Err(SourceError::file(dir, "is not a directory; the migrations directory must be a folder of migration files"));
    }
    let handle = Dir::open_ambient_dir(dir, cap_std::ambient_authority())
        .map_err(|e| SourceError::file(dir, format!("cannot open the migrations directory: {e}")))?;
    let entries = std::fs::read_dir(dir).map_err(|e| SourceError::file(dir, format!("cannot read the migrations directory: {e}")))?;

    let mut problems = Vec::new();
    let mut listed = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                problems.push(SourceError::file(dir, format!("cannot list the directory: {e}")));
                continue;
            }
        };
        let path = entry.path();
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            problems.push(SourceError::file(&path, "file name is not valid UTF-8"));
            continue;
        };
        if file_name.starts_with('.') {
            continue;
        }
        // [workflow] repeatable migrations (`R__name.sql`) are read by `super::workflow_files`.
        if super::workflow_files::is_reserved(file_name) {
            continue;
        }
        // The directory entry's own type avoids a stat per file (discovery runs on every command).
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_symlink() => path.is_dir(),
            Ok(t) => t.is_dir(),
            Err(_) => path.is_dir(),
        };
        listed.push(Entry { file_name: file_name.to_string(), path, is_dir });
    }
    collect_format(&DirFiles { handle: &handle, memo }, dir, listed, problems, format)
}

/// One entry at the top of a migrations folder, on disk or in memory.
pub(crate) struct Entry {
    /// Its name.
    pub file_name: String,
    /// The folder joined with the name.
    pub path: PathBuf,
    /// Whether it is a folder.
    pub is_dir: bool,
}

/// How discovery reads the files of a migrations folder, wherever they are.
pub(crate) trait Files: Sync {
    /// The bytes of `path` (`rel` inside the folder).
    fn read(&self, rel: &Path, path: &Path) -> Result<Vec<u8>, SourceError>;
    /// Whether `rel` is a file.
    fn is_file(&self, rel: &Path) -> bool;
    /// A component's checksum, and its bytes when they are in memory.
    fn component(&self, rel: &Path, path: &Path) -> Result<(String, Option<FileBytes>), SourceError>;
    /// The remembered checksum of a single-file SQL migration that need not be read (for
    /// `status`: see [`super::memo::ChecksumMemo::for_status`]).
    fn unread_sql(&self, _path: &Path) -> Option<String> {
        None
    }
    /// Remembers the checksum of a single-file SQL migration just read.
    fn read_sql(&self, _path: &Path, _checksum: &str) {}
    /// Whether most files will be answered without reading them (`status` with a memo), so
    /// that threads to read them would cost more than they save.
    fn reads_little(&self) -> bool {
        false
    }
}

/// The files of a directory on disk, read through its handle.
struct DirFiles<'a> {
    handle: &'a Dir,
    memo: &'a super::memo::ChecksumMemo,
}

impl Files for DirFiles<'_> {
    fn read(&self, rel: &Path, path: &Path) -> Result<Vec<u8>, SourceError> {
        read_bytes(self.handle, rel, path)
    }

    fn is_file(&self, rel: &Path) -> bool {
        self.handle.is_file(rel)
    }

    fn component(&self, rel: &Path, path: &Path) -> Result<(String, Option<FileBytes>), SourceError> {
        if let Some(checksum) = self.memo.get(path) {
            return Ok((checksum, None));
        }
        let checksum = checksum_bytes(&read_bytes(self.handle, rel, path)?);
        self.memo.put(path, &checksum);
        Ok((checksum, None))
    }

    fn unread_sql(&self, path: &Path) -> Option<String> {
        if !self.memo.hollow_sql() {
            return None;
        }
        self.memo.get(path)
    }

    fn read_sql(&self, path: &Path, checksum: &str) {
        self.memo.put(path, checksum);
    }

    fn reads_little(&self) -> bool {
        self.memo.hollow_sql()
    }
}

/// Groups the entries of the folder `dir` into migrations, reads them, and reports every
/// problem at once (the `problems` found while listing included): shared by the directory and
/// the in-memory sources, so both read a set of files the same way.
pub(crate) fn collect(files: &impl Files, dir: &Path, entries: Vec<Entry>, problems: Vec<SourceError>) -> Result<Vec<Migration>, SourceError> {
    collect_format(files, dir, entries, problems, Format::Native)
}

/// [`collect`] for a folder of the given format.
pub(crate) fn collect_format(
    files: &impl Files,
    dir: &Path,
    entries: Vec<Entry>,
    mut problems: Vec<SourceError>,
    format: Format,
) -> Result<Vec<Migration>, SourceError> {
    if format == Format::Alembic {
        return super::alembic::collect(files, dir, entries, problems);
    }
    let mut groups: BTreeMap<(i64, String), Vec<Found>> = BTreeMap::new();
    for Entry { file_name, path, is_dir } in entries {
        let Some((stem, found)) = kind_in(&file_name, is_dir, format) else { continue };
        match parse_stem(stem) {
            Some(Ok(key)) => groups.entry(key).or_default().push(found(path)),
            Some(Err(why)) => problems.push(SourceError::file(&path, format!("bad migration name: {why}"))),
            None if is_dir => {}
            None => problems.push(SourceError::file(&path, format!("bad migration name: {}", unversioned_hint(stem)))),
        }
    }

    let mut migrations: Vec<Migration> = Vec::new();
    for result in assemble_all(files, dir, groups.into_iter().collect()) {
        match result {
            Ok(m) => migrations.push(m),
            Err(e) => problems.push(e),
        }
    }
    migrations.sort_by(|a, b| a.version.cmp(&b.version).then_with(|| a.path.cmp(&b.path)));
    for pair in migrations.windows(2) {
        if pair[0].version == pair[1].version {
            problems.push(SourceError::file(
                &pair[1].path,
                format!("duplicate version {}: also used by {}", pair[1].version, pair[0].path.display()),
            ));
        }
    }
    match problems.len() {
        0 => Ok(migrations),
        1 => Err(problems.remove(0)),
        _ => Err(SourceError::Many(problems)),
    }
}

/// Reads and parses every group. Reading is bound by system calls, so large directories are
/// split across a few threads; results keep their order.
fn assemble_all(files: &impl Files, dir: &Path, groups: Vec<((i64, String), Vec<Found>)>) -> Vec<Result<Migration, SourceError>> {
    let serial = |groups: Vec<_>| groups.into_iter().map(|((v, n), f)| assemble(files, dir, v, n, f)).collect();
    if groups.len() < 64 || files.reads_little() {
        return serial(groups);
    }
    // Asked only now: it reads the cgroup's CPU quota (three files).
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(4);
    if threads < 2 {
        return serial(groups);
    }
    let chunk = groups.len().div_ceil(threads);
    let mut groups = groups;
    let mut chunks = Vec::new();
    while !groups.is_empty() {
        let rest = groups.split_off(chunk.min(groups.len()));
        chunks.push(std::mem::replace(&mut groups, rest));
    }
    // The calling thread reads the last chunk itself: one thread fewer to start.
    let own = chunks.pop().unwrap_or_default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|c| scope.spawn(move || c.into_iter().map(|((v, n), f)| assemble(files, dir, v, n, f)).collect::<Vec<_>>()))
            .collect();
        let mine: Vec<_> = own.into_iter().map(|((v, n), f)| assemble(files, dir, v, n, f)).collect();
        // A reader thread that panicked passes its panic on, as if the files were read here.
        let mut out: Vec<_> = handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect();
        out.extend(mine);
        out
    })
}

fn assemble(files: &impl Files, dir: &Path, version: i64, name: String, found: Vec<Found>) -> Result<Migration, SourceError> {
    let mut marked = None;
    let mut component = None;
    let mut knex = None;
    let mut commands = None;
    let mut up = None;
    let mut down = None;
    let mut folder = None;
    for f in found {
        match f {
            Found::Marked(p) => marked = Some(p),
            Found::Component(p) => component = Some(p),
            Found::Knex(p) => knex = Some(p),
            Found::Commands(p) => commands = Some(p),
            Found::Up(p) => up = Some(p),
            Found::Down(p) => down = Some(p),
            Found::Dir(p) => folder = Some(p),
        }
    }
    let sources = [marked.is_some(), up.is_some() || down.is_some(), folder.is_some(), component.is_some(), commands.is_some(), knex.is_some()];
    let first = [&marked, &up, &down, &folder, &component, &commands, &knex].into_iter().flatten().next();
    if let Some(any) = first.filter(|_| sources.iter().filter(|&&b| b).count() > 1) {
        return Err(SourceError::file(
            any,
            format!("migration {version}_{name} exists in more than one form (.sql file, .up/.down pair, folder, .wasm component, .mongo.json, knex .js); keep one"),
        ));
    }
    let rel = |p: &Path| p.strip_prefix(dir).map(Path::to_path_buf).unwrap_or_else(|_| p.to_path_buf());
    if let Some(p) = component {
        let (checksum, bytes) = files.component(&rel(&p), &p)?;
        return Ok(Migration { version, name, path: p, body: Body::Component(bytes), checksum });
    }
    // Paths are read relative to the migrations directory, through its handle.
    let read = |p: &Path| decode_sql(files.read(&rel(p), p)?, p);
    if let Some(p) = knex {
        // A knex file is data for the knex runtime: its checksum is its text's, like SQL's.
        let source = read(&p)?;
        let checksum = checksum([source.as_str()]);
        return Ok(Migration { version, name, path: p, body: Body::Knex { source }, checksum });
    }
    if let Some(p) = commands {
        let text = read(&p)?;
        let (up, down) = super::commands::parse(&text, &p)?;
        let checksum = checksum([text.as_str()]);
        return Ok(Migration { version, name, path: p, body: Body::Commands { up, down }, checksum });
    }
    if let Some(p) = marked.as_ref() {
        if let Some(checksum) = files.unread_sql(p) {
            // `status`: the file is as it was when a run read (and checked) it.
            let up = Script { sql: String::new(), path: p.clone(), first_line: 1, transaction: true };
            return Ok(Migration { version, name, path: p.clone(), checksum, body: Body::Sql { up, down: None } });
        }
    }
    let single = marked.is_some();
    let (path, up_script, down_script, texts) = if let Some(p) = marked {
        let text = read(&p)?;
        let (u, d) = parse_marked(&text, &p)?;
        (p, u, d, vec![text])
    } else if let Some(dir) = folder {
        let up_path = dir.join("up.sql");
        let down_path = dir.join("down.sql");
        if !files.is_file(&rel(&up_path)) {
            return Err(SourceError::file(&dir, "migration folder has no `up.sql`"));
        }
        let ut = read(&up_path)?;
        let u = parse_plain(&ut, &up_path)?;
        let mut texts = vec![ut];
        let d = if files.is_file(&rel(&down_path)) {
            let dt = read(&down_path)?;
            let d = parse_plain(&dt, &down_path)?;
            texts.push(dt);
            Some(d)
        } else {
            None
        };
        (dir, u, d, texts)
    } else {
        let Some(up_path) = up else {
            // Each version assembled was found as at least one file: here, a lone `.down.sql`.
            return Err(SourceError::file(down.as_deref().unwrap_or(dir), "a `.down.sql` file without its `.up.sql`"));
        };
        let ut = read(&up_path)?;
        let u = parse_plain(&ut, &up_path)?;
        let mut texts = vec![ut];
        let d = match down {
            Some(dp) => {
                let dt = read(&dp)?;
                let d = parse_plain(&dt, &dp)?;
                texts.push(dt);
                Some(d)
            }
            None => None,
        };
        (up_path, u, d, texts)
    };
    check_script(&up_script)?;
    if let Some(d) = &down_script {
        check_script(d)?;
    }
    let checksum = checksum(texts.iter().map(String::as_str));
    // Remembered for `status`, unless it is a squashed migration (`status` reads the versions it
    // replaces from its text).
    if single && !texts[0].contains(super::squash::REPLACES_MARK) {
        files.read_sql(&path, &checksum);
    }
    Ok(Migration { version, name, path, checksum, body: Body::Sql { up: up_script, down: down_script } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_parse_versions_and_names() {
        assert_eq!(parse_stem("20240101120000_add_users"), Some(Ok((20240101120000, "add_users".into()))));
        assert_eq!(parse_stem("2019-02-26-002946_create_posts"), Some(Ok((20190226002946, "create_posts".into()))));
        assert_eq!(parse_stem("001_init"), Some(Ok((1, "init".into()))));
        assert!(parse_stem("123").unwrap().is_err());
        assert!(parse_stem("123_bad name").unwrap().is_err());
        assert!(parse_stem("99999999999999999999_x").unwrap().is_err());
        assert_eq!(parse_stem("init"), None);
    }

    #[test]
    fn normalisation_strips_bom_and_crlf() {
        assert_eq!(normalize("\u{feff}a\r\nb\rc\n"), "a\nb\nc\n");
        assert_eq!(checksum(["x\n"]), checksum([normalize("x\r\n").as_str()]));
        assert_ne!(checksum(["a", "b"]), checksum(["ab"]));
    }

    #[test]
    fn checksum_is_pinned_sha256() {
        // SHA-256 of "" — changing the algorithm must fail this test.
        assert_eq!(checksum([""]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn marked_file_sections_and_lines() {
        let text = "-- header comment\n-- migrate:up\nCREATE TABLE a (id int);\n\n-- migrate:down transaction:false\nDROP TABLE a;\n";
        let (up, down) = parse_marked(text, Path::new("x.sql")).unwrap();
        assert_eq!(up.sql, "CREATE TABLE a (id int);\n\n");
        assert_eq!(up.first_line, 3);
        assert!(up.transaction);
        let down = down.unwrap();
        assert_eq!(down.sql, "DROP TABLE a;\n");
        assert_eq!(down.first_line, 6);
        assert!(!down.transaction);
    }

    // dbmate's parser cases (pkg/dbmate/migration_test.go), restated for db-migrate.
    fn err(text: &str) -> String {
        parse_marked(text, Path::new("x.sql")).unwrap_err().to_string()
    }

    #[test]
    fn dbmate_typical_file() {
        let (up, down) = parse_marked("-- migrate:up\ncreate table users (id serial);\n-- migrate:down\ndrop table users;", Path::new("x.sql")).unwrap();
        assert_eq!(up.sql, "create table users (id serial);\n");
        assert_eq!(down.unwrap().sql, "drop table users;");
        assert!(up.transaction);
    }

    #[test]
    fn dbmate_no_space_needed_after_the_dashes() {
        let (up, down) = parse_marked("\n--migrate:up\nselect 1;\n\n--migrate:down\nselect 2;\n", Path::new("x.sql")).unwrap();
        assert_eq!((up.sql.as_str(), up.first_line), ("select 1;\n\n", 3));
        assert_eq!(down.unwrap().sql, "select 2;\n");
    }

    #[test]
    fn dbmate_up_must_come_before_down() {
        let e = err("-- migrate:down\ndrop table users;\n-- migrate:up\ncreate table users (id int);\n");
        assert!(e.contains("x.sql:1") && e.contains("comes before `-- migrate:up` (line 3)"), "{e}");
    }

    #[test]
    fn dbmate_transaction_option() {
        let (up, down) = parse_marked("-- migrate:up transaction:false\nselect 1;\n-- migrate:down transaction:true\nselect 2;\n", Path::new("x.sql")).unwrap();
        assert!(!up.transaction);
        assert!(down.unwrap().transaction);
        // Only the exact value `false` turns it off; unknown keys and stray words are ignored.
        for line in ["-- migrate:up transaction:False", "-- migrate:up foo:bar", "-- migrate:up nonsense", "-- migrate:up transaction:false:x"] {
            let (up, _) = parse_marked(&format!("{line}\nselect 1;\n"), Path::new("x.sql")).unwrap();
            assert!(up.transaction, "{line}");
        }
        let (up, _) = parse_marked("-- migrate:up foo:bar  transaction:false\nselect 1;\n", Path::new("x.sql")).unwrap();
        assert!(!up.transaction);
    }

    #[test]
    fn dbmate_requires_an_up_block() {
        assert!(err("\nALTER TABLE users ADD COLUMN status int;\n").contains("no `-- migrate:up` section"));
        assert!(err("-- migrate:down\ndrop table users;\n").contains("no `-- migrate:up` section"));
    }

    #[test]
    fn missing_down_block_is_irreversible_where_dbmate_refuses() {
        let (_, down) = parse_marked("-- migrate:up\ncreate table users (id int);\n", Path::new("x.sql")).unwrap();
        assert!(down.is_none());
    }

    #[test]
    fn dbmate_allows_comments_and_blank_lines_before_up() {
        let text = "\n-- This migration creates the users table.\n  -- indented comment\n\n-- migrate:up\ncreate table users (id int);\n\n-- migrate:down\ndrop table users;\n";
        let (up, down) = parse_marked(text, Path::new("x.sql")).unwrap();
        assert_eq!(up.first_line, 6);
        assert_eq!(down.unwrap().first_line, 9);
    }

    #[test]
    fn dbmate_refuses_statements_before_up() {
        let e = err("\n-- create status_type\nCREATE TYPE status AS ENUM ('a');\n\n-- migrate:up\nselect 1;\n");
        assert!(e.contains("x.sql:3") && e.contains("before the `-- migrate:up` marker"), "{e}");
        // A block comment is not a `--` comment line.
        assert!(err("/* header */\n-- migrate:up\nselect 1;\n").contains("x.sql:1"));
    }

    #[test]
    fn dbmate_crlf_files_parse_after_normalisation() {
        let text = normalize("-- migrate:up transaction:true\r\ncreate table users (id int);\r\n-- migrate:down\r\ndrop table users;\r\n");
        let (up, down) = parse_marked(&text, Path::new("x.sql")).unwrap();
        assert_eq!(up.sql, "create table users (id int);\n");
        assert!(up.transaction);
        assert_eq!(down.unwrap().sql, "drop table users;\n");
    }

    #[test]
    fn each_marker_appears_once() {
        let e = err("-- migrate:up\nselect 1;\n-- migrate:up\nselect 2;\n-- migrate:down\nselect 3;\n");
        assert!(e.contains("x.sql:3") && e.contains("second `-- migrate:up`"), "{e}");
        let e = err("-- migrate:up\nselect 1;\n-- migrate:down\nselect 2;\n-- migrate:down\nselect 3;\n");
        assert!(e.contains("x.sql:5") && e.contains("second `-- migrate:down`"), "{e}");
    }

    #[test]
    fn markers_start_at_the_very_beginning_of_the_line() {
        let e = err("  -- migrate:up\nselect 1;\n");
        assert!(e.contains("no `-- migrate:up` section (line 1 looks like one"), "{e}");
        // An indented down marker is SQL to dbmate: refused rather than run with the up section.
        let e = err("-- migrate:up\nselect 1;\n  -- migrate:down\nselect 2;\n");
        assert!(e.contains("x.sql:3") && e.contains("looks like a `-- migrate:down` marker"), "{e}");
        let e = err("-- migrate:up\nselect 1;\n-- Migrate:Down\nselect 2;\n");
        assert!(e.contains("x.sql:3"), "{e}");
        // With the real markers present, a look-alike is just a comment.
        assert!(parse_marked("-- migrate:up\n  -- migrate:down is below\nselect 1;\n-- migrate:down\nselect 2;\n", Path::new("x.sql")).is_ok());
    }

    #[test]
    fn markers_take_any_options_as_dbmate_2_does() {
        // dbmate 2's down marker, like its up marker, takes any `key:value` words; only
        // `transaction` means something.
        let (up, down) = parse_marked("-- migrate:up\nselect 1;\n-- migrate:down transaction:false foo:bar\nselect 2;\n", Path::new("x.sql")).unwrap();
        assert!(up.transaction);
        let down = down.unwrap();
        assert!(!down.transaction && down.sql.contains("select 2"));
        let (up, _) = parse_marked("-- migrate:up transaction:false foo:bar\nselect 1;\n", Path::new("x.sql")).unwrap();
        assert!(!up.transaction);
    }

    #[test]
    fn near_miss_names_get_a_warning_and_plain_notes_do_not() {
        for silent in [".gitkeep", "README.md", "readme.txt", "1_users.sql", "1_users.up.SQL.sql", "2_x.wasm"] {
            assert_eq!(skipped_name_warning(silent, false), None, "{silent}");
        }
        let w = skipped_name_warning("1_users.SQL", false).unwrap();
        assert!(w.contains("`1_users.sql`"), "{w}");
        let w = skipped_name_warning("1_users.up.SQL", false).unwrap();
        assert!(w.contains("`1_users.up.sql`"), "{w}");
        let w = skipped_name_warning("1_users.sql.txt", false).unwrap();
        assert!(w.contains("`.txt`") && w.contains("`1_users.sql`"), "{w}");
        assert!(skipped_name_warning("notes.txt", false).unwrap().contains("VERSION_name.sql"));
        assert!(skipped_name_warning("drafts", true).unwrap().contains("VERSION_name/"));
        assert_eq!(skipped_name_warning("3_tags", true), None);
    }

    #[test]
    fn flyway_names_get_a_rename_hint() {
        let h = unversioned_hint("V1__create_users");
        assert!(h.contains("`1_create_users.sql`") && h.contains("import --from flyway"), "{h}");
        assert!(unversioned_hint("V2_1__x").contains("`21_x.sql`"));
        assert!(unversioned_hint("add_users").contains("VERSION_name.sql"));
    }

    #[test]
    fn marker_needs_exact_word() {
        assert!(marker("-- migrate:upgrade").is_none());
        assert!(marker("  -- migrate:up").is_none());
        assert_eq!(marker("--migrate:down").map(|m| m.0), Some("down"));
        assert_eq!(marker("-- \tmigrate:up \n").map(|m| m.0), Some("up"));
    }
}
