//! `dvc.lock`: parsing arbitrary text never panics.
#![no_main]

use dvc_build::__private::format::dvc_lock::DvcLock;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(lock) = DvcLock::parse(text) {
        let _ = lock.find_out("data");
        let _ = lock.find_out("a/b/c");
    }
});
