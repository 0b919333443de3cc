//! ThreatExchange CSV: `indicator,descriptor_id,added_on,labels`, with or without that header
//! line (with it, the columns may come in any order and others may sit between them).
//!
//! The indicator is the hash: of `--kind` when given, else guessed from its length only where
//! that is unambiguous (32 hex characters: MD5, 40: SHA-1; 64 could be PDQ or SHA-256 and 16
//! pHash or dHash, so those are bad rows asking for `--kind`). The descriptor id is the row's id,
//! `added_on` is checked loosely as an ISO-8601 date and not kept, and the space-separated
//! labels are the category as written.
//!
//! Videos, as python-threatexchange writes them: an indicator that is a JSON list of
//! `"pdq_hex,quality,timestamp"` strings is a vPDQ video (one `vpdq` entry; frames numbered in
//! order); a `HASH_VIDEO_MD5` file's 32-hex indicators are MD5s like any other. The CLI's
//! dataset export (`signal_type,signal_str,collab,category,tags`) is read too: the signal type
//! names the kind (`vpdq`, `video_md5` and `photo_md5` as MD5, `pdq`, ...), the id is the
//! signal's own hash (that export has no ids), and the category column is the category.

use std::io::Read;

use super::{ListRow, Queue, RowError, Step, add_row, bad, csv_error, csv_field, parse_hash};
use crate::hashing::vpdq::VideoFrame;
use crate::hashing::{AnyHash, HashKind, PdqHash};
use crate::lists::video::{SharedVideo, VideoEntry};

/// A vPDQ signal in python-threatexchange's compact form (see [`VideoEntry::from_signal`]).
fn compact_vpdq(text: &str) -> Result<SharedVideo, String> {
    VideoEntry::from_signal(text).map(SharedVideo::new)
}

/// Reads python-threatexchange's compact vPDQ form into a video.
pub(crate) fn parse_signal(text: &str) -> Result<VideoEntry, String> {
    let items: Vec<String> =
        serde_json::from_str(text).map_err(|e| format!("not a vPDQ JSON list: {e}"))?;
    let mut frames = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let parts: Vec<&str> = item.split(',').map(str::trim).collect();
        let [hex, quality, ts] = parts[..] else {
            return Err(format!("frame {i}: expected \"pdq_hex,quality,timestamp\""));
        };
        let pdq: PdqHash = hex.parse().map_err(|e| format!("frame {i}: {e}"))?;
        let quality = quality
            .parse::<u8>()
            .ok()
            .filter(|q| *q <= 100)
            .ok_or_else(|| format!("frame {i}: bad quality {quality:?}"))?;
        let ts = ts
            .parse::<f64>()
            .ok()
            .filter(|t| t.is_finite() && *t >= 0.0)
            .ok_or_else(|| format!("frame {i}: bad timestamp {ts:?}"))?;
        frames.push(VideoFrame {
            number: i as u64,
            ts_ms: (ts * 1000.0).round() as u64,
            pdq,
            quality,
        });
    }
    VideoEntry::new(frames, None).map_err(|e| e.to_string())
}

/// Where each field is.
struct Columns {
    indicator: usize,
    /// The dataset export's `signal_type` column.
    signal_type: Option<usize>,
    /// The dataset export's `category` column (else the labels are the category).
    category: Option<usize>,
    id: Option<usize>,
    added_on: Option<usize>,
    labels: Option<usize>,
}

/// The order of a file without a header line.
const POSITIONAL: Columns = Columns {
    indicator: 0,
    signal_type: None,
    category: None,
    id: Some(1),
    added_on: Some(2),
    labels: Some(3),
};

/// Streaming reader of ThreatExchange CSV.
pub(super) struct TeCsv<R> {
    csv: csv::Reader<R>,
    record: csv::ByteRecord,
    kind: Option<HashKind>,
    /// Known once the first record has been seen.
    columns: Option<Columns>,
}

impl<R: Read> TeCsv<R> {
    /// Reads `input`; `kind` is the kind of every indicator, when known.
    pub(super) fn new(input: R, kind: Option<HashKind>) -> Self {
        TeCsv {
            csv: csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(input),
            record: csv::ByteRecord::new(),
            kind,
            columns: None,
        }
    }

