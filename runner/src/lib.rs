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
//! Layout: [`migrate`] holds the pure core (reading migrations, the planner, history types,
//! errors) and the [`Migrator`]; [`backend`] one module per database; [`config`] the project
//! configuration; `cli` the command line.
#![warn(missing_docs)]

pub mod adopt;
pub mod backend;
pub mod backup;
pub mod cli;
pub mod config;
pub mod interrupt;
pub mod lint;
pub mod migrate;
pub mod sandbox;
pub mod schema;
pub mod seed;

pub use migrate::error::{Error, Result};
pub use migrate::migrator::{Event, Migrator, Report, Resolution};
pub use migrate::plan::{DownTarget, State, StatusEntry, UpOptions};
pub use migrate::source::Migration;
pub use seed::{SeedOptions, Seeder};
