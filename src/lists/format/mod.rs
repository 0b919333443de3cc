//! List file formats, parsed as streams of rows: a malformed row becomes a [`BadRow`] with its
//! line number and the rest of the file goes on.
//!
//! - `plain`: one hex hash a line (its id is the 0-based line number; needs
//!   `--kind`), or `<kind> <hex>` a line (python-threatexchange's local-file style). Blank lines
//!   and `#` comments are skipped.
//! - `jsonl`: hashguard's canonical form, one object a line:
//!   `{"id": "...", "kind": "pdq", "hash": "...", "category": "...", "op": "add"}`
//!   ([`write_jsonl`] writes it). A video is `{"id": "...", "kind": "vpdq", "duration": 12.0,
//!   "frames": [{"number": 0, "ts": 0.0, "quality": 100, "pdq": "..."}, ...]}`; its `hash`,
//!   when given, must be the digest of its frames.
//! - `te-csv`: ThreatExchange CSV `indicator,descriptor_id,added_on,labels` (`te_csv.rs`).
//! - `vpdq`: vPDQ frame text `frame_number,quality,pdq_hex,timestamp_sec`, one file a video
//!   (`vpdq.rs`); `vpdq-frames`: the same text, one PDQ entry a frame.
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

pub(crate) use te_csv::parse_signal as parse_vpdq_signal;
pub use vpdq::{id_of_path, read_dir as read_vpdq_dir};

use crate::hashing::digest::is_empty_input_digest;
use crate::hashing::{AnyHash, HashKind};
use crate::lists::video::SharedVideo;

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// Hex hashes, one a line, optionally prefixed by their kind.
    Plain,
    /// hashguard's canonical JSON lines.
    Jsonl,
    /// ThreatExchange CSV: `indicator,descriptor_id,added_on,labels`.
    TeCsv,
    /// vPDQ frame text, one file a video: a single `vpdq` entry with every frame.
    Vpdq,
    /// vPDQ frame text, one PDQ row a frame (id = frame number).
    VpdqFrames,
    /// NCMEC hash-sharing API v2 XML.
    NcmecXml,
    /// StopNCII FetchHashes JSON.
    StopNcii,
    /// Project VIC VICS JSON (1.x or 2.0).
    Vics,
    /// Interpol ICSE semicolon-separated export.
    Icse,
}

impl ListFormat {
    /// Every format, in the order the documentation lists them.
    pub const ALL: [ListFormat; 9] = [
        ListFormat::Plain,
        ListFormat::Jsonl,
        ListFormat::TeCsv,
        ListFormat::Vpdq,
        ListFormat::VpdqFrames,
        ListFormat::NcmecXml,
        ListFormat::StopNcii,
        ListFormat::Vics,
        ListFormat::Icse,
    ];

    /// The name the CLI and the configuration use.
    pub fn name(self) -> &'static str {
        match self {
            ListFormat::Plain => "plain",
            ListFormat::Jsonl => "jsonl",
            ListFormat::TeCsv => "te-csv",
            ListFormat::Vpdq => "vpdq",
            ListFormat::VpdqFrames => "vpdq-frames",
            ListFormat::NcmecXml => "ncmec-xml",
            ListFormat::StopNcii => "stopncii",
            ListFormat::Vics => "vics",
            ListFormat::Icse => "icse",
        }
    }
}

impl std::fmt::Display for ListFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ListFormat {
    type Err = crate::lists::Error;

    /// A format by its name, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let want = s.trim();
        ListFormat::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(want))
            .ok_or_else(|| crate::lists::Error::UnknownFormat {
                name: want.to_string(),
            })
    }
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
    /// A video entry's frames (`hash` is then their [`crate::lists::video::VideoEntry::digest`]).
    pub video: Option<SharedVideo>,
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
    /// The id of a `vpdq` video without a `# id` line (its file name without the extension).
    pub video_id: Option<String>,
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
    /// A video entry's frames (kind `vpdq`).
    #[serde(default)]
    frames: Option<Vec<JsonFrame>>,
    /// A video entry's duration, seconds.
    #[serde(default)]
    duration: Option<f64>,
}

/// One frame of a video entry in JSON lines: `{"number": 0, "ts": 0.0, "quality": 100,
/// "pdq": "<64 hex>"}` (`number` defaults to the frame's position).
#[derive(Deserialize, Serialize)]
struct JsonFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    number: Option<u64>,
    ts: f64,
    quality: u8,
    pdq: String,
}

