//! An application that carries its migrations inside its binary and applies them at start-up,
//! on the connection it opens for its own work.
//!
//! `DATABASE_URL` picks the database: `postgres://…` for PostgreSQL, else a SQLite URL
//! (default `sqlite:embedded-example.sqlite3`, created if missing).

use std::process::ExitCode;
use std::str::FromStr;

use db_migrate::{Migrator, Report, embed_migrations};
use sqlx::{Connection, PgConnection, SqliteConnection};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite:embedded-example.sqlite3".into());
    match start(&url).await {
        Ok(notes) => {
            println!("ready: {notes} note(s) in the database");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Opens the application's connection, migrates it, and uses it.
async fn start(url: &str) -> Result<i64, Box<dyn std::error::Error>> {
    // The migrations are compiled in: the binary needs no `migrations/` folder at run time. The
    // URL given to the migrator is not used: it runs on the connection it is lent.
    let mut migrator = Migrator::with_source(embed_migrations!("migrations"), url);
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let conn = PgConnection::connect(url).await?;
        let (mut conn, report) = migrator.up_on(conn).await;
        print_report(&report?);
        Ok(sqlx::query_scalar("SELECT count(*) FROM notes").fetch_one(&mut conn).await?)
    } else {
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?.create_if_missing(true);
        let conn = SqliteConnection::connect_with(&opts).await?;
        let (mut conn, report) = migrator.up_on(conn).await;
        print_report(&report?);
        Ok(sqlx::query_scalar("SELECT count(*) FROM notes").fetch_one(&mut conn).await?)
    }
}

fn print_report(report: &Report) {
    if report.steps.is_empty() {
        println!("up to date: nothing to apply");
    }
    for step in &report.steps {
        println!("applied {}_{}", step.version, step.name);
    }
}
