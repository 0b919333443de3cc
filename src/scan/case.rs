//! The scan as a CASE/UCO graph (`case.jsonld`, JSON-LD, CASE 1.5.0 / UCO 1.5.0), for forensic
//! tools that exchange evidence in the Cyber-investigation Analysis Standard Expression
//! (<https://caseontology.org>).
//!
//! The mapping, checked with `case_validate` from case-utils 0.18.0 (`scripts/case-validate.sh`;
//! the fixtures under `testdata/case/` are validated outputs of this module):
//!
//! - `case-investigation:Investigation` named by the case id, whose object is the scan;
//! - `uco-tool:AnalyticTool` hashguard with its version, and its source revision (when known)
//!   as the `uco-tool:buildID` of a `uco-tool:BuildFacet`;
//! - `uco-identity:Person` for the operator, when the summary names one (the scan's performer);
//! - `case-investigation:InvestigativeAction` "hashguard scan": start and end times, the tool as
//!   instrument, the operator as performer, the inputs as objects (one `uco-observable:File`
//!   each, with a `FileFacet`), and as results every scanned file and every match annotation;
//!   host, lists (name, version, entries, digest) and totals as descriptions;
//! - one `uco-observable:File` per record of `files.jsonl`: a `FileFacet` (name, path, size), a
//!   `ContentDataFacet` (size; MD5, SHA-1, SHA-256 as `uco-types:Hash`) when anything was read,
//!   the outcome as the tag `outcome:<code>`, and as descriptions the raw path bytes of a non-UTF-8
//!   name (`path_hex:…`), the perceptual hashes (`pdq:…`, `pdq_quality:…`, `phash:…`, `dhash:…`)
//!   and why something is missing (`unreadable: permission denied`). Perceptual hashes are not
//!   `uco-types:Hash`es: UCO's hash methods are a closed vocabulary (MD5 … SSDEEP) and any other
//!   method is reported by `case_validate`, so they are plain text. Video frames are left out;
//!   they stay in `files.jsonl`;
//! - a record with a `container` field (ancestor paths, outermost first) gets a
//!   `uco-observable:ObservableRelationship` `Contained_Within` to its immediate container;
//! - one `uco-core:Annotation` per line of `matches.jsonl`: its object is the matched file, its
//!   `uco-core:statement` says which list entry matched how ("matched list L version V entry E
//!   (kind K, distance D, category C)"), its tags are `match`, `list:L` and `category:C`. An
//!   Annotation (an Assertion about objects) is how the CASE examples attach a finding to an
//!   object (`exif_data`, `forensic_lifecycle`); `uco-analysis:AnalyticResult` would need the scan
//!   typed as `uco-analysis:Analysis` and has no property naming the file the result is about.
//!
//! Identifiers are `kb:<kind>-<uuid>` where `kb` is `https://hashguard.invalid/case/<case id,
//! percent-encoded>/` and the UUID is derived from SHA-256 over the case id, the kind and what
//! identifies the node (a file by its path, or its raw bytes when not UTF-8; a match by record,
//! list, version, entry and kind). The same scan always gives the same graph, byte for byte,
//! and a file's id can be computed from its path alone, so containers are linked without a
//! table of every file in memory. The UUID has version nibble 5 and the RFC 4122 variant: UCO
//! suggests ids ending in a UUID of versions 0–5 and `case_validate` flags any other. It is not a
//! real version-5 UUID (that one uses SHA-1 over a namespace UUID).
//!
//! `files.jsonl` and `matches.jsonl` are streamed, never held in memory: files.jsonl is read
//! twice (the scan's result list, then the file nodes), matches.jsonl twice likewise. What is
//! kept is only the keys of records whose path is not UTF-8, so that matches and container
//! references, which carry the lossy UTF-8 path, still reach the right node.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::outputs;
use super::{Error, FILES, MATCHES, MatchRecord, Outcome, ScanRecord, io_err, sync_dir};

/// Output name.
pub const CASE: &str = "case.jsonld";
const CASE_TMP: &str = "case.jsonld.tmp";

/// Where the graph's own nodes live: not dereferenceable (`.invalid`), one namespace per case.
const BASE: &str = "https://hashguard.invalid/case/";

/// Writes `out/case.jsonld` from the finished scan in `out` (`files.jsonl`, `matches.jsonl`)
/// and its summary: to `case.jsonld.tmp`, synced, then renamed into place.
pub fn write(out: &Path, summary: &outputs::Summary) -> Result<(), Error> {
    let tmp = out.join(CASE_TMP);
    if let Err(e) = write_graph(out, &tmp, summary) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, out.join(CASE)).map_err(io_err(format!("replacing {CASE}")))?;
    sync_dir(out)
}

fn write_err(source: io::Error) -> Error {
    Error::Io {
        what: format!("writing {CASE}"),
        source,
    }
}

