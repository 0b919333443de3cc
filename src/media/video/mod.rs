//! Video frames through FFmpeg (the system libraries, via `ffmpeg-next`), hashed with PDQ the way
//! Meta's vPDQ does: full-resolution RGB24 frames (swscale, area filter), one every
//! `floor(interval × frame rate)` decoded frames, timestamp = frame number / frame rate.
//!
//! Hostile input is the normal case here: FFmpeg reads only through a descriptor hashguard
//! already holds (no protocol at all: no network, no playlists or concat lists, no external data
//! references), only container demuxers and video decoders on whitelists, and every file is bounded by duration, frame count, pixels per frame and a
//! wall-clock deadline that also interrupts FFmpeg's own I/O.

use std::ffi::{c_int, c_void};
use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::ptr;
use std::sync::Mutex;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ffmpeg::ffi;
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

pub use crate::hashing::vpdq::VideoFrame;
use crate::hashing::{PdqHash, PixelLayout, PixelView, with_pdq_hasher};

mod ffmpeg_io;
mod segments;
use ffmpeg_io::*;
use segments::*;

/// Demuxers a video may be opened with: real containers only. Playlist and reference formats
/// (hls, dash, concat, sdp, rtsp, …) would open further URLs, so they are refused.
const DEMUXERS: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,asf,mpeg,mpegts,ogg";

/// Video decoders FFmpeg may run (by decoder name): the codecs cameras, phones and the web
/// produce. The rest of FFmpeg's hundreds of decoders (game, screen-capture and legacy formats
/// that see little scrutiny) stay unreachable to hostile files.
const DECODERS: &std::ffi::CStr = c"h264,hevc,mpeg4,msmpeg4v1,msmpeg4v2,msmpeg4v3,mpeg1video,\
mpeg2video,mjpeg,h263,h263p,flv,vp8,vp9,libvpx,libvpx-vp9,av1,libdav1d,libaom-av1,theora,wmv1,\
wmv2,wmv3,vc1,prores,dvvideo,rawvideo";

/// Which decoded frames are hashed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// vPDQ's choice: every `floor(seconds × frame rate)`-th decoded frame (at least every
    /// frame). `seconds = 1.0` is vPDQ's default and gives hashes comparable with its lists.
    Interval {
        /// Seconds between hashed frames.
        seconds: f64,
    },
    /// Every decoded frame (vPDQ with `seconds_per_hash = 0`).
    EveryFrame,
    /// Triage only, not vPDQ-compatible: the decoder skips every frame but keyframes, so only
    /// keyframes are hashed, at their own timestamps.
    Keyframes,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling::Interval { seconds: 1.0 }
    }
}

/// Caps that bound the work one video may cost. They apply to what is decoded, never to what
/// the container declares: a video stops at the first cap it reaches, and the frames hashed
/// until then are kept (the video is then marked partial, with the cap that cut it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VideoLimits {
    /// Longest stretch of presentation time decoded, in seconds.
    pub max_duration_secs: f64,
    /// Most frames decoded.
    pub max_frames: u64,
    /// Most pixels in one frame.
    pub max_frame_pixels: u64,
    /// Most wall-clock time spent on one video, in seconds.
    pub max_wall_secs: f64,
}

impl Default for VideoLimits {
    /// 4 hours, 1,000,000 frames (4 h at 60 fps is 864,000), 8K UHD frames (33.2 MP, with
    /// headroom to 36 MP), and 30 minutes of wall clock (a 4-hour 1080p film takes about 25
    /// minutes on 2 cores).
    fn default() -> Self {
        VideoLimits {
            max_duration_secs: 4.0 * 3600.0,
            max_frames: 1_000_000,
            max_frame_pixels: 36_000_000,
            max_wall_secs: 1800.0,
        }
    }
}

/// How to hash a video.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VideoOptions {
    /// Which frames are hashed.
    pub sampling: Sampling,
    /// Caps.
    pub limits: VideoLimits,
    /// Decoder threads (0: FFmpeg chooses from the core count).
    pub decoder_threads: usize,
}

