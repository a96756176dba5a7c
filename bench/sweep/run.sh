#!/usr/bin/env bash
# Sweep benchmark: lungflow `sweep run` against DVC experiments (queue + 2
# workers) on the same workload. N items -> prep (per item, ~0.09 s CPU + interpreter start) ->
# train (once over all items, ~1.7 s CPU, params m and lr). Cold sweep of
# m {1,2,4} x lr {1e-3,3e-4} = 6 variants, then the incremental step m=8
# (2 new variants). Every command appends a line to WORK/repN/TOOL/runs.log
# (outside the workspace), which gives the real number of executions.
# REPS repetitions in fresh folders, tools interleaved (odd reps lungflow
# first, even reps DVC first). The machine may be shared: before every timed
# step the script waits until processes outside the benchmark use < 5 % of a
# core, and it records the CPU they used during the step.
# Results: WORK/results.tsv, WORK/summary.md, WORK/run.log (if you tee it).
# Usage: bench/sweep/run.sh   (env: WORK=/tmp/sweepbench REPS=3 N=100 JOBS=2;
#   DVC_PREP=single gives DVC one prep stage over all items instead of `foreach`)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/sweepbench}
REPS=${REPS:-3}
N=${N:-100}
JOBS=${JOBS:-2}
QUIET_MAX=${QUIET_MAX:-1800}   # longest wait for a quiet machine before a step, s
MAX_RETRIES=${MAX_RETRIES:-3}  # DVC: re-queue a failed experiment at most this often per step
LF=${LUNGFLOW_BIN:-/var/tmp/lungflow-target/release/lungflow}
DVC_VENV=${DVC_VENV:-$(cd "$here/.." && pwd)/.venv}
PY=/usr/bin/python3   # not a pyenv shim: the shim adds ~0.2 s to every process
export PATH=$DVC_VENV/bin:$PATH SWEEPBENCH=1
export DVC_NO_ANALYTICS=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost \
    GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost

mkdir -p "$WORK"
results=$WORK/results.tsv
printf 'rep\ttool\tstep\twall_s\tprep_runs\ttrain_runs\tqueue_s\tlast_cmd_end_s\tdvc_failed\tforeign_cpu_s\n' > "$results"
{
    echo "date: $(date -u +%FT%TZ)"
    echo "nproc: $(nproc)"
    echo "uname: $(uname -a)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "lungflow: $($LF --version)  ($LF)"
    echo "dvc: $(dvc --version)  ($(command -v dvc))"
    echo "git: $(git --version)"
    echo "stage scripts run by: $($PY --version) ($PY)"
    echo "N=$N REPS=$REPS JOBS=$JOBS DVC_PREP=${DVC_PREP:-foreach}"
} > "$WORK/env.txt"
cat "$WORK/env.txt"

now() { date +%s.%N; }
sub() { echo "$1 - $2" | bc; }
lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }
# count STAGE LOG FROM_LINE: executions of STAGE logged after line FROM_LINE
count() { tail -n +"$(($3 + 1))" "$2" | awk -F'\t' -v s="$1" '$1 == s' | wc -l; }
# last_end LOG FROM_LINE T0: when the last command logged after FROM_LINE ended, relative to T0
last_end() { tail -n +"$(($2 + 1))" "$1" | awk -F'\t' -v t0="$3" 'BEGIN{e=t0} $4 > e {e=$4} END{printf "%.2f", e - t0}'; }
foreign() { $PY "$here/foreign_cpu.py" "$@"; }
wait_quiet() {
    local start=$SECONDS r
    while :; do
        r=$(foreign rate 3)
        if [ "$(echo "$r < 0.05" | bc)" = 1 ]; then break; fi
        if (( SECONDS - start > QUIET_MAX )); then echo "  machine not quiet after ${QUIET_MAX}s (foreign load $r); measuring anyway"; break; fi
        if (( (SECONDS - start) % 60 < 4 )); then echo "  waiting for a quiet machine: foreign load $r cores ($(foreign top))"; fi
    done
    if (( SECONDS - start > 4 )); then echo "  (waited $((SECONDS - start)) s for a quiet machine)"; fi
}
# begin LOG / finish REP TOOL STEP LOG QUEUE_S FAILED: timing and counts of one
# step, and the CPU that processes outside the benchmark used meanwhile
begin() {
    wait_quiet; MARK=$(lines "$1")
    echo 0 > "$WORK/foreign.now"; $PY "$here/foreign_cpu.py" watch "$WORK/foreign.now" & WATCH=$!
    T0=$(now)
}
finish() {
    local t1 f
    t1=$(now); kill "$WATCH" 2>/dev/null || true; wait "$WATCH" 2>/dev/null || true; f=$(cat "$WORK/foreign.now")
    printf '%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(sub "$t1" "$T0")" \
        "$(count prep "$4" "$MARK")" "$(count train "$4" "$MARK")" "$5" "$(last_end "$4" "$MARK" "$T0")" "$6" "$f" >> "$results"
    tail -1 "$results" | awk -F'\t' '{printf "  %s %s: %s s, prep %s, train %s, dvc failures %s, foreign CPU %s s\n", $2, $3, $4, $5, $6, $9, $10}'
}

