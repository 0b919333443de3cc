#!/usr/bin/env bash
# bench-isolation.sh [DIR] — the cost of sandboxed decoder workers, as docs/performance.md
# reports it: MatchMedia with a 1920x1080 JPEG (the `loadgen` example, CLIENTS clients for
# DURATION s) against `serve` with [decoders] isolate = true and = false, alternating ROUNDS
# times; then `hashguard scan` of a generated tree (bench-scan.sh's, N files) with and without
# --decode-in-process. Same binary, same machine, one session. Loopback only, bounded in time.
#   CLIENTS=4 DURATION=20 ROUNDS=2 N=20000 scripts/bench-isolation.sh /tmp/hg-isolation
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/tmp/hashguard-isolation-bench}
CLIENTS=${CLIENTS:-4} DURATION=${DURATION:-20} ROUNDS=${ROUNDS:-2} N=${N:-20000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/hashguard/target}
if [[ -z ${HG:-} || -z ${LOADGEN:-} ]]; then
  cargo build --release --locked --bin hashguard --example loadgen
fi
HG=${HG:-$CARGO_TARGET_DIR/release/hashguard} LOADGEN=${LOADGEN:-$CARGO_TARGET_DIR/release/examples/loadgen}
mkdir -p "$DIR"
# The upload: a synthetic scene scaled to 1920x1080, JPEG quality 90 (Python's standard library
# has no JPEG encoder; the project's own binary has none either, so Pillow makes it).
if [[ ! -f $DIR/hd.jpg ]]; then
  python3 -c "
from PIL import Image
Image.open('testdata/images/base/p00_480x360.png').convert('RGB').resize((1920, 1080), Image.BICUBIC).save('$DIR/hd.jpg', quality=90)"
fi
if [[ ! -d $DIR/data ]]; then
  printf 'f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22\n' > "$DIR/pdq.txt"
  "$HG" --data "$DIR/data" lists import --list bench --kind pdq "$DIR/pdq.txt" >/dev/null
fi
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat > "$DIR/tokens.toml" <<TOML
[[token]]
sha256 = "$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)"
role = "operator"
tenant = "bench"
TOML
media() { # media ISOLATE
  cat > "$DIR/serve.toml" <<TOML
listen = "127.0.0.1:0"
tokens = "$DIR/tokens.toml"
[limits]
max_jobs = $CLIENTS
max_upload_bytes = 16000000
[decoders]
isolate = $1
TOML
  "$HG" --data "$DIR/data" serve --config "$DIR/serve.toml" 2> "$DIR/serve.log" &
  local server=$!
  for _ in $(seq 600); do grep -q "lists loaded" "$DIR/serve.log" && break; sleep 0.1; done
  local addr
  addr=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$DIR/serve.log" | head -n 1)
  "$LOADGEN" --addr "$addr" --token "$TOKEN" --upload "$DIR/hd.jpg" --clients "$CLIENTS" \
    --seconds "$DURATION" | sed "s/^/media isolate=$1: /"
  kill $server; wait $server 2>/dev/null || true
}
for _ in $(seq "$ROUNDS"); do media true; media false; done

# The scan tree, as bench-scan.sh makes it.
if [[ ! -f $DIR/scan/.made-$N ]]; then
  HG=$HG scripts/bench-scan.sh "$DIR/scan" "$N" >/dev/null 2>&1 || true
fi
cat "$DIR"/scan/tree/*/* > /dev/null
scan() { # scan LABEL ARGS...
  local label=$1; shift
  rm -rf "$DIR/out"
  local t0 t1
  t0=$(date +%s.%N)
  "$HG" --data "$DIR/data" scan "$DIR/scan/tree" --case bench --out "$DIR/out" -q "$@" || true
  t1=$(date +%s.%N)
  python3 -c "print('scan $label: %d files in %.2f s = %.0f files/s' % ($N, $t1 - $t0, $N / ($t1 - $t0)))"
}
for _ in $(seq "$ROUNDS"); do scan isolated; scan in-process --decode-in-process; done
