//! Videos: frame hashes against Meta's vpdq, matching of copies and splices, hostile files.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hashguard::fingerprint::{HashRequest, Partial, Reason, fingerprint_file};
use hashguard::hashing::PdqHash;
use hashguard::hashing::vpdq::{MatchOptions, compare};
use hashguard::media::{
    self, Cap, Limits, Sampling, VideoError, VideoFrame, VideoLimits, VideoOptions,
    hash_video_bytes, hash_video_file,
};

use crate::common::testdata;

fn frames(name: &str) -> Vec<VideoFrame> {
    hash_video_file(&testdata("video").join(name), &VideoOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .frames
}

/// testdata/video/vpdq_reference.csv: clip → timestamp (ms) → (frame number, quality, PDQ).
fn vpdq_reference() -> HashMap<String, HashMap<u64, (u64, u8, PdqHash)>> {
    let text = std::fs::read_to_string(testdata("video/vpdq_reference.csv")).unwrap();
    let mut out: HashMap<String, HashMap<u64, _>> = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let ts_ms = (f[4].parse::<f64>().unwrap() * 1000.0).round() as u64;
        out.entry(f[0].to_string()).or_default().insert(
            ts_ms,
            (
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            ),
        );
    }
    out
}

#[test]
fn frame_hashes_agree_with_meta_vpdq() {
    let reference = vpdq_reference();
    assert_eq!(reference.len(), 6, "clips in the reference file");
    let (mut total, mut identical, mut worst) = (0usize, 0usize, 0u32);
    for (clip, expected) in &reference {
        let ours: HashMap<u64, VideoFrame> =
            frames(clip).into_iter().map(|f| (f.ts_ms, f)).collect();
        assert_eq!(ours.len(), expected.len(), "{clip}: frames hashed");
        for (ts, (number, quality, pdq)) in expected {
            let f = ours
                .get(ts)
                .unwrap_or_else(|| panic!("{clip}: no frame at {ts} ms"));
            assert_eq!(f.number, *number, "{clip} at {ts} ms: frame number");
            let d = f.pdq.distance(pdq);
            total += 1;
            identical += (d == 0) as usize;
            worst = worst.max(d);
            assert!(
                f.quality.abs_diff(*quality) <= 2,
                "{clip} at {ts} ms: quality"
            );
        }
    }
    eprintln!("vPDQ frames: {identical}/{total} identical to vpdq, max distance {worst}");
    assert!(
        identical * 100 >= total * 95,
        "{identical}/{total} identical"
    );
    assert!(worst <= 4, "max distance {worst}");
}

#[test]
fn reencoded_copy_matches_splice_is_located_unrelated_clips_do_not_match() {
    let opts = MatchOptions::default();
    let original = frames("mandelbrot.mp4");
    let copy = frames("mandelbrot_reencoded.mp4");
    let m = compare(&copy, &original, &opts);
    eprintln!(
        "re-encoded copy: {:.0}% / {:.0}%",
        m.query_pct, m.target_pct
    );
    assert!(
        m.is_match && m.query_pct >= 80.0 && m.target_pct >= 80.0,
        "{m:?}"
    );

    // spliced.mp4 holds mandelbrot 1-11 s at 5-15 s.
    let spliced = frames("spliced.mp4");
    let m = compare(&spliced, &original, &opts);
    eprintln!("splice: {m:?}");
    assert!(!m.is_match, "half the spliced clip is other material");
    let longest = m
        .ranges
        .iter()
        .max_by(|a, b| (a.query_end - a.query_start).total_cmp(&(b.query_end - b.query_start)))
        .expect("the splice is found");
    assert!((longest.query_start - 5.0).abs() <= 1.0, "{longest:?}");
    assert!((longest.query_end - 14.0).abs() <= 1.0, "{longest:?}");
    assert!((longest.target_start - 1.0).abs() <= 1.0, "{longest:?}");
    assert!((longest.target_end - 10.0).abs() <= 1.0, "{longest:?}");
    // Nothing outside the spliced segment matches.
    for r in &m.ranges {
        assert!(r.query_start >= 4.0 && r.query_end <= 15.0, "{r:?}");
    }

    let clips = [
        "mandelbrot.mp4",
        "cellauto.mp4",
        "life.webm",
        "testsrc2.avi",
    ];
    let hashed: Vec<_> = clips.iter().map(|c| frames(c)).collect();
    for i in 0..clips.len() {
        for j in 0..clips.len() {
            if i != j {
                let m = compare(&hashed[i], &hashed[j], &opts);
                assert!(!m.is_match, "{} vs {}: {m:?}", clips[i], clips[j]);
                assert!(m.query_pct < 20.0, "{} vs {}: {m:?}", clips[i], clips[j]);
            }
        }
    }
}

