#!/usr/bin/env bash
# bench-seized.sh — what opening seized media costs `hashguard scan`: the same 100,000 files
# scanned (a) as a directory tree, (b) inside a raw ext4 disk image (The Sleuth Kit) and (c)
# inside a ZIP (libarchive).
#
#   scripts/bench-seized.sh            # build the inputs in a temp dir, scan, print a table
#   KEEP=1 scripts/bench-seized.sh     # keep the temp dir (inputs, logs, summaries)
#   TMPDIR=/dev/shm scripts/bench-seized.sh   # build in RAM when the disk is short (~5.5 GB)
#
# What it measures. A tree of N_IMAGES synthetic PNGs (default 10,000: random rectangles,
# discs and a block of noise on a gradient, 256-640 x 192-480 px, ~30 KB each, written by
# python3's standard library; no photographs) and N_OTHER other files (default 90,000: 60%
# random bytes, 40% text, sizes uniform in 100 B-30 KB), 1,000 files a directory in 10 x 10
# nested directories: ~1.65 GB, fixed by SEED. The same tree is put into a raw ext4 image
# (`mke2fs -t ext4 -d TREE`, no root; IMG_SIZE, default 2G, grown if the tree does not fit)
# and into a ZIP (`zip -r`, ZIP_LEVEL, default -0: stored, so that the ZIP figure is the cost
# of libarchive's reading rather than of inflating). Each input is scanned with the same
# options (default ones: perceptual hashing on, one worker thread per CPU; SCAN_OPTS adds
# more), against a fresh data dir holding one MD5 list of one entry, with -q, in the order
# directory, ext4.img, ZIP. ROUNDS rounds (default 2) of the three, each round after reading
# every input once to /dev/null (page cache warm: the figures compare CPU work, not the disk);
# the best wall time of each input is kept. NOPERC=1 (default) adds one round with
# --no-perceptual (digests only), separating image decoding and hashing from reading,
# walking and container overhead. Wall clock from date(1), peak memory (largest RSS of the
# scan process; its decoder workers are not waited for, so neither their memory nor their CPU
# time is in /usr/bin/time's figures) from /usr/bin/time -v. On a shared machine each scan
# waits until the machine is quiet (QUIET_WAIT, default 900 s; 0: don't) and `top` watches
# for other busy processes during it; such runs are marked noisy and lose to quiet ones.
#
# Reported per input: entries (summary.json .totals.found; a container adds its own record),
# wall, files/s (entries / wall), payload MB/s (the directory scan's .totals.bytes, the same
# file contents in all three, / wall), input MB/s (bytes of the input file(s) / wall), peak
# RSS, and throughput relative to the directory scan. Ends with a Markdown table.
#
# Environment: HG (hashguard binary; default $CARGO_TARGET_DIR or ~/.cache/hashguard/target
# release build, never built here), WORK (build into / reuse this dir instead of a temp dir;
# never deleted), KEEP, TMPDIR, N_IMAGES, N_OTHER, SEED, IMG_SIZE, ZIP_LEVEL, ROUNDS, NOPERC,
# SCAN_OPTS, QUIET_WAIT. Needs python3, mke2fs (e2fsprogs >= 1.43), zip, jq, /usr/bin/time.
# Default sizes need ~5.5 GB free where the temp dir is; the script checks before building.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin" LC_ALL=C TZ=UTC
cd "$(dirname "$0")/.."

TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/hashguard/target}
HG=${HG:-$TARGET/release/hashguard}
N_IMAGES=${N_IMAGES:-10000}
N_OTHER=${N_OTHER:-90000}
SEED=${SEED:-2026}
IMG_SIZE=${IMG_SIZE:-2G}
ZIP_LEVEL=${ZIP_LEVEL:-0}
ROUNDS=${ROUNDS:-2}
NOPERC=${NOPERC:-1}
SCAN_OPTS=${SCAN_OPTS:-}
QUIET_WAIT=${QUIET_WAIT:-900}

