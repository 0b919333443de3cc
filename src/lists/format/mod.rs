//! List file formats, parsed as streams of rows: a malformed row becomes a [`BadRow`] with its
//! line number and the rest of the file goes on.
//!
//! - `plain`: one hex hash a line (its id is the 0-based line number, as in design §4; needs
//!   `--kind`), or `<kind> <hex>` a line (python-threatexchange's local-file style). Blank lines
//!   and `#` comments are skipped.
//! - `jsonl`: hashguard's canonical form, one object a line:
//!   `{"id": "...", "kind": "pdq", "hash": "...", "category": "...", "op": "add"}`
//!   ([`write_jsonl`] writes it).
//! - `te-csv`: ThreatExchange CSV `indicator,descriptor_id,added_on,labels` (`te_csv.rs`).
//! - `vpdq`: vPDQ frame text `frame_number,quality,pdq_hex,timestamp_sec` (`vpdq.rs`).
//! - `ncmec-xml`: NCMEC hash-sharing API v2 XML pages (`ncmec.rs`).
//! - `stopncii`: StopNCII FetchHashes JSON pages (`stopncii.rs`).
//! - `vics`: Project VIC VICS 1.x/2.0 JSON (`vics.rs`).
//! - `icse`: Interpol ICSE semicolon-separated exports (`icse.rs`).
//!
//! Every format ignores a UTF-8 byte-order mark at the start, and every input record becomes
//! a row, a [`BadRow`], or (only for fingerprints hashguard does not compute, such as
//! PhotoDNA) is skipped as its module documents. Formats that carry several hash kinds per
//! record yield a row per hash.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, BufRead, Write};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

mod icse;
mod json;
mod ncmec;
mod stopncii;
mod te_csv;
mod vics;
mod vpdq;

use crate::hashing::digest::is_empty_input_digest;
use crate::hashing::{AnyHash, HashKind};

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// Hex hashes, one a line, optionally prefixed by their kind.
    Plain,
    /// hashguard's canonical JSON lines.
    Jsonl,
    /// ThreatExchange CSV: `indicator,descriptor_id,added_on,labels`.
    TeCsv,
    /// vPDQ frame text: `frame_number,quality,pdq_hex,timestamp_sec`, one PDQ row a frame.
    Vpdq,
    /// NCMEC hash-sharing API v2 XML.
    NcmecXml,
    /// StopNCII FetchHashes JSON.
    StopNcii,
    /// Project VIC VICS JSON (1.x or 2.0).
    Vics,
    /// Interpol ICSE semicolon-separated export.
    Icse,
}

/// What a row does to the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Adds the entry, or replaces the entry with the same id and hash kind.
    #[default]
    Add,
    /// Removes the entry with this id (and hash kind, when the row has a hash; every kind when
    /// it has none).
    Remove,
}

/// A well-formed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    /// 1-based line number (for record formats such as XML and JSON: the line the record
    /// starts on).
    pub line: u64,
    /// Add or remove.
    pub op: Op,
    /// The upstream id of the entry (stable across versions).
    pub id: String,
    /// The hash; `None` only for a removal of every hash under `id`.
    pub hash: Option<AnyHash>,
    /// Category as the source writes it (never translated: "A1", "1", "0", ...).
    pub category: Option<String>,
    /// Series or set name, when the source has one.
    pub series: Option<String>,
}

/// Paging information a page of a paged source carries, known once its rows are read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paging {
    /// The cursor or token of the next page, when the page names one.
    pub next: Option<String>,
    /// Whether the source says more pages follow, when it says so.
    pub has_more: Option<bool>,
}

/// How to read a list file.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Hash kind of bare hex lines (plain files) and of ThreatExchange indicators. Formats that
    /// name each hash's kind ignore it and yield rows of every kind they carry.
    pub kind: Option<HashKind>,
}

/// A malformed row: where and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BadRow {
    /// 1-based line number.
    pub line: u64,
    /// What was wrong.
    pub reason: String,
}

/// A row that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowError {
    /// The row is malformed; parsing goes on.
    Bad(BadRow),
    /// Reading failed; parsing stops.
    Io {
        /// 1-based line number.
        line: u64,
        /// The I/O error.
        message: String,
    },
}

#[derive(Deserialize)]
struct JsonRow {
    id: Option<serde_json::Value>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    hash: Option<String>,
    #[serde(default)]
    category: Option<serde_json::Value>,
    #[serde(default)]
    series: Option<serde_json::Value>,
    #[serde(default)]
    op: Option<String>,
}

