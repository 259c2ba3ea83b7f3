//! A progress bar on stderr, drawn only when stderr is a terminal: it never reaches stdout or a
//! log. It advances by bytes (each file's as its hash proceeds, the rest when its result is
//! ready), so a single multi-GB file moves the bar and gets an ETA; the message counts artifacts.

use std::io::{self, IsTerminal};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{RunInfo, Scanned, Sink, Tally};

/// Wraps a sink and advances the bar for each result it passes on.
pub struct Progress<'a> {
    inner: &'a mut dyn Sink,
    bar: ProgressBar,
    artifacts: u64,
    done: u64,
    /// Whether the bar is drawn (stderr is a terminal); a hidden one costs nothing per result.
    drawn: bool,
}

/// A handle the worker threads advance the bar with (bytes done).
#[derive(Clone)]
pub struct Advance(ProgressBar);

impl Advance {
    pub fn by(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

impl<'a> Progress<'a> {
    /// A bar over `bytes` of `artifacts`; hidden unless stderr is a terminal. `bytes` is asked
    /// only for a drawn bar (it stats every file, serially, before the scan starts).
    pub fn new(inner: &'a mut dyn Sink, artifacts: u64, bytes: impl FnOnce() -> u64) -> Self {
        let terminal = io::stderr().is_terminal();
        let (target, total) = if terminal {
            (ProgressDrawTarget::stderr(), bytes())
        } else {
            (ProgressDrawTarget::hidden(), 0)
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        if let Ok(style) = ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes}  {binary_bytes_per_sec}  {msg}  ETA {eta}",
        ) {
            bar.set_style(style);
        }
        bar.set_message(format!("0/{artifacts} artifacts"));
        if terminal {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Progress {
            inner,
            bar,
            artifacts,
            done: 0,
            drawn: terminal,
        }
    }

    /// The handle for [`crate::batch::Batch::progress`].
    pub fn advance(&self) -> Advance {
        Advance(self.bar.clone())
    }
}

impl Sink for Progress<'_> {
    fn ordered(&self) -> bool {
        self.inner.ordered()
    }

    fn artifact(&mut self, item: Scanned) -> io::Result<()> {
        if !self.drawn {
            return self.inner.artifact(item);
        }
        self.done += 1;
        let elapsed = self.bar.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_message(format!(
            "{}/{} artifacts  {:.0} artifacts/s",
            self.done,
            self.artifacts,
            self.done as f64 / elapsed
        ));
        self.bar.suspend(|| self.inner.artifact(item))
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.drawn {
            return self.inner.flush();
        }
        self.bar.suspend(|| self.inner.flush())
    }

    fn finish(&mut self, info: &RunInfo, tally: &Tally) -> io::Result<()> {
        self.bar.finish_and_clear();
        self.inner.finish(info, tally)
    }
}
