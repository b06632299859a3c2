//! Schema intelligence: the normalised schema model, introspection of live databases, canonical
//! DDL, schema comparison, and the shadow database on which migrations are replayed.
//!
//! - [`model`]: the types ([`Schema`], [`Table`], [`Column`]…), comparable with `==`.
//! - [`introspect`]: reads a database (read-only) into a [`Schema`].
//! - [`render`]: a [`Schema`] as canonical DDL of its dialect (`schema dump`).
//! - [`compare`]: two schemas → typed [`compare::Difference`]s (`test`, `drift`, generators).
//! - [`shadow`]: a temporary database of the same kind, created and dropped by db-migrate.
//! - [`replay`]: `test`, the up/down round trip of every migration on a shadow.
//! - [`drift`]: the live schema vs the applied migrations replayed on a shadow.
//! - [`generate`]: the up and down statements from one schema to another (`diff`, `create --from-schema`).
//! - [`desired`]: a desired schema (SQL files) loaded into a shadow database.

pub mod compare;
pub mod desired;
pub mod drift;
pub mod generate;
pub mod introspect;
pub mod model;
pub mod render;
pub mod replay;
pub mod shadow;

pub use compare::{Change, Difference, ObjectKind, compare};
pub use introspect::{OwnTables, introspect};
pub use model::*;
pub use render::render;
pub use shadow::Shadow;
