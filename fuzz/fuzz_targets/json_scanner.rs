//! The pull scanner for large JSON documents, through the two formats built on it (StopNCII
//! pages and VICS files); the first byte picks which.
#![no_main]
use hashguard::lists::format::{self, ListFormat, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let fmt = if pick & 1 == 0 {
        ListFormat::StopNcii
    } else {
        ListFormat::Vics
    };
    let mut rows = format::read(fmt, bytes, &ReadOptions::default());
    for _ in rows.by_ref().take(100_000) {}
    let _ = rows.paging();
});
