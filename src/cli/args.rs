//! The command line, as clap parses it: the root command with the global
//! flags (declared once, `global = true`, so `cargo dvc -q status` and
//! `cargo dvc status -q` both work, as with cargo), and the argument groups
//! commands share (package selection, manifest path). Each command's own
//! arguments live beside it in `commands/<name>.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cli::commands;
use crate::cli::shell::ColorChoice;

/// Cargo's help headings.
pub mod heading {
    /// `-p`, `--workspace`, `--exclude`.
    pub const PACKAGE_SELECTION: &str = "Package Selection";
    /// `--manifest-path`, `--locked`, `--offline`, `--frozen`.
    pub const MANIFEST_OPTIONS: &str = "Manifest Options";
}

/// Shown at the end of `cargo dvc --help`.
const AFTER_HELP: &str = "\
Cargo does not pass --locked, --offline or --frozen to build scripts: in a
`cargo build`, get those modes from the environment instead:
    DVC_BUILD_LOCKED=1 cargo build       never write a data lock (for CI)
    CARGO_NET_OFFLINE=true cargo build   no network: use the cache
(`cargo dvc check` in CI fails on a stale lock; `cargo dvc fetch` prefetches
for offline builds.)

Run `cargo dvc help <command>` for more on a command.";

/// Pinned, verified DVC artifacts as Cargo dependencies: declare them in
/// Cargo.toml, lock them in `<out>.dvc`, build with them.
#[derive(Debug, Parser)]
#[command(
    name = "cargo-dvc",
    version,
    after_help = AFTER_HELP,
    max_term_width = 100
)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The flags of every command, accepted before or after the command's name.
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Use verbose output: git commands, remote URLs.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, display_order = 100)]
    pub verbose: u8,
    /// Print nothing but errors and results.
    #[arg(short, long, global = true, display_order = 101)]
    pub quiet: bool,
    /// Coloring: auto, always, never [default: CARGO_TERM_COLOR, else auto].
    #[arg(
        long,
        global = true,
        value_name = "WHEN",
        value_enum,
        hide_possible_values = true,
        display_order = 102
    )]
    pub color: Option<ColorChoice>,
    /// Never write a lock; fail when one is missing or stale (also
    /// DVC_BUILD_LOCKED=1).
    #[arg(long, global = true, help_heading = heading::MANIFEST_OPTIONS, display_order = 110)]
    pub locked: bool,
    /// Use no network: work from the cache (also CARGO_NET_OFFLINE=true).
    #[arg(long, global = true, help_heading = heading::MANIFEST_OPTIONS, display_order = 111)]
    pub offline: bool,
    /// Equivalent to specifying both --locked and --offline.
    #[arg(long, global = true, help_heading = heading::MANIFEST_OPTIONS, display_order = 112)]
    pub frozen: bool,
}

/// `-p`, `--workspace`, `--exclude`: which packages of a workspace a
/// command works on (default: the package of the current folder, or every
/// member from a virtual manifest).
#[derive(Debug, Args, Clone, Default)]
pub struct PackageSelection {
    /// Package(s) to work on.
    #[arg(
        short = 'p',
        long = "package",
        value_name = "SPEC",
        help_heading = heading::PACKAGE_SELECTION
    )]
    pub package: Vec<String>,
    /// Work on every package of the workspace.
    #[arg(long, help_heading = heading::PACKAGE_SELECTION)]
    pub workspace: bool,
    /// Leave out these packages (with --workspace).
    #[arg(
        long,
        value_name = "SPEC",
        requires = "workspace",
        help_heading = heading::PACKAGE_SELECTION
    )]
    pub exclude: Vec<String>,
}

/// `-p SPEC` for a command that edits one package's `Cargo.toml`.
#[derive(Debug, Args, Clone, Default)]
pub struct OnePackage {
    /// Package to work on.
    #[arg(
        short = 'p',
        long = "package",
        value_name = "SPEC",
        help_heading = heading::PACKAGE_SELECTION
    )]
    pub package: Option<String>,
}

/// `--manifest-path`.
#[derive(Debug, Args, Clone, Default)]
pub struct ManifestPath {
    /// Path to Cargo.toml.
    #[arg(
        long,
        value_name = "PATH",
        help_heading = heading::MANIFEST_OPTIONS,
        display_order = 109
    )]
    pub manifest_path: Option<PathBuf>,
}

/// A `cargo dvc` command. Each variant's arguments, and the code that runs
/// it, are in `commands/<name>.rs`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add a data dependency: declare it in Cargo.toml and write its lock
    /// (as `dvc import`).
    Import(commands::import::ImportArgs),
    /// Add a URL dependency: declare a file or directory by URL in
    /// Cargo.toml and write its lock (as `dvc import-url`).
    ImportUrl(commands::import_url::ImportUrlArgs),
    /// Move locks to the newest revision (as `dvc update`).
    Update(commands::update::UpdateArgs),
    /// Show each dependency's lock, cache and update state.
    Status(commands::status::StatusArgs),
    /// Fetch locked artifacts into the cache (prefetch for offline builds).
    Fetch(commands::fetch::FetchArgs),
    /// Place locked artifacts at their `out` paths in the crate (as `dvc pull`).
    Pull(commands::pull::PullArgs),
    /// Download an artifact without declaring or locking it (as `dvc get`).
    Get(commands::get::GetArgs),
    /// Check that every lock agrees with its declaration (for CI); writes nothing.
    Check(commands::check::CheckArgs),
    /// Remove data dependencies: declaration, lock and `.gitignore` entry
    /// (as `dvc remove`).
    Remove(commands::remove::RemoveArgs),
    /// List the files and DVC outputs of a registry (as `dvc list`).
    Ls(commands::ls::LsArgs),
    /// Print a completion script for a shell.
    Completions(commands::completions::CompletionsArgs),
}

impl Cli {
    /// Parses `args` (the `dvc` cargo inserts already stripped), with help
    /// and usage naming the command as users type it: `cargo dvc`.
    pub fn parse_args(args: Vec<std::ffi::OsString>) -> Result<Cli, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command()
            .bin_name("cargo dvc")
            .try_get_matches_from(args)?;
        Cli::from_arg_matches(&matches)
    }
}

/// The arguments without the `dvc` that cargo inserts when it runs
/// `cargo-dvc` as `cargo dvc ...`.
pub fn strip_cargo_subcommand(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    if args.get(1).is_some_and(|a| a == "dvc") {
        args.remove(1);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
