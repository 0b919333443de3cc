//! Project VIC VICS JSON, 1.x (`"odata.metadata"`) and 2.0 (`"@odata.context"`), read alike:
//! `value[]` holds either cases, each with a `Media[]` array, or media objects directly.
//!
//! Each media's `MD5`, `SHA1` and recognised `AlternativeHashes[]` entries (`HashName` MD5,
//! SHA1, SHA256 or PDQ, with or without a dash; other names such as PhotoDNA are skipped)
//! become one addition each, with id `MediaID` (else the lower-case MD5, else the lower-case
//! SHA1), `Category` as written (never translated: 0 means different things to different
//! tools) and `Series`. `VictimIdentified` may be a boolean or the string "true"/"false"; it is
//! checked but not kept. Field names are matched without case.
//!
//! Files can hold millions of media, so the envelope is scanned and one media object at a time
//! is deserialized; of a case, only the media fields are kept while its keys are read. Lines
//! are the line each media object starts on.

use std::io::BufRead;

use serde_json::{Map, Value};

use super::json::{Scanner, get, scalar};
use super::{Queue, RowError, Step, add_row, bad, parse_hash};
use crate::hashing::{AnyHash, HashKind};

/// Media fields kept while the keys of a `value[]` element are read (its kind, case or media,
/// is known only at its end).
const MEDIA_FIELDS: [&str; 7] = [
    "MediaID",
    "MD5",
    "SHA1",
    "Category",
    "Series",
    "VictimIdentified",
    "AlternativeHashes",
];

/// A `value[]` element being read.
struct Element {
    line: u64,
    first: bool,
    /// The media fields among its keys.
    fields: Map<String, Value>,
    /// It had a `Media` array, so it is a case.
    is_case: bool,
}

/// Where the scanner is in the file.
enum State {
    Start,
    /// In the top-level object.
    Top {
        first: bool,
    },
    /// In `value[]`.
    Values {
        first: bool,
    },
    /// Among the keys of a `value[]` element.
    Element(Element),
    /// In the `Media[]` of a case.
    Media {
        first: bool,
        case: Element,
    },
}

/// Streaming reader of a VICS file.
pub(super) struct Vics<R> {
    json: Scanner<R>,
    state: State,
}

impl<R: BufRead> Vics<R> {
    /// Reads `input`.
    pub(super) fn new(input: R) -> Self {
        Vics {
            json: Scanner::new(input),
            state: State::Start,
        }
    }
}

impl<R: BufRead> Step for Vics<R> {
    fn step(&mut self, out: &mut Queue) -> Result<bool, RowError> {
        let state = std::mem::replace(&mut self.state, State::Start);
        self.state = match state {
            State::Start => {
                self.json.expect(b'{')?;
                State::Top { first: true }
            }
            State::Top { mut first } => match self.json.next_key(&mut first)? {
                None => {
                    self.json.end()?;
                    return Ok(false);
                }
                Some(key) if key.eq_ignore_ascii_case("value") => {
                    if self.json.array_or_null()? {
                        State::Values { first: true }
                    } else {
                        State::Top { first }
                    }
                }
                Some(_) => {
                    self.json.skip()?;
                    State::Top { first }
                }
            },
            State::Values { mut first } => {
                if !self.json.next_item(&mut first, b']')? {
                    State::Top { first: false }
                } else if self.json.peek_token()? == Some(b'{') {
                    let line = self.json.line();
                    self.json.expect(b'{')?;
                    State::Element(Element {
                        line,
                        first: true,
                        fields: Map::new(),
                        is_case: false,
                    })
                } else {
                    let line = self.json.line();
                    self.json.skip()?;
                    out.push_back(Err(bad(line, "value[]: not an object")));
                    State::Values { first: false }
                }
            }
            State::Element(mut el) => match self.json.next_key(&mut el.first)? {
                None => {
                    if !el.is_case {
                        media_rows(el.line, &el.fields, out);
                    }
                    State::Values { first: false }
                }
                Some(key) if key.eq_ignore_ascii_case("Media") => {
                    if self.json.peek_token()? == Some(b'[') {
                        self.json.expect(b'[')?;
                        el.is_case = true;
                        State::Media {
                            first: true,
                            case: el,
                        }
                    } else {
                        let line = self.json.line();
                        self.json.skip()?;
                        out.push_back(Err(bad(line, "Media: not an array")));
                        State::Element(el)
                    }
                }
                Some(key) => {
                    if MEDIA_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(&key)) {
                        let line = self.json.line();
                        match self.json.value::<Value>()? {
                            Ok(v) => {
                                el.fields.insert(key, v);
                            }
                            Err(e) => out.push_back(Err(bad(line, format!("{key}: {e}")))),
                        }
                    } else {
                        self.json.skip()?;
                    }
                    State::Element(el)
                }
            },
            State::Media { mut first, case } => {
                if !self.json.next_item(&mut first, b']')? {
                    State::Element(case)
                } else {
                    let line = self.json.line();
                    match self.json.value::<Map<String, Value>>()? {
                        Ok(media) => media_rows(line, &media, out),
                        Err(e) => out.push_back(Err(bad(line, format!("media: {e}")))),
                    }
                    State::Media { first, case }
                }
            }
        };
        Ok(true)
    }
}

