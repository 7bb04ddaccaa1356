//! `.dir` manifests: parsing never panics, every accepted relpath is safe,
//! and `to_json` round-trips.
#![no_main]

use dvc_build::__private::format::dir_manifest::{DirManifest, check_relpath};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = DirManifest::parse(data) else {
        return;
    };
    for entry in manifest.entries() {
        check_relpath(&entry.relpath).expect("parse accepted an unsafe relpath");
        assert!(!entry.relpath.split('/').any(|c| c == ".." || c.is_empty()));
    }
    let json = manifest.to_json();
    let again = DirManifest::parse(json.as_bytes())
        .unwrap_or_else(|e| panic!("our own output does not parse: {e}\n{json}"));
    assert_eq!(manifest, again);
    assert_eq!(manifest.md5(), again.md5());
});
