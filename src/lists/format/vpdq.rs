//! vPDQ frame text (`frame_number,quality,pdq_hex,timestamp_sec`, one frame a line), as
//! `hashguard hash --format vpdq` and Meta's vPDQ write it, read two ways:
//!
//! - `vpdq`: one file is one video, a single entry of kind `vpdq` holding every frame. Its id
//!   is a `# id: NAME` header line, else the file name without its extension. Other headers:
//!   `# category: X`, `# duration: SECONDS`, and `# md5: HEX` (the video file's MD5, HMA's
//!   `video_md5`), which adds an `md5` entry under the same id. A directory holds one video per
//!   file ([`read_dir`]). A malformed frame line makes the whole video a malformed row: a
//!   video with frames missing would be matched on the wrong shares.
//! - `vpdq-frames`: the loose-frame form, each frame a PDQ entry whose id is its frame number.
//!
//! Blank lines and other `#` comments are skipped.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use super::{BadRow, BoundedLines, Line, ListRow, MAX_LINE, Op, RowError, Rows, is_degenerate};
use crate::hashing::vpdq::{VideoFrame, parse_vpdq_line};
use crate::hashing::{AnyHash, HashKind};
use crate::lists::video::{MAX_FRAMES, VideoEntry};

/// Frames below this PDQ quality are refused: vPDQ's own matcher leaves them out
/// (`MatchOptions::default().min_quality`), so they could only cause false matches.
const MIN_QUALITY: u8 = 50;

/// Reads one non-blank, non-comment line of the loose-frame form.
pub(super) fn frame_row(line: u64, text: &str) -> Result<ListRow, String> {
    let frame = parse_vpdq_line(text)?;
    if frame.quality < MIN_QUALITY {
        return Err(format!(
            "frame {}: quality {} is below {MIN_QUALITY}",
            frame.number, frame.quality
        ));
    }
    let hash = AnyHash::Pdq(frame.pdq);
    if is_degenerate(&hash, &frame.pdq.to_hex()) {
        return Err(format!(
            "frame {}: degenerate PDQ hash (never matches)",
            frame.number
        ));
    }
    Ok(ListRow {
        line,
        op: Op::Add,
        id: frame.number.to_string(),
        hash: Some(hash),
        category: None,
        series: None,
        video: None,
    })
}

/// The header lines of a video file.
#[derive(Default)]
struct Header {
    id: Option<String>,
    category: Option<String>,
    duration: Option<String>,
    md5: Option<String>,
}

/// Reads a whole file as one video (see the module docs); `fallback_id` is the file name
/// without its extension, when there is a file.
pub(super) fn video_rows(
    input: impl BufRead,
    fallback_id: Option<String>,
) -> std::vec::IntoIter<Result<ListRow, RowError>> {
    let bad = |line: u64, reason: String| vec![Err(RowError::Bad(BadRow { line, reason }))];
    let mut header = Header::default();
    let mut frames: Vec<VideoFrame> = Vec::new();
    let mut first_bad: Option<BadRow> = None;
    let lines = BoundedLines { input, done: false };
    for (i, line) in lines.enumerate() {
        let line_no = i as u64 + 1;
        let raw = match line {
            Ok(Line::Text(r)) => r,
            Ok(Line::TooLong(len)) => {
                first_bad.get_or_insert(BadRow {
                    line: line_no,
                    reason: format!("a line of {len} bytes, over the {MAX_LINE}-byte limit"),
                });
                continue;
            }
            Err(e) => {
                return vec![Err(RowError::Io {
                    line: line_no,
                    message: e.to_string(),
                })]
                .into_iter();
            }
        };
        let Ok(text) = std::str::from_utf8(&raw) else {
            first_bad.get_or_insert(BadRow {
                line: line_no,
                reason: "not UTF-8".into(),
            });
            continue;
        };
        let text = text.trim_start_matches('\u{feff}').trim();
        if text.is_empty() {
            continue;
        }
        if let Some(comment) = text.strip_prefix('#') {
            if let Some((key, value)) = comment.split_once(':') {
                let value = Some(value.trim().to_string()).filter(|v| !v.is_empty());
                match key.trim().to_ascii_lowercase().as_str() {
                    "id" => header.id = value,
                    "category" => header.category = value,
                    "duration" => header.duration = value,
                    "md5" | "video_md5" => header.md5 = value,
                    _ => {}
                }
            }
            continue;
        }
        match parse_vpdq_line(text) {
            // Past the cap the file is damage or an attack: stop reading it.
            Ok(_) if frames.len() >= MAX_FRAMES => {
                return bad(
                    line_no,
                    format!("more than {MAX_FRAMES} frames in one video"),
                )
                .into_iter();
            }
            Ok(f) => frames.push(f),
            Err(reason) => {
                first_bad.get_or_insert(BadRow {
                    line: line_no,
                    reason,
                });
            }
        }
    }
    let Some(id) = header.id.or(fallback_id).filter(|id| !id.is_empty()) else {
        return bad(
            1,
            "a vPDQ video needs an id: a `# id: NAME` line, or a file name".into(),
        )
        .into_iter();
    };
    if let Some(b) = first_bad {
        return bad(b.line, format!("video {id:?}: {}", b.reason)).into_iter();
    }
    let duration_ms = match header.duration.as_deref().map(str::parse::<f64>) {
        None => None,
        Some(Ok(d)) if d.is_finite() && d >= 0.0 => Some((d * 1000.0).round() as u64),
        Some(_) => return bad(1, format!("video {id:?}: bad `# duration`")).into_iter(),
    };
    let video = match VideoEntry::new(frames, duration_ms) {
        Ok(v) => Arc::new(v),
        Err(e) => return bad(1, format!("video {id:?}: {e}")).into_iter(),
    };
    let mut out = vec![Ok(ListRow {
        line: 1,
        op: Op::Add,
        id: id.clone(),
        hash: Some(AnyHash::Vpdq(video.digest())),
        category: header.category.clone(),
        series: None,
        video: Some(video),
    })];
    if let Some(md5) = header.md5 {
        out.push(
            super::parse_hash(HashKind::Md5, &md5)
                .map(|h| ListRow {
                    line: 1,
                    op: Op::Add,
                    id: id.clone(),
                    hash: Some(h),
                    category: header.category,
                    series: None,
                    video: None,
                })
                .map_err(|why| {
                    RowError::Bad(BadRow {
                        line: 1,
                        reason: format!("video {id:?}: `# md5`: {why}"),
                    })
                }),
        );
    }
    out.into_iter()
}

