//! Decoding what the store holds: list entries, hashes of every kind from their bytes, and
//! filed reports. A corrupt store gives errors, never a panic.
#![no_main]
use hashguard::hashing::HashKind;
use hashguard::lists::entry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = entry::decode(data);
    for kind in HashKind::ALL {
        let _ = entry::hash_from_bytes(kind, data);
    }
    let _ = hashguard::report_log::decode(data);
});
