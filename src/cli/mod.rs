//! `cargo dvc`: the command-line front end (feature `cli`), laid out as
//! cargo's own.
//!
//! * `args`: the root command and its global flags (`-v`, `-q`, `--color`,
//!   `--locked`, `--offline`, `--frozen`, accepted anywhere), and the
//!   argument groups commands share (`-p`/`--workspace`/`--exclude`,
//!   `--manifest-path`), under cargo's help headings.
//! * `commands`: one module per command, each its arguments struct and a
//!   thin `exec` over the engine and the lock policy the build script uses.
//! * `context`: the modes the flags set (locked, offline), the shell, and the
//!   engine, opened on first use.
//! * `shell` (cargo's `Shell`: status lines, colour, output that survives a
//!   closed pipe) and `progress` (the progress bar it draws).
//! * `workspace` (which packages), `manifest_edit` (`Cargo.toml` edits that
//!   keep formatting), `dvc_project` (what `dvc import`/`dvc pull` do around
//!   an artifact: `.gitignore`, `.dvc/cache`).
//!
//! Exit codes: 0 on success, 101 on an error (as cargo), 2 for a usage
//! error (clap's), and 1 where a command documents it (`check` when a lock
//! is wrong).

pub(crate) mod args;
pub(crate) mod commands;
pub(crate) mod context;
mod dvc_project;
pub(crate) mod json;
pub(crate) mod manifest_edit;
pub(crate) mod progress;
pub(crate) mod shell;
mod workspace;

use args::{Cli, GlobalArgs};
use context::Context;
use shell::{ColorChoice, Shell, Verbosity};

/// Exit code of a command that ran but found a problem (`check`).
pub const FAILURE: i32 = 1;
/// Exit code of a command that failed with an error, as cargo's.
pub const ERROR: i32 = 101;

/// Runs `cargo dvc` with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    let args = args::strip_cargo_subcommand(std::env::args_os().collect());
    let cli = match Cli::parse_args(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let shell = Shell::new(verbosity(&cli.global), color(&cli.global));
    if cli.global.quiet && cli.global.verbose > 0 {
        // clap checks conflicts per level only; `-q status -v` gets here.
        shell.error("cannot set both --verbose and --quiet");
        return ERROR;
    }
    let ctx = Context::new(cli.global, shell);
    match commands::exec(&ctx, cli.command) {
        Ok(code) => code,
        Err(e) => {
            ctx.shell().error(format_args!("{e:?}"));
            ERROR
        }
    }
}

/// `-q`, `-v`, else `CARGO_TERM_QUIET` / `CARGO_TERM_VERBOSE`, as cargo reads them.
fn verbosity(global: &GlobalArgs) -> Verbosity {
    let env_true = |name: &str| std::env::var(name).is_ok_and(|v| v.trim() == "true");
    if global.quiet {
        Verbosity::Quiet
    } else if global.verbose > 0 {
        Verbosity::Verbose
    } else if env_true("CARGO_TERM_QUIET") {
        Verbosity::Quiet
    } else if env_true("CARGO_TERM_VERBOSE") {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    }
}

/// `--color`, else `CARGO_TERM_COLOR`, else auto.
fn color(global: &GlobalArgs) -> ColorChoice {
    global
        .color
        .or_else(ColorChoice::from_env)
        .unwrap_or_default()
}
