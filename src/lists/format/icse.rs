//! Interpol ICSE exports: semicolon-separated, with a header line such as
//! `MD5;SHA1;PhotoDNA;Image ID;Category;Series name;...`.
//!
//! Columns are found by header name (case, spaces, `_` and `-` ignored; `Series name` or
//! `Series`), so their order and any other columns do not matter; a header naming neither MD5
//! nor SHA1 ends the stream with an error. Each filled MD5 and SHA1 becomes a row whose id is
//! the Image ID (else the lower-case MD5, else the lower-case SHA1), with the Category and
//! Series columns when present. PhotoDNA is not a hash hashguard computes, so it is skipped; a
//! record with only PhotoDNA is a bad row saying so. Records whose fields are all empty are
//! not records and are skipped.

use std::io::Read;

use super::{Queue, RowError, Step, add_row, bad, csv_error, csv_field, parse_hash};
use crate::hashing::HashKind;

/// Where each field is, from the header.
struct Columns {
    md5: Option<usize>,
    sha1: Option<usize>,
    id: Option<usize>,
    category: Option<usize>,
    series: Option<usize>,
}

/// Streaming reader of an ICSE export.
pub(super) struct Icse<R> {
    csv: csv::Reader<R>,
    record: csv::ByteRecord,
    /// Known once the header line has been read.
    columns: Option<Columns>,
}

impl<R: Read> Icse<R> {
    /// Reads `input`.
    pub(super) fn new(input: R) -> Self {
        Icse {
            csv: csv::ReaderBuilder::new()
                .delimiter(b';')
                .has_headers(false)
                .flexible(true)
                .from_reader(input),
            record: csv::ByteRecord::new(),
            columns: None,
        }
    }
}

impl<R: Read> Step for Icse<R> {
    fn step(&mut self, out: &mut Queue) -> Result<bool, RowError> {
        if !self
            .csv
            .read_byte_record(&mut self.record)
            .map_err(csv_error)?
        {
            return Ok(false);
        }
        let line = self.record.position().map_or(0, |p| p.line());
        let Some(columns) = &self.columns else {
            let columns = header(&self.record);
            if columns.md5.is_none() && columns.sha1.is_none() {
                return Err(RowError::Io {
                    line,
                    message: "the ICSE header names no MD5 or SHA1 column".into(),
                });
            }
            self.columns = Some(columns);
            return Ok(true);
        };
        if self.record.iter().all(|f| f.trim_ascii().is_empty()) {
            return Ok(true);
        }
        let get = |i: Option<usize>, name: &str| csv_field(&self.record, i, name);
        let fields = (|| {
            Ok::<_, String>((
                get(columns.md5, "MD5")?,
                get(columns.sha1, "SHA1")?,
                get(columns.id, "Image ID")?,
                get(columns.category, "Category")?,
                get(columns.series, "Series name")?,
            ))
        })();
        let (md5, sha1, image_id, category, series) = match fields {
            Ok(f) => f,
            Err(reason) => {
                out.push_back(Err(bad(line, reason)));
                return Ok(true);
            }
        };
        if md5.is_empty() && sha1.is_empty() {
            out.push_back(Err(bad(
                line,
                "no MD5 or SHA1 (PhotoDNA alone is not supported)",
            )));
            return Ok(true);
        }
        let id = if !image_id.is_empty() {
            image_id.to_string()
        } else if !md5.is_empty() {
            md5.to_ascii_lowercase()
        } else {
            sha1.to_ascii_lowercase()
        };
        let category = (!category.is_empty()).then_some(category);
        let series = (!series.is_empty()).then_some(series);
        for (kind, hex, name) in [(HashKind::Md5, md5, "MD5"), (HashKind::Sha1, sha1, "SHA1")] {
            if hex.is_empty() {
                continue;
            }
            out.push_back(
                parse_hash(kind, hex)
                    .map(|h| add_row(line, &id, h, category, series))
                    .map_err(|e| bad(line, format!("{name}: {e}"))),
            );
        }
        Ok(true)
    }
}

