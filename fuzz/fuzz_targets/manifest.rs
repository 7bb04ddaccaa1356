//! `[package.metadata.dvc]` in `Cargo.toml`: parsing never panics.
#![no_main]

use dvc_build::__private::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Manifest::parse(text);
});
