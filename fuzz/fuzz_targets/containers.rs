//! Archives read through libarchive from memory (every format, and as one compressed stream),
//! and the JPEG/PNG/GIF carver fed in small runs: no input may panic, hang or carve outside
//! the bytes it was given.
#![no_main]
use hashguard::containers::archive::{Mode, Reader};
use hashguard::containers::carve::Carver;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes: std::sync::Arc<[u8]> = data.into();
    for mode in [Mode::Archive, Mode::Stream] {
        let Ok(mut r) = Reader::open_memory(bytes.clone(), mode) else {
            continue;
        };
        // Bounded like a scan's caps: a bomb must not run the fuzzer out of memory or time.
        let mut total = 0u64;
        let mut members = 0;
        while let Some(Ok(_)) = r.next_header() {
            members += 1;
            let _ = r.read_data(&mut |c| {
                total += c.len() as u64;
                total < 1 << 24
            });
            if total >= 1 << 24 || members > 10_000 {
                break;
            }
        }
        let _ = (r.format_name(), r.consumed());
    }
    let mut carver = Carver::new(1 << 20);
    for (i, chunk) in data.chunks(97).enumerate() {
        carver.feed((i * 97) as u64, chunk);
    }
    for k in carver.finish() {
        assert!(k.len > 0 && k.offset + k.len <= data.len() as u64, "{k:?}");
    }
});
