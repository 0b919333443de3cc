#!/usr/bin/env bash
# bench-video.sh [VIDEO] — video hashing throughput of hashguard beside Meta's vpdq and
# `ffmpeg -threads 1 -i X -f null -`, on the same file in one run (the peer harness's
# bench_vpdq.py, named by $BENCH; set the peers up first with the harness's setup-peers.sh).
# Default VIDEO: the peers' 1080p30 H.264 30 s clip.
# Prints seconds of video per wall second and per CPU second for every configuration, and how
# many of hashguard's frame hashes equal vpdq's. JSON: $PEERS_DIR/results/video-hashguard.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS_DIR=${PEERS_DIR:-/tmp/peers}
BENCH=${BENCH:-../shared/bench/peers/bench_vpdq.py}
VIDEO=${1:-$PEERS_DIR/data/video/synth_1080p_30s.mp4}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/hashguard/target}
cargo build --release --locked --all-targets  # same target set as `make run`: no second RocksDB build
export HASHGUARD=$CARGO_TARGET_DIR/release/hashguard
W="$PWD/scripts/vpdq-tsv.sh"
T=$(nproc)
mkdir -p "$PEERS_DIR/results"
"$PEERS_DIR/venv/bin/python" "$BENCH" --video "$VIDEO" --repeat "${REPEAT:-3}" \
  --external "hashguard 1fps t1=$W --threads 1 {video}" \
  --external "hashguard 1fps t$T=$W --threads $T {video}" \
  --external "hashguard every-frame t1=$W --threads 1 --video-sampling every-frame {video}" \
  --external "hashguard every-frame t$T=$W --threads $T --video-sampling every-frame {video}" \
  --external "hashguard keyframes (triage) t1=$W --threads 1 --video-sampling keyframes {video}" \
  --json "$PEERS_DIR/results/video-hashguard.json"
