//! Readers and writers for the files DVC gives us: stage files (`.dvc`),
//! `dvc.lock`, `.dvc/config`, `.dir` manifests and `.dvcignore`.
//!
//! Pure functions from bytes to typed values and back; no I/O here.

pub mod comments;
pub mod config;
pub mod dir_manifest;
pub mod dvc_lock;
pub mod dvcignore;
pub mod pyjson;
pub mod pyrepr;
pub mod stage;
pub mod yaml;
