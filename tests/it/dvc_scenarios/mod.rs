//! DVC's own scenarios, run side by side: every case of `tests/func/test_import.py`,
//! `test_update.py`, `test_get.py` and `test_external_repo.py` (iterative/dvc)
//! that our contract can express, on a registry made by the real `dvc`
//! (3.67.1, or 2.58.2 for DVC 2 registries), run with the real `dvc` in a DVC
//! project and with `cargo dvc` (and the build script) in a crate. Each
//! compares the outcome (both succeed, or both fail and ours says what to
//! do), the lock's bytes, the placed bytes and the `.gitignore` lines.
//!
//! Not ported, and why: overwriting (`test_get_repo_file_no_override`,
//! `_with_override`) and `-o EXISTING_DIR` (`test_import_to_dir`,
//! `test_get_to_dir`) are the user-data safety scenarios; `--no-exec`,
//! `--jobs`, `--show-url`, `--to-remote`, `import-url`, glob targets,
//! `fetch --all-tags`, `--remote-config` and call counts of internal
//! functions have no counterpart in our contract.

mod chained;
mod dvc2;
mod external;
mod get;
pub mod harness;
mod import;
mod locks;
mod mixed;
mod paths;
pub mod update;
