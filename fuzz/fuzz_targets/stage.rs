//! `.dvc` stage files: parsing never panics, and for any import stage we can
//! read, writing it and reading it back gives the same stage.
#![no_main]

use dvc_build::format::stage::{ImportStage, Stage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(stage) = Stage::parse(text) else {
        return;
    };
    let _ = stage.compute_md5();
    let Ok(import) = ImportStage::from_stage(&stage) else {
        return;
    };
    let written = import.to_yaml_string();
    let reparsed = Stage::parse(&written)
        .unwrap_or_else(|e| panic!("our own output does not parse: {e}\n{written}"));
    let again = ImportStage::from_stage(&reparsed)
        .unwrap_or_else(|e| panic!("our own output is not an import stage: {e}\n{written}"));
    assert_eq!(import, again, "round trip changed the stage:\n{written}");
    assert_eq!(again.to_yaml_string(), written, "writing is not stable");
    assert_eq!(reparsed.md5.as_deref(), Some(import.md5().to_hex().as_str()));
});
