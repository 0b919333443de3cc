#!/usr/bin/env bash
# bench-reports.sh [REPORTS] — the report log's figures for docs/performance.md, both backends
# in one run on this machine: filings per second (16 threads, each report durable), the cost of
# an audit append, and paging through one unit of REPORTS (default 1,000,000) reports. PostgreSQL
# 15 runs from Debian's packages in a temporary directory on a loopback port, as the tests run it.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/hashguard/target}
cargo build --release --locked --example bench_reports
BENCH=$CARGO_TARGET_DIR/release/examples/bench_reports
DIR=$(mktemp -d /tmp/hashguard-bench-reports.XXXXXX)
PG=/usr/lib/postgresql/15/bin
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $(id -u) == 0 ]] && chown postgres:postgres "$DIR"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { as_pg "$PG/pg_ctl" -D "$DIR/pg" -m fast stop >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
as_pg "$PG/initdb" -D "$DIR/pg" -U postgres -A trust -E UTF8 >/dev/null
as_pg "$PG/pg_ctl" -D "$DIR/pg" -l "$DIR/pg.log" -w \
  -o "-p $PORT -c listen_addresses=127.0.0.1 -k $DIR" start >/dev/null
mkdir -p "$DIR/rocks" && chmod 777 "$DIR/rocks"
"$BENCH" rocksdb "$DIR/rocks" "$N"
HASHGUARD_POSTGRES_URL="postgres://postgres@127.0.0.1:$PORT/postgres" "$BENCH" postgres "$N"
