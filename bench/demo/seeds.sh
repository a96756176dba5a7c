#!/usr/bin/env bash
# The demo's quality over seeds of the whole chain (bench/demo/seed_args.sh:
# cohort, patches, GMCAE, classifier and the folds). Seed 0 is the shipped
# demo; every other seed draws another cohort, so every stage recomputes.
# Usage: bench/demo/seeds.sh   (writes bench/work/seeds/, prints Markdown; after
# sweep_seeds.sh, whose variant m = 4, lr = 1e-3 is the demo, all is cached;
# LUNGFLOW_BIN picks the binary, SEEDS="1 2" runs some seeds only)
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/demo/seed_args.sh
seed_workdir demo.yaml
for seed in ${SEEDS:-0 1 2}; do
  seed_args "$seed"
  /usr/bin/time -f "%e %M" -o "time-$seed.txt" "$bin" run demo.yaml "${args[@]}" --json > "run-$seed.json" 2> "run-$seed.log"
  "$bin" metrics demo.yaml "${args[@]}" --json > "metrics-$seed.json"
  echo "seed $seed: $(cat "time-$seed.txt") (s wall, peak KB)"
done
"$py" - <<'PY'
import glob, json, statistics
names = [("gmcae", "silent_channels_block2"), ("classifier", "cv_auc_mean"), ("classifier", "cv_auc_min"),
         ("classifier", "cv_auc"), ("classifier", "cv_ece"), ("classifier", "cv_restarts"),
         ("classifier", "baseline_cv_auc"), ("classifier", "cv_auc_baseline_diff"),
         ("classifier", "cv_auc_baseline_diff_low"), ("classifier", "cv_auc_baseline_diff_high"),
         ("evaluate", "auc"), ("evaluate", "auc_low"), ("evaluate", "ece")]
rows = {}
for path in sorted(glob.glob("metrics-*.json")):
    seed = path[len("metrics-"):-len(".json")]
    m = {(r["stage"], r["name"]): r["value"] for r in json.load(open(path))}
    rows[seed] = [m.get(n) for n in names]
print("| seed | " + " | ".join(f"{s}.{n}" for s, n in names) + " |")
print("|---" * (len(names) + 1) + "|")
for seed, values in rows.items():
    print(f"| {seed} | " + " | ".join("-" if v is None else f"{v:.4f}" for v in values) + " |")
cols = [[v for v in c if v is not None] for c in zip(*rows.values())]
if len(rows) > 1:
    print("| mean | " + " | ".join(f"{statistics.mean(c):.4f}" if c else "-" for c in cols) + " |")
    print("| sd | " + " | ".join(f"{statistics.stdev(c):.4f}" if len(c) > 1 else "-" for c in cols) + " |")
PY