/// A hash kind by name, also under the names other tools give it (HMA's `video_md5` is the MD5
/// of the video file, so it is an MD5 here).
pub fn parse_kind(name: &str) -> Result<HashKind, String> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("video_md5") || name.eq_ignore_ascii_case("video-md5") {
        return Ok(HashKind::Md5);
    }
    name.parse::<HashKind>().map_err(|e| e.to_string())
}

/// A video entry from JSON frames: checked, and identified by its digest.
fn json_video(frames: Vec<JsonFrame>, duration: Option<f64>) -> Result<SharedVideo, String> {
    let mut out = Vec::with_capacity(frames.len());
    for (i, f) in frames.into_iter().enumerate() {
        let number = f.number.unwrap_or(i as u64);
        if !(f.ts.is_finite() && f.ts >= 0.0) {
            return Err(format!("frame {number}: bad time {}", f.ts));
        }
        if f.quality > 100 {
            return Err(format!("frame {number}: quality {} is past 100", f.quality));
        }
        let pdq = f
            .pdq
            .trim()
            .parse::<crate::hashing::PdqHash>()
            .map_err(|e| format!("frame {number}: {e}"))?;
        out.push(crate::hashing::vpdq::VideoFrame {
            number,
            ts_ms: (f.ts * 1000.0).round() as u64,
            pdq,
            quality: f.quality,
        });
    }
    let duration_ms = match duration {
        Some(d) if d.is_finite() && d >= 0.0 => Some((d * 1000.0).round() as u64),
        Some(d) => return Err(format!("bad duration {d}")),
        None => None,
    };
    crate::lists::video::VideoEntry::new(out, duration_ms)
        .map(std::sync::Arc::new)
        .map_err(|e| e.to_string())
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
        video: None,
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
    let kind = row.kind.as_deref().map(parse_kind).transpose()?;
    // A video addition carries its frames; its hash is their digest.
    let mut video = None;
    if kind == Some(HashKind::Vpdq) && op == Op::Add {
        let frames = row.frames.ok_or("a \"vpdq\" addition needs \"frames\"")?;
        let v = json_video(frames, row.duration)?;
        let digest = v.digest();
        if let Some(h) = &row.hash
            && !h.trim().eq_ignore_ascii_case(&digest.to_hex())
        {
            return Err("\"hash\" is not the digest of the frames".into());
        }
        video = Some((AnyHash::Vpdq(digest), v));
    } else if row.frames.is_some() {
        return Err("\"frames\" belong only to \"vpdq\" additions".into());
    }
    // A removal may name only the id (every hash under it goes); an addition needs a hash.
    let hash = match (kind, row.hash, &video) {
        (_, _, Some((h, _))) => Some(*h),
        (Some(kind), Some(hash), None) => Some(parse_hash(kind, hash.trim())?),
        (None, None, None) if op == Op::Remove => None,
        _ => return Err("\"kind\" and \"hash\" are required".into()),
    };
    Ok(ListRow {
        line,
        op,
        id,
        hash,
        category: row.category.map(value_string),
        series: row.series.map(value_string),
        video: video.map(|(_, v)| v),
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
        ListFormat::Vpdq => Box::new(vpdq::video_rows(input, opts.video_id.clone())),
        ListFormat::VpdqFrames => Box::new(line_rows(input, vpdq::frame_row)),
        ListFormat::TeCsv => Box::new(Records::new(te_csv::TeCsv::new(
            CapRun::new(input, b"\n"),
            opts.kind,
        ))),
        ListFormat::NcmecXml => Box::new(Records::new(ncmec::NcmecXml::new(
            input,
            Rc::clone(&paging),
        ))),
        ListFormat::StopNcii => Box::new(Records::new(stopncii::StopNcii::new(
            input,
            Rc::clone(&paging),
        ))),
        ListFormat::Vics => Box::new(Records::new(vics::Vics::new(input))),
        ListFormat::Icse => Box::new(Records::new(icse::Icse::new(CapRun::new(input, b"\n")))),
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
        #[serde(skip_serializing_if = "Option::is_none")]
        duration: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        frames: Option<Vec<JsonFrame>>,
    }
    let video = row.video.as_ref().filter(|_| row.op == Op::Add);
    let out = Out {
        id: &row.id,
        kind: row.hash.as_ref().map(AnyHash::kind),
        hash: row.hash.as_ref().map(AnyHash::to_string),
        category: row.category.as_deref(),
        series: row.series.as_deref(),
        // Additions are the default; only removals say so, which keeps lists short.
        op: (row.op == Op::Remove).then_some(Op::Remove),
        duration: video.map(|v| v.duration()),
        frames: video.map(|v| {
            v.frames
                .iter()
                .map(|f| JsonFrame {
                    number: Some(f.number),
                    ts: f.ts(),
                    quality: f.quality,
                    pdq: f.pdq.to_hex(),
                })
                .collect()
        }),
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
        video: None,
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

/// The longest line a line-based list format may have (a JSONL row with a long category and
/// series is under 1 KiB); a longer one is a malformed row, skipped without being held.
pub const MAX_LINE: usize = 4 << 20;

/// A reader that fails (an I/O error, which ends the file as malformed) once more than
/// [`MAX_LINE`] bytes pass without one of the `delimiters`: the CSV readers buffer a whole
/// record, so an endless record must be stopped below them. A record cannot be skipped as a
/// bad row here as lines are: past an unbounded quoted field its end cannot be trusted.
pub(super) struct CapRun<R> {
    inner: R,
    delimiters: &'static [u8],
    run: usize,
    /// Once over the cap, every later read fails (a caller may have ignored the first error).
    tripped: bool,
}

impl<R> CapRun<R> {
    pub(super) fn new(inner: R, delimiters: &'static [u8]) -> Self {
        CapRun {
            inner,
            delimiters,
            run: 0,
            tripped: false,
        }
    }

    /// Counts `bytes` passing; the error once a run has been over the cap.
    pub(super) fn pass(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        for &b in bytes {
            if self.delimiters.contains(&b) {
                self.run = 0;
            } else {
                self.run += 1;
                self.tripped |= self.run > MAX_LINE;
            }
        }
        if self.tripped {
            return Err(std::io::Error::other(format!(
                "a record or token over the {MAX_LINE}-byte limit"
            )));
        }
        Ok(())
    }
}

impl<R: std::io::Read> std::io::Read for CapRun<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.pass(&[])?;
        let n = self.inner.read(buf)?;
        self.pass(&buf[..n])?;
        Ok(n)
    }
}

/// One line of input, or how long a line over [`MAX_LINE`] was.
enum Line {
    Text(Vec<u8>),
    TooLong(u64),
}

/// Splits input at newlines like `BufRead::split`, but never holds more than [`MAX_LINE`]
/// bytes of one line: a feed of one endless line must not exhaust memory. (std's `split`
/// has no bound, and this is all a bound needs.)
struct BoundedLines<R> {
    input: R,
    done: bool,
}

impl<R: BufRead> Iterator for BoundedLines<R> {
    type Item = io::Result<Line>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (mut text, mut len, mut over) = (Vec::new(), 0u64, false);
        loop {
            let avail = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            if avail.is_empty() {
                self.done = true;
                if len == 0 {
                    return None;
                }
                break;
            }
            let newline = avail.iter().position(|&b| b == b'\n');
            let chunk = &avail[..newline.unwrap_or(avail.len())];
            len += chunk.len() as u64;
            if !over && text.len() + chunk.len() > MAX_LINE {
                over = true;
                text = Vec::new();
            }
            if !over {
                text.extend_from_slice(chunk);
            }
            let used = newline.map_or(avail.len(), |i| i + 1);
            self.input.consume(used);
            if newline.is_some() {
                break;
            }
        }
        Some(Ok(if over {
            Line::TooLong(len)
        } else {
            Line::Text(text)
        }))
    }
}

/// Rows of a line-based format (plain, jsonl, vpdq): `parse` reads one line's text.
fn line_rows(
    input: impl BufRead,
    parse: impl Fn(u64, &str) -> Result<ListRow, String>,
) -> impl Iterator<Item = Result<ListRow, RowError>> {
    let lines = BoundedLines { input, done: false };
    lines.enumerate().filter_map(move |(i, line)| {
        let line_no = i as u64 + 1;
        let bad = |reason: String| {
            Some(Err(RowError::Bad(BadRow {
                line: line_no,
                reason,
            })))
        };
        let raw = match line {
            Ok(Line::Text(r)) => r,
            Ok(Line::TooLong(len)) => {
                return bad(format!(
                    "a line of {len} bytes, over the {MAX_LINE}-byte limit"
                ));
            }
            Err(e) => {
                return Some(Err(RowError::Io {
                    line: line_no,
                    message: e.to_string(),
                }));
            }
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
mod tests;
