#!/usr/bin/env bash
# Each preprocessing kind alone (`lungflow exec`) on one series, two
# binaries alternating: hu_volume, resample and lung_mask, wall, user and
# system seconds and peak RSS from /usr/bin/time, median of REPS.
# Usage: BEFORE=/path/lungflow AFTER=/path/lungflow bench/preprocess/kinds_before_after.sh [SERIES] [REPS]
# SERIES: a folder of the real chest data (default Lung_Dx-A0001), or the
# path of any DICOM series folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
series=${1:-Lung_Dx-A0001}
reps=${2:-5}
data=${LUNGFLOW_CT_DATA:-$root/../shared/data/ct}/chest/$series
[ -d "$series" ] && data=$(realpath "$series")
[ -d "$data" ] || { echo "kinds_before_after.sh: no series folder $data" >&2; exit 1; }
for who in BEFORE AFTER; do [ -x "${!who:-}" ] || { echo "kinds_before_after.sh: set $who to a lungflow binary" >&2; exit 1; }; done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for _ in $(seq "$reps"); do
    for who in BEFORE AFTER; do
        bin=${!who}
        rm -rf "$work/$who"
        for step in "hu_volume dicom=$data hu" "resample volume=$work/$who/hu iso" "lung_mask volume=$work/$who/iso lungs"; do
            set -- $step
            /usr/bin/time -f "$who $1 %e %U %S %M" -a -o "$work/times" "$bin" exec "$1" --input "$2" --out "$work/$who/$3" > /dev/null 2> "$work/err" \
                || { echo "kinds_before_after.sh: $who's exec $1 failed:" >&2; cat "$work/err" >&2; exit 1; }
        done
    done
done
python3 - "$work/times" "$series" "$reps" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
print(f"{sys.argv[2].rstrip('/').split('/')[-1]}, median of {sys.argv[3]}, alternating:\n")
print("| kind | before wall s | after wall s | ratio | before user/sys s | after user/sys s | before RSS MB | after RSS MB |")
print("|---|---|---|---|---|---|---|---|")
for kind in ["hu_volume", "resample", "lung_mask"]:
    m = {}
    for who in ["BEFORE", "AFTER"]:
        r = [x for x in rows if x[0] == who and x[1] == kind]
        m[who] = [statistics.median(float(x[i]) for x in r) for i in (2, 3, 4, 5)]
    b, a = m["BEFORE"], m["AFTER"]
    print(f"| {kind} | {b[0]:.2f} | {a[0]:.2f} | {b[0] / a[0]:.1f}x | {b[1]:.2f} / {b[2]:.2f} | {a[1]:.2f} / {a[2]:.2f} | {b[3] / 1000:.0f} | {a[3] / 1000:.0f} |")
PY
