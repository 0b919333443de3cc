#!/usr/bin/env bash
# bench-serve.sh [DIR] — MatchHashes under load, as docs/performance.md reports it: a store with
# a 1M-entry PDQ list and a 10M-entry MD5 list (random synthetic hashes), `hashguard serve` on an
# ephemeral loopback port, and the `loadgen` example with 64 clients for 20 s each: one PDQ a
# request (1% of the queries near-duplicates of listed hashes, so 1% file a synced report), then
# one MD5 a request. Loopback only; every run is bounded in time. Prints loadgen's JSON lines.
# BACKEND=postgres keeps the reports in a PostgreSQL 15 started for the run (as the tests do).
#   PDQ_N=1000000 MD5_N=10000000 CLIENTS=64 DURATION=20 scripts/bench-serve.sh /tmp/hg-serve-bench
#   BACKEND=postgres KINDS=pdq scripts/bench-serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/tmp/hashguard-serve-bench}
PDQ_N=${PDQ_N:-1000000} MD5_N=${MD5_N:-10000000} CLIENTS=${CLIENTS:-64} DURATION=${DURATION:-20}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/hashguard/target}
# HG and LOADGEN may name other builds (e.g. an older release, to compare in one run).
if [[ -z ${HG:-} || -z ${LOADGEN:-} ]]; then cargo build --release --locked --all-targets; fi
HG=${HG:-$CARGO_TARGET_DIR/release/hashguard} LOADGEN=${LOADGEN:-$CARGO_TARGET_DIR/release/examples/loadgen}
mkdir -p "$DIR"
if [[ ! -f $DIR/.made-$PDQ_N-$MD5_N ]]; then
  rm -rf "$DIR/data"
  python3 - "$DIR" "$PDQ_N" "$MD5_N" <<'PY'
import os, random, sys
d, pdq_n, md5_n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(2026)
listed = []
with open(f"{d}/pdq.txt", "w") as f:
    for _ in range(pdq_n):
        h = rng.getrandbits(256)
        listed.append(h)
        f.write(f"{h:064x}\n")
with open(f"{d}/md5.txt", "w") as f:
    for _ in range(md5_n):
        f.write(f"{rng.getrandbits(128):032x}\n")
with open(f"{d}/queries-pdq.txt", "w") as f:
    for i in range(100_000):
        if i % 100 == 0:  # a near-duplicate: a listed hash with 8 bits flipped
            h = listed[rng.randrange(len(listed))]
            for b in rng.sample(range(256), 8):
                h ^= 1 << b
        else:
            h = rng.getrandbits(256)
        f.write(f"pdq:{h:064x}\n")
with open(f"{d}/queries-md5.txt", "w") as f:
    for _ in range(100_000):
        f.write(f"md5:{rng.getrandbits(128):032x}\n")
PY
  "$HG" --data "$DIR/data" lists import --list bench-pdq --kind pdq "$DIR/pdq.txt"
  "$HG" --data "$DIR/data" lists import --list bench-md5 --kind md5 "$DIR/md5.txt"
  touch "$DIR/.made-$PDQ_N-$MD5_N"
fi
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat > "$DIR/tokens.toml" <<TOML
[[token]]
sha256 = "$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)"
role = "operator"
tenant = "bench"
TOML
# A fresh report log each run, so reports from earlier runs do not add up. No report quota:
# 1% of 64 clients' calls file more than the default 100 reports a second of one tenant.
rm -rf "$DIR/run" && cp -r "$DIR/data" "$DIR/run"
printf '[limits]\ntenant_report_rate = 0.0\n' > "$DIR/serve.toml"
CLEANUP=()
if [[ ${BACKEND:-rocksdb} == postgres ]]; then
  # The shared report log: a PostgreSQL 15 of this run's own, as the tests start it.
  PG=/usr/lib/postgresql/15/bin
  as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  rm -rf "$DIR/pg" && mkdir -p "$DIR/pgroot"
  [[ $(id -u) == 0 ]] && chown postgres:postgres "$DIR/pgroot"
  PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_pg "$PG/initdb" -D "$DIR/pgroot/data" -U postgres -A trust -E UTF8 >/dev/null
  as_pg "$PG/pg_ctl" -D "$DIR/pgroot/data" -l "$DIR/pgroot/log" -w \
    -o "-p $PGPORT -c listen_addresses=127.0.0.1 -k $DIR/pgroot" start >/dev/null
  CLEANUP+=("as_pg $PG/pg_ctl -D $DIR/pgroot/data -m fast stop; rm -rf $DIR/pgroot")
  printf '[reports]\nbackend = "postgres"\n' >> "$DIR/serve.toml"
  export HASHGUARD_POSTGRES_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"
fi
"$HG" --data "$DIR/run" serve --config "$DIR/serve.toml" --listen 127.0.0.1:0 \
  --tokens "$DIR/tokens.toml" 2> "$DIR/serve.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; for c in "${CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1 || true; done' EXIT
for _ in $(seq 600); do grep -q "listening on" "$DIR/serve.log" && break; sleep 0.1; done
ADDR=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$DIR/serve.log" | head -n 1)
for _ in $(seq 1200); do grep -q "lists loaded" "$DIR/serve.log" && break; sleep 0.1; done
for kind in ${KINDS:-pdq md5}; do
  "$LOADGEN" --addr "$ADDR" --token "$TOKEN" --hashes "$DIR/queries-$kind.txt" \
    --clients "$CLIENTS" --seconds "$DURATION" | sed "s/^/$kind: /"
done