fn write_graph(out: &Path, tmp: &Path, summary: &outputs::Summary) -> Result<(), Error> {
    let ids = Ids {
        case_id: summary.case_id.clone(),
    };
    let file = File::create(tmp).map_err(io_err(format!("creating {}", tmp.display())))?;
    let mut g = Graph {
        w: BufWriter::with_capacity(1 << 16, file),
        first: true,
        first_item: true,
    };
    g.begin(&context(&summary.case_id)).map_err(write_err)?;

    let (tool_id, tool) = tool_node(&ids, summary);
    g.node(&tool).map_err(write_err)?;
    let operator = summary.operator.as_deref().filter(|o| !o.is_empty());
    let person_id = operator.map(|name| ids.id("person", &[name]));
    if let (Some(id), Some(name)) = (&person_id, operator) {
        g.node(&json!({
            "@id": id,
            "@type": "uco-identity:Person",
            "uco-core:name": name,
        }))
        .map_err(write_err)?;
    }
    let (started, finished) = (
        summary.started_at.to_string(),
        summary.finished_at.to_string(),
    );
    let action_id = ids.id("scan", &[started.as_str(), finished.as_str()]);
    g.node(&json!({
        "@id": ids.id("investigation", &[]),
        "@type": "case-investigation:Investigation",
        "uco-core:name": summary.case_id,
        "case-investigation:investigationForm": "case",
        "uco-core:object": [reference(&action_id)],
    }))
    .map_err(write_err)?;

    // The scan, its result list streamed from a first pass over both JSONL files.
    let head = action_head(&ids, summary, &action_id, &tool_id, person_id.as_deref());
    g.open_list(&head, "uco-action:result").map_err(write_err)?;
    let mut non_utf8 = NonUtf8::default();
    for_each_line(out, FILES, |n, text| {
        let r: RecordPath = parse(text, FILES, n)?;
        let key = file_key(&r.path, r.path_hex.as_deref());
        if r.path_hex.is_some() {
            non_utf8.remember(r.seq, &r.path, &key);
        }
        g.item(&reference(&ids.id("file", &[key.as_str()])))
            .map_err(write_err)
    })?;
    for_each_line(out, MATCHES, |n, text| {
        let m: MatchRecord = parse(text, MATCHES, n)?;
        g.item(&reference(&match_id(&ids, &m))).map_err(write_err)
    })?;
    g.close_list().map_err(write_err)?;

    // The evidence as given.
    for input in &summary.inputs {
        let key = file_key(input, None);
        g.node(&json!({
            "@id": ids.id("file", &[key.as_str()]),
            "@type": "uco-observable:File",
            "uco-core:hasFacet": [file_facet(&ids, &key, input, None)],
        }))
        .map_err(write_err)?;
    }

    // Every record, and where it was contained.
    for_each_line(out, FILES, |n, text| {
        let r: ScanRecord = parse(text, FILES, n)?;
        let key = file_key(&r.file.path, r.file.path_hex.as_deref());
        let file_id = ids.id("file", &[key.as_str()]);
        g.node(&file_node(&ids, &key, &file_id, &r))
            .map_err(write_err)?;
        // Cheap filter before parsing the line again, leniently (the field may not exist yet).
        if text.contains("\"container\"") {
            let v: Value = parse(text, FILES, n)?;
            if let Some(container_key) = immediate_container(&v, &non_utf8) {
                let container_id = ids.id("file", &[container_key.as_str()]);
                // The container's own record defines it fully; this makes the target a typed
                // File even when the container has no record (same triple, merged by RDF).
                g.node(&json!({"@id": container_id, "@type": "uco-observable:File"}))
                    .map_err(write_err)?;
                g.node(&json!({
                    "@id": ids.id("contained-within", &[key.as_str(), container_key.as_str()]),
                    "@type": "uco-observable:ObservableRelationship",
                    "uco-core:source": reference(&file_id),
                    "uco-core:target": reference(&container_id),
                    "uco-core:kindOfRelationship": "Contained_Within",
                    "uco-core:isDirectional": true,
                }))
                .map_err(write_err)?;
            }
        }
        Ok(())
    })?;

    // Every match.
    for_each_line(out, MATCHES, |n, text| {
        let m: MatchRecord = parse(text, MATCHES, n)?;
        let key = non_utf8
            .key_of_seq(m.seq)
            .unwrap_or_else(|| file_key(&m.path, None));
        g.node(&annotation(&ids, &m, &ids.id("file", &[key.as_str()])))
            .map_err(write_err)
    })?;

    let file = g.end().map_err(write_err)?;
    file.sync_all().map_err(write_err)
}