lungflow_rep() {
    local rep=$1 dir=$WORK/rep$1/lungflow
    local log=$dir/runs.log proj=$dir/proj
    rm -rf "$dir"; mkdir -p "$dir"
    $PY "$here/gen.py" lungflow "$proj" "$log" "$N"
    cd "$proj"
    begin "$log"
    "$LF" sweep run pipe.yaml --jobs "$JOBS" --json > "$dir/cold.json"
    finish "$rep" lungflow cold "$log" - -
    begin "$log"
    "$LF" sweep run pipe.yaml --jobs "$JOBS" --sweep train.m=1,2,4,8 --json > "$dir/incr.json"
    finish "$rep" lungflow incr "$log" - -
    # the tool's own account, and every variant's loss, for the cross-check
    $PY - "$dir" <<'PY'
import collections, json, sys
d = sys.argv[1]
for step in ("cold", "incr"):
    j = json.load(open(f"{d}/{step}.json"))
    c = collections.Counter(r["stage"].split("@")[0] for r in j["executed"])
    print(f"  lungflow {step} --json: executed {dict(c)}, cached {len(j['cached'])}, failed {len(j['failed'])}")
j = json.load(open(f"{d}/incr.json"))
with open(f"{d}/losses.tsv", "w") as f:
    for v in j["variants"]:
        f.write(f"{float(v['train.m']):g}\t{float(v['train.lr']):g}\t{v['train.loss']}\n")
PY
    cd "$WORK"
}

# dvc_done DIR: experiments committed so far. Only refs/exps/XX/BASELINE/NAME
# count: queued tasks live in refs/exps/celery/stash, executors use refs/exps/exec/*.
dvc_done() { git -C "$1" for-each-ref --format='%(refname)' refs/exps | grep -cE '^refs/exps/[0-9a-f]{2}/[0-9a-f]{38}/' || true; }
# failed tasks are stashed in refs/exps/celery/failed (one reflog entry each)
dvc_failed() { { git -C "$1" reflog show refs/exps/celery/failed 2>/dev/null || true; } | wc -l; }
# dvc_wait DIR COUNT: wait until COUNT experiments are committed, polling with
# plain git every 0.2 s (a `dvc queue status` costs ~1-4 s of CPU). A failed
# experiment is queued again with the same parameters, as a user would, and
# the time that takes is part of the step. Sets FAILS.
dvc_wait() {
    local want=$2 start=$SECONDS seen nf i m lr name
    FAILS=0; seen=$(dvc_failed "$1")
    while [ "$(dvc_done "$1")" -lt "$want" ]; do
        sleep 0.2
        nf=$(dvc_failed "$1")
        if [ "$nf" -gt "$seen" ]; then
            for i in $(seq 0 $((nf - seen - 1))); do
                read -r m lr < <(git -C "$1" show "refs/exps/celery/failed@{$i}:params.yaml" | awk '$1 == "m:" {m = $2} $1 == "lr:" {lr = $2} END {print m, lr}')
                name=$(git -C "$1" log -1 --format=%s "refs/exps/celery/failed@{$i}" | awk -F: '{print $NF}')
                echo "$name m=$m lr=$lr" >> "$DVC_DIR/failed.txt"
                FAILS=$((FAILS + 1))
                if (( FAILS > MAX_RETRIES )); then echo "too many failed DVC experiments" >&2; return 1; fi
                dvc exp run --queue -q -S "train.m=$m" -S "train.lr=$lr"
            done
            seen=$nf
            dvc queue start -j "$JOBS" > /dev/null
        fi
        if (( SECONDS - start > 1800 )); then echo "timeout waiting for DVC" >&2; dvc queue status >&2; return 1; fi
    done
}
# wait until the queue workers have exited (they idle ~10 s when the queue is empty); not timed
dvc_workers_gone() {
    for _ in $(seq 40); do
        dvc queue status 2>/dev/null | grep -q "Worker status: 0 active, 0 idle" && return 0
        sleep 2
    done
    echo "  (DVC workers still alive after 80 s)"
}