/// True for hashes that would match unrelated content: all-zero or all-one perceptual hashes,
/// and the digests of the empty input.
pub fn is_degenerate(hash: &AnyHash, hex: &str) -> bool {
    match hash {
        AnyHash::Pdq(_) | AnyHash::Phash(_) | AnyHash::Dhash(_) => {
            hex.bytes().all(|b| b == b'0') || hex.bytes().all(|b| b == b'f' || b == b'F')
        }
        _ => is_empty_input_digest(hex),
    }
}

/// Parses `hex` as a hash of `kind`, refusing degenerate hashes.
fn parse_hash(kind: HashKind, hex: &str) -> Result<AnyHash, String> {
    let h = AnyHash::parse(kind, hex).map_err(|e| e.to_string())?;
    if is_degenerate(&h, hex) {
        return Err(format!("degenerate {kind} hash (never matches)"));
    }
    Ok(h)
}

fn plain_row(line: u64, text: &str, kind: Option<HashKind>) -> Result<ListRow, String> {
    let mut parts = text.split_whitespace();
    let (first, second) = (parts.next().unwrap_or(""), parts.next());
    if parts.next().is_some() {
        return Err("expected `<hex>` or `<kind> <hex>`".into());
    }
    let (kind, hex) = match second {
        Some(hex) => (first.parse::<HashKind>().map_err(|e| e.to_string())?, hex),
        None => (kind.ok_or("a bare hex hash needs --kind")?, first),
    };
    Ok(ListRow {
        line,
        op: Op::Add,
        id: (line - 1).to_string(),
        hash: Some(parse_hash(kind, hex)?),
        category: None,
        series: None,
    })
}

fn value_string(v: serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

fn json_row(line: u64, text: &str) -> Result<ListRow, String> {
    let row: JsonRow = serde_json::from_str(text).map_err(|e| format!("not a list row: {e}"))?;
    let op = match row.op.as_deref() {
        None | Some("add") => Op::Add,
        Some("remove") => Op::Remove,
        Some(other) => {
            return Err(format!(
                "unknown op {other:?} (expected \"add\" or \"remove\")"
            ));
        }
    };
    let id = row.id.map(value_string).ok_or("missing \"id\"")?;
    if id.is_empty() || id.len() > 256 {
        return Err("\"id\" must be 1-256 characters".into());
    }
    // A removal may name only the id (every hash under it goes); an addition needs a hash.
    let hash = match (row.kind, row.hash) {
        (Some(kind), Some(hash)) => {
            let kind: HashKind = kind
                .parse()
                .map_err(|e: crate::hashing::ParseHashError| e.to_string())?;
            Some(parse_hash(kind, hash.trim())?)
        }
        (None, None) if op == Op::Remove => None,
        _ => return Err("\"kind\" and \"hash\" are required".into()),
    };
    Ok(ListRow {
        line,
        op,
        id,
        hash,
        category: row.category.map(value_string),
        series: row.series.map(value_string),
    })
}

/// A stream of rows from one list file or page; see [`read`].
pub struct Rows<'a> {
    inner: Box<dyn Iterator<Item = Result<ListRow, RowError>> + 'a>,
    paging: Rc<RefCell<Paging>>,
}

impl Iterator for Rows<'_> {
    type Item = Result<ListRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

impl Rows<'_> {
    /// The page's paging information; complete once the rows are exhausted.
    pub fn paging(&self) -> Paging {
        self.paging.borrow().clone()
    }
}

/// Reads `input` in `format` as a stream of rows. Parsers never hold the whole input: a
/// 10M-entry file is read one line or record at a time.
pub fn read<'a>(format: ListFormat, input: impl BufRead + 'a, opts: &ReadOptions) -> Rows<'a> {
    let paging = Rc::new(RefCell::new(Paging::default()));
    let mut input = input;
    if let Err(e) = skip_bom(&mut input) {
        let err = RowError::Io {
            line: 1,
            message: e.to_string(),
        };
        return Rows {
            inner: Box::new(std::iter::once(Err(err))),
            paging,
        };
    }
    let inner: Box<dyn Iterator<Item = Result<ListRow, RowError>> + 'a> = match format {
        ListFormat::Plain => {
            let kind = opts.kind;
            Box::new(line_rows(input, move |line, text| {
                plain_row(line, text, kind)
            }))
        }
        ListFormat::Jsonl => Box::new(line_rows(input, json_row)),
        ListFormat::Vpdq => Box::new(line_rows(input, vpdq::row)),
        ListFormat::TeCsv => Box::new(Records::new(te_csv::TeCsv::new(input, opts.kind))),
        ListFormat::NcmecXml => Box::new(Records::new(ncmec::NcmecXml::new(
            input,
            Rc::clone(&paging),
        ))),
        ListFormat::StopNcii => Box::new(Records::new(stopncii::StopNcii::new(
            input,
            Rc::clone(&paging),
        ))),
        ListFormat::Vics => Box::new(Records::new(vics::Vics::new(input))),
        ListFormat::Icse => Box::new(Records::new(icse::Icse::new(input))),
    };
    Rows { inner, paging }
}

