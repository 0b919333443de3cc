//! Every list format reader. The first byte picks the format (its low bits) and the kind of
//! bare hashes (its high bits); the rest is the file.
#![no_main]
use hashguard::hashing::HashKind;
use hashguard::lists::format::{self, ListFormat, ReadOptions};
use libfuzzer_sys::fuzz_target;

const KINDS: [Option<HashKind>; 4] = [
    None,
    Some(HashKind::Pdq),
    Some(HashKind::Md5),
    Some(HashKind::Sha256),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let fmt = ListFormat::ALL[(pick & 7) as usize];
    let opts = ReadOptions {
        kind: KINDS[((pick >> 3) & 3) as usize],
    };
    let mut rows = format::read(fmt, bytes, &opts);
    for _ in rows.by_ref().take(100_000) {}
    let _ = rows.paging();
});
