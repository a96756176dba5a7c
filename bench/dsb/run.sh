#!/usr/bin/env bash
# A cohort the size of Kaggle DSB 2017 stage 1 (issue 33), N patients of it.
#
# 1. Writes N synthetic patients of DSB's size as DICOM, once, into
#    $WORK/data (outside any cache, as a lab's download sits on disk), with
#    `lungflow exec synthetic_cohort`; reused while N and the grid match.
# 2. A cold `lungflow run bench/dsb/dsb.yaml --jobs $JOBS` over the patient
#    folders of $WORK/data/dicom in an empty cache: hu -> iso (1 mm) -> lungs
#    -> patches per patient, then `census`, which gathers every patient.
#    Wall time and peak RSS (/usr/bin/time), per-stage figures and cache
#    bytes from the manifests (bench/dsb/stages.py).
# 3. `lungflow status`, warm, 3 times.
# 4. Writes N+1 patients with the same seed into $WORK/grow, checks that the
#    first N are byte-identical to $WORK/data's, copies the new patient's
#    folder in, and checks that `status` names exactly its 4 instances and
#    `census` and that `run` executes exactly those.
# 5. Prints a Markdown table, with 1,595 patients scaled on paper from the
#    per-patient figures.
#
# Usage: bench/dsb/run.sh [N]          (N patients, default 40)
# Environment: WORK (default /var/tmp/dsb), JOBS (2), SEED (2017),
#   MATRIX (512), SLICES (180), PIXEL_MM (0.7), SLICE_MM (1.8): the grid,
#   DSB-like by default (about 94 MB of DICOM a patient); LUNGFLOW_BIN
#   (default $CARGO_TARGET_DIR or target/, release/lungflow).
set -euo pipefail
N=${1:-40}
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=${LUNGFLOW_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/lungflow}
bin=$(realpath "$bin")
work=${WORK:-/var/tmp/dsb}
jobs=${JOBS:-2}
grid="matrix ${MATRIX:-512}, pixel ${PIXEL_MM:-0.7} mm, ${SLICES:-180} slices of ${SLICE_MM:-1.8} mm"
gen=(--set "seed=${SEED:-2017}" --set "matrix=${MATRIX:-512}" --set "pixel_mm=${PIXEL_MM:-0.7}"
    --set "slices=${SLICES:-180}" --set "slice_mm=${SLICE_MM:-1.8}"
    --set positive_fraction=0.26 --set test_fraction=0.125)  # DSB: 26 % cancer, 198 of 1,595 test
fail() { echo "run.sh: $*" >&2; exit 1; }
py() { python3 -c "$@"; }
mkdir -p "$work"
data=$work/data

# 1. The cohort, once.
want="patients=$N ${gen[*]}"
reused=yes
if [ "$(cat "$work/data.params" 2>/dev/null)" != "$want" ]; then
    rm -rf "$data" "$work/data.params" "$work/gen.time"
    echo "writing $N patients ($grid) into $data ..." >&2
    /usr/bin/time -f "%e %M" -o "$work/gen.time" "$bin" exec synthetic_cohort --set "patients=$N" "${gen[@]}" --out "$data" >/dev/null
    echo "$want" >"$work/data.params"
    reused=
fi
# An earlier run's added patient goes: the data is the N patients of labels.csv.
for d in "$data"/dicom/*; do
    grep -q "^${d##*/}," "$data/labels.csv" || rm -rf "$d"
done
[ "$(ls "$data/dicom" | wc -l)" = "$N" ] || fail "$data/dicom does not hold $N patients"
dicom_bytes=$(du -sb "$data/dicom" | cut -f1)
dicom_files=$(find "$data/dicom" -type f | wc -l)
read -r gen_s gen_kb <"$work/gen.time"
gen_line="$gen_s s for $N patients ($(py "print(f'{$gen_s / $N:.1f}')") s each), peak RSS $((gen_kb / 1024)) MiB"
[ -n "$reused" ] && gen_line="$gen_line, by an earlier run of this script"

# 2. The cold run, in an empty cache.
run=$work/run
rm -rf "$run"
mkdir -p "$run"
cp "$repo/bench/dsb/dsb.yaml" "$run/"
cd "$run"
instances=$((4 * N + 1))
echo "cold run of $instances instances, --jobs $jobs ..." >&2
/usr/bin/time -f "%e %M" -o cold.time "$bin" run dsb.yaml --set "vars.data=$data/dicom" --jobs "$jobs" --json >cold.json 2>cold.log ||
    fail "the cold run failed: $(tail -5 cold.log)"
read -r cold_s cold_kb <cold.time
ran=$(py "import json; print(len(json.load(open('cold.json'))['executed']))")
[ "$ran" = "$instances" ] || fail "the cold run executed $ran instances, not $instances"
python3 "$repo/bench/dsb/stages.py" "$N" >stages.md
eval "$(tail -1 stages.md)" # per_patient_cache_bytes, once_cache_bytes
cache_bytes=$(du -sb cache | cut -f1)

