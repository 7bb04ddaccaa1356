//! The progress bar of `cargo dvc` (indicatif), drawn on stderr on a
//! terminal only, one dependency at a time. The engine reports received
//! bytes through [`crate::progress::Progress`]; [`Bars`] turns them into a
//! bar with the total and the time left when the size is known, a byte
//! counter otherwise. The [`Shell`](super::shell::Shell) owns it and prints
//! every line above it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// The bar currently shown, if any.
pub struct Bars {
    current: Mutex<Option<ProgressBar>>,
}

/// Clears the bar of one dependency when dropped.
pub struct BarGuard {
    bars: Arc<Bars>,
}

/// With a known total: a bar, percentage, rate and time left.
const WITH_TOTAL: &str = "{msg:>12.cyan.bold} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta} left)";
/// Without one: a spinner and a byte counter.
const WITHOUT_TOTAL: &str =
    "{spinner:.green} {msg}: {binary_bytes} ({binary_bytes_per_sec}, {elapsed})";

impl Bars {
    /// No bar shown yet.
    pub fn new() -> Bars {
        Bars {
            current: Mutex::new(None),
        }
    }

    /// Shows a bar for `name`; a spinner until the engine says how much is
    /// coming ([`crate::progress::Progress::expect`]).
    pub fn start(self: &Arc<Self>, name: &str) -> BarGuard {
        let bar = ProgressBar::new_spinner().with_message(name.to_string());
        if let Ok(style) = ProgressStyle::with_template(WITHOUT_TOTAL) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(100));
        *self.slot() = Some(bar);
        BarGuard {
            bars: Arc::clone(self),
        }
    }

    /// Runs `f` with the bar hidden (to print a line above it).
    pub fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        let bar = self.slot().clone();
        match bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for Bars {
    fn default() -> Self {
        Bars::new()
    }
}

impl crate::progress::Progress for Bars {
    fn received(&self, bytes: u64) {
        if let Some(bar) = &*self.slot() {
            bar.inc(bytes);
        }
    }

    /// The total size is known: draw a bar with the time left.
    fn expect(&self, total: u64) {
        if let Some(bar) = &*self.slot() {
            bar.set_length(bar.position() + total);
            if let Ok(style) = ProgressStyle::with_template(WITH_TOTAL) {
                bar.set_style(style.progress_chars("=> "));
            }
        }
    }
}

impl Drop for BarGuard {
    fn drop(&mut self) {
        if let Some(bar) = self.bars.slot().take() {
            bar.finish_and_clear();
        }
    }
}

/// The engine's progress sink in the CLI: counts every byte received (so a
/// command can tell "downloaded" from "was in the cache") and feeds the bar,
/// if one is drawn.
pub struct Meter {
    received: AtomicU64,
    bars: Option<Arc<Bars>>,
}

impl Meter {
    /// A meter feeding `bars`.
    pub fn new(bars: Option<Arc<Bars>>) -> Meter {
        Meter {
            received: AtomicU64::new(0),
            bars,
        }
    }

    /// Bytes received (or copied from a local remote) so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl crate::progress::Progress for Meter {
    fn received(&self, bytes: u64) {
        self.received.fetch_add(bytes, Ordering::Relaxed);
        if let Some(bars) = &self.bars {
            bars.received(bytes);
        }
    }

    fn expect(&self, total: u64) {
        if let Some(bars) = &self.bars {
            bars.expect(total);
        }
    }
}
