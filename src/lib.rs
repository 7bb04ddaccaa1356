//! Ship DVC-versioned models and datasets inside Rust builds.
//!
//! Teams that use [DVC](https://dvc.org) keep trained models and datasets in
//! a *data registry*: a git repository whose `.dvc` files (or `dvc.lock`)
//! name each artifact by its MD5, with the bytes in a DVC remote (S3, GCS,
//! Azure, HTTP, SSH, a shared disk). `dvc-build` makes such an artifact a
//! Cargo dependency: declare it under `[package.metadata.dvc]`, and a
//! one-line `build.rs` ([`fetch`]) fetches it, hash-verified, into
//! `OUT_DIR` for `include_bytes!` or for reading at run time.
//!
//! Each dependency is pinned by a lock, `<out>.dvc` beside its `out` path:
//! a DVC import stage, byte for byte what `dvc import` (or `dvc import-url`)
//! writes, so the real `dvc` can read, update and pull it too. Commit it.
//! The `cargo dvc` subcommand (feature `cli`) imports, updates and checks
//! dependencies; install it with
//! `cargo install --locked --features cli dvc-build`.
//!
//! # A whole example
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "classify"
//! version = "0.1.0"
//! edition = "2021"
//!
//! [package.metadata.dvc.deps.classifier]
//! url = "https://github.com/acme/model-registry"   # the DVC project (git URL or local path)
//! path = "models/classifier.onnx"                   # a file or directory inside it
//! rev = "v1.2.0"
//! out = "models/classifier.onnx"
//! embed = true
//!
//! [package.metadata.dvc.deps.encoder]               # a URL dependency (no `path`)
//! url = "https://example.com/models/encoder.onnx"
//!
//! [build-dependencies]
//! dvc-build = { version = "0.1", default-features = false, features = ["http", "s3"] }
//! ```
//!
//! `build.rs`:
//!
//! ```no_run
//! fn main() -> Result<(), dvc_build::Error> {
//!     dvc_build::fetch()?;
//!     Ok(())
//! }
//! ```
//!
//! `src/main.rs` (only compiles inside such a crate: the variables come
//! from its build script):
//!
//! ```ignore
//! // The variable the build script sets for each dependency: its path ...
//! static ENCODER: &[u8] = include_bytes!(env!("DVC_ENCODER"));
//!
//! // ... or the generated module: a path constant per dependency, and the
//! // bytes of each file dependency declared `embed = true`.
//! mod dvc_deps {
//!     include!(concat!(env!("OUT_DIR"), "/dvc_deps.rs"));
//! }
//!
//! fn main() {
//!     let model: &[u8] = dvc_deps::bytes::CLASSIFIER;
//!     let path: &str = dvc_deps::CLASSIFIER; // the artifact inside OUT_DIR
//!     println!("{} bytes at {path}, encoder {} bytes", model.len(), ENCODER.len());
//! }
//! ```
//!
//! The first build resolves each declaration and writes its lock (as Cargo
//! writes `Cargo.lock`); later builds use the locks as they are, and a warm
//! build (everything in the cache) runs no git and no network.
//! `cargo dvc update` moves the pins, like `cargo update`.
//!
//! # Manifest keys
//!
//! Each `[package.metadata.dvc.deps.NAME]` table is one dependency. A table
//! with `path` is a registry import (`dvc import`); one without `path` is a
//! URL import (`dvc import-url`). An unknown key, or a key of the other
//! kind, is an error.
//!
//! | key | kind | meaning |
//! | --- | --- | --- |
//! | `url` | both, required | registry: the git URL or local path of the DVC project; URL import: the artifact's `http(s)://`, `s3://`, `gs://`, `azure://`, `ssh://`, `file://` URL or local path |
//! | `path` | registry | the file or directory inside the registry |
//! | `rev` | registry | a branch, tag or commit (default: the registry's default branch) |
//! | `remote` | registry | a remote of the registry to use instead of its default, by name, or a table of remote options (`{ url = "s3://...", region = "..." }`); with a table, a locked build needs no `git` |
//! | `config` | registry | a config file (path relative to the crate) or table merged over the registry's `.dvc/config` |
//! | `fs_config` | URL | the options of the source, as `dvc import-url --fs-config` (`{ endpointurl = "..." }`) |
//! | `sha256` | URL | the SHA-256 the bytes must have, checked on every download |
//! | `out` | both | where the artifact goes, relative to the crate root (default: the last component of `path` or of the URL); the lock is `<out>.dvc` |
//! | `embed` | both | `true`: `dvc_deps.rs` embeds the file's bytes (`dvc_deps::bytes::NAME`) |
//! | `feature` | both | a feature of the crate: the dependency is fetched and exported only when it is on |
//!
//! Secret options (`secret_access_key`, `password`, ...) are refused in
//! `remote`, `config` and `fs_config` tables: give credentials through the
//! environment, the usual files of each store, or an uncommitted config file
//! named by `config = "..."`.
//!
//! A NAME is ASCII and starts with a letter. It becomes the constant `NAME`
//! upper-cased, every character other than a letter or digit turned into
//! `_` (`my-model` → `MY_MODEL`), and the variable `DVC_` + that constant.
//!
//! # What the build script gives the crate
//!
//! * `DVC_<NAME>` (read with `env!`): the artifact's absolute path inside
//!   `OUT_DIR` (for a directory dependency, the directory);
//! * `$OUT_DIR/dvc_deps.rs`: a `&str` path constant per dependency and, in
//!   `mod bytes`, an `include_bytes!` static per file dependency declared
//!   `embed = true` (only those: rustc never reads another artifact);
//!   `$OUT_DIR/dvc_paths.rs`: the path constants alone. Every generated item
//!   is `#[allow(dead_code)]`.
//!
//! # Environment variables
//!
//! | variable | effect |
//! | --- | --- |
//! | `DVC_BUILD_CACHE_DIR` | the content cache and git databases (default: `$XDG_CACHE_HOME/dvc-build`, `~/.cache/dvc-build`, `~/Library/Caches/dvc-build` on macOS, `%LOCALAPPDATA%\dvc-build` on Windows), shared by every project |
//! | `DVC_BUILD_LOCKED=1` | locked mode: never write a lock; a missing or stale one is an error (always on for a crate built from a package) |
//! | `CARGO_NET_OFFLINE=true` | no network: work from the cache, or say which artifact is missing and how to prefetch it (`cargo dvc fetch`) |
//! | `DOCS_RS` | set by docs.rs: a dependency that cannot be fetched becomes an empty placeholder and a warning, never a failed build |
//! | `DVC_BUILD_SSH_COMMAND` | the `ssh` command for `ssh://` remotes (default `ssh`) |
//! | `SSL_CERT_FILE` | the CA certificates trusted for GCS and Azure |
//! | `AWS_*`, `GOOGLE_APPLICATION_CREDENTIALS`, `AZURE_STORAGE_*`, ... | credentials, in the order DVC reads them for each store (see the README) |
//! | `CARGO_FEATURE_<NAME>` | set by cargo: turns on the dependencies declared with `feature = "<name>"` |
//!
//! Cargo does not pass `--locked` or `--offline` to build scripts: set
//! `DVC_BUILD_LOCKED=1` or `CARGO_NET_OFFLINE=true` for such a build. Every
//! variable above is a `rerun-if-env-changed` of the build script. [`Fetch`]
//! sets any of these modes in code.
//!
//! # Errors
//!
//! Every [`Error`] names the dependency and says what to do (`help: ...`);
//! its `Debug` prints the same text as its `Display`, so
//! `dvc_build::fetch().unwrap()` reads as cleanly as returning the
//! [`Result`]. [`Error::kind`] gives the broad category ([`ErrorKind`]).
//!
//! # Cargo features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `http` | yes | HTTP(S) remotes and sources (ureq, rustls) |
//! | `s3` | yes | S3 and S3-compatible remotes |
//! | `gs` | yes | Google Cloud Storage remotes |
//! | `azure` | yes | Azure Blob Storage remotes |
//! | `ssh` | yes | SSH remotes, over SFTP through the `ssh` program |
//! | `cli` | no | the `cargo dvc` binary; build scripts never need it |
//!
//! Local folders and `file://` always work; `default-features = false` keeps
//! the build-dependency smallest for local-only registries.

