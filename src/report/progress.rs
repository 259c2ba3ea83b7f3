//! A progress bar on stderr (artifacts, bytes, throughput, ETA), drawn only when stderr is a
//! terminal: it never reaches stdout or a log.

use std::io::{self, IsTerminal};
use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{RunInfo, Scanned, Sink, Tally};

/// Wraps a sink and advances the bar for each result it passes on.
pub struct Progress<'a> {
    inner: &'a mut dyn Sink,
    bar: ProgressBar,
    bytes: u64,
}

impl<'a> Progress<'a> {
    /// A bar over `artifacts`; hidden unless stderr is a terminal.
    pub fn new(inner: &'a mut dyn Sink, artifacts: u64) -> Self {
        let terminal = io::stderr().is_terminal();
        let target = if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(artifacts), target);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:30} {pos}/{len} artifacts  {msg}  ETA {eta}")
        {
            bar.set_style(style);
        }
        if terminal {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Progress {
            inner,
            bar,
            bytes: 0,
        }
    }
}

impl Sink for Progress<'_> {
    fn ordered(&self) -> bool {
        self.inner.ordered()
    }

    fn artifact(&mut self, item: Scanned) -> io::Result<()> {
        self.bytes = self.bytes.saturating_add(item.report.size);
        let elapsed = self.bar.elapsed().as_secs_f64().max(1e-3);
        self.bar.inc(1);
        self.bar.set_message(format!(
            "{}  {}/s  {:.0} artifacts/s",
            HumanBytes(self.bytes),
            HumanBytes((self.bytes as f64 / elapsed) as u64),
            self.bar.position() as f64 / elapsed
        ));
        self.bar.suspend(|| self.inner.artifact(item))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.bar.suspend(|| self.inner.flush())
    }

    fn finish(&mut self, info: &RunInfo, tally: &Tally) -> io::Result<()> {
        self.bar.finish_and_clear();
        self.inner.finish(info, tally)
    }
}
