//! A rollout: the canary stage, then the waves, with at most `parallel` targets at once, each
//! migrated through the one run path (`Migrator`) exactly as `up`/`down` would migrate it alone.
//!
//! Which target runs next comes from a ledger: in memory with the local journal, or the claim
//! table of a control database shared with other workers. A stage starts when every target of
//! the previous one is finished; a failure in the canary stage stops the rollout, a failure
//! elsewhere stops it too unless `--keep-going`. Targets already running when it stops finish
//! (a migration is never cut short by a stop); no new one starts.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::Serialize;

use super::claims::{Claims, Next};
use super::journal::{Entry, Journal};
use super::targets::{Plan, Target};
use super::view::View;
use crate::Output;
use crate::config::{Settings, UrlSource};
use db_migrate::migrate::embedded::ReadOnce;
use db_migrate::migrate::error::Error;
use db_migrate::migrate::plan::{DownTarget, UpOptions};

/// What each target gets.
#[derive(Debug, Clone, Copy)]
pub enum Job {
    /// `up`, as its options say.
    Up(UpOptions),
    /// `down` to a version or all the way (never a number of steps: a rerun must not revert more).
    Down(DownTarget),
}

/// How the rollout runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Targets at once.
    pub parallel: usize,
    /// Finish the other targets after a failure outside the canary stage.
    pub keep_going: bool,
    /// Check targets the state records as done, too.
    pub recheck: bool,
    /// Back each target up before migrating it.
    pub backup: bool,
    /// The control database (claims shared with other workers), if any.
    pub control_url: Option<String>,
    /// Claim lifetime without a heartbeat.
    pub lease: Duration,
}

/// The outcome of one target.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The target's name.
    pub target: String,
    /// 0: the canary stage; 1, 2…: the waves.
    pub stage: u32,
    /// `migrated`, `current` (nothing to do), `done_earlier` (the state says a previous run
    /// finished it), `elsewhere` (another worker did it), `failed`, `not_run`.
    pub result: &'static str,
    /// Migrations applied or reverted.
    pub steps: usize,
    /// The version of the last migration applied or reverted.
    pub last_version: Option<i64>,
    /// Wall time, in milliseconds.
    pub ms: f64,
    /// The error, as `--json` prints errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
    /// The error's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What a rollout did.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Every target's outcome, in the fleet's order.
    pub targets: Vec<Outcome>,
    /// Why it stopped early, if it did.
    pub stopped: Option<String>,
    /// Wall time, in milliseconds.
    pub total_ms: f64,
    /// With a control database: targets by state over every worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet_states: Option<std::collections::BTreeMap<String, i64>>,
}

/// A fingerprint of the migration set and the job: a target recorded done for the same goal
/// needs nothing; another goal (a new migration, an edited one, `down` after `up`) starts over.
pub fn goal(job: &Job, source: &ReadOnce) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let head = match job {
        Job::Up(o) => format!("up to={:?} ooo={}", o.to, o.allow_out_of_order),
        Job::Down(DownTarget::To(v)) => format!("down to={v}"),
        Job::Down(t) => format!("down {t:?}"),
    };
    h.update(head.as_bytes());
    for m in source.list() {
        h.update(format!("\n{} {}", m.version, m.checksum).as_bytes());
    }
    let d = h.finalize();
    let hex: String = d.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("{}:{hex}", head.split(' ').next().unwrap_or("up"))
}

/// The settings of one target: the fleet's, pointed at the target (a schema target keeps its
/// history table inside its schema).
pub fn target_settings(base: &Settings, t: &Target) -> Settings {
    let mut s = base.clone();
    s.database_url = t.url.clone();
    s.url_source = UrlSource::ConfigFile;
    if let Some(schema) = &t.schema {
        s.history_table = format!("{schema}.{}", base.history_table);
    }
    s
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Pending,
    Running,
    Done,
    Failed,
}

/// Which target is next: the local state, or the shared claim table.
enum Ledger {
    Local { journal: Journal, states: Vec<St>, stage: Vec<u32>, keep_going: bool },
    Shared { claims: Claims, index: HashMap<String, usize> },
}

/// The ledger's answer: run target `i`, wait for other workers, finished, or stop.
enum Step {
    Run(usize),
    Wait,
    Done,
    Stop(String),
}

