#!/usr/bin/env python3
"""Compute vPDQ match shares with Meta's own Python matcher (python-threatexchange).

No matching logic lives here: the shares come from Meta's
``threatexchange.extensions.vpdq.vpdq_brute_matcher.match_VPDQ_hash_brute``
(facebook/ThreatExchange, python-threatexchange/threatexchange/extensions/vpdq/
vpdq_brute_matcher.py), the same semantics as HMA's ``VPDQIndex`` (vpdq_index.py)
and ``VPDQSignal.compare_hash`` (vpdq.py). The PyPI ``vpdq`` package (<= 0.2.5,
the newest release) only hashes; it exposes no matcher.

Meta's semantics (threatexchange 1.2.17, identical to ThreatExchange main):
  * per side: dedupe(exact pdq_hex, first occurrence kept), then keep
    quality >= QUALITY (both query and target are filtered);
  * a frame counts as matched if some frame on the other side has
    hamming distance <= DISTANCE;
  * query_pct  = matched unique query frames  * 100 / unique filtered query frames,
    target_pct = matched unique target frames * 100 / unique filtered target frames;
  * is_match   = query_pct >= 80.0 and target_pct >= 0.0
    (VPDQ_QUERY_MATCH_THRESHOLD_PERCENT / VPDQ_INDEX_MATCH_THRESHOLD_PERCENT).
Defaults DISTANCE=31, QUALITY=50 are vpdq_util.VPDQ_DISTANCE_THRESHOLD /
VPDQ_QUALITY_THRESHOLD. If either side has no frame left after filtering, Meta's
function divides by zero; this script then prints 0/0/false and a warning
(what the C++ matchTwoHashBrute returns, and HMA's index never matches it).

Note the C++ reference (vpdq/cpp/vpdq/cpp/hashing/matchTwoHash.cpp) differs: it
does not dedupe and uses a strict ``distance < tolerance``.

Requirements (besides vpdq 0.2.5, which threatexchange imports):
    pip install 'threatexchange==1.2.17'
(pulls faiss-cpu, numpy, pdqhash, Pillow, requests, ... as its declared deps).

Input files: one frame per line, ``frame_number,quality,pdq_hex,timestamp_sec``
(hashguard ``--format vpdq`` / Meta C++ vpdq-hash-video layout); blank lines and
lines starting with '#' are skipped. Only quality and pdq_hex affect matching.

Usage:
    vpdq_meta_shares.py QUERY.vpdq TARGET.vpdq [QUERY2 TARGET2 ...]
    vpdq_meta_shares.py --pairs pairs.tsv        # lines: query_path<TAB>target_path
Output (TSV with header): query target query_pct target_pct is_match
"""

import argparse
import sys

try:
    from threatexchange.extensions.vpdq.vpdq_brute_matcher import (
        match_VPDQ_hash_brute,
    )
    from threatexchange.extensions.vpdq.vpdq_util import (
        VPDQ_DISTANCE_THRESHOLD,
        VPDQ_INDEX_MATCH_THRESHOLD_PERCENT,
        VPDQ_QUALITY_THRESHOLD,
        VPDQ_QUERY_MATCH_THRESHOLD_PERCENT,
        VpdqCompactFeature,
    )
except ImportError as exc:  # pragma: no cover - environment check
    sys.exit(
        "vpdq_meta_shares.py: cannot import Meta's vPDQ matcher "
        f"({exc}).\nInstall it into this interpreter's environment with:\n"
        f"    {sys.executable} -m pip install 'threatexchange==1.2.17' 'vpdq==0.2.5'"
    )


def read_vpdq(path):
    """Parse a frame_number,quality,pdq_hex,timestamp_sec file into Meta features."""
    features = []
    with open(path, "r", encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split(",")]
            if len(parts) != 4:
                raise ValueError(
                    f"{path}:{lineno}: expected frame_number,quality,pdq_hex,"
                    f"timestamp_sec, got {line!r}"
                )
            _frame, quality, pdq_hex, ts = parts
            try:
                feat = VpdqCompactFeature(pdq_hex.lower(), int(quality), float(ts))
                features.append(feat.assert_valid())
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: {exc}: {line!r}") from None
    return features


def read_pairs(path):
    pairs = []
    with open(path, "r", encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) < 2:
                raise ValueError(f"{path}:{lineno}: expected query<TAB>target")
            pairs.append((cols[0], cols[1]))
    return pairs


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("files", nargs="*", help="QUERY TARGET [QUERY TARGET ...]")
    ap.add_argument("--pairs", help="TSV file of query_path<TAB>target_path")
    ap.add_argument(
        "--distance",
        type=int,
        default=VPDQ_DISTANCE_THRESHOLD,
        help="frame match if hamming distance <= N (default %(default)s)",
    )
    ap.add_argument(
        "--quality",
        type=int,
        default=VPDQ_QUALITY_THRESHOLD,
        help="keep frames with quality >= N (default %(default)s)",
    )
    ap.add_argument(
        "--query-pct",
        type=float,
        default=VPDQ_QUERY_MATCH_THRESHOLD_PERCENT,
        help="is_match needs query_pct >= P (default %(default)s)",
    )
    ap.add_argument(
        "--target-pct",
        type=float,
        default=VPDQ_INDEX_MATCH_THRESHOLD_PERCENT,
        help="is_match needs target_pct >= P (default %(default)s)",
    )
    args = ap.parse_args(argv)

    if len(args.files) % 2:
        ap.error("positional files must come in QUERY TARGET pairs")
    pairs = list(zip(args.files[0::2], args.files[1::2]))
    if args.pairs:
        pairs.extend(read_pairs(args.pairs))
    if not pairs:
        ap.error("no pairs given")

    cache = {}

    def load(p):
        if p not in cache:
            cache[p] = read_vpdq(p)
        return cache[p]

    out = sys.stdout
    out.write("query\ttarget\tquery_pct\ttarget_pct\tis_match\n")
    for q, t in pairs:
        try:
            res = match_VPDQ_hash_brute(load(q), load(t), args.quality, args.distance)
            qp, tp = res.query_match_percent, res.compared_match_percent
            is_match = qp >= args.query_pct and tp >= args.target_pct
        except ZeroDivisionError:
            print(
                f"warning: {q} vs {t}: no frames left after quality filter "
                f"(>= {args.quality}); reporting 0/0/false",
                file=sys.stderr,
            )
            qp, tp, is_match = 0.0, 0.0, False
        out.write(f"{q}\t{t}\t{qp:.6f}\t{tp:.6f}\t{'true' if is_match else 'false'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
