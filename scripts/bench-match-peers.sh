#!/usr/bin/env bash
# bench-match-peers.sh — hashguard's index against faiss and a C popcount scan on the same
# random hash sets, in one run (the peer harness's bench_match.py, named by $BENCH). Needs the
# peers set up with match data first (the harness's setup-peers.sh with
# MATCH_SIZES=1000000,10000000 MATCH_SIZES64=10000000).
# Results: one JSON line per method in $PEERS_DIR/results/match-hashguard.jsonl.
#   scripts/bench-match-peers.sh [SIZES256 [SIZES64]]      default 1000000,10000000 and 10000000
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS_DIR=${PEERS_DIR:-/tmp/peers}
BENCH=${BENCH:-../shared/bench/peers/bench_match.py}
PY=$PEERS_DIR/venv/bin/python
OUT=$PEERS_DIR/results/match-hashguard.jsonl
SIZES256=${1:-1000000,10000000}
SIZES64=${2:-10000000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/hashguard/target}
cargo build --release --locked --all-targets  # same target set as `make run`: no second RocksDB build
HG="$CARGO_TARGET_DIR/release/examples/bench_match {db} {queries} {bits} {radius} {maxq} {threads}"
mkdir -p "$(dirname "$OUT")"
run() { echo "+ $*" >&2; "$PY" "$BENCH" "$@" | tee -a "$OUT"; }
T=$(nproc)
for n in ${SIZES256//,/ }; do
  big=$([[ $n -ge 5000000 ]] && echo 1 || echo 0)
  mq=$([[ $big == 1 ]] && echo 1000 || echo 2000)
  # faiss MultiHash 16 x 16 bits with 1 flip: the configuration that guarantees recall at 31.
  run run --n "$n" --bits 256 --method mih --nhash 16 --nflip 1 --threads "1,$T" --maxq 2000 --lat 50 --repeat 1
  run run --n "$n" --bits 256 --method flat_range --threads "1,$T" --maxq "$mq" --lat 20 --repeat 1
  for t in 1 "$T"; do
    run ext --n "$n" --bits 256 --name c_scan_batch --threads "$t" --maxq "$mq" --repeat 1 \
      --cmd "$PEERS_DIR/bin/scan {db} {queries} {bits} {radius} -t {threads} -n {maxq}"
    run ext --n "$n" --bits 256 --name hashguard --threads "$t" --repeat 3 --cmd "$HG"
  done
done
for n in ${SIZES64//,/ }; do
  run run --n "$n" --bits 64 --method mih --nhash 4 --nflip 2 --threads "1,$T" --maxq 300 --lat 20 --repeat 1
  for t in 1 "$T"; do
    run ext --n "$n" --bits 64 --name hashguard --threads "$t" --repeat 3 --cmd "$HG"
  done
done
