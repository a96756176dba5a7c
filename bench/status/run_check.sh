#!/usr/bin/env bash
# What issue 15 costs a full `lungflow run` of the status benchmark's
# workload (8,000 command instances): a fresh cache each time, REPS runs
# alternating a binary from before issue 15 (BEFORE) and one after (AFTER).
# After issue 15 every command also gets a watchdog process (kill -9 safety).
#
#   BEFORE=/path/to/old/lungflow bench/status/run_check.sh [WORK] [REPS]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
WORK="${1:-/tmp/lfbench-run}"
REPS="${2:-3}"
AFTER="${AFTER:-$REPO/target/release/lungflow}"
: "${BEFORE:?set BEFORE to a lungflow binary built before issue 15}"

python3 "$HERE/generate.py" --work "$WORK" --items 1600 --files 250000 > /dev/null
cd "$WORK"
for i in $(seq "$REPS"); do
    for side in before after; do
        bin=$BEFORE; [ "$side" = after ] && bin=$AFTER
        rm -rf cache
        start=$(date +%s.%N)
        "$bin" run lungflow.yaml > /dev/null 2> run.log
        end=$(date +%s.%N)
        echo "$side $(echo "$end - $start" | bc)"
    done
done | tee run-times.txt
for side in before after; do
    printf '%s median: ' "$side"
    grep "^$side " run-times.txt | cut -d' ' -f2 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] " s"}'
done