    fn row(&self, line: u64, columns: &Columns) -> Result<ListRow, String> {
        let get = |i: Option<usize>, name: &str| csv_field(&self.record, i, name);
        let indicator = get(Some(columns.indicator), "indicator")?;
        if indicator.is_empty() {
            return Err("indicator: empty".into());
        }
        let id = match columns.signal_type {
            Some(_) => "",
            None => get(columns.id, "descriptor_id")?,
        };
        if id.is_empty() && columns.signal_type.is_none() {
            return Err("descriptor_id: missing".into());
        }
        let added_on = get(columns.added_on, "added_on")?;
        if !added_on.is_empty() && !looks_like_iso8601(added_on) {
            return Err(format!("added_on: {added_on:?} is not an ISO-8601 date"));
        }
        let labels = match columns.category {
            Some(_) => get(columns.category, "category")?,
            None => get(columns.labels, "labels")?,
        };
        let category = (!labels.is_empty()).then_some(labels);
        let named = match columns.signal_type {
            Some(i) => {
                let t = get(Some(i), "signal_type")?;
                let t = if t.eq_ignore_ascii_case("photo_md5") {
                    "md5"
                } else {
                    t
                };
                Some(super::parse_kind(t).map_err(|e| format!("signal_type: {e}"))?)
            }
            None => None,
        };
        if indicator.starts_with('[') || named == Some(HashKind::Vpdq) {
            let video = compact_vpdq(indicator).map_err(|e| format!("indicator: {e}"))?;
            let digest = video.digest();
            let id = if id.is_empty() {
                digest.to_hex()
            } else {
                id.to_string()
            };
            let mut row = add_row(line, &id, AnyHash::Vpdq(digest), category, None);
            row.video = Some(video);
            return Ok(row);
        }
        let kind = match named.or(self.kind) {
            Some(k) => k,
            None => guess_kind(indicator)?,
        };
        let hash = parse_hash(kind, indicator).map_err(|e| format!("indicator: {e}"))?;
        let id = if id.is_empty() {
            hash.to_string()
        } else {
            id.to_string()
        };
        Ok(add_row(line, &id, hash, category, None))
    }
}

impl<R: Read> Step for TeCsv<R> {
    fn step(&mut self, out: &mut Queue) -> Result<bool, RowError> {
        if !self
            .csv
            .read_byte_record(&mut self.record)
            .map_err(csv_error)?
        {
            return Ok(false);
        }
        let line = self.record.position().map_or(0, |p| p.line());
        let columns = match self.columns.take() {
            Some(c) => c,
            None => {
                if let Some(c) = header(&self.record) {
                    self.columns = Some(c);
                    return Ok(true);
                }
                POSITIONAL
            }
        };
        out.push_back(self.row(line, &columns).map_err(|r| bad(line, r)));
        self.columns = Some(columns);
        Ok(true)
    }
}

/// The columns a header line names, or `None` when the record is data.
fn header(record: &csv::ByteRecord) -> Option<Columns> {
    let names: Vec<String> = record
        .iter()
        .map(|f| String::from_utf8_lossy(f).trim().to_ascii_lowercase())
        .collect();
    let find = |name: &str| names.iter().position(|n| n == name);
    if let Some(indicator) = find("signal_str") {
        return Some(Columns {
            indicator,
            signal_type: Some(find("signal_type")?),
            category: find("category"),
            id: None,
            added_on: None,
            labels: None,
        });
    }
    Some(Columns {
        indicator: find("indicator")?,
        signal_type: None,
        category: None,
        id: find("descriptor_id"),
        added_on: find("added_on"),
        labels: find("labels"),
    })
}

/// The kind of an indicator without `--kind`, when its length leaves no doubt.
fn guess_kind(indicator: &str) -> Result<HashKind, String> {
    match indicator.len() {
        32 => Ok(HashKind::Md5),
        40 => Ok(HashKind::Sha1),
        64 => Err("indicator: 64 hex characters may be PDQ or SHA-256; pass --kind".into()),
        16 => Err("indicator: 16 hex characters may be pHash or dHash; pass --kind".into()),
        n => Err(format!(
            "indicator: no hash kind has {n} characters; pass --kind"
        )),
    }
}

