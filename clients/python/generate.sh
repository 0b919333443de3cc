#!/usr/bin/env bash
# generate.sh [PYTHON] — the gRPC stubs of proto/hashguard/v1/hashguard.proto, generated with
# grpcio-tools into hashguard_client/_gen/ (not committed: regenerated from the proto, so they
# never drift from it).
set -euo pipefail
cd "$(dirname "$0")"
PY=${1:-python3}
OUT=hashguard_client/_gen
rm -rf "$OUT" && mkdir -p "$OUT/hashguard/v1"
"$PY" -m grpc_tools.protoc -I ../../proto --python_out="$OUT" --pyi_out="$OUT" \
  --grpc_python_out="$OUT" hashguard/v1/hashguard.proto
touch "$OUT/__init__.py" "$OUT/hashguard/__init__.py" "$OUT/hashguard/v1/__init__.py"
