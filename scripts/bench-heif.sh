#!/usr/bin/env bash
# bench-heif.sh [N] — HEIC/AVIF decode + PDQ throughput of hashguard beside the peer pipeline
# (pillow-heif / Pillow's AVIF plugin + pdqhash, scripts/bench-heif-peer.py) on the same files
# (testdata/heif), one thread each, in one run. N passes over the files (default 20).
# Needs the reference venv (`make refvectors`) and a release build (`make run` makes one).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/hashguard/target}
HG=${HG:-$CARGO_TARGET_DIR/release/hashguard}
VENV=${REF_VENV:-$HOME/.cache/hashguard/ref-venv}
list=$(mktemp)
trap 'rm -f "$list"' EXIT
files=(testdata/heif/*.heic testdata/heif/*.avif)
for _ in $(seq "$N"); do printf '%s\n' "${files[@]}"; done > "$list"
"$HG" hash --algo pdq --threads 1 "${files[@]}" > /dev/null   # warm-up: page cache, libheif
start=$(date +%s.%N)
"$HG" hash --algo pdq --threads 1 --paths-from "$list" > /dev/null
end=$(date +%s.%N)
total=$((N * ${#files[@]}))
echo "hashguard hash --algo pdq --threads 1: ${#files[@]} files x $N passes"
awk -v t="$total" -v s="$start" -v e="$end" \
  'BEGIN { printf "%.1f files/s, %.2f ms per file\n", t / (e - s), (e - s) / t * 1000 }'
"$VENV/bin/python" scripts/bench-heif-peer.py "$N"
