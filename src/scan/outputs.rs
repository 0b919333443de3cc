//! The scan's derived reports: `summary.json`, `matches.csv` for spreadsheets, and a VICS 2.0
//! JSON export of the matches for Griffeye-style review tools.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Error, FILES, MATCHES, MatchRecord, ScanRecord, Totals, io_err, write_synced};

/// Output names.
pub const SUMMARY: &str = "summary.json";
/// Output names.
pub const MATCHES_CSV: &str = "matches.csv";
/// Output names.
pub const VICS: &str = "vics.json";

/// A list the scan matched against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListUsed {
    /// Name.
    pub name: String,
    /// Version used.
    pub version: u32,
    /// Entries in that version.
    pub entries: u64,
    /// The version's order-independent digest, so the exact list content can be proven later.
    pub digest: String,
    /// Hash kinds, with the radius used and their entries.
    pub kinds: Vec<crate::lists::KindMeta>,
}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Case identifier.
    pub case_id: String,
    /// Who ran the scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Machine it ran on.
    pub host: String,
    /// Tool and version.
    pub tool: String,
    /// Source revision of the tool.
    pub tool_revision: String,
    /// Paths scanned, as given.
    pub inputs: Vec<String>,
    /// Whether perceptual hashes were computed.
    pub perceptual: bool,
    /// Start (seconds since the Unix epoch; of the first run when resumed).
    pub started_at: u64,
    /// End (seconds since the Unix epoch).
    pub finished_at: u64,
    /// Lists and versions used.
    pub lists: Vec<ListUsed>,
    /// Totals: found = match + clean + decode_failed + unreadable + too_large + skipped.
    pub totals: Totals,
}

/// This machine's host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Writes summary.json, matches.csv and vics.json from the finished scan in `dir`.
pub fn write_all(dir: &Path, summary: &Summary) -> Result<(), Error> {
    let body = serde_json::to_vec_pretty(summary).map_err(|e| Error::Io {
        what: "encoding summary.json".into(),
        source: e.into(),
    })?;
    write_synced(&dir.join(SUMMARY), &body)?;

    let matches = read_matches(dir)?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    let row_err = |e: csv::Error| Error::Io {
        what: "encoding matches.csv".into(),
        source: e.into(),
    };
    csv.write_record([
        "seq",
        "path",
        "list",
        "list_version",
        "entry",
        "kind",
        "distance",
        "category",
        "frame_ts",
        "frames_matched",
        "video_match",
        "query_share",
        "listed_share",
    ])
    .map_err(row_err)?;
    for m in &matches {
        let row = [
            m.seq.to_string(),
            m.path.clone(),
            m.hit.list.clone(),
            m.hit.list_version.to_string(),
            m.hit.entry.clone(),
            m.hit.kind.to_string(),
            m.hit.distance.to_string(),
            m.hit.category.clone().unwrap_or_default(),
            m.hit
                .frame_ts
                .map(|t| format!("{t:.3}"))
                .unwrap_or_default(),
            m.hit
                .frames_matched
                .map(|n| n.to_string())
                .unwrap_or_default(),
            m.hit
                .video
                .as_ref()
                .map(|v| v.kind.name().to_string())
                .unwrap_or_default(),
            m.hit
                .video
                .as_ref()
                .map(|v| format!("{:.4}", v.query_share))
                .unwrap_or_default(),
            m.hit
                .video
                .as_ref()
                .map(|v| format!("{:.4}", v.listed_share))
                .unwrap_or_default(),
        ];
        // Paths of seized files and list entries are text an adversary chose.
        csv.write_record(row.iter().map(|c| crate::csv_cell::safe(c).into_owned()))
            .map_err(row_err)?;
    }
    let body = csv.into_inner().map_err(|e| Error::Io {
        what: "encoding matches.csv".into(),
        source: e.into_error(),
    })?;
    write_synced(&dir.join(MATCHES_CSV), &body)?;

    let vics = vics_export(dir, summary, &matches)?;
    let body = serde_json::to_vec_pretty(&vics).map_err(|e| Error::Io {
        what: "encoding vics.json".into(),
        source: e.into(),
    })?;
    write_synced(&dir.join(VICS), &body)
}

