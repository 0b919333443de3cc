#!/usr/bin/env bash
# bench-video-lists.sh [VIDEOS] — the video-list figures for docs/performance.md: import of
# VIDEOS (default 100,000) synthetic listed videos of 60-600 frames, load time and resident
# memory per listed frame, and matching time per query video (a 1-hour query at 1 frame per
# second, with and without an excerpt of a listed video, and a copy of one) at several discovery
# radii, one core. Needs about 7 GB of disk and 4 GB of memory at the default size.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/hashguard/target}
cargo build --release --locked --example bench_video
DIR=$(mktemp -d /tmp/hashguard-bench-video.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
"$CARGO_TARGET_DIR/release/examples/bench_video" "$DIR" "$N"