/// A loose ISO-8601 check: `YYYY-MM-DD`, optionally followed by a time after `T` or a space.
fn looks_like_iso8601(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|d| d.parse::<u32>().ok());
    let date = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && num(5..7).is_some_and(|m| (1..=12).contains(&m))
        && num(8..10).is_some_and(|d| (1..=31).contains(&d));
    date && match b.get(10) {
        None => true,
        Some(b'T' | b't' | b' ') => b.get(11).is_some_and(u8::is_ascii_digit),
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::collect;
    use super::super::{ListFormat, Op};
    use super::*;

    // MD5 of "a", SHA-1 of "b", and a made-up 256-bit hash.
    const MD5: &str = "0cc175b9c0f1b6a831c399e269772661";
    const SHA1: &str = "E9D71F5EE7C92D6DC9E92FFDAD17B8BD49418F98";
    const H256: &str = "5d1f0c3a9e8b7d6c4a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b";

    #[test]
    fn rows_with_a_header_in_any_column_order() {
        let text = format!(
            "\u{feff}descriptor_id,indicator,labels,added_on\n\
             101,{MD5},nsfw csam,2021-03-04T05:06:07+0000\n\
             102,{SHA1},,2021-03-04\n"
        );
        let (ok, bad) = collect(ListFormat::TeCsv, &text, None);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(ok.len(), 2);
        assert_eq!(
            (ok[0].line, ok[0].id.as_str(), ok[0].op),
            (2, "101", Op::Add)
        );
        assert_eq!(ok[0].category.as_deref(), Some("nsfw csam"));
        assert_eq!(ok[0].hash.map(|h| h.kind()), Some(HashKind::Md5));
        assert_eq!(ok[1].hash.map(|h| h.to_string()), Some(SHA1.to_lowercase()));
        assert_eq!(ok[1].category, None);
    }

    #[test]
    fn headerless_rows_and_the_kind_option() {
        let text = format!("{H256},7,2020-01-01,a\n{MD5},8\n");
        let (ok, bad) = collect(ListFormat::TeCsv, &text, Some(HashKind::Pdq));
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].hash.map(|h| h.kind()), Some(HashKind::Pdq));
        assert_eq!(bad[0].line, 2);
        assert!(
            bad[0].reason.starts_with("indicator: pdq hash must be 64"),
            "{}",
            bad[0].reason
        );
        let (ok, bad) = collect(ListFormat::TeCsv, &text, None);
        assert_eq!((ok.len(), bad.len()), (1, 1));
        assert_eq!(ok[0].id, "8");
        assert!(
            bad[0].reason.contains("PDQ or SHA-256"),
            "{}",
            bad[0].reason
        );
    }

    #[test]
    fn malformed_rows_name_the_field_and_line() {
        let text = format!(
            "indicator,descriptor_id,added_on,labels\n\
             {MD5},1,yesterday,x\n\
             {MD5},,2020-01-01,x\n\
             ,3,2020-01-01,x\n\
             {}X,4,2020-01-01,x\n\
             d41d8cd98f00b204e9800998ecf8427e,5,,\n\
             abc,6,,\n\
             {MD5},7,2020-13-01,\n\
             {MD5},8,2020-02-03 10:00,ok\n",
            &MD5[..31]
        );
        let (ok, bad) = collect(ListFormat::TeCsv, &text, None);
        assert_eq!(ok.len(), 1);
        assert_eq!((ok[0].line, ok[0].id.as_str()), (9, "8"));
        let got: Vec<(u64, &str)> = bad.iter().map(|b| (b.line, b.reason.as_str())).collect();
        let expect = [
            (2, "added_on"),
            (3, "descriptor_id"),
            (4, "indicator: empty"),
            (5, "indicator: md5 hash has a non-hex"),
            (6, "degenerate"),
            (7, "indicator: no hash kind has 3"),
            (8, "added_on"),
        ];
        assert_eq!(got.len(), expect.len(), "{got:?}");
        for ((line, reason), (want_line, want)) in got.iter().zip(expect) {
            assert_eq!(*line, want_line, "{reason}");
            assert!(reason.contains(want), "line {line}: {reason}");
        }
    }

    #[test]
    fn iso8601_is_checked_loosely() {
        for ok in [
            "2020-01-31",
            "2020-01-31T00:00:00Z",
            "2020-01-31 12:00",
            "2020-12-01T1",
        ] {
            assert!(looks_like_iso8601(ok), "{ok}");
        }
        for no in [
            "2020-1-31",
            "31/01/2020",
            "2020-00-10",
            "2020-01-32",
            "2020-01-31X",
            "2020-01-31T",
        ] {
            assert!(!looks_like_iso8601(no), "{no}");
        }
    }
}
