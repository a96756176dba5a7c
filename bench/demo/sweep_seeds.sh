#!/usr/bin/env bash
# pipelines/sweep.yaml (m in {1,2,4} x GMCAE lr in {1e-3,3e-4}) over seeds
# of the whole chain (bench/demo/seed_args.sh), then the question a sweep
# table must answer: does every paired difference whose 95 % interval
# excludes 0 keep its sign on the other seeds? Each variant is taken as the
# reference in turn (`sweep show --reference`), so every pair is looked at.
# Usage: bench/demo/sweep_seeds.sh   (writes bench/work/seeds/, the cache seeds.sh reads, prints
# Markdown; LUNGFLOW_BIN picks the binary, SEEDS="0 1" some seeds only;
# a seed already computed there is only read back)
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/demo/seed_args.sh
seed_workdir sweep.yaml
for seed in ${SEEDS:-0 1 2}; do
  seed_args "$seed"
  /usr/bin/time -f "%e %M" -o "time-$seed.txt" "$bin" sweep run sweep.yaml "${args[@]}" > "run-$seed.txt" 2> "run-$seed.log"
  echo "seed $seed: $(cat "time-$seed.txt") (s wall, peak KB)"
  "$bin" sweep show sweep.yaml "${args[@]}" --json > "show-$seed.json"
  for variant in $("$py" -c 'import json, sys; print(" ".join(r["variant"] for r in json.load(open(sys.argv[1]))))' "show-$seed.json"); do
    "$bin" sweep show sweep.yaml "${args[@]}" --json --reference "$variant" --columns classifier.cv_auc > "show-$seed-ref-$variant.json"
  done
done
"$py" - <<'PY'
import glob, json, re
diff = {}  # (seed, reference, variant) -> (estimate, low, high)
auc = {}   # (seed, variant) -> (estimate, low, high)
for path in sorted(glob.glob("show-*-ref-*.json")):
    seed, ref = re.match(r"show-(\d+)-ref-(.+)\.json", path).groups()
    for row in json.load(open(path)):
        v = row["variant"]
        auc[(seed, v)] = tuple(row[f"classifier.cv_auc{s}"] for s in ("", "_low", "_high"))
        if v != ref:
            diff[(seed, ref, v)] = tuple(row[f"classifier.cv_auc_diff{s}"] for s in ("", "_low", "_high"))
seeds = sorted({k[0] for k in auc}, key=int)
variants = sorted({k[1] for k in auc})
print("| variant | " + " | ".join(f"seed {s}: classifier.cv_auc [95 %]" for s in seeds) + " |")
print("|---" * (len(seeds) + 1) + "|")
for v in variants:
    print(f"| {v} | " + " | ".join("%.3f [%.3f, %.3f]" % auc[(s, v)] if (s, v) in auc else "-" for s in seeds) + " |")
print()
print("| variant − reference | " + " | ".join(f"seed {s}" for s in seeds) + " | excludes 0 on | same sign on every seed |")
print("|---" * (len(seeds) + 3) + "|")
kept = broken = 0
for i, a in enumerate(variants):
    for b in variants[i + 1:]:
        got = [diff.get((s, b, a)) for s in seeds]
        firm = [s for s, d in zip(seeds, got) if d and (d[1] > 0 or d[2] < 0)]
        signs = {d[0] > 0 for d in got if d and d[0] != 0}
        verdict = "-" if not firm else ("yes" if len(signs) == 1 else "NO")
        kept += verdict == "yes"
        broken += verdict == "NO"
        cells = ["%+.3f [%+.3f, %+.3f]" % d if d else "-" for d in got]
        print(f"| {a} − {b} | " + " | ".join(cells) + f" | {', '.join(firm) or 'none'} | {verdict} |")
print(f"\npairs with an interval excluding 0 on some seed: {kept + broken}; same sign on every seed: {kept}; sign flipped: {broken}")
PY
