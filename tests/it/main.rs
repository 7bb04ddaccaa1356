//! The integration suite: one test binary (quick to link), one module per area.
//! Tests drive the real `dvc` (installed by `build-support/install-test-tools.sh`).

#[cfg(feature = "s3")]
mod s3;
mod support;
