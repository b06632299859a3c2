//! The migration core: reading migrations, planning runs, and carrying them out.

pub mod commands;
pub mod error;
pub mod events;
pub mod extjson;
pub mod history;
pub mod memo;
pub mod migrator;
pub mod plan;
pub mod source;
pub mod statements;

/// The environment a run is in when nothing selects one (components see it in their context).
pub const DEFAULT_ENV: &str = "development";