dvc_rep() {
    local rep=$1 dir=$WORK/rep$1/dvc
    local log=$dir/runs.log proj=$dir/proj
    rm -rf "$dir"; mkdir -p "$dir"; DVC_DIR=$dir
    $PY "$here/gen.py" dvc "$proj" "$log" "$N"
    cd "$proj"
    git init -q . && dvc init -q && dvc config core.analytics false
    git add -A && git commit -qm "baseline: data, scripts, dvc.yaml, params.yaml (nothing run yet)"
    local tq m lr
    begin "$log"
    for m in 1 2 4; do for lr in 0.001 0.0003; do
        dvc exp run --queue -q -S "train.m=$m" -S "train.lr=$lr"
    done; done
    tq=$(sub "$(now)" "$T0")
    dvc queue start -j "$JOBS" > /dev/null
    dvc_wait "$proj" 6
    finish "$rep" dvc cold "$log" "$tq" "$FAILS"
    dvc_workers_gone
    begin "$log"
    for lr in 0.001 0.0003; do
        dvc exp run --queue -q -S train.m=8 -S "train.lr=$lr"
    done
    tq=$(sub "$(now)" "$T0")
    dvc queue start -j "$JOBS" > /dev/null
    dvc_wait "$proj" 8
    finish "$rep" dvc incr "$log" "$tq" "$FAILS"
    dvc_workers_gone
    # not timed: the queue's final state, run-cache use and errors from the
    # experiments' logs, every experiment's loss
    dvc queue status > "$dir/queue-status.txt" 2>&1 || true
    local name
    $PY "$here/dvc_losses.py" "$proj" > "$dir/exps.tsv"   # m lr loss name
    cut -f1-3 "$dir/exps.tsv" > "$dir/losses.tsv"
    printf 'experiment\tparams\tstages skipped via run cache\tstages run\n' > "$dir/runcache.tsv"
    for name in $(awk '$NF ~ /^(Success|Failed|Queued|Running)$/ {print $2}' "$dir/queue-status.txt"); do
        dvc queue logs "$name" > "$dir/log-$name.txt" 2>&1 || true
        printf '%s\t%s\t%s\t%s\n' "$name" "$(awk -F'\t' -v n="$name" '$4 == n {print "m=" $1 ",lr=" $2}' "$dir/exps.tsv")" "$(grep -c 'skipping run' "$dir/log-$name.txt" || true)" \
            "$(grep -c '^Running stage' "$dir/log-$name.txt" || true)" >> "$dir/runcache.tsv"
    done
    if [ -f "$dir/failed.txt" ]; then
        while read -r name _; do
            echo "  dvc: experiment $name failed: $(grep -m1 '^ERROR' "$dir/log-$name.txt" || echo '(no ERROR line)')"
        done < "$dir/failed.txt"
    fi
    echo "  dvc: stages skipped via the run cache / run, per experiment: $(tail -n +2 "$dir/runcache.tsv" | awk -F'\t' '{printf "%s/%s ", $3, $4}')"
    echo "  dvc: project $(du -sh "$proj" | cut -f1), .dvc/cache $(du -sh "$proj/.dvc/cache" | cut -f1)"
    cd "$WORK"
}

for rep in $(seq "$REPS"); do
    echo "== rep $rep"
    if (( rep % 2 )); then lungflow_rep "$rep"; dvc_rep "$rep"; else dvc_rep "$rep"; lungflow_rep "$rep"; fi
    if diff <(sort "$WORK/rep$rep/lungflow/losses.tsv") <(sort "$WORK/rep$rep/dvc/losses.tsv") > /dev/null; then
        echo "  losses of all 8 variants agree between the tools"
    else
        echo "  LOSSES DIFFER:"; diff <(sort "$WORK/rep$rep/lungflow/losses.tsv") <(sort "$WORK/rep$rep/dvc/losses.tsv") || true
    fi
done
$PY "$here/summarize.py" "$results" | tee "$WORK/summary.md"