for t in python3 mke2fs zip jq /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "$0: missing tool: $t" >&2; exit 2; }
done
[[ -x $HG ]] || { echo "$0: no hashguard binary at $HG (set HG=)" >&2; exit 2; }

WATCH=
cleanup() {
  if [[ -n $WATCH ]]; then watch_stop; fi
  if [[ -n ${WORK:-} || ${KEEP:-0} == 1 ]]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
if [[ -n ${WORK:-} ]]; then
  W=$WORK; mkdir -p "$W"
else
  W=$(mktemp -d "${TMPDIR:-/tmp}/bench-seized.XXXXXX")
fi
trap cleanup EXIT
TREE=$W/tree IMG=$W/ext4.img ZIP=$W/tree.zip LOG=$W/logs
mkdir -p "$LOG"
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# ---- inputs -------------------------------------------------------------------------------
STAMP=$W/.built-$N_IMAGES-$N_OTHER-$SEED-$IMG_SIZE-$ZIP_LEVEL
if [[ ! -f $STAMP ]]; then
  # Tree ~ 30 KB a PNG + 15 KB another file; the image holds it again (+ ~12% of block
  # rounding and metadata), the ZIP once more.
  need_kb=$(( (N_IMAGES * 30 + N_OTHER * 15) * 33 / 10 + 512 * 1024 ))
  avail_kb=$(df -Pk "$W" | awk 'NR == 2 { print $4 }')
  if (( avail_kb < need_kb )); then
    echo "$0: $W has $((avail_kb / 1024)) MB free, the inputs need ~$((need_kb / 1024)) MB" \
      "(try TMPDIR=/dev/shm or smaller N_IMAGES/N_OTHER)" >&2
    exit 2
  fi
  rm -rf "$TREE" "$IMG" "$ZIP" "$W"/.built-*
  log "generating $N_IMAGES PNGs and $N_OTHER other files in $TREE"
  python3 - "$TREE" "$N_IMAGES" "$N_OTHER" "$SEED" <<'PY'
import math, os, random, struct, sys, zlib
from multiprocessing import Pool

root, n_img, n_other, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
n = n_img + n_other
# Every 10th file is an image, as long as images remain; then the rest.
step = max(1, n // n_img) if n_img else 0
WORDS = ("the of and to in is was for on that with as by at from this be are have not or "
         "seized device report case evidence file folder photo image video archive disk "
         "partition volume user home documents downloads cache thumbnail backup sync "
         "message contact calendar note invoice receipt draft final copy old new").split()

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

def png(rng):
    w, h = rng.randint(256, 640), rng.randint(192, 480)
    c0 = [rng.randrange(256) for _ in range(3)]
    c1 = [rng.randrange(256) for _ in range(3)]
    rows = []
    for y in range(h):
        t = y / (h - 1)
        rows.append(bytearray(bytes(int(a + (b - a) * t) for a, b in zip(c0, c1)) * w))
    for _ in range(rng.randint(3, 12)):
        col = bytes(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:  # rectangle
            x0, y0 = rng.randrange(w), rng.randrange(h)
            x1, y1 = min(w, x0 + rng.randint(8, w // 2)), min(h, y0 + rng.randint(8, h // 2))
            span = col * (x1 - x0)
            for y in range(y0, y1):
                rows[y][3 * x0:3 * x1] = span
        else:  # disc
            cx, cy, r = rng.randrange(w), rng.randrange(h), rng.randint(6, min(w, h) // 3)
            for y in range(max(0, cy - r), min(h, cy + r + 1)):
                dx = int(math.sqrt(r * r - (y - cy) ** 2))
                x0, x1 = max(0, cx - dx), min(w, cx + dx + 1)
                if x1 > x0:
                    rows[y][3 * x0:3 * x1] = col * (x1 - x0)
    # A block of noise (incompressible) sets the file size: ~16-38 KB of it.
    noise = rng.randint(16000, 38000) // 3
    nw = min(w, max(16, int(math.sqrt(noise * w / h))))
    nh = min(h, max(1, noise // nw))
    x0, y0 = rng.randrange(w - nw + 1), rng.randrange(h - nh + 1)
    for y in range(y0, y0 + nh):
        rows[y][3 * x0:3 * (x0 + nw)] = rng.randbytes(3 * nw)
    raw = b"".join(b"\0" + bytes(r) for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))

def make(i):
    rng = random.Random(f"{seed}-{i}")
    d = os.path.join(root, f"d{i // 10000:02d}", f"s{i // 1000 % 10:02d}")
    is_img = step and i % step == 0 and i // step < n_img
    if is_img:
        name, data = f"img{i:06d}.png", png(rng)
    else:
        size = rng.randint(100, 30000)
        if rng.random() < 0.6:
            name, data = f"f{i:06d}.bin", rng.randbytes(size)
        else:
            text = " ".join(rng.choices(WORDS, k=size // 4 + 1)).encode()
            name, data = f"t{i:06d}.txt", (text[:size].replace(b"e ", b"e\n"))
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    return len(data), (len(data) + 4095) // 4096 * 4096, int(bool(is_img))

for i in range(0, n, 1000):
    os.makedirs(os.path.join(root, f"d{i // 10000:02d}", f"s{i // 1000 % 10:02d}"), exist_ok=True)
with Pool(os.cpu_count()) as pool:
    res = pool.map(make, range(n), chunksize=500)
tot = sum(r[0] for r in res); blk = sum(r[1] for r in res)
img = sum(r[0] for r in res if r[2]); nimg = sum(r[2] for r in res)
print(f"{n} files, {tot} bytes ({blk} in 4 KiB blocks); {nimg} PNGs, {img} bytes "
      f"(mean {img // max(1, nimg)} B)", file=sys.stderr)
with open(os.path.join(os.path.dirname(root), "tree-blocks"), "w") as f:
    print(blk, file=f)
PY
  # The image must hold the tree's blocks + directories, journal (64 MiB), inode tables and
  # group metadata: 5% + 128 MiB over the files' blocks (1.89 GB of them by default: 2G fits).
  blk=$(cat "$W/tree-blocks")
  want=$(( blk * 105 / 100 + 128 * 1024 * 1024 ))
  size=$(numfmt --from=iec "$IMG_SIZE")
  if (( size < want )); then
    log "IMG_SIZE $IMG_SIZE is too small for the tree, using $((want >> 20)) MiB"
    size=$want
  fi
  inodes=$(( N_IMAGES + N_OTHER + 4096 ))
  log "mke2fs -t ext4 -d tree ($((size >> 20)) MiB, -N $inodes)"
  SECONDS=0
  E2FSPROGS_FAKE_TIME=1767225600 mke2fs -q -t ext4 -N "$inodes" -d "$TREE" -F "$IMG" "$((size / 1024))k" >&2
  log "  took ${SECONDS}s"
  log "zip -r -$ZIP_LEVEL"
  SECONDS=0
  (cd "$TREE" && zip -q -r -X "-$ZIP_LEVEL" "$ZIP" .)
  log "  took ${SECONDS}s"
  touch "$STAMP"
fi
log "inputs: tree $(du -sb "$TREE" | cut -f1) bytes, ext4.img $(stat -c %s "$IMG") bytes" \
  "($(du -B1 "$IMG" | cut -f1) allocated), tree.zip $(stat -c %s "$ZIP") bytes"

# ---- list ---------------------------------------------------------------------------------
DATA=$W/data
rm -rf "$DATA" "$W"/key "$W"/key.*
printf '%s\n' 0123456789abcdef0123456789abcdef > "$W/md5.txt"
"$HG" --data "$DATA" lists import --list bench --kind md5 "$W/md5.txt" >/dev/null

# ---- scans --------------------------------------------------------------------------------
warm() {
  find "$TREE" -type f -print0 | xargs -0 cat > /dev/null
  cat "$IMG" "$ZIP" > /dev/null
}
# A shared machine: before each scan, wait (up to QUIET_WAIT s) until other processes use
# less than a fifth of a core; during it, `top` watches for any other process above 20% CPU.
# Such a run is marked noisy (its log line says by whom) and is kept only when every run of
# that input was noisy (its wall time then marked *).
busy_pct() {  # CPU busy over 2 s, in % of one core (everything but idle and iowait)
  local a b
  read -ra a < <(grep '^cpu ' /proc/stat); sleep 2; read -ra b < <(grep '^cpu ' /proc/stat)
  local busy=0 total=0 i d
  for i in 1 2 3 4 5 6 7 8; do
    d=$(( b[i] - a[i] )); total=$(( total + d ))
    (( i != 4 && i != 5 )) && busy=$(( busy + d ))
  done
  echo $(( total ? busy * 100 * $(nproc) / total : 0 ))
}
wait_quiet() {
  local waited=0 pct
  while pct=$(busy_pct); (( pct > 20 && waited < QUIET_WAIT )); do
    (( waited == 0 )) && log "  waiting for the machine to be quiet (busy: ${pct}% of a core)"
    sleep 8; waited=$(( waited + 10 ))
  done
  (( waited > 0 )) && log "  waited ${waited}s (busy now ${pct}%)"
  return 0
}
SELF=$(basename "$HG" | cut -c1-15)
watch_start() {
  (top -b -d 2 -w 200 | awk -v self="$SELF" '/^ *[0-9]+ / && $9 + 0 > 20 &&
    $12 != self && $12 != "exe" && $12 != "top" { print $12 " " $9 "%"; fflush() }' > "$W/watch") &
  WATCH=$!
}
# Ends this script's own `top` (the child of the subshell above); awk then sees its end.
watch_stop() {
  pkill -P "$WATCH" -x top 2>/dev/null || true; wait "$WATCH" 2>/dev/null || true; WATCH=
}
declare -A BEST_WALL BEST_RSS FOUND BYTES OUTCOMES NOISY
# scan LABEL MODE INPUT: one timed run; keeps the best wall time per LABEL/MODE.
scan() {
  local label=$1 mode=$2 input=$3 out=$W/out rc=0 t0 t1 wall rss key=$1/$2
  rm -rf "$out"
  local opts=(--data "$DATA" scan "$input" --case bench --out "$out" -q --signing-key "$W/key")
  [[ $mode == noperc ]] && opts+=(--no-perceptual)
  # shellcheck disable=SC2206
  opts+=($SCAN_OPTS)
  [[ $QUIET_WAIT -gt 0 ]] && wait_quiet
  watch_start
  t0=$(date +%s.%N)
  /usr/bin/time -v -o "$LOG/time-$label-$mode-$RUN" "$HG" "${opts[@]}" || rc=$?
  t1=$(date +%s.%N)
  watch_stop
  local noisy
  noisy=$(sort "$W/watch" | awk '{ n[$1]++ } END { for (c in n) { printf "%s%s (%d samples)", s, c, n[c]; s = ", " } }')
  if (( rc > 3 )); then
    echo "$0: scan of $input failed (exit $rc)" >&2; tail -5 "$LOG/time-$label-$mode-$RUN" >&2; exit 1
  fi
  wall=$(printf '%.3f' "$(echo "$t1 - $t0" | bc)")
  rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$LOG/time-$label-$mode-$RUN")
  cp "$out/summary.json" "$LOG/summary-$label-$mode-$RUN.json"
  FOUND[$key]=$(jq '.totals.found' "$out/summary.json")
  BYTES[$key]=$(jq '.totals.bytes' "$out/summary.json")
  OUTCOMES[$key]=$(jq -c '.totals.outcomes' "$out/summary.json")
  log "  $label ($mode, run $RUN): ${wall}s, ${FOUND[$key]} entries, ${OUTCOMES[$key]}, max RSS ${rss} KB, exit $rc${noisy:+ — NOISY: $noisy}"
  echo "$label $mode $RUN $wall ${noisy:+noisy}" >> "$LOG/runs"
  # Quiet runs beat noisy ones; among the same kind, the faster.
  local n=${noisy:+1}
  if [[ -z ${BEST_WALL[$key]:-} ]] || (( ${n:-0} < ${NOISY[$key]} )) ||
     { (( ${n:-0} == ${NOISY[$key]} )) && (( $(echo "$wall < ${BEST_WALL[$key]}" | bc) )); }; then
    BEST_WALL[$key]=$wall NOISY[$key]=${n:-0}
  fi
  if [[ -z ${BEST_RSS[$key]:-} ]] || (( rss > BEST_RSS[$key] )); then BEST_RSS[$key]=$rss; fi
  rm -rf "$out"
}
INPUTS=(directory:"$TREE" ext4.img:"$IMG" zip:"$ZIP")
MODES=()
for ((r = 1; r <= ROUNDS; r++)); do MODES+=(default); done
[[ $NOPERC == 1 ]] && MODES+=(noperc)
RUN=0
for mode in "${MODES[@]}"; do
  RUN=$((RUN + 1))
  log "round $RUN ($mode): warming the page cache"
  warm
  for spec in "${INPUTS[@]}"; do scan "${spec%%:*}" "$mode" "${spec#*:}"; done
done

# ---- report -------------------------------------------------------------------------------
tree_bytes=$(du -sb --apparent-size "$TREE" | cut -f1)
declare -A INSIZE=([directory]=$tree_bytes [ext4.img]=$(stat -c %s "$IMG") [zip]=$(stat -c %s "$ZIP"))
cores=$(nproc)
echo
echo "## hashguard scan: directory vs ext4 image vs ZIP"
echo
echo "$("$HG" --version), $cores cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(uname -r);" \
  "$(mke2fs -V 2>&1 | head -1), $(zip -v | sed -n 2p | sed 's/^This is //; s/, by.*//'), $(python3 --version)."
echo "$((N_IMAGES + N_OTHER)) files ($N_IMAGES PNGs), ${BYTES[directory/default]} bytes of contents; ZIP level -$ZIP_LEVEL; page cache warm;" \
  "best of $ROUNDS rounds (perceptual on)$([[ $NOPERC == 1 ]] && echo ", 1 round --no-perceptual"); options: default${SCAN_OPTS:+ + $SCAN_OPTS}."
echo
echo "| input | mode | entries | wall (s) | files/s | payload MB/s | input MB/s | peak RSS (MB) | vs directory |"
echo "|---|---|---|---|---|---|---|---|---|"
for mode in default noperc; do
  [[ $mode == noperc && $NOPERC != 1 ]] && continue
  dkey=directory/$mode
  payload=${BYTES[$dkey]}
  for spec in "${INPUTS[@]}"; do
    label=${spec%%:*} key=$label/$mode
    wall=${BEST_WALL[$key]}
    awk -v l="$label" -v m="$([[ $mode == default ]] && echo perceptual || echo digests only)" \
        -v f="${FOUND[$key]}" -v w="$wall" -v p="$payload" -v i="${INSIZE[$label]}" \
        -v r="${BEST_RSS[$key]}" -v dw="${BEST_WALL[$dkey]}" -v n="${NOISY[$key]}" 'BEGIN {
      printf "| %s | %s | %d | %.1f%s | %.0f | %.1f | %.1f | %.0f | %.2f× |\n",
        l, m, f, w, n == 1 ? "*" : "", f / w, p / w / 1e6, i / w / 1e6, r / 1024, dw / w }'
  done
done
echo
echo "payload MB/s: the directory's .totals.bytes (the files' contents) / wall, the same for all"
echo "three; input MB/s: bytes of the tree, the image file or the ZIP / wall. vs directory:"
echo "directory wall / this wall (1.00× = as fast). * every run of it had another process busy."
echo "Runs (wall s; noisy = another process above 20% CPU during it):"
sed 's/^/- /' "$LOG/runs"
echo "Outcomes:"
for key in "${!OUTCOMES[@]}"; do echo "- $key: ${OUTCOMES[$key]}"; done | sort
