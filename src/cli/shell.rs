//! Cargo-style terminal output, after cargo's `Shell`.
//!
//! * Status lines on stderr, the verb bold and right-aligned in 12 columns
//!   (`    Updating classifier v1 -> v2`); `warning:`, `note:` and `error:`
//!   lines. `-q` silences everything but errors; `-v` adds the lines given
//!   to [`Shell::verbose`].
//! * Colour follows `--color auto|always|never`, else `CARGO_TERM_COLOR`,
//!   else `auto` (a terminal, unless `NO_COLOR`; `CLICOLOR_FORCE` forces it).
//! * Results for scripts (the `status` table, JSON) go to stdout through
//!   [`Shell::print_stdout`] / [`Shell::print_json`], which stop quietly
//!   when the reader has gone (`cargo dvc status | head -1`) instead of
//!   panicking as `println!` does.
//! * A progress bar (see [`Shell::progress`]) is drawn on stderr, only on a
//!   terminal; every line printed while it is shown is printed above it.
//! * [`Shell::from_write`] sends everything (stdout and stderr, colour
//!   stripped) to one writer, for tests.

use std::fmt::Display;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use anstyle::Style;

use crate::cli::progress::Bars;

/// How much to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Errors only (`-q`).
    Quiet,
    /// Status lines, notes and warnings.
    Normal,
    /// Also the details given to [`Shell::verbose`] (`-v`).
    Verbose,
}

/// When to colour output: `--color`, as cargo's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless `NO_COLOR` is set.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// `CARGO_TERM_COLOR`, when set to one of the three values.
    pub fn from_env() -> Option<ColorChoice> {
        let value = std::env::var("CARGO_TERM_COLOR").ok()?;
        match value.trim() {
            "auto" => Some(ColorChoice::Auto),
            "always" => Some(ColorChoice::Always),
            "never" => Some(ColorChoice::Never),
            _ => None,
        }
    }

    fn to_anstream(self) -> anstream::ColorChoice {
        match self {
            ColorChoice::Auto => anstream::ColorChoice::Auto,
            ColorChoice::Always => anstream::ColorChoice::Always,
            ColorChoice::Never => anstream::ColorChoice::Never,
        }
    }
}

/// The styles of cargo's output.
pub mod style {
    use anstyle::{AnsiColor, Style};

    /// Status verbs (`Updating`, `Fetched`).
    pub const HEADER: Style = AnsiColor::Green.on_default().bold();
    /// Verbose-only status verbs (`Running`).
    pub const DETAIL: Style = AnsiColor::Cyan.on_default().bold();
    /// `warning:`.
    pub const WARN: Style = AnsiColor::Yellow.on_default().bold();
    /// `error:`.
    pub const ERROR: Style = AnsiColor::Red.on_default().bold();
    /// `note:`.
    pub const NOTE: Style = AnsiColor::Cyan.on_default().bold();
}

/// Where output goes.
enum ShellOut {
    /// The process's stdout and stderr.
    Stream {
        stdout: anstream::AutoStream<io::Stdout>,
        stderr: anstream::AutoStream<io::Stderr>,
        stderr_tty: bool,
    },
    /// One writer for both, colour stripped (tests).
    Write(anstream::StripStream<Box<dyn Write + Send>>),
}

impl ShellOut {
    fn err(&mut self) -> &mut dyn Write {
        match self {
            ShellOut::Stream { stderr, .. } => stderr,
            ShellOut::Write(w) => w,
        }
    }

    fn out(&mut self) -> &mut dyn Write {
        match self {
            ShellOut::Stream { stdout, .. } => stdout,
            ShellOut::Write(w) => w,
        }
    }
}

/// Cargo-style output: status lines, notes, warnings and errors on stderr,
/// results on stdout, a progress bar on a terminal.
pub struct Shell {
    out: Mutex<ShellOut>,
    verbosity: Verbosity,
    /// The progress bar, when stderr is a terminal and `-q` is off.
    bars: Option<Arc<Bars>>,
    /// Set once stdout's reader has gone: nothing more is written there.
    stdout_closed: Mutex<bool>,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell")
            .field("verbosity", &self.verbosity)
            .finish_non_exhaustive()
    }
}

impl Shell {
    /// The process's stdout and stderr, coloured as `color` says.
    pub fn new(verbosity: Verbosity, color: ColorChoice) -> Shell {
        let stderr_tty = io::stderr().is_terminal();
        let choice = color.to_anstream();
        let bars = (verbosity > Verbosity::Quiet && stderr_tty).then(|| Arc::new(Bars::new()));
        Shell {
            out: Mutex::new(ShellOut::Stream {
                stdout: anstream::AutoStream::new(io::stdout(), choice),
                stderr: anstream::AutoStream::new(io::stderr(), choice),
                stderr_tty,
            }),
            verbosity,
            bars,
            stdout_closed: Mutex::new(false),
        }
    }

    /// A shell writing everything, colour stripped, to `out` (for tests),
    /// at [`Verbosity::Normal`]; no progress bar.
    pub fn from_write(out: Box<dyn Write + Send>) -> Shell {
        Shell {
            out: Mutex::new(ShellOut::Write(anstream::StripStream::new(out))),
            verbosity: Verbosity::Normal,
            bars: None,
            stdout_closed: Mutex::new(false),
        }
    }

    /// The same shell at another verbosity.
    pub fn with_verbosity(mut self, verbosity: Verbosity) -> Shell {
        self.verbosity = verbosity;
        if verbosity == Verbosity::Quiet {
            self.bars = None;
        }
        self
    }