/// The hashes of a video and what was learned about it.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoHashes {
    /// Hashed frames, in timestamp order.
    pub frames: Vec<VideoFrame>,
    /// Duration in seconds: the container's, or the last decoded frame's time when larger.
    pub duration: f64,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Frame rate used for sampling (average, else the stream's base rate).
    pub frame_rate: f64,
    /// Frames decoded.
    pub decoded_frames: u64,
    /// Codec name.
    pub codec: &'static str,
    /// Parts decoded in parallel, each from its own keyframe (1: one pass).
    pub segments: usize,
}

/// The cap that cut a video short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cap {
    /// The wall-clock time one video may take.
    WallClock,
    /// The number of frames decoded.
    MaxFrames,
    /// The presentation time decoded.
    MaxDuration,
}

impl Cap {
    /// The code written in records (`partial`).
    pub fn code(self) -> &'static str {
        match self {
            Cap::WallClock => "wall_clock",
            Cap::MaxFrames => "max_frames",
            Cap::MaxDuration => "max_duration",
        }
    }
}

/// Why a video could not be hashed (whole).
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// Stopped at a cap (duration, frame count, wall clock). `frames` holds what was hashed
    /// before it, which is still matched.
    #[error("{message}")]
    TooLong {
        /// Which cap.
        cap: Cap,
        /// What was reached.
        message: String,
        /// Frames hashed before the cap, in timestamp order.
        frames: Vec<VideoFrame>,
    },
    /// Frames larger than the pixel cap.
    #[error("frames of {width}x{height} exceed the limit of {limit} pixels")]
    TooLarge {
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
        /// The cap.
        limit: u64,
    },
    /// Broken, truncated or not a usable video. `frames` holds what was hashed before the
    /// failure (a truncated video still yields its first part).
    #[error("{message}")]
    Decode {
        /// What failed.
        message: String,
        /// Frames hashed before the failure, in timestamp order.
        frames: Vec<VideoFrame>,
    },
    /// The in-memory file for an upload could not be made.
    #[error("in-memory file: {0}")]
    Memory(std::io::Error),
}

static INIT: Once = Once::new();

/// FFmpeg's one-time set-up.
pub(super) fn init() {
    INIT.call_once(|| {
        // ffmpeg::init only registers devices/network on old FFmpeg; its result is not useful.
        let _ = ffmpeg::init();
        // FFmpeg's log names inputs and describes content; hashguard logs neither.
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Quiet);
    });
}

/// Hashes the video at `path`, opened as a local file (never as a URL).
pub fn hash_video_file(path: &Path, opts: &VideoOptions) -> Result<VideoHashes, VideoError> {
    let file = File::open(path).map_err(|e| VideoError::Decode {
        message: format!("cannot open: {e}"),
        frames: Vec::new(),
    })?;
    hash_video_fd(&file, opts)
}

/// Hashes the video in a file this process already holds open, read from its start through
/// the descriptor (its own read position is left alone).
pub fn hash_video_fd(file: &File, opts: &VideoOptions) -> Result<VideoHashes, VideoError> {
    hash_source(file, opts)
}

/// Hashes a video held in memory (an upload). The bytes go to FFmpeg through an anonymous
/// in-memory file (memfd), never through the file system.
pub fn hash_video_bytes(bytes: &[u8], opts: &VideoOptions) -> Result<VideoHashes, VideoError> {
    let fd = memfd(bytes).map_err(VideoError::Memory)?;
    hash_source(&File::from(fd), opts)
}

fn rational(r: ffmpeg::Rational) -> Option<f64> {
    (r.numerator() > 0 && r.denominator() > 0)
        .then(|| r.numerator() as f64 / r.denominator() as f64)
}

/// What the container says about the video stream.
struct Info {
    stream_index: usize,
    tb: f64,
    start_pts: i64,
    frame_rate: f64,
    /// Average and base frame rates agree, so frame numbers follow from timestamps.
    constant_rate: bool,
    declared_frames: u64,
    stream_secs: f64,
    declared: f64,
}