/// Writes `row` as one line of hashguard's canonical JSON lines, which [`read`] with
/// [`ListFormat::Jsonl`] reads back to the same row (its line number aside).
pub fn write_jsonl(w: &mut impl Write, row: &ListRow) -> io::Result<()> {
    #[derive(Serialize)]
    struct Out<'a> {
        id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        kind: Option<HashKind>,
        #[serde(skip_serializing_if = "Option::is_none")]
        hash: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        category: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        series: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        op: Option<Op>,
    }
    let out = Out {
        id: &row.id,
        kind: row.hash.as_ref().map(AnyHash::kind),
        hash: row.hash.as_ref().map(AnyHash::to_string),
        category: row.category.as_deref(),
        series: row.series.as_deref(),
        // Additions are the default; only removals say so, which keeps lists short.
        op: (row.op == Op::Remove).then_some(Op::Remove),
    };
    serde_json::to_writer(&mut *w, &out).map_err(io::Error::other)?;
    w.write_all(b"\n")
}

/// The UTF-8 byte-order mark some Windows tools put before the data.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Consumes a UTF-8 byte-order mark at the start of `input`, if there is one.
fn skip_bom(input: &mut impl BufRead) -> io::Result<()> {
    let has_bom = loop {
        match input.fill_buf() {
            Ok(buf) => break buf.starts_with(BOM),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    if has_bom {
        input.consume(BOM.len());
    }
    Ok(())
}

/// A malformed row at `line`.
fn bad(line: u64, reason: impl Into<String>) -> RowError {
    RowError::Bad(BadRow {
        line,
        reason: reason.into(),
    })
}

/// An addition of `hash` under `id`.
fn add_row(
    line: u64,
    id: &str,
    hash: AnyHash,
    category: Option<&str>,
    series: Option<&str>,
) -> ListRow {
    ListRow {
        line,
        op: Op::Add,
        id: id.to_string(),
        hash: Some(hash),
        category: category.map(str::to_string),
        series: series.map(str::to_string),
    }
}

/// A CSV reader's error, which ends the stream (line 0 when the reader does not know it).
fn csv_error(e: csv::Error) -> RowError {
    RowError::Io {
        line: e.position().map_or(0, |p| p.line()),
        message: e.to_string(),
    }
}

/// Field `i` of a CSV record, trimmed ("" when the record is short or `i` is `None`).
fn csv_field<'r>(
    record: &'r csv::ByteRecord,
    i: Option<usize>,
    name: &str,
) -> Result<&'r str, String> {
    let raw = i.and_then(|i| record.get(i)).unwrap_or_default();
    std::str::from_utf8(raw)
        .map(str::trim)
        .map_err(|_| format!("{name}: not UTF-8"))
}

/// Queued output of a record parser: one record may give several rows.
type Queue = VecDeque<Result<ListRow, RowError>>;

/// A record-at-a-time parser, driven by [`Records`].
trait Step {
    /// Reads on, queueing the rows and bad rows of zero or more records; `Ok(false)` once the
    /// input is done. An error ends the stream.
    fn step(&mut self, out: &mut Queue) -> Result<bool, RowError>;
}

/// Runs a [`Step`] parser as an iterator that ends after the input or the first error.
struct Records<S> {
    parser: S,
    queue: Queue,
    done: bool,
}

impl<S: Step> Records<S> {
    fn new(parser: S) -> Self {
        Records {
            parser,
            queue: VecDeque::new(),
            done: false,
        }
    }
}

impl<S: Step> Iterator for Records<S> {
    type Item = Result<ListRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            match self.parser.step(&mut self.queue) {
                Ok(true) => {}
                Ok(false) => self.done = true,
                Err(e) => {
                    self.done = true;
                    self.queue.push_back(Err(e));
                }
            }
        }
    }
}

