//! Reading an Alembic `versions/` folder (`[migrations] format = "alembic"`) into migrations.
//!
//! Alembic orders revisions by a graph (`down_revision`), not by file name, and its ids are
//! random hex. db-migrate needs a number per migration and one order, so:
//! - the version is the revision's `Create Date:` (the line `alembic revision` writes into the
//!   docstring) as `YYYYMMDDHHMMSS`: stable, readable, and increasing in the order files were made;
//! - the order is the graph's, and the dates must agree with it (a revision is dated after every
//!   revision it follows), so ordering by version *is* a topological order of the graph — merges,
//!   several roots and several heads included. A file whose date contradicts the graph is refused
//!   rather than silently reordered.
//!
//! The files are read, never run: a line parser takes `revision` and `down_revision` (plain or
//! annotated assignments at the start of a line). Each file is data for the Alembic runtime
//! (`sandbox::alembic`), its checksum is its text's.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::error::SourceError;
use super::source::{Body, Entry, Files, Migration, checksum, decode_sql};

/// What the header of one revision file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `revision = '…'`.
    pub revision: Option<String>,
    /// `down_revision = …`: the revisions this one follows (empty for a root).
    pub down: Vec<String>,
    /// `Create Date: …` as `YYYYMMDDHHMMSS`.
    pub created: Option<i64>,
    /// `depends_on = …`: revisions (ids or branch labels) that must run first without being
    /// parents.
    pub depends_on: Vec<String>,
    /// `branch_labels = …`: names other revisions' `depends_on` may use for this one.
    pub branch_labels: Vec<String>,
}

/// The value of a module-level assignment `name = …` or `name: T = …` on this line, if it is one.
fn assignment<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(name)?;
    let rest = rest.trim_start();
    let rest = if let Some(typed) = rest.strip_prefix(':') {
        // `revision: str = "…"`, `down_revision: Union[str, Sequence[str], None] = None`
        let eq = typed.find('=')?;
        &typed[eq..]
    } else {
        rest
    };
    let value = rest.strip_prefix('=')?;
    (!value.starts_with('=')).then(|| value.trim())
}

/// A Python string literal (`'x'` or `"x"`, no escapes); `None` for anything else.
fn string(s: &str) -> Option<String> {
    let s = s.trim();
    let inner = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')).or_else(|| s.strip_prefix('"').and_then(|r| r.strip_suffix('"')))?;
    (!inner.contains(['\'', '"', '\\'])).then(|| inner.to_string())
}

/// `None`, a string, or a tuple/list of strings.
fn revisions(value: &str) -> Result<Vec<String>, String> {
    let v = value.split('#').next().unwrap_or(value).trim();
    if v == "None" {
        return Ok(Vec::new());
    }
    if let Some(one) = string(v) {
        return Ok(vec![one]);
    }
    let inner = v
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .or_else(|| v.strip_prefix('[').and_then(|r| r.strip_suffix(']')))
        .ok_or_else(|| format!("`{v}` is not None, a string or a tuple of strings"))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| string(p).ok_or_else(|| format!("`{p}` in `{v}` is not a string")))
        .collect()
}

/// `2026-11-30 10:00:00[.ffffff]` (what follows `Create Date:`) as `20261130100000`.
fn create_date(text: &str) -> Option<i64> {
    let digits: String = text.trim().chars().take(19).filter(|c| c.is_ascii_digit()).collect();
    let shape = text.trim().as_bytes();
    let ok = shape.len() >= 19 && shape[4] == b'-' && shape[7] == b'-' && (shape[10] == b' ' || shape[10] == b'T') && shape[13] == b':' && shape[16] == b':';
    (ok && digits.len() == 14).then(|| digits.parse().ok()).flatten()
}