fn too_long(cap: Cap, message: String) -> VideoError {
    VideoError::TooLong {
        cap,
        message,
        frames: Vec::new(),
    }
}

/// `e` carrying the frames hashed before it (a cap or damage ends a video, not its evidence).
fn with_frames(e: VideoError, hashed: Vec<VideoFrame>) -> VideoError {
    match e {
        VideoError::TooLong { cap, message, .. } => VideoError::TooLong {
            cap,
            message,
            frames: hashed,
        },
        VideoError::Decode { message, .. } => VideoError::Decode {
            message,
            frames: hashed,
        },
        other => other,
    }
}

fn decode_err(message: String) -> VideoError {
    VideoError::Decode {
        message,
        frames: Vec::new(),
    }
}

fn open_input(file: &File, deadline: Instant, limits: &VideoLimits) -> Result<Opened, VideoError> {
    open(file, deadline).map_err(|m| {
        if Instant::now() >= deadline {
            wall_clock(limits)
        } else {
            decode_err(m)
        }
    })
}

/// What the container declares. None of it refuses a video: a header is a claim, and caps
/// apply to what is actually decoded.
fn probe(input: &ffmpeg::format::context::Input) -> Result<Info, VideoError> {
    let stream = input
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or_else(|| decode_err("no video stream".into()))?;
    let tb = rational(stream.time_base()).unwrap_or(0.0);
    let avg = rational(stream.avg_frame_rate());
    let base = rational(stream.rate());
    let frame_rate = avg
        .or(base)
        .ok_or_else(|| decode_err("video frame rate is unknown".into()))?;
    let info = Info {
        stream_index: stream.index(),
        tb,
        start_pts: match stream.start_time() {
            ffi::AV_NOPTS_VALUE => 0,
            t => t,
        },
        frame_rate,
        constant_rate: matches!((avg, base), (Some(a), Some(b)) if (a - b).abs() < 1e-9),
        declared_frames: stream.frames().max(0) as u64,
        stream_secs: match stream.duration() {
            d if d > 0 && tb > 0.0 => d as f64 * tb,
            _ => 0.0,
        },
        declared: match input.duration() {
            d if d > 0 => d as f64 / ffi::AV_TIME_BASE as f64,
            _ => 0.0,
        },
    };
    Ok(info)
}

fn open_decoder(
    input: &ffmpeg::format::context::Input,
    info: &Info,
    threads: usize,
    sampling: Sampling,
    limits: &VideoLimits,
) -> Result<ffmpeg::decoder::Video, VideoError> {
    let stream = input
        .stream(info.stream_index)
        .ok_or_else(|| decode_err("no video stream".into()))?;
    let mut ctx = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| decode_err(format!("codec parameters: {e}")))?;
    // The declared size is refused before any decoder runs; `max_pixels` then makes FFmpeg
    // itself refuse every frame buffer past the cap, whatever a later header says.
    // SAFETY: reading plain integer fields of a codec context.
    let (w, h) = unsafe { ((*ctx.as_ptr()).width, (*ctx.as_ptr()).height) };
    check_pixels(w.max(0) as u32, h.max(0) as u32, limits)?;
    let codec = ffmpeg::decoder::find(ctx.id())
        .ok_or_else(|| decode_err(format!("no decoder for {:?}", ctx.id())))?;
    let allowed = DECODERS.to_bytes().split(|b| *b == b',');
    if !allowed.into_iter().any(|d| d == codec.name().as_bytes()) {
        return Err(VideoError::Decode {
            message: format!("video codec {} is not decoded", codec.name()),
            frames: Vec::new(),
        });
    }
    // SAFETY: setting plain fields of a codec context that is not yet open; the whitelist
    // string is FFmpeg-allocated (av_strdup) and freed with the context.
    unsafe {
        let c = ctx.as_mut_ptr();
        (*c).thread_count = threads as c_int;
        (*c).thread_type = ffi::FF_THREAD_FRAME | ffi::FF_THREAD_SLICE;
        (*c).max_pixels = limits.max_frame_pixels.min(i64::MAX as u64) as i64;
        (*c).codec_whitelist = ffi::av_strdup(DECODERS.as_ptr());
    }
    let mut decoder = ctx
        .decoder()
        .open_as(codec)
        .and_then(|o| o.video())
        .map_err(|e| decode_err(format!("cannot open the {} decoder: {e}", codec.name())))?;
    check_pixels(decoder.width(), decoder.height(), limits)?;
    if matches!(sampling, Sampling::Keyframes) {
        decoder.skip_frame(ffmpeg::codec::discard::Discard::NonKey);
    }
    Ok(decoder)
}

