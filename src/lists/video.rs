//! Listed videos: a list entry that is a whole video (its vPDQ frames and duration), its
//! canonical byte form, the digest that identifies it, and the per-list settings of video
//! matching.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::hashing::vpdq::VideoFrame;
use crate::hashing::{PdqHash, VpdqDigest};

/// Most frames one listed video may hold (8 hours at 1 frame per second; more is damage). Its
/// JSON line, which bundles and mirrors carry, stays under the 4 MiB line limit.
pub const MAX_FRAMES: usize = 30_000;

/// Bytes of one frame in the canonical form: number, time (ms), quality, PDQ.
const FRAME_BYTES: usize = 4 + 4 + 1 + 32;

/// A whole video as a list holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoEntry {
    /// Duration in milliseconds (the source's, else the last frame's time).
    pub duration_ms: u64,
    /// Its frames in time order.
    pub frames: Vec<VideoFrame>,
}

/// Why frames cannot make a video entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VideoError {
    /// No frames at all.
    #[error("a video without frames")]
    Empty,
    /// Past [`MAX_FRAMES`].
    #[error("{frames} frames, more than the {MAX_FRAMES} a listed video may hold")]
    TooManyFrames {
        /// Frames given.
        frames: usize,
    },
    /// A frame's time does not fit (past 49 days) or goes backwards.
    #[error("frame {number}: {why}")]
    BadTime {
        /// The frame's number.
        number: u64,
        /// What is wrong with its time.
        why: &'static str,
    },
}

impl VideoEntry {
    /// A video from its frames, checked: at least one, at most [`MAX_FRAMES`], times that fit
    /// in 32 bits of milliseconds and never go backwards. `duration_ms` defaults to the last
    /// frame's time.
    pub fn new(frames: Vec<VideoFrame>, duration_ms: Option<u64>) -> Result<Self, VideoError> {
        if frames.is_empty() {
            return Err(VideoError::Empty);
        }
        if frames.len() > MAX_FRAMES {
            return Err(VideoError::TooManyFrames {
                frames: frames.len(),
            });
        }
        let mut last = 0;
        for f in &frames {
            if f.ts_ms > u64::from(u32::MAX) || f.number > u64::from(u32::MAX) {
                return Err(VideoError::BadTime {
                    number: f.number,
                    why: "time or number past 32 bits",
                });
            }
            if f.ts_ms < last {
                return Err(VideoError::BadTime {
                    number: f.number,
                    why: "earlier than the frame before it",
                });
            }
            last = f.ts_ms;
        }
        let duration_ms = duration_ms.unwrap_or(last).max(last);
        Ok(VideoEntry {
            duration_ms,
            frames,
        })
    }

    /// The canonical form: duration (u64), frame count (u32), then per frame its number (u32),
    /// time in ms (u32), quality (u8) and PDQ (32 bytes), all big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.frames.len() * FRAME_BYTES);
        out.extend_from_slice(&self.duration_ms.to_be_bytes());
        out.extend_from_slice(&(self.frames.len() as u32).to_be_bytes());
        for f in &self.frames {
            // `new` bounded both to 32 bits.
            out.extend_from_slice(&(f.number as u32).to_be_bytes());
            out.extend_from_slice(&(f.ts_ms as u32).to_be_bytes());
            out.push(f.quality);
            out.extend_from_slice(&f.pdq.0);
        }
        out
    }

    /// Reads [`VideoEntry::encode`]'s form; `None` when the bytes are not exactly one.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let duration_ms = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
        let n = u32::from_be_bytes(b.get(8..12)?.try_into().ok()?) as usize;
        let body = b.get(12..)?;
        if n > MAX_FRAMES || body.len() != n * FRAME_BYTES {
            return None;
        }
        let frames = body
            .chunks_exact(FRAME_BYTES)
            .map(|c| {
                let u32_at = |i: usize| u32::from_be_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
                let mut pdq = [0u8; 32];
                pdq.copy_from_slice(&c[9..41]);
                VideoFrame {
                    number: u64::from(u32_at(0)),
                    ts_ms: u64::from(u32_at(4)),
                    quality: c[8],
                    pdq: PdqHash(pdq),
                }
            })
            .collect();
        Some(VideoEntry {
            duration_ms,
            frames,
        })
    }

    /// The video's identity: SHA-256 of its canonical form. Two entries with the same frames
    /// and duration have the same digest, so a list's set digest covers every frame.
    pub fn digest(&self) -> VpdqDigest {
        VpdqDigest(Sha256::digest(self.encode()).into())
    }

    /// A video from a vPDQ signal as python-threatexchange and HMA write it: a JSON list of
    /// `"pdq_hex,quality,timestamp"` strings, one a frame in time order.
    pub fn from_signal(text: &str) -> Result<Self, String> {
        crate::lists::format::parse_vpdq_signal(text)
    }

    /// Duration in seconds.
    pub fn duration(&self) -> f64 {
        self.duration_ms as f64 / 1000.0
    }
}