    /// How much is printed.
    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    /// `true` when stderr is a terminal (progress bars, prompts).
    pub fn is_err_tty(&self) -> bool {
        match &*self.lock() {
            ShellOut::Stream { stderr_tty, .. } => *stderr_tty,
            ShellOut::Write(_) => false,
        }
    }

    /// `    {verb} {message}`, the verb green and right-aligned, as cargo
    /// prints progress. Not with `-q`.
    pub fn status(&self, verb: impl Display, message: impl Display) {
        self.status_with_color(verb, message, style::HEADER);
    }

    /// [`Shell::status`] in another colour.
    pub fn status_with_color(&self, verb: impl Display, message: impl Display, color: Style) {
        if self.verbosity >= Verbosity::Normal {
            self.err_line(format_args!("{color}{verb:>12}{color:#} {message}"));
        }
    }

    /// Runs `f` only with `-v`, as cargo's `shell.verbose(|s| ...)`: what it
    /// prints is shown only then, and nothing is formatted otherwise.
    pub fn verbose(&self, f: impl FnOnce(&Shell)) {
        if self.verbosity >= Verbosity::Verbose {
            f(self);
        }
    }

    /// A status line in the verbose colour, shown only with `-v`.
    pub fn detail(&self, verb: impl Display, message: impl Display) {
        self.verbose(|s| s.status_with_color(verb, message, style::DETAIL));
    }

    /// `note: {message}`. Not with `-q`.
    pub fn note(&self, message: impl Display) {
        if self.verbosity >= Verbosity::Normal {
            let s = style::NOTE;
            self.err_line(format_args!("{s}note{s:#}: {message}"));
        }
    }

    /// `warning: {message}`. Not with `-q`.
    pub fn warn(&self, message: impl Display) {
        if self.verbosity >= Verbosity::Normal {
            let s = style::WARN;
            self.err_line(format_args!("{s}warning{s:#}: {message}"));
        }
    }

    /// `error: {message}`, printed even with `-q`.
    pub fn error(&self, message: impl Display) {
        let s = style::ERROR;
        self.err_line(format_args!("{s}error{s:#}: {message}"));
    }

    /// A line on stdout (a result, not a message). Printed with `-q` too.
    /// Once stdout's reader has gone, nothing more is written.
    pub fn print_stdout(&self, line: impl Display) {
        let mut closed = self.stdout_closed.lock().unwrap_or_else(|e| e.into_inner());
        if *closed {
            return;
        }
        let result = self.suspend_bars(|| {
            let mut out = self.lock();
            let w = out.out();
            writeln!(w, "{line}").and_then(|()| w.flush())
        });
        if result.is_err() {
            // A closed pipe (or a full disk): the reader cannot get more.
            *closed = true;
        }
    }

    /// `value` as one line of JSON on stdout.
    pub fn print_json(&self, value: &serde_json::Value) {
        self.print_stdout(value);
    }

    /// The progress bar, when one is drawn (a terminal, not `-q`).
    pub fn bars(&self) -> Option<Arc<Bars>> {
        self.bars.clone()
    }

    /// Shows a progress bar for `name` (a spinner while its size is not
    /// known) until the guard is dropped; nothing off a terminal or with `-q`.
    pub fn progress(&self, name: &str) -> Option<crate::cli::progress::BarGuard> {
        self.bars.as_ref().map(|bars| bars.start(name))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ShellOut> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One line on stderr, above the progress bar if one is shown; errors
    /// (a closed stderr) are ignored, as there is nowhere to report them.
    fn err_line(&self, text: std::fmt::Arguments<'_>) {
        let _ = self.suspend_bars(|| {
            let mut out = self.lock();
            let w = out.err();
            writeln!(w, "{text}").and_then(|()| w.flush())
        });
    }

    fn suspend_bars<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.bars {
            Some(bars) => bars.suspend(f),
            None => f(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose bytes the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn cargo_style_lines_without_colour() {
        let out = Captured::default();
        let shell = Shell::from_write(Box::new(out.clone()));
        shell.status("Updating", "classifier v1 -> v2");
        shell.note("run `cargo dvc pull`");
        shell.warn("careful");
        shell.error("broken");
        shell.detail("Running", "git fetch");
        shell.print_stdout("a result");
        assert_eq!(
            out.text(),
            "    Updating classifier v1 -> v2\nnote: run `cargo dvc pull`\nwarning: careful\n\
             error: broken\na result\n"
        );
    }

    #[test]
    fn quiet_keeps_errors_and_results_verbose_adds_details() {
        let out = Captured::default();
        let shell = Shell::from_write(Box::new(out.clone())).with_verbosity(Verbosity::Quiet);
        shell.status("Fetched", "x");
        shell.note("n");
        shell.warn("w");
        shell.error("e");
        shell.print_stdout("r");
        assert_eq!(out.text(), "error: e\nr\n");
        let out = Captured::default();
        let shell = Shell::from_write(Box::new(out.clone())).with_verbosity(Verbosity::Verbose);
        shell.detail("Running", "git ls-remote");
        assert_eq!(out.text(), "     Running git ls-remote\n");
    }

    /// A writer whose reader has gone.
    struct ClosedPipe(Arc<Mutex<usize>>);

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            *self.0.lock().unwrap() += 1;
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_stops_output_without_panicking() {
        let writes = Arc::new(Mutex::new(0));
        let shell = Shell::from_write(Box::new(ClosedPipe(Arc::clone(&writes))));
        shell.print_stdout("one");
        shell.print_stdout("two");
        shell.print_json(&serde_json::json!({"version": 1}));
        assert_eq!(
            *writes.lock().unwrap(),
            1,
            "nothing written after the first failure"
        );
        shell.error("still no panic");
    }
}
