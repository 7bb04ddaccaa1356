//! `[package.metadata.dvc]`: the data dependencies a crate declares.
