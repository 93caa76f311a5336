#!/usr/bin/env bash
# Runs one fuzz target for a short time on the committed seeds.
# Usage: smoke.sh TARGET SECONDS SEED_DIR...
set -euo pipefail
target=$1 seconds=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# New inputs go to the scratch directory; the seed directories stay as they are.
"$target" -artifact_prefix="${FUZZ_ARTIFACTS:-$PWD/}" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$work" "$@" 2>&1 | tail -n 15
