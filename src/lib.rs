//! Ship DVC-versioned models and datasets inside Rust builds.
//!
//! Declare data dependencies under `[package.metadata.dvc]` in `Cargo.toml`,
//! then make this your whole `build.rs`:
//!
//! ```no_run
//! fn main() {
//!     dvc_build::fetch().unwrap();
//! }
//! ```
//!
//! Each dependency is pinned by a DVC import stage `<out>.dvc` (the lock),
//! byte-identical to what `dvc import` writes, and fetched, hash-verified,
//! into `OUT_DIR`. See `ARCHITECTURE.md` for the map of the code.

#![warn(missing_docs)]
// The build-script example above is a whole `build.rs`, `fn main` included.
#![allow(clippy::needless_doctest_main)]

pub mod build_script;
pub mod cache;
#[cfg(feature = "cli")]
pub mod cli;
pub mod confined;
pub mod engine;
pub mod error;
pub mod format;
pub mod git;
pub mod hash;
pub mod lock;
pub mod manifest;
pub mod materialize;
mod parallel;
pub mod progress;
pub mod project;
pub mod redact;
pub mod remote;
pub mod source;
pub mod trace;
pub mod transfer;

pub use build_script::{Fetch, Fetched, FetchedDep, fetch};
pub use error::{Error, ErrorKind, Result};
