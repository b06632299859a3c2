//! What a rollout shows while it runs: on a terminal, one live line (targets done, failed and
//! running, and the slowest running one); elsewhere a summary line every few seconds and one
//! line per failure. Nothing with `--json` or `-q` but failures (on stderr, without `--json`).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::rollout::Outcome;
use crate::Output;

/// The live view of one rollout.
pub struct View {
    out: Output,
    bar: Option<ProgressBar>,
    total: usize,
    done: usize,
    failed: usize,
    running: HashMap<usize, (String, Instant)>,
    last_line: Instant,
}

impl View {
    /// A view of `total` targets, `already` of which need nothing.
    pub fn new(out: &Output, total: usize, already: usize) -> Self {
        let tty = std::io::stderr().is_terminal() && !out.json && !out.quiet;
        let bar = tty.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(ProgressStyle::with_template("[{bar:30}] {pos}/{len} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()));
            bar.set_position(already as u64);
            bar
        });
        View { out: *out, bar, total, done: already, failed: 0, running: HashMap::new(), last_line: Instant::now() }
    }

    /// Target `i` started.
    pub fn started(&mut self, i: usize, name: &str) {
        self.running.insert(i, (name.to_string(), Instant::now()));
    }

    /// Target `i` finished.
    pub fn finished(&mut self, i: usize, o: &Outcome) {
        self.running.remove(&i);
        self.done += 1;
        if o.result == "failed" {
            self.failed += 1;
            let line = format!("failed   {}: {}", o.target, o.message.as_deref().unwrap_or("?"));
            match &self.bar {
                Some(b) => b.suspend(|| self.out.note(&line)),
                None if !self.out.json => self.out.note(&line),
                None => {}
            }
        } else if self.out.verbose {
            let line = format!("{:<8} {} ({} step(s), {:.1} ms)", o.result, o.target, o.steps, o.ms);
            match &self.bar {
                Some(b) => b.suspend(|| self.out.note(&line)),
                None => self.out.note(&line),
            }
        }
        if let Some(b) = &self.bar {
            b.set_position(self.done as u64);
        }
        self.redraw();
    }

    fn status(&self) -> String {
        let slowest = self.running.values().max_by_key(|(_, t)| t.elapsed()).map(|(n, t)| format!("; slowest: {n} ({:.1} s)", t.elapsed().as_secs_f64()));
        format!("{} done, {} failed, {} running{}", self.done, self.failed, self.running.len(), slowest.unwrap_or_default())
    }

    /// Refreshes the live line (or, off a terminal, prints the summary every 5 s).
    pub fn redraw(&mut self) {
        match &self.bar {
            Some(b) => b.set_message(self.status()),
            None => {
                if !self.out.json && !self.out.quiet && self.last_line.elapsed() >= Duration::from_secs(5) {
                    self.last_line = Instant::now();
                    self.out.note(&format!("fleet: {}/{} — {}", self.done, self.total, self.status()));
                }
            }
        }
    }

    /// Removes the live line.
    pub fn clear(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