/// The JSON-LD context: the CASE/UCO namespaces used, and `kb` for this case's nodes.
fn context(case_id: &str) -> Value {
    json!({
        "kb": format!("{BASE}{}/", iri_segment(case_id)),
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "case-investigation": "https://ontology.caseontology.org/case/investigation/",
        "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
        "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
        "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
        "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
        "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
        "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    })
}

/// The analytic tool, with its revision as build information when known.
fn tool_node(ids: &Ids, s: &outputs::Summary) -> (String, Value) {
    let (name, version) = match s.tool.split_once(' ') {
        Some((name, version)) => (name, Some(version).filter(|v| !v.is_empty())),
        None => (s.tool.as_str(), None),
    };
    let name = if name.is_empty() { "hashguard" } else { name };
    let parts = [s.tool.as_str(), s.tool_revision.as_str()];
    let id = ids.id("tool", &parts);
    let mut tool = json!({
        "@id": id,
        "@type": "uco-tool:AnalyticTool",
        "uco-core:name": name,
        "uco-tool:toolType": "perceptual and exact hash matcher",
    });
    if let Some(v) = version {
        tool["uco-tool:version"] = json!(v);
    }
    let rev = s.tool_revision.as_str();
    if !rev.is_empty() && rev != "unknown" {
        let mut build = json!({
            "@id": ids.id("build-information", &parts),
            "@type": "uco-tool:BuildInformationType",
            "uco-tool:buildID": rev,
        });
        if let Some(v) = version {
            build["uco-tool:buildVersion"] = json!(v);
        }
        tool["uco-core:hasFacet"] = json!([{
            "@id": ids.id("build-facet", &parts),
            "@type": "uco-tool:BuildFacet",
            "uco-tool:buildInformation": build,
        }]);
    }
    (id, tool)
}

/// The scan action without its result list (streamed after it).
fn action_head(
    ids: &Ids,
    s: &outputs::Summary,
    action_id: &str,
    tool_id: &str,
    person_id: Option<&str>,
) -> Value {
    let mut description = vec![
        format!("host: {}", s.host),
        format!(
            "perceptual hashes: {}",
            if s.perceptual {
                "computed"
            } else {
                "not computed"
            }
        ),
    ];
    for l in &s.lists {
        description.push(format!(
            "list: {} version {} ({} entries, digest {})",
            l.name, l.version, l.entries, l.digest
        ));
    }
    let counts: Vec<String> = Outcome::ALL
        .iter()
        .map(|o| format!("{} {}", o.code(), s.totals.count(*o)))
        .collect();
    description.push(format!(
        "entries found: {} ({})",
        s.totals.found,
        counts.join(", ")
    ));
    let inputs: Vec<Value> = s
        .inputs
        .iter()
        .map(|i| reference(&ids.id("file", &[file_key(i, None).as_str()])))
        .collect();
    let mut head = json!({
        "@id": action_id,
        "@type": "case-investigation:InvestigativeAction",
        "uco-core:name": "hashguard scan",
        "uco-core:description": description,
        "uco-action:startTime": xsd_datetime(s.started_at),
        "uco-action:endTime": xsd_datetime(s.finished_at),
        "uco-action:instrument": reference(tool_id),
        "uco-action:object": inputs,
    });
    if let Some(p) = person_id {
        head["uco-action:performer"] = reference(p);
    }
    head
}

/// A file's name, path and size.
fn file_facet(ids: &Ids, key: &str, path: &str, size: Option<u64>) -> Value {
    let mut facet = json!({
        "@id": ids.id("file-facet", &[key]),
        "@type": "uco-observable:FileFacet",
        "uco-observable:filePath": path,
    });
    if let Some(name) = Path::new(path).file_name() {
        facet["uco-observable:fileName"] = Value::String(name.to_string_lossy().into_owned());
    }
    if let Some(size) = size {
        facet["uco-observable:sizeInBytes"] = json!(size);
    }
    facet
}

/// One record's File.
fn file_node(ids: &Ids, key: &str, file_id: &str, r: &ScanRecord) -> Value {
    let f = &r.file;
    let mut facets = vec![file_facet(ids, key, &f.path, f.size)];
    let digests = [
        ("MD5", f.md5.map(|h| h.to_hex())),
        ("SHA1", f.sha1.map(|h| h.to_hex())),
        ("SHA256", f.sha256.map(|h| h.to_hex())),
    ];
    let hashes: Vec<Value> = digests
        .into_iter()
        .filter_map(|(method, hex)| {
            let hex = hex?;
            Some(json!({
                "@id": ids.id("hash", &[key, method]),
                "@type": "uco-types:Hash",
                // A plain string: typed as HashNameVocab it is a warning since UCO 1.4.0.
                "uco-types:hashMethod": method,
                "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": hex},
            }))
        })
        .collect();
    if f.size.is_some() || !hashes.is_empty() {
        let mut content = json!({
            "@id": ids.id("content-data-facet", &[key]),
            "@type": "uco-observable:ContentDataFacet",
        });
        if let Some(size) = f.size {
            content["uco-observable:sizeInBytes"] = json!(size);
        }
        if !hashes.is_empty() {
            content["uco-observable:hash"] = Value::Array(hashes);
        }
        facets.push(content);
    }
    let mut description = Vec::new();
    if let Some(h) = &f.path_hex {
        description.push(format!("path_hex:{h}"));
    }
    if let Some(p) = f.pdq {
        description.push(format!("pdq:{}", p.to_hex()));
        if let Some(q) = f.pdq_quality {
            description.push(format!("pdq_quality:{q}"));
        }
    }
    if let Some(p) = f.phash {
        description.push(format!("phash:{}", p.to_hex()));
    }
    if let Some(d) = f.dhash {
        description.push(format!("dhash:{}", d.to_hex()));
    }
    // Where a file of a disk image is, so another tool can find the same bytes.
    let p = &r.place;
    if let Some(t) = &p.fs_type {
        description.push(format!("fs_type:{t}"));
    }
    if let Some(o) = p.fs_offset {
        description.push(format!("fs_offset:{o}"));
    }
    if let Some(m) = p.meta_addr {
        description.push(format!("meta_addr:{m}"));
    }
    if let Some(o) = p.offset {
        description.push(format!("carved_at:{o}"));
    }
    if p.deleted {
        description.push(match &p.recovered {
            Some(how) => format!("deleted: {how}"),
            None => "deleted".to_string(),
        });
    }
    if let Some(e) = f.error {
        description.push(match f.detail.as_deref().filter(|d| !d.is_empty()) {
            Some(d) => format!("{}: {d}", e.code()),
            None => e.code().to_string(),
        });
    }
    let mut node = json!({
        "@id": file_id,
        "@type": "uco-observable:File",
        "uco-core:hasFacet": facets,
        "uco-core:tag": [format!("outcome:{}", r.outcome.code())],
    });
    if !description.is_empty() {
        node["uco-core:description"] = json!(description);
    }
    node
}

fn match_id(ids: &Ids, m: &MatchRecord) -> String {
    let h = &m.hit;
    let (seq, version) = (m.seq.to_string(), h.list_version.to_string());
    ids.id(
        "match",
        &[
            seq.as_str(),
            h.list.as_str(),
            version.as_str(),
            h.entry.as_str(),
            h.kind.name(),
        ],
    )
}

/// One match: an annotation of the matched file.
fn annotation(ids: &Ids, m: &MatchRecord, file_id: &str) -> Value {
    let h = &m.hit;
    let category = h.category.as_deref().filter(|c| !c.is_empty());
    let mut statement = format!(
        "matched list {} version {} entry {} (kind {}, distance {}",
        h.list, h.list_version, h.entry, h.kind, h.distance
    );
    if let Some(c) = category {
        statement.push_str(&format!(", category {c}"));
    }
    if let Some(v) = &h.video {
        statement.push_str(&format!(", video {}", v.kind.name()));
    }
    if let Some(n) = h.frames_matched {
        statement.push_str(&format!(", {n} frames matched"));
    }
    if let Some(d) = h
        .dihedral
        .and_then(|d| serde_json::to_value(d).ok())
        .and_then(|v| v.as_str().map(str::to_string))
    {
        statement.push_str(&format!(", variant {d}"));
    }
    statement.push(')');
    let mut tags = vec!["match".to_string(), format!("list:{}", h.list)];
    if let Some(c) = category {
        tags.push(format!("category:{c}"));
    }
    json!({
        "@id": match_id(ids, m),
        "@type": "uco-core:Annotation",
        "uco-core:object": [reference(file_id)],
        "uco-core:statement": statement,
        "uco-core:tag": tags,
    })
}

/// The key of a record's immediate container, from its optional `container` field: a list of
/// ancestor paths, outermost first (each a path string, or an object with `path` and maybe
/// `path_hex`). Anything else is ignored.
fn immediate_container(record: &Value, non_utf8: &NonUtf8) -> Option<String> {
    match record.get("container")?.as_array()?.last()? {
        Value::String(path) => Some(non_utf8.key_of_path(path)),
        Value::Object(o) => {
            let path = o.get("path")?.as_str()?;
            Some(file_key(path, o.get("path_hex").and_then(Value::as_str)))
        }
        _ => None,
    }
}

/// What identifies a file: its path, or its raw path bytes when the path is not UTF-8 (the
/// lossy `path` of two such files may be equal).
fn file_key(path: &str, path_hex: Option<&str>) -> String {
    match path_hex {
        Some(h) => format!("hex:{h}"),
        None => format!("path:{path}"),
    }
}

/// The keys of the records whose path is not UTF-8 (rare), by record and by lossy path.
#[derive(Default)]
struct NonUtf8 {
    by_seq: HashMap<u64, String>,
    /// `None` when two such records share the lossy path.
    by_path: HashMap<String, Option<String>>,
}

impl NonUtf8 {
    fn remember(&mut self, seq: u64, path: &str, key: &str) {
        self.by_seq.insert(seq, key.to_string());
        self.by_path
            .entry(path.to_string())
            .and_modify(|k| {
                if k.as_deref() != Some(key) {
                    *k = None;
                }
            })
            .or_insert_with(|| Some(key.to_string()));
    }

    fn key_of_seq(&self, seq: u64) -> Option<String> {
        self.by_seq.get(&seq).cloned()
    }

    fn key_of_path(&self, path: &str) -> String {
        match self.by_path.get(path) {
            Some(Some(key)) => key.clone(),
            _ => file_key(path, None),
        }
    }
}

/// The fields of a files.jsonl line that identify the file.
#[derive(Deserialize)]
struct RecordPath {
    seq: u64,
    path: String,
    #[serde(default)]
    path_hex: Option<String>,
}

/// Deterministic node ids for one case.
struct Ids {
    case_id: String,
}

impl Ids {
    /// `kb:<kind>-<uuid>`.
    fn id(&self, kind: &str, parts: &[&str]) -> String {
        format!("kb:{kind}-{}", self.uuid(kind, parts))
    }

    /// A UUID-formatted SHA-256 of the case id, the kind and the parts, each length-prefixed.
    fn uuid(&self, kind: &str, parts: &[&str]) -> String {
        let mut h = Sha256::new();
        h.update(b"hashguard-case/1");
        for p in [self.case_id.as_str(), kind].iter().chain(parts) {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p.as_bytes());
        }
        let digest = h.finalize();
        let mut b = [0u8; 16];
        b.copy_from_slice(&digest[..16]);
        b[6] = (b[6] & 0x0f) | 0x50;
        b[8] = (b[8] & 0x3f) | 0x80;
        let x = hex::encode(b);
        format!(
            "{}-{}-{}-{}-{}",
            &x[0..8],
            &x[8..12],
            &x[12..16],
            &x[16..20],
            &x[20..32]
        )
    }
}

