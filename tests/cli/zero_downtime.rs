//! `examples/zero-downtime`: lint passes, and expand / backfill (a component committing page by
//! page through the cursor) / contract runs on PostgreSQL.

use std::path::Path;

use crate::common::Project;
use crate::servers::{Kind, TestDb};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() == ".db-migrate" || e.file_name() == "target" {
            continue;
        }
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() { copy_dir(&e.path(), &dest) } else { std::fs::copy(e.path(), dest).map(drop).unwrap() }
    }
}

#[test]
fn expand_backfill_contract_on_postgres() {
    let p = Project::new();
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/zero-downtime"), p.path());
    let db = TestDb::new(Kind::Postgres);
    let url = db.url();
    let (code, out, err) = p.run(&["--database-url", &url, "lint"]);
    assert_eq!(code, 0, "the example passes lint\n{out}{err}");
    assert!(out.contains("0 error(s)"), "{out}");
    p.ok(&["-q", "build"]);
    p.write("db-migrate.toml", format!("[environments.production]\ndatabase_url = \"{url}\"\n"));
    let (code, out, err) = p.run(&["--env", "production", "up", "--arg", "batch=700"]);
    assert_eq!(code, 0, "production up runs: lint is clean\n{out}{err}");
    assert!(err.contains("backfilled 5000 users"), "{err}");
    assert!(err.contains("progress 5000/5000"), "{err}");
    assert_eq!(db.query("SELECT COUNT(*) FROM users WHERE first_name IS NULL OR last_name IS NULL"), vec!["0"]);
    assert_eq!(db.query("SELECT first_name, last_name FROM users WHERE id = 42"), vec!["First42|Last42"]);
    let columns = db.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'users' ORDER BY column_name");
    assert_eq!(columns, vec!["first_name", "id", "last_name"]);
    assert_eq!(db.query("SELECT is_nullable FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'first_name'"), vec!["NO"]);
}
