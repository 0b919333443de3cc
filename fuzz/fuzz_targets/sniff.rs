//! Format sniffing of a file's first bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = hashguard::media::sniff(data);
    let _ = (f.kind(), f.name());
});
