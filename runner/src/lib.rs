//! db-migrate: database migrations in plain SQL or sandboxed WebAssembly components.
//!
//! The `db-migrate` binary is a thin shell over this library; applications can run their
//! migrations at start-up with the same engine:
//!
//! ```no_run
//! # async fn start() -> Result<(), db_migrate::Error> {
//! use db_migrate::{Migrator, UpOptions};
//!
//! let mut migrator = Migrator::new("migrations", "sqlite:db/app.sqlite3");
//! for entry in migrator.status().await? {
//!     println!("{} {} {:?}", entry.version, entry.name, entry.state);
//! }
//! migrator.up_with(UpOptions::default()).await?;
//! # Ok(()) }
//! ```
//!
//! A program can also carry its migrations inside its binary (`embed_migrations!`, feature
//! `macros`) and apply them on a connection it already holds ([`Migrator::up_on`]); see
//! [`MigrationSource`].
//!
//! Layers, each importing only those before it: [`migrate`] is the base (the migration model,
//! migration sources, statement splitting, the pure planner, history types, events, errors);
//! [`backend`] one module per database and the one migration protocol ([`backend::Unit`]);
//! [`sandbox`] the wasmtime host for components; [`run`] (the [`Migrator`]) and [`seed`] (the
//! [`Seeder`]) orchestrate the rest. The command line (clap, config files, output, import,
//! backup, lint) is the `db-migrate-cli` crate on top.
//!
//! Cargo features: `sqlite`, `postgres`, `mysql`, `mongodb` (one per database), `components`
//! (the wasmtime sandbox) and `macros`, all on by default. `default-features = false, features =
//! ["postgres"]` builds the PostgreSQL runner alone, without wasmtime or MongoDB's driver.
#![warn(missing_docs)]

pub mod backend;
pub mod interrupt;
pub mod migrate;
pub mod run;
pub mod sandbox;
pub mod schema;
pub mod seed;

pub use migrate::error::{Error, Result};
pub use run::migrator::{Event, Migrator, Report, Resolution};
pub use migrate::plan::{DownTarget, State, StatusEntry, UpOptions};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use backend::lent::ExistingConnection;
pub use migrate::embedded::{DirectorySource, MemorySource, MigrationSource};
pub use migrate::source::Migration;

/// Compiles a migrations folder into the program: `embed_migrations!("migrations")` evaluates to
/// a [`MemorySource`] for [`Migrator::with_source`]. See the `db-migrate-macros` crate.
#[cfg(feature = "macros")]
pub use db_migrate_macros::embed_migrations;
pub use seed::{SeedOptions, Seeder};
