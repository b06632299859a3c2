//! `db-migrate seed`: SQL seeds, seed components and the first-party seed packs (built from
//! `plugins/`), on real SQLite files and the real PostgreSQL and MariaDB servers.

use crate::common::{Project, guests, plugins};
use crate::servers::{Kind, TestDb};

const SCHEMA: &str = "CREATE TABLE users (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(200) NOT NULL, created_at TIMESTAMP NOT NULL);\n\
CREATE TABLE posts (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL REFERENCES users (id), title VARCHAR(200) NOT NULL, body TEXT NOT NULL, created_at TIMESTAMP NOT NULL);\n\
CREATE TABLE comments (id BIGINT PRIMARY KEY, post_id BIGINT NOT NULL REFERENCES posts (id), user_id BIGINT NOT NULL REFERENCES users (id), body TEXT NOT NULL, created_at TIMESTAMP NOT NULL);\n\
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);";

/// A project with the schema applied and the faker pack installed as `demo`.
fn faker_project(extra_config: &str, args: &str, tables: &str) -> Project {
    let p = Project::new();
    p.migration(1, "schema", SCHEMA, None);
    std::fs::create_dir_all(p.path().join("plugins")).unwrap();
    std::fs::copy(plugins().join("faker.wasm"), p.path().join("plugins/faker.wasm")).unwrap();
    p.write(
        "db-migrate.toml",
        format!("{extra_config}\n[[seeds.pack]]\nname = \"demo\"\ncomponent = \"plugins/faker.wasm\"\ntables = {tables}\nargs = {{ {args} }}\n"),
    );
    p
}

const ALL: &str = r#"["users", "posts", "comments"]"#;

fn dump(p: &Project) -> String {
    ["users", "posts", "comments"].iter().map(|t| format!("{t}: {:?}\n", p.query(&format!("SELECT * FROM {t} ORDER BY id")))).collect()
}

fn count(p: &Project, table: &str) -> i64 {
    p.query(&format!("SELECT COUNT(*) FROM {table}"))[0][0].parse().unwrap()
}

#[test]
fn sql_seeds_run_once_unless_forced() {
    let p = Project::new();
    p.migration(1, "notes", "CREATE TABLE notes (body TEXT);", None);
    p.write("seeds/01_notes.sql", "INSERT INTO notes VALUES ('a');\nINSERT INTO notes VALUES ('b');\n");
    p.ok(&["up"]);
    let out = p.ok(&["seed"]);
    assert!(out.contains("seeded   01_notes"), "{out}");
    assert_eq!(count(&p, "notes"), 2);
    let out = p.ok(&["seed"]);
    assert!(out.contains("skipped  01_notes (already run"), "{out}");
    assert_eq!(count(&p, "notes"), 2);
    p.ok(&["seed", "--force"]);
    assert_eq!(count(&p, "notes"), 4, "--force runs it again");
    // A changed seed runs again by itself.
    p.write("seeds/01_notes.sql", "INSERT INTO notes VALUES ('c');\n");
    p.ok(&["seed"]);
    assert_eq!(count(&p, "notes"), 5);
    let out = p.ok(&["seed", "--list"]);
    assert!(out.contains("01_notes") && out.contains("ran "), "{out}");
}

#[test]
fn a_failing_sql_seed_names_its_line_and_keeps_nothing() {
    let p = Project::new();
    p.migration(1, "notes", "CREATE TABLE notes (body TEXT NOT NULL);", None);
    p.write("seeds/01_notes.sql", "INSERT INTO notes VALUES ('a');\n\nINSERT INTO notes VALUES (NULL);\n");
    p.ok(&["up"]);
    let err = p.fails(&["seed"]);
    assert!(err.contains("seed 01_notes failed at") && err.contains("01_notes.sql:3"), "{err}");
    assert!(err.contains("nothing of this seed was kept"), "{err}");
    assert_eq!(count(&p, "notes"), 0);
    let out = p.ok(&["seed", "--list"]);
    assert!(out.contains("never run"), "{out}");
}

