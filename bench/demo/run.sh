#!/usr/bin/env bash
# The README's demo, cold: total wall time and peak RSS of `lungflow run
# pipelines/demo.yaml` in an empty cache, then per stage: instances, the sum
# and span of their wall times (from the cache manifests), and the peak RSS
# of the stage's largest instance rerun alone with `lungflow exec`.
# Usage: bench/demo/run.sh   (writes bench/work/demo/, prints a Markdown table)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$(realpath "${LUNGFLOW_BIN:-target/release/lungflow}")"
work=bench/work/demo
rm -rf "$work"
mkdir -p "$work"
cp pipelines/demo.yaml "$work/"
cd "$work"
/usr/bin/time -f "%e %M" -o time.txt "$bin" run demo.yaml --json > run.json 2> run.log
read -r wall rss_kb < time.txt
echo "cold demo run: ${wall} s wall, peak RSS $((rss_kb / 1024)) MiB ($(nproc) cores)"
"$bin" metrics demo.yaml | grep -E "classifier|evaluate" | grep -E "val_|log_loss|auc|prior" || true
python3 "$OLDPWD/bench/demo/stages.py" "$bin"
