//! End-to-end tests: the real `db-migrate` binary on temporary projects and real SQLite files.

mod adopt;
mod backup;
mod baseline;
mod common;
mod components;
mod conformance;
mod errors;
mod faults;
mod formats;
mod hostile;
mod hostile_sql;
mod library;
mod lint;
mod mongo;
mod placeholders;
mod polyglot;
mod project;
mod repair;
mod repeatable;
mod reset;
mod run;
mod seeds;
mod servers;
mod status;
mod workflow_db;
mod zero_downtime;
