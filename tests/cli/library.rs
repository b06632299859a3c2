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
