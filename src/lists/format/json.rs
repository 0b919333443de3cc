//! A pull scanner for the envelope of large JSON documents (StopNCII pages, VICS files).
//!
//! serde_json can only push a whole document through a visitor, which cannot pause between
//! records for an iterator; so this scanner walks the outer objects and arrays itself and hands
//! each record's bytes to serde_json. One record at a time is in memory, however long the
//! array. A syntax error in the envelope ends the stream with [`RowError::Io`] (records can no
//! longer be delimited); a record that is delimited but not valid JSON is the caller's bad row.

use std::io::{self, BufRead};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::RowError;

/// Bytes one record may take; a longer record is skipped rather than held.
const MAX_RECORD: usize = 4 << 20;

/// Reads JSON one token or one record at a time, counting lines.
pub(super) struct Scanner<R> {
    input: R,
    line: u64,
}

impl<R: BufRead> Scanner<R> {
    /// Scans `input` from its first byte.
    pub(super) fn new(input: R) -> Self {
        Scanner { input, line: 1 }
    }

    /// The 1-based line of the next unread byte.
    pub(super) fn line(&self) -> u64 {
        self.line
    }

    /// An error that ends the stream at the current line.
    pub(super) fn error(&self, message: impl std::fmt::Display) -> RowError {
        RowError::Io {
            line: self.line,
            message: format!("malformed JSON: {message}"),
        }
    }

    fn eof(&self) -> RowError {
        self.error("unexpected end of input")
    }

    fn peek(&mut self) -> Result<Option<u8>, RowError> {
        loop {
            match self.input.fill_buf() {
                Ok(buf) => return Ok(buf.first().copied()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(RowError::Io {
                        line: self.line,
                        message: e.to_string(),
                    });
                }
            }
        }
    }

    /// Consumes `b`, the byte [`Self::peek`] returned.
    fn bump(&mut self, b: u8) {
        self.input.consume(1);
        if b == b'\n' {
            self.line += 1;
        }
    }

    /// Skips whitespace and returns the next byte without consuming it (`None` at the end).
    pub(super) fn peek_token(&mut self) -> Result<Option<u8>, RowError> {
        while let Some(b) = self.peek()? {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Ok(Some(b));
            }
            self.bump(b);
        }
        Ok(None)
    }

    /// Consumes `want` after optional whitespace.
    pub(super) fn expect(&mut self, want: u8) -> Result<(), RowError> {
        match self.peek_token()? {
            Some(b) if b == want => {
                self.bump(b);
                Ok(())
            }
            Some(b) => Err(self.error(format!(
                "expected {:?}, found {:?}",
                want as char, b as char
            ))),
            None => Err(self.eof()),
        }
    }

    /// Moves to the next item of an array or object whose opening bracket is read: `false`
    /// (with `close` consumed) at its end. `first` is true until the first item.
    pub(super) fn next_item(&mut self, first: &mut bool, close: u8) -> Result<bool, RowError> {
        let b = self.peek_token()?.ok_or_else(|| self.eof())?;
        if b == close {
            self.bump(b);
            return Ok(false);
        }
        if !*first {
            if b != b',' {
                return Err(self.error(format!(
                    "expected ',' or {:?}, found {:?}",
                    close as char, b as char
                )));
            }
            self.bump(b);
            // Leave the scanner on the item, so that `line` is the item's line.
            self.peek_token()?;
        }
        *first = false;
        Ok(true)
    }

    /// The next key of an object whose `{` is read, with its `:` consumed; `None` at `}`.
    pub(super) fn next_key(&mut self, first: &mut bool) -> Result<Option<String>, RowError> {
        if !self.next_item(first, b'}')? {
            return Ok(None);
        }
        if self.peek_token()? != Some(b'"') {
            return Err(self.error("expected an object key"));
        }
        let mut raw = Vec::new();
        self.scan(Some(&mut raw))?;
        let key: String =
            serde_json::from_slice(&raw).map_err(|e| self.error(format!("bad key: {e}")))?;
        self.expect(b':')?;
        Ok(Some(key))
    }

    /// Enters the array that is the next value (`true`), or skips a `null` there (`false`).
    pub(super) fn array_or_null(&mut self) -> Result<bool, RowError> {
        if self.peek_token()? == Some(b'n') {
            let null: Result<Value, String> = self.value()?;
            return match null {
                Ok(Value::Null) => Ok(false),
                _ => Err(self.error("expected an array or null")),
            };
        }
        self.expect(b'[')?;
        Ok(true)
    }

    /// Skips one value without keeping it.
    pub(super) fn skip(&mut self) -> Result<(), RowError> {
        self.scan(None)
    }

    /// Reads one value and deserializes it; the inner error (bad JSON, wrong shape, too long)
    /// concerns this value only, and the scanner is past it either way.
    pub(super) fn value<T: DeserializeOwned>(&mut self) -> Result<Result<T, String>, RowError> {
        let mut raw = Vec::new();
        self.scan(Some(&mut raw))?;
        if raw.len() > MAX_RECORD {
            return Ok(Err(format!("record longer than {} MiB", MAX_RECORD >> 20)));
        }
        Ok(serde_json::from_slice(&raw).map_err(|e| format!("not valid JSON: {e}")))
    }

    /// Checks that nothing but whitespace follows the document.
    pub(super) fn end(&mut self) -> Result<(), RowError> {
        match self.peek_token()? {
            None => Ok(()),
            Some(b) => Err(self.error(format!("{:?} after the document", b as char))),
        }
    }

    /// Consumes one value, copying its bytes into `keep` (up to one byte past
    /// [`MAX_RECORD`], which marks it as too long). Only delimiters are checked here; serde_json
    /// checks what is kept. Objects, arrays and strings are scanned a buffer at a time, since
    /// they are nearly all of a large file.
    fn scan(&mut self, mut keep: Option<&mut Vec<u8>>) -> Result<(), RowError> {
        let first = self.peek_token()?.ok_or_else(|| self.eof())?;
        if !matches!(first, b'{' | b'[' | b'"') {
            let is_literal = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.');
            if !is_literal(first) {
                return Err(self.error(format!("unexpected {:?}", first as char)));
            }
            while let Some(b) = self.peek()?.filter(|b| is_literal(*b)) {
                self.bump(b);
                if let Some(buf) = keep.as_deref_mut()
                    && buf.len() <= MAX_RECORD
                {
                    buf.push(b);
                }
            }
            return Ok(());
        }
        let mut closers = Vec::new();
        let (mut in_string, mut escaped) = (false, false);
        loop {
            let buf = match self.input.fill_buf() {
                Ok([]) => return Err(self.eof()),
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(RowError::Io {
                        line: self.line,
                        message: e.to_string(),
                    });
                }
            };
            // `Some(None)`: the value is complete; `Some(Some(b))`: `b` closes nothing open.
            let mut end: Option<Option<u8>> = None;
            let mut used = 0;
            for &b in buf {
                used += 1;
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                        if closers.is_empty() {
                            end = Some(None);
                            break;
                        }
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' => closers.push(b'}'),
                    b'[' => closers.push(b']'),
                    b'}' | b']' => {
                        if closers.pop() != Some(b) {
                            end = Some(Some(b));
                            break;
                        }
                        if closers.is_empty() {
                            end = Some(None);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let chunk = &buf[..used];
            self.line += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            if let Some(kept) = keep.as_deref_mut() {
                let room = (MAX_RECORD + 1).saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..room.min(used)]);
            }
            self.input.consume(used);
            match end {
                Some(None) => return Ok(()),
                Some(Some(b)) => return Err(self.error(format!("unexpected {:?}", b as char))),
                None => {}
            }
        }
    }
}

