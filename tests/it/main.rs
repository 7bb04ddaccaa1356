//! The integration suite: one test binary (quick to link), one module per area.
//! Tests drive the real `dvc` (installed by `build-support/install-test-tools.sh`).

mod crash;
mod data;
mod faults;
mod formats;
mod git;
mod hostile;
mod s3;
mod secrets;
mod support;
