//! NCMEC hash-sharing API v2 XML pages (`<queryResult>` holding `<images>`, `<videos>` and
//! `<paging>`), read as a stream of quick-xml events: no tree of the page is ever built.
//!
//! Each `<image>` or `<video>` gives one addition per `<md5>`, `<sha1>` or `<pdq>` in its
//! `<fingerprints>`, with the record's `<id>` and its `<classification>` (A1, B2, ...) as the
//! category. Other fingerprints (`<pdna>` for PhotoDNA, `<tmk-pdqf>`, `<videntifier>`, ...)
//! are not hashes hashguard computes and are skipped; a record left with none of the three is
//! a bad row. `<deletedImage>` and `<deletedVideo>` give one removal of every hash under their
//! `<id>`. `<paging><next>` is the next page's URL or token. Namespace prefixes, attributes
//! and whitespace around values are ignored, and element names are matched without case.
//!
//! A page that is not well-formed XML (truncated, misnested, text outside the root) ends the
//! stream with [`RowError::Io`]: a sync must not publish it. A record with bad content (bad hex,
//! wrong length, degenerate hash, no id) is a bad row and reading goes on. Line numbers come
//! from the newlines the parser has consumed: a record's rows carry the line its start tag
//! ends on, a bad fingerprint the line of its own start tag.

use std::cell::RefCell;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::Event;

use super::{ListRow, Op, Paging, Queue, RowError, Step, add_row, bad, parse_hash};
use crate::hashing::HashKind;

/// A reader that counts the newlines consumed through it.
/// Also bounds every XML token (a tag or a text): quick-xml holds a whole token while it reads
/// one, so more than [`super::MAX_LINE`] bytes without a `<` or `>` end the file as malformed.
struct Lines<R> {
    inner: R,
    newlines: u64,
    run: super::CapRun<()>,
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.newlines += count_newlines(&buf[..n]);
        self.run.pass(&buf[..n])?;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Lines<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.run.pass(&[])?;
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        // The bytes being consumed are still in the buffer, so this reads nothing new.
        if amt > 0
            && let Ok(buf) = self.inner.fill_buf()
        {
            let done = &buf[..amt.min(buf.len())];
            self.newlines += count_newlines(done);
            // An overlong run is reported by the next fill_buf.
            let _ = self.run.pass(done);
        }
        self.inner.consume(amt);
    }
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

/// An `<image>`, `<video>` or tombstone being read.
struct Record {
    /// Its element name, for messages.
    tag: String,
    deleted: bool,
    line: u64,
    /// Number of open elements while inside it (its own included).
    depth: usize,
    id: Option<String>,
    classification: Option<String>,
    /// Known fingerprints: kind, text, line.
    fingerprints: Vec<(HashKind, String, u64)>,
}

/// What the text being collected is for.
enum Target {
    Id,
    Classification,
    Fingerprint(HashKind),
    Next,
}

/// The text of an element being collected.
struct Capture {
    target: Target,
    /// Number of open elements while inside it (its own included).
    depth: usize,
    line: u64,
    text: String,
}

/// An event, owned, so that the read buffer is free again.
enum Owned {
    Open(String),
    Empty(String),
    Close,
    Text(String),
    Eof,
    Ignored,
}

/// Streaming reader of an NCMEC XML page.
pub(super) struct NcmecXml<R> {
    xml: Reader<Lines<R>>,
    buf: Vec<u8>,
    /// Local names of the open elements.
    open: Vec<String>,
    seen_root: bool,
    record: Option<Record>,
    capture: Option<Capture>,
    paging: Rc<RefCell<Paging>>,
}

impl<R: BufRead> NcmecXml<R> {
    /// Reads `input`, filling `paging` from the page's `<paging>`.
    pub(super) fn new(input: R, paging: Rc<RefCell<Paging>>) -> Self {
        NcmecXml {
            xml: Reader::from_reader(Lines {
                inner: input,
                newlines: 0,
                run: super::CapRun::new((), b"<>"),
            }),
            buf: Vec::new(),
            open: Vec::new(),
            seen_root: false,
            record: None,
            capture: None,
            paging,
        }
    }

    /// The 1-based line the parser is on.
    fn line(&self) -> u64 {
        self.xml.get_ref().newlines + 1
    }

