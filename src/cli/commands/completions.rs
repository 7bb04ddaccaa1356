//! `cargo dvc completions SHELL`: a completion script for the shell, on
//! stdout (clap_complete). It completes `cargo-dvc` (the binary cargo runs
//! for `cargo dvc`): its commands, flags and values.

use clap::{Args, CommandFactory};
use clap_complete::Shell as Target;

use crate::cli::args::Cli;
use crate::cli::context::Context;
use crate::error::Result;

/// `cargo dvc completions`' arguments.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
    cargo dvc completions bash > ~/.local/share/bash-completion/completions/cargo-dvc
    cargo dvc completions zsh > ~/.zfunc/_cargo-dvc
    cargo dvc completions fish > ~/.config/fish/completions/cargo-dvc.fish")]
pub struct CompletionsArgs {
    /// The shell: bash, elvish, fish, powershell or zsh.
    #[arg(value_enum)]
    pub shell: Target,
}

/// Runs `cargo dvc completions`.
pub fn exec(ctx: &Context, args: CompletionsArgs) -> Result<i32> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    let text = if args.shell == Target::Bash {
        // clap_complete's bash script names its cases inconsistently for a
        // binary with `-` in its name: generate for `cargo_dvc`, then
        // register the functions for `cargo-dvc`.
        clap_complete::generate(args.shell, &mut command, "cargo_dvc", &mut script);
        String::from_utf8_lossy(&script)
            .lines()
            .map(
                |line| match line.trim_start().starts_with("complete -F _cargo_dvc ") {
                    true => line.replace(" cargo_dvc", " cargo-dvc"),
                    false => line.to_string(),
                },
            )
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        clap_complete::generate(args.shell, &mut command, "cargo-dvc", &mut script);
        String::from_utf8_lossy(&script).into_owned()
    };
    ctx.shell().print_stdout(text.trim_end());
    Ok(0)
}
