//! `cargo dvc ls URL [PATH]`: what a registry holds, as `dvc list` shows
//! it (git files and DVC outputs merged; see [`crate::engine::ListEntry`]),
//! to find the `path` to import. Reads the registry's git history; of its
//! data, at most a directory output's small `.dir` object.

use std::path::Path;

use clap::Args;

use crate::cli::context::Context;
use crate::cli::json::{self, ListEntryJson, ListReport};
use crate::engine::ListOptions;
use crate::error::{Error, Result};
use crate::format::stage::RepoSpec;

/// `cargo dvc ls`'s arguments.
#[derive(Debug, Args)]
#[command(after_help = "\
Example:
    cargo dvc ls https://github.com/acme/registry models --rev v1")]
pub struct LsArgs {
    /// Git URL (or local path) of the source DVC project.
    pub url: String,
    /// Folder (or file) inside it to list [default: its root].
    pub path: Option<String>,
    /// Branch, tag or commit [default: the default branch].
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// List every file below PATH (folders are not listed, as `dvc list -R`).
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Only DVC outputs (and the folders holding them).
    #[arg(long)]
    pub dvc_only: bool,
    /// Print the result as JSON (one line, format version 1) on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `cargo dvc ls`.
pub fn exec(ctx: &Context, args: LsArgs) -> Result<i32> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("read", Path::new("."), e))?;
    let engine = ctx.engine()?;
    let repo = RepoSpec {
        url: args.url.clone(),
        rev: args.rev.clone(),
        ..RepoSpec::default()
    };
    let options = ListOptions {
        recursive: args.recursive,
        dvc_only: args.dvc_only,
    };
    let path = args.path.as_deref().unwrap_or("");
    let (commit, entries) = engine.list(&cwd, &repo, path, options)?;
    let shell = ctx.shell();
    if args.json {
        shell.print_stdout(json::to_line(&ListReport {
            version: json::FORMAT_VERSION,
            rev_lock: commit.as_str().to_string(),
            entries: entries
                .into_iter()
                .map(|e| ListEntryJson {
                    path: e.path,
                    isout: e.isout,
                    isdir: e.isdir,
                    isexec: e.isexec,
                    size: e.size,
                    md5: e.md5,
                })
                .collect(),
        }));
    } else {
        for e in entries {
            shell.print_stdout(e.path);
        }
    }
    Ok(0)
}
