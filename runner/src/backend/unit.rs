//! The one migration protocol: begin → body → finish, or abort when the body fails.
//!
//! Every kind of migration — a SQL script, a MongoDB command file, a component, a migration
//! recorded without running (baseline, adopt) — goes through [`Unit::run`], so the order of the
//! protocol and what a failure leaves behind are decided in one place. The backend knows how to
//! begin, finish and abort on its database; the unit carries whether the migration is
//! transactional, so callers never have to repeat that flag call after call.

use std::time::{Duration, Instant};

use super::Backend;
use crate::migrate::error::{Direction, Error, Kept};
use crate::migrate::source::Migration;

/// One migration (one direction) about to run.
#[derive(Debug, Clone, Copy)]
pub struct Unit<'a> {
    /// The migration.
    pub migration: &'a Migration,
    /// Applying or reverting.
    pub direction: Direction,
    /// Whether the migration and its history change commit in one transaction.
    pub transactional: bool,
}

/// A body's failure: its own error, and whether it had changed anything before failing (outside
/// a transaction, that decides whether the migration is left dirty).
#[derive(Debug)]
pub struct BodyFailed<E> {
    /// Whether anything was changed before the failure.
    pub changed: bool,
    /// What went wrong, in the body's terms.
    pub error: E,
}

/// Why a unit did not complete.
#[derive(Debug)]
pub enum UnitError<E> {
    /// The body failed; the unit was aborted and `kept` says what remains.
    Body {
        /// The body's error.
        error: E,
        /// What the abort left behind.
        kept: Kept,
    },
    /// Beginning or finishing failed (the history could not be written, another runner got
    /// there first): the backend already undid what it could, and the error says so.
    Protocol(Error),
}

impl<'a> Unit<'a> {
    /// A unit for `migration` in `direction`.
    pub fn new(migration: &'a Migration, direction: Direction, transactional: bool) -> Self {
        Unit { migration, direction, transactional }
    }

    /// Runs `body` inside the unit's protocol. `state` is whatever the body needs (the backend
    /// itself, or a sandbox store that holds it); `db` finds the backend in it.
    pub async fn run<S, B, E>(
        &self,
        state: &mut S,
        db: fn(&mut S) -> &mut B,
        body: impl AsyncFnOnce(&mut S) -> Result<(), BodyFailed<E>>,
    ) -> Result<Duration, UnitError<E>>
    where
        B: Backend,
    {
        let (m, d, tx) = (self.migration, self.direction, self.transactional);
        db(state).begin(m, d, tx).await.map_err(UnitError::Protocol)?;
        let started = Instant::now();
        match body(state).await {
            Ok(()) => {
                let took = started.elapsed();
                db(state).finish(m, d, tx, took).await.map_err(UnitError::Protocol)?;
                Ok(took)
            }
            Err(BodyFailed { changed, error }) => {
                let kept = db(state).abort(m, d, tx, changed).await;
                Err(UnitError::Body { error, kept })
            }
        }
    }

    /// Records the migration without running anything (baseline, adopting another tool's
    /// history): the protocol with an empty body.
    pub async fn record<B: Backend>(&self, b: &mut B) -> Result<(), Error> {
        match self.run(b, itself, async |_: &mut B| Ok::<(), BodyFailed<std::convert::Infallible>>(())).await {
            Ok(_) => Ok(()),
            Err(UnitError::Protocol(e)) => Err(e),
            Err(UnitError::Body { error, .. }) => match error {},
        }
    }
}

/// The backend itself is the state: for bodies that only need the database.
pub fn itself<B>(b: &mut B) -> &mut B {
    b
}