/// Decodes one segment on the calling thread with its own decoder, on the container `reuse`
/// (still at its start) or a fresh one.
#[allow(clippy::too_many_arguments)]
fn decode_segment(
    file: &File,
    reuse: Option<Opened>,
    info: &Info,
    seg: Segment,
    opts: &VideoOptions,
    threads: usize,
    deadline: Instant,
    frame_mod: u64,
    shared: &Shared,
) -> SegmentResult {
    let failed = |e: VideoError| SegmentResult {
        decoded: 0,
        last_ts: 0.0,
        error: None,
        rate_disagrees: false,
        outcome: Err(e),
    };
    let mut opened = match reuse.map_or_else(|| open_input(file, deadline, &opts.limits), Ok) {
        Ok(o) => o,
        Err(e) => return failed(e),
    };
    let input = &mut opened.input;
    if let Some(from) = seg.from
        && let Err(e) = seek(input, info.stream_index, from)
    {
        return failed(decode_err(e));
    }
    let mut decoder = match open_decoder(input, info, threads, opts.sampling, &opts.limits) {
        Ok(d) => d,
        Err(e) => return failed(e),
    };
    let mut state = Decoding {
        limits: &opts.limits,
        deadline,
        frame_rate: info.frame_rate,
        tb: info.tb,
        start_pts: info.start_pts,
        frame_mod,
        interval: match opts.sampling {
            Sampling::Interval { seconds } if seconds > 0.0 => Some(seconds),
            _ => None,
        },
        rate_disagrees: false,
        last_bucket: None,
        seg,
        done: false,
        decoded: 0,
        last_ts: 0.0,
        rgb: Rgb {
            ctx: ptr::null_mut(),
        },
        frame: ffmpeg::frame::Video::empty(),
        shared,
        max_in_flight: 2 * rayon::current_num_threads(),
        error: None,
    };
    let outcome =
        rayon::in_place_scope(|scope| state.run(scope, input, &mut decoder, info.stream_index));
    SegmentResult {
        decoded: state.decoded,
        last_ts: state.last_ts,
        error: state.error.take(),
        rate_disagrees: state.rate_disagrees,
        outcome,
    }
}