/// The case id as one IRI path segment: every byte but ASCII letters, digits and `-._~`
/// percent-encoded (so spaces, slashes, quotes and any Unicode are safe), and the dot segments
/// `.` and `..` encoded too, so that no IRI normalisation can remove them.
fn iri_segment(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    if out == "." || out == ".." {
        out = out.replace('.', "%2E");
    }
    out
}

fn reference(id: &str) -> Value {
    json!({ "@id": id })
}

fn xsd_datetime(secs: u64) -> Value {
    json!({"@type": "xsd:dateTime", "@value": rfc3339(secs)})
}

/// Seconds since the Unix epoch as an RFC 3339 / xsd:dateTime in UTC.
fn rfc3339(secs: u64) -> String {
    let (y, m, d) = civil_from_days(secs / 86_400);
    let t = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// Year, month and day of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`, for
/// non-negative counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Calls `f` with the number (from 1) and text of every non-blank line of `out/name`.
fn for_each_line(
    out: &Path,
    name: &str,
    mut f: impl FnMut(u64, &str) -> Result<(), Error>,
) -> Result<(), Error> {
    let file = File::open(out.join(name)).map_err(io_err(format!("opening {name}")))?;
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    let mut n = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(io_err(format!("reading {name}")))?;
        if read == 0 {
            return Ok(());
        }
        n += 1;
        let text = line.trim();
        if !text.is_empty() {
            f(n, text)?;
        }
    }
}

