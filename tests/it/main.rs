//! The integration suite: one test binary (quick to link), one module per area.
//! Tests drive the real `dvc` (installed by `build-support/install-test-tools.sh`).

#[cfg(all(feature = "azure", feature = "gs"))]
mod azure;
#[cfg(feature = "cli")]
mod cargo_build;
#[cfg(feature = "cli")]
mod cli;
#[cfg(feature = "cli")]
mod confinement;
mod crash;
mod data;
#[cfg(feature = "cli")]
mod dvc_scenarios;
mod faults;
mod formats;
mod git;
#[cfg(feature = "gs")]
mod gs;
mod hostile;
#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "cli")]
mod scale;
mod secrets;
#[cfg(feature = "ssh")]
mod ssh;
mod support;
#[cfg(feature = "cli")]
mod url;
#[cfg(feature = "cli")]
mod user_data;