fn hash_source(file: &File, opts: &VideoOptions) -> Result<VideoHashes, VideoError> {
    init();
    let limits = &opts.limits;
    let deadline = Instant::now() + Duration::from_secs_f64(limits.max_wall_secs.max(0.0));
    let mut opened = open_input(file, deadline, limits)?;
    let info = probe(&opened.input)?;
    let decoder = open_decoder(&opened.input, &info, 1, opts.sampling, limits)?;
    let codec = decoder.id().name();
    let (width, height) = (decoder.width(), decoder.height());
    drop(decoder);
    let frame_mod = match opts.sampling {
        Sampling::Interval { seconds } => ((seconds * info.frame_rate).floor() as u64).max(1),
        Sampling::EveryFrame | Sampling::Keyframes => 1,
    };
    // One pass decodes on the container already open; segments each open their own.
    let (segments, mut reuse) = match segment_count(&info, opts) {
        1 => (vec![WHOLE], Some(opened)),
        n => (plan_segments(&mut opened.input, &info, n), None),
    };

    let shared = Shared::new();
    let mut result = None;
    let mut used_segments = 1;
    if segments.len() > 1 {
        let parts: Vec<Mutex<Option<SegmentResult>>> =
            segments.iter().map(|_| Mutex::new(None)).collect();
        rayon::scope(|s| {
            for (seg, slot) in segments.iter().zip(&parts) {
                let (info, shared) = (&info, &shared);
                s.spawn(move |_| {
                    let r = decode_segment(
                        file, None, info, *seg, opts, 1, deadline, frame_mod, shared,
                    );
                    *lock(slot) = Some(r);
                });
            }
        });
        let parts: Vec<SegmentResult> = parts
            .into_iter()
            .filter_map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
            .collect();
        // Each segment must have decoded exactly the frames up to the next one's first number,
        // cleanly and at the declared rate; otherwise one pass decides (and reports damage the
        // way it always does, and samples by timestamps from the true start).
        let consistent = parts.len() == segments.len()
            && parts.iter().all(|p| {
                p.outcome.is_ok() && p.error.is_none() && !p.rate_disagrees && p.decoded > 0
            })
            && segments
                .windows(2)
                .zip(&parts)
                .all(|(w, p)| w[0].offset + p.decoded == w[1].offset);
        if consistent {
            used_segments = segments.len();
            result = Some(SegmentResult {
                decoded: parts.iter().map(|p| p.decoded).sum(),
                last_ts: parts.iter().map(|p| p.last_ts).fold(0.0, f64::max),
                error: None,
                rate_disagrees: false,
                outcome: Ok(()),
            });
        } else if let Some(Err(e @ VideoError::TooLong { .. })) =
            parts.into_iter().map(|p| p.outcome).find(|o| o.is_err())
        {
            // A cap is a cap for the whole video: another pass would only hit it again.
            let mut hashed = lock(&shared.results).clone();
            hashed.sort_by_key(|f| (f.ts_ms, f.number));
            return Err(with_frames(e, hashed));
        } else {
            lock(&shared.results).clear();
        }
    }
    let result = match result {
        Some(r) => r,
        None => decode_segment(
            file,
            reuse.take(),
            &info,
            WHOLE,
            opts,
            opts.decoder_threads,
            deadline,
            frame_mod,
            &shared,
        ),
    };
    let SegmentResult {
        decoded,
        last_ts,
        mut error,
        rate_disagrees,
        outcome,
    } = result;
    let mut frames = shared
        .results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    frames.sort_by_key(|f| (f.ts_ms, f.number));
    if let Some(e) = shared
        .failed
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
    {
        error.get_or_insert(e);
    }
    let (declared_frames, stream_secs) = (info.declared_frames, info.stream_secs);
    // Demuxers report a cut-off file as a plain end of file; the container's own counts tell.
    // (Keyframe-only decoding sees too few frames by design, so it is not judged.)
    if outcome.is_ok() && decoded > 0 && opts.sampling != Sampling::Keyframes && !rate_disagrees {
        let interval = 1.0 / info.frame_rate;
        if declared_frames > 0 && decoded + 2 < declared_frames {
            error.get_or_insert(format!(
                "truncated: {decoded} of {declared_frames} declared frames decoded"
            ));
        } else if declared_frames == 0
            && stream_secs > 0.0
            && last_ts + interval + 1.0 < stream_secs
        {
            error.get_or_insert(format!(
                "truncated: frames end at {last_ts:.1} s of a declared {stream_secs:.1} s"
            ));
        }
    }
    if let Some(e) = error {
        return Err(VideoError::Decode { message: e, frames });
    }
    if let Err(e) = outcome {
        return Err(with_frames(e, frames));
    }
    if decoded == 0 {
        return Err(VideoError::Decode {
            message: "no frame could be decoded".into(),
            frames,
        });
    }
    // The container's duration is a claim; it stands only when the decoded frames bear it out.
    let plausible = info.declared >= last_ts && info.declared <= last_ts + 1.0 + 0.1 * last_ts;
    Ok(VideoHashes {
        frames,
        duration: if plausible { info.declared } else { last_ts },
        width,
        height,
        frame_rate: info.frame_rate,
        decoded_frames: decoded,
        codec,
        segments: used_segments,
    })
}

