#!/usr/bin/env python3
"""Writes DIR/case.jsonld from DIR/summary.json, files.jsonl and matches.jsonl as
src/scan/case.rs does (same ids, same nodes, same order), for the fixtures beside this script.

Run by hand, never by `make test`: `python3 testdata/case/make_expected.py testdata/case/basic`,
then `scripts/case-validate.sh testdata/case/basic` (case-utils 0.18.0) must exit 0. The unit
test `scan::case::tests::matches_validated_fixtures` checks that the Rust writes the same graph,
so a change to the mapping is made in both places and validated here."""
import hashlib, json, os, sys

def uuid_for(case_id, kind, *parts):
    h = hashlib.sha256()
    h.update(b"hashguard-case/1")
    for p in (case_id, kind) + parts:
        b = p.encode()
        h.update(len(b).to_bytes(8, "big"))
        h.update(b)
    b = bytearray(h.digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50
    b[8] = (b[8] & 0x3F) | 0x80
    x = b.hex()
    return f"{x[0:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:32]}"

def iri_segment(s):
    out = []
    for c in s.encode():
        if chr(c).isascii() and (chr(c).isalnum() or chr(c) in "-_.~"):
            out.append(chr(c))
        else:
            out.append("%%%02X" % c)
    r = "".join(out)
    if r in (".", ".."):
        r = r.replace(".", "%2E")
    return r

def rfc3339(secs):
    import datetime
    return datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

def file_name(path):
    # Rust Path::file_name: last normal component; None for "/", "..", "" ...
    comps = [c for c in path.split("/") if c not in ("", ".")]
    if not comps or comps[-1] == "..":
        return None
    return comps[-1]

def dump(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

def main(out):
    s = json.load(open(os.path.join(out, "summary.json")))
    case = s["case_id"]
    base = f"https://hashguard.invalid/case/{iri_segment(case)}/"
    ident = lambda kind, *p: f"kb:{kind}-{uuid_for(case, kind, *p)}"
    file_key = lambda path, hx: ("hex:" + hx) if hx else ("path:" + path)
    ref = lambda i: {"@id": i}
    ctx = {
        "kb": base,
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "case-investigation": "https://ontology.caseontology.org/case/investigation/",
        "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
        "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
        "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
        "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
        "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
        "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    }
    nodes = []
    tool = s["tool"]
    name, _, version = tool.partition(" ")
    rev = s.get("tool_revision", "")
    tool_id = ident("tool", tool, rev)
    t = {"@id": tool_id, "@type": "uco-tool:AnalyticTool", "uco-core:name": name or "hashguard",
         "uco-tool:toolType": "perceptual and exact hash matcher"}
    if version:
        t["uco-tool:version"] = version
    if rev and rev != "unknown":
        bi = {"@id": ident("build-information", tool, rev), "@type": "uco-tool:BuildInformationType",
              "uco-tool:buildID": rev}
        if version:
            bi["uco-tool:buildVersion"] = version
        t["uco-core:hasFacet"] = [{"@id": ident("build-facet", tool, rev), "@type": "uco-tool:BuildFacet",
                                   "uco-tool:buildInformation": bi}]
    nodes.append(t)
    person = None
    if s.get("operator"):
        person = ident("person", s["operator"])
        nodes.append({"@id": person, "@type": "uco-identity:Person", "uco-core:name": s["operator"]})
    action = ident("scan", str(s["started_at"]), str(s["finished_at"]))
    nodes.append({"@id": ident("investigation"), "@type": "case-investigation:Investigation",
                  "uco-core:name": case, "case-investigation:investigationForm": "case",
                  "uco-core:object": [ref(action)]})
    # pass 1
    hex_by_seq, hex_by_path, results = {}, {}, []
    for line in open(os.path.join(out, "files.jsonl")):
        r = json.loads(line)
        k = file_key(r["path"], r.get("path_hex"))
        if r.get("path_hex"):
            hex_by_seq[r["seq"]] = k
            p = r["path"]
            hex_by_path[p] = None if (p in hex_by_path and hex_by_path[p] != k) else k
        results.append(ref(ident("file", k)))
    def match_id(m):
        return ident("match", str(m["seq"]), m["list"], str(m["list_version"]), m["entry"], m["kind"])
    for line in open(os.path.join(out, "matches.jsonl")):
        results.append(ref(match_id(json.loads(line))))
    desc = [f"host: {s['host']}",
            "perceptual hashes: " + ("computed" if s["perceptual"] else "not computed")]
    for l in s["lists"]:
        desc.append(f"list: {l['name']} version {l['version']} ({l['entries']} entries, digest {l['digest']})")
    tot = s["totals"]
    order = ["match", "clean", "decode_failed", "unreadable", "too_large", "skipped", "encrypted", "not_opened"]
    desc.append(f"entries found: {tot['found']} (" + ", ".join(f"{o} {tot['outcomes'].get(o, 0)}" for o in order) + ")")
    a = {"@id": action, "@type": "case-investigation:InvestigativeAction", "uco-core:name": "hashguard scan",
         "uco-core:description": desc,
         "uco-action:startTime": {"@type": "xsd:dateTime", "@value": rfc3339(s["started_at"])},
         "uco-action:endTime": {"@type": "xsd:dateTime", "@value": rfc3339(s["finished_at"])},
         "uco-action:instrument": ref(tool_id),
         "uco-action:object": [ref(ident("file", file_key(i, None))) for i in s["inputs"]]}
    if person:
        a["uco-action:performer"] = ref(person)
    head = dump(a)[:-1] + ',"uco-action:result":[' + ",".join(dump(x) for x in results) + "]}"
    raw_nodes = [dump(n) for n in nodes] + [head]
    def file_facet(k, path, size):
        f = {"@id": ident("file-facet", k), "@type": "uco-observable:FileFacet", "uco-observable:filePath": path}
        fn = file_name(path)
        if fn is not None:
            f["uco-observable:fileName"] = fn
        if size is not None:
            f["uco-observable:sizeInBytes"] = size
        return f
    for i in s["inputs"]:
        k = file_key(i, None)
        raw_nodes.append(dump({"@id": ident("file", k), "@type": "uco-observable:File",
                               "uco-core:hasFacet": [file_facet(k, i, None)]}))
    # pass 2
    for line in open(os.path.join(out, "files.jsonl")):
        r = json.loads(line)
        k = file_key(r["path"], r.get("path_hex"))
        fid = ident("file", k)
        facets = [file_facet(k, r["path"], r.get("size"))]
        hashes = []
        for field, method in (("md5", "MD5"), ("sha1", "SHA1"), ("sha256", "SHA256")):
            if r.get(field):
                hashes.append({"@id": ident("hash", k, method), "@type": "uco-types:Hash",
                               "uco-types:hashMethod": method,
                               "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": r[field]}})
        if hashes or r.get("size") is not None:
            c = {"@id": ident("content-data-facet", k), "@type": "uco-observable:ContentDataFacet"}
            if r.get("size") is not None:
                c["uco-observable:sizeInBytes"] = r["size"]
            if hashes:
                c["uco-observable:hash"] = hashes
            facets.append(c)
        d = []
        if r.get("path_hex"):
            d.append("path_hex:" + r["path_hex"])
        if r.get("pdq"):
            d.append("pdq:" + r["pdq"])
            if r.get("pdq_quality") is not None:
                d.append(f"pdq_quality:{r['pdq_quality']}")
        if r.get("phash"):
            d.append("phash:" + r["phash"])
        if r.get("dhash"):
            d.append("dhash:" + r["dhash"])
        if r.get("error"):
            d.append(f"{r['error']}: {r['detail']}" if r.get("detail") else r["error"])
        node = {"@id": fid, "@type": "uco-observable:File", "uco-core:hasFacet": facets,
                "uco-core:tag": ["outcome:" + r["outcome"]]}
        if d:
            node["uco-core:description"] = d
        raw_nodes.append(dump(node))
        cont = r.get("container")
        if isinstance(cont, list) and cont:
            last = cont[-1]
            if isinstance(last, dict) and isinstance(last.get("path"), str):
                hx = last.get("path_hex")
                ck = file_key(last["path"], hx if isinstance(hx, str) else None)
            elif isinstance(last, str):
                ck = hex_by_path.get(last) or file_key(last, None)
            else:
                ck = None
        else:
            ck = None
        if ck is not None:
            cid = ident("file", ck)
            raw_nodes.append(dump({"@id": cid, "@type": "uco-observable:File"}))
            raw_nodes.append(dump({"@id": ident("contained-within", k, ck),
                                   "@type": "uco-observable:ObservableRelationship",
                                   "uco-core:source": ref(fid), "uco-core:target": ref(cid),
                                   "uco-core:kindOfRelationship": "Contained_Within",
                                   "uco-core:isDirectional": True}))
    for line in open(os.path.join(out, "matches.jsonl")):
        m = json.loads(line)
        k = hex_by_seq.get(m["seq"]) or file_key(m["path"], None)
        st = f"matched list {m['list']} version {m['list_version']} entry {m['entry']} (kind {m['kind']}, distance {m['distance']}"
        if m.get("category"):
            st += f", category {m['category']}"
        if m.get("video") is not None:
            st += f", video {m['video']['match']}"
        if m.get("frames_matched") is not None:
            st += f", {m['frames_matched']} frames matched"
        if m.get("dihedral") is not None:
            st += f", variant {m['dihedral']}"
        st += ")"
        tags = ["match", "list:" + m["list"]]
        if m.get("category"):
            tags.append("category:" + m["category"])
        raw_nodes.append(dump({"@id": match_id(m), "@type": "uco-core:Annotation",
                               "uco-core:object": [ref(ident("file", k))],
                               "uco-core:statement": st, "uco-core:tag": tags}))
    with open(os.path.join(out, "case.jsonld"), "w") as f:
        f.write('{"@context":' + dump(ctx) + ',"@graph":[\n' + ",\n".join(raw_nodes) + "\n]}\n")

main(sys.argv[1])