fn parse<T: DeserializeOwned>(text: &str, name: &str, n: u64) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::Io {
        what: format!("reading {name} line {n}"),
        source: e.into(),
    })
}

/// The graph being written: one node a line, each compact JSON (keys in order, so the same
/// input gives the same bytes).
struct Graph {
    w: BufWriter<File>,
    /// No node written yet.
    first: bool,
    /// No item of the open list written yet.
    first_item: bool,
}

impl Graph {
    fn begin(&mut self, context: &Value) -> io::Result<()> {
        self.w.write_all(b"{\"@context\":")?;
        serde_json::to_writer(&mut self.w, context)?;
        self.w.write_all(b",\"@graph\":[\n")
    }

    fn separate(&mut self) -> io::Result<()> {
        if self.first {
            self.first = false;
            Ok(())
        } else {
            self.w.write_all(b",\n")
        }
    }

    fn node(&mut self, node: &Value) -> io::Result<()> {
        self.separate()?;
        serde_json::to_writer(&mut self.w, node)?;
        Ok(())
    }

    /// Starts a node with the members of `head` and then `key`, a list whose items follow
    /// ([`Graph::item`]) until [`Graph::close_list`].
    fn open_list(&mut self, head: &Value, key: &str) -> io::Result<()> {
        self.separate()?;
        let mut bytes = serde_json::to_vec(head)?;
        if bytes.pop() != Some(b'}') || bytes.len() < 2 {
            return Err(io::Error::other("a node with members was expected"));
        }
        self.w.write_all(&bytes)?;
        self.w.write_all(b",")?;
        serde_json::to_writer(&mut self.w, key)?;
        self.w.write_all(b":[")?;
        self.first_item = true;
        Ok(())
    }

    fn item(&mut self, item: &Value) -> io::Result<()> {
        if self.first_item {
            self.first_item = false;
        } else {
            self.w.write_all(b",")?;
        }
        serde_json::to_writer(&mut self.w, item)?;
        Ok(())
    }

    fn close_list(&mut self) -> io::Result<()> {
        self.w.write_all(b"]}")
    }

