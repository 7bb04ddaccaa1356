//! Cargo-style terminal output: `    Updating classifier v1 -> v2` status
//! lines (a bold, right-aligned verb), warnings and errors on stderr, colour
//! only on a terminal (anstream strips it elsewhere), `-q`/`-v` honoured.

use std::fmt::Display;
use std::io::Write;

use anstyle::{AnsiColor, Style};

/// How much to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Errors only.
    Quiet,
    /// Status lines and warnings.
    Normal,
    /// Also details.
    Verbose,
}

/// Where status lines go.
#[derive(Debug, Clone, Copy)]
pub struct Shell {
    verbosity: Verbosity,
}

const GREEN: Style = AnsiColor::Green.on_default().bold();
const CYAN: Style = AnsiColor::Cyan.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const RED: Style = AnsiColor::Red.on_default().bold();

impl Shell {
    /// A shell printing at `verbosity`.
    pub fn new(verbosity: Verbosity) -> Shell {
        Shell { verbosity }
    }

    /// The verbosity.
    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    /// `    {verb} {message}` with a green verb, as cargo prints progress.
    pub fn status(&self, verb: &str, message: impl Display) {
        self.line(Verbosity::Normal, GREEN, verb, message);
    }

    /// A status line shown only with `-v`.
    pub fn verbose(&self, verb: &str, message: impl Display) {
        self.line(Verbosity::Verbose, CYAN, verb, message);
    }

    /// `warning: {message}`.
    pub fn warn(&self, message: impl Display) {
        if self.verbosity >= Verbosity::Normal {
            let mut err = anstream::stderr().lock();
            let _ = writeln!(err, "{YELLOW}warning{YELLOW:#}: {message}");
        }
    }

    /// `error: {message}`, always printed.
    pub fn error(&self, message: impl Display) {
        let mut err = anstream::stderr().lock();
        let _ = writeln!(err, "{RED}error{RED:#}: {message}");
    }

    fn line(&self, min: Verbosity, style: Style, verb: &str, message: impl Display) {
        if self.verbosity >= min {
            let mut err = anstream::stderr().lock();
            let _ = writeln!(err, "{style}{verb:>12}{style:#} {message}");
        }
    }
}
