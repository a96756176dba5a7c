#!/usr/bin/env bash
# Side measurement (not in run.sh's tables): where DVC's per-experiment time
# goes without the queue. Copies a DVC project that run.sh finished (its run
# cache holds all 100 prep results) and times one foreground experiment in the
# workspace, `dvc exp run -S train.m=16 -S train.lr=0.001`, which restores
# every prep stage from the run cache and runs train once, then `dvc exp run`
# again with nothing changed.
# Usage: bench/sweep/dvc_foreground.sh [WORK/repN/dvc]   (default /tmp/sweepbench/rep3/dvc)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${1:-/tmp/sweepbench/rep3/dvc}
dst=$(dirname "$src")/dvc-foreground
export PATH=$(cd "$here/.." && pwd)/.venv/bin:$PATH DVC_NO_ANALYTICS=1
rm -rf "$dst"; cp -a "$src" "$dst"
cd "$dst/proj"
# the copy's stage commands still log to the original runs.log
log=$src/runs.log
n0=$(wc -l < "$log")
t0=$(date +%s.%N)
dvc exp run -q -S train.m=16 -S train.lr=0.001
t1=$(date +%s.%N)
echo "foreground dvc exp run (100 prep from run cache + train): $(echo "$t1 - $t0" | bc) s;" \
     "commands run: $(tail -n +$((n0 + 1)) "$log" | cut -f1 | sort | uniq -c | tr '\n' ' ')"
n0=$(wc -l < "$log")
t0=$(date +%s.%N)
dvc exp run -q
t1=$(date +%s.%N)
echo "foreground dvc exp run again, nothing changed: $(echo "$t1 - $t0" | bc) s;" \
     "commands run: $(tail -n +$((n0 + 1)) "$log" | wc -l)"
t0=$(date +%s.%N)
dvc status -q || true
t1=$(date +%s.%N)
echo "dvc status (101 stages, all up to date): $(echo "$t1 - $t0" | bc) s"