    fn malformed(&self, message: impl std::fmt::Display) -> RowError {
        RowError::Io {
            line: self.line(),
            message: format!("malformed XML: {message}"),
        }
    }

    /// Reads the next event, keeping the text only where it matters.
    fn next_event(&mut self) -> Result<Owned, RowError> {
        self.buf.clear();
        let keep_text = self.capture.is_some() || self.open.is_empty();
        let event = match self.xml.read_event_into(&mut self.buf) {
            Ok(e) => e,
            Err(e) => {
                let message = e.to_string();
                return Err(self.malformed(message));
            }
        };
        Ok(match event {
            Event::Start(e) => Owned::Open(e.local_name().into_inner().to_string()),
            Event::Empty(e) => Owned::Empty(e.local_name().into_inner().to_string()),
            Event::End(_) => Owned::Close,
            Event::Text(t) if keep_text => Owned::Text(t.xml10_content().into_owned()),
            Event::CData(t) if keep_text => Owned::Text(t.xml10_content().into_owned()),
            Event::GeneralRef(r) if keep_text => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    Ok(None) => resolve_xml_entity(&r).map(str::to_string),
                    Err(_) => None,
                };
                match resolved {
                    Some(s) => Owned::Text(s),
                    None => {
                        let message = format!("unknown entity &{};", &*r);
                        return Err(self.malformed(message));
                    }
                }
            }
            Event::Eof => Owned::Eof,
            _ => Owned::Ignored,
        })
    }

    /// Notes a start tag: a record, a field of the current record, or the paging cursor.
    fn open_element(&mut self, name: &str, line: u64) {
        self.seen_root = true;
        let parent = self.open.last().map(String::as_str).unwrap_or_default();
        let depth = self.open.len() + 1;
        let target = match &self.record {
            None => {
                let deleted = ["deletedImage", "deletedVideo"]
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(name));
                if deleted
                    || ["image", "video"]
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(name))
                {
                    self.record = Some(Record {
                        tag: name.to_string(),
                        deleted,
                        line,
                        depth,
                        id: None,
                        classification: None,
                        fingerprints: Vec::new(),
                    });
                    None
                } else if name.eq_ignore_ascii_case("next") && parent.eq_ignore_ascii_case("paging")
                {
                    Some(Target::Next)
                } else {
                    None
                }
            }
            Some(r) if depth == r.depth + 1 => {
                if name.eq_ignore_ascii_case("id") {
                    Some(Target::Id)
                } else if name.eq_ignore_ascii_case("classification") {
                    Some(Target::Classification)
                } else {
                    None
                }
            }
            Some(r) if depth == r.depth + 2 && parent.eq_ignore_ascii_case("fingerprints") => {
                // Only the kinds hashguard computes; PhotoDNA and the rest are skipped.
                [HashKind::Md5, HashKind::Sha1, HashKind::Pdq]
                    .into_iter()
                    .find(|k| k.name().eq_ignore_ascii_case(name))
                    .map(Target::Fingerprint)
            }
            Some(_) => None,
        };
        if let Some(target) = target {
            self.capture = Some(Capture {
                target,
                depth,
                line,
                text: String::new(),
            });
        }
    }

    /// Closes the innermost element, finishing its capture or record.
    fn close_element(&mut self, out: &mut Queue) {
        let depth = self.open.len();
        self.open.pop();
        if let Some(c) = self.capture.take_if(|c| c.depth == depth) {
            let text = c.text.trim().to_string();
            match (c.target, &mut self.record) {
                (Target::Next, _) => {
                    self.paging.borrow_mut().next = Some(text).filter(|t| !t.is_empty());
                }
                (Target::Id, Some(r)) => r.id = Some(text),
                (Target::Classification, Some(r)) => {
                    r.classification = Some(text).filter(|t| !t.is_empty());
                }
                (Target::Fingerprint(kind), Some(r)) => r.fingerprints.push((kind, text, c.line)),
                _ => {}
            }
        }
        if let Some(r) = self.record.take_if(|r| r.depth == depth) {
            record_rows(r, out);
        }
    }
}

