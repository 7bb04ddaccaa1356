//! What `cargo dvc -v` shows of the work behind a command: each `git`
//! command run and each remote opened, as cargo shows `Running` lines.
//!
//! The library reports through `event`; nothing is printed unless a front
//! end installed a sink with [`set_sink`] (the CLI does at `-v`; a build
//! script never does). Messages are redacted by the caller: no credentials.

use std::sync::OnceLock;

/// Receives `(verb, message)`, e.g. `("Running", "git ls-remote https://...")`.
pub type Sink = Box<dyn Fn(&str, &str) + Send + Sync>;

static SINK: OnceLock<Sink> = OnceLock::new();

/// Installs the process's sink; only the first call has an effect.
pub fn set_sink(sink: Sink) {
    let _ = SINK.set(sink);
}

/// Whether a sink is installed (so callers can skip formatting).
pub(crate) fn enabled() -> bool {
    SINK.get().is_some()
}

/// Reports one event to the sink, if any.
pub(crate) fn event(verb: &str, message: impl FnOnce() -> String) {
    if let Some(sink) = SINK.get() {
        sink(verb, &message());
    }
}
