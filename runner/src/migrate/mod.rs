//! The base layer: the migration model, reading migrations, statement splitting, the pure
//! planner, history types, events and errors. It imports nothing from the layers above
//! (backends, sandbox, the migrator).

pub mod alembic;
pub mod commands;
pub mod embedded;
pub mod error;
pub mod events;
#[cfg(feature = "mongodb")]
pub mod extjson;
pub mod history;
pub mod memo;
pub mod placeholders;
pub mod plan;
pub mod source;
pub mod squash;
pub mod statements;
pub mod workflow_files;

/// The environment a run is in when nothing selects one (components see it in their context).
pub const DEFAULT_ENV: &str = "development";
