//! Every list format reader. The first byte picks the format (modulo their number), the kind
//! of bare hashes and whether a vPDQ video has a file name (the quotient); the rest is the file.
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
    let n = ListFormat::ALL.len();
    let fmt = ListFormat::ALL[pick as usize % n];
    let rest = pick as usize / n;
    let opts = ReadOptions {
        kind: KINDS[rest % 4],
        // A vPDQ video without an `# id` line is named by its file.
        video_id: (rest & 4 != 0).then(|| "fuzz".to_string()),
    };
    let mut rows = format::read(fmt, bytes, &opts);
    for _ in rows.by_ref().take(100_000) {}
    let _ = rows.paging();
});
