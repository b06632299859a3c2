//! The library API an application uses at start-up.

use db_migrate::{DownTarget, Error, Migrator, State};

#[tokio::test]
async fn migrator_runs_migrations_from_rust() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    std::fs::write(migrations.join("1_users.sql"), "-- migrate:up\nCREATE TABLE users (id INTEGER);\n-- migrate:down\nDROP TABLE users;\n").unwrap();
    std::fs::write(migrations.join("2_posts.up.sql"), "CREATE TABLE posts (id INTEGER);\n").unwrap();
    let url = format!("sqlite:{}", dir.path().join("app.db").display());

    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut m = Migrator::new(&migrations, &url).on_event(move |e| {
        if let db_migrate::Event::Finished { migration, .. } = e {
            log.lock().unwrap().push(migration.version);
        }
    });
    let report = m.up().await.unwrap();
    assert_eq!(report.steps.len(), 2);
    assert_eq!(*seen.lock().unwrap(), vec![1, 2]);
    let status = m.status().await.unwrap();
    assert!(status.iter().all(|e| e.state == State::Applied));

    match m.down(DownTarget::All).await {
        Err(Error::Plan(e)) => assert!(e.to_string().contains("2_posts is irreversible")),
        other => panic!("expected an irreversible refusal, got {other:?}"),
    }
    assert!(m.validate().await.unwrap().is_empty());
}

/// The example app's folder, embedded at compile time and applied on a connection the test
/// holds; the same folder read from disk then sees every migration applied, unmodified: the two
/// sources give identical migrations (versions, names, checksums).
#[tokio::test]
async fn embedded_migrations_run_on_a_lent_sqlite_connection() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("app.db").display());
    let opts = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url).unwrap().create_if_missing(true);
    let conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();

    let mut m = Migrator::with_source(db_migrate::embed_migrations!("../examples/embedded/migrations"), "sqlite:not-used.db");
    let (mut conn, report) = m.up_on(conn).await;
    let versions: Vec<i64> = report.unwrap().steps.iter().map(|s| s.version).collect();
    assert_eq!(versions, [1, 2, 3]);
    // The connection comes back usable, and nothing was opened at the migrator's URL.
    let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM notes").fetch_one(&mut conn).await.unwrap();
    assert_eq!(notes, 1);
    assert!(!std::path::Path::new("not-used.db").exists());
    let (conn, again) = m.up_on(conn).await;
    assert!(again.unwrap().steps.is_empty(), "the second run applies nothing");
    conn.close().await.unwrap();

    let on_disk = Migrator::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/embedded/migrations"), &url);
    let status = on_disk.status().await.unwrap();
    assert_eq!(status.len(), 3);
    assert!(status.iter().all(|e| e.state == State::Applied), "{status:?}");
}

/// A component held only in memory (no file at its path) is loaded from its bytes.
#[tokio::test]
async fn in_memory_component_runs_from_its_bytes() {
    use sqlx::Connection;
    let bytes = std::fs::read(crate::common::guests().join("one_way.wasm")).unwrap();
    let source = db_migrate::MemorySource::new("nowhere/migrations").file("1_one_way.wasm", bytes);
    let dir = tempfile::tempdir().unwrap();
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("app.db")).create_if_missing(true);
    let conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
    let (mut conn, report) = Migrator::with_source(source, "sqlite::memory:").up_on(conn).await;
    assert_eq!(report.unwrap().steps.len(), 1);
    let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetch_all(&mut conn).await.unwrap();
    assert!(tables.contains(&"one_way".to_string()), "{tables:?}");
    // The connection comes back usable for the application's own statements.
    sqlx::query("PRAGMA user_version = 7").execute(&mut conn).await.unwrap();
}

/// A lent PostgreSQL connection: migrated, the run's advisory lock released, still usable.
#[tokio::test]
async fn embedded_migrations_run_on_a_lent_postgres_connection() {
    use sqlx::Connection;
    let db = crate::servers::TestDb::new(crate::servers::Kind::Postgres);
    let conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
    let mut m = Migrator::with_source(db_migrate::embed_migrations!("../examples/embedded/migrations"), "postgres://not-used");
    let (mut conn, report) = m.up_on(conn).await;
    assert_eq!(report.unwrap().steps.len(), 3);
    let locks: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(locks, 0, "the run's lock is released when the connection comes back");
    let (conn, again) = m.up_on(conn).await;
    assert!(again.unwrap().steps.is_empty());
    conn.close().await.unwrap();
    assert_eq!(db.history(), ["1|applied", "2|applied", "3|applied"]);
}

/// A broken set is refused before the lent connection is touched, and the connection comes back.
#[tokio::test]
async fn broken_embedded_set_leaves_the_lent_connection_untouched() {
    let source = db_migrate::MemorySource::new("migrations").file("1_a.sql", b"SELECT 1;\n".to_vec());
    let conn = <sqlx::SqliteConnection as sqlx::Connection>::connect("sqlite::memory:").await.unwrap();
    let (mut conn, report) = Migrator::with_source(source, "").up_on(conn).await;
    let e = report.unwrap_err().to_string();
    assert!(e.contains("migrations/1_a.sql") && e.contains("no `-- migrate:up` section"), "{e}");
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master").fetch_one(&mut conn).await.unwrap();
    assert_eq!(tables, 0, "no history table was created");
}

/// One Migrator, two runs: the first without deadlines (it applies only SQL, but its
/// migrations include a component, so an engine is made ahead for it, without epoch checks);
/// the second, on a lent connection, with a one-second deadline, runs a guest that never
/// returns. It must use an engine that enforces its own deadline, not one left from the first.
#[tokio::test]
async fn a_later_run_with_a_deadline_enforces_it() {
    use db_migrate::sandbox::{GuestContext, Limits};
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    std::fs::write(migrations.join("1_users.sql"), "-- migrate:up\nCREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n-- migrate:down\nDROP TABLE users;\n").unwrap();
    std::fs::copy(crate::common::guests().join("hostile.wasm"), migrations.join("2_hostile.wasm")).unwrap();
    let url = format!("sqlite:{}", dir.path().join("app.db").display());
    let context = GuestContext { args: [("mode".to_string(), "loop".to_string())].into(), ..Default::default() };
    let mut m = Migrator::new(&migrations, &url)
        .cache_dir(dir.path().join("cache"))
        .context(context)
        .limits(Limits { timeout: None, ..Limits::default() });
    let mut first = db_migrate::UpOptions::default();
    first.to = Some(1);
    assert_eq!(m.up_with(first).await.unwrap().steps.len(), 1);

    // On a lent connection, as an application would: that path makes nothing ahead itself.
    use sqlx::Connection;
    let conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mut m = m.limits(Limits { timeout: Some(std::time::Duration::from_secs(1)), ..Limits::default() });
    let started = std::time::Instant::now();
    let run = tokio::time::timeout(std::time::Duration::from_secs(120), m.up_on(conn)).await;
    let (_conn, report) = run.expect("the deadline stopped the endless guest");
    let err = report.unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "{:?}", started.elapsed());
    assert!(err.to_string().contains("2_hostile"), "{err}");
    let status = m.status().await.unwrap();
    assert_eq!(status.iter().filter(|e| e.state == State::Applied).count(), 1, "{status:?}");
}