# 3. A no-op status, warm, 3 times.
status_s=()
for i in 1 2 3; do
    t0=$EPOCHREALTIME
    "$bin" status dsb.yaml --set "vars.data=$data/dicom" >status.txt
    t1=$EPOCHREALTIME
    tail -1 status.txt | grep -qx "$instances fresh, 0 stale, 0 missing" || fail "status: $(tail -1 status.txt)"
    status_s+=("$(py "print(f'{$t1 - $t0:.3f}')")")
done

# 4. One more patient.
grow=$work/grow
rm -rf "$grow"
echo "writing $((N + 1)) patients into $grow ..." >&2
/usr/bin/time -f "%e" -o grow-gen.time "$bin" exec synthetic_cohort --set "patients=$((N + 1))" "${gen[@]}" --out "$grow" >/dev/null
for d in "$data"/dicom/*; do
    diff -rq "$d" "$grow/dicom/${d##*/}" >/dev/null || fail "patient ${d##*/} differs between $N and $((N + 1)) patients"
done
head -n $((N + 1)) "$grow/labels.csv" | cmp -s - "$data/labels.csv" || fail "labels.csv of $((N + 1)) does not begin with that of $N"
new=$(comm -13 <(ls "$data/dicom") <(ls "$grow/dicom"))
[ "$(echo "$new" | wc -w)" = 1 ] || fail "expected one new patient, got: $new"
cp -a "$grow/dicom/$new" "$data/dicom/"
rm -rf "$grow"
expected=$(printf '%s\n' "census[]" "hu[$new]" "iso[$new]" "lungs[$new]" "patches[$new]")
list='import json, sys; d = json.load(open(sys.argv[1])); rows = d if sys.argv[2] == "-" else d[sys.argv[2]]
print("\n".join(sorted("%s[%s]" % (r["stage"], r["item"] or "") for r in rows if r.get("state") != "fresh")))'
"$bin" status dsb.yaml --set "vars.data=$data/dicom" --json >grow-status.json
stale=$(python3 -c "$list" grow-status.json -)
[ "$stale" = "$expected" ] || fail "status after adding $new names: $stale"
/usr/bin/time -f "%e %M" -o grow.time "$bin" run dsb.yaml --set "vars.data=$data/dicom" --jobs "$jobs" --json >grow.json 2>grow.log ||
    fail "the run after adding a patient failed: $(tail -5 grow.log)"
read -r grow_s grow_kb <grow.time
executed=$(python3 -c "$list" grow.json executed)
[ "$executed" = "$expected" ] || fail "the run after adding $new executed: $executed"
cached=$(py "import json; print(len(json.load(open('grow.json'))['cached']))")

# 5. The table.
read -r pph per_s hours dsb_cache dsb_dicom per_mb dicom_mb < <(py "
n, wall = $N, $cold_s
per = wall / n
print(f'{3600 / per:,.0f} {per:.2f} {1595 * per / 3600:.1f} {(1595 * $per_patient_cache_bytes + $once_cache_bytes) / 1e9:,.1f}',
      f'{1595 * $dicom_bytes / n / 1e9:,.1f} {$per_patient_cache_bytes / 1e6:,.1f} {$dicom_bytes / n / 1e6:,.1f}')")
cat <<EOF

N = $N patients ($grid), lungflow $("$bin" --version 2>/dev/null | awk '{print $NF}'), $(nproc) cores, --jobs $jobs, $(date -u +%Y-%m-%d)

| what | measured |
|---|---|
| DICOM per patient | $dicom_mb MB in $((dicom_files / N)) files |
| writing the cohort (\`exec synthetic_cohort\`) | $gen_line; $((N + 1)) patients for step 4: $(cat grow-gen.time) s |
| cold \`run\`, $instances instances | $cold_s s wall, peak RSS $((cold_kb / 1024)) MiB: **$pph patients per hour** ($per_s s a patient) |
| cache per patient (du of its 4 entries) | $per_mb MB |
| cache in all | $(py "print(f'{$cache_bytes / 1e6:,.0f}')") MB (census: $(py "print(f'{$once_cache_bytes / 1e3:,.0f}')") kB) |
| no-op \`status\`, warm, 3 runs | ${status_s[0]} s, ${status_s[1]} s, ${status_s[2]} s |
| \`run\` after adding patient ${new:0:8}… | $grow_s s wall, peak RSS $((grow_kb / 1024)) MiB; executed $(echo $executed | sed -E 's/\[([0-9a-f]{8})[0-9a-f]*\]/[\1…]/g; s/ /, /g'); cached $cached |
| 1,595 patients, scaled on paper from the per-patient figures | $hours h at $per_s s a patient; cache $dsb_cache GB; DICOM $dsb_dicom GB |

Per stage, cold run (from the manifests; RSS: the largest instance's peak, its child process or lungflow's own):

$(head -n -1 stages.md)
EOF