fn read_matches(dir: &Path) -> Result<Vec<MatchRecord>, Error> {
    let f = File::open(dir.join(MATCHES)).map_err(io_err(MATCHES))?;
    let mut out = Vec::new();
    for line in BufReader::new(f).lines() {
        let line = line.map_err(io_err(MATCHES))?;
        out.push(serde_json::from_str(&line).map_err(|e| Error::Io {
            what: "reading matches.jsonl".into(),
            source: e.into(),
        })?);
    }
    Ok(out)
}

/// VICS 2.0 (Project VIC's OData JSON): one case, one Media item per matched file, with its
/// digests, size, path and the matches as comments. A list category that is a number is the
/// VICS `Category`; any other category text goes to `Tags`, never guessed into a number.
fn vics_export(
    dir: &Path,
    summary: &Summary,
    matches: &[MatchRecord],
) -> Result<serde_json::Value, Error> {
    let matched: HashSet<u64> = matches.iter().map(|m| m.seq).collect();
    let mut by_seq: BTreeMap<u64, Vec<&MatchRecord>> = BTreeMap::new();
    for m in matches {
        by_seq.entry(m.seq).or_default().push(m);
    }
    let mut media = Vec::new();
    let f = File::open(dir.join(FILES)).map_err(io_err(FILES))?;
    for line in BufReader::new(f).lines() {
        let line = line.map_err(io_err(FILES))?;
        if matched.is_empty() {
            break;
        }
        // Cheap filter before parsing: only matched records matter here.
        if !line.contains("\"outcome\":\"match\"") {
            continue;
        }
        let r: ScanRecord = serde_json::from_str(&line).map_err(|e| Error::Io {
            what: "reading files.jsonl".into(),
            source: e.into(),
        })?;
        let Some(ms) = by_seq.get(&r.seq) else {
            continue;
        };
        let numeric = ms
            .iter()
            .filter_map(|m| m.hit.category.as_deref()?.trim().parse::<u32>().ok())
            .min();
        let tags: Vec<&str> = ms
            .iter()
            .filter_map(|m| m.hit.category.as_deref())
            .filter(|c| c.trim().parse::<u32>().is_err())
            .collect();
        let comments: Vec<String> = ms
            .iter()
            .map(|m| {
                let at = match &m.hit.video {
                    Some(v) => format!(
                        " {} ({:.0}% of the file, {:.0}% of the listed video)",
                        v.kind.name(),
                        100.0 * v.query_share,
                        100.0 * v.listed_share
                    ),
                    None => m
                        .hit
                        .frame_ts
                        .map(|t| format!(" at {t:.1} s"))
                        .unwrap_or_default(),
                };
                format!(
                    "{} v{} entry {} ({} distance {}){at}",
                    m.hit.list, m.hit.list_version, m.hit.entry, m.hit.kind, m.hit.distance
                )
            })
            .collect();
        let path = Path::new(&r.file.path);
        let mut item = serde_json::json!({
            "MediaID": r.seq + 1,
            "MD5": r.file.md5.map(|h| h.to_hex().to_uppercase()),
            "SHA1": r.file.sha1.map(|h| h.to_hex().to_uppercase()),
            "MediaSize": r.file.size,
            "RelativeFilePath": path.parent().map(|p| p.to_string_lossy().into_owned()),
            "FileName": path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "IsPrecategorized": true,
            "Comments": comments.join("; "),
        });
        if let Some(c) = numeric {
            item["Category"] = c.into();
        }
        if !tags.is_empty() {
            item["Tags"] = tags.into();
        }
        if let Some(p) = r.file.pdq {
            item["PDQ"] = p.to_hex().into();
        }
        media.push(item);
    }
    Ok(serde_json::json!({
        "@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Cases",
        "value": [{
            "CaseNumber": summary.case_id,
            "SourceApplicationName": "hashguard",
            "SourceApplicationVersion": env!("CARGO_PKG_VERSION"),
            "Media": media,
        }],
    }))
}
