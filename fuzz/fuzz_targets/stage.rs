//! `.dvc` stage files: parsing never panics, and for any lock (import or
//! import-url stage) we can read, writing it and reading it back gives the
//! same stage.
#![no_main]

use dvc_build::__private::format::stage::{LockStage, Stage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(stage) = Stage::parse(text) else {
        return;
    };
    let _ = stage.compute_md5();
    let Ok(lock) = LockStage::from_stage(&stage) else {
        return;
    };
    let written = lock.to_yaml_string();
    let reparsed = Stage::parse(&written)
        .unwrap_or_else(|e| panic!("our own output does not parse: {e}\n{written}"));
    let again = LockStage::from_stage(&reparsed)
        .unwrap_or_else(|e| panic!("our own output is not a lock: {e}\n{written}"));
    assert_eq!(lock, again, "round trip changed the stage:\n{written}");
    assert_eq!(again.to_yaml_string(), written, "writing is not stable");
    assert_eq!(reparsed.md5.as_deref(), Some(lock.md5().to_hex().as_str()));
});
