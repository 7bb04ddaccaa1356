//! `.dvc/config`: parsing never panics; remotes and merges of what parsed
//! never panic either.
#![no_main]

use dvc_build::__private::format::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::parse(text, ".dvc") else {
        return;
    };
    for remote in config.remotes() {
        let _ = remote.url();
    }
    if let Some(name) = config.default_remote() {
        let _ = config.remote(name);
    }
    let mut merged = Config::parse("", ".dvc").expect("empty config parses");
    merged.merge_from(&config);
    merged.merge_from(&config);
});
