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
//! migrator.up_with(UpOptions { to: None, allow_out_of_order: false }).await?;
//! # Ok(()) }
//! ```
//!
//! Layers, each importing only those before it: [`migrate`] is the base (the migration model,
//! reading migrations, statement splitting, the pure planner, history types, events, errors) and
//! also holds the [`Migrator`]; [`backend`] one module per database; [`sandbox`] the wasmtime host
//! for components; [`seed`] the seeder. The command line (clap, config files, output, import,
//! backup, lint) is the `db-migrate-cli` crate on top.
#![warn(missing_docs)]

pub mod backend;
pub mod interrupt;
pub mod migrate;
pub mod run;
pub mod sandbox;
pub mod seed;

pub use migrate::error::{Error, Result};
pub use run::migrator::{Event, Migrator, Report, Resolution};
pub use migrate::plan::{DownTarget, State, StatusEntry, UpOptions};
pub use migrate::source::Migration;
pub use seed::{SeedOptions, Seeder};
