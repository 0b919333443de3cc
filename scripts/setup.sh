#!/usr/bin/env bash
# setup.sh — install what hashguard needs to build and test on a fresh Debian 12 machine that
# has only Rust. Idempotent and quick when everything is there (one dpkg-query per package).
# The list covers the whole project (FFmpeg for video, clang for bindgen, protoc for gRPC,
# rustfmt/clippy), so later features need no extra step.
set -euo pipefail

PKGS=(
  build-essential pkg-config clang libclang-dev   # C/C++ toolchain, bindgen (ffmpeg-sys), RocksDB
  libavcodec-dev libavformat-dev libavutil-dev     # FFmpeg 5.1 for video frames (ffmpeg-next)
  libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev
  cmake nasm                                       # build the vendored libjpeg-turbo (with SIMD)
  libheif-dev                                      # HEIC/AVIF stills (libheif 1.15, libde265, dav1d)
  ffmpeg                                           # CLI, used only to make synthetic test videos
  protobuf-compiler                                # protoc for tonic/prost code generation
  time                                             # GNU time: tests measure peak memory with it
  systemd                                          # systemd-analyze checks deploy/systemd offline
  mmdebstrap umoci bubblewrap                      # scripts/build-oci.sh: the image, no engine
  openssl                                          # tests make a CA and certificates for TLS
  postgresql-15                                    # the shared report log; tests start their own
  minisign                                         # tests verify the scan manifest as a reader would
  libarchive-dev                                   # archives inside seized media (ZIP, 7z, RAR, TAR…)
  libtsk-dev libewf-dev                            # disk images: The Sleuth Kit, E01 through libewf
  sleuthkit ewf-tools                              # fls/icat agreement checks; E01 test fixtures
  mtools dosfstools e2fsprogs ntfs-3g fdisk        # test disk images made without root or mounting
  zip p7zip-full                                   # test archives
  python3-venv                                     # case-utils (CASE/UCO validator) for the tests
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi
