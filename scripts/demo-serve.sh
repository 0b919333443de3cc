#!/usr/bin/env bash
# demo-serve.sh BIN DATA — starts `hashguard serve` on 127.0.0.1:50051 over DATA (which `make
# run` has filled with the demo list), with fresh demo tokens for each role printed here.
# The tokens file keeps only their SHA-256. Ctrl-C stops the server.
set -euo pipefail
BIN=$1 DATA=$2
mkdir -p "$DATA/demo"
tok() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
OP=$(tok) INV=$(tok) ADM=$(tok)
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
cat > "$DATA/demo/tokens.toml" <<TOML
[[token]]
sha256 = "$(sha "$OP")"
role = "operator"
tenant = "demo-platform"

[[token]]
sha256 = "$(sha "$INV")"
role = "investigator"
unit = "demo-unit"

[[token]]
sha256 = "$(sha "$ADM")"
role = "admin"
name = "demo-admin"
TOML
cat > "$DATA/demo/serve.toml" <<TOML
listen = "127.0.0.1:50051"
tokens = "$DATA/demo/tokens.toml"

[routing]
default_unit = "demo-unit"
TOML
cat <<MSG

== hashguard serve on 127.0.0.1:50051 (demo tokens, valid for this run only)
  operator (tenant demo-platform):  $OP
  investigator (unit demo-unit):    $INV
  admin:                            $ADM

  Try, in another terminal (grpcurl uses reflection):
    grpcurl -plaintext -H 'authorization: Bearer $OP' \\
      -d '{"hashes":[{"kind":"HASH_KIND_PDQ","hex":"$(head -n1 "${DEMO_LIST:-/dev/null}" 2>/dev/null || echo '<64 hex>')"}],"tenant_reference":"demo-1"}' \\
      127.0.0.1:50051 hashguard.v1.Matcher/MatchHashes
    grpcurl -plaintext -H 'authorization: Bearer $INV' -d '{}' \\
      127.0.0.1:50051 hashguard.v1.Reports/FollowReports
  Ctrl-C stops the server.

MSG
exec "$BIN" --data "$DATA" serve --config "$DATA/demo/serve.toml"
