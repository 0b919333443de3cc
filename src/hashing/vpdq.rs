//! vPDQ: a video as a list of PDQ-hashed frames, its reference text form, and the comparison of
//! two such lists (Meta's vPDQ match: the share of query frames found in the target and of
//! target frames found in the query), with the matched time ranges.

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::hashing::PdqHash;

/// One hashed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoFrame {
    /// 0-based index among decoded frames (vPDQ's frame number).
    pub number: u64,
    /// Presentation time in milliseconds from the start of the stream.
    pub ts_ms: u64,
    /// PDQ hash of the full-resolution frame.
    pub pdq: PdqHash,
    /// PDQ quality, 0–100.
    pub quality: u8,
}

impl VideoFrame {
    /// Presentation time in seconds.
    pub fn ts(&self) -> f64 {
        self.ts_ms as f64 / 1000.0
    }
}

/// Writes frames in vPDQ's reference text form: `frame_number,quality,pdq_hex,timestamp_sec`.
pub fn write_vpdq(frames: &[VideoFrame], out: &mut impl Write) -> std::io::Result<()> {
    for f in frames {
        writeln!(out, "{},{},{},{:.3}", f.number, f.quality, f.pdq, f.ts())?;
    }
    Ok(())
}

/// A line of vPDQ text that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct VpdqParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

/// Reads vPDQ's text form (`frame_number,quality,pdq_hex,timestamp_sec`, one frame a line;
/// blank lines and `#` comments skipped).
pub fn parse_vpdq(text: &str) -> Result<Vec<VideoFrame>, VpdqParseError> {
    let mut frames = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let frame = parse_vpdq_line(line).map_err(|message| VpdqParseError {
            line: i + 1,
            message,
        })?;
        frames.push(frame);
    }
    Ok(frames)
}

/// Reads one frame line of vPDQ's text form; the error says which field is wrong.
pub fn parse_vpdq_line(line: &str) -> Result<VideoFrame, String> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    if fields.len() != 4 {
        return Err(format!(
            "expected 4 comma-separated fields, found {}",
            fields.len()
        ));
    }
    let number = fields[0]
        .parse::<u64>()
        .map_err(|_| format!("bad frame number {:?}", fields[0]))?;
    let quality = fields[1]
        .parse::<u8>()
        .ok()
        .filter(|q| *q <= 100)
        .ok_or_else(|| format!("bad quality {:?} (0-100)", fields[1]))?;
    let pdq = fields[2]
        .parse::<PdqHash>()
        .map_err(|e| format!("bad PDQ hash: {e}"))?;
    let ts = fields[3]
        .parse::<f64>()
        .ok()
        .filter(|t| t.is_finite() && *t >= 0.0)
        .ok_or_else(|| format!("bad timestamp {:?}", fields[3]))?;
    Ok(VideoFrame {
        number,
        ts_ms: (ts * 1000.0).round() as u64,
        pdq,
        quality,
    })
}

/// Thresholds of a video comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatchOptions {
    /// Two frames match within this PDQ distance (inclusive).
    pub radius: u32,
    /// Frames below this PDQ quality are left out on both sides, as vPDQ does.
    pub min_quality: u8,
    /// Percentage both shares must reach for a match.
    pub threshold_pct: f64,
}

impl Default for MatchOptions {
    /// Radius 31, quality 50 and 80%: vPDQ's published defaults (its matcher counts a distance
    /// strictly below 31; hashguard's radii are inclusive everywhere).
    fn default() -> Self {
        MatchOptions {
            radius: 31,
            min_quality: 50,
            threshold_pct: 80.0,
        }
    }
}

/// A stretch of the query video whose frames were found in the target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeRange {
    /// First matched query frame, seconds.
    pub query_start: f64,
    /// Last matched query frame, seconds.
    pub query_end: f64,
    /// Earliest target frame matched by this stretch, seconds.
    pub target_start: f64,
    /// Latest target frame matched by this stretch, seconds.
    pub target_end: f64,
}

