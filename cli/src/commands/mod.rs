//! One module per subcommand.

pub mod adopt;
pub mod backup;
pub mod baseline;
pub mod build;
pub mod create;
pub mod diff;
pub mod drop;
pub mod fleet;
pub mod guest;
pub mod init;
pub mod inspect;
pub mod alembic_runtime;
pub mod knex_runtime;
pub mod lint;
pub mod repair;
pub mod reset;
pub mod run;
pub mod schema;
pub mod seed;
pub mod squash;
pub mod status;
