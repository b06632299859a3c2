//! The migration core: reading migrations, planning runs, and carrying them out.

pub mod commands;
pub mod embedded;
pub mod error;
pub mod history;
pub mod memo;
pub mod migrator;
pub mod plan;
pub mod source;
pub mod statements;
