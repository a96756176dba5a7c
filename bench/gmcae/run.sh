#!/usr/bin/env bash
# GMCAE training throughput: lungflow (burn 0.21, flex CPU backend) vs a
# PyTorch CPU peer of the same network (torch_gmcae.py), run alternately.
#
#   bench/gmcae/run.sh                  # from the repository root
#   WORK=/tmp/gmcae-bench REPS=3 bench/gmcae/run.sh
#
# Needs target/release/lungflow (already built) and the venv
# bench/.venv-torch with torch, numpy and pyarrow:
#   python3 -m venv bench/.venv-torch && bench/.venv-torch/bin/pip install torch numpy pyarrow
# Writes $WORK/results.jsonl and bench/gmcae/results.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/bench/gmcae
LF=${LF:-$ROOT/target/release/lungflow}
PY=${PY:-$ROOT/bench/.venv-torch/bin/python}
WORK=${WORK:-/tmp/gmcae-bench}
REPS=${REPS:-3}
# preset name | widths | patients x patches each (1 patient of 5 is held out for validation)
PRESETS=${PRESETS:-"demo:8,16,32:5:64 kdsb17:64,128,256:5:16"}
EDGE=32
BATCH=8

mkdir -p "$WORK"
RESULTS=$WORK/results.jsonl
: > "$RESULTS"

# The binary may be replaced by someone's `cargo build --release`: wait for it.
wait_for_binary() {
    for _ in $(seq 1 120); do
        if [ -x "$LF" ] && "$LF" --version > /dev/null 2>&1; then return 0; fi
        echo "waiting for $LF ..." >&2
        sleep 10
    done
    echo "no usable $LF" >&2
    exit 1
}

busy_jiffies() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }

record() { # JSON line: fields passed as key=value pairs plus a JSON blob
    echo "$1" >> "$RESULTS"
}

run_lungflow() { # preset widths data train_patches rep
    local preset=$1 widths=$2 data=$3 ntrain=$4 rep=$5 out=$WORK/out-$1-$5
    rm -rf "$out"
    wait_for_binary
    local load b0 b1 t0 t1
    load=$(cut -d' ' -f1 /proc/loadavg); b0=$(busy_jiffies); t0=$(date +%s.%N)
    local cmd=("$LF" --cache "$WORK/cache" exec gmcae_train --input "patches=$data" --set "widths=$widths" --set mixtures=4
        --set epochs=1 --set batch_size=$BATCH --set val_fraction=0.25 --out "$out")
    local ok=1
    for attempt in 1 2 3; do
        if /usr/bin/time -f '%U %S %e' -o "$WORK/time-lf" "${cmd[@]}" > "$WORK/lf.log" 2>&1; then ok=0; break; fi
        echo "lungflow failed (attempt $attempt):" >&2; cat "$WORK/lf.log" >&2
        rm -rf "$out"; sleep 10; wait_for_binary
    done
    [ $ok = 0 ] || exit 1
    t1=$(date +%s.%N); b1=$(busy_jiffies)
    local m
    # Wall time and patches/s are timings, not outputs: exec names the file.
    local timings
    timings=$(sed -n 's/.*(timings: \(.*\))$/\1/p' "$WORK/lf.log")
    m=$("$PY" -c "import pyarrow.parquet as pq, json, sys; r = pq.read_table('$out/metrics.parquet').to_pylist()[0]; r.update(json.load(open(sys.argv[1]))['epochs'][0]); print(json.dumps(r))" "$timings")
    read -r u s e < "$WORK/time-lf"
    record "{\"impl\": \"lungflow\", \"binary_mtime\": \"$(stat -c %y "$LF")\", \"preset\": \"$preset\", \"widths\": \"$widths\", \"rep\": $rep, \"train_patches\": $ntrain, \"loadavg_before\": $load, \"machine_busy_cores\": $(echo "($b1-$b0)/100/($t1-$t0)" | bc -l), \"proc_user_s\": $u, \"proc_sys_s\": $s, \"proc_wall_s\": $e, \"metrics\": $m}"
    echo "  lungflow $preset rep $rep: $(echo "$m" | "$PY" -c 'import json,sys; print("{patches_per_second:.3f} patches/s, epoch {seconds:.1f} s, train NLL {train_nll_per_voxel:.4f}".format(**json.load(sys.stdin)))')"
}

run_torch() { # preset widths train_patches rep
    local preset=$1 widths=$2 ntrain=$3 rep=$4
    local load b0 b1 t0 t1 j
    load=$(cut -d' ' -f1 /proc/loadavg); b0=$(busy_jiffies); t0=$(date +%s.%N)
    j=$(/usr/bin/time -f '%U %S %e' -o "$WORK/time-pt" "$PY" "$HERE/torch_gmcae.py" --widths "$widths" --edge $EDGE --mixtures 4 --batch $BATCH --steps $((ntrain / BATCH)) --seed "$rep")
    t1=$(date +%s.%N); b1=$(busy_jiffies)
    read -r u s e < "$WORK/time-pt"
    record "{\"impl\": \"pytorch\", \"preset\": \"$preset\", \"widths\": \"$widths\", \"rep\": $rep, \"train_patches\": $ntrain, \"loadavg_before\": $load, \"machine_busy_cores\": $(echo "($b1-$b0)/100/($t1-$t0)" | bc -l), \"proc_user_s\": $u, \"proc_sys_s\": $s, \"proc_wall_s\": $e, \"metrics\": $j}"
    echo "  pytorch  $preset rep $rep: $(echo "$j" | "$PY" -c 'import json,sys; print("{patches_per_second:.3f} patches/s steady, {patches_per_second_incl_warmup:.3f} incl. warm-up, loss {first_loss:.4f} -> {last_loss:.4f}".format(**json.load(sys.stdin)))')"
}

echo "== data"
for p in $PRESETS; do
    IFS=: read -r name widths npat per <<< "$p"
    [ -d "$WORK/data-$name" ] || "$PY" "$HERE/make_patches.py" "$WORK/data-$name" --patients "$npat" --per-patient "$per" --edge $EDGE
done

echo "== FLOPs per patch"
for p in $PRESETS; do
    IFS=: read -r name widths npat per <<< "$p"
    record "{\"impl\": \"flops\", \"preset\": \"$name\", \"report\": $("$PY" "$HERE/torch_gmcae.py" --flops-only --widths "$widths" --edge $EDGE --mixtures 4)}"
done

echo "== peak float32 matmul, 2 threads (before)"
record "{\"impl\": \"peak\", \"when\": \"before\", \"report\": $("$PY" "$HERE/peak.py" 2 4096)}"
tail -1 "$RESULTS"

for rep in $(seq 1 "$REPS"); do
    echo "== repetition $rep"
    for p in $PRESETS; do
        IFS=: read -r name widths npat per <<< "$p"
        ntrain=$(( (npat - 1) * per ))
        # alternate which implementation goes first
        if [ $((rep % 2)) = 1 ]; then
            run_lungflow "$name" "$widths" "$WORK/data-$name" "$ntrain" "$rep"
            run_torch "$name" "$widths" "$ntrain" "$rep"
        else
            run_torch "$name" "$widths" "$ntrain" "$rep"
            run_lungflow "$name" "$widths" "$WORK/data-$name" "$ntrain" "$rep"
        fi
    done
done

echo "== peak float32 matmul, 2 threads (after)"
record "{\"impl\": \"peak\", \"when\": \"after\", \"report\": $("$PY" "$HERE/peak.py" 2 4096)}"
tail -1 "$RESULTS"

"$PY" "$HERE/summarize.py" "$RESULTS" "$HERE/results.md" "$LF"
