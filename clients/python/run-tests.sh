#!/usr/bin/env bash
# run-tests.sh [HASHGUARD] — the Python client's tests against a server started here: a
# virtual environment with the pinned grpcio packages, the stubs generated from the proto, a
# store with a listed MD5 and a listed scene, tokens made by `hashguard token new`, and
# `hashguard serve` on an ephemeral loopback port. Run by CI after the Rust tests.
set -euo pipefail
cd "$(dirname "$0")"
BIN=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/hashguard/target}/debug/hashguard}
VENV=${PY_CLIENT_VENV:-$HOME/.cache/hashguard/py-client-venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt
./generate.sh "$VENV/bin/python"

TMP=$(mktemp -d)
SERVER=
# The server writes its store until it has exited: wait for it before removing the directory,
# or rm races with its last writes (and fails the run).
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
ROOT=../..
MD5=$(printf 'python-client-test-secret' | md5sum | cut -d' ' -f1)
echo "$MD5" > "$TMP/md5.txt"
"$BIN" hash --algo pdq --format tsv "$ROOT/testdata/images/base/p00_480x360.png" | cut -f2 > "$TMP/pdq.txt"
"$BIN" --data "$TMP/data" lists import --list py-md5 --kind md5 "$TMP/md5.txt" >/dev/null
"$BIN" --data "$TMP/data" lists import --list py-pdq --kind pdq "$TMP/pdq.txt" >/dev/null
token() { "$BIN" token new "$@" 2>&1 >>"$TMP/tokens.toml" | grep '^hg_'; }
OPERATOR=$(token --role operator --tenant py)
INVESTIGATOR=$(token --role investigator --unit py-unit)
cat > "$TMP/serve.toml" <<TOML
listen = "127.0.0.1:0"
tokens = "$TMP/tokens.toml"
[routing]
default_unit = "py-unit"
TOML
"$BIN" --data "$TMP/data" serve --config "$TMP/serve.toml" 2> "$TMP/serve.log" &
SERVER=$!
for _ in $(seq 300); do grep -q "lists loaded" "$TMP/serve.log" && break; sleep 0.1; done
ADDR=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$TMP/serve.log" | head -n 1)
[ -n "$ADDR" ] || { cat "$TMP/serve.log"; exit 1; }
HASHGUARD_TEST_ADDR=$ADDR HASHGUARD_TEST_OPERATOR=$OPERATOR \
HASHGUARD_TEST_INVESTIGATOR=$INVESTIGATOR HASHGUARD_TEST_MD5=$MD5 \
HASHGUARD_TEST_SCENE="$ROOT/testdata/images/variants/p00_480x360_resize50.png" \
PYTHONPATH=. "$VENV/bin/python" -m unittest discover -s tests -v