fn check_pixels(width: u32, height: u32, limits: &VideoLimits) -> Result<(), VideoError> {
    if width as u64 * height as u64 > limits.max_frame_pixels {
        return Err(VideoError::TooLarge {
            width,
            height,
            limit: limits.max_frame_pixels,
        });
    }
    Ok(())
}

fn wall_clock(limits: &VideoLimits) -> VideoError {
    too_long(
        Cap::WallClock,
        format!("wall-clock limit of {} s reached", limits.max_wall_secs),
    )
}

/// The decode loop's state. Frames are converted on the decoding thread and hashed on rayon's
/// pool; when too many are in flight the decoding thread hashes inline, which bounds memory
/// without ever blocking a pool thread.
struct Decoding<'a> {
    limits: &'a VideoLimits,
    deadline: Instant,
    frame_rate: f64,
    tb: f64,
    start_pts: i64,
    frame_mod: u64,
    /// Seconds between hashed frames, for sampling by timestamps.
    interval: Option<f64>,
    /// The timestamps contradict the declared frame rate, so frames are sampled by timestamp.
    rate_disagrees: bool,
    /// The interval of presentation time (`ts / interval`) of the last hashed frame.
    last_bucket: Option<i64>,
    seg: Segment,
    /// The segment's end was reached.
    done: bool,
    decoded: u64,
    last_ts: f64,
    rgb: Rgb,
    frame: ffmpeg::frame::Video,
    shared: &'a Shared,
    max_in_flight: usize,
    error: Option<String>,
}

/// What the hashing jobs share with the decoding thread.
struct Shared {
    results: Mutex<Vec<VideoFrame>>,
    in_flight: AtomicUsize,
    failed: Mutex<Option<String>>,
    /// Frame buffers handed back by finished jobs, so frames are not allocated one by one.
    buffers: Mutex<Vec<Vec<u8>>>,
}

impl Shared {
    fn new() -> Self {
        Shared {
            results: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            failed: Mutex::new(None),
            buffers: Mutex::new(Vec::new()),
        }
    }

