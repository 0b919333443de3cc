//! StopNCII FetchHashes pages: one JSON document
//! `{"hashRecords": [{"hashValue", "signalType", "hashStatus", "lastModtimestamp", ...}],
//! "nextPageToken": "...", "hasMoreRecords": true, ...}`, keys in any order.
//!
//! `signalType` names the kind, without case and with StopNCII's `Image`/`Video` prefix
//! allowed (`ImagePDQ`, `VideoMD5`, `pdq`); other types (`VideoTMK`, `Text`, `URL`) are bad
//! rows. `hashStatus` `Active` or `Received` adds the hash; `Deleted`, `Withdrawn` or `Inactive`
//! removes it; anything else is a bad row. The id is the record's `id` when it has one, else
//! the lower-case hash value (StopNCII has no other id). Records are read one at a time; the
//! page's paging fields fill [`Paging`].

use std::cell::RefCell;
use std::io::BufRead;
use std::rc::Rc;

use serde_json::{Map, Value};

use super::json::{Scanner, get, scalar};
use super::{ListRow, Op, Paging, Queue, RowError, Step, bad, parse_hash};
use crate::hashing::HashKind;

/// Where the scanner is in the page.
enum State {
    Start,
    /// In the top-level object; `first` until its first key.
    Top {
        first: bool,
    },
    /// In `hashRecords`.
    Records {
        first: bool,
    },
}

/// Streaming reader of a StopNCII page.
pub(super) struct StopNcii<R> {
    json: Scanner<R>,
    state: State,
    paging: Rc<RefCell<Paging>>,
}

impl<R: BufRead> StopNcii<R> {
    /// Reads `input`, filling `paging` as the page names it.
    pub(super) fn new(input: R, paging: Rc<RefCell<Paging>>) -> Self {
        StopNcii {
            json: Scanner::new(input),
            state: State::Start,
            paging,
        }
    }
}

impl<R: BufRead> Step for StopNcii<R> {
    fn step(&mut self, out: &mut Queue) -> Result<bool, RowError> {
        match &mut self.state {
            State::Start => {
                self.json.expect(b'{')?;
                self.state = State::Top { first: true };
            }
            State::Top { first } => {
                let Some(key) = self.json.next_key(first)? else {
                    self.json.end()?;
                    return Ok(false);
                };
                if key.eq_ignore_ascii_case("hashRecords") {
                    if self.json.array_or_null()? {
                        self.state = State::Records { first: true };
                    }
                } else if key.eq_ignore_ascii_case("nextPageToken") {
                    let next = match self.json.value::<Value>()? {
                        Ok(Value::String(s)) => Some(s).filter(|s| !s.is_empty()),
                        Ok(Value::Null) => None,
                        _ => return Err(self.json.error("nextPageToken must be a string")),
                    };
                    self.paging.borrow_mut().next = next;
                } else if key.eq_ignore_ascii_case("hasMoreRecords") {
                    let more = match self.json.value::<Value>()? {
                        Ok(Value::Bool(b)) => b,
                        _ => return Err(self.json.error("hasMoreRecords must be true or false")),
                    };
                    self.paging.borrow_mut().has_more = Some(more);
                } else {
                    self.json.skip()?;
                }
            }
            State::Records { first } => {
                if !self.json.next_item(first, b']')? {
                    self.state = State::Top { first: false };
                    return Ok(true);
                }
                let line = self.json.line();
                let row = match self.json.value::<Map<String, Value>>()? {
                    Ok(record) => hash_row(line, &record),
                    Err(e) => Err(format!("hash record: {e}")),
                };
                out.push_back(row.map_err(|r| bad(line, r)));
            }
        }
        Ok(true)
    }
}

/// The row of one hash record.
fn hash_row(line: u64, record: &Map<String, Value>) -> Result<ListRow, String> {
    let text = |key: &str| get(record, key).and_then(scalar).unwrap_or_default();
    let value = text("hashValue");
    if value.is_empty() {
        return Err("hashValue: missing".into());
    }
    let signal = text("signalType");
    let kind = signal_kind(&signal)
        .ok_or_else(|| format!("signalType: {signal:?} is not a supported hash type"))?;
    let status = text("hashStatus");
    let op = match status.to_ascii_lowercase().as_str() {
        "active" | "received" => Op::Add,
        "deleted" | "withdrawn" | "inactive" => Op::Remove,
        _ => return Err(format!("hashStatus: unknown status {status:?}")),
    };
    let hash = parse_hash(kind, &value).map_err(|e| format!("hashValue: {e}"))?;
    let id = get(record, "id")
        .and_then(scalar)
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| value.to_ascii_lowercase());
    Ok(ListRow {
        line,
        op,
        id,
        hash: Some(hash),
        category: None,
        series: None,
        video: None,
    })
}

