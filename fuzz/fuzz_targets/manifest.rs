//! Scan manifest verification: the input is `manifest.json` beside two small outputs.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("files.jsonl"), b"{\"path\":\"a\"}\n").unwrap();
        std::fs::write(d.path().join("summary.json"), b"{}\n").unwrap();
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let d = dir();
    std::fs::write(d.path().join("manifest.json"), data).unwrap();
    let _ = hashguard::scan::manifest::verify(d.path(), None);
});
