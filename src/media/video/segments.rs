//! Cutting a long constant-rate video at keyframes into one segment per thread, so that
//! segments decode in parallel and their frames join in timestamp order.

use super::*;

/// A stretch of the video by presentation time: frames with a timestamp in `[from, until)`,
/// the first of them numbered `offset`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Segment {
    pub(super) from: Option<i64>,
    pub(super) until: Option<i64>,
    pub(super) offset: u64,
}

pub(super) const WHOLE: Segment = Segment {
    from: None,
    until: None,
    offset: 0,
};

/// What decoding one segment gave.
pub(super) struct SegmentResult {
    pub(super) decoded: u64,
    pub(super) last_ts: f64,
    pub(super) error: Option<String>,
    /// Timestamps contradicted the declared frame rate.
    pub(super) rate_disagrees: bool,
    pub(super) outcome: Result<(), VideoError>,
}

/// The length segments are planned over: the video stream's own duration (which FFmpeg bounds
/// by the sample table) rather than the container's, which a header edit can inflate at will.
fn planned_secs(info: &Info) -> f64 {
    if info.stream_secs > 0.0 {
        info.stream_secs
    } else {
        info.declared
    }
}

/// Shortest segment worth its own decoder, in seconds.
pub(super) const MIN_SEGMENT_SECS: f64 = 5.0;

/// Splits a constant-rate video at keyframes near equal times, one segment per thread, so
/// each is decoded independently (frame-threaded decoding of one stream scales poorly). Frame
/// numbers of later segments follow from their first timestamp; the caller checks them against
/// the counts actually decoded and falls back to one pass when they disagree.
pub(super) fn plan_segments(
    input: &mut ffmpeg::format::context::Input,
    info: &Info,
    n: usize,
) -> Vec<Segment> {
    let span = (planned_secs(info) / info.tb) as i64;
    let by_cost = cost_targets(input, info.stream_index, n);
    let mut starts: Vec<i64> = Vec::new();
    for k in 1..n {
        let target = match &by_cost {
            Some(t) => t[k - 1],
            None => info.start_pts + span * k as i64 / n as i64,
        };
        let Some(key) = keyframe_near(input, info.stream_index, target) else {
            return vec![WHOLE];
        };
        if key <= info.start_pts || starts.last().is_some_and(|&s| key <= s) {
            continue;
        }
        starts.push(key);
    }
    if starts.is_empty() {
        return vec![WHOLE];
    }
    let offset =
        |pts: i64| ((pts - info.start_pts) as f64 * info.tb * info.frame_rate).round() as u64;
    let mut segments = vec![Segment {
        from: None,
        until: Some(starts[0]),
        offset: 0,
    }];
    for (i, &s) in starts.iter().enumerate() {
        segments.push(Segment {
            from: Some(s),
            until: starts.get(i + 1).copied(),
            offset: offset(s),
        });
    }
    segments
}

/// Where to cut a video into `n` parts of about equal decoding work, from the demuxer's
/// index (MP4 and AVI list every frame with its size): a frame costs a fixed part (the average
/// frame size) plus its own size. Split by time instead, a scene that is harder to decode
/// would leave one thread working alone. `None` when the index does not list the frames.
pub(super) fn cost_targets(
    input: &ffmpeg::format::context::Input,
    stream: usize,
    n: usize,
) -> Option<Vec<i64>> {
    // SAFETY: reading the index entries of one of the input's streams; the pointers stay
    // valid while the input is open and not read from.
    let entries: Vec<(i64, u64)> = unsafe {
        let st = *(*input.as_ptr()).streams.add(stream);
        let count = ffi::avformat_index_get_entries_count(st);
        (0..count)
            .filter_map(|i| {
                let e = ffi::avformat_index_get_entry(st, i);
                (!e.is_null()).then(|| ((*e).timestamp, (*e).size() as u64))
            })
            .collect()
    };
    let total: u64 = entries.iter().map(|e| e.1).sum();
    if entries.len() < 2 * n || total == 0 {
        return None;
    }
    let mean = total / entries.len() as u64;
    let all = total + mean * entries.len() as u64;
    let mut targets = Vec::with_capacity(n - 1);
    let mut acc = 0u64;
    let mut k = 1;
    for &(ts, size) in &entries {
        if k < n && acc >= all * k as u64 / n as u64 {
            targets.push(ts);
            k += 1;
        }
        acc += size + mean;
    }
    (targets.len() == n - 1).then_some(targets)
}

/// The timestamp of the keyframe nearest `target`: the last one at or before it (found by a
/// backward seek) or the first one after it, whichever is closer. Only packets are read.
pub(super) fn keyframe_near(
    input: &mut ffmpeg::format::context::Input,
    stream: usize,
    target: i64,
) -> Option<i64> {
    seek(input, stream, target).ok()?;
    let mut packet = ffmpeg::Packet::empty();
    let mut before = None;
    for _ in 0..100_000 {
        if packet.read(input).is_err() {
            break;
        }
        if packet.stream() != stream || !packet.is_key() {
            continue;
        }
        let Some(pts) = packet.pts().or(packet.dts()) else {
            continue;
        };
        match before {
            None if pts <= target => before = Some(pts),
            None => return Some(pts),
            Some(b) if pts > target => {
                return Some(if pts - target < target - b { pts } else { b });
            }
            Some(_) => before = Some(pts),
        }
        // Past twice the distance, a later keyframe cannot be closer.
        if let Some(b) = before
            && pts > target + (target - b)
        {
            break;
        }
    }
    before
}

pub(super) fn seek(
    input: &mut ffmpeg::format::context::Input,
    stream: usize,
    ts: i64,
) -> Result<(), String> {
    // SAFETY: an open input context and one of its stream indexes.
    let r = unsafe {
        ffi::av_seek_frame(
            input.as_mut_ptr(),
            stream as c_int,
            ts,
            ffi::AVSEEK_FLAG_BACKWARD,
        )
    };
    if r < 0 {
        return Err(format!("seek failed: {}", ffmpeg::Error::from(r)));
    }
    Ok(())
}

/// How many segments to decode in parallel (1: one pass). Only constant-rate videos long
/// enough to give each thread `MIN_SEGMENT_SECS` are split.
pub(super) fn segment_count(info: &Info, opts: &VideoOptions) -> usize {
    let threads = match opts.decoder_threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let secs = planned_secs(info);
    let n = threads.min((secs / MIN_SEGMENT_SECS) as usize).min(8);
    if n < 2 || !info.constant_rate || info.tb <= 0.0 || opts.sampling == Sampling::Keyframes {
        1
    } else {
        n
    }
}
