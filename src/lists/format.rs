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

/// A well-formed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    /// 1-based line number.
    pub line: u64,
    /// The list's id for the entry.
    pub id: String,
    /// The hash.
    pub hash: AnyHash,
    /// Category, if the row has one.
    pub category: Option<String>,
}

/// A malformed row: where and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
    kind: String,
    hash: String,
    #[serde(default)]
    category: Option<serde_json::Value>,
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
        id: (line - 1).to_string(),
        hash: parse_hash(kind, hex)?,
        category: None,
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
    if let Some(op) = row.op.as_deref()
        && op != "add"
    {
        return Err(format!(
            "op {op:?} is not allowed in a full import (only \"add\")"
        ));
    }
    let kind: HashKind = row
        .kind
        .parse()
        .map_err(|e: crate::hashing::ParseHashError| e.to_string())?;
    let id = row.id.map(value_string).ok_or("missing \"id\"")?;
    if id.is_empty() || id.len() > 256 {
        return Err("\"id\" must be 1-256 characters".into());
    }
    Ok(ListRow {
        line,
        id,
        hash: parse_hash(kind, row.hash.trim())?,
        category: row.category.map(value_string),
    })
}

/// Rows of `input` in `format`; `kind` is the kind of bare hex lines in plain files.
pub fn rows(
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
        for r in rows(format, text.as_bytes(), kind) {
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
             {{\"kind\":\"pdq\",\"hash\":\"{PDQ}\"}}\nnot json\n{{\"id\":\"y\",\"kind\":\"crc\",\"hash\":\"00\"}}\n"
        );
        let (ok, bad) = collect(ListFormat::Jsonl, &text, None);
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].category.as_deref(), Some("A1"));
        assert_eq!(ok[1].id, "7");
        assert_eq!(
            bad.iter().map(|b| b.line).collect::<Vec<_>>(),
            vec![3, 4, 5, 6]
        );
    }
}
