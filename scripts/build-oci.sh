#!/usr/bin/env bash
# build-oci.sh [OUT] — the image of deploy/container/Dockerfile built without a container
# engine or a registry: the release binary, a Debian 12 root file system with only its runtime
# libraries (mmdebstrap, essential variant: no apt, no shell tools beyond the essential set),
# a non-root user, packed as an OCI image layout with umoci and written as OUT (default
# target/hashguard-oci.tar, `hashguard:latest` inside). Then a smoke run of that very root
# file system under bubblewrap (no engine): it starts, answers health, matches a hash.
# Needs root (mmdebstrap's root mode), mmdebstrap, umoci and bubblewrap (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/hashguard/target}
OUT=${1:-$CARGO_TARGET_DIR/hashguard-oci.tar}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# HASHGUARD_BIN packs a binary already built instead (CI smoke-tests the packaging with the
# test build's binary rather than compile RocksDB once more for the release profile).
if [ -z "${HASHGUARD_BIN:-}" ]; then cargo build --release --locked --bin hashguard; fi
BIN=${HASHGUARD_BIN:-$CARGO_TARGET_DIR/release/hashguard}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The image carries the binary without its line tables (kept in the build for profiling).
mkdir -p "$WORK/bin" && strip -o "$WORK/bin/hashguard" "$BIN"

# The runtime libraries come from the same packages the Dockerfile installs.
mmdebstrap --variant=essential --quiet \
  --include=libavcodec59,libavformat59,libavutil57,libswscale6,libheif1,libarchive13,libtsk19,ca-certificates \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook='echo "hashguard:x:10001:10001::/var/lib/hashguard:/usr/sbin/nologin" >> "$1/etc/passwd"' \
  --customize-hook='echo "hashguard:x:10001:" >> "$1/etc/group"' \
  --customize-hook='install -d -o 10001 -g 10001 -m 0700 "$1/var/lib/hashguard"' \
  --customize-hook='mkdir -p "$1/etc/hashguard/secrets"' \
  --customize-hook="copy-in $WORK/bin/hashguard /usr/bin" \
  --customize-hook='copy-in deploy/container/serve.toml /etc/hashguard' \
  --customize-hook='rm -rf "$1/var/cache/apt" "$1/var/lib/apt/lists"' \
  bookworm "$WORK/rootfs" "$MIRROR"

# The OCI image: one layer from the root file system, the Dockerfile's configuration.
umoci init --layout "$WORK/layout"
umoci new --image "$WORK/layout:hashguard"
umoci unpack --rootless --image "$WORK/layout:hashguard" "$WORK/bundle" >/dev/null 2>&1
rm -rf "$WORK/bundle/rootfs" && cp -a "$WORK/rootfs" "$WORK/bundle/rootfs"
umoci repack --image "$WORK/layout:hashguard" "$WORK/bundle"
umoci config --image "$WORK/layout:hashguard" --tag latest \
  --config.user=10001:10001 --config.entrypoint=/usr/bin/hashguard \
  --config.cmd=serve --config.cmd=--log-format --config.cmd=json \
  --config.env=HASHGUARD_DATA=/var/lib/hashguard \
  --config.env=HASHGUARD_CONFIG=/etc/hashguard/serve.toml \
  --config.exposedports=50051/tcp --config.exposedports=8081/tcp \
  --config.volume=/var/lib/hashguard
umoci gc --layout "$WORK/layout"
mkdir -p "$(dirname "$OUT")"
tar -C "$WORK/layout" -cf "$OUT" .
echo "oci: $OUT ($(du -h "$OUT" | cut -f1)), image hashguard:latest"

# Smoke run: the image's own root file system (unpacked from the archive just written), under
# bubblewrap as the image's user, on loopback; a token and a one-hash list made for it.
SMOKE=$WORK/smoke
mkdir -p "$SMOKE/layout" && tar -C "$SMOKE/layout" -xf "$OUT"
umoci unpack --rootless --image "$SMOKE/layout:latest" "$SMOKE/bundle" >/dev/null 2>&1
ROOT=$SMOKE/bundle/rootfs
MD5=$(printf 'oci-smoke' | md5sum | cut -d' ' -f1)
TOKEN=$("$BIN" token new --role operator --tenant smoke 2>&1 >"$SMOKE/tokens.toml" | grep '^hg_')
echo "$MD5" > "$SMOKE/md5.txt"
"$BIN" --data "$SMOKE/data" lists import --list smoke --kind md5 "$SMOKE/md5.txt" >/dev/null
# bwrap maps this (root) user to the image's 10001 inside, so the files stay ours.
cat > "$SMOKE/serve.toml" <<TOML
listen = "127.0.0.1:0"
tokens = "/etc/hashguard/secrets/tokens.toml"
[health]
listen = "127.0.0.1:0"
TOML
bwrap --bind "$ROOT" / --proc /proc --dev /dev --tmpfs /tmp \
  --bind "$SMOKE/data" /var/lib/hashguard \
  --ro-bind "$SMOKE/serve.toml" /etc/hashguard/serve.toml \
  --ro-bind "$SMOKE/tokens.toml" /etc/hashguard/secrets/tokens.toml \
  --uid 10001 --gid 10001 --unshare-user --unshare-pid --unshare-ipc --die-with-parent \
  --setenv HASHGUARD_DATA /var/lib/hashguard --setenv HASHGUARD_CONFIG /etc/hashguard/serve.toml \
  /usr/bin/hashguard serve 2> "$SMOKE/serve.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 300); do grep -q "lists loaded" "$SMOKE/serve.log" && break; sleep 0.1; done
ADDR=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$SMOKE/serve.log" | head -n 1)
HEALTH=$(sed -n 's/.*health on \([0-9.:]*\).*/\1/p' "$SMOKE/serve.log" | head -n 1)
[ -n "$ADDR" ] && [ -n "$HEALTH" ] || { cat "$SMOKE/serve.log"; echo "oci smoke: did not start"; exit 1; }
# Health, with the Python client's grpcio (raw bytes: HealthCheckRequest{service} in,
# HealthCheckResponse{status: SERVING} = 08 01 out).
PY=${PY_CLIENT_VENV:-$HOME/.cache/hashguard/py-client-venv}/bin/python
[ -x "$PY" ] || { python3 -m venv "${PY%/bin/python}" && "$PY" -m pip install -q -r clients/python/requirements.txt; }
"$PY" - "$HEALTH" <<'PY'
import sys, grpc
ch = grpc.insecure_channel(sys.argv[1])
check = ch.unary_unary("/grpc.health.v1.Health/Check")
svc = b"hashguard.v1.Matcher"
assert check(b"\n" + bytes([len(svc)]) + svc, timeout=10) == b"\x08\x01", "Matcher not SERVING"
print("oci smoke: health SERVING")
PY
HASHGUARD_TOKEN=$TOKEN "$BIN" submit --server "http://$ADDR" "md5:$MD5" | grep -q '"matched":true' \
  || { cat "$SMOKE/serve.log"; echo "oci smoke: the listed hash did not match"; exit 1; }
echo "oci smoke: a listed hash matched; passed"