impl<R: BufRead> Step for NcmecXml<R> {
    fn step(&mut self, out: &mut Queue) -> Result<bool, RowError> {
        let event = self.next_event()?;
        let line = self.line();
        match event {
            Owned::Open(name) => {
                self.open_element(&name, line);
                self.open.push(name);
            }
            Owned::Empty(name) => {
                self.open_element(&name, line);
                self.open.push(name);
                self.close_element(out);
            }
            Owned::Close => self.close_element(out),
            Owned::Text(text) => match &mut self.capture {
                Some(c) => c.text.push_str(&text),
                None if !text.trim().is_empty() => {
                    return Err(self.malformed("text outside the root element"));
                }
                None => {}
            },
            Owned::Eof => {
                if let Some(name) = self.open.last() {
                    let message = format!("the page ends inside <{name}>");
                    return Err(self.malformed(message));
                }
                if !self.seen_root {
                    return Err(self.malformed("no root element"));
                }
                let mut paging = self.paging.borrow_mut();
                paging.has_more = Some(paging.next.is_some());
                return Ok(false);
            }
            Owned::Ignored => {}
        }
        Ok(true)
    }
}

/// Queues the rows of a finished record, or the bad row saying why it has none.
fn record_rows(r: Record, out: &mut Queue) {
    let tag = &r.tag;
    let Some(id) = r.id.filter(|id| !id.is_empty()) else {
        out.push_back(Err(bad(r.line, format!("<{tag}> without an <id>"))));
        return;
    };
    if r.deleted {
        out.push_back(Ok(ListRow {
            line: r.line,
            op: Op::Remove,
            id,
            hash: None,
            category: None,
            series: None,
            video: None,
        }));
        return;
    }
    if r.fingerprints.is_empty() {
        out.push_back(Err(bad(
            r.line,
            format!("<{tag}> {id:?} has no md5, sha1 or pdq fingerprint"),
        )));
        return;
    }
    for (kind, hex, line) in &r.fingerprints {
        out.push_back(
            parse_hash(*kind, hex)
                .map(|h| add_row(r.line, &id, h, r.classification.as_deref(), None))
                .map_err(|e| bad(*line, format!("<{tag}> {id:?}: <{kind}>: {e}"))),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::items;
    use super::super::{ListFormat, ReadOptions, read};
    use super::*;

    // MD5/SHA-1-shaped made-up digests and a made-up PDQ hash.
    const MD5: &str = "A1B2C3D4E5F60718293A4B5C6D7E8F90";
    const SHA1: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d";
    const PDQ: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f";

    fn page(body: &str) -> String {
        format!(
            "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
             <queryResult xmlns=\"https://hashsharing.ncmec.org/hashsharing/v2\">\n{body}</queryResult>\n"
        )
    }

    fn summary(text: &str) -> Vec<String> {
        items(ListFormat::NcmecXml, text, None)
            .into_iter()
            .map(|item| match item {
                Ok(r) => format!(
                    "{} {:?} {} {} {}",
                    r.line,
                    r.op,
                    r.id,
                    r.hash.map_or("-".into(), |h| format!("{}:{h}", h.kind())),
                    r.category.unwrap_or_default()
                ),
                Err(RowError::Bad(b)) => format!("{} bad {}", b.line, b.reason),
                Err(RowError::Io { line, message }) => format!("{line} io {message}"),
            })
            .collect()
    }

    #[test]
    fn records_tombstones_and_paging() {
        let text = page(&format!(
            "  <images count=\"2\">\n\
             \x20   <image>\n\
             \x20     <member id=\"42\">Example Member</member>\n\
             \x20     <id> image1 </id>\n\
             \x20     <classification>A1</classification>\n\
             \x20     <fingerprints>\n\
             \x20       <md5>{MD5}</md5>\n\
             \x20       <sha1>{SHA1}</sha1>\n\
             \x20       <pdna>AAAAAAAA...</pdna>\n\
             \x20     </fingerprints>\n\
             \x20     <feedback><members><member id=\"1\">x</member></members></feedback>\n\
             \x20   </image>\n\
             \x20   <deletedImage><member id=\"43\">m</member><id>image4</id></deletedImage>\n\
             \x20 </images>\n\
             \x20 <videos>\n\
             \x20   <video><id>video1</id><fingerprints><pdq>{PDQ}</pdq><tmk-pdqf rel=\"self\" href=\"/x\"/></fingerprints></video>\n\
             \x20   <deletedVideo><id>video4</id></deletedVideo>\n\
             \x20 </videos>\n\
             \x20 <paging><next>/v2/entries?from=2017&amp;start=2001&#38;size=1000</next></paging>\n"
        ));
        let md5 = MD5.to_lowercase();
        assert_eq!(
            summary(&text),
            vec![
                format!("4 Add image1 md5:{md5} A1"),
                format!("4 Add image1 sha1:{SHA1} A1"),
                "15 Remove image4 - ".to_string(),
                format!("18 Add video1 pdq:{PDQ} "),
                "19 Remove video4 - ".to_string(),
            ]
        );
        let mut rows = read(
            ListFormat::NcmecXml,
            text.as_bytes(),
            &ReadOptions::default(),
        );
        assert_eq!(rows.by_ref().count(), 5);
        assert_eq!(
            rows.paging(),
            Paging {
                next: Some("/v2/entries?from=2017&start=2001&size=1000".into()),
                has_more: Some(true)
            }
        );
    }

    #[test]
    fn prefixes_empty_elements_and_a_last_page() {
        let text = format!(
            "<h:queryResult xmlns:h=\"urn:x\"><h:images><h:image><h:id>7</h:id>\
             <h:fingerprints><h:MD5><![CDATA[{MD5}]]></h:MD5></h:fingerprints></h:image>\
             <h:image/><h:deletedImage><h:id/></h:deletedImage></h:images>\
             <h:paging><h:next/></h:paging></h:queryResult>"
        );
        let got = summary(&text);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].starts_with("1 Add 7 md5:"), "{}", got[0]);
        assert_eq!(got[1], "1 bad <h:image> without an <id>".replace("h:", ""));
        assert_eq!(got[2], "1 bad <deletedImage> without an <id>");
        let mut rows = read(
            ListFormat::NcmecXml,
            text.as_bytes(),
            &ReadOptions::default(),
        );
        rows.by_ref().for_each(drop);
        assert_eq!(
            rows.paging(),
            Paging {
                next: None,
                has_more: Some(false)
            }
        );
    }

    #[test]
    fn bad_records_are_bad_rows_and_reading_goes_on() {
        let text = page(&format!(
            "<images>\n\
             <image><id>a</id><fingerprints>\n<md5>{}</md5>\n<sha1>{SHA1}</sha1></fingerprints></image>\n\
             <image><id>b</id><fingerprints><pdna>AAAA</pdna></fingerprints></image>\n\
             <image><id>c</id><fingerprints><pdq>{}</pdq></fingerprints></image>\n\
             <image><id>d</id><fingerprints><md5>{MD5}</md5></fingerprints></image>\n\
             </images>\n",
            &MD5[..30],
            "0".repeat(64)
        ));
        let got = summary(&text);
        assert_eq!(
            got,
            vec![
                "5 bad <image> \"a\": <md5>: md5 hash must be 32 hex characters, got 30"
                    .to_string(),
                format!("4 Add a sha1:{SHA1} "),
                "7 bad <image> \"b\" has no md5, sha1 or pdq fingerprint".to_string(),
                "8 bad <image> \"c\": <pdq>: degenerate pdq hash (never matches)".to_string(),
                format!("9 Add d md5:{} ", MD5.to_lowercase()),
            ]
        );
    }

    #[test]
    fn a_malformed_page_ends_with_a_read_error_naming_the_line() {
        // The first record is read; then the page breaks on line 4.
        let start = format!(
            "<queryResult>\n<images>\n\
             <image><id>x</id><fingerprints><md5>{MD5}</md5></fingerprints></image>\n"
        );
        for (rest, what) in [
            ("<image><id>y</id>", "the page ends inside <image>"),
            (
                "<image><id>y</image>\n</images></queryResult>",
                "ill-formed",
            ),
            ("</images></queryResult></oops>\n", "ill-formed"),
            ("<image><id>y&bogus;</id></image>", "unknown entity &bogus;"),
        ] {
            let text = format!("{start}{rest}");
            let all = items(ListFormat::NcmecXml, &text, None);
            assert!(
                matches!(&all[..], [Ok(_), Err(RowError::Io { line: 4, message })] if message.contains(what)),
                "{text:?}: {all:?}"
            );
        }
        for text in [
            "",
            "   \n",
            "not xml at all",
            "<queryResult>\n</queryResult>\ntrailing",
        ] {
            let all = items(ListFormat::NcmecXml, text, None);
            assert!(
                matches!(&all[..], [Err(RowError::Io { .. })]),
                "{text:?}: {all:?}"
            );
        }
    }
}