#[test]
fn a_seed_component_from_the_project_runs() {
    let p = Project::new();
    p.migration(1, "notes", "CREATE TABLE notes (body TEXT);", None);
    p.ok(&["up"]);
    std::fs::create_dir_all(p.path().join("seeds")).unwrap();
    std::fs::copy(guests().join("seed_world.wasm"), p.path().join("seeds/02_world.wasm")).unwrap();
    let out = p.ok(&["seed"]);
    assert!(out.contains("seeded   02_world"), "{out}");
    // A migration component in seeds/ is refused with a hint.
    std::fs::copy(guests().join("probe.wasm"), p.path().join("seeds/03_probe.wasm")).unwrap();
    let err = p.fails(&["seed"]);
    assert!(err.contains("does not implement the `seed` world") && err.contains("migrations/"), "{err}");
}

#[test]
fn faker_is_deterministic_and_reports_rows_per_table() {
    let args = "users = 150, posts_per_user = 2, comments_per_post = 1, locale = \"de\"";
    let a = faker_project("", args, ALL);
    a.ok(&["up"]);
    let (code, out, err) = a.run(&["seed", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = &v["seeds"][0]["rows"];
    assert_eq!((rows["users"].as_u64(), rows["posts"].as_u64(), rows["comments"].as_u64()), (Some(150), Some(300), Some(300)), "{out}");
    assert!(v["seeds"][0]["rows_per_sec"].as_f64().unwrap() > 0.0);
    assert!(err.contains("[demo] progress 750/750"), "plain progress lines off a terminal: {err}");
    let first = dump(&a);
    assert!(first.contains("@example."), "{first}");

    let b = faker_project("", args, ALL);
    b.ok(&["up"]);
    let out = b.ok(&["seed"]);
    assert!(out.contains("seeded   demo: 750 rows (comments 300, posts 300, users 150)"), "{out}");
    // The rate is rounded for people: `950 rows/s`, `12.4 k rows/s`, `3.10 M rows/s`.
    let speed = out.lines().find(|l| l.starts_with("seeded   demo")).and_then(|l| l.rsplit(", ").next()).unwrap_or_default();
    let number = speed.strip_suffix(" rows/s").map(|s| s.trim_end_matches([' ', 'k', 'M'])).unwrap_or("");
    let decimals = number.split('.').nth(1).map_or(0, str::len);
    assert!(!number.is_empty() && number.parse::<f64>().is_ok() && decimals <= 2 && number.len() <= 6, "rate {speed:?} in {out}");
    assert_eq!(dump(&b), first, "same seed and arguments: byte-identical data");

    let c = faker_project("seed = 7", args, ALL);
    c.ok(&["up"]);
    c.ok(&["seed"]);
    assert_ne!(dump(&c), first, "another seed, other data");
    let d = faker_project("", args, ALL);
    d.ok(&["up"]);
    d.ok(&["seed", "--seed", "7"]);
    assert_eq!(dump(&d), dump(&c), "--seed N is the same as seed = N");
}

#[test]
fn reset_empties_only_the_packs_tables_and_force_reruns() {
    let p = faker_project("", "users = 40", r#"["users"]"#);
    p.ok(&["up"]);
    p.write("seeds/00_notes.sql", "INSERT INTO notes (body) VALUES ('keep me');\n");
    p.ok(&["seed"]);
    assert_eq!(count(&p, "users"), 40);
    let out = p.ok(&["seed", "demo"]);
    assert!(out.contains("skipped  demo"), "{out}");
    let out = p.ok(&["seed", "demo", "--reset", "--arg", "users=25"]);
    assert!(out.contains("after emptying users"), "{out}");
    assert_eq!(count(&p, "users"), 25, "emptied, then filled again");
    assert_eq!(count(&p, "notes"), 1, "tables the pack was not granted are untouched");
    // Without --reset, a forced run collides with its own rows: the seed fails and keeps nothing.
    let before = dump(&p);
    let err = p.fails(&["seed", "demo", "--force", "--arg", "users=25"]);
    assert!(err.contains("seed demo failed") && err.contains("nothing of this seed was kept"), "{err}");
    assert_eq!(dump(&p), before);
    let err = p.fails(&["seed", "00_notes", "--reset"]);
    assert!(err.contains("not a pack"), "{err}");
}

#[test]
fn a_pack_writing_outside_its_tables_is_denied_and_nothing_is_written() {
    let p = faker_project("", "users = 30, posts_per_user = 1", r#"["users"]"#);
    p.ok(&["up"]);
    let err = p.fails(&["seed"]);
    assert!(err.contains("posts") && err.contains("denied"), "{err}");
    assert!(err.contains("nothing of this seed was kept"), "{err}");
    assert_eq!(count(&p, "users"), 0, "the users it wrote were rolled back");
    let audit = std::fs::read_to_string(p.path().join(".db-migrate/audit.log")).unwrap();
    assert!(audit.contains("posts"), "{audit}");

    // With batched commits, what was committed stays, and the message says so.
    let p = faker_project("", "users = 30, posts_per_user = 1, batch = 10", r#"["users"]"#);
    let cfg = std::fs::read_to_string(p.path().join("db-migrate.toml")).unwrap() + "batch_commits = true\n";
    p.write("db-migrate.toml", cfg);
    p.ok(&["up"]);
    let err = p.fails(&["seed"]);
    assert!(err.contains("batch(es) were committed") && err.contains("--reset"), "{err}");
    assert_eq!(count(&p, "users"), 30);
    p.ok(&["seed", "--reset", "--arg", "posts_per_user=0"]);
    assert_eq!(count(&p, "users"), 30);
}

#[test]
fn packs_stay_out_of_production_unless_listed() {
    // Both environments on the same file, so the guard is all that differs.
    let p = faker_project("[environments.production]\ndatabase_url = \"sqlite:db/development.sqlite3\"\n", "users = 10", r#"["users"]"#);
    p.ok(&["up"]);
    let err = p.fails(&["--env", "production", "seed", "demo"]);
    assert!(err.contains("may run in development, test") && err.contains("not in `production`"), "{err}");
    let out = p.ok(&["--env", "production", "seed"]);
    assert!(out.contains("skipped  demo (may run in development, test"), "{out}");
    assert_eq!(count(&p, "users"), 0);
    let cfg = std::fs::read_to_string(p.path().join("db-migrate.toml")).unwrap() + "environments = [\"production\"]\n";
    p.write("db-migrate.toml", cfg);
    p.ok(&["--env", "production", "seed"]);
    assert_eq!(count(&p, "users"), 10);
}

#[test]
fn a_pinned_pack_with_other_bytes_is_refused() {
    let p = faker_project("", "users = 10", r#"["users"]"#);
    let cfg = std::fs::read_to_string(p.path().join("db-migrate.toml")).unwrap() + &format!("sha256 = \"{}\"\n", "ab".repeat(32));
    p.write("db-migrate.toml", cfg);
    p.ok(&["up"]);
    let err = p.fails(&["seed"]);
    assert!(err.contains("pins sha256") && err.contains("refusing"), "{err}");
    assert_eq!(count(&p, "users"), 0);
}

fn csv_project(csv: &str) -> Project {
    let p = Project::new();
    p.migration(1, "people", "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER, score REAL, active BOOLEAN);", None);
    std::fs::create_dir_all(p.path().join("plugins")).unwrap();
    std::fs::copy(plugins().join("csv-import.wasm"), p.path().join("plugins/csv-import.wasm")).unwrap();
    p.write("data/people.csv", csv);
    p.write(
        "db-migrate.toml",
        "[[seeds.pack]]\nname = \"people\"\ncomponent = \"plugins/csv-import.wasm\"\ntables = [\"people\"]\ndata_dir = \"data\"\n",
    );
    p.ok(&["up"]);
    p
}

#[test]
fn csv_import_types_values_by_column_and_names_a_bad_row() {
    let p = csv_project("id,name,age,score,active\r\n1,Ada,36,9.5,true\r\n2,\"Lovelace, Ada\",,7,no\r\n");
    let out = p.ok(&["seed"]);
    assert!(out.contains("seeded   people: 2 rows (people 2)"), "{out}");
    assert_eq!(
        p.query("SELECT id, name, age, CAST(score AS TEXT), active, typeof(age), typeof(score) FROM people ORDER BY id"),
        vec![
            vec!["1", "Ada", "36", "9.5", "1", "integer", "real"],
            vec!["2", "Lovelace, Ada", "NULL", "7.0", "0", "null", "real"],
        ]
    );

    let p = csv_project("id,name,age\n1,a,1\n2,b,2\n3,c,abc\n4,d,4\n");
    let err = p.fails(&["seed"]);
    assert!(err.contains("people.csv:4: column `age` (INTEGER): `abc` is not an integer"), "{err}");
    assert_eq!(count(&p, "people"), 0, "nothing kept");

    let p = csv_project("id,nom\n1,a\n");
    let err = p.fails(&["seed"]);
    assert!(err.contains("people.csv:1: `nom` is not a column of people"), "{err}");
}

#[test]
fn a_failing_sql_seed_on_mariadb_says_what_its_ddl_committed() {
    let db = TestDb::new(Kind::Mariadb);
    let url = db.url();
    let p = Project::new();
    p.migration(1, "notes", "CREATE TABLE notes (body TEXT NOT NULL);", None);
    p.ok(&["--database-url", &url, "up"]);
    // Line 1 is kept by the `CREATE TABLE` at line 2 (MariaDB commits DDL with what ran
    // before it); line 3 is rolled back with the failure at line 4.
    p.write("seeds/01_notes.sql", "INSERT INTO notes VALUES ('a');\nCREATE TABLE tags (name TEXT);\nINSERT INTO notes VALUES ('b');\nINSERT INTO notes VALUES (NULL);\n");
    let (code, out, err) = p.run(&["--database-url", &url, "--json", "seed"]);
    assert_eq!(code, 2, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["error"]["kept"], "partial", "{v}");
    assert_eq!(v["error"]["line"], 4, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("up to its statement at line 2 stays"), "{v}");
    assert_eq!(db.query("SELECT body FROM notes"), ["a"]);
    assert_eq!(db.query("SHOW TABLES LIKE 'tags'"), ["tags"]);
    // A DDL statement that fails to run still committed what ran before it.
    p.write("seeds/01_notes.sql", "INSERT INTO notes VALUES ('b');\nCREATE TABLE notes (body TEXT);\n");
    let (code, _, err) = p.run(&["--database-url", &url, "seed"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("01_notes.sql:2") && err.contains("up to its statement at line 1 stays"), "{err}");
    assert_eq!(db.query("SELECT body FROM notes ORDER BY body"), ["a", "b"]);
    // Without DDL before the failure (a temporary table's does not commit) nothing stays, as
    // on the other databases.
    p.write("seeds/01_notes.sql", "CREATE TEMPORARY TABLE scratch (x INTEGER);\nINSERT INTO notes VALUES ('c');\nINSERT INTO notes VALUES (NULL);\n");
    let (code, _, err) = p.run(&["--database-url", &url, "seed"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing of this seed was kept"), "{err}");
    assert_eq!(db.query("SELECT body FROM notes ORDER BY body"), ["a", "b"]);
}

#[test]
fn seeds_on_postgres_and_mariadb() {
    for kind in [Kind::Postgres, Kind::Mariadb] {
        let db = TestDb::new(kind);
        let p = faker_project("", "users = 300, posts_per_user = 2, comments_per_post = 1", ALL);
        let url = db.url();
        let (code, out, err) = p.run(&["--database-url", &url, "up"]);
        assert_eq!(code, 0, "{kind:?}: {out}{err}");
        let (code, out, err) = p.run(&["--database-url", &url, "seed"]);
        assert_eq!(code, 0, "{kind:?}: {out}{err}");
        assert!(out.contains("seeded   demo: 1500 rows (comments 600, posts 600, users 300)"), "{kind:?}: {out}");
        assert_eq!(db.query("SELECT COUNT(*) FROM comments"), vec!["600"], "{kind:?}");
        let sample = db.query("SELECT name, email FROM users WHERE id = 7");

        // Denied outside its tables, nothing kept.
        let p2 = faker_project("", "users = 20, posts_per_user = 1", r#"["users"]"#);
        let db2 = TestDb::new(kind);
        let url2 = db2.url();
        p2.run(&["--database-url", &url2, "up"]);
        let (code, _, err) = p2.run(&["--database-url", &url2, "seed"]);
        assert_eq!(code, 2, "{kind:?}: {err}");
        assert!(err.contains("denied"), "{kind:?}: {err}");
        assert_eq!(db2.query("SELECT COUNT(*) FROM users"), vec!["0"], "{kind:?}");

        // The same seed writes the same data on every database.
        let p3 = faker_project("", "users = 300, posts_per_user = 2, comments_per_post = 1", ALL);
        p3.ok(&["up"]);
        p3.ok(&["seed"]);
        let sqlite = p3.query("SELECT name, email FROM users WHERE id = 7");
        assert_eq!(sample, vec![sqlite[0].join("|")], "{kind:?}");
    }
}

#[test]
fn csv_import_on_postgres() {
    let db = TestDb::new(Kind::Postgres);
    let p = Project::new();
    p.migration(1, "people", "CREATE TABLE people (id BIGINT PRIMARY KEY, name TEXT NOT NULL, born DATE, score NUMERIC(5,2), active BOOLEAN NOT NULL);", None);
    std::fs::create_dir_all(p.path().join("plugins")).unwrap();
    std::fs::copy(plugins().join("csv-import.wasm"), p.path().join("plugins/csv-import.wasm")).unwrap();
    p.write("data/people.csv", "id,name,born,score,active\n1,Ada,1815-12-10,9.5,t\n2,Grace,,7.25,false\n");
    p.write("db-migrate.toml", "[[seeds.pack]]\nname = \"people\"\ncomponent = \"plugins/csv-import.wasm\"\ntables = [\"people\"]\ndata_dir = \"data\"\n");
    let url = db.url();
    p.ok(&["--database-url", &url, "up"]);
    p.ok(&["--database-url", &url, "seed"]);
    assert_eq!(db.query("SELECT id, name, born, score, active FROM people ORDER BY id"), vec!["1|Ada|1815-12-10|9.50|t", "2|Grace||7.25|f"]);
}

/// `seed demo --reset` on users ← posts ← comments with the foreign keys enforced: the pack's
/// tables are emptied children first, whatever order they are listed or kept in.
#[test]
fn reset_empties_children_before_parents_on_every_database() {
    let args = "users = 20, posts_per_user = 2, comments_per_post = 2";
    // SQLite (db-migrate's connections enforce foreign keys).
    let p = faker_project("", args, ALL);
    p.ok(&["up"]);
    p.ok(&["seed"]);
    let (code, out, err) = p.run(&["seed", "demo", "--reset", "--arg", "users=10", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["seeds"][0]["reset"], serde_json::json!(["comments", "posts", "users"]), "{out}");
    assert_eq!((count(&p, "users"), count(&p, "posts"), count(&p, "comments")), (10, 20, 40));

    for kind in [Kind::Postgres, Kind::Mariadb] {
        let db = TestDb::new(kind);
        let url = db.url();
        let p = faker_project("", args, r#"["users", "posts", "comments"]"#);
        p.ok(&["--database-url", &url, "up"]);
        p.ok(&["--database-url", &url, "seed"]);
        let (code, out, err) = p.run(&["--database-url", &url, "seed", "demo", "--reset", "--arg", "users=10"]);
        assert_eq!(code, 0, "{kind:?}: {out}{err}");
        assert!(out.contains("after emptying comments, posts, users"), "{kind:?}: {out}");
        let n = |t: &str| db.query(&format!("SELECT COUNT(*) FROM {t}"));
        assert_eq!((n("users"), n("posts"), n("comments")), (vec!["10".to_string()], vec!["20".to_string()], vec!["40".to_string()]), "{kind:?}");
    }
}

#[test]
fn reset_names_a_foreign_key_cycle_and_a_referring_table_outside_the_pack() {
    // users.best_comment → comments → posts → users: a cycle; nothing is emptied.
    let p = faker_project("", "users = 5, posts_per_user = 1, comments_per_post = 1", ALL);
    p.migration(2, "best_comment", "ALTER TABLE users ADD COLUMN best_comment BIGINT REFERENCES comments (id);", None);
    p.ok(&["up"]);
    p.ok(&["seed"]);
    let err = p.fails(&["seed", "demo", "--reset"]);
    assert!(err.contains("cycle") && err.contains("`comments`, `posts`, `users`") && err.contains("--force"), "{err}");
    assert_eq!((count(&p, "users"), count(&p, "posts"), count(&p, "comments")), (5, 5, 5), "nothing was emptied");

    // comments refer to users but are not the pack's: the error says so, and nothing changes.
    let p = faker_project("", "users = 5, posts_per_user = 1, comments_per_post = 0", r#"["users", "posts"]"#);
    p.ok(&["up"]);
    p.ok(&["seed"]);
    p.write("seeds/01_comment.sql", "INSERT INTO comments VALUES (1, 1, 1, 'hi', '2024-01-01 00:00:00');\n");
    p.ok(&["seed", "01_comment"]);
    let err = p.fails(&["seed", "demo", "--reset"]);
    assert!(err.contains("could not empty `posts`") && err.contains("comments refers to it"), "{err}");
    assert_eq!((count(&p, "users"), count(&p, "posts"), count(&p, "comments")), (5, 5, 1));
}

/// A SQL seed is its content: another `--seed` does not run it again.
#[test]
fn sql_seeds_ignore_the_random_seed() {
    let p = Project::new();
    p.migration(1, "roles", "CREATE TABLE roles (name TEXT PRIMARY KEY);", None);
    p.write("seeds/01_roles.sql", "INSERT INTO roles VALUES ('admin');\n");
    p.ok(&["up"]);
    p.ok(&["seed", "--seed", "42"]);
    let out = p.ok(&["seed"]);
    assert!(out.contains("skipped  01_roles (already run with the same content"), "{out}");
    let out = p.ok(&["seed", "--seed", "7", "--arg", "x=1"]);
    assert!(out.contains("skipped  01_roles"), "{out}");
    assert_eq!(count(&p, "roles"), 1);
    // Components still count the random seed: faker runs again under another one.
    let f = faker_project("", "users = 3", r#"["users"]"#);
    f.ok(&["up"]);
    f.ok(&["seed", "--seed", "1"]);
    let out = f.ok(&["seed", "--seed", "1"]);
    assert!(out.contains("skipped  demo"), "{out}");
    let err = f.fails(&["seed", "--seed", "2"]);
    assert!(err.contains("seed demo failed"), "another random seed runs the pack again (and collides with its rows): {err}");
}

#[test]
fn create_seed_writes_a_numbered_sql_seed_that_runs() {
    let p = Project::new();
    p.migration(1, "roles", "CREATE TABLE roles (name TEXT PRIMARY KEY);", None);
    p.write("seeds/01_base.sql", "INSERT INTO roles VALUES ('admin');\n");
    p.ok(&["up"]);
    let (code, out, err) = p.run(&["create", "--seed", "editors", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["seed"], "02_editors", "{out}");
    let file = p.path().join("seeds/02_editors.sql");
    assert!(file.is_file());
    // The scaffold runs as it is (comments only), and again once edited.
    let out = p.ok(&["seed"]);
    assert!(out.contains("seeded   01_base") && out.contains("seeded   02_editors"), "{out}");
    std::fs::write(&file, std::fs::read_to_string(&file).unwrap() + "INSERT INTO roles VALUES ('editor');\n").unwrap();
    let out = p.ok(&["seed"]);
    assert!(out.contains("seeded   02_editors") && out.contains("skipped  01_base"), "{out}");
    assert_eq!(count(&p, "roles"), 2);
    let err = p.fails(&["create", "--seed", "bad name"]);
    assert!(err.contains("invalid seed name"), "{err}");
    let err = p.fails(&["create", "--seed", "x", "--name", "y"]);
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn create_seed_lang_rust_builds_into_seeds_and_runs() {
    let p = Project::new();
    p.migration(1, "example", "CREATE TABLE example (id INTEGER PRIMARY KEY, name TEXT NOT NULL);", None);
    p.ok(&["up"]);
    let out = p.ok(&["create", "--seed", "demo", "--lang", "rust"]);
    assert!(out.contains("components/01_demo") && out.contains("db-migrate build"), "{out}");
    let manifest = std::fs::read_to_string(p.path().join("components/01_demo/Cargo.toml")).unwrap();
    assert!(manifest.contains("features = [\"seed\"]"), "{manifest}");
    assert!(manifest.contains("[profile.release]\nlto = true\ncodegen-units = 1"), "seeds build with LTO: {manifest}");
    let (code, out, err) = p.run(&["build"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(p.path().join("seeds/01_demo.wasm").is_file(), "build writes seeds to seeds/: {out}");
    assert_eq!(std::fs::read_dir(p.path().join("migrations")).unwrap().count(), 1, "nothing went to migrations/");
    let out = p.ok(&["seed", "--arg", "rows=5"]);
    assert!(out.contains("seeded   01_demo: 5 rows (example 5)"), "{out}");
    assert_eq!(count(&p, "example"), 5);
    // The next seed, in another language, gets the next number.
    let out = p.ok(&["create", "--seed", "more", "--lang", "python"]);
    assert!(out.contains("components/02_more"), "{out}");
    let manifest = std::fs::read_to_string(p.path().join("components/02_more/component.toml")).unwrap();
    assert!(manifest.contains("world = \"seed\""), "{manifest}");
}