/// Queues the rows of one media object, or one bad row when the media as a whole is unusable.
fn media_rows(line: u64, media: &Map<String, Value>, out: &mut Queue) {
    match media_hashes(media) {
        Ok((meta, hashes)) => {
            for h in hashes {
                out.push_back(
                    h.map(|hash| {
                        add_row(
                            line,
                            &meta.id,
                            hash,
                            meta.category.as_deref(),
                            meta.series.as_deref(),
                        )
                    })
                    .map_err(|reason| bad(line, reason)),
                );
            }
        }
        Err(reason) => out.push_back(Err(bad(line, reason))),
    }
}

/// What every row of a media shares.
struct Meta {
    id: String,
    category: Option<String>,
    series: Option<String>,
}

/// Each hash of a media, or why it is bad.
type Hashes = Vec<Result<AnyHash, String>>;

/// The media's id, category and series, and each hash it carries.
fn media_hashes(media: &Map<String, Value>) -> Result<(Meta, Hashes), String> {
    let text = |key: &str| -> Result<Option<String>, String> {
        match get(media, key) {
            None => Ok(None),
            Some(v) => scalar(v)
                .map(|s| Some(s).filter(|s| !s.is_empty()))
                .ok_or_else(|| format!("{key}: expected a string or number, found {v}")),
        }
    };
    let md5 = text("MD5")?;
    let sha1 = text("SHA1")?;
    let category = text("Category")?;
    let series = text("Series")?;
    match get(media, "VictimIdentified") {
        None | Some(Value::Bool(_)) => {}
        Some(Value::String(s))
            if s.trim().eq_ignore_ascii_case("true") || s.trim().eq_ignore_ascii_case("false") => {}
        Some(v) => {
            return Err(format!(
                "VictimIdentified: expected true or false, found {v}"
            ));
        }
    }
    let id = text("MediaID")?
        .or_else(|| md5.as_deref().map(str::to_ascii_lowercase))
        .or_else(|| sha1.as_deref().map(str::to_ascii_lowercase))
        .ok_or("no MediaID, MD5 or SHA1 to identify the media")?;

    let mut named: Vec<(HashKind, String, String)> = Vec::new();
    if let Some(h) = md5 {
        named.push((HashKind::Md5, h, "MD5".into()));
    }
    if let Some(h) = sha1 {
        named.push((HashKind::Sha1, h, "SHA1".into()));
    }
    match get(media, "AlternativeHashes") {
        None => {}
        Some(Value::Array(alts)) => {
            for (i, alt) in alts.iter().enumerate() {
                let field = format!("AlternativeHashes[{i}]");
                let Value::Object(alt) = alt else {
                    return Err(format!("{field}: not an object"));
                };
                let name = get(alt, "HashName").and_then(scalar).unwrap_or_default();
                let Some(kind) = alternative_kind(&name) else {
                    // PhotoDNA and other hashes hashguard does not compute.
                    continue;
                };
                let value = get(alt, "HashValue").and_then(scalar).unwrap_or_default();
                named.push((kind, value, format!("{field} ({name})")));
            }
        }
        Some(_) => return Err("AlternativeHashes: not an array".into()),
    }
    if named.is_empty() {
        return Err(format!(
            "media {id:?} has no MD5, SHA1 or recognised alternative hash"
        ));
    }
    let mut seen: Vec<AnyHash> = Vec::new();
    let mut hashes = Vec::new();
    for (kind, hex, field) in named {
        match parse_hash(kind, &hex) {
            // The same hash given twice (MD5 and an MD5 alternative) is one entry.
            Ok(h) if seen.contains(&h) => {}
            Ok(h) => {
                seen.push(h);
                hashes.push(Ok(h));
            }
            Err(e) => hashes.push(Err(format!("media {id:?}: {field}: {e}"))),
        }
    }
    Ok((
        Meta {
            id,
            category,
            series,
        },
        hashes,
    ))
}

