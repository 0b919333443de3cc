//! Video bytes through FFmpeg (demuxers and decoders on the whitelists), with small caps so
//! each input stays short.
#![no_main]
use hashguard::media::{self, Sampling, VideoLimits, VideoOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = VideoOptions {
        sampling: Sampling::EveryFrame,
        limits: VideoLimits {
            max_duration_secs: 30.0,
            max_frames: 200,
            max_frame_pixels: 4_000_000,
            max_wall_secs: 5.0,
        },
        decoder_threads: 1,
    };
    let _ = media::hash_video_bytes(data, &opts);
});