/// The outcome of comparing a query video with a target video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoMatch {
    /// Percentage of the query's frames (of sufficient quality) with a matching target frame.
    pub query_pct: f64,
    /// Percentage of the target's frames (of sufficient quality) with a matching query frame.
    pub target_pct: f64,
    /// Both percentages reach the threshold.
    pub is_match: bool,
    /// Where the query matched, merged into runs of consecutive matched frames.
    pub ranges: Vec<TimeRange>,
}

/// Compares two videos' frames. A query frame's best target frame is the nearest within the
/// radius; runs of consecutive matched query frames (one unmatched frame allowed inside a run)
/// become [`TimeRange`]s. Brute force: videos hold thousands of frames at 1 fps, and a
/// million 256-bit comparisons take a few milliseconds.
pub fn compare(query: &[VideoFrame], target: &[VideoFrame], opts: &MatchOptions) -> VideoMatch {
    let q: Vec<&VideoFrame> = query
        .iter()
        .filter(|f| f.quality >= opts.min_quality)
        .collect();
    let t: Vec<&VideoFrame> = target
        .iter()
        .filter(|f| f.quality >= opts.min_quality)
        .collect();
    if q.is_empty() || t.is_empty() {
        return VideoMatch {
            query_pct: 0.0,
            target_pct: 0.0,
            is_match: false,
            ranges: Vec::new(),
        };
    }
    let mut target_hit = vec![false; t.len()];
    // For each query frame: the nearest matching target frame, if any.
    let best: Vec<Option<usize>> = q
        .iter()
        .map(|qf| {
            let mut best: Option<(u32, usize)> = None;
            for (j, tf) in t.iter().enumerate() {
                let d = qf.pdq.distance(&tf.pdq);
                if d <= opts.radius {
                    target_hit[j] = true;
                    if best.is_none_or(|(bd, _)| d < bd) {
                        best = Some((d, j));
                    }
                }
            }
            best.map(|(_, j)| j)
        })
        .collect();
    let q_hits = best.iter().filter(|b| b.is_some()).count();
    let t_hits = target_hit.iter().filter(|h| **h).count();
    let query_pct = 100.0 * q_hits as f64 / q.len() as f64;
    let target_pct = 100.0 * t_hits as f64 / t.len() as f64;

    let mut ranges: Vec<TimeRange> = Vec::new();
    let mut last_matched: Option<usize> = None;
    for (i, b) in best.iter().enumerate() {
        let Some(j) = *b else { continue };
        let (qs, ts) = (q[i].ts(), t[j].ts());
        match (ranges.last_mut(), last_matched) {
            // Continue the run when at most one unmatched frame lies between.
            (Some(r), Some(prev)) if i - prev <= 2 => {
                r.query_end = qs;
                r.target_start = r.target_start.min(ts);
                r.target_end = r.target_end.max(ts);
            }
            _ => ranges.push(TimeRange {
                query_start: qs,
                query_end: qs,
                target_start: ts,
                target_end: ts,
            }),
        }
        last_matched = Some(i);
    }
    VideoMatch {
        query_pct,
        target_pct,
        is_match: query_pct >= opts.threshold_pct && target_pct >= opts.threshold_pct,
        ranges,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(number: u64, ts_ms: u64, seed: u64, quality: u8) -> VideoFrame {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut bytes = [0u8; 32];
        for b in &mut bytes {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        VideoFrame {
            number,
            ts_ms,
            pdq: PdqHash(bytes),
            quality,
        }
    }

    fn flip(f: VideoFrame, bits: usize) -> VideoFrame {
        let mut b = f.pdq.0;
        for i in 0..bits {
            b[i / 8] ^= 1 << (i % 8);
        }
        VideoFrame {
            pdq: PdqHash(b),
            ..f
        }
    }

    #[test]
    fn vpdq_text_round_trips() {
        let frames: Vec<_> = (0..5)
            .map(|i| frame(i * 25, i * 1000, i, 100 - i as u8))
            .collect();
        let mut out = Vec::new();
        write_vpdq(&frames, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("0,100,"), "{text}");
        assert!(text.lines().nth(1).unwrap().ends_with(",1.000"));
        assert_eq!(parse_vpdq(&text).unwrap(), frames);
    }

    #[test]
    fn vpdq_text_errors_name_the_line() {
        let good = format!("0,100,{},0.000", "ab".repeat(32));
        for (bad, what) in [
            (format!("{good}\n1,100,{},x", "ab".repeat(32)), "timestamp"),
            (format!("{good}\n1,101,{},1.0", "ab".repeat(32)), "quality"),
            (format!("{good}\n1,100,abc,1.0"), "PDQ"),
            (format!("{good}\n1,100"), "4 comma-separated"),
        ] {
            let e = parse_vpdq(&bad).unwrap_err();
            assert_eq!(e.line, 2, "{e}");
            assert!(e.message.contains(what), "{e}");
        }
    }

    #[test]
    fn identical_videos_match_fully_and_unrelated_do_not() {
        let a: Vec<_> = (0..20).map(|i| frame(i, i * 1000, i, 100)).collect();
        let b: Vec<_> = (0..20).map(|i| frame(i, i * 1000, 1000 + i, 100)).collect();
        let m = compare(&a, &a, &MatchOptions::default());
        assert_eq!(
            (m.query_pct, m.target_pct, m.is_match),
            (100.0, 100.0, true)
        );
        assert_eq!(m.ranges.len(), 1);
        assert_eq!(
            (m.ranges[0].query_start, m.ranges[0].query_end),
            (0.0, 19.0)
        );
        let m = compare(&a, &b, &MatchOptions::default());
        assert_eq!((m.query_pct, m.is_match), (0.0, false));
        assert!(m.ranges.is_empty());
    }

    #[test]
    fn radius_is_inclusive_and_low_quality_frames_are_ignored() {
        let a: Vec<_> = (0..10).map(|i| frame(i, i * 1000, i, 100)).collect();
        let near: Vec<_> = a.iter().map(|f| flip(*f, 31)).collect();
        let far: Vec<_> = a.iter().map(|f| flip(*f, 32)).collect();
        assert!(compare(&a, &near, &MatchOptions::default()).is_match);
        assert!(!compare(&a, &far, &MatchOptions::default()).is_match);
        // Low-quality frames in the target count on neither side.
        let mut t = a.clone();
        t.extend((10..30).map(|i| frame(i, i * 1000, 500 + i, 20)));
        let m = compare(&a, &t, &MatchOptions::default());
        assert_eq!((m.query_pct, m.target_pct), (100.0, 100.0));
    }

    #[test]
    fn a_spliced_segment_is_found_with_its_time_ranges() {
        // Target: 12 frames. Query: 5 unrelated, target 1..=10, 5 unrelated.
        let target: Vec<_> = (0..12).map(|i| frame(i, i * 1000, i, 100)).collect();
        let mut query: Vec<_> = (0..5).map(|i| frame(i, i * 1000, 700 + i, 100)).collect();
        query.extend((1..11).map(|k| frame(4 + k, (4 + k) * 1000, k, 100)));
        query.extend((15..20).map(|i| frame(i, i * 1000, 800 + i, 100)));
        let m = compare(&query, &target, &MatchOptions::default());
        assert!(!m.is_match);
        assert_eq!(m.query_pct, 50.0);
        assert!((m.target_pct - 1000.0 / 12.0).abs() < 1e-9);
        assert_eq!(
            m.ranges,
            vec![TimeRange {
                query_start: 5.0,
                query_end: 14.0,
                target_start: 1.0,
                target_end: 10.0
            }]
        );
    }
}
