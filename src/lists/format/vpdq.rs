//! vPDQ frame text (`frame_number,quality,pdq_hex,timestamp_sec`, one frame a line), as
//! `hashguard hash --format vpdq` and Meta's vPDQ write it. Each frame is a PDQ row whose id is
//! its frame number; blank lines and `#` comments are skipped.

use super::{ListRow, Op, is_degenerate};
use crate::hashing::AnyHash;
use crate::hashing::vpdq::parse_vpdq_line;

/// Frames below this PDQ quality are refused: vPDQ's own matcher leaves them out
/// (`MatchOptions::default().min_quality`), so they could only cause false matches.
const MIN_QUALITY: u8 = 50;

/// Reads one non-blank, non-comment line.
pub(super) fn row(line: u64, text: &str) -> Result<ListRow, String> {
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
        let (ok, bad) = collect(ListFormat::Vpdq, &text, None);
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
        let (ok, bad) = collect(ListFormat::Vpdq, &text, None);
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
