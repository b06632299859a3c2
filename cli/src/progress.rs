//! Progress from component migrations: a bar on a terminal, a plain line now and then elsewhere.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Output;

/// A rate, rounded for people: `950/s`, `12.4 k/s`, `3.10 M/s` (with `unit` after the number).
pub fn rate(r: f64, unit: &str) -> String {
    if !r.is_finite() || r < 0.0 {
        return format!("? {unit}");
    }
    if r >= 1e6 {
        format!("{:.2} M{unit}", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k{unit}", r / 1e3)
    } else {
        format!("{r:.0}{unit}")
    }
}

/// Shared, thread-safe progress display for one command.
#[derive(Clone)]
pub struct Progress {
    out: Output,
    tty: bool,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
}

impl Progress {
    /// A display for `out`: a bar only on an interactive stderr, never with `--json` or `-q`.
    pub fn new(out: &Output) -> Self {
        let tty = std::io::stderr().is_terminal() && !out.json && !out.quiet;
        Progress { out: *out, tty, state: Arc::default() }
    }

    /// Shows `done` of `total` for the migration `label`.
    pub fn update(&self, label: &str, done: u64, total: Option<u64>) {
        let mut s = self.state.lock().unwrap();
        if self.tty {
            let bar = s.bar.get_or_insert_with(|| {
                let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
                let style = if total.is_some() {
                    "{prefix} [{bar:30}] {pos}/{len} ({rate}, {eta} left)"
                } else {
                    "{prefix} {spinner} {pos} ({rate})"
                };
                // indicatif's own `{per_sec}` prints four decimals ("24437722.5976/s").
                let style = ProgressStyle::with_template(style)
                    .map(|s| s.with_key("rate", |st: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&rate(st.per_sec(), "/s"));
                    }))
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                bar.set_prefix(label.to_string());
                bar
            });
            if let Some(t) = total {
                bar.set_length(t);
            }
            bar.set_position(done);
        } else if s.last_line.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) || total == Some(done) {
            s.last_line = Some(Instant::now());
            let of = total.map(|t| format!("/{t}")).unwrap_or_default();
            self.out.note(&format!("[{label}] progress {done}{of}"));
        }
    }

    /// Runs `f` (which prints) without tearing the bar.
    pub fn suspend(&self, f: impl FnOnce()) {
        let s = self.state.lock().unwrap();
        match &s.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Removes the bar when its migration is done.
    pub fn finish(&self) {
        let mut s = self.state.lock().unwrap();
        if let Some(bar) = s.bar.take() {
            bar.finish_and_clear();
        }
        s.last_line = None;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_are_rounded_for_people() {
        assert_eq!(super::rate(24_437_722.5976, "/s"), "24.44 M/s");
        assert_eq!(super::rate(12_345.678, " rows/s"), "12.3 k rows/s");
        assert_eq!(super::rate(7.6, "/s"), "8/s");
        assert_eq!(super::rate(f64::NAN, "/s"), "? /s");
    }
}
