#!/usr/bin/env bash
# check-systemd.sh — `systemd-analyze verify` of deploy/systemd/hashguard.service (its binary
# path pointed at this build) and its `systemd-analyze security` exposure, which must stay at
# 2.0 or below ("OK"). Offline: no running systemd is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/hashguard/target}/debug/hashguard}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
sed "s#/usr/bin/hashguard#$BIN#" deploy/systemd/hashguard.service > "$TMP/hashguard.service"
# verify warns about the credentials' source files, which exist only on a real installation.
{ systemd-analyze verify "$TMP/hashguard.service" 2>&1 || true; } | { grep -v "credentials" || true; } | tee "$TMP/verify.log"
if [ -s "$TMP/verify.log" ]; then echo "systemd unit: verify reported problems"; exit 1; fi
score=$(systemd-analyze security --offline=true "$TMP/hashguard.service" 2>&1 \
  | sed -n 's/.*Overall exposure level for hashguard.service: \([0-9.]*\).*/\1/p')
echo "systemd unit: verify clean; exposure $score"
python3 -c "import sys; sys.exit(0 if float('$score') <= 2.0 else 1)" \
  || { echo "systemd unit: exposure $score is above 2.0"; exit 1; }
