#!/usr/bin/env bash
# Checks hashguard's scan of a disk image against The Sleuth Kit's own tools: every allocated
# regular file that `fls` lists in every file system of IMAGE must appear in the scan's
# files.jsonl with the SHA-256 of `icat`'s output.
#
#   scripts/tsk-agreement.sh IMAGE SCAN_OUTDIR
#
# IMAGE: raw, split raw (first segment, x.000) or E01 (first segment), with or without a
# partition table. SCAN_OUTDIR/files.jsonl: JSON lines with at least "path" and "sha256".
# SCAN_IMAGE_PATH: the image path as the scan recorded it (default: IMAGE as given).
# Prints every disagreement, then "agree N/M"; exit 0 if all M agree, 1 otherwise, 2 on usage
# or tool errors. Needs sleuthkit (mmls, fsstat, fls, icat), sha256sum and python3.
set -euo pipefail
export LC_ALL=C

# Path of the scan record for file FS_PATH (no leading "/") of the volume in partition slot
# SLOT (mmls's "NNN:" column, without leading zeros; empty when IMAGE has no partition table).
record_path() { # record_path IMAGE_PATH SLOT FS_PATH
  if [ -n "$2" ]; then
    printf '%s!/p%s/%s\n' "$1" "$2" "$3"
  else
    printf '%s!/%s\n' "$1" "$3"
  fi
}

# fls entries that are not user files (TSK's inventions and file-system metadata); the same
# rules as csrc/tsk_shim.c. Arguments: FS_TYPE INODE(first number of fls's address) FS_PATH.
tsk_internal() {
  case $3 in *'(Volume Label Entry)') case $1 in fat*|exfat) return 0 ;; esac ;; esac
  case $1 in
    ntfs)
      [ "$2" -lt 16 ] && return 0
      case $3 in '$Extend/'*|'$OrphanFiles/'*) return 0 ;; esac
      case ${3##*/} in *:*) return 0 ;; esac   # named stream "file:stream": not scanned yet
      ;;
    hfs*) [ "$2" -lt 16 ] && return 0 ;;
  esac
  case $3 in '$OrphanFiles/'*) return 0 ;; esac
  return 1
}

if [ $# -ne 2 ]; then
  echo "usage: $0 IMAGE SCAN_OUTDIR" >&2
  exit 2
fi
IMAGE=$1 JSONL=$2/files.jsonl
IMAGE_PATH=${SCAN_IMAGE_PATH:-$IMAGE}
for t in mmls fsstat fls icat sha256sum python3; do
  command -v "$t" >/dev/null || { echo "$0: missing tool: $t" >&2; exit 2; }
done
[ -r "$IMAGE" ] || { echo "$0: cannot read $IMAGE" >&2; exit 2; }
[ -r "$JSONL" ] || { echo "$0: cannot read $JSONL" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
expected=$work/expected.tsv   # record path <TAB> sha256 <TAB> description
: > "$expected"

# Volumes: "SLOT START_SECTOR" per allocated partition, or "- 0" when there is no table.
if mmls -a "$IMAGE" > "$work/mmls" 2>/dev/null; then
  sed -nE 's/^([0-9]+):[[:space:]]+[0-9:]+[[:space:]]+([0-9]+)[[:space:]].*/\1 \2/p' "$work/mmls" > "$work/vols"
else
  echo "- 0" > "$work/vols"
fi

while read -r slot start; do
  if [ "$slot" = - ]; then slot=; else slot=$((10#$slot)); fi
  if ! fstype=$(fsstat -t -o "$start" "$IMAGE" 2>/dev/null); then
    echo "note: no file system TSK recognises in slot ${slot:--} at sector $start" >&2
    continue
  fi
  fls -r -p -F -u -o "$start" "$IMAGE" > "$work/fls" || { echo "$0: fls failed on slot ${slot:--}" >&2; exit 2; }
  while IFS=$'\t' read -r meta path; do
    case $meta in 'r/r '*) ;; *) continue ;; esac    # regular files only (not v/v, d/d, ...)
    addr=${meta#r/r }; addr=${addr%:}; addr=${addr#\* }
    inode=${addr%%-*}
    tsk_internal "$fstype" "$inode" "$path" && continue
    sha=$(icat -o "$start" "$IMAGE" "$addr" | sha256sum | cut -c1-64) || sha=icat-failed
    printf '%s\t%s\t%s\n' "$(record_path "$IMAGE_PATH" "$slot" "$path")" "$sha" \
      "$fstype slot ${slot:--} inode $addr" >> "$expected"
  done < "$work/fls"
done < "$work/vols"

python3 - "$expected" "$JSONL" <<'PY'
import json, sys
expected_tsv, jsonl = sys.argv[1], sys.argv[2]
scan = {}
with open(jsonl, encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as e:
            sys.exit(f"{jsonl}:{n}: {e}")
        if "path" in rec:
            scan.setdefault(rec["path"], set()).add(rec.get("sha256"))
agree = total = 0
with open(expected_tsv, encoding="utf-8", errors="surrogateescape") as f:
    for line in f:
        path, sha, desc = line.rstrip("\n").split("\t")
        total += 1
        got = scan.get(path)
        if got is None:
            print(f"MISSING  {path}  (tsk {sha}, {desc})")
        elif sha not in got:
            print(f"DIFFER   {path}  tsk {sha}  scan {' '.join(sorted(map(str, got)))}  ({desc})")
        else:
            agree += 1
if total == 0:
    print("note: TSK lists no allocated regular file in this image")
print(f"agree {agree}/{total}")
sys.exit(0 if agree == total else 1)
PY