#![warn(missing_docs)]
// The examples above are whole `build.rs` and `main.rs` files, `fn main` included.
#![allow(clippy::needless_doctest_main)]

mod build_script;
mod cache;
#[cfg(feature = "cli")]
pub mod cli;
mod confined;
mod engine;
mod error;
mod format;
mod git;
mod hash;
mod lock;
mod manifest;
mod materialize;
mod parallel;
mod progress;
mod project;
mod redact;
mod remote;
mod source;
mod trace;
mod transfer;

pub use build_script::{Fetch, Fetched, FetchedDep, fetch};
pub use error::{Error, ErrorKind, Result};

/// The crate's internals, for its own tests, fuzz targets and benchmarks
/// only: not a public API, no stability promise. Build scripts use [`fetch`]
/// and [`Fetch`]; `cargo dvc` is the binary.
#[doc(hidden)]
#[allow(missing_docs)]
pub mod __private {
    pub mod build_script {
        pub use crate::build_script::*;
    }
    pub mod cache {
        pub use crate::cache::*;
    }
    pub mod confined {
        pub use crate::confined::*;
    }
    pub mod engine {
        pub use crate::engine::*;
    }
    pub mod error {
        pub use crate::error::*;
    }
    pub mod format {
        pub use crate::format::*;
    }
    pub mod git {
        pub use crate::git::*;
    }
    pub mod hash {
        pub use crate::hash::*;
    }
    pub mod lock {
        pub use crate::lock::*;
    }
    pub mod manifest {
        pub use crate::manifest::*;
    }
    pub mod materialize {
        pub use crate::materialize::*;
    }
    pub mod progress {
        pub use crate::progress::*;
    }
    pub mod project {
        pub use crate::project::*;
    }
    pub mod redact {
        pub use crate::redact::*;
    }
    pub mod remote {
        pub use crate::remote::*;
    }
    pub mod source {
        pub use crate::source::*;
    }
    pub mod trace {
        pub use crate::trace::*;
    }
    pub mod transfer {
        pub use crate::transfer::*;
    }
    /// The internals of `cargo dvc` that tests drive directly.
    #[cfg(feature = "cli")]
    pub mod cli {
        pub mod manifest_edit {
            pub use crate::cli::manifest_edit::*;
        }
        pub mod shell {
            pub use crate::cli::shell::*;
        }
    }
}
