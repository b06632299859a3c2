//! The fleet's state in a control PostgreSQL database: table `db_migrate_fleet`, one row per
//! (fleet, target), shared by every `fleet up` process that names the same control database.
//!
//! A worker claims the next target of the lowest unfinished stage with `FOR UPDATE SKIP
//! LOCKED`, so two workers never claim the same row; the claim is a lease that the worker's
//! heartbeat renews, and a claim whose lease ran out (its worker died) is claimed again. Each
//! target's own migration lock and history make the takeover safe: a migration the dead worker
//! committed is not pending any more, one it had not committed was rolled back with its
//! connection. Rows name targets as they are shown (no URLs, no secrets): every worker resolves
//! the URLs from its own configuration.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Row;

use super::targets::Plan;
use db_migrate::backend::url::redact;
use db_migrate::migrate::error::Error;

const CREATE: &str = "CREATE TABLE IF NOT EXISTS db_migrate_fleet (\
    fleet TEXT NOT NULL, target TEXT NOT NULL, ord INTEGER NOT NULL, stage INTEGER NOT NULL, goal TEXT NOT NULL, \
    state TEXT NOT NULL DEFAULT 'pending', owner TEXT, lease_until TIMESTAMPTZ, attempts INTEGER NOT NULL DEFAULT 0, \
    error TEXT, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, PRIMARY KEY (fleet, target))";

/// What a worker does next.
#[derive(Debug)]
pub enum Next {
    /// Migrate this target (its name).
    Target(String),
    /// The current stage's remaining targets are claimed by other workers: wait, then ask again.
    Wait,
    /// Every target is finished.
    Done,
    /// A failure stops the rollout (the reason).
    Stop(String),
}

/// One worker's view of the claim table.
pub struct Claims {
    pool: PgPool,
    fleet: String,
    goal: String,
    owner: String,
    lease: Duration,
    keep_going: bool,
    /// The server's clock when this worker started: failures since then are this run's.
    started: f64,
}

fn db(e: sqlx::Error) -> Error {
    Error::Connect(format!("the fleet's control database: {}", redact(&e.to_string())))
}

