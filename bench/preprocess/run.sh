#!/usr/bin/env bash
# Per-patient preprocessing benchmark: DICOM -> HU -> 1 mm -> lung mask -> crop,
# lungflow (a cold `lungflow run` of a 3-stage pipeline, one patient, --jobs 2)
# against the Python peer (peers/python/preprocess.py: pydicom + numpy + scipy),
# on the same real series, alternating, best of REPS. Wall time and peak RSS
# from /usr/bin/time. The peer runs under $PYTHON (default: the test venv that
# `cargo test` makes, which has scikit-image for its convex hulls).
# Usage: bench/preprocess/run.sh [REPS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${LUNGFLOW_BIN:-$root/target/release/lungflow}
data=$root/../shared/data/ct/chest
reps=${1:-3}
python=${PYTHON:-$root/target/tmp/python-venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

measure() { # prints "seconds kilobytes" of a command
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" > /dev/null 2>&1
    cat "$work/time"
}

echo "| series | resampled shape | lungflow s | python s | speed-up | lungflow peak RSS MB | python peak RSS MB | resampled HU MB | RSS / HU |"
echo "|---|---|---|---|---|---|---|---|---|"
for series in Lung_Dx-A0001 LIDC-IDRI-0001 LIDC-IDRI-0002 ct-3slice; do
    mkdir -p "$work/$series"
    cat > "$work/$series/pipe.yaml" <<YAML
stages:
  hu:
    kind: hu_volume
    inputs: {dicom: $data/$series}
  iso:
    kind: resample
    inputs: {volume: "@hu"}
  lungs:
    kind: lung_mask
    inputs: {volume: "@iso"}
YAML
    best_lf=999999; best_py=999999; rss_lf=0; rss_py=0
    for _ in $(seq "$reps"); do
        rm -rf "$work/$series/cache"
        read -r s kb < <(cd "$work/$series" && measure "$bin" run pipe.yaml --jobs 2)
        best_lf=$("$python" -c "print(min($best_lf, $s))"); rss_lf=$(( kb > rss_lf ? kb : rss_lf ))
        read -r s kb < <(measure "$python" "$root/peers/python/preprocess.py" "$data/$series" --out "$work/$series/py.npz")
        best_py=$("$python" -c "print(min($best_py, $s))"); rss_py=$(( kb > rss_py ? kb : rss_py ))
    done
    shape=$("$python" -c "import json,pyarrow.ipc as i; print('x'.join(map(str, json.loads(i.open_file('$work/$series/cache/results/pipe/iso/volume.arrow').schema.metadata[b'lungflow'])['shape'])))")
    hu_mb=$("$python" -c "import math; print(round(math.prod(map(int, '$shape'.split('x'))) * 2 / 1e6, 1))")
    "$python" - "$series" "$shape" "$best_lf" "$best_py" "$rss_lf" "$rss_py" "$hu_mb" <<'PY'
import sys
name, shape, lf, py, rlf, rpy, hu = sys.argv[1:]
lf, py, rlf, rpy, hu = float(lf), float(py), int(rlf) / 1000, int(rpy) / 1000, float(hu)
print(f"| {name} | {shape} | {lf:.2f} | {py:.2f} | {py / lf:.1f}x | {rlf:.0f} | {rpy:.0f} | {hu:.0f} | {rlf / hu:.2f} |")
PY
done
