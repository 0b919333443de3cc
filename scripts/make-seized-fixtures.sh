#!/usr/bin/env bash
# Builds synthetic "seized media" fixtures for the disk-image / archive scanner tests:
# file systems, a partitioned disk, E01 and split-raw copies of it, a carve-only FAT image,
# and hostile archives. No root, no mounting: only mkfs/mtools/mke2fs -d/ntfscp/sfdisk/dd.
#
#   scripts/make-seized-fixtures.sh OUTDIR LISTED_DIR UNLISTED_DIR
#
# LISTED_DIR / UNLISTED_DIR: directories of small image files (at least 2 listed, 1 unlisted;
# only regular files directly inside are used, in C-locale name order; keep them small, a few
# MB in all, since the file systems are 4-34 MiB). OUTDIR is created; OUTDIR/fixtures.txt lists
# every placed file (see the header written below). Takes ~2.5 s; ~20 MB on disk (sparse).
#
# Needs: mtools, dosfstools, e2fsprogs (>= 1.43 for mke2fs -d), ntfs-3g, fdisk (sfdisk),
# ewf-tools, zip, p7zip-full (7z), tar, python3; optional: exfatprogs (exfat.img), genisoimage
# or xorriso (disc.iso). Names, layout and contents are fixed, but not every byte: ext4 inode
# change times, NTFS/exFAT serials, the E01 acquisition date, ZipCrypto/7z salts and ISO dates
# differ from run to run (bundle.tar, card.img, wiped.img, bomb.zip, deep.zip are identical).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin" LC_ALL=C TZ=UTC
if [ $# -ne 3 ]; then
  echo "usage: $0 OUTDIR LISTED_DIR UNLISTED_DIR" >&2
  exit 2
fi
OUT=$1 LISTED_DIR=$2 UNLISTED_DIR=$3
for t in mkfs.vfat mcopy mmd mdel mke2fs mkntfs ntfscp sfdisk ewfacquirestream zip 7z tar python3 dd truncate; do
  command -v "$t" >/dev/null || { echo "$0: missing tool: $t" >&2; exit 2; }
done

# Fixed timestamps / identifiers so that repeated runs give the same layout.
EPOCH=${SOURCE_DATE_EPOCH:-1767225600}   # 2026-01-01T00:00:00Z
export SOURCE_DATE_EPOCH=$EPOCH E2FSPROGS_FAKE_TIME=$EPOCH MTOOLS_SKIP_CHECK=1

mapfile -d '' LISTED < <(find "$LISTED_DIR" -maxdepth 1 -type f -print0 | sort -z)
mapfile -d '' UNLISTED < <(find "$UNLISTED_DIR" -maxdepth 1 -type f -print0 | sort -z)
if [ ${#LISTED[@]} -lt 2 ] || [ ${#UNLISTED[@]} -lt 1 ]; then
  echo "$0: need at least 2 listed and 1 unlisted image" >&2
  exit 2
fi
L0=${LISTED[0]} L1=${LISTED[1]} U0=${UNLISTED[0]}
# Largest listed image: the carve-only one (spans several clusters).
base() { basename -- "$1"; }
src() { case $1 in "$LISTED_DIR"/*) echo "listed/$(base "$1")" ;; *) echo "unlisted/$(base "$1")" ;; esac; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/hg-fixtures.XXXXXX")
trap 'rm -rf "$W"' EXIT
# Remove outputs of an earlier run (mkfs.vfat -C refuses to overwrite).
rm -f "$OUT"/{bundle.tar,ext4.img,disk.img,card.img,ntfs.img,wiped.img,exfat.img,disc.iso,bomb.zip,deep.zip,enc.zip,enc.7z,enchdr.7z,fixtures.txt} \
  "$OUT"/disk.E[0-9][0-9] "$OUT"/disk.raw.[0-9][0-9][0-9]

MAN="$OUT/fixtures.txt"
{
  echo "# hashguard seized-media fixtures (scripts/make-seized-fixtures.sh)"
  echo "# columns (TAB-separated): container  volume  path  source  state"
  echo "#   volume: '-' = no partition table; 'gptN@S' = GPT entry N (1-based) starting at sector S (512 B)"
  echo "#   path:   path in the file system or archive; '!/' enters a nested container"
  echo "#   source: listed/<name> or unlisted/<name> (the input image whose bytes are there), or text"
  echo "#   state:  allocated (a live file, or an archive member) | deleted (directory entry deleted,"
  echo "#           content intact) | carve-only (bytes at byte offset @N of the volume, no file record) |"
  echo "#           encrypted | encrypted-header | bomb"
} > "$MAN"
man() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$MAN"; }

stampall() { find "$@" -exec touch -h -d "@$EPOCH" {} +; }
zipit() { # zipit OUT.zip DIR  -- zip DIR's files (relative names, sorted), fixed dates, no extra fields
  stampall "$2"; (cd "$2" && find . -type f -print | sort | sed 's|^\./||' | zip -q -X -D "$1" -@); }

# --- archives -------------------------------------------------------------------------------
# nested.zip: every listed image under pics/, every unlisted under misc/
mkdir -p "$W/nested/pics" "$W/nested/misc"
for f in "${LISTED[@]}"; do cp -- "$f" "$W/nested/pics/"; done
for f in "${UNLISTED[@]}"; do cp -- "$f" "$W/nested/misc/"; done
zipit "$W/nested.zip" "$W/nested"
# bundle.tar: nested.zip + the unlisted images under extra/ + a text file
mkdir -p "$W/bundle/extra"
cp "$W/nested.zip" "$W/bundle/"
for f in "${UNLISTED[@]}"; do cp -- "$f" "$W/bundle/extra/"; done
printf 'bundle of holiday pictures\n' > "$W/bundle/readme.txt"
stampall "$W/bundle"
tar --sort=name --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner --format=gnu \
  -cf "$OUT/bundle.tar" -C "$W/bundle" .
bundle_entries() { # bundle_entries CONTAINER VOLUME PREFIX: manifest lines for bundle.tar's contents
  local f
  for f in "${LISTED[@]}"; do man "$1" "$2" "$3nested.zip!/pics/$(base "$f")" "$(src "$f")" allocated; done
  for f in "${UNLISTED[@]}"; do man "$1" "$2" "$3nested.zip!/misc/$(base "$f")" "$(src "$f")" allocated; done
  for f in "${UNLISTED[@]}"; do man "$1" "$2" "$3extra/$(base "$f")" "$(src "$f")" allocated; done
}
bundle_entries bundle.tar - ""

# --- ext4.img: bundle.tar, photos/<listed>, text files ---------------------------------------
mkdir -p "$W/ext4/photos" "$W/ext4/docs"
cp "$OUT/bundle.tar" "$W/ext4/"
for f in "${LISTED[@]}"; do cp -- "$f" "$W/ext4/photos/"; done
printf 'meeting notes\n' > "$W/ext4/docs/notes.txt"
printf 'buy milk\n' > "$W/ext4/todo.txt"
stampall "$W/ext4"
mke2fs -q -t ext4 -L hg-ext4 -U 3d7c2f5e-1b6a-4c8e-9f10-2a3b4c5d6e7f \
  -E hash_seed=0b9e1c2d-3f4a-4b5c-8d6e-7f8091a2b3c4,root_owner=0:0 \
  -d "$W/ext4" -F "$OUT/ext4.img" 16M >/dev/null
ext4_entries() { # ext4_entries CONTAINER VOLUME
  bundle_entries "$1" "$2" "/bundle.tar!/"
  local f
  for f in "${LISTED[@]}"; do man "$1" "$2" "/photos/$(base "$f")" "$(src "$f")" allocated; done
  man "$1" "$2" /docs/notes.txt text allocated
  man "$1" "$2" /todo.txt text allocated
}
ext4_entries ext4.img -

# --- disk.img: GPT, p1 FAT16 (listed + one deleted listed), p2 = ext4.img --------------------
FAT_START=2048 FAT_SECTORS=16384 EXT_START=18432 EXT_SECTORS=32768
mkfs.vfat -F 16 -s 1 -h "$FAT_START" --mbr=n --invariant -i 1a2b3c4d -n DISKFAT \
  -C "$W/fat16.img" $((FAT_SECTORS / 2)) >/dev/null
mmd -i "$W/fat16.img" ::/DCIM
for f in "${LISTED[@]}"; do mcopy -m -i "$W/fat16.img" "$f" "::/DCIM/$(base "$f")"; done
printf 'camera settings\n' > "$W/settings.txt"; stampall "$W/settings.txt"
mcopy -m -i "$W/fat16.img" "$W/settings.txt" ::/settings.txt
# Copied last so that nothing overwrites its clusters after the delete.
mcopy -m -i "$W/fat16.img" "$L0" "::/deleted-$(base "$L0")"
mdel -i "$W/fat16.img" "::/deleted-$(base "$L0")"
truncate -s $(( (EXT_START + EXT_SECTORS + 2048) * 512 )) "$W/disk.img"
sfdisk -q "$W/disk.img" <<EOF
label: gpt
label-id: 6C1C2B9A-0F0E-4D5B-9B1A-16A5E1D0C0DE
unit: sectors
start=$FAT_START, size=$FAT_SECTORS, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, uuid=2E6A1B0C-5D4F-4E3A-8B2C-1D0E9F8A7B61, name="fat16"
start=$EXT_START, size=$EXT_SECTORS, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=7A9B8C6D-5E4F-4A3B-9C2D-1E0F2A3B4C52, name="ext4"
EOF
dd if="$W/fat16.img" of="$W/disk.img" bs=1M seek=$((FAT_START * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
dd if="$OUT/ext4.img" of="$W/disk.img" bs=1M seek=$((EXT_START * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
mv "$W/disk.img" "$OUT/disk.img"
disk_entries() { # disk_entries CONTAINER
  local f v="gpt1@$FAT_START"
  for f in "${LISTED[@]}"; do man "$1" "$v" "/DCIM/$(base "$f")" "$(src "$f")" allocated; done
  man "$1" "$v" /settings.txt text allocated
  man "$1" "$v" "/deleted-$(base "$L0")" "$(src "$L0")" deleted
  ext4_entries "$1" "gpt2@$EXT_START"
}
disk_entries disk.img

# --- disk.E01 and disk.raw.NNN: the same sectors as disk.img ---------------------------------
# One segment (~0.2 MB); libewf/TSK open multi-segment sets (.E01, .E02, ...) from the first name.
ewfacquirestream -q -c deflate:fast -d sha256 -C HG-2026-0001 -E 1 -e tester \
  -D "hashguard fixture disk.img" -N none -t "$OUT/disk" < "$OUT/disk.img" >/dev/null
disk_entries disk.E01
SPLIT=$((8 * 1024 * 1024))
size=$(stat -c %s "$OUT/disk.img")
for ((i = 0; i * SPLIT < size; i++)); do
  dd if="$OUT/disk.img" of="$OUT/$(printf 'disk.raw.%03d' "$i")" bs=1M skip=$((i * SPLIT)) \
    count=$((SPLIT / 1048576)) iflag=skip_bytes conv=sparse status=none
done
disk_entries disk.raw.000

# --- card.img: FAT32, no partition table, listed images + one deleted listed -----------------
mkfs.vfat -F 32 -s 1 --mbr=n --invariant -i 0c0ffee0 -n CARD -C "$OUT/card.img" 34816 >/dev/null
mmd -i "$OUT/card.img" ::/DCIM ::/DCIM/100CARD
for f in "${LISTED[@]}"; do mcopy -m -i "$OUT/card.img" "$f" "::/DCIM/100CARD/$(base "$f")"; done
mcopy -m -i "$OUT/card.img" "$L1" "::/DCIM/100CARD/deleted-$(base "$L1")"
mdel -i "$OUT/card.img" "::/DCIM/100CARD/deleted-$(base "$L1")"
for f in "${LISTED[@]}"; do man card.img - "/DCIM/100CARD/$(base "$f")" "$(src "$f")" allocated; done
man card.img - "/DCIM/100CARD/deleted-$(base "$L1")" "$(src "$L1")" deleted

# --- ntfs.img: listed images in the root (ntfscp cannot create directories) ------------------
truncate -s 16M "$OUT/ntfs.img"
mkntfs -q -F -f -L HG-NTFS "$OUT/ntfs.img" >/dev/null 2>&1
for f in "${LISTED[@]}"; do ntfscp -q -t "$OUT/ntfs.img" "$f" "$(base "$f")"; done
printf 'ntfs readme\n' > "$W/readme.txt"
ntfscp -q "$OUT/ntfs.img" "$W/readme.txt" readme.txt
for f in "${LISTED[@]}"; do man ntfs.img - "/$(base "$f")" "$(src "$f")" allocated; done
man ntfs.img - /readme.txt text allocated

# --- wiped.img: FAT12; every listed image's bytes in free clusters, no file record ------------
mkfs.vfat -F 12 --mbr=n --invariant -i 0dead0ff -n WIPED -C "$OUT/wiped.img" 4096 >/dev/null
printf 'nothing to see\n' > "$W/empty.txt"; stampall "$W/empty.txt"
mcopy -m -i "$OUT/wiped.img" "$W/empty.txt" ::/empty.txt
# Place the bytes at the start of the cluster in the middle of the data area (well past the
# clusters mtools used), after checking that the FAT marks those clusters free and they are zero.
offs=$(python3 - "$OUT/wiped.img" "${LISTED[@]}" <<'PY'
import sys
img, srcs = sys.argv[1], sys.argv[2:]
with open(img, 'r+b') as f:
    bs = f.read(512)
    bps = int.from_bytes(bs[11:13], 'little'); spc = bs[13]
    rsvd = int.from_bytes(bs[14:16], 'little'); nfats = bs[16]
    rootents = int.from_bytes(bs[17:19], 'little')
    tot = int.from_bytes(bs[19:21], 'little') or int.from_bytes(bs[32:36], 'little')
    fatsz = int.from_bytes(bs[22:24], 'little')
    assert fatsz, 'expected FAT12/16'
    data_start = (rsvd + nfats * fatsz) * bps + ((rootents * 32 + bps - 1) // bps) * bps
    csize = bps * spc
    nclus = (tot * bps - data_start) // csize
    first = 2 + nclus // 4
    f.seek(rsvd * bps); fat = f.read(fatsz * bps)
    def entry(n):  # FAT12 entry n
        v = int.from_bytes(fat[n * 3 // 2:n * 3 // 2 + 2], 'little')
        return v >> 4 if n & 1 else v & 0xFFF
    for src in srcs:
        data = open(src, 'rb').read()
        need = (len(data) + csize - 1) // csize
        assert first + need <= nclus + 2, 'images too large for wiped.img'
        assert all(entry(c) == 0 for c in range(first, first + need)), 'clusters in use'
        off = data_start + (first - 2) * csize
        f.seek(off); assert f.read(need * csize) == bytes(need * csize), 'clusters not zero'
        f.seek(off); f.write(data)
        print(off)
        first += need + 1
PY
)
man wiped.img - /empty.txt text allocated
i=0
for off in $offs; do
  man wiped.img - "@$off" "$(src "${LISTED[$i]}")" carve-only
  i=$((i + 1))
done

# --- optional: exfat.img (needs exfatprogs) and disc.iso (needs genisoimage or xorriso) ---------
# exFAT (SDXC cards): mkfs.exfat, then files are added by writing directory entry sets
# (file 0x85 + stream 0xC0 + names 0xC1, contiguous "NoFatChain" data) into the root directory,
# because no tool writes exFAT without mounting. fsck.exfat -n reports such an image clean.
if command -v mkfs.exfat >/dev/null; then
  truncate -s 8M "$OUT/exfat.img"
  mkfs.exfat -L HG-EXFAT "$OUT/exfat.img" >/dev/null
  args=()
  for f in "${LISTED[@]}"; do args+=("$(base "$f")=$f"); done
  args+=(-d "deleted-$(base "$L1")=$L1")
  python3 - "$OUT/exfat.img" "$EPOCH" "${args[@]}" <<'PY'
import struct, sys, time
def name_hash(name):
    h = 0
    for ch in name.upper():
        c = ord(ch)
        for b in (c & 0xFF, c >> 8):
            h = ((((h << 15) | (h >> 1)) & 0xFFFF) + b) & 0xFFFF
    return h
def set_checksum(e):
    c = 0
    for i, b in enumerate(e):
        if i not in (2, 3):
            c = ((((c << 15) | (c >> 1)) & 0xFFFF) + b) & 0xFFFF
    return c
img, epoch = sys.argv[1], int(sys.argv[2])
f = open(img, "r+b")
bs = f.read(512)
assert bs[3:11] == b"EXFAT   "
heap_off, nclus, root_clus = struct.unpack_from("<III", bs, 88)
sec = 1 << bs[108]
csize = sec << bs[109]
def coff(c): return heap_off * sec + (c - 2) * csize
def rd(o, n): f.seek(o); return f.read(n)
def wr(o, d): f.seek(o); f.write(d)
root = bytearray(rd(coff(root_clus), csize))   # a fresh root directory is one cluster
bm = [struct.unpack_from("<IQ", root, i + 20) for i in range(0, csize, 32) if root[i] == 0x81][0]
bitmap = bytearray(rd(coff(bm[0]), bm[1]))
def used(c): return bitmap[(c - 2) // 8] >> ((c - 2) % 8) & 1
t = time.gmtime(epoch)
ts = ((t.tm_year - 1980) << 25) | (t.tm_mon << 21) | (t.tm_mday << 16) | (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
nxt, deleted = 2, False
for arg in sys.argv[3:]:
    if arg == "-d":
        deleted = True
        continue
    name, src = arg.split("=", 1)
    data = open(src, "rb").read()
    n = max(1, -(-len(data) // csize))
    while any(used(c) for c in range(nxt, nxt + n)):   # first free run at or after nxt
        nxt += 1
    assert nxt + n <= nclus + 2, "exfat.img too small"
    first, nxt = nxt, nxt + n
    wr(coff(first), data)
    parts = [name[i:i + 15] for i in range(0, len(name), 15)]
    e = bytearray(32 * (2 + len(parts)))
    e[0], e[1] = 0x85, 1 + len(parts)
    struct.pack_into("<HHIII", e, 4, 0x20, 0, ts, ts, ts)     # attributes: archive
    e[32], e[33], e[35] = 0xC0, 0x03, len(name)               # AllocationPossible | NoFatChain
    struct.pack_into("<H", e, 36, name_hash(name))
    struct.pack_into("<Q", e, 40, len(data))
    struct.pack_into("<IQ", e, 52, first, len(data))
    for k, p in enumerate(parts):
        e[64 + 32 * k] = 0xC1
        e[66 + 32 * k:66 + 32 * k + 2 * len(p)] = p.encode("utf-16-le")
    struct.pack_into("<H", e, 2, set_checksum(e))
    slot = next(i for i in range(0, csize - len(e) + 1, 32) if not any(root[i:i + len(e)]))
    if deleted:      # deleted entry set: InUse bits cleared, clusters left free
        for k in range(0, len(e), 32):
            e[k] &= 0x7F
    else:
        for c in range(first, first + n):
            bitmap[(c - 2) // 8] |= 1 << ((c - 2) % 8)
    root[slot:slot + len(e)] = e
wr(coff(root_clus), root)
wr(coff(bm[0]), bitmap)
PY
  for f in "${LISTED[@]}"; do man exfat.img - "/$(base "$f")" "$(src "$f")" allocated; done
  man exfat.img - "/deleted-$(base "$L1")" "$(src "$L1")" deleted
else
  echo "note: mkfs.exfat (exfatprogs) not found; exfat.img not built" >&2
fi
# ISO 9660 with Joliet (TSK reads the Joliet names; it ignores Rock Ridge).
mkiso=
if command -v genisoimage >/dev/null; then mkiso=genisoimage
elif command -v xorriso >/dev/null; then mkiso="xorriso -as mkisofs"; fi
if [ -n "$mkiso" ]; then
  mkdir -p "$W/iso/pics"
  for f in "${LISTED[@]}"; do cp -- "$f" "$W/iso/pics/"; done
  cp "$OUT/bundle.tar" "$W/iso/"
  stampall "$W/iso"
  $mkiso -quiet -J -R -V HG_DISC -o "$OUT/disc.iso" "$W/iso" 2>/dev/null
  for f in "${LISTED[@]}"; do man disc.iso - "/pics/$(base "$f")" "$(src "$f")" allocated; done
  bundle_entries disc.iso - "/bundle.tar!/"
else
  echo "note: genisoimage / xorriso not found; disc.iso not built" >&2
fi

# --- hostile archives ------------------------------------------------------------------------
# bomb.zip: one entry "zeros.bin" of 1 GiB of zeros, deflated (~1 MB, ratio ~1000). Written
# directly (one byte-aligned deflate chunk for 1 MiB of zeros, repeated 1024 times) because
# `zip -9` of a 1 GiB sparse file takes several seconds of CPU.
python3 - "$OUT/bomb.zip" "$EPOCH" <<'PY'
import struct, sys, time, zlib
out, epoch = sys.argv[1], int(sys.argv[2])
MiB, n = 1 << 20, 1024
c = zlib.compressobj(9, zlib.DEFLATED, -15)
chunk = c.compress(bytes(MiB)) + c.flush(zlib.Z_FULL_FLUSH)   # byte-aligned, no back-references past it
data_len = len(chunk) * n + 2                                  # + final empty fixed block (03 00)
crc = 0
for _ in range(n):
    crc = zlib.crc32(bytes(MiB), crc)
t = time.gmtime(epoch)
dtime = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
ddate = ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
name = b"zeros.bin"
common = struct.pack("<HHHHHIII", 20, 0, 8, dtime, ddate, crc, data_len, n * MiB)
with open(out, "wb") as f:
    f.write(b"PK\x03\x04" + common + struct.pack("<HH", len(name), 0) + name)
    for _ in range(n):
        f.write(chunk)
    f.write(b"\x03\x00")
    cd_off = f.tell()
    f.write(b"PK\x01\x02" + struct.pack("<H", 0x031e) + common
            + struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0o100644 << 16, 0) + name)
    cd_len = f.tell() - cd_off
    f.write(b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, cd_len, cd_off, 0))
PY
man bomb.zip - zeros.bin zeros bomb
# deep.zip ⊃ l5.zip ⊃ l4.zip ⊃ l3.zip ⊃ l2.zip ⊃ l1.zip ⊃ the first unlisted image (6 zip levels)
mkdir -p "$W/deep/l1"
cp -- "$U0" "$W/deep/l1/"
zipit "$W/deep/l1.zip" "$W/deep/l1"
for i in 2 3 4 5; do
  mkdir "$W/deep/l$i"; mv "$W/deep/l$((i - 1)).zip" "$W/deep/l$i/"
  zipit "$W/deep/l$i.zip" "$W/deep/l$i"
done
mkdir "$W/deep/top"; mv "$W/deep/l5.zip" "$W/deep/top/"
zipit "$OUT/deep.zip" "$W/deep/top"
man deep.zip - "l5.zip!/l4.zip!/l3.zip!/l2.zip!/l1.zip!/$(base "$U0")" "$(src "$U0")" allocated
# Encrypted: enc.zip (ZipCrypto, password "secret"), enc.7z (AES, names visible),
# enchdr.7z (AES, -mhe=on: even the names are encrypted).
mkdir "$W/enc"; cp -- "$L0" "$W/enc/"; cp -- "$L1" "$W/enc/"; stampall "$W/enc"
(cd "$W/enc" && zip -q -X -D -P secret "$OUT/enc.zip" "$(base "$L0")")
(cd "$W/enc" && 7z a -bd -bso0 -bsp0 -psecret "$OUT/enc.7z" "$(base "$L1")")
(cd "$W/enc" && 7z a -bd -bso0 -bsp0 -psecret -mhe=on "$OUT/enchdr.7z" "$(base "$L1")")
man enc.zip - "$(base "$L0")" "$(src "$L0")" encrypted
man enc.7z - "$(base "$L1")" "$(src "$L1")" encrypted
man enchdr.7z - "$(base "$L1")" "$(src "$L1")" encrypted-header

echo "fixtures in $OUT ($(du -sh --apparent-size "$OUT" | cut -f1) apparent, $(du -sh "$OUT" | cut -f1) on disk); manifest: $MAN"