#[test]
fn video_from_memory_hashes_like_the_file() {
    let path = testdata("video/life.webm");
    let from_file = hash_video_file(&path, &VideoOptions::default()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let from_memory = hash_video_bytes(&bytes, &VideoOptions::default()).unwrap();
    assert_eq!(from_file, from_memory);
    assert_eq!((from_file.width, from_file.height), (320, 240));
    assert_eq!(from_file.codec, "vp9");
    assert_eq!(from_file.duration, 10.0);
}

#[test]
fn parallel_segments_give_the_one_pass_result() {
    for clip in ["spliced.mp4", "mandelbrot.mp4", "cellauto.mp4"] {
        let path = testdata("video").join(clip);
        for sampling in [Sampling::default(), Sampling::EveryFrame] {
            let with = |threads| {
                hash_video_file(
                    &path,
                    &VideoOptions {
                        sampling,
                        decoder_threads: threads,
                        ..VideoOptions::default()
                    },
                )
                .unwrap()
            };
            let one = with(1);
            let two = with(2);
            assert_eq!(one.segments, 1);
            assert_eq!(
                (&one.frames, one.decoded_frames),
                (&two.frames, two.decoded_frames),
                "{clip} {sampling:?}"
            );
            if clip == "spliced.mp4" {
                assert_eq!(two.segments, 2, "the 20 s clip is split at a keyframe");
            }
        }
    }
}

#[test]
fn every_frame_and_keyframe_sampling() {
    let path = testdata("video/mandelbrot.mp4");
    let every = hash_video_file(
        &path,
        &VideoOptions {
            sampling: Sampling::EveryFrame,
            ..VideoOptions::default()
        },
    )
    .unwrap();
    assert_eq!(every.frames.len(), 300);
    assert!(every.frames.windows(2).all(|w| w[0].ts_ms < w[1].ts_ms));
    // The 1-per-second frames are exactly every 25th of these.
    let per_second = frames("mandelbrot.mp4");
    for f in &per_second {
        assert_eq!(every.frames[f.number as usize], *f);
    }
    let keys = hash_video_file(
        &path,
        &VideoOptions {
            sampling: Sampling::Keyframes,
            ..VideoOptions::default()
        },
    )
    .unwrap();
    assert!(!keys.frames.is_empty() && keys.frames.len() < 300);
    assert_eq!(
        keys.frames[0].pdq, every.frames[0].pdq,
        "the first frame is a keyframe"
    );
    for k in &keys.frames {
        let same_time = every.frames.iter().find(|f| f.ts_ms == k.ts_ms).unwrap();
        assert_eq!(same_time.pdq, k.pdq, "keyframe at {} ms", k.ts_ms);
    }
}

#[test]
fn caps_keep_the_frames_hashed_before_them() {
    let path = testdata("video/mandelbrot.mp4");
    let with = |limits: VideoLimits| {
        hash_video_file(
            &path,
            &VideoOptions {
                limits,
                ..VideoOptions::default()
            },
        )
    };
    let whole = frames("mandelbrot.mp4");
    let base = VideoLimits::default();
    let cut = |e: VideoError| match e {
        VideoError::TooLong {
            cap,
            message,
            frames,
        } => (cap, message, frames),
        other => panic!("expected a cap, got {other}"),
    };
    // Presentation time: the frames up to 5 s are kept, identical to the whole video's.
    let (cap, message, kept) = cut(with(VideoLimits {
        max_duration_secs: 5.0,
        ..base
    })
    .unwrap_err());
    assert_eq!(cap, Cap::MaxDuration, "{message}");
    assert_eq!(kept.len(), 6, "0..=5 s at one frame a second");
    assert_eq!(kept[..], whole[..6]);
    // Frame count: 50 frames at 25 fps hold the hashed frames at 0 s and 1 s.
    let (cap, message, kept) = cut(with(VideoLimits {
        max_frames: 50,
        ..base
    })
    .unwrap_err());
    assert_eq!(cap, Cap::MaxFrames);
    assert!(message.contains("50 frames"), "{message}");
    assert_eq!(kept[..], whole[..2]);
    let e = with(VideoLimits {
        max_frame_pixels: 320 * 180 - 1,
        ..base
    })
    .unwrap_err();
    assert!(
        matches!(
            e,
            VideoError::TooLarge {
                width: 320,
                height: 180,
                ..
            }
        ),
        "{e}"
    );
    let started = Instant::now();
    let (cap, message, _) = cut(with(VideoLimits {
        max_wall_secs: 0.0,
        ..base
    })
    .unwrap_err());
    assert_eq!(cap, Cap::WallClock);
    assert!(message.contains("wall-clock"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Through fingerprinting, a capped video keeps its digests and the frames before the cap,
    // and says it is partial and why.
    let limits = Limits {
        video: VideoLimits {
            max_duration_secs: 5.0,
            ..base
        },
        ..Limits::default()
    };
    let rec = fingerprint_file(&path, &HashRequest::ALL, &limits);
    assert_eq!(rec.error, Some(Reason::TooLong));
    assert_eq!(rec.partial, Some(Partial::MaxDuration));
    assert!(rec.sha256.is_some() && rec.md5.is_some() && rec.sha1.is_some());
    assert_eq!(rec.frames.as_ref().map(Vec::len), Some(6));
}

/// A video cut short by the wall clock is still matched on the frames hashed before the cut.
#[test]
fn video_cut_by_the_wall_clock_still_matches() {
    // Every frame on one thread, with a wall clock of 40% of what the whole clip takes here.
    let path = testdata("video/mandelbrot_reencoded.mp4");
    let mut opts = VideoOptions {
        sampling: Sampling::EveryFrame,
        decoder_threads: 1,
        ..VideoOptions::default()
    };
    let started = Instant::now();
    hash_video_file(&path, &opts).unwrap();
    opts.limits.max_wall_secs = started.elapsed().as_secs_f64() * 0.4;
    let original = frames("mandelbrot.mp4");
    match hash_video_file(&path, &opts) {
        Err(VideoError::TooLong {
            cap: Cap::WallClock,
            frames,
            ..
        }) => {
            assert!(!frames.is_empty(), "frames before the cut are kept");
            let near = frames
                .iter()
                .filter(|f| original.iter().any(|o| o.pdq.distance(&f.pdq) <= 31))
                .count();
            assert!(near > 0, "the part hashed matches the listed video");
        }
        Ok(v) => panic!(
            "decoded all {} frames within {} s",
            v.decoded_frames, opts.limits.max_wall_secs
        ),
        Err(e) => panic!("{e}"),
    }
}

/// Headers that lie about duration or frame rate hash like the honest file.
#[test]
fn lying_headers_hash_like_the_honest_file() {
    let honest = frames("cellauto.mp4");
    assert_eq!(honest.len(), 10);
    for name in ["lying_1000h.mp4", "lying_1000fps.mp4"] {
        let v = hash_video_file(&testdata("video").join(name), &VideoOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let same = v
            .frames
            .iter()
            .filter(|f| honest.iter().any(|h| h.ts_ms == f.ts_ms && h.pdq == f.pdq))
            .count();
        assert!(
            same * 100 >= 95 * honest.len() && v.frames.len() <= honest.len() + 1,
            "{name}: {same} of {} frames identical to the honest file's {}",
            v.frames.len(),
            honest.len()
        );
        assert!((v.duration - 10.0).abs() < 1.0, "{name}: {} s", v.duration);
        let m = compare(&v.frames, &honest, &MatchOptions::default());
        assert!(m.is_match, "{name}: {m:?}");
        let rec = fingerprint_file(
            &testdata("video").join(name),
            &HashRequest::ALL,
            &Limits::default(),
        );
        assert_eq!(rec.error, None, "{name}: {:?}", rec.detail);
    }
}

/// A loopback listener that records whether anything connected to it.
struct Tripwire(TcpListener);

impl Tripwire {
    fn new() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Tripwire(l)
    }
    fn port(&self) -> u16 {
        self.0.local_addr().unwrap().port()
    }
    fn untouched(&self) -> bool {
        matches!(self.0.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

#[test]
fn broken_and_hostile_videos_fail_cleanly_without_network() {
    let wire = Tripwire::new();
    let port = format!("{:05}", wire.port());
    let dir = tempfile::tempdir().unwrap();
    // The committed external-reference file names port PPPPP; point it at the tripwire.
    let mut external = std::fs::read(testdata("video/broken_external_ref.mp4")).unwrap();
    let at = external
        .windows(5)
        .position(|w| w == b"PPPPP")
        .expect("placeholder port");
    external[at..at + 5].copy_from_slice(port.as_bytes());
    let external_path = dir.path().join("external_ref.mp4");
    std::fs::write(&external_path, &external).unwrap();

    let limits = Limits {
        video: VideoLimits {
            max_wall_secs: 20.0,
            ..VideoLimits::default()
        },
        ..Limits::default()
    };
    let cases = [
        (testdata("video/broken_truncated.mp4"), Reason::DecodeFailed),
        (testdata("video/broken_no_moov.mp4"), Reason::DecodeFailed),
        (testdata("video/broken_garbage.mp4"), Reason::DecodeFailed),
        // Its time scale was rewritten too: the edit list ends after 20 of its 200 frames.
        (
            testdata("video/broken_huge_duration.mp4"),
            Reason::DecodeFailed,
        ),
        (external_path, Reason::DecodeFailed),
    ];
    for (path, reason) in &cases {
        let started = Instant::now();
        let rec = fingerprint_file(path, &HashRequest::ALL, &limits);
        let name = path.file_name().unwrap().to_string_lossy();
        assert_eq!(rec.error, Some(*reason), "{name}: {:?}", rec.detail);
        assert!(
            rec.detail.as_deref().is_some_and(|d| !d.is_empty()),
            "{name}"
        );
        assert!(
            rec.sha256.is_some() && rec.sha1.is_some() && rec.md5.is_some(),
            "{name}"
        );
        assert!(started.elapsed() < Duration::from_secs(20), "{name}");
    }
    // The truncated clip keeps the frames before the cut.
    let rec = fingerprint_file(&cases[0].0, &HashRequest::ALL, &limits);
    assert!(
        rec.detail.as_deref().unwrap().contains("truncated"),
        "{:?}",
        rec.detail
    );
    assert!(!rec.frames.unwrap().is_empty());

    // Playlists and concat lists never reach the network, even handed straight to FFmpeg.
    let url = format!("http://127.0.0.1:{port}/clip.mp4");
    let hostile = [
        format!("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{url}\n#EXT-X-ENDLIST\n"),
        format!("ffconcat version 1.0\nfile '{url}'\n"),
        format!(
            "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video {port} RTP/AVP 96\n"
        ),
    ];
    for text in &hostile {
        let r = hash_video_bytes(text.as_bytes(), &VideoOptions::default());
        assert!(matches!(r, Err(VideoError::Decode { .. })), "{text}: {r:?}");
        let r = media::hash_video_file(&write_temp(dir.path(), text), &VideoOptions::default());
        assert!(matches!(r, Err(VideoError::Decode { .. })), "{text}: {r:?}");
    }
    // A path that looks like a URL is opened as a local file name.
    let r = hash_video_file(Path::new(&url), &VideoOptions::default());
    assert!(matches!(r, Err(VideoError::Decode { .. })), "{r:?}");
    assert!(
        wire.untouched(),
        "a connection reached the loopback tripwire"
    );
}

fn write_temp(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join(format!("hostile-{}.txt", text.len()));
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

#[test]
fn cli_hash_reports_video_frames() {
    let path = testdata("video/testsrc2.avi");
    let (code, out, err) = super::run(&["hash", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["kind"], "video");
    assert_eq!(v["duration"], 6.0);
    let frames = v["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 6);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f["ts"], i as f64);
        assert_eq!(f["pdq"].as_str().unwrap().len(), 64);
        assert!(f["pdq_quality"].as_u64().unwrap() <= 100);
    }
    assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
}
