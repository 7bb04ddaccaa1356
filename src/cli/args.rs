//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Pinned, verified DVC artifacts for Cargo builds.
#[derive(Debug, Parser)]
#[command(name = "cargo-dvc", bin_name = "cargo dvc", version, about)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes, as cargo's own commands do.
#[derive(Debug, Args, Clone, Default)]
pub struct Global {
    /// Path to Cargo.toml.
    #[arg(long, value_name = "PATH", global = true)]
    pub manifest_path: Option<PathBuf>,
    /// Package(s) to work on.
    #[arg(short = 'p', long = "package", value_name = "SPEC", global = true)]
    pub package: Vec<String>,
    /// Work on every package of the workspace.
    #[arg(long, global = true)]
    pub workspace: bool,
    /// Use no network: work from the cache only.
    #[arg(long, global = true)]
    pub offline: bool,
    /// Never write a lock; fail when one is missing or stale.
    #[arg(long, global = true)]
    pub locked: bool,
    /// Print nothing but errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more about what happens.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// A `cargo dvc` command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add a data dependency: declare it in Cargo.toml and write its lock (like `dvc import`).
    Import {
        /// Git URL (or local path) of the source DVC project.
        url: String,
        /// File or directory inside the source project.
        path: String,
        /// Where to put the artifact, relative to the crate root.
        #[arg(short = 'o', long = "out", value_name = "OUT")]
        out: Option<String>,
        /// Branch, tag or commit of the source project.
        #[arg(long, value_name = "REV")]
        rev: Option<String>,
        /// The dependency's name (default: derived from the file name).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Options every command takes.
        #[command(flatten)]
        global: Global,
    },
    /// Move locks to the newest revision (like `dvc update`).
    Update {
        /// Dependencies to update (default: all).
        names: Vec<String>,
        /// Pin this revision (also written to Cargo.toml).
        #[arg(long, value_name = "REV")]
        rev: Option<String>,
        /// Say what would change without writing anything.
        #[arg(long)]
        dry_run: bool,
        /// Options every command takes.
        #[command(flatten)]
        global: Global,
    },
    /// Show each dependency's lock, cache and update state.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Options every command takes.
        #[command(flatten)]
        global: Global,
    },
    /// Fetch locked artifacts into the cache.
    Fetch {
        /// Dependencies to fetch (default: all).
        names: Vec<String>,
        /// Options every command takes.
        #[command(flatten)]
        global: Global,
    },
    /// Place locked artifacts at their `out` paths in the crate (like `dvc pull`).
    Pull {
        /// Dependencies to pull (default: all).
        names: Vec<String>,
        /// Options every command takes.
        #[command(flatten)]
        global: Global,
    },
    /// Download an artifact without declaring or locking it (like `dvc get`).
    Get {
        /// Git URL (or local path) of the source DVC project.
        url: String,
        /// File or directory inside the source project.
        path: String,
        /// Where to write it (default: the last component of PATH).
        #[arg(short = 'o', long = "out", value_name = "OUT")]
        out: Option<String>,
        /// Branch, tag or commit of the source project.
        #[arg(long, value_name = "REV")]
        rev: Option<String>,
        /// Options every command takes.
        #[command(flatten)]
        global: Global,
    },
    /// Check that every lock agrees with its declaration (for CI); writes nothing.
    Check {
        /// Options every command takes.
        #[command(flatten)]
        global: Global,
    },
}

impl Command {
    /// The options shared by every command.
    pub fn global(&self) -> &Global {
        match self {
            Command::Import { global, .. }
            | Command::Update { global, .. }
            | Command::Status { global, .. }
            | Command::Fetch { global, .. }
            | Command::Pull { global, .. }
            | Command::Get { global, .. }
            | Command::Check { global } => global,
        }
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