/// A video entry shared between a row, its stored entry and the change log without copying.
pub type SharedVideo = Arc<VideoEntry>;

/// How a list's videos are matched; stored with the list.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VideoSettings {
    /// Share (0–1) of the query's frames that must have a near frame in the listed video for a
    /// `match`.
    pub query_threshold: f64,
    /// Share (0–1) of the listed video's frames that must have a near frame in the query for a
    /// `match` (vPDQ's default 0: a query made mostly of known material matches even when it
    /// is a short part of the listed video).
    pub listed_threshold: f64,
    /// Frames below this PDQ quality count on neither side.
    pub min_quality: u8,
    /// Seconds of the listed video that must appear in the query in order for an `excerpt`.
    pub excerpt_seconds: f64,
    /// Frame distance within which a query frame makes a listed video a candidate (its
    /// shares are then computed exactly at the full radius); the full radius makes the search
    /// exhaustive. `None`: the widest radius whose search stays within a fixed cost per query
    /// frame, which is the full radius for lists of up to a few hundred thousand frames. See
    /// `matcher::video`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_radius: Option<u32>,
}

impl Default for VideoSettings {
    /// vPDQ's own defaults (python-threatexchange `vpdq_util`: query 80%, compared video 0%,
    /// quality 50) and 5-second excerpts.
    fn default() -> Self {
        VideoSettings {
            query_threshold: 0.8,
            listed_threshold: 0.0,
            min_quality: 50,
            excerpt_seconds: 5.0,
            discovery_radius: None,
        }
    }
}

impl VideoSettings {
    /// Checks the ranges; the error says which setting is wrong.
    pub fn check(&self) -> Result<(), String> {
        if !(self.query_threshold > 0.0 && self.query_threshold <= 1.0) {
            return Err(format!(
                "video query threshold {} is not a share in (0, 1]",
                self.query_threshold
            ));
        }
        if !(0.0..=1.0).contains(&self.listed_threshold) {
            return Err(format!(
                "video listed threshold {} is not a share in [0, 1]",
                self.listed_threshold
            ));
        }
        if self.min_quality > 100 {
            return Err(format!(
                "video quality floor {} is past 100",
                self.min_quality
            ));
        }
        if !(self.excerpt_seconds.is_finite() && self.excerpt_seconds >= 1.0) {
            return Err(format!(
                "excerpt length {} s is below 1 s",
                self.excerpt_seconds
            ));
        }
        if let Some(r) = self.discovery_radius.filter(|r| *r > 64) {
            return Err(format!("discovery radius {r} is past 64"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(number: u64, ts_ms: u64, byte: u8) -> VideoFrame {
        VideoFrame {
            number,
            ts_ms,
            pdq: PdqHash([byte; 32]),
            quality: 90,
        }
    }

    #[test]
    fn canonical_form_round_trips_and_the_digest_covers_every_frame() {
        let v = VideoEntry::new(vec![frame(0, 0, 1), frame(25, 1000, 2)], Some(1500)).unwrap();
        let bytes = v.encode();
        assert_eq!(bytes.len(), 12 + 2 * FRAME_BYTES);
        assert_eq!(VideoEntry::decode(&bytes), Some(v.clone()));
        assert_eq!(VideoEntry::decode(&bytes[..bytes.len() - 1]), None);
        let mut other = v.clone();
        other.frames[1].quality = 89;
        assert_ne!(other.digest(), v.digest());
        assert_eq!(v.clone().digest(), v.digest());
    }

    #[test]
    fn bad_frames_are_refused_with_the_reason() {
        assert_eq!(VideoEntry::new(vec![], None), Err(VideoError::Empty));
        let e = VideoEntry::new(vec![frame(0, 2000, 1), frame(1, 1000, 1)], None).unwrap_err();
        assert!(e.to_string().contains("earlier"), "{e}");
        let e = VideoEntry::new(vec![frame(0, 1 << 33, 1)], None).unwrap_err();
        assert!(e.to_string().contains("32 bits"), "{e}");
        let v = VideoEntry::new(vec![frame(0, 0, 1), frame(1, 4000, 1)], Some(10)).unwrap();
        assert_eq!(
            v.duration_ms, 4000,
            "a duration shorter than the frames is raised"
        );
    }

    #[test]
    fn settings_are_checked() {
        assert!(VideoSettings::default().check().is_ok());
        for bad in [
            VideoSettings {
                query_threshold: 0.0,
                ..Default::default()
            },
            VideoSettings {
                query_threshold: 1.5,
                ..Default::default()
            },
            VideoSettings {
                listed_threshold: -0.1,
                ..Default::default()
            },
            VideoSettings {
                excerpt_seconds: 0.5,
                ..Default::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
