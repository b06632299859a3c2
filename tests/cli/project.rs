//! `init`, `create`, configuration and database URL resolution.

use crate::common::Project;

#[test]
fn init_lays_out_a_project_and_keeps_existing_files() {
    let p = Project::new();
    std::fs::remove_dir(p.path().join("migrations")).unwrap();
    let out = p.ok(&["init"]);
    assert!(out.contains("created db-migrate.toml"), "{out}");
    assert!(p.path().join("migrations").is_dir());
    assert!(p.path().join("seeds").is_dir());
    let ignore = std::fs::read_to_string(p.path().join(".db-migrate/.gitignore")).expect("init writes .db-migrate/.gitignore");
    assert!(ignore.lines().any(|l| l == "*"), "everything under .db-migrate/ is ignored:\n{ignore}");
    let toml = std::fs::read_to_string(p.path().join("db-migrate.toml")).unwrap();
    assert!(toml.lines().filter(|l| !l.trim().is_empty()).all(|l| l.starts_with('#')), "template is all comments:\n{toml}");
    std::fs::write(p.path().join("db-migrate.toml"), "history_table = \"mine\"\n").unwrap();
    let out = p.ok(&["init"]);
    assert!(out.contains("kept"), "{out}");
    assert_eq!(std::fs::read_to_string(p.path().join("db-migrate.toml")).unwrap(), "history_table = \"mine\"\n");
}

#[test]
fn create_writes_a_timestamped_file_with_sections() {
    let p = Project::new();
    let out = p.ok(&["create", "--name", "add_users_table"]);
    let files: Vec<String> = std::fs::read_dir(p.path().join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 1);
    let f = &files[0];
    assert!(out.contains(f.as_str()), "{out}");
    let (version, rest) = f.split_once('_').unwrap();
    assert_eq!(version.len(), 14, "UTC yyyymmddHHMMSS: {f}");
    assert!(version.starts_with("20"), "{f}");
    assert_eq!(rest, "add_users_table.sql");
    let text = std::fs::read_to_string(p.path().join("migrations").join(f)).unwrap();
    assert!(text.contains("-- migrate:up") && text.contains("-- migrate:down"), "{text}");
    // A second one in the same second still sorts after the first.
    p.ok(&["create", "--name", "second"]);
    let mut versions: Vec<i64> = std::fs::read_dir(p.path().join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().split('_').next().unwrap().parse().unwrap())
        .collect();
    versions.sort();
    assert!(versions[1] > versions[0]);
    // And the new files are valid, pending migrations.
    let status = p.ok(&["status"]);
    assert!(status.contains("2 pending"), "{status}");
}

#[test]
fn create_rejects_bad_names() {
    let p = Project::new();
    for bad in ["add users", "a/b", "", "../x", "name.sql", "ünïcode"] {
        let err = p.fails(&["create", "--name", bad]);
        assert!(err.contains("invalid migration name"), "{bad}: {err}");
    }
    assert_eq!(std::fs::read_dir(p.path().join("migrations")).unwrap().count(), 0);
}

#[test]
fn database_url_precedence_flag_env_dotenv_config_default() {
    let p = Project::new();
    p.migration(1, "one", "CREATE TABLE one (id INTEGER);", Some("DROP TABLE one;"));
    p.write("db-migrate.toml", "database_url = \"sqlite:from_config.db\"\n");
    p.write(".env", "DATABASE_URL=sqlite:from_dotenv.db\n");
    let db = |name: &str| p.path().join(name);

    p.cmd().args(["up", "--database-url", "sqlite:from_flag.db"]).env("DATABASE_URL", "sqlite:from_env.db").assert().success();
    assert!(db("from_flag.db").exists());
    p.cmd().args(["up"]).env("DATABASE_URL", "sqlite:from_env.db").assert().success();
    assert!(db("from_env.db").exists());
    p.ok(&["up"]);
    assert!(db("from_dotenv.db").exists());
    std::fs::remove_file(p.path().join(".env")).unwrap();
    p.ok(&["up"]);
    assert!(db("from_config.db").exists());
    std::fs::remove_file(p.path().join("db-migrate.toml")).unwrap();
    let (code, _, err) = p.run(&["up"]);
    assert_eq!(code, 0);
    assert!(err.contains("embedded SQLite database") && err.contains("db/development.sqlite3"), "announced: {err}");
    assert!(p.db().exists());
    // Announced only when first created.
    let (_, _, err) = p.run(&["up"]);
    assert!(!err.contains("embedded"), "{err}");
}

