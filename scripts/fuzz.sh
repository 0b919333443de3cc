#!/usr/bin/env bash
# Builds hashguard's fuzz targets with libFuzzer on the stable toolchain and runs each for a
# bounded time: `scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]` (default 60 s, every target).
#
# cargo-fuzz needs nightly for its sanitizer flags; these are the stable codegen flags it uses
# for coverage (SanitizerCoverage through LLVM's sancov pass), without AddressSanitizer
# (nightly-only): memory errors are found when they crash, overflow and panics always.
# The build has its own target directory (the flags differ from every other build). RocksDB's
# C++ is not compiled again: the archive the test build made is linked as it is
# (ROCKSDB_LIB_DIR), which saves 15-40 minutes on a cold machine.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-60}"
shift || true
ALL=(sniff image video lists json_scanner bundle stored manifest grpc_timeout containers)
TARGETS=("${@:-${ALL[@]}}")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")

MAIN_TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/hashguard/target}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/hashguard/fuzz-target}"
WORK="${FUZZ_WORK_DIR:-$HOME/.cache/hashguard/fuzz-work}"

# A RocksDB archive from an earlier build (make test builds one); else build it here.
ROCKSDB_A="$(ls -t "$MAIN_TARGET"/{debug,release}/build/librocksdb-sys-*/out/librocksdb.a 2>/dev/null | head -1 || true)"
if [ -n "$ROCKSDB_A" ]; then
  export ROCKSDB_LIB_DIR="$(dirname "$ROCKSDB_A")" ROCKSDB_STATIC=1
  echo "fuzz: linking RocksDB from $ROCKSDB_LIB_DIR"
else
  echo "fuzz: no RocksDB archive from an earlier build; compiling RocksDB (15-40 min)"
fi
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# The fuzz crate uses exactly the main crate's dependency versions: its lock file is the main
# one (copied each run, so a dependency added to the main crate never leaves it stale), plus
# the pinned libfuzzer-sys that cargo adds to it.
cp Cargo.lock fuzz/Cargo.lock
# An explicit --target keeps these flags off build scripts and proc macros (which have no
# libFuzzer to link).
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --release --target "$TRIPLE" --manifest-path fuzz/Cargo.toml \
  $(printf -- '--bin %s ' "${TARGETS[@]}")

# Seeds: the project's own test data, by what each target reads (the first byte of list, image
# and JSON inputs picks the format or limits, see fuzz/fuzz_targets/).
seed() { # seed TARGET PREFIX_BYTE FILE...
  local t="$1" p="$2"; shift 2
  mkdir -p "$WORK/seeds/$t"
  for f in "$@"; do
    [ -f "$f" ] || continue
    local out="$WORK/seeds/$t/$(basename "$f")-$p"
    if [ -z "$p" ]; then cp "$f" "$out"; else { printf "\\x$p"; cat "$f"; } > "$out"; fi
  done
}
rm -rf "$WORK/seeds"
seed sniff "" testdata/images/base/*.png testdata/heif/* testdata/animated/* testdata/video/*.mp4
seed image 00 testdata/images/base/*.png testdata/images/variants/*.jpg testdata/heif/* \
  testdata/animated/* testdata/images/broken/* testdata/large/*
seed image 01 testdata/images/variants/*.jpg testdata/large/*
seed video "" testdata/video/*.mp4 testdata/video/*.webm testdata/video/*.avi
for i in 0 1 2 3 4 5 6 7; do seed lists "0$i" fuzz/seeds/lists/*; done
seed json_scanner 00 fuzz/seeds/lists/stopncii*
seed json_scanner 01 fuzz/seeds/lists/vics*
seed bundle "" fuzz/seeds/bundle/*
seed manifest "" fuzz/seeds/manifest/*
seed stored "" fuzz/seeds/stored/*
seed grpc_timeout "" fuzz/seeds/grpc_timeout/*
seed containers "" fuzz/seeds/containers/* testdata/case/basic/*

status=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$WORK/corpus/$t" "fuzz/artifacts/$t" "$WORK/seeds/$t"
  echo "fuzz: $t for ${SECONDS_EACH}s"
  log="$WORK/$t.log"
  if ! "$CARGO_TARGET_DIR/$TRIPLE/release/$t" "$WORK/corpus/$t" "$WORK/seeds/$t" \
      -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=4096 -max_len=1048576 \
      -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
    echo "fuzz: $t FAILED; the input is in fuzz/artifacts/$t/ and the log in $log"
    tail -40 "$log"
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$log" | sed "s/^/fuzz: $t /" || true
done
exit $status
