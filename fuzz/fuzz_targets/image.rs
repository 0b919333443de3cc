//! Every image decoder path: JPEG (whole and DCT-reduced), PNG (whole and streamed-reduced,
//! Adam7), GIF, WebP, BMP, TIFF, HEIF/AVIF, and animation frames. The first byte picks the
//! limits: even bytes the defaults, odd bytes tight ones that force the reduced paths.
#![no_main]
use hashguard::media::{self, Format, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let mut limits = Limits::default();
    if pick & 1 == 1 {
        limits.max_width = 256;
        limits.max_height = 256;
        limits.max_pixels = 256 * 256;
        limits.reduce_to_pixels = 64 * 64;
        limits.animation.max_frames = 16;
    }
    let _ = media::decode_still(bytes, &limits);
    if let Format::Image(f) = media::sniff(bytes)
        && media::is_animated(bytes, f)
    {
        let _ = media::animation_frames(bytes, f, &limits);
    }
});
