#!/usr/bin/env bash
# bench-scan.sh [DIR] [N] — `hashguard scan` over a generated tree of N files (default 100,000:
# 90% random files of 100 B-128 KB, log-uniform; 10% images, copies of testdata/images made
# unique by a trailer their decoders ignore), beside md5sum, sha1sum and sha256sum run one after
# another over the same files. Everything is read from the page cache (one warm-up pass), so the
# figures compare CPU work, not the disk. Peak memory from /usr/bin/time -v.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/tmp/hashguard-scan-bench}
N=${2:-100000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/hashguard/target}
# HG may name another build (e.g. an older release, to compare in one run).
if [[ -z ${HG:-} ]]; then cargo build --release --locked --all-targets; fi
HG=${HG:-$CARGO_TARGET_DIR/release/hashguard}
TREE=$DIR/tree
if [[ ! -f $DIR/.made-$N ]]; then
  rm -rf "$DIR"; mkdir -p "$TREE"
  python3 - "$TREE" "$N" <<'PY'
import math, os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(2026)
images = []
for d, _, files in os.walk("testdata/images"):
    images += [os.path.join(d, f) for f in files if f.endswith((".png", ".jpg")) and "broken" not in d]
images.sort()
blobs = [open(p, "rb").read() for p in images]
for i in range(n):
    sub = os.path.join(root, f"d{i // 1000:03d}")
    os.makedirs(sub, exist_ok=True)
    if i % 10 == 0:
        b = blobs[(i // 10) % len(blobs)]
        ext = ".png" if b[:4] == b"\x89PNG" else ".jpg"
        data = b + f"unique-{i}".encode()
    else:
        ext = ".bin"
        data = rng.randbytes(int(math.exp(rng.uniform(math.log(100), math.log(131072)))))
    with open(os.path.join(sub, f"f{i:06d}{ext}"), "wb") as f:
        f.write(data)
PY
  touch "$DIR/.made-$N"
fi
echo "tree: $(find "$TREE" -type f | wc -l) files, $(du -sb "$TREE" | cut -f1) bytes"
# A store with a small list, so the scan has something to match against.
printf '%s\n' 0123456789abcdef0123456789abcdef > "$DIR/md5.txt"
rm -rf "$DIR/data"; "$HG" --data "$DIR/data" lists import --list bench --kind md5 "$DIR/md5.txt" >/dev/null
cat "$(find "$TREE" -type f | head -1)" > /dev/null; find "$TREE" -type f -print0 | xargs -0 cat > /dev/null
t() { local name=$1; shift; /usr/bin/time -f "$name: wall %e s, user %U s, sys %S s, max RSS %M KB" "$@"; }
t "md5sum+sha1sum+sha256sum" bash -c "cd '$TREE' && find . -type f -print0 | xargs -0 md5sum >/dev/null && find . -type f -print0 | xargs -0 sha1sum >/dev/null && find . -type f -print0 | xargs -0 sha256sum >/dev/null"
for mode in --no-perceptual ""; do
  rm -rf "$DIR/out"
  t "hashguard scan --threads 2 ${mode:-(perceptual on)}" "$HG" --data "$DIR/data" scan "$TREE" --case bench --out "$DIR/out" --threads 2 --quiet $mode --signing-key "$DIR/key" || true
  jq -c '.totals' "$DIR/out/summary.json" 2>/dev/null || python3 -c "import json;print(json.load(open('$DIR/out/summary.json'))['totals'])"
done