    fn end(mut self) -> io::Result<File> {
        self.w.write_all(b"\n]}\n")?;
        self.w.into_inner().map_err(|e| e.into_error())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::*;
    use crate::fingerprint::{FileRecord, Reason};
    use crate::hashing::HashKind;
    use crate::matcher::Hit;
    use crate::media::MediaKind;
    use crate::scan::Totals;

    const MD5: &str = "cb5ab39d5a498d89dc7cc9fb0a7e6afe";
    const SHA1: &str = "0a0a9f2a6772942557ab5355d76af442f8f65e01";
    const SHA256: &str = "d9e2d4ba01d45bc1bd7cd7ec265b6c557b1e3f12ee52a146f6b2e4f1e0de0f71";
    const PDQ: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

    fn summary(operator: Option<&str>) -> outputs::Summary {
        outputs::Summary {
            case_id: "2026/0413 Ünit".into(),
            operator: operator.map(String::from),
            host: "lab-1".into(),
            tool: "hashguard 0.1.0".into(),
            tool_revision: "3f2c1a9".into(),
            inputs: vec!["/mnt/seized".into()],
            perceptual: true,
            started_at: 1_776_070_800,
            finished_at: 1_776_071_100,
            lists: vec![outputs::ListUsed {
                name: "ncmec".into(),
                version: 3,
                entries: 2,
                digest: "ab12".into(),
                kinds: vec![],
            }],
            totals: Totals {
                found: 3,
                outcomes: BTreeMap::from([
                    ("match".to_string(), 1),
                    ("clean".to_string(), 1),
                    ("unreadable".to_string(), 1),
                ]),
                bytes: 79_000,
                match_lines: 1,
                depths: BTreeMap::new(),
            },
        }
    }

    fn record(seq: u64, outcome: Outcome, file: FileRecord) -> ScanRecord {
        ScanRecord {
            seq,
            outcome,
            file,
            inode: None,
            hard_link_of: None,
            same_as: None,
            changed_during_scan: false,
            matches: 0,
            container: Vec::new(),
            opened_as: None,
            place: Default::default(),
        }
    }

    fn hashed(path: &str, size: u64) -> FileRecord {
        let mut f = FileRecord::new(Path::new(path));
        f.size = Some(size);
        f.md5 = Some(MD5.parse().unwrap());
        f.sha1 = Some(SHA1.parse().unwrap());
        f.sha256 = Some(SHA256.parse().unwrap());
        f
    }

    /// A scan of three files: a matched image, a file inside a container (the container is not
    /// a record: its node is only the stub), and an unreadable file.
    fn scan_dir(dir: &Path) {
        let mut image = hashed("/mnt/seized/a.jpg", 9000);
        image.kind = MediaKind::Image;
        image.pdq = Some(PDQ.parse().unwrap());
        image.pdq_quality = Some(100);
        let mut matched = record(0, Outcome::Match, image);
        matched.matches = 1;
        let inner = record(1, Outcome::Clean, hashed("/mnt/seized/t.zip/sub/b.bin", 70));
        let locked = record(
            2,
            Outcome::Unreadable,
            FileRecord::failed(
                Path::new("/mnt/seized/locked.png"),
                Reason::Unreadable,
                "permission denied",
            ),
        );
        let mut files = String::new();
        for r in [&matched, &inner, &locked] {
            let mut v = serde_json::to_value(r).unwrap();
            if r.seq == 1 {
                v["container"] = json!(["/mnt/seized/t.zip"]);
            }
            files.push_str(&serde_json::to_string(&v).unwrap());
            files.push('\n');
        }
        let m = MatchRecord {
            seq: 0,
            path: "/mnt/seized/a.jpg".into(),
            hit: Hit {
                list: "ncmec".into(),
                list_version: 3,
                entry: "E-17".into(),
                kind: HashKind::Md5,
                entry_hash: MD5.into(),
                distance: 0,
                category: Some("A1".into()),
                frame_ts: None,
                frames_matched: None,
                dihedral: None,
                video: None,
            },
        };
        let matches = format!("{}\n", serde_json::to_string(&m).unwrap());
        fs::write(dir.join(FILES), files).unwrap();
        fs::write(dir.join(MATCHES), matches).unwrap();
    }

    /// Every `@id` of a node object with more than its id (definitions) and of a bare
    /// `{"@id": …}` (references), anywhere in `v`.
    fn collect_ids(v: &Value, defined: &mut HashSet<String>, referenced: &mut HashSet<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(id)) = o.get("@id") {
                    if o.len() == 1 {
                        referenced.insert(id.clone());
                    } else {
                        defined.insert(id.clone());
                    }
                }
                for (k, x) in o {
                    if k != "@context" {
                        collect_ids(x, defined, referenced);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| collect_ids(x, defined, referenced)),
            _ => {}
        }
    }

    fn graph(dir: &Path) -> Value {
        serde_json::from_slice(&fs::read(dir.join(CASE)).unwrap()).unwrap()
    }

