#!/usr/bin/env bash
# pipelines/sweep.yaml (the demo chain, m in {1,2,4} x lr in {1e-3,3e-4}) in
# the cache that bench/demo/run.sh left: the shared preprocessing and the
# demo's own variant (m = 4, lr = 1e-3) are cached, five variants train.
# Prints what ran per stage, the sweep table and the wall time; writes the
# curves to bench/work/demo/cache/results/sweep/sweep/.
# Usage: bench/demo/run.sh && bench/demo/sweep.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$PWD/${LUNGFLOW_BIN:-target/release/lungflow}"
work=bench/work/demo
[ -d "$work/cache" ] || { echo "run bench/demo/run.sh first" >&2; exit 1; }
cp pipelines/sweep.yaml "$work/"
cd "$work"
"$bin" sweep status sweep.yaml
/usr/bin/time -f "%e %M" -o sweep-time.txt "$bin" sweep run sweep.yaml > sweep-run.txt 2> sweep-run.log || true
read -r wall rss_kb < sweep-time.txt
cat sweep-run.txt
echo "sweep run: ${wall} s wall, peak RSS $((rss_kb / 1024)) MiB ($(nproc) cores)"
"$bin" sweep show sweep.yaml --sort evaluate.log_loss \
    --columns gmcae.best_val,gmcae.epochs,classifier.val_log_loss,classifier.val_auc,evaluate.log_loss,evaluate.auc,seconds