/// The id a file gives a video when it has no `# id` line: its name without the extension.
pub fn id_of_path(path: &Path) -> Option<String> {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
}

/// Reads every file of a directory (names starting with '.' skipped; in name order) as one
/// video each. A file that cannot be read is a malformed row naming it; the rest go on.
/// Malformed rows carry the file's position (1-based) as their line, and its name in the
/// reason.
pub fn read_dir(dir: &Path) -> std::io::Result<Rows<'static>> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
        .map(|e| e.path())
        .collect();
    files.sort();
    let rows = files.into_iter().enumerate().flat_map(|(i, path)| {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let renumber = move |r: Result<ListRow, RowError>| match r {
            Ok(row) => Ok(ListRow {
                line: i as u64 + 1,
                ..row
            }),
            Err(RowError::Bad(b)) => Err(RowError::Bad(BadRow {
                line: i as u64 + 1,
                reason: format!("{name} line {}: {}", b.line, b.reason),
            })),
            Err(RowError::Io { line, message }) => Err(RowError::Bad(BadRow {
                line: i as u64 + 1,
                reason: format!("{name} line {line}: {message}"),
            })),
        };
        let rows: Vec<_> = match std::fs::File::open(&path) {
            Ok(f) => video_rows(std::io::BufReader::new(f), id_of_path(&path))
                .map(renumber)
                .collect(),
            Err(e) => vec![renumber(Err(RowError::Io {
                line: 0,
                message: format!("cannot open: {e}"),
            }))],
        };
        rows
    });
    Ok(Rows {
        inner: Box::new(rows),
        paging: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::collect;
    use super::super::{ListFormat, ListRow};
    use super::*;
    use crate::hashing::vpdq::MatchOptions;

    const A: &str = "3c5e7a9b1d2f40618293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
    const B: &str = "9F8E7D6C5B4A39281706F5E4D3C2B1A0FFEEDDCCBBAA99887766554433221100";

    #[test]
    fn threshold_is_vpdqs_default() {
        assert_eq!(MIN_QUALITY, MatchOptions::default().min_quality);
    }

    #[test]
    fn frames_become_pdq_rows_keyed_by_frame_number() {
        let text = format!("\u{feff}0,100,{A},0.000\n# comment\n\n25,50,{B},1.000\n");
        let (ok, bad) = collect(ListFormat::VpdqFrames, &text, None);
        assert!(bad.is_empty(), "{bad:?}");
        let got: Vec<(u64, &str, String)> = ok
            .iter()
            .map(|r: &ListRow| {
                let hash = r.hash.map(|h| h.to_string()).unwrap_or_default();
                (r.line, r.id.as_str(), hash)
            })
            .collect();
        assert_eq!(
            got,
            vec![(1, "0", A.to_string()), (4, "25", B.to_lowercase())]
        );
    }

    #[test]
    fn bad_frames_are_bad_rows_and_the_rest_still_reads() {
        let text = format!(
            "0,49,{A},0.0\n1,100,{},1.0\n2,x,{A},2.0\n3,100,{A}\n4,100,{A},1.5\n-1,100,{A},0\n5,100,{A},-2\n6,100,abc,3.0\n",
            "f".repeat(64)
        );
        let (ok, bad) = collect(ListFormat::VpdqFrames, &text, None);
        assert_eq!(ok.len(), 1);
        assert_eq!((ok[0].line, ok[0].id.as_str()), (5, "4"));
        let reasons: Vec<(u64, &str)> = bad.iter().map(|b| (b.line, b.reason.as_str())).collect();
        let expect = [
            (1, "quality 49 is below 50"),
            (2, "degenerate"),
            (3, "bad quality"),
            (4, "4 comma-separated"),
            (6, "bad frame number"),
            (7, "bad timestamp"),
            (8, "bad PDQ hash"),
        ];
        assert_eq!(reasons.len(), expect.len(), "{reasons:?}");
        for ((line, reason), (want_line, want)) in reasons.iter().zip(expect) {
            assert_eq!(*line, want_line);
            assert!(reason.contains(want), "line {line}: {reason}");
        }
    }
}