/// The value of `key` in `map`, compared without ASCII case; `null` counts as absent.
pub(super) fn get<'m>(map: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

/// A string or number as text (trimmed); `None` for other values.
pub(super) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_delimited_and_lines_counted() {
        let text = "[\n {\"a\": \"}]\\\"\"},\n [1, {\"b\": [2]}] ,\n -1.5e3, true ]";
        let mut s = Scanner::new(text.as_bytes());
        s.expect(b'[').unwrap();
        let mut first = true;
        let mut got = Vec::new();
        while s.next_item(&mut first, b']').unwrap() {
            let line = s.line();
            let v: Value = s.value().unwrap().unwrap();
            got.push((line, v.to_string()));
        }
        s.end().unwrap();
        assert_eq!(
            got,
            vec![
                (2, r#"{"a":"}]\""}"#.to_string()),
                (3, r#"[1,{"b":[2]}]"#.to_string()),
                (4, "-1500.0".to_string()),
                (4, "true".to_string()),
            ]
        );
    }

    #[test]
    fn envelope_errors_end_the_stream_with_the_line() {
        for (text, line) in [
            ("[1,\n2", 2),
            ("[1 2]", 1),
            ("[\n{\"a\": [}]", 2),
            ("[1,]", 1),
            ("[1]\nx", 2),
        ] {
            let mut s = Scanner::new(text.as_bytes());
            let mut first = true;
            let err = (|| {
                s.expect(b'[')?;
                while s.next_item(&mut first, b']')? {
                    s.skip()?;
                }
                s.end()
            })()
            .unwrap_err();
            assert!(
                matches!(&err, RowError::Io { line: l, message } if *l == line && message.starts_with("malformed JSON")),
                "{text:?}: {err:?}"
            );
        }
    }

    #[test]
    fn a_delimited_but_invalid_record_is_only_that_records_problem() {
        let mut s = Scanner::new("[{\"a\": tru}, {\"a\": 1}]".as_bytes());
        s.expect(b'[').unwrap();
        let mut first = true;
        assert!(s.next_item(&mut first, b']').unwrap());
        assert!(s.value::<Value>().unwrap().is_err());
        assert!(s.next_item(&mut first, b']').unwrap());
        assert_eq!(s.value::<Value>().unwrap().unwrap()["a"], 1);
    }

    #[test]
    fn keys_are_matched_without_case_and_null_is_absent() {
        let map: Map<String, Value> =
            serde_json::from_str(r#"{"MD5": "AB", "Series": null, "n": 7}"#).unwrap();
        assert_eq!(get(&map, "md5").and_then(scalar).as_deref(), Some("AB"));
        assert!(get(&map, "series").is_none());
        assert_eq!(get(&map, "N").and_then(scalar).as_deref(), Some("7"));
    }
}
