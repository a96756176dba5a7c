#!/usr/bin/env bash
# What checking entries on every lookup (issue 15) costs `lungflow status`:
# the status benchmark's workload (1,600 items x 5 stages = 8,000 entries,
# 250,000 input files), run once, then warm `status` timed REPS times,
# alternating a binary without the check (BEFORE) and one with it (AFTER).
#
#   BEFORE=/path/to/old/lungflow bench/status/lookup_check.sh [WORK] [REPS]
#
# AFTER defaults to target/release/lungflow. Prints each time and the medians.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
WORK="${1:-/tmp/lfbench-lookup}"
REPS="${2:-7}"
AFTER="${AFTER:-$REPO/target/release/lungflow}"
: "${BEFORE:?set BEFORE to a lungflow binary built before the lookup check}"

python3 "$HERE/generate.py" --work "$WORK" --items 1600 --files 250000 > /dev/null
cd "$WORK"
/usr/bin/time -o run.time -f "run: %e s" "$AFTER" run lungflow.yaml > /dev/null 2> run.log
cat run.time
for bin in "$BEFORE" "$AFTER"; do "$bin" status lungflow.yaml > /dev/null; done # warm-up
for i in $(seq "$REPS"); do
    for side in before after; do
        bin=$BEFORE; [ "$side" = after ] && bin=$AFTER
        start=$(date +%s.%N)
        "$bin" status lungflow.yaml > status.txt
        end=$(date +%s.%N)
        grep -q "8000 fresh" status.txt || { echo "status is not all fresh:"; tail -3 status.txt; exit 1; }
        echo "$side $(echo "$end - $start" | bc)"
    done
done | tee times.txt
for side in before after; do
    printf '%s median: ' "$side"
    grep "^$side " times.txt | cut -d' ' -f2 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] " s"}'
done
