#!/usr/bin/env bash
# `encode` per patient: two lungflow binaries alternating on the same
# inputs (lungs outputs and the GMCAE model of a cold demo run's cache).
#
#   bench/encode/compare.sh CACHE BEFORE AFTER [PATIENTS]
#
# CACHE: a cache where pipelines/demo.yaml ran (e.g. bench/demo/run.sh's);
# BEFORE, AFTER: lungflow binaries. Prints one line per run and a summary,
# and compares the features both wrote.
set -euo pipefail
cache=$1 before=$2 after=$3 patients=${4:-6}
PY=${PY:-$(cd "$(dirname "$0")/../.." && pwd)/bench/.venv-torch/bin/python}   # numpy + pyarrow
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Encode manifests: item, lungs entry, model entry, parameters as --set flags.
python3 - "$cache" "$patients" > "$work/plan" <<'PY'
import json, sys, pathlib
cache, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
rows = []
for m in sorted(cache.glob("entries/*/*/manifest.json")):
    j = json.loads(m.read_text())
    if j["kind"] != "encode":
        continue
    entry = lambda name: cache / "entries" / j["inputs"][name]["key"][:2] / j["inputs"][name]["key"] / "out"
    sets = " ".join(f"--set {k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in j["params"].items())
    rows.append(f'{j["item"]} {entry("lungs")} {entry("model")} {sets}')
print("\n".join(rows[:n]))
PY
[ -s "$work/plan" ] || { echo "no encode entries in $cache" >&2; exit 1; }
printf 'binary\titem\twall_s\tuser_s\tsys_s\n'
while read -r item lungs model sets; do
    for which in before after; do
        bin=${!which}
        out=$work/$which-$item
        # shellcheck disable=SC2086
        /usr/bin/time -f '%e %U %S' -o "$work/t" "$bin" exec encode --input "lungs=$lungs" --input "model=$model" \
            --item "$item" $sets --out "$out" > /dev/null 2>&1
        read -r e u s < "$work/t"
        printf '%s\t%s\t%s\t%s\t%s\n' "$which" "$item" "$e" "$u" "$s"
    done
    if cmp -s "$work/before-$item/features.arrow" "$work/after-$item/features.arrow"; then
        echo "# $item: same features.arrow"
    else
        "$PY" - "$work/before-$item/features.arrow" "$work/after-$item/features.arrow" "$item" <<'PY'
import sys
import numpy as np
import pyarrow as pa

def values(path):
    table = pa.ipc.open_file(path).read_all()
    return np.concatenate([np.asarray(c.flatten() if hasattr(c, "flatten") else c, dtype=np.float64)
                           for c in (col.combine_chunks() for col in table.columns)
                           if pa.types.is_list(c.type) or pa.types.is_fixed_size_list(c.type) or pa.types.is_floating(c.type)])

a, b = values(sys.argv[1]), values(sys.argv[2])
print(f"# {sys.argv[3]}: features differ in the last bits: max |after - before| / max |before| = "
      f"{np.abs(b - a).max() / np.abs(a).max():.2e} over {a.size} values")
PY
    fi
done < "$work/plan" | tee "$work/rows"
awk -F'\t' '$1=="before"||$1=="after" {w[$1]+=$3; u[$1]+=$4; n[$1]++}
    END {for (b in w) printf "# %s: mean wall %.3f s, mean user %.3f s, user/wall %.2f (%d runs)\n", b, w[b]/n[b], u[b]/n[b], u[b]/w[b], n[b]}' "$work/rows"