/// Reads a revision file's header; `Err` names what cannot be read.
pub fn parse_header(text: &str) -> Result<Header, String> {
    let mut h = Header { revision: None, down: Vec::new(), created: None, depends_on: Vec::new(), branch_labels: Vec::new() };
    // The graph is read from the text, without running the file: a second line that looks like
    // an assignment (in a string, say) could make db-migrate's order differ from Alembic's, so
    // two of either are refused rather than guessed between.
    let (mut revision_at, mut down_at, mut depends_at, mut labels_at) = (None, None, None, None);
    for (n, line) in text.lines().enumerate() {
        if h.created.is_none() {
            if let Some(at) = line.find("Create Date:") {
                h.created = create_date(&line[at + "Create Date:".len()..]);
            }
        }
        if let Some(v) = assignment(line, "revision") {
            if let Some(first) = revision_at.replace(n + 1) {
                return Err(format!("`revision` is assigned on lines {first} and {}: db-migrate reads it without running the file, so it must be assigned once", n + 1));
            }
            h.revision = Some(string(v.split('#').next().unwrap_or(v)).ok_or_else(|| format!("`revision = {v}` is not a string"))?);
        } else if let Some(v) = assignment(line, "down_revision") {
            if let Some(first) = down_at.replace(n + 1) {
                return Err(format!("`down_revision` is assigned on lines {first} and {}: db-migrate reads it without running the file, so it must be assigned once", n + 1));
            }
            h.down = revisions(v).map_err(|e| format!("down_revision: {e}"))?;
        } else if let Some(v) = assignment(line, "depends_on") {
            if let Some(first) = depends_at.replace(n + 1) {
                return Err(format!("`depends_on` is assigned on lines {first} and {}: db-migrate reads it without running the file, so it must be assigned once", n + 1));
            }
            h.depends_on = revisions(v).map_err(|e| format!("depends_on: {e}"))?;
        } else if let Some(v) = assignment(line, "branch_labels") {
            if let Some(first) = labels_at.replace(n + 1) {
                return Err(format!("`branch_labels` is assigned on lines {first} and {}: db-migrate reads it without running the file, so it must be assigned once", n + 1));
            }
            h.branch_labels = revisions(v).map_err(|e| format!("branch_labels: {e}"))?;
        }
    }
    Ok(h)
}

/// One revision file, read.
struct Rev {
    path: PathBuf,
    name: String,
    revision: String,
    down: Vec<String>,
    depends_on: Vec<String>,
    branch_labels: Vec<String>,
    version: i64,
    source: String,
}

/// Reads the `*.py` revision files among `entries` (not `__init__.py`, nor any name starting
/// with `_`) and orders them; every problem is reported at once.
pub(crate) fn collect(files: &impl Files, dir: &Path, entries: Vec<Entry>, mut problems: Vec<SourceError>) -> Result<Vec<Migration>, SourceError> {
    let mut revs: Vec<Rev> = Vec::new();
    for Entry { file_name, path, is_dir } in entries {
        if is_dir || file_name.starts_with('_') {
            continue;
        }
        let Some(stem) = file_name.strip_suffix(".py") else { continue };
        let rel = path.strip_prefix(dir).map(Path::to_path_buf).unwrap_or_else(|_| path.clone());
        let source = match files.read(&rel, &path).and_then(|b| decode_sql(b, &path)) {
            Ok(s) => s,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        match parse_header(&source) {
            Err(why) => problems.push(SourceError::file(&path, format!("not an Alembic revision file: {why}"))),
            Ok(Header { revision: None, .. }) => {
                problems.push(SourceError::file(&path, "not an Alembic revision file: no `revision = '…'` line"))
            }
            Ok(Header { created: None, .. }) => problems.push(SourceError::file(
                &path,
                "no `Create Date: YYYY-MM-DD HH:MM:SS` line in its docstring (what `alembic revision` writes): db-migrate takes the migration's version from it",
            )),
            Ok(Header { revision: Some(revision), down, created: Some(version), depends_on, branch_labels }) => {
                revs.push(Rev { path, name: stem.to_string(), revision, down, depends_on, branch_labels, version, source })
            }
        }
    }
    revs.sort_by(|a, b| a.version.cmp(&b.version).then_with(|| a.path.cmp(&b.path)));
    problems.extend(check_graph(&revs));
    if !problems.is_empty() {
        return Err(if problems.len() == 1 { problems.remove(0) } else { SourceError::Many(problems) });
    }
    Ok(revs
        .into_iter()
        .map(|r| {
            let checksum = checksum([r.source.as_str()]);
            Migration { version: r.version, name: r.name, path: r.path, body: Body::Alembic { source: r.source }, checksum }
        })
        .collect())
}

/// Every revision `r` must follow: its parents, then what it depends on (with how, and the name
/// its file gives).
fn before<'a>(r: &'a Rev, by_id: &HashMap<&str, &'a Rev>, by_label: &HashMap<&str, &'a Rev>) -> Vec<(&'a Rev, &'static str, &'a str)> {
    let parents = r.down.iter().filter_map(|d| by_id.get(d.as_str()).map(|p| (*p, "follows (down_revision", d.as_str())));
    let deps = r.depends_on.iter().filter_map(|d| by_id.get(d.as_str()).or_else(|| by_label.get(d.as_str())).map(|p| (*p, "depends on (depends_on", d.as_str())));
    parents.chain(deps).collect()
}