/// The columns a header line names.
fn header(record: &csv::ByteRecord) -> Columns {
    let names: Vec<String> = record
        .iter()
        .map(|f| {
            String::from_utf8_lossy(f)
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
                .flat_map(char::to_lowercase)
                .collect()
        })
        .collect();
    let find = |want: &[&str]| names.iter().position(|n| want.contains(&n.as_str()));
    Columns {
        md5: find(&["md5"]),
        sha1: find(&["sha1"]),
        id: find(&["imageid"]),
        category: find(&["category"]),
        series: find(&["seriesname", "series"]),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{collect, items};
    use super::super::{ListFormat, RowError};

    // MD5 and SHA-1 of "icse-1", "icse-2" (upper case as ICSE writes them).
    const MD5_1: &str = "6A1D2C0FB8E1D4C1B2E3F405162738A9";
    const SHA1_1: &str = "0F1E2D3C4B5A69788796A5B4C3D2E1F00A1B2C3D";
    const MD5_2: &str = "b7c6d5e4f30211a0b9c8d7e6f5a4b3c2";

    #[test]
    fn columns_by_header_name_and_one_row_per_hash() {
        let text = format!(
            "\u{feff}MD5;SHA1;PhotoDNA;Image ID;Category;Series name;Notes\n\
             {MD5_1};{SHA1_1};AAAA;img-1;1;series a;x\n\
             {MD5_2};;;;2;;\n\
             ;;;;;;\n"
        );
        let (ok, bad) = collect(ListFormat::Icse, &text, None);
        assert!(bad.is_empty(), "{bad:?}");
        let got: Vec<String> = ok
            .iter()
            .map(|r| {
                let kind = r.hash.map_or("-".into(), |h| h.kind().to_string());
                let (category, series) = (r.category.as_deref(), r.series.as_deref());
                format!("{} {} {kind} {category:?} {series:?}", r.line, r.id)
            })
            .collect();
        let md5_2 = MD5_2.to_string();
        assert_eq!(
            got,
            vec![
                "2 img-1 md5 Some(\"1\") Some(\"series a\")".to_string(),
                "2 img-1 sha1 Some(\"1\") Some(\"series a\")".to_string(),
                format!("3 {md5_2} md5 Some(\"2\") None"),
            ]
        );
        assert_eq!(
            ok[0].hash.map(|h| h.to_string()),
            Some(MD5_1.to_lowercase())
        );
    }

    #[test]
    fn other_column_order_and_fallback_ids() {
        let text = format!("series;sha-1;image_id;md5\ns;{SHA1_1};;\n");
        let (ok, _) = collect(ListFormat::Icse, &text, None);
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].id, SHA1_1.to_lowercase());
        assert_eq!(ok[0].series.as_deref(), Some("s"));
    }

    #[test]
    fn malformed_records_are_bad_rows_and_the_rest_still_reads() {
        let text = format!(
            "MD5;SHA1;PhotoDNA;Image ID\n\
             ;;AAAA;photodna-only\n\
             {};{SHA1_1};;both\n\
             {MD5_2};da39a3ee5e6b4b0d3255bfef95601890afd80709;;empty-sha1\n\
             {MD5_2}\n",
            &MD5_1[..30]
        );
        let (ok, bad) = collect(ListFormat::Icse, &text, None);
        let ids: Vec<(u64, &str)> = ok.iter().map(|r| (r.line, r.id.as_str())).collect();
        let md5_2 = MD5_2.to_string();
        assert_eq!(
            ids,
            vec![(3, "both"), (4, "empty-sha1"), (5, md5_2.as_str())]
        );
        let got: Vec<(u64, &str)> = bad.iter().map(|b| (b.line, b.reason.as_str())).collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].0, 2);
        assert!(got[0].1.contains("PhotoDNA alone"), "{}", got[0].1);
        assert_eq!(got[1].0, 3);
        assert!(
            got[1].1.starts_with("MD5: md5 hash must be 32"),
            "{}",
            got[1].1
        );
        assert_eq!(got[2].0, 4);
        assert!(got[2].1.starts_with("SHA1: degenerate"), "{}", got[2].1);
    }

    #[test]
    fn a_header_without_hash_columns_ends_the_stream() {
        let all = items(ListFormat::Icse, "Name;PhotoDNA\nx;AAAA\n", None);
        assert_eq!(all.len(), 1);
        assert!(
            matches!(&all[0], Err(RowError::Io { line: 1, message }) if message.contains("no MD5 or SHA1")),
            "{all:?}"
        );
    }
}
