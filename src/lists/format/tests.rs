use super::*;

/// Every item [`read`] yields for `text`, read errors included.
pub(super) fn items(
    format: ListFormat,
    text: &str,
    kind: Option<HashKind>,
) -> Vec<Result<ListRow, RowError>> {
    read(
        format,
        text.as_bytes(),
        &ReadOptions {
            kind,
            ..Default::default()
        },
    )
    .collect()
}

/// Reads `text` into its rows and bad rows; panics on a read error.
pub(super) fn collect(
    format: ListFormat,
    text: &str,
    kind: Option<HashKind>,
) -> (Vec<ListRow>, Vec<BadRow>) {
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for r in read(
        format,
        text.as_bytes(),
        &ReadOptions {
            kind,
            ..Default::default()
        },
    ) {
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
        video: None,
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
            ListFormat::VpdqFrames,
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
            // Videos carry frames: their round trip is `video_rows_round_trip_through_jsonl`.
            prop::sample::select(
                HashKind::ALL
                    .into_iter()
                    .filter(|k| *k != HashKind::Vpdq)
                    .collect::<Vec<_>>(),
            ),
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
        (op_hash, "\\PC{1,40}", text(), text()).prop_map(|((op, hash), id, category, series)| {
            ListRow {
                line: 1,
                op,
                id,
                hash,
                category,
                series,
                video: None,
            }
        })
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

#[test]
fn an_endless_line_is_one_bad_row_in_every_line_format() {
    for format in [ListFormat::Plain, ListFormat::Jsonl, ListFormat::VpdqFrames] {
        let good = match format {
            ListFormat::Jsonl => format!("{{\"id\":\"a\",\"kind\":\"pdq\",\"hash\":\"{PDQ}\"}}"),
            ListFormat::VpdqFrames => format!("0,100,{PDQ},0.000"),
            _ => PDQ.to_string(),
        };
        // A line just over the limit between good ones, read through a small buffer so that
        // it arrives in many pieces; and one at the very end without a newline.
        let long = "a".repeat(MAX_LINE + 1);
        let text = format!("{good}\n{long}\n{good}\n{long}");
        let input = std::io::BufReader::with_capacity(4096, text.as_bytes());
        let (mut ok, mut bad) = (0, Vec::new());
        for r in read(
            format,
            input,
            &ReadOptions {
                kind: Some(HashKind::Pdq),
                ..Default::default()
            },
        ) {
            match r {
                Ok(_) => ok += 1,
                Err(RowError::Bad(b)) => bad.push(b),
                Err(e) => panic!("{format}: {e:?}"),
            }
        }
        assert_eq!(ok, 2, "{format}");
        assert_eq!(
            bad.iter().map(|b| b.line).collect::<Vec<_>>(),
            [2, 4],
            "{format}"
        );
        assert!(
            bad[0].reason.contains("limit"),
            "{format}: {}",
            bad[0].reason
        );
    }
}

/// Record formats (CSV, XML, JSON documents) never hold an endless record or token: the JSON
/// scanner skips one as a bad row, and the CSV and XML readers end the file as malformed (past
/// an unbounded field or token, record boundaries cannot be trusted), after the rows before it.
#[test]
fn an_endless_record_or_token_is_bounded_in_every_record_format() {
    let md5 = "0cc175b9c0f1b6a831c399e269772661";
    let long = "a".repeat(MAX_LINE + 1);
    let cases = [
        (
            ListFormat::TeCsv,
            format!("{md5},1,,\n{md5}{long},2,,\n{md5},3,,\n"),
        ),
        (
            ListFormat::Icse,
            format!("MD5;SHA1\n{md5};\n\"{long};\n{md5};\n"),
        ),
        (
            ListFormat::NcmecXml,
            format!(
                "<queryResult><images><image><id>1</id><fingerprints><md5>{md5}</md5>\
                 </fingerprints></image><image><id>{long}</id></image></images></queryResult>"
            ),
        ),
    ];
    for (format, text) in cases {
        let input = std::io::BufReader::with_capacity(4096, text.as_bytes());
        let (mut ok, mut ended) = (0, None);
        for r in read(format, input, &ReadOptions::default()) {
            match r {
                Ok(_) => ok += 1,
                Err(RowError::Io { message, .. }) => ended = Some(message),
                Err(RowError::Bad(b)) => panic!("{format}: {b:?}"),
            }
        }
        assert_eq!(ok, 1, "{format}: the row before the long one");
        let message = ended.unwrap_or_else(|| panic!("{format}: not stopped"));
        assert!(message.contains("limit"), "{format}: {message}");
    }
}

fn video_text(id_line: &str) -> String {
    format!(
        "{id_line}# duration: 3.5\n# md5: 900150983cd24fb0d6963f7d28e17f72\n0,100,{PDQ},0.000\n25,90,{},1.000\n50,10,{PDQ},2.000\n",
        "0123456789abcdef".repeat(4)
    )
}

#[test]
fn a_vpdq_file_is_one_video_entry_named_by_its_header_or_file() {
    let (rows, bad) = collect_video(&video_text("# id: clip-7\n"), Some("fallback"));
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(rows.len(), 2, "the video and its MD5");
    let v = rows[0].video.as_ref().expect("frames");
    assert_eq!(
        (rows[0].id.as_str(), v.frames.len(), v.duration_ms),
        ("clip-7", 3, 3500)
    );
    assert_eq!(rows[0].hash, Some(AnyHash::Vpdq(v.digest())));
    assert_eq!(v.frames[1].number, 25);
    assert_eq!(
        (rows[1].id.as_str(), rows[1].hash.map(|h| h.kind())),
        ("clip-7", Some(HashKind::Md5))
    );
    // Without a header the file name names it; with neither, it is a bad row.
    let (rows, _) = collect_video(&video_text(""), Some("from-file"));
    assert_eq!(rows[0].id, "from-file");
    let (rows, bad) = collect_video(&video_text(""), None);
    assert!(rows.is_empty());
    assert!(bad[0].reason.contains("needs an id"), "{bad:?}");
    // One bad frame line makes the whole video a bad row naming the line.
    let broken = format!("{}0,100,zz,3.0\n", video_text("# id: v\n"));
    let (rows, bad) = collect_video(&broken, None);
    assert!(rows.is_empty());
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].line, 7, "{bad:?}");
}

