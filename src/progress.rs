//! Progress on long work (checking large or many modules, apply's steps),
//! drawn on stderr only when it is a terminal: pipes, files and JSON output
//! never see it.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress(ProgressBar);

impl Progress {
    /// A counter of `total` steps, or nothing off a terminal.
    pub fn new(total: usize) -> Progress {
        if !crate::style::progress() {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(
            Some(total as u64),
            ProgressDrawTarget::stderr_with_hz(10),
        );
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        // Ticks while one long step (a 70 MB module) runs.
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress(bar)
    }

    pub fn hidden() -> Progress {
        Progress(ProgressBar::hidden())
    }

    /// Starts the next step.
    pub fn step(&self, what: impl Into<String>) {
        self.0.set_message(what.into());
        self.0.tick();
    }

    /// `n` more steps than planned (a manifest's apps, for example).
    pub fn grow(&self, n: usize) {
        self.0.inc_length(n as u64);
    }

    /// The current step is done.
    pub fn done(&self) {
        self.0.inc(1);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