impl Ledger {
    async fn next(&mut self) -> Result<Step, Error> {
        match self {
            Ledger::Local { states, stage, keep_going, .. } => {
                if let Some(i) = (0..states.len()).find(|&i| states[i] == St::Failed && stage[i] == 0) {
                    return Ok(Step::Stop(format!("canary target #{} failed", i + 1)));
                }
                if !*keep_going && states.contains(&St::Failed) {
                    return Ok(Step::Stop("a target failed".into()));
                }
                let current = (0..states.len()).filter(|&i| matches!(states[i], St::Pending | St::Running)).map(|i| stage[i]).min();
                let Some(current) = current else { return Ok(Step::Done) };
                match (0..states.len()).find(|&i| states[i] == St::Pending && stage[i] == current) {
                    Some(i) => {
                        states[i] = St::Running;
                        Ok(Step::Run(i))
                    }
                    None => Ok(Step::Wait),
                }
            }
            Ledger::Shared { claims, index } => Ok(match claims.next().await? {
                Next::Target(name) => Step::Run(*index.get(&name).ok_or_else(|| Error::Config(format!("the control database handed out `{name}`, which this fleet does not list")))?),
                Next::Wait => Step::Wait,
                Next::Done => Step::Done,
                Next::Stop(why) => Step::Stop(why),
            }),
        }
    }

    async fn finish(&mut self, i: usize, name: &str, goal: &str, ok: bool, error: Option<&str>, out: &Output) -> Result<(), Error> {
        match self {
            Ledger::Local { journal, states, .. } => {
                states[i] = if ok { St::Done } else { St::Failed };
                let e = Entry { target: name.into(), goal: goal.into(), state: if ok { "done" } else { "failed" }.into(), at: db_migrate::migrate::history::now_utc() };
                journal.append(&e).map_err(|e| Error::Io { path: journal.path().to_path_buf(), message: format!("cannot record the target in the fleet's state: {e}") })
            }
            Ledger::Shared { claims, .. } => {
                if !claims.finish(name, ok, error).await? {
                    out.note(&format!("note: the claim on {name} ran out before it finished and another worker took it over; its outcome there is the one recorded"));
                }
                Ok(())
            }
        }
    }
}

/// Runs `job` over the targets of `plan`.
pub async fn run(base: &Settings, fleet: &str, plan: &Plan, source: &ReadOnce, job: Job, opts: &Options, out: &Output) -> Result<Summary, Error> {
    let started = Instant::now();
    let goal = goal(&job, source);
    let n = plan.targets.len();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; n];
    let mut ledger = match &opts.control_url {
        None => {
            let journal = Journal::new(&base.project_dir, fleet);
            let recorded = journal.read();
            let mut states = vec![St::Pending; n];
            for (i, t) in plan.targets.iter().enumerate() {
                if !opts.recheck
                    && let Some(e) = recorded.get(&t.name)
                    && e.goal == goal
                    && e.state == "done"
                {
                    states[i] = St::Done;
                    outcomes[i] = Some(skipped(t, plan.stage[i], "done_earlier"));
                }
            }
            Ledger::Local { journal, states, stage: plan.stage.clone(), keep_going: opts.keep_going }
        }
        Some(url) => {
            let claims = Claims::open(url, fleet, &goal, opts.lease, opts.keep_going, opts.recheck, plan).await?;
            let index: HashMap<String, usize> = plan.targets.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
            for name in claims.done().await? {
                if let Some(&i) = index.get(&name) {
                    outcomes[i] = Some(skipped(&plan.targets[i], plan.stage[i], "done_earlier"));
                }
            }
            Ledger::Shared { claims, index }
        }
    };
    let mut view = View::new(out, n, outcomes.iter().filter(|o| o.is_some()).count());
    let mut running = FuturesUnordered::new();
    let mut stopped: Option<String> = None;
    let mut exhausted = false;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let beat_every = match &ledger {
        Ledger::Shared { claims, .. } => claims.heartbeat_every(),
        Ledger::Local { .. } => Duration::MAX,
    };
    let mut last_beat = Instant::now();
    loop {
        if stopped.is_none() && db_migrate::interrupt::requested().is_some() {
            stopped = Some("interrupted".into());
        }
        while stopped.is_none() && !exhausted && running.len() < opts.parallel {
            match ledger.next().await? {
                Step::Run(i) => {
                    view.started(i, &plan.targets[i].name);
                    let t = &plan.targets[i];
                    let stage = plan.stage[i];
                    running.push(async move { (i, run_target(base, fleet, t, stage, source, job, opts.backup, out).await) });
                }
                Step::Wait => break,
                Step::Done => exhausted = true,
                Step::Stop(why) => stopped = Some(why),
            }
        }
        if running.is_empty() && (stopped.is_some() || exhausted) {
            break;
        }
        tokio::select! {
            Some((i, outcome)) = running.next(), if !running.is_empty() => {
                let ok = outcome.result != "failed";
                ledger.finish(i, &outcome.target, &goal, ok, outcome.message.as_deref(), out).await?;
                view.finished(i, &outcome);
                outcomes[i] = Some(outcome);
            }
            _ = tick.tick() => {
                view.redraw();
                if last_beat.elapsed() >= beat_every {
                    if let Ledger::Shared { claims, .. } = &ledger {
                        claims.heartbeat().await?;
                    }
                    last_beat = Instant::now();
                }
            }
        }
    }
    view.clear();
    let fleet_states = match ledger {
        Ledger::Shared { claims, .. } => {
            let counts = claims.counts().await?;
            claims.close().await;
            Some(counts.into_iter().collect())
        }
        Ledger::Local { mut journal, .. } => {
            let _ = journal.compact();
            None
        }
    };
    let elsewhere = opts.control_url.is_some();
    let targets = outcomes
        .into_iter()
        .enumerate()
        .map(|(i, o)| o.unwrap_or_else(|| skipped(&plan.targets[i], plan.stage[i], if elsewhere && stopped.is_none() { "elsewhere" } else { "not_run" })))
        .collect();
    Ok(Summary { targets, stopped, total_ms: started.elapsed().as_secs_f64() * 1e3, fleet_states })
}

