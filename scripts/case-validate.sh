#!/usr/bin/env bash
# Validates a scan's CASE/UCO export against the CASE 1.5.0 ontology and its SHACL shapes with
# case_validate from case-utils 0.18.0 (offline: the ontologies ship with the package).
#
#   scripts/case-validate.sh OUTDIR        # validates OUTDIR/case.jsonld
#   scripts/case-validate.sh FILE.jsonld   # validates that file
#
# Exits with case_validate's status: 0 conforms; 1 does not conform, or uses a CASE/UCO
# concept that does not exist; other codes are errors. The venv is made on first use at
# $HASHGUARD_CASE_VENV (default ~/.cache/hashguard/case-venv). Extra arguments after the
# path go to case_validate (e.g. --allow-warnings, --format turtle).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 OUTDIR|FILE [case_validate options]" >&2; exit 2; }
target=$1
shift
if [ -d "$target" ]; then
  target=$target/case.jsonld
fi
[ -f "$target" ] || { echo "$target: no such file" >&2; exit 2; }
VENV=${HASHGUARD_CASE_VENV:-$HOME/.cache/hashguard/case-venv}
if [ ! -x "$VENV/bin/case_validate" ] \
  || [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("case-utils"))' 2>/dev/null)" != 0.18.0 ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'case-utils==0.18.0'
fi
status=0
"$VENV/bin/case_validate" "$@" "$target" || status=$?
exit "$status"