/// Rows of a line-based format (plain, jsonl, vpdq): `parse` reads one line's text.
fn line_rows(
    input: impl BufRead,
    parse: impl Fn(u64, &str) -> Result<ListRow, String>,
) -> impl Iterator<Item = Result<ListRow, RowError>> {
    input.split(b'\n').enumerate().filter_map(move |(i, line)| {
        let line_no = i as u64 + 1;
        let raw = match line {
            Ok(r) => r,
            Err(e) => {
                return Some(Err(RowError::Io {
                    line: line_no,
                    message: e.to_string(),
                }));
            }
        };
        let bad = |reason: String| {
            Some(Err(RowError::Bad(BadRow {
                line: line_no,
                reason,
            })))
        };
        let Ok(text) = std::str::from_utf8(&raw) else {
            return bad("not UTF-8".into());
        };
        // A UTF-8 byte-order mark on the first line is not part of the data.
        let text = text.trim_start_matches('\u{feff}').trim();
        if text.is_empty() || text.starts_with('#') {
            return None;
        }
        Some(parse(line_no, text).map_err(|reason| {
            RowError::Bad(BadRow {
                line: line_no,
                reason,
            })
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every item [`read`] yields for `text`, read errors included.
    pub(super) fn items(
        format: ListFormat,
        text: &str,
        kind: Option<HashKind>,
    ) -> Vec<Result<ListRow, RowError>> {
        read(format, text.as_bytes(), &ReadOptions { kind }).collect()
    }

    /// Reads `text` into its rows and bad rows; panics on a read error.
    pub(super) fn collect(
        format: ListFormat,
        text: &str,
        kind: Option<HashKind>,
    ) -> (Vec<ListRow>, Vec<BadRow>) {
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for r in read(format, text.as_bytes(), &ReadOptions { kind }) {
            match r {
                Ok(row) => ok.push(row),
                Err(RowError::Bad(b)) => bad.push(b),
                Err(e) => panic!("{e:?}"),
            }
        }
        (ok, bad)
    }

    const PDQ: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

    #[test]
    fn plain_rows_with_and_without_kind() {
        let text = format!(
            "\u{feff}{PDQ}\n\n# comment\npdq {PDQ}\nmd5 D41D8CD98F00B204E9800998ECF8427E\nzz\n{}\n",
            "0".repeat(64)
        );
        let (ok, bad) = collect(ListFormat::Plain, &text, Some(HashKind::Pdq));
        assert_eq!(ok.len(), 2);
        assert_eq!((ok[0].line, ok[0].id.as_str()), (1, "0"));
        assert_eq!((ok[1].line, ok[1].id.as_str()), (4, "3"));
        let reasons: Vec<(u64, &str)> = bad.iter().map(|b| (b.line, b.reason.as_str())).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert_eq!(reasons[0].0, 5);
        assert!(reasons[0].1.contains("degenerate"), "empty-file MD5");
        assert!(reasons[1].1.contains("must be 64 hex"), "{}", reasons[1].1);
        assert!(reasons[2].1.contains("degenerate"));
        let (_, bad) = collect(ListFormat::Plain, PDQ, None);
        assert!(bad[0].reason.contains("--kind"));
    }

    #[test]
    fn jsonl_rows() {
        let text = format!(
            "{{\"id\":\"a1\",\"kind\":\"pdq\",\"hash\":\"{PDQ}\",\"category\":\"A1\"}}\n\
             {{\"id\":7,\"kind\":\"md5\",\"hash\":\"900150983cd24fb0d6963f7d28e17f72\",\"op\":\"add\"}}\n\
             {{\"id\":\"x\",\"kind\":\"pdq\",\"hash\":\"{PDQ}\",\"op\":\"remove\"}}\n\
             {{\"kind\":\"pdq\",\"hash\":\"{PDQ}\"}}\nnot json\n{{\"id\":\"y\",\"kind\":\"crc\",\"hash\":\"00\"}}\n\
             {{\"id\":\"z\",\"op\":\"remove\"}}\n{{\"id\":\"w\"}}\n{{\"id\":\"v\",\"op\":\"replace\"}}\n"
        );
        let (ok, bad) = collect(ListFormat::Jsonl, &text, None);
        assert_eq!(ok.len(), 4);
        assert_eq!(ok[0].category.as_deref(), Some("A1"));
        assert_eq!((ok[0].op, ok[1].id.as_str()), (Op::Add, "7"));
        assert_eq!((ok[2].op, ok[2].hash.is_some()), (Op::Remove, true));
        assert_eq!((ok[3].op, ok[3].hash.is_none()), (Op::Remove, true));
        assert_eq!(
            bad.iter().map(|b| b.line).collect::<Vec<_>>(),
            vec![4, 5, 6, 8, 9]
        );
    }

    #[test]
    fn write_jsonl_writes_the_canonical_line() {
        let md5 = "900150983CD24FB0D6963F7D28E17F72";
        let add = ListRow {
            line: 9,
            op: Op::Add,
            id: "a\"1".into(),
            hash: Some(parse_hash(HashKind::Md5, md5).unwrap()),
            category: Some("A1".into()),
            series: None,
        };
        let remove_all = ListRow {
            op: Op::Remove,
            id: "x".into(),
            hash: None,
            category: None,
            ..add.clone()
        };
        let mut out = Vec::new();
        write_jsonl(&mut out, &add).unwrap();
        write_jsonl(&mut out, &remove_all).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "{{\"id\":\"a\\\"1\",\"kind\":\"md5\",\"hash\":\"{}\",\"category\":\"A1\"}}\n\
                 {{\"id\":\"x\",\"op\":\"remove\"}}\n",
                md5.to_lowercase()
            )
        );
    }

    /// An endless input: `head`, then `item` over and over; counts the bytes it hands out.
    struct Endless {
        data: Vec<u8>,
        item_start: usize,
        pos: usize,
        served: Rc<std::cell::Cell<u64>>,
    }

    impl io::Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos == self.data.len() {
                self.pos = self.item_start;
            }
            let n = buf.len().min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            self.served.set(self.served.get() + n as u64);
            Ok(n)
        }
    }

    #[test]
    fn every_format_streams() {
        let md5 = "0cc175b9c0f1b6a831c399e269772661";
        let cases = [
            (ListFormat::TeCsv, String::new(), format!("{md5},1,,\n")),
            (
                ListFormat::Vpdq,
                String::new(),
                format!("0,100,{PDQ},0.0\n"),
            ),
            (ListFormat::Icse, "MD5;SHA1\n".into(), format!("{md5};\n")),
            (
                ListFormat::NcmecXml,
                "<queryResult><images>".into(),
                format!("<image><id>1</id><fingerprints><md5>{md5}</md5></fingerprints></image>\n"),
            ),
            (
                ListFormat::StopNcii,
                "{\"hashRecords\": [".into(),
                format!(
                    "{{\"hashValue\": \"{PDQ}\", \"signalType\": \"PDQ\", \"hashStatus\": \"Active\"}},\n"
                ),
            ),
            (
                ListFormat::Vics,
                "{\"value\": [{\"Media\": [".into(),
                format!("{{\"MD5\": \"{md5}\"}},\n"),
            ),
            (
                ListFormat::Vics,
                "{\"value\": [".into(),
                format!("{{\"MD5\": \"{md5}\"}},\n"),
            ),
        ];
        for (format, head, item) in cases {
            let served = Rc::new(std::cell::Cell::new(0));
            let input = Endless {
                data: format!("{head}{item}").into_bytes(),
                item_start: head.len(),
                pos: 0,
                served: Rc::clone(&served),
            };
            let input = io::BufReader::with_capacity(4096, input);
            let rows = read(format, input, &ReadOptions::default()).take(1000);
            assert_eq!(rows.filter(Result::is_ok).count(), 1000, "{format:?}");
            // A thousand records and a buffer or two, not the (endless) input.
            let bound = 1000 * item.len() as u64 + 2 * 4096 + head.len() as u64;
            assert!(
                served.get() <= bound,
                "{format:?}: {} bytes read",
                served.get()
            );
        }
    }

    mod round_trip {
        use super::super::*;
        use proptest::prelude::*;

        fn hash() -> impl Strategy<Value = AnyHash> {
            (
                prop::sample::select(HashKind::ALL.to_vec()),
                prop::collection::vec(any::<u8>(), 32),
            )
                .prop_filter_map("degenerate hash", |(kind, bytes)| {
                    let hex = hex::encode(bytes);
                    parse_hash(kind, &hex[..kind.hex_len()]).ok()
                })
        }

        fn row() -> impl Strategy<Value = ListRow> {
            let op_hash = prop_oneof![
                hash().prop_map(|h| (Op::Add, Some(h))),
                hash().prop_map(|h| (Op::Remove, Some(h))),
                Just((Op::Remove, None)),
            ];
            let text = || proptest::option::of("\\PC{0,24}");
            (op_hash, "\\PC{1,40}", text(), text()).prop_map(
                |((op, hash), id, category, series)| ListRow {
                    line: 1,
                    op,
                    id,
                    hash,
                    category,
                    series,
                },
            )
        }

        proptest! {
            #[test]
            fn write_jsonl_round_trips_through_read(row in row()) {
                let mut out = Vec::new();
                write_jsonl(&mut out, &row).unwrap();
                prop_assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
                let back: Vec<_> = read(ListFormat::Jsonl, &out[..], &ReadOptions::default()).collect();
                prop_assert_eq!(back, vec![Ok(row)]);
            }
        }
    }
}