    fn nodes_of_type<'a>(g: &'a Value, ty: &str) -> Vec<&'a Value> {
        g["@graph"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["@type"] == ty)
            .collect()
    }

    /// The File node of a record (the one with facets), by path.
    fn file_by_path<'a>(g: &'a Value, path: &str) -> &'a Value {
        nodes_of_type(g, "uco-observable:File")
            .into_iter()
            .find(|n| {
                n["uco-core:hasFacet"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f["uco-observable:filePath"] == path))
                    && n.get("uco-core:tag").is_some()
            })
            .unwrap_or_else(|| panic!("no File for {path}"))
    }

    fn hashes_of(file: &Value) -> BTreeMap<String, String> {
        file["uco-core:hasFacet"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["@type"] == "uco-observable:ContentDataFacet")
            .flat_map(|f| {
                f["uco-observable:hash"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|h| {
                assert_eq!(h["uco-types:hashValue"]["@type"], "xsd:hexBinary");
                (
                    h["uco-types:hashMethod"].as_str().unwrap().to_string(),
                    h["uco-types:hashValue"]["@value"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn graph_is_closed_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        scan_dir(dir.path());
        write(dir.path(), &summary(Some("J. Doe"))).unwrap();
        assert!(!dir.path().join(CASE_TMP).exists());
        let g = graph(dir.path());
        assert_eq!(
            g["@context"]["kb"],
            "https://hashguard.invalid/case/2026%2F0413%20%C3%9Cnit/"
        );

        let (mut defined, mut referenced) = (HashSet::new(), HashSet::new());
        collect_ids(&g, &mut defined, &mut referenced);
        let undefined: Vec<_> = referenced.difference(&defined).collect();
        assert!(
            undefined.is_empty(),
            "referenced, never defined: {undefined:?}"
        );
        for id in &defined {
            // kb:<kind>-xxxxxxxx-xxxx-5xxx-[89ab]xxx-xxxxxxxxxxxx, as UCO suggests.
            let uuid = &id[id.len() - 36..];
            assert!(id.starts_with("kb:"), "{id}");
            assert_eq!(uuid.as_bytes()[14], b'5', "{id}");
            assert!(
                matches!(uuid.as_bytes()[19], b'8' | b'9' | b'a' | b'b'),
                "{id}"
            );
            assert_eq!(uuid.matches('-').count(), 4, "{id}");
        }

        let tool = nodes_of_type(&g, "uco-tool:AnalyticTool");
        assert_eq!(tool.len(), 1);
        assert_eq!(tool[0]["uco-core:name"], "hashguard");
        assert_eq!(tool[0]["uco-tool:version"], "0.1.0");
        assert_eq!(
            tool[0]["uco-core:hasFacet"][0]["uco-tool:buildInformation"]["uco-tool:buildID"],
            "3f2c1a9"
        );
        let person = nodes_of_type(&g, "uco-identity:Person");
        assert_eq!(person.len(), 1);
        assert_eq!(person[0]["uco-core:name"], "J. Doe");

        let action = nodes_of_type(&g, "case-investigation:InvestigativeAction");
        assert_eq!(action.len(), 1);
        let action = action[0];
        assert_eq!(
            action["uco-action:startTime"]["@value"],
            "2026-04-13T09:00:00Z"
        );
        assert_eq!(
            action["uco-action:endTime"]["@value"],
            "2026-04-13T09:05:00Z"
        );
        assert_eq!(action["uco-action:performer"]["@id"], person[0]["@id"]);
        assert_eq!(action["uco-action:instrument"]["@id"], tool[0]["@id"]);
        let input = file_by_path_any(&g, "/mnt/seized");
        assert_eq!(action["uco-action:object"], json!([{"@id": input["@id"]}]));

        let image = file_by_path(&g, "/mnt/seized/a.jpg");
        let inner = file_by_path(&g, "/mnt/seized/t.zip/sub/b.bin");
        let locked = file_by_path(&g, "/mnt/seized/locked.png");
        let expected = BTreeMap::from([
            ("MD5".to_string(), MD5.to_string()),
            ("SHA1".to_string(), SHA1.to_string()),
            ("SHA256".to_string(), SHA256.to_string()),
        ]);
        assert_eq!(hashes_of(image), expected);
        assert_eq!(hashes_of(inner), expected);
        assert!(hashes_of(locked).is_empty());
        assert!(
            image["uco-core:description"]
                .as_array()
                .unwrap()
                .contains(&json!(format!("pdq:{PDQ}")))
        );
        assert_eq!(
            locked["uco-core:description"],
            json!(["unreadable: permission denied"])
        );
        assert_eq!(locked["uco-core:tag"], json!(["outcome:unreadable"]));
        assert_eq!(
            image["uco-core:hasFacet"][0]["uco-observable:fileName"],
            "a.jpg"
        );

        // The scan's results: the three files, then the match.
        let results: Vec<&Value> = action["uco-action:result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["@id"])
            .collect();
        let annotations = nodes_of_type(&g, "uco-core:Annotation");
        assert_eq!(annotations.len(), 1);
        let a = annotations[0];
        assert_eq!(
            results,
            [&image["@id"], &inner["@id"], &locked["@id"], &a["@id"]]
        );
        assert_eq!(a["uco-core:object"], json!([{"@id": image["@id"]}]));
        assert_eq!(
            a["uco-core:statement"],
            "matched list ncmec version 3 entry E-17 (kind md5, distance 0, category A1)"
        );
        assert_eq!(
            a["uco-core:tag"],
            json!(["match", "list:ncmec", "category:A1"])
        );

        let rels = nodes_of_type(&g, "uco-observable:ObservableRelationship");
        assert_eq!(rels.len(), 1);
        assert_eq!(rels[0]["uco-core:source"]["@id"], inner["@id"]);
        assert_eq!(rels[0]["uco-core:kindOfRelationship"], "Contained_Within");
        assert_eq!(rels[0]["uco-core:isDirectional"], json!(true));
        let container = Ids {
            case_id: "2026/0413 Ünit".into(),
        }
        .id("file", &["path:/mnt/seized/t.zip"]);
        assert_eq!(rels[0]["uco-core:target"]["@id"], container);
    }

    /// Any File node with this path (inputs have no tag).
    fn file_by_path_any<'a>(g: &'a Value, path: &str) -> &'a Value {
        nodes_of_type(g, "uco-observable:File")
            .into_iter()
            .find(|n| {
                n["uco-core:hasFacet"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f["uco-observable:filePath"] == path))
            })
            .unwrap_or_else(|| panic!("no File for {path}"))
    }

    #[test]
    fn same_scan_same_bytes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for d in [a.path(), b.path()] {
            scan_dir(d);
            write(d, &summary(Some("J. Doe"))).unwrap();
        }
        let first = fs::read(a.path().join(CASE)).unwrap();
        assert_eq!(first, fs::read(b.path().join(CASE)).unwrap());
        // Written again over itself: the same.
        write(a.path(), &summary(Some("J. Doe"))).unwrap();
        assert_eq!(first, fs::read(a.path().join(CASE)).unwrap());
    }

    #[test]
    fn no_operator_no_person() {
        let dir = tempfile::tempdir().unwrap();
        scan_dir(dir.path());
        write(dir.path(), &summary(None)).unwrap();
        let g = graph(dir.path());
        assert!(nodes_of_type(&g, "uco-identity:Person").is_empty());
        let action = nodes_of_type(&g, "case-investigation:InvestigativeAction")[0];
        assert!(action.get("uco-action:performer").is_none());
    }

    #[test]
    fn a_bad_line_is_an_error_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        scan_dir(dir.path());
        fs::write(dir.path().join(MATCHES), "{not json\n").unwrap();
        assert!(write(dir.path(), &summary(None)).is_err());
        assert!(!dir.path().join(CASE).exists());
        assert!(!dir.path().join(CASE_TMP).exists());
    }

    #[test]
    fn iri_segments() {
        assert_eq!(iri_segment("2026-0413"), "2026-0413");
        assert_eq!(iri_segment("a b/c?d#e%"), "a%20b%2Fc%3Fd%23e%25");
        assert_eq!(iri_segment("Ü"), "%C3%9C");
        assert_eq!(iri_segment(".."), "%2E%2E");
        assert_eq!(iri_segment("."), "%2E");
        assert_eq!(iri_segment("v1.2"), "v1.2");
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_776_070_800), "2026-04-13T09:00:00Z");
        assert_eq!(rfc3339(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
    }

    /// The fixtures' `case.jsonld` were made from the same inputs by
    /// `testdata/case/make_expected.py` and pass `case_validate` (case-utils 0.18.0); equal
    /// graphs here mean this module's output validates too.
    fn check_fixture(name: &str, summary: &str, files: &str, matches: &str, expected: &str) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILES), files).unwrap();
        fs::write(dir.path().join(MATCHES), matches).unwrap();
        let summary: outputs::Summary = serde_json::from_str(summary).unwrap();
        write(dir.path(), &summary).unwrap();
        let got = graph(dir.path());
        let expected: Value = serde_json::from_str(expected).unwrap();
        assert!(
            got == expected,
            "{name}: case.jsonld differs from testdata/case/{name}/case.jsonld\n{}",
            serde_json::to_string_pretty(&got).unwrap()
        );
    }

    #[test]
    fn matches_validated_fixtures() {
        macro_rules! fixture {
            ($name:literal) => {
                check_fixture(
                    $name,
                    include_str!(concat!("../../testdata/case/", $name, "/summary.json")),
                    include_str!(concat!("../../testdata/case/", $name, "/files.jsonl")),
                    include_str!(concat!("../../testdata/case/", $name, "/matches.jsonl")),
                    include_str!(concat!("../../testdata/case/", $name, "/case.jsonld")),
                )
            };
        }
        fixture!("basic");
        fixture!("edge");
    }
}