impl Claims {
    /// Connects to the control database, creates the table if needed and records every target
    /// of `plan` for `goal` (a target whose goal changed starts again; `recheck` also restarts
    /// the finished ones).
    pub async fn open(url: &str, fleet: &str, goal: &str, lease: Duration, keep_going: bool, recheck: bool, plan: &Plan) -> Result<Self, Error> {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(url)
            .await
            .map_err(|e| Error::Connect(format!("cannot connect to the fleet's control database `{}`: {}", redact(url), redact(&e.to_string()))))?;
        let names: Vec<String> = plan.targets.iter().map(|t| t.name.clone()).collect();
        let ords: Vec<i32> = (0..names.len() as i32).collect();
        let stages: Vec<i32> = plan.stage.iter().map(|s| *s as i32).collect();
        let mut tx = pool.begin().await.map_err(db)?;
        // Workers starting together take turns: CREATE TABLE IF NOT EXISTS is not safe to race.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(db_migrate::backend::lock_key("db_migrate_fleet"))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(CREATE).execute(&mut *tx).await.map_err(db)?;
        sqlx::query(
            "INSERT INTO db_migrate_fleet (fleet, target, ord, stage, goal) \
             SELECT $1, u.t, u.o, u.s, $2 FROM unnest($3::text[], $4::int[], $5::int[]) AS u(t, o, s) \
             ON CONFLICT (fleet, target) DO UPDATE SET ord = EXCLUDED.ord, stage = EXCLUDED.stage, goal = EXCLUDED.goal, \
               state = CASE WHEN db_migrate_fleet.goal IS DISTINCT FROM EXCLUDED.goal THEN 'pending' \
                            WHEN $6 AND db_migrate_fleet.state = 'done' THEN 'pending' \
                            ELSE db_migrate_fleet.state END",
        )
        .bind(fleet)
        .bind(goal)
        .bind(&names)
        .bind(&ords)
        .bind(&stages)
        .bind(recheck)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("DELETE FROM db_migrate_fleet WHERE fleet = $1 AND NOT (target = ANY($2))")
            .bind(fleet)
            .bind(&names)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let started: f64 = sqlx::query_scalar("SELECT extract(epoch FROM clock_timestamp())::float8").fetch_one(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let owner = format!("{} ({})", db_migrate::backend::lock_owner(), started);
        Ok(Claims { pool, fleet: fleet.into(), goal: goal.into(), owner, lease, keep_going, started })
    }

    /// Targets already done for this goal, as the table stood when this worker started.
    pub async fn done(&self) -> Result<Vec<String>, Error> {
        sqlx::query_scalar("SELECT target FROM db_migrate_fleet WHERE fleet = $1 AND goal = $2 AND state = 'done'")
            .bind(&self.fleet)
            .bind(&self.goal)
            .fetch_all(&self.pool)
            .await
            .map_err(db)
    }

    /// Claims the next target, or says why there is none.
    pub async fn next(&self) -> Result<Next, Error> {
        let row = sqlx::query(
            "SELECT \
               (SELECT min(stage) FROM db_migrate_fleet WHERE fleet = $1 AND goal = $2 \
                  AND NOT (state = 'done' OR (state = 'failed' AND finished_at >= to_timestamp($3)))), \
               (SELECT min(target) FROM db_migrate_fleet WHERE fleet = $1 AND goal = $2 AND stage = 0 \
                  AND state = 'failed' AND finished_at >= to_timestamp($3)), \
               (SELECT min(target) FROM db_migrate_fleet WHERE fleet = $1 AND goal = $2 \
                  AND state = 'failed' AND finished_at >= to_timestamp($3))",
        )
        .bind(&self.fleet)
        .bind(&self.goal)
        .bind(self.started)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let stage: Option<i32> = row.get(0);
        let canary_failed: Option<String> = row.get(1);
        let failed: Option<String> = row.get(2);
        if let Some(t) = canary_failed {
            return Ok(Next::Stop(format!("the canary target {t} failed")));
        }
        if let (Some(t), false) = (failed, self.keep_going) {
            return Ok(Next::Stop(format!("target {t} failed")));
        }
        let Some(stage) = stage else { return Ok(Next::Done) };
        let claimed: Option<String> = sqlx::query_scalar(
            "WITH next AS ( \
               SELECT target FROM db_migrate_fleet WHERE fleet = $1 AND goal = $2 AND stage = $3 \
                 AND (state = 'pending' OR (state = 'running' AND lease_until < clock_timestamp()) \
                      OR (state = 'failed' AND finished_at < to_timestamp($4))) \
               ORDER BY ord LIMIT 1 FOR UPDATE SKIP LOCKED) \
             UPDATE db_migrate_fleet f SET state = 'running', owner = $5, attempts = f.attempts + 1, error = NULL, \
               started_at = clock_timestamp(), finished_at = NULL, lease_until = clock_timestamp() + make_interval(secs => $6) \
             FROM next WHERE f.fleet = $1 AND f.target = next.target RETURNING f.target",
        )
        .bind(&self.fleet)
        .bind(&self.goal)
        .bind(stage)
        .bind(self.started)
        .bind(&self.owner)
        .bind(self.lease.as_secs_f64())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(match claimed {
            Some(t) => Next::Target(t),
            None => Next::Wait,
        })
    }

    /// Records a claimed target's outcome. Returns false when the claim was lost (its lease ran
    /// out and another worker took the target over).
    pub async fn finish(&self, target: &str, ok: bool, error: Option<&str>) -> Result<bool, Error> {
        let n = sqlx::query(
            "UPDATE db_migrate_fleet SET state = $3, error = $4, finished_at = clock_timestamp(), lease_until = NULL \
             WHERE fleet = $1 AND target = $2 AND owner = $5 AND state = 'running'",
        )
        .bind(&self.fleet)
        .bind(target)
        .bind(if ok { "done" } else { "failed" })
        .bind(error)
        .bind(&self.owner)
        .execute(&self.pool)
        .await
        .map_err(db)?
        .rows_affected();
        Ok(n == 1)
    }

    /// Renews the leases of this worker's running claims.
    pub async fn heartbeat(&self) -> Result<(), Error> {
        sqlx::query(
            "UPDATE db_migrate_fleet SET lease_until = clock_timestamp() + make_interval(secs => $3) \
             WHERE fleet = $1 AND owner = $2 AND state = 'running'",
        )
        .bind(&self.fleet)
        .bind(&self.owner)
        .bind(self.lease.as_secs_f64())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// How many targets of the fleet are in each state, over every worker.
    pub async fn counts(&self) -> Result<Vec<(String, i64)>, Error> {
        let rows = sqlx::query("SELECT state, count(*) FROM db_migrate_fleet WHERE fleet = $1 AND goal = $2 GROUP BY state ORDER BY state")
            .bind(&self.fleet)
            .bind(&self.goal)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))).collect())
    }

    /// How often a heartbeat renews the leases.
    pub fn heartbeat_every(&self) -> Duration {
        (self.lease / 3).max(Duration::from_millis(200))
    }

    /// Closes the pool.
    pub async fn close(self) {
        self.pool.close().await;
    }
}
