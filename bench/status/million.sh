#!/usr/bin/env bash
# Two lungflow binaries side by side on the status benchmark's generator at
# 1,000,000 input files (1,600 items x 5 command stages = 8,000 instances),
# alternating before/after, then the medians (issue 33).
#
#   BEFORE=/path/to/old/lungflow bench/status/million.sh [WORK] [REPS] [FIRST_REPS]
#
# WORK (default /var/tmp/status1m) is generated once when it lacks
# lungflow.yaml. Each binary gets a cache of its own (WORK/cache-before,
# WORK/cache-after, passed with --cache), so both are timed on a cache that
# binary wrote:
#   first:  `run` into a fresh cache, wall and peak RSS (/usr/bin/time %e %M),
#           FIRST_REPS times each (default 2); the last one's cache is kept;
#   status: warm `lungflow status` (one untimed warm-up each), REPS times
#           (default 5), every output checked to say 8000 fresh;
#   noop:   `lungflow run` with nothing to do, REPS times, with peak RSS.
# AFTER defaults to target/release/lungflow. Writes WORK/million.txt.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
WORK="${1:-/var/tmp/status1m}"
REPS="${2:-5}"
FIRST_REPS="${3:-2}"
AFTER="${AFTER:-${CARGO_TARGET_DIR:-$REPO/target}/release/lungflow}"
: "${BEFORE:?set BEFORE to the lungflow binary to compare against}"

[ -f "$WORK/lungflow.yaml" ] || python3 "$HERE/generate.py" --work "$WORK" --items 1600 --files 1000000
cd "$WORK"
mkdir -p bin
cp "$BEFORE" bin/before
cp "$AFTER" bin/after
sha256sum bin/before bin/after

# One timed command with side's binary and cache: prints "SIDE WHAT SECONDS s KB KB".
timed() {
    local side=$1 what=$2
    shift 2
    /usr/bin/time -o time.txt -f "%e s %M KB" "bin/$side" --cache "cache-$side" "$@" lungflow.yaml > out.txt 2> err.txt
    if [ "$what" = status ] && ! tail -1 out.txt | grep -q "^8000 fresh, 0 stale, 0 missing"; then
        echo "status is not all fresh:" >&2
        tail -3 out.txt >&2
        exit 1
    fi
    echo "$side $what $(cat time.txt)"
}

{
    for i in $(seq "$FIRST_REPS"); do
        for side in before after; do
            rm -rf "cache-$side"
            timed "$side" first run
        done
    done
    for side in before after; do "bin/$side" --cache "cache-$side" status lungflow.yaml > /dev/null; done # warm-up
    for i in $(seq "$REPS"); do
        for side in before after; do timed "$side" status status; done
    done
    for i in $(seq "$REPS"); do
        for side in before after; do timed "$side" noop run; done
    done
} | tee million.txt

echo "medians (seconds, KB):"
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
for what in first status noop; do
    for side in before after; do
        rows=$(grep "^$side $what " million.txt || true)
        [ -n "$rows" ] || continue
        printf '%-6s %-6s %s s  %s KB  (n=%s)\n' "$side" "$what" "$(cut -d' ' -f3 <<< "$rows" | median)" \
            "$(cut -d' ' -f5 <<< "$rows" | median)" "$(wc -l <<< "$rows")"
    done
done | tee -a million.txt