    /// Hashes one converted frame and returns its buffer to the pool.
    fn hash(&self, rgb: Vec<u8>, width: u32, height: u32, number: u64, ts_ms: u64) {
        let result = hash_rgb(&rgb, width, height);
        lock(&self.buffers).push(rgb);
        match result {
            Ok((pdq, quality)) => lock(&self.results).push(VideoFrame {
                number,
                ts_ms,
                pdq,
                quality,
            }),
            // PDQ refuses only buffers that don't match their size, which conversion rules
            // out; reported rather than dropped all the same.
            Err(e) => {
                lock(&self.failed).get_or_insert(format!("frame {number}: {e}"));
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking hash job cannot leave the data half-written: pushes are single operations.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Consecutive unreadable packets after which a container is judged broken.
const MAX_READ_ERRORS: u32 = 64;

impl<'s> Decoding<'s> {
    /// Whether frame `number` at `ts` seconds is hashed. vPDQ counts frames (every
    /// `frame_mod`-th), which is right while the timestamps agree with the declared rate. A
    /// container can declare any rate, though: once the timestamps contradict it by more than
    /// half a second (and 5%), sampling follows the timestamps instead, taking the first frame
    /// of each interval, so that an inflated rate buys nothing.
    fn take(&mut self, number: u64, ts: f64, timed: bool) -> bool {
        if timed && !self.rate_disagrees && self.interval.is_some() {
            let expected = number as f64 / self.frame_rate;
            self.rate_disagrees = (ts - expected).abs() > 0.5 + 0.05 * ts.max(expected);
        }
        // The small slack keeps a frame at exactly k intervals in bucket k despite rounding.
        let bucket = self.interval.map(|secs| (ts / secs + 1e-9).floor() as i64);
        // A jump back in time (a timestamp discontinuity) starts the intervals afresh, so one
        // far-future timestamp cannot silence every frame after it.
        let take = match bucket {
            Some(b) if self.rate_disagrees => self.last_bucket.is_none_or(|last| b != last),
            _ => number.is_multiple_of(self.frame_mod),
        };
        if take && bucket.is_some() {
            self.last_bucket = bucket;
        }
        take
    }

    fn run(
        &mut self,
        scope: &rayon::Scope<'s>,
        input: &mut ffmpeg::format::context::Input,
        decoder: &mut ffmpeg::decoder::Video,
        stream_index: usize,
    ) -> Result<(), VideoError> {
        let mut packet = ffmpeg::Packet::empty();
        let mut read_errors = 0u32;
        let mut damaged: Option<String> = None;
        loop {
            if Instant::now() >= self.deadline {
                return Err(wall_clock(self.limits));
            }
            match packet.read(input) {
                Ok(()) => read_errors = 0,
                Err(ffmpeg::Error::Eof) => break,
                Err(e) => {
                    if Instant::now() >= self.deadline {
                        return Err(wall_clock(self.limits));
                    }
                    read_errors += 1;
                    damaged.get_or_insert_with(|| format!("container damaged: {e}"));
                    if read_errors >= MAX_READ_ERRORS {
                        break;
                    }
                    continue;
                }
            }
            if packet.stream() != stream_index {
                continue;
            }
            // Damaged packets are skipped as FFmpeg's own tools do; the damage is reported.
            if let Err(e) = decoder.send_packet(&packet) {
                damaged.get_or_insert_with(|| format!("damaged video data: {e}"));
                continue;
            }
            self.drain(scope, decoder)?;
            if self.done {
                break;
            }
        }
        // Flushing a decoder that saw only garbage may fail; what was decoded still counts.
        if !self.done && decoder.send_eof().is_ok() {
            self.drain(scope, decoder)?;
        }
        if let Some(d) = damaged {
            self.error = Some(d);
        }
        Ok(())
    }

    fn drain(
        &mut self,
        scope: &rayon::Scope<'s>,
        decoder: &mut ffmpeg::decoder::Video,
    ) -> Result<(), VideoError> {
        while decoder.receive_frame(&mut self.frame).is_ok() {
            let pts = self.frame.timestamp();
            if let (Some(from), Some(p)) = (self.seg.from, pts)
                && p < from
            {
                continue; // the previous segment's frame, decoded after a seek
            }
            if let (Some(until), Some(p)) = (self.seg.until, pts)
                && p >= until
            {
                self.done = true;
                return Ok(());
            }
            let number = self.seg.offset + self.decoded;
            self.decoded += 1;
            if number >= self.limits.max_frames {
                return Err(too_long(
                    Cap::MaxFrames,
                    format!("more than {} frames", self.limits.max_frames),
                ));
            }
            if Instant::now() >= self.deadline {
                return Err(wall_clock(self.limits));
            }
            let (w, h) = (self.frame.width(), self.frame.height());
            check_pixels(w, h, self.limits)?;
            let ts = match pts {
                Some(pts) if self.tb > 0.0 => ((pts - self.start_pts) as f64 * self.tb).max(0.0),
                _ => number as f64 / self.frame_rate,
            };
            if ts > self.limits.max_duration_secs {
                return Err(too_long(
                    Cap::MaxDuration,
                    format!(
                        "video runs past the limit of {:.0} s",
                        self.limits.max_duration_secs
                    ),
                ));
            }
            self.last_ts = self.last_ts.max(ts);
            if !self.take(number, ts, pts.is_some()) {
                continue;
            }
            let mut rgb = lock(&self.shared.buffers).pop().unwrap_or_default();
            if let Err(e) = self.rgb.convert(&self.frame, &mut rgb) {
                self.error.get_or_insert(e);
                continue;
            }
            let ts_ms = (ts * 1000.0).round() as u64;
            let shared: &'s Shared = self.shared;
            if shared.in_flight.load(Ordering::Relaxed) >= self.max_in_flight {
                shared.hash(rgb, w, h, number, ts_ms);
            } else {
                shared.in_flight.fetch_add(1, Ordering::Relaxed);
                scope.spawn(move |_| {
                    shared.hash(rgb, w, h, number, ts_ms);
                    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
                });
            }
        }
        Ok(())
    }
}
