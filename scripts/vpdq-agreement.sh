#!/usr/bin/env bash
# Compares hashguard's vPDQ shares with Meta's own matcher (python-threatexchange's
# match_VPDQ_hash_brute, the semantics HMA runs) on every ordered pair of the project's
# synthetic clips, on the same frame hashes (hashguard's `hash --format vpdq` of each clip).
#
#   scripts/vpdq-agreement.sh            # uses target/release/hashguard (HASHGUARD= to override)
#
# Prints each pair where the shares differ, then a summary line. Meta's package is installed
# into ~/.cache/hashguard/tx-venv (vpdq 0.2.5, threatexchange 1.2.17) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${HASHGUARD:-${CARGO_TARGET_DIR:-target}/release/hashguard}
[ -x "$BIN" ] || { echo "no hashguard binary at $BIN (cargo build --release)" >&2; exit 2; }
VENV=$HOME/.cache/hashguard/tx-venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import threatexchange' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'vpdq==0.2.5' 'threatexchange==1.2.17'
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/vpdq"
clips=()
for f in testdata/video/*; do
  case $(basename "$f") in broken_*|bomb_*|lying_*|*.csv) continue ;; esac
  stem=$(basename "${f%.*}")
  "$BIN" hash --format vpdq "$f" > "$work/vpdq/$stem.vpdq"
  clips+=("$stem")
done
# One list per clip, with thresholds that report every pair sharing a frame, so that every
# pair's shares are printed (a pair that prints nothing shares no frame: 0 and 0).
for t in "${clips[@]}"; do
  "$BIN" --data "$work/data" lists import --list "t-$t" --format vpdq \
    --video-query-threshold 0.000001 --video-listed-threshold 0 "$work/vpdq/$t.vpdq" >/dev/null
done
: > "$work/ours.tsv"
: > "$work/pairs.tsv"
for q in "${clips[@]}"; do
  "$BIN" --data "$work/data" match --kind vpdq --format tsv "$work/vpdq/$q.vpdq" \
    >> "$work/ours.tsv" || [ $? -eq 1 ]
  for t in "${clips[@]}"; do
    printf '%s\t%s\n' "$work/vpdq/$q.vpdq" "$work/vpdq/$t.vpdq" >> "$work/pairs.tsv"
  done
done
"$VENV/bin/python" scripts/vpdq_meta_shares.py --pairs "$work/pairs.tsv" > "$work/meta.tsv" 2>/dev/null
python3 - "$work" <<'PY'
import csv, os, sys
work = sys.argv[1]
stem = lambda p: os.path.splitext(os.path.basename(p))[0]
ours = {}
for q, entry, kind, qs, ls in csv.reader(open(f"{work}/ours.tsv"), delimiter="\t"):
    ours[(stem(q), entry)] = (100 * float(qs), 100 * float(ls))
pairs = same = 0
for row in csv.DictReader(open(f"{work}/meta.tsv"), delimiter="\t"):
    key = (stem(row["query"]), stem(row["target"]))
    meta = (float(row["query_pct"]), float(row["target_pct"]))
    mine = ours.get(key, (0.0, 0.0))
    pairs += 1
    # hashguard prints shares to 6 decimals (1e-4 percent), Meta's script percentages to 6.
    if all(abs(a - b) < 1e-3 for a, b in zip(meta, mine)):
        same += 1
    else:
        print(f"differs: {key[0]} vs {key[1]}: hashguard {mine[0]:.2f}/{mine[1]:.2f}, "
              f"Meta {meta[0]:.2f}/{meta[1]:.2f}")
print(f"{same} of {pairs} ordered pairs: the same query and listed shares as Meta's matcher")
sys.exit(0 if same == pairs else 1)
PY