/// The kind of an alternative hash name hashguard uses, if any.
fn alternative_kind(name: &str) -> Option<HashKind> {
    let bare: String = name
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    match bare.as_str() {
        "md5" => Some(HashKind::Md5),
        "sha1" => Some(HashKind::Sha1),
        "sha256" => Some(HashKind::Sha256),
        "pdq" => Some(HashKind::Pdq),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{collect, items};
    use super::super::{BadRow, ListFormat, ListRow};
    use super::*;

    // MD5 and SHA-1 of "vics-1"/"vics-2"-style made-up values, and a made-up PDQ hash.
    const MD5_1: &str = "ADEBF3FA3C9BE7F73825E1CB9E2DEA09";
    const SHA1_1: &str = "2B037F69C566DFDB3A5A79E5360D085959BDDE4C";
    const MD5_2: &str = "0f9e8d7c6b5a49382716a5b4c3d2e1f0";
    const PDQ: &str = "c3a5e7f90b1d2f40618293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";

    fn summary(rows: &[ListRow]) -> Vec<(u64, String, HashKind, Option<String>)> {
        rows.iter()
            .map(|r| {
                let kind = r.hash.map_or(HashKind::Phash, |h| h.kind());
                (r.line, r.id.clone(), kind, r.category.clone())
            })
            .collect()
    }

    #[test]
    fn v1_cases_with_media_arrays() {
        let text = format!(
            "\u{feff}{{\"odata.metadata\": \"http://example.invalid/$metadata#Cases\",\n\
             \"value\": [{{\"CaseNumber\": \"c-1\", \"Media\": [\n\
             {{\"MediaID\": 1, \"MD5\": \"{MD5_1}\", \"SHA1\": \"{SHA1_1}\", \"Category\": 0, \"VictimIdentified\": \"true\"}},\n\
             {{\"MediaID\": \"m2\", \"MD5\": \"{MD5_2}\", \"Category\": 2, \"Series\": \"s\", \"VictimIdentified\": false,\n\
              \"AlternativeHashes\": [{{\"HashName\": \"PhotoDNA\", \"HashValue\": \"AAAA\"}}, {{\"HashName\": \"PDQ\", \"HashValue\": \"{PDQ}\"}}, {{\"HashName\": \"MD5\", \"HashValue\": \"{MD5_2}\"}}]}}\n\
             ], \"Owner\": \"x\"}}]}}"
        );
        let (ok, bad) = collect(ListFormat::Vics, &text, None);
        assert!(bad.is_empty(), "{bad:?}");
        let zero = Some("0".to_string());
        let two = Some("2".to_string());
        assert_eq!(
            summary(&ok),
            vec![
                (3, "1".into(), HashKind::Md5, zero.clone()),
                (3, "1".into(), HashKind::Sha1, zero),
                (4, "m2".into(), HashKind::Md5, two.clone()),
                (4, "m2".into(), HashKind::Pdq, two),
            ]
        );
        assert_eq!(
            ok[0].hash.map(|h| h.to_string()),
            Some(MD5_1.to_lowercase())
        );
        assert_eq!(ok[2].series.as_deref(), Some("s"));
    }

    #[test]
    fn v2_media_directly_in_value() {
        let text = format!(
            "{{\"@odata.context\": \"http://example.invalid/2.0.xml/$metadata#Media\", \"value\": [\n\
             {{\"Category\": 1, \"MD5\": \"{MD5_1}\", \"MediaSize\": 2835, \"IsPrecategorized\": \"true\"}},\n\
             {{\"SHA1\": \"{SHA1_1}\", \"Exifs\": [{{\"Media\": 1}}]}}\n]}}"
        );
        let (ok, bad) = collect(ListFormat::Vics, &text, None);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(
            summary(&ok),
            vec![
                (2, MD5_1.to_lowercase(), HashKind::Md5, Some("1".into())),
                (3, SHA1_1.to_lowercase(), HashKind::Sha1, None),
            ]
        );
    }

    #[test]
    fn malformed_media_are_bad_rows_and_the_rest_still_reads() {
        let text = format!(
            "{{\"value\": [{{\"Media\": [\n\
             {{\"MediaID\": 1, \"MD5\": \"{}\"}},\n\
             {{\"MediaID\": 2, \"MD5\": \"{MD5_1}\", \"VictimIdentified\": \"maybe\"}},\n\
             {{\"MediaID\": 3, \"AlternativeHashes\": [{{\"HashName\": \"PhotoDNA\", \"HashValue\": \"AA\"}}]}},\n\
             {{\"MediaID\": 4, \"MD5\": \"d41d8cd98f00b204e9800998ecf8427e\", \"SHA1\": \"{SHA1_1}\"}},\n\
             {{\"Category\": 1}},\n\
             [1],\n\
             {{\"MediaID\": 7, \"MD5\": \"{MD5_2}\"}}\n\
             ]}}, 5]}}",
            &MD5_1[..31]
        );
        let (ok, bad) = collect(ListFormat::Vics, &text, None);
        let ids: Vec<(u64, &str)> = ok.iter().map(|r| (r.line, r.id.as_str())).collect();
        assert_eq!(ids, vec![(5, "4"), (8, "7")]);
        let got: Vec<(u64, &str)> = bad
            .iter()
            .map(|b: &BadRow| (b.line, b.reason.as_str()))
            .collect();
        let expect = [
            (2, "media \"1\": MD5: md5 hash must be 32"),
            (3, "VictimIdentified"),
            (4, "no MD5, SHA1 or recognised alternative hash"),
            (5, "media \"4\": MD5: degenerate"),
            (6, "no MediaID, MD5 or SHA1"),
            (7, "media: not valid JSON"),
            (9, "value[]: not an object"),
        ];
        assert_eq!(got.len(), expect.len(), "{got:?}");
        for ((line, reason), (want_line, want)) in got.iter().zip(expect) {
            assert_eq!(*line, want_line, "{reason}");
            assert!(reason.contains(want), "line {line}: {reason}");
        }
    }

    #[test]
    fn a_truncated_file_ends_with_a_read_error() {
        let text = format!("{{\"value\": [{{\"MD5\": \"{MD5_1}\"}},\n{{\"MD5\": ");
        let all = items(ListFormat::Vics, &text, None);
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(all[0].is_ok());
        assert!(
            matches!(&all[1], Err(RowError::Io { line: 2, .. })),
            "{all:?}"
        );
    }
}
