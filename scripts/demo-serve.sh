#!/usr/bin/env bash
# demo-serve.sh BIN DATA — starts `hashguard serve` on 127.0.0.1:50051 over DATA (which `make
# run` has filled with the demo list), with fresh demo tokens for each role printed here, and
# metrics on 127.0.0.1:9464 when that port is free. The tokens file keeps only their SHA-256.
# Ctrl-C stops the server.
set -euo pipefail
BIN=$(realpath "$1") DATA=$2
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
# Metrics stay off rather than failing the demo when something else holds their port.
METRICS=127.0.0.1:9464
METRICS_HOW="curl -s http://$METRICS/metrics"
if (exec 3<>/dev/tcp/127.0.0.1/9464) 2>/dev/null; then METRICS="" METRICS_HOW="off (port 9464 is taken)"; fi
cat > "$DATA/demo/serve.toml" <<TOML
listen = "127.0.0.1:50051"
tokens = "$DATA/demo/tokens.toml"

[routing]
default_unit = "demo-unit"

[metrics]
listen = "$METRICS"
TOML
cat <<MSG

== hashguard serve on 127.0.0.1:50051 (demo tokens, valid for this run only)
  operator (tenant demo-platform):  $OP
  investigator (unit demo-unit):    $INV
  admin:                            $ADM

  Try, in another terminal: submit a listed hash and a resized copy of a listed scene
  (an operator's verdicts; each match files a report for the demo unit):
    HASHGUARD_TOKEN=$OP $BIN submit --reference demo-1 \\
      pdq:$(head -n1 "${DEMO_LIST:-/dev/null}" 2>/dev/null || echo '<64 hex>') \\
      testdata/images/variants/p00_480x360_resize50.png
  (or with grpcurl, which reflection serves:
    grpcurl -plaintext -H 'authorization: Bearer $OP' \\
      -d '{"hashes":[{"kind":"HASH_KIND_PDQ","hex":"$(head -n1 "${DEMO_LIST:-/dev/null}" 2>/dev/null || echo '<64 hex>')"}],"tenant_reference":"demo-1"}' \\
      127.0.0.1:50051 hashguard.v1.Matcher/MatchHashes)
  Follow the demo unit's reports as they are filed (then run the submit line above):
    HASHGUARD_TOKEN=$INV $BIN reports follow
  Export them: the same with \`reports export --format csv\` (or jsonl).
  Metrics: $METRICS_HOW
  Ctrl-C stops the server.

MSG
exec "$BIN" --data "$DATA" serve --config "$DATA/demo/serve.toml"