/// Duplicate revisions, versions or branch labels, unknown parents and dependencies, cycles, and
/// dates against the graph (a revision runs after its parents and after what it depends on).
fn check_graph(revs: &[Rev]) -> Vec<SourceError> {
    let mut problems = Vec::new();
    let mut by_id: HashMap<&str, &Rev> = HashMap::new();
    for r in revs {
        if let Some(other) = by_id.insert(&r.revision, r) {
            problems.push(SourceError::file(&r.path, format!("revision `{}` is also the revision of {}", r.revision, other.path.display())));
        }
    }
    for pair in revs.windows(2) {
        if pair[0].version == pair[1].version {
            problems.push(SourceError::file(
                &pair[1].path,
                format!(
                    "same Create Date ({}) as {}: db-migrate's version is the Create Date, so two revisions need different ones (edit one by a second)",
                    pair[1].version,
                    pair[0].path.display()
                ),
            ));
        }
    }
    // `depends_on` may name a branch label: the revision that declares it.
    let mut by_label: HashMap<&str, &Rev> = HashMap::new();
    for r in revs {
        for l in &r.branch_labels {
            if let Some(other) = by_label.insert(l, r) {
                problems.push(SourceError::file(&r.path, format!("branch label `{l}` is also a branch label of {}", other.path.display())));
            }
        }
    }
    for r in revs {
        for d in &r.down {
            if !by_id.contains_key(d.as_str()) {
                problems.push(SourceError::file(&r.path, format!("down_revision `{d}` is not the revision of any file in the folder")));
            }
        }
        for d in &r.depends_on {
            if !by_id.contains_key(d.as_str()) && !by_label.contains_key(d.as_str()) {
                problems.push(SourceError::file(&r.path, format!("depends_on `{d}` is neither the revision nor a branch label of any file in the folder")));
            }
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    let before = |r| before(r, &by_id, &by_label);
    // A cycle: Kahn's algorithm leaves its revisions unvisited.
    let mut pending: BTreeMap<&str, usize> = revs.iter().map(|r| (r.revision.as_str(), before(r).len())).collect();
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in revs {
        for (p, _, _) in before(r) {
            children.entry(p.revision.as_str()).or_default().push(&r.revision);
        }
    }
    let mut ready: Vec<&str> = pending.iter().filter(|(_, n)| **n == 0).map(|(k, _)| *k).collect();
    while let Some(id) = ready.pop() {
        pending.remove(id);
        for c in children.get(id).into_iter().flatten() {
            if let Some(n) = pending.get_mut(c) {
                *n -= 1;
                if *n == 0 {
                    ready.push(c);
                }
            }
        }
    }
    if !pending.is_empty() {
        let files: Vec<String> = pending.keys().map(|id| by_id[id].path.display().to_string()).collect();
        let first = &by_id[pending.keys().next().expect("not empty")].path;
        problems.push(SourceError::file(first, format!("the revision graph (down_revision, depends_on) has a cycle through {}", files.join(", "))));
        return problems;
    }
    for r in revs {
        for (parent, how, d) in before(r) {
            if parent.version >= r.version {
                problems.push(SourceError::file(
                    &r.path,
                    format!(
                        "its Create Date ({}) is not after that of {} ({}), which it {how} `{d}`): db-migrate runs revisions in Create Date order, so the dates must agree with the graph",
                        r.version,
                        parent.path.display(),
                        parent.version
                    ),
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_assignment_is_refused_not_guessed_between() {
        let text = "\"\"\"x\n\nCreate Date: 2024-01-02 00:00:00\n\"\"\"\nrevision = 'c3'\ndown_revision = 'b2'\nNOTE = \"\"\"\ndown_revision = 'a1'\n\"\"\"\n";
        let e = parse_header(text).unwrap_err();
        assert!(e.contains("`down_revision` is assigned on lines 6 and 8"), "{e}");
    }

    #[test]
    fn headers_in_the_forms_alembic_writes() {
        let text = "\"\"\"add slug\n\nRevision ID: b2\nRevises: a1\nCreate Date: 2026-11-30 10:05:00.123456\n\n\"\"\"\nrevision = 'b2'\ndown_revision = 'a1'\nbranch_labels = None\n";
        assert_eq!(parse_header(text).unwrap(), Header { revision: Some("b2".into()), down: vec!["a1".into()], created: Some(20261130100500), depends_on: vec![], branch_labels: vec![] });
        let typed = "\"\"\"x\nCreate Date: 2026-01-02 03:04:05\n\"\"\"\nrevision: str = \"c3\"\ndown_revision: Union[str, Sequence[str], None] = None\n";
        assert_eq!(parse_header(typed).unwrap(), Header { revision: Some("c3".into()), down: vec![], created: Some(20260102030405), depends_on: vec![], branch_labels: vec![] });
        let merge = "Create Date: 2026-01-02 03:04:05\nrevision = 'm'\ndown_revision = ('a', \"b\")  # merge\n";
        assert_eq!(parse_header(merge).unwrap().down, vec!["a".to_string(), "b".to_string()]);
        assert!(parse_header("revision = some_function()\n").is_err());
        assert!(parse_header("revision = 'x'\ndown_revision = f()\n").is_err());
        // `revision_x = …` and `revision == …` are not the assignment.
        assert_eq!(parse_header("revision_id = 'no'\nif revision == 'x': pass\n").unwrap().revision, None);
        assert_eq!(parse_header("Create Date: yesterday\n").unwrap().created, None);
    }

    fn rev(id: &str, down: &[&str], version: i64) -> Rev {
        Rev {
            path: PathBuf::from(format!("{id}.py")),
            name: id.into(),
            revision: id.into(),
            down: down.iter().map(|s| s.to_string()).collect(),
            depends_on: Vec::new(),
            branch_labels: Vec::new(),
            version,
            source: String::new(),
        }
    }

    fn depends(mut r: Rev, on: &[&str]) -> Rev {
        r.depends_on = on.iter().map(|s| s.to_string()).collect();
        r
    }

    fn labelled(mut r: Rev, label: &str) -> Rev {
        r.branch_labels = vec![label.to_string()];
        r
    }

    #[test]
    fn depends_on_orders_like_a_parent_by_id_or_branch_label() {
        let h = parse_header("Create Date: 2024-01-02 00:00:00\nrevision = 'b'\ndown_revision = None\nbranch_labels = ('notes',)\ndepends_on = ['a', \"x\"]\n").unwrap();
        assert_eq!((h.depends_on, h.branch_labels), (vec!["a".to_string(), "x".to_string()], vec!["notes".to_string()]));
        // Two branches; `c` needs `a` of the other branch first, by id or by its label.
        let ok = [labelled(rev("a", &[], 1), "tags"), rev("b", &[], 2), depends(rev("c", &["b"], 3), &["a"]), depends(rev("d", &["c"], 4), &["tags"])];
        assert!(check_graph(&ok).is_empty());
        let unknown = check_graph(&[depends(rev("a", &[], 1), &["zz"])]);
        assert!(unknown[0].to_string().contains("depends_on `zz`") && unknown[0].to_string().contains("a.py"), "{}", unknown[0]);
        let early = check_graph(&[rev("a", &[], 2), depends(rev("c", &[], 1), &["a"])]);
        assert!(early[0].to_string().contains("c.py") && early[0].to_string().contains("depends on (depends_on `a`)"), "{}", early[0]);
        let cycle = check_graph(&[depends(rev("a", &[], 1), &["b"]), rev("b", &["a"], 2)]);
        assert!(cycle[0].to_string().contains("cycle"), "{}", cycle[0]);
        let twice = check_graph(&[labelled(rev("a", &[], 1), "x"), labelled(rev("b", &[], 2), "x")]);
        assert!(twice[0].to_string().contains("branch label `x`"), "{}", twice[0]);
        assert!(parse_header("depends_on = 'a'\ndepends_on = 'b'\n").unwrap_err().contains("`depends_on` is assigned on lines 1 and 2"));
    }

    #[test]
    fn graphs_with_merges_pass_and_bad_ones_name_the_files() {
        let ok = [rev("a", &[], 1), rev("b", &["a"], 2), rev("c", &["a"], 3), rev("m", &["b", "c"], 4), rev("r", &[], 5)];
        assert!(check_graph(&ok).is_empty());
        let unknown = check_graph(&[rev("a", &["zz"], 1)]);
        assert!(unknown[0].to_string().contains("a.py") && unknown[0].to_string().contains("zz"), "{}", unknown[0]);
        let cycle = check_graph(&[rev("a", &["b"], 1), rev("b", &["a"], 2)]);
        assert!(cycle[0].to_string().contains("cycle") && cycle[0].to_string().contains("b.py"), "{}", cycle[0]);
        let dates = check_graph(&[rev("b", &["a"], 1), rev("a", &[], 2)]);
        assert!(dates[0].to_string().contains("b.py") && dates[0].to_string().contains("a.py"), "{}", dates[0]);
        let same = check_graph(&[rev("a", &[], 1), rev("b", &[], 1)]);
        assert!(same[0].to_string().contains("same Create Date"), "{}", same[0]);
    }
}
