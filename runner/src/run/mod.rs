//! The orchestration layer: runs migrations against a database, on top of the backends and the
//! sandbox. The seeder (`crate::seed`) sits beside it.

pub mod migrator;
pub mod workflow;