#[test]
fn environments_select_settings_and_unknown_ones_are_errors() {
    let p = Project::new();
    p.migration(1, "one", "CREATE TABLE one (id INTEGER);", None);
    p.write(
        "db-migrate.toml",
        "database_url = \"sqlite:dev.db\"\n[environments.test]\ndatabase_url = \"sqlite:${DBM_TEST_DIR}/test.db\"\nhistory_table = \"test_history\"\n",
    );
    p.cmd().args(["--env", "test", "up"]).env("DBM_TEST_DIR", "sub").assert().success();
    let db = p.path().join("sub/test.db");
    assert!(db.exists());
    let rows = crate::common::query_file(&db, "SELECT version FROM test_history");
    assert_eq!(rows, vec![vec!["1".to_string()]]);
    // Global flags are accepted after the subcommand too.
    p.cmd().args(["status", "--env", "test", "--json"]).env("DBM_TEST_DIR", "sub").assert().success();

    let err = p.fails(&["up", "--env", "staging"]);
    assert!(err.contains("environment `staging` is not defined") && err.contains("test"), "{err}");
    let err = p.fails(&["--env", "test", "up"]);
    assert!(err.contains("DBM_TEST_DIR"), "unset variable named: {err}");
}

#[test]
fn bad_config_is_reported_with_file_and_line() {
    let p = Project::new();
    p.write("db-migrate.toml", "# comment\nhistory_tabel = \"x\"\n");
    let err = p.fails(&["status"]);
    assert!(err.contains("db-migrate.toml:2") && err.contains("history_tabel"), "{err}");
    p.write("db-migrate.toml", "history_table = \"bad name; drop\"\n");
    let err = p.fails(&["status"]);
    assert!(err.contains("not a plain identifier"), "{err}");
}

#[test]
fn custom_history_table_from_config() {
    let p = Project::new();
    p.migration(1, "one", "CREATE TABLE one (id INTEGER);", None);
    p.write("db-migrate.toml", "history_table = \"schema_log\"\n");
    p.ok(&["up"]);
    assert_eq!(p.tables(), vec!["one", "schema_log"]);
}

#[test]
fn help_teaches_and_version_prints() {
    let p = Project::new();
    let help = p.ok(&["--help"]);
    for word in ["init", "create", "up", "down", "redo", "status", "validate", "--database-url", "Exit codes", "Examples"] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
    let down = p.ok(&["down", "--help"]);
    assert!(down.contains("--steps") && down.contains("--all") && down.contains("--dry-run"), "{down}");
    assert!(p.ok(&["--version"]).starts_with("db-migrate "));
    let (code, _, err) = p.run(&["down", "--steps", "1", "--all"]);
    assert_eq!(code, 2, "conflicting flags are a usage error: {err}");
}

#[test]
fn help_shows_each_option_where_it_applies() {
    let p = Project::new();
    let help = |cmd: &str| p.ok(&[cmd, "--help"]);
    let up = help("up");
    assert!(up.contains("--lock-timeout") && up.contains("--wait") && up.contains("--lock-mode") && up.contains("--arg"), "{up}");
    let status = help("status");
    assert!(status.contains("--lock-timeout") && !status.contains("--arg"), "status runs no component: {status}");
    for offline in ["lint", "create", "build", "detect", "inspect", "init"] {
        let h = help(offline);
        assert!(!h.contains("--lock-timeout") && !h.contains("--wait") && !h.contains("--arg "), "{offline} never connects: {h}");
    }
    let build = help("build");
    assert!(build.contains("Python") && build.contains("C") && !build.contains("(cargo, target wasm32-wasip2)"), "{build}");
    // An option given to a command it does not apply to is refused, not ignored.
    let (code, _, err) = p.run(&["lint", "--lock-timeout", "5"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn init_template_names_the_plugin_path_the_readme_uses() {
    let p = Project::new();
    p.ok(&["init"]);
    let toml = std::fs::read_to_string(p.path().join("db-migrate.toml")).unwrap();
    assert!(toml.contains("plugins/dist/faker.wasm") && !toml.contains("\"plugins/faker.wasm\""), "{toml}");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    assert!(readme.contains("plugins/dist/faker.wasm"));
}

#[test]
fn database_options_before_a_command_that_never_connects_are_refused() {
    let p = Project::new();
    p.migration(1, "a", "CREATE TABLE a (id INTEGER);", None);
    for args in [&["--lock-timeout", "5", "lint"][..], &["--wait=5", "create", "--name", "x"], &["--lock-mode", "table", "build"]] {
        let err = p.fails(args);
        assert!(err.contains("apply to commands that connect") && err.contains("ignored"), "{args:?}: {err}");
    }
    // Before a command that connects they still apply.
    p.ok(&["--lock-timeout", "5", "up"]);
    assert!(!p.path().join("migrations").read_dir().unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains("_x")));
}
