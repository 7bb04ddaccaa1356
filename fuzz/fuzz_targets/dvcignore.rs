//! `.dvcignore`: any text parses, and matching any path against it never
//! panics (and stays fast: no backtracking blow-up).
#![no_main]

use dvc_build::__private::format::dvcignore::IgnoreFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first line is the path to match, the rest the patterns.
    let (path, patterns) = text.split_once('\n').unwrap_or((&text, ""));
    let file = IgnoreFile::parse(patterns);
    let _ = file.matches(path, false);
    let _ = file.matches(path, true);
});
