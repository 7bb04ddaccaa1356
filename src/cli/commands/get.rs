//! `cargo dvc get URL PATH`: download an artifact without declaring or
//! locking it, as `dvc get` does.

use std::path::Path;

use clap::Args;

use crate::cli::context::Context;
use crate::error::{Error, Result};
use crate::format::stage::RepoSpec;

use super::{describe, short};

/// `cargo dvc get`'s arguments.
#[derive(Debug, Args)]
#[command(after_help = "\
Example:
    cargo dvc get https://github.com/acme/registry models/classifier.onnx --rev v1 -o model.onnx")]
pub struct GetArgs {
    /// Git URL (or local path) of the source DVC project.
    pub url: String,
    /// File or directory inside the source project.
    pub path: String,
    /// Where to write it, relative to the current folder [default: the last
    /// component of PATH].
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: Option<String>,
    /// Branch, tag or commit of the source project [default: its default
    /// branch].
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
}

/// Runs `cargo dvc get`.
pub fn exec(ctx: &Context, args: GetArgs) -> Result<i32> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("read", Path::new("."), e))?;
    let path_clean = args.path.trim_matches('/');
    let default_out = path_clean.rsplit('/').next().unwrap_or(path_clean);
    let out = args.out.as_deref().unwrap_or(default_out);
    let repo = RepoSpec {
        url: args.url.clone(),
        rev: args.rev.clone(),
        ..RepoSpec::default()
    };
    let engine = ctx.engine()?;
    let bar = ctx.shell().progress(out);
    let resolved = engine.resolve(&cwd, &repo, path_clean, out);
    drop(bar);
    let (stage, artifact) = resolved?;
    let dest = cwd.join(out);
    engine.place(&artifact, &dest)?;
    ctx.shell().status(
        "Downloaded",
        format!(
            "{path_clean} at {} -> {out} ({})",
            short(&crate::format::stage::LockStage::Import(stage)),
            describe(&artifact)
        ),
    );
    Ok(0)
}
