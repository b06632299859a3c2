//! Ctrl-C and SIGTERM: stop cleanly instead of dying mid-statement.
//!
//! A runner killed in the middle of a statement leaves the server to notice the dead client, the
//! run's lock held until it does, and the user guessing what was kept. So the commands that
//! change the database install [`install`]: the first SIGINT or SIGTERM marks the run as
//! interrupted and cancels the statement in flight (each backend registers how, with
//! [`on_request`]); the migration then fails and rolls back through the ordinary failure path,
//! the run stops before the next migration, releases its lock, and the CLI exits with 130 saying
//! what was kept. A second signal exits at once.
//!
//! Library users who do not call [`install`] see no change: nothing here runs unless a signal
//! handler (theirs or ours) calls [`request`].

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Something that can stop the statement running on a connection, from another thread.
pub trait Cancel: Send + Sync {
    /// Asks the database to stop the statement in flight (best effort; never blocks for long).
    fn cancel(&self);
}

/// The signal that asked the run to stop (0: none).
static REQUESTED: AtomicI32 = AtomicI32::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
type Hooks = Vec<(u64, Arc<dyn Cancel>)>;
static HOOKS: Mutex<Hooks> = Mutex::new(Vec::new());

/// Why a run was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (a service manager or `kill`).
    Terminate,
}

impl Signal {
    /// The signal's name.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

/// Whether the run was asked to stop, and by which signal.
pub fn requested() -> Option<Signal> {
    match REQUESTED.load(Ordering::SeqCst) {
        0 => None,
        15 => Some(Signal::Terminate),
        _ => Some(Signal::Interrupt),
    }
}

/// Asks the run to stop: marks it and cancels every registered statement. Only the first call
/// does anything.
pub fn request(signal: Signal) {
    let code = match signal {
        Signal::Interrupt => 2,
        Signal::Terminate => 15,
    };
    if REQUESTED.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        // Under the registry's lock: a `Registration` cannot be dropped (and the connection
        // behind it closed) while its hook runs, so a hook never touches a closed handle.
        let hooks = lock();
        for (_, h) in hooks.iter() {
            h.cancel();
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, Hooks> {
    HOOKS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps a [`Cancel`] registered; dropping it unregisters.
#[must_use = "the hook is removed when this is dropped"]
pub struct Registration(u64);

impl Drop for Registration {
    fn drop(&mut self) {
        lock().retain(|(id, _)| *id != self.0);
    }
}

/// Registers how to cancel the statement about to run, for as long as the returned value lives.
pub fn on_request(cancel: impl Cancel + 'static) -> Registration {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    lock().push((id, Arc::new(cancel)));
    Registration(id)
}

/// Installs the SIGINT/SIGTERM handlers for this process (the CLI calls it for commands that
/// change the database). The first signal calls [`request`] and prints what happens next; a
/// second exits at once with 130.
pub fn install() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // Registered here, before returning, so no signal slips through before the thread runs.
    let (mut int, mut term) = {
        let _guard = rt.enter();
        (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?)
    };
    std::thread::Builder::new().name("db-migrate-signals".into()).spawn(move || {
        let next = |rt: &tokio::runtime::Runtime, int: &mut tokio::signal::unix::Signal, term: &mut tokio::signal::unix::Signal| {
            rt.block_on(async {
                tokio::select! {
                    _ = int.recv() => Signal::Interrupt,
                    _ = term.recv() => Signal::Terminate,
                }
            })
        };
        let first = next(&rt, &mut int, &mut term);
        eprintln!(
            "\n{} received: stopping. The migration or seed in flight is cancelled and handled like any failure \
             (rolled back, or left dirty if it ran outside a transaction: the final message says which), \
             and the lock is released (send it again to exit at once)",
            first.name()
        );
        // Outside `block_on`: cancel hooks may start their own runtime to reach the server.
        request(first);
        let second = next(&rt, &mut int, &mut term);
        eprintln!(
            "{} received again: exiting now. A transaction in flight is rolled back by the database; \
             run `db-migrate status` to check for a dirty migration",
            second.name()
        );
        std::process::exit(130);
    })?;
    Ok(())
}
