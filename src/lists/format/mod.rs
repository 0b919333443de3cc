//! List file formats, parsed as streams of rows: a malformed row becomes a [`BadRow`] with its
//! line number and the rest of the file goes on.
//!
//! - `plain`: one hex hash a line (its id is the 0-based line number, as in design §4; needs
//!   `--kind`), or `<kind> <hex>` a line (python-threatexchange's local-file style). Blank lines
//!   and `#` comments are skipped.
//! - `jsonl`: hashguard's canonical form, one object a line:
//!   `{"id": "...", "kind": "pdq", "hash": "...", "category": "...", "op": "add"}`.

use std::io::BufRead;

use serde::Deserialize;

use crate::hashing::digest::is_empty_input_digest;
use crate::hashing::{AnyHash, HashKind};

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// Hex hashes, one a line, optionally prefixed by their kind.
    Plain,
    /// hashguard's canonical JSON lines.
    Jsonl,
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
    /// Hash kind of bare hex lines (plain files).
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
    paging: std::rc::Rc<std::cell::RefCell<Paging>>,
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
    let paging = std::rc::Rc::new(std::cell::RefCell::new(Paging::default()));
    let inner: Box<dyn Iterator<Item = Result<ListRow, RowError>> + 'a> = match format {
        ListFormat::Plain | ListFormat::Jsonl => Box::new(line_rows(format, input, opts.kind)),
    };
    Rows { inner, paging }
}

/// Rows of a line-based format (plain, jsonl); `kind` is the kind of bare hex lines.
fn line_rows(
    format: ListFormat,
    input: impl BufRead,
    kind: Option<HashKind>,
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
        let parsed = match format {
            ListFormat::Plain => plain_row(line_no, text, kind),
            ListFormat::Jsonl => json_row(line_no, text),
        };
        Some(parsed.map_err(|reason| {
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

    fn collect(
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
}