fn skipped(t: &Target, stage: u32, result: &'static str) -> Outcome {
    Outcome { target: t.name.clone(), stage, result, steps: 0, last_version: None, ms: 0.0, error: None, message: None }
}

/// Migrates one target through the ordinary run path.
async fn run_target(base: &Settings, fleet: &str, t: &Target, stage: u32, source: &ReadOnce, job: Job, backup: bool, out: &Output) -> Outcome {
    let started = Instant::now();
    let settings = target_settings(base, t);
    let result = async {
        if backup {
            backup_target(&settings, fleet, &t.name, out).await?;
        }
        let mut m = crate::migrator_with(&settings, source.clone()).on_event(observer(&settings, &t.name, out));
        match job {
            Job::Up(o) => m.up_unless_current(o).await,
            Job::Down(d) => m.down(d).await,
        }
    }
    .await;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    match result {
        Ok(r) => Outcome {
            target: t.name.clone(),
            stage,
            result: if r.steps.is_empty() && r.repeatable.is_empty() { "current" } else { "migrated" },
            steps: r.steps.len(),
            last_version: r.steps.last().map(|s| s.version),
            ms,
            error: None,
            message: None,
        },
        Err(e) => {
            // Backends mask passwords in their messages already; this is a second wall, since a
            // fleet's report goes to logs and to the control database.
            let message = db_migrate::backend::url::redact(&e.to_string());
            let mut error = crate::output::error_json(&e);
            error["message"] = message.clone().into();
            Outcome { target: t.name.clone(), stage, result: "failed", steps: 0, last_version: None, ms, error: Some(error), message: Some(message) }
        }
    }
}

/// What a target's run reports as it goes: refused statements are audited (with the target) and
/// shown, as `up` shows them; with `-v`, what components log.
fn observer(settings: &Settings, target: &str, out: &Output) -> impl Fn(&db_migrate::Event<'_>) + Send + Sync + 'static {
    use db_migrate::Event;
    let out = *out;
    let target = target.to_string();
    let audit = crate::audit::AuditLog::new(settings.project_dir.join(".db-migrate").join("audit.log"));
    move |e| match e {
        Event::Audit { migration, statement, reason } => {
            out.note(&format!("[{target} {}] audit: denied: {reason}", migration.label()));
            audit.record_on(Some(&target), &migration.label(), statement, reason);
        }
        Event::GuestLog { migration, message, .. } => out.verbose(&format!("[{target} {}] {message}", migration.label())),
        Event::GuestOutput { migration, stream, line } => out.verbose(&format!("[{target} {}] {stream}: {line}", migration.label())),
        Event::Warning { warning } => out.warning(warning, Some(&target)),
        _ => {}
    }
}

/// Backs one target up before it is migrated, as `up --backup` does, into
/// `backups/fleets/FLEET/<target>-<time>.<ext>` so each file says whose it is. A failed backup
/// fails the target: it is not migrated.
async fn backup_target(settings: &Settings, fleet: &str, target: &str, out: &Output) -> Result<(), Error> {
    use crate::backup::Destination;
    use db_migrate::backend::DatabaseUrl;
    let url = DatabaseUrl::parse(&settings.database_url, &settings.project_dir)?;
    if let DatabaseUrl::Sqlite(db_migrate::backend::url::SqliteTarget::File(f)) = &url
        && !f.exists()
    {
        return Ok(());
    }
    let safe: String = target.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    let dest = match crate::backup::default_destination(&settings.project_dir, &settings.environment, &url) {
        Destination::Fresh { dir, stem, ext } => Destination::Fresh { dir: dir.join("fleets").join(fleet), stem: format!("{safe}-{stem}"), ext },
        exact => exact,
    };
    let path = crate::backup::backup(&url, &dest).await.map_err(|e| Error::Config(format!("{e}\nno migration was run: the backup before it failed")))?;
    out.verbose(&format!("backed up {target} to {}", path.display()));
    Ok(())
}
