//! `cargo dvc`: the cargo subcommand of dvc-build. All logic lives in
//! `dvc_build::cli`; this is only the entry point.

fn main() {
    std::process::exit(dvc_build::cli::main());
}
