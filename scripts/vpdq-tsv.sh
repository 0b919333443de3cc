#!/usr/bin/env bash
# vpdq-tsv.sh ARGS... — `hashguard hash --algo pdq --format vpdq ARGS...`, printed in the peer
# harness's external format (bench_vpdq.py): frame_number<TAB>timestamp<TAB>pdq_hex<TAB>quality.
set -euo pipefail
"${HASHGUARD:?set HASHGUARD to the hashguard binary}" hash --algo pdq --format vpdq "$@" |
  awk -F, -v OFS='\t' '!/^#/ { print $1, $4, $3, $2 }'