fn collect_video(text: &str, id: Option<&str>) -> (Vec<ListRow>, Vec<BadRow>) {
    let opts = ReadOptions {
        video_id: id.map(str::to_string),
        ..Default::default()
    };
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for r in read(ListFormat::Vpdq, text.as_bytes(), &opts) {
        match r {
            Ok(row) => ok.push(row),
            Err(RowError::Bad(b)) => bad.push(b),
            Err(e) => panic!("{e:?}"),
        }
    }
    (ok, bad)
}

#[test]
fn video_rows_round_trip_through_jsonl() {
    let (rows, _) = collect_video(&video_text("# id: v1\n"), None);
    let mut out = Vec::new();
    for r in &rows {
        write_jsonl(&mut out, r).unwrap();
    }
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("\"frames\":[{\"number\":0,\"ts\":0.0,\"quality\":100,"),
        "{text}"
    );
    let back: Vec<ListRow> = read(ListFormat::Jsonl, text.as_bytes(), &ReadOptions::default())
        .map(|r| ListRow {
            line: 1,
            ..r.unwrap()
        })
        .collect();
    assert_eq!(back, rows);
    // A hash that is not the frames' digest, and frames on another kind, are refused.
    let first = text.lines().next().unwrap();
    let at = first.find("\"hash\":\"").unwrap() + 8;
    let forged = format!("{}{}{}", &first[..at], "1".repeat(64), &first[at + 64..]);
    let (_, bad) = collect(ListFormat::Jsonl, &forged, None);
    assert!(bad[0].reason.contains("not the digest"), "{bad:?}");
    let misplaced = format!("{{\"id\":\"x\",\"kind\":\"pdq\",\"hash\":\"{PDQ}\",\"frames\":[]}}");
    let (_, bad) = collect(ListFormat::Jsonl, &misplaced, None);
    assert!(bad[0].reason.contains("only to"), "{bad:?}");
}

#[test]
fn threatexchange_video_signals_are_read() {
    let frames = format!(
        "[\"{PDQ},100,0.0\", \"{},80,1.0\"]",
        "0123456789abcdef".repeat(4)
    );
    let quoted = frames.replace('"', "\"\"");
    // The dataset export: type, signal, collab, category, tags.
    let text = format!(
        "signal_type,signal_str,collab,category,tags\nvpdq,\"{quoted}\",c,A1,x y\nvideo_md5,900150983cd24fb0d6963f7d28e17f72,c,B2,\nurl,http://x,c,A1,\n"
    );
    let (ok, bad) = collect(ListFormat::TeCsv, &text, None);
    assert_eq!(ok.len(), 2, "{ok:?} {bad:?}");
    let v = ok[0].video.as_ref().expect("a video");
    assert_eq!(
        (v.frames.len(), v.frames[1].ts_ms, v.frames[1].quality),
        (2, 1000, 80)
    );
    assert_eq!(
        ok[0].id,
        v.digest().to_hex(),
        "the export has no ids: the signal names it"
    );
    assert_eq!(ok[0].category.as_deref(), Some("A1"));
    assert_eq!(ok[1].hash.map(|h| h.kind()), Some(HashKind::Md5));
    assert_eq!(bad.len(), 1, "an unknown signal type is a bad row: {bad:?}");
    // The per-type indicator files: a JSON-list indicator is a video.
    let text = format!("\"{quoted}\",1234,2024-01-01,A1\n");
    let (ok, bad) = collect(ListFormat::TeCsv, &text, None);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(
        (ok[0].id.as_str(), ok[0].hash.map(|h| h.kind())),
        ("1234", Some(HashKind::Vpdq))
    );
}

#[test]
fn the_longest_video_fits_one_json_line() {
    use crate::hashing::vpdq::VideoFrame;
    use crate::lists::video::{MAX_FRAMES, VideoEntry};
    // 8 h 20 min of a 29.97 fps source sampled at 1 fps: large frame numbers and times.
    let frames = (0..MAX_FRAMES as u64)
        .map(|k| VideoFrame {
            number: k * 30 + 29,
            ts_ms: k * 1001 + 999,
            pdq: PDQ.parse().unwrap(),
            quality: 100,
        })
        .collect();
    let v = std::sync::Arc::new(VideoEntry::new(frames, None).unwrap());
    let row = ListRow {
        line: 1,
        op: Op::Add,
        id: "long".into(),
        hash: Some(AnyHash::Vpdq(v.digest())),
        category: Some("A1".into()),
        series: None,
        video: Some(v),
    };
    let mut out = Vec::new();
    write_jsonl(&mut out, &row).unwrap();
    assert!(out.len() < MAX_LINE, "{} bytes", out.len());
    let back: Vec<_> = read(ListFormat::Jsonl, &out[..], &ReadOptions::default()).collect();
    assert_eq!(back, vec![Ok(row)]);
}
