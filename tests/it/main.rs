//! The integration suite: one test binary (quick to link), one module per area.
//! Tests drive the real `dvc` (installed by `build-support/install-test-tools.sh`).

#[cfg(feature = "cli")]
mod cargo_build;
#[cfg(feature = "cli")]
mod cli;
mod data;
mod formats;
mod git;
mod s3;
mod support;
