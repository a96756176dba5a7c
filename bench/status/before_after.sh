#!/usr/bin/env bash
# Two lungflow binaries side by side on the status benchmark's workload
# (1,600 items x 5 command stages = 8,000 instances, 250,000 input files),
# REPS times each, alternating, then the medians.
#
#   BEFORE=/path/to/old/lungflow bench/status/before_after.sh status|run [WORK] [REPS]
#
# status: one run, then warm `lungflow status` timed (issue 15's lookup check);
# run:    a cold `lungflow run` on a fresh cache each time.
# AFTER defaults to target/release/lungflow.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
MODE="${1:?status or run}"
WORK="${2:-/tmp/lfbench-$MODE}"
REPS="${3:-7}"
AFTER="${AFTER:-$REPO/target/release/lungflow}"
: "${BEFORE:?set BEFORE to the lungflow binary to compare against}"

python3 "$HERE/generate.py" --work "$WORK" --items 1600 --files 250000 > /dev/null
cd "$WORK"
if [ "$MODE" = status ]; then
    /usr/bin/time -o run.time -f "run: %e s" "$AFTER" run lungflow.yaml > /dev/null 2> run.log
    cat run.time
    for bin in "$BEFORE" "$AFTER"; do "$bin" status lungflow.yaml > /dev/null; done # warm-up
fi
for i in $(seq "$REPS"); do
    for side in before after; do
        bin=$BEFORE; [ "$side" = after ] && bin=$AFTER
        [ "$MODE" = run ] && rm -rf cache
        start=$(date +%s.%N)
        "$bin" "$MODE" lungflow.yaml > out.txt 2> err.log
        end=$(date +%s.%N)
        if [ "$MODE" = status ] && ! grep -q "8000 fresh" out.txt; then echo "status is not all fresh:"; tail -3 out.txt; exit 1; fi
        echo "$side $(echo "$end - $start" | bc)"
    done
done | tee times.txt
for side in before after; do
    printf '%s median: ' "$side"
    grep "^$side " times.txt | cut -d' ' -f2 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] " s"}'
done
