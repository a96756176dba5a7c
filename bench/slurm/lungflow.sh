#!/usr/bin/env bash
# lungflow on the Slurm benchmark: a pipeline of N (default 200) items and one
# per-item `command` stage doing `sleep 0.2; echo ITEM > {out}/out.txt`, run with
# `lungflow run PIPELINE --executor slurm` in a fresh working folder with a
# fresh cache. Prints the wall time and the number of Slurm client calls,
# counted by count_calls.sh (wrappers first on PATH, so lungflow must find
# sbatch/squeue/scontrol through PATH for them to be counted).
#
#   bench/slurm/lungflow.sh [LUNGFLOW] [WORK]
#
# LUNGFLOW: the binary (default target/release/lungflow; not built here).
# WORK: an empty folder (default: a new one in /tmp); the cache is WORK/cache.
# EXECUTOR=local runs the same pipeline without `--executor` (checks the
# pipeline and the checks of this script on a lungflow without Slurm support).
# Needs the cluster of tools/slurm/up.sh. The last line is for compare.sh:
#   RESULT tool=lungflow wall=... sbatch=... squeue=... scontrol=... status_calls=... ok=1
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
N="${N:-200}"
EXECUTOR="${EXECUTOR:-slurm}"
LF="${1:-$REPO/target/release/lungflow}"
[ -x "$LF" ] || { echo "lungflow: no binary at $LF (build it: cargo build --release)" >&2; exit 1; }
LF="$(cd "$(dirname "$LF")" && pwd)/$(basename "$LF")"
WORK="${2:-$(mktemp -d /tmp/lf-slurm-lungflow.XXXXXX)}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"

if [ "$EXECUTOR" = slurm ]; then
    sinfo -h -o %T > /dev/null 2>&1 || { echo "lungflow: Slurm is not running: start it with tools/slurm/up.sh" >&2; exit 1; }
fi
cd "$WORK"
rm -rf cache
{
    echo "# $N instances of about 0.2 s each, written by bench/slurm/lungflow.sh."
    echo "items:"
    echo "  n:"
    printf '    list: ['
    for i in $(seq 0 $((N - 1))); do
        [ "$i" -gt 0 ] && printf ', '
        printf '"%d"' "$i"
    done
    printf ']\n'
    cat << 'EOF'

stages:
  work:
    kind: command
    foreach: n
    params:
      cmd: "sleep 0.2; echo {item} > {out}/out.txt"
      outputs: [out.txt]
EOF
} > bench.yaml

args=(run bench.yaml --jobs "$N")
[ "$EXECUTOR" = local ] || args+=(--executor "$EXECUTOR")
export LUNGFLOW_CACHE="$WORK/cache"
PATH="$("$HERE/count_calls.sh" setup "$WORK/calls"):$PATH"
start=$(date +%s.%N)
rc=0
"$LF" "${args[@]}" > lungflow.log 2>&1 || rc=$?
end=$(date +%s.%N)
wall=$(printf %.2f "$(echo "$end - $start" | bc)")
calls=$("$HERE/count_calls.sh" count "$WORK/calls")
status_calls=$(( $("$HERE/count_calls.sh" count "$WORK/calls" squeue) + $("$HERE/count_calls.sh" count "$WORK/calls" scontrol) ))

done_ok=0
for i in $(seq 0 $((N - 1))); do
    [ "$(cat "cache/results/bench/work/$i/out.txt" 2> /dev/null)" = "$i" ] && done_ok=$((done_ok + 1))
done
ok=1
if [ "$rc" -ne 0 ] || [ "$done_ok" -ne "$N" ] || ! grep -q "executed $N," lungflow.log; then
    ok=0
    echo "lungflow: exit $rc, $done_ok of $N outputs right; end of $WORK/lungflow.log:" >&2
    tail -n 20 lungflow.log >&2
fi
printf 'lungflow (%s): %d instances, wall %.1f s, overhead per instance %.3f s, %d squeue+scontrol calls (%s), work in %s\n' \
    "$EXECUTOR" "$N" "$wall" "$(echo "($wall - $N * 0.2 / $(nproc)) / $N" | bc -l)" "$status_calls" "$calls" "$WORK"
echo "RESULT tool=lungflow wall=$wall $calls status_calls=$status_calls ok=$ok"
[ "$ok" -eq 1 ]
