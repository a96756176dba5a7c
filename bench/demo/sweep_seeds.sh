#!/usr/bin/env bash
# A sweep over seeds of the whole chain (bench/demo/seed_args.sh), then the
# question a sweep table must answer: does every paired difference that
# `sweep show` marks (p < 0.05 after Holm's correction over every pair of
# variants) keep its sign on the other seeds? Each variant is taken as the
# reference in turn (`sweep show --reference`), so every pair is looked at;
# the pairs whose uncorrected 95 % interval excludes 0 are counted too.
# Usage: bench/demo/sweep_seeds.sh [SWEEP FLAGS...]
#   default: pipelines/sweep.yaml (m in {1,2,4} x GMCAE lr in {1e-3,3e-4});
#   PIPELINE=demo.yaml TAG=cl- bench/demo/sweep_seeds.sh --sweep classifier.input_clip=0,3 ...
#   sweeps the demo's classifier instead (TAG prefixes this sweep's files).
# Writes bench/work/seeds/ (the cache seeds.sh reads) and prints Markdown;
# LUNGFLOW_BIN picks the binary, SEEDS="0 1" some seeds only; a seed already
# computed there is only read back.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/demo/seed_args.sh
pipeline=${PIPELINE:-sweep.yaml}
tag=${TAG:-}
seed_workdir "$pipeline"
for seed in ${SEEDS:-0 1 2}; do
  seed_args "$seed"
  args+=("$@")
  /usr/bin/time -f "%e %M" -o "${tag}time-$seed.txt" "$bin" sweep run "$pipeline" "${args[@]}" > "${tag}run-$seed.txt" 2> "${tag}run-$seed.log"
  echo "seed $seed: $(cat "${tag}time-$seed.txt") (s wall, peak KB)"
  "$bin" sweep show "$pipeline" "${args[@]}" --json > "${tag}show-$seed.json"
  for variant in $("$py" -c 'import json, sys; print(" ".join(r["variant"] for r in json.load(open(sys.argv[1]))))' "${tag}show-$seed.json"); do
    "$bin" sweep show "$pipeline" "${args[@]}" --json --reference "$variant" --columns classifier.cv_auc > "${tag}show-$seed-ref-$variant.json"
  done
done
TAG="$tag" "$py" - <<'PY'
import glob, json, os, re
tag = os.environ["TAG"]
diff = {}  # (seed, reference, variant) -> (estimate, low, high, p, p_holm)
auc = {}   # (seed, variant) -> (estimate, low, high)
for path in sorted(glob.glob(f"{tag}show-*-ref-*.json")):
    seed, ref = re.match(re.escape(tag) + r"show-(\d+)-ref-(.+)\.json", path).groups()
    for row in json.load(open(path)):
        v = row["variant"]
        auc[(seed, v)] = tuple(row[f"classifier.cv_auc{s}"] for s in ("", "_low", "_high"))
        if v != ref:
            diff[(seed, ref, v)] = tuple(row[f"classifier.cv_auc_diff{s}"] for s in ("", "_low", "_high", "_p", "_p_holm"))
seeds = sorted({k[0] for k in auc}, key=int)
variants = sorted({k[1] for k in auc})
print("| variant | " + " | ".join(f"seed {s}: classifier.cv_auc [95 %]" for s in seeds) + " |")
print("|---" * (len(seeds) + 1) + "|")
for v in variants:
    print(f"| {v} | " + " | ".join("%.3f [%.3f, %.3f]" % auc[(s, v)] if (s, v) in auc else "-" for s in seeds) + " |")
print()
print("| variant − reference | " + " | ".join(f"seed {s}: diff [95 %] (Holm p)" for s in seeds) + " | marked on (Holm p < 0.05) | same sign on every seed |")
print("|---" * (len(seeds) + 3) + "|")
kept = broken = contradicted = uncorrected = uncorrected_kept = 0
for i, a in enumerate(variants):
    for b in variants[i + 1:]:
        got = [diff.get((s, b, a)) for s in seeds]
        signs = {d[0] > 0 for d in got if d and d[0] != 0}
        marked = [s for s, d in zip(seeds, got) if d and d[4] < 0.05]
        excludes = [s for s, d in zip(seeds, got) if d and (d[1] > 0 or d[2] < 0)]
        verdict = "-" if not marked else ("yes" if len(signs) == 1 else "NO")
        contradicted += len({d[0] > 0 for s, d in zip(seeds, got) if s in marked}) > 1
        kept += verdict == "yes"
        broken += verdict == "NO"
        uncorrected += bool(excludes)
        uncorrected_kept += bool(excludes) and len(signs) == 1
        cells = ["%+.3f [%+.3f, %+.3f] (%.2f)" % (d[0], d[1], d[2], d[4]) if d else "-" for d in got]
        print(f"| {a} − {b} | " + " | ".join(cells) + f" | {', '.join(marked) or 'none'} | {verdict} |")
print(f"\npairs marked (Holm p < 0.05) on some seed: {kept + broken}; same sign on every seed: {kept}; sign flipped: {broken}"
      f" (marked with opposite signs on two seeds: {contradicted})")
print(f"pairs whose uncorrected interval excludes 0 on some seed: {uncorrected}; same sign on every seed: {uncorrected_kept}")
PY
