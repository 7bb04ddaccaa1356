//! One module per `cargo dvc` command, as cargo's `src/bin/cargo/commands`:
//! each has its clap arguments (`XxxArgs`, the command's options struct)
//! and `exec(ctx, args)`, which runs it and returns the exit code. Adding
//! a command: a module here, a variant in [`crate::cli::args::Command`],
//! and a line in [`exec`].

pub mod check;
pub mod completions;
pub mod fetch;
pub mod get;
pub mod import;
pub mod import_url;
pub mod ls;
pub mod pull;
pub mod remove;
pub mod status;
pub mod update;

use crate::cli::args::Command;
use crate::cli::context::Context;
use crate::cli::workspace::Package;
use crate::engine::Artifact;
use crate::error::Result;
use crate::format::stage::LockStage;
use crate::manifest::Dependency;

/// Runs `command`; the exit code on success.
pub fn exec(ctx: &Context, command: Command) -> Result<i32> {
    match command {
        Command::Import(args) => import::exec(ctx, args),
        Command::ImportUrl(args) => import_url::exec(ctx, args),
        Command::Update(args) => update::exec(ctx, args),
        Command::Status(args) => status::exec(ctx, args),
        Command::Fetch(args) => fetch::exec(ctx, args),
        Command::Pull(args) => pull::exec(ctx, args),
        Command::Get(args) => get::exec(ctx, args),
        Command::Check(args) => check::exec(ctx, args),
        Command::Remove(args) => remove::exec(ctx, args),
        Command::Ls(args) => ls::exec(ctx, args),
        Command::Completions(args) => completions::exec(ctx, args),
    }
}

/// How a dependency is named in output: `classifier`, or `app/classifier`
/// when more than one package is selected (as cargo names the package on
/// each `Compiling` line).
pub fn label(package: &Package, dep: &Dependency, many: bool) -> String {
    if many {
        format!("{}/{}", package.manifest.package, dep.name)
    } else {
        dep.name.clone()
    }
}

/// What pins a lock, shortened to 7 characters: the commit of a registry
/// import, the content hash of a URL import.
pub fn short(stage: &LockStage) -> String {
    let pin = match stage {
        LockStage::Import(s) => s.repo.rev_lock.clone().unwrap_or_default(),
        LockStage::ImportUrl(s) => s.out.md5.map(|m| m.to_hex()).unwrap_or_default(),
    };
    pin.chars().take(7).collect()
}

/// The `rev` a registry import's lock records.
pub fn lock_rev(stage: &LockStage) -> Option<String> {
    match stage {
        LockStage::Import(s) => s.repo.rev.clone(),
        LockStage::ImportUrl(_) => None,
    }
}

/// ` at REV`, or nothing.
pub fn rev_note(rev: Option<&str>) -> String {
    rev.map(|r| format!(" at {r}")).unwrap_or_default()
}

/// `22 B`, or `3 files, 1.5 KiB` for a directory.
pub fn describe(artifact: &Artifact) -> String {
    match artifact {
        Artifact::File(f) => human_size(f.size),
        Artifact::Dir { files, size, .. } => {
            let n = files.len();
            let plural = if n == 1 { "" } else { "s" };
            format!("{n} file{plural}, {}", human_size(*size))
        }
    }
}

/// A size in binary units, as cargo prints them.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(10), "10 B");
        assert_eq!(human_size(1536), "1.5 KiB");
    }
}
