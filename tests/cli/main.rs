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
mod galera;
mod hostile;
mod hostile_sql;
mod library;
mod lint;
mod mongo;
mod polyglot;
mod project;
mod repair;
mod reset;
mod run;
mod schema;
mod seeds;
mod servers;
mod status;
mod zero_downtime;