/// The kind a `signalType` names: `PDQ`, `pdq`, `ImagePDQ`, `VideoMD5`, ...
fn signal_kind(signal: &str) -> Option<HashKind> {
    let lower = signal.to_ascii_lowercase();
    let bare = lower
        .strip_prefix("image")
        .or_else(|| lower.strip_prefix("video"))
        .unwrap_or(&lower);
    bare.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::super::tests::items;
    use super::super::{ListFormat, ReadOptions, read};
    use super::*;

    // Made-up PDQ hashes and the MD5 of "stopncii".
    const P1: &str = "2afc4a5c09628a7961c14d436493bba66b89b831453baa1d556ba385554daa82";
    const P2: &str = "79E07DE27D7295339435D63CD31CF35A7BFA29EB2885008500A588A5EA3AE75A";
    const MD5: &str = "3b9e4d51d6f6c5e2a07f0a1c2b3d4e5f";

    fn page(records: &str, tail: &str) -> String {
        format!("\u{feff}{{\"count\": 3,\n\"hashRecords\": [\n{records}\n]{tail}\n}}\n")
    }

    #[test]
    fn records_and_paging() {
        let text = page(
            &format!(
                "{{\"hashValue\": \"{P1}\", \"signalType\": \"ImagePDQ\", \"hashStatus\": \"Active\", \"lastModtimestamp\": 1625167804, \"caseNumbers\": {{\"c\": \"Active\"}}}},\n\
                 {{\"hashValue\": \"{P2}\", \"signalType\": \"pdq\", \"hashStatus\": \"Deleted\"}},\n\
                 {{\"hashValue\": \"{MD5}\", \"signalType\": \"VideoMD5\", \"hashStatus\": \"Received\", \"id\": 42}}"
            ),
            ",\n\"nextPageToken\": \"tok-2\", \"hasMoreRecords\": true",
        );
        let mut rows = read(
            ListFormat::StopNcii,
            text.as_bytes(),
            &ReadOptions::default(),
        );
        let got: Vec<ListRow> = rows.by_ref().map(|r| r.unwrap()).collect();
        let summary: Vec<(u64, Op, &str, HashKind)> = got
            .iter()
            .map(|r| {
                (
                    r.line,
                    r.op,
                    r.id.as_str(),
                    r.hash.map_or(HashKind::Sha256, |h| h.kind()),
                )
            })
            .collect();
        let p2 = P2.to_lowercase();
        assert_eq!(
            summary,
            vec![
                (3, Op::Add, P1, HashKind::Pdq),
                (4, Op::Remove, p2.as_str(), HashKind::Pdq),
                (5, Op::Add, "42", HashKind::Md5),
            ]
        );
        assert_eq!(
            rows.paging(),
            Paging {
                next: Some("tok-2".into()),
                has_more: Some(true)
            }
        );
    }

    #[test]
    fn paging_before_the_records_and_the_last_page() {
        let text = format!(
            "{{\"nextPageToken\": null, \"hasMoreRecords\": false, \"hashRecords\": [{{\"hashValue\": \"{P1}\", \"signalType\": \"PDQ\", \"hashStatus\": \"active\"}}]}}"
        );
        let mut rows = read(
            ListFormat::StopNcii,
            text.as_bytes(),
            &ReadOptions::default(),
        );
        assert_eq!(rows.by_ref().filter(|r| r.is_ok()).count(), 1);
        assert_eq!(
            rows.paging(),
            Paging {
                next: None,
                has_more: Some(false)
            }
        );
    }

    #[test]
    fn malformed_records_are_bad_rows_and_the_rest_still_reads() {
        let rec = |value: &str, signal: &str, status: &str| {
            format!(
                "{{\"hashValue\": \"{value}\", \"signalType\": \"{signal}\", \"hashStatus\": \"{status}\"}}"
            )
        };
        let text = page(
            &[
                rec(P1, "VideoTMK", "Active"),
                rec(P1, "PDQ", "Pending"),
                rec(&P1[..60], "PDQ", "Active"),
                rec(&"0".repeat(64), "PDQ", "Active"),
                "{\"signalType\": \"PDQ\", \"hashStatus\": \"Active\"}".into(),
                "{\"hashValue\": tru}".into(),
                "7".into(),
                rec(P2, "PDQ", "Withdrawn"),
            ]
            .join(",\n"),
            "",
        );
        let all = items(ListFormat::StopNcii, &text, None);
        let mut bad = Vec::new();
        let mut ok = Vec::new();
        for item in &all {
            match item {
                Ok(r) => ok.push((r.line, r.op)),
                Err(RowError::Bad(b)) => bad.push((b.line, b.reason.as_str())),
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(ok, vec![(10, Op::Remove)]);
        let expect = [
            (3, "signalType: \"VideoTMK\""),
            (4, "hashStatus: unknown status \"Pending\""),
            (5, "hashValue: pdq hash must be 64"),
            (6, "degenerate"),
            (7, "hashValue: missing"),
            (8, "not valid JSON"),
            (9, "hash record"),
        ];
        assert_eq!(bad.len(), expect.len(), "{bad:?}");
        for ((line, reason), (want_line, want)) in bad.iter().zip(expect) {
            assert_eq!(*line, want_line, "{reason}");
            assert!(reason.contains(want), "line {line}: {reason}");
        }
    }

    #[test]
    fn a_broken_page_ends_with_a_read_error() {
        let text = format!(
            "{{\"hashRecords\": [{{\"hashValue\": \"{P1}\", \"signalType\": \"PDQ\", \"hashStatus\": \"Active\"}},\n{{\"hashValue\": \"{P2}\""
        );
        let all = items(ListFormat::StopNcii, &text, None);
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(all[0].is_ok());
        assert!(
            matches!(&all[1], Err(RowError::Io { line: 2, .. })),
            "{all:?}"
        );
        for text in ["{\"nextPageToken\": 5}", "{\"hashRecords\": 5}", "[]", ""] {
            let all = items(ListFormat::StopNcii, text, None);
            assert!(
                matches!(&all[..], [Err(RowError::Io { .. })]),
                "{text:?}: {all:?}"
            );
        }
        // An empty last page may say so with null.
        let all = items(ListFormat::StopNcii, "{\"hashRecords\": null}", None);
        assert!(all.is_empty(), "{all:?}");
    }
}
