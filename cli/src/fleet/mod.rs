//! Fleets: one set of migrations over many databases (or PostgreSQL schemas) — a database per
//! tenant, thousands of them.
//!
//! `config` reads `[fleets.NAME]`; `targets` resolves a fleet into its databases; `rollout`
//! runs the canary stage and the waves with bounded parallelism through the ordinary run path;
//! `journal` (a local file) or `claims` (a control PostgreSQL table shared by several workers)
//! remember which targets are done, so a rerun resumes; `view` is the live display; `census`
//! reads where every target stands (`fleet status`).

pub mod census;
pub mod claims;
pub mod config;
pub mod journal;
pub mod rollout;
pub mod targets;
pub mod view;
