#!/usr/bin/env bash
# The floor of the Slurm benchmark: N (default 200) commands of about 0.2 s
# (`sleep 0.2; echo I > out/I`), each submitted with its own `sbatch --wrap`,
# then a plain loop that calls `squeue` once per second until none of them is
# queued or running. Prints the wall time (first sbatch to last squeue) and the
# number of Slurm client calls, counted by count_calls.sh.
#
#   bench/slurm/floor.sh [WORK]          # WORK: an empty folder (default: a new one in /tmp)
#
# Needs the cluster of tools/slurm/up.sh. The last line is for compare.sh:
#   RESULT tool=floor wall=26.7 sbatch=200 squeue=26 scontrol=0 ... status_calls=26 ok=1
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
N="${N:-200}"
WORK="${1:-$(mktemp -d /tmp/lf-slurm-floor.XXXXXX)}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
NAME="lfb-floor-$$"

sinfo -h -o %T > /dev/null 2>&1 || { echo "floor: Slurm is not running: start it with tools/slurm/up.sh" >&2; exit 1; }
cd "$WORK"
rm -rf out logs
mkdir out logs
PATH="$("$HERE/count_calls.sh" setup "$WORK/calls"):$PATH"
# Leave nothing queued if we stop early.
trap 'scancel --name "$NAME" > /dev/null 2>&1 || true' EXIT

start=$(date +%s.%N)
for i in $(seq 0 $((N - 1))); do
    sbatch --parsable -J "$NAME" -o "$WORK/logs/%j.out" --wrap "sleep 0.2; echo $i > $WORK/out/$i" > /dev/null
done
submitted=$(date +%s.%N)
polls=0
while :; do
    sleep 1
    polls=$((polls + 1))
    if queued=$(squeue -h -n "$NAME" -o %i); then
        [ -z "$queued" ] && break
    fi
    if [ "$polls" -ge 1800 ]; then echo "floor: jobs still queued after 30 min" >&2; exit 1; fi
done
end=$(date +%s.%N)
wall=$(printf %.2f "$(echo "$end - $start" | bc)")
calls=$("$HERE/count_calls.sh" count "$WORK/calls")

done_ok=0
for i in $(seq 0 $((N - 1))); do
    [ "$(cat "out/$i" 2> /dev/null)" = "$i" ] && done_ok=$((done_ok + 1))
done
ok=1
if [ "$done_ok" -ne "$N" ]; then
    ok=0
    echo "floor: only $done_ok of $N outputs are right; job states:" >&2
    squeue -h -t all -n "$NAME" -o %T | sort | uniq -c >&2
fi
submit=$(printf %.2f "$(echo "$submitted - $start" | bc)")
printf 'floor: %d jobs, wall %.1f s (the sbatch calls %.1f s), overhead per job %.3f s, %d squeue polls (%s), work in %s\n' \
    "$N" "$wall" "$submit" "$(echo "($wall - $N * 0.2 / $(nproc)) / $N" | bc -l)" "$polls" "$calls" "$WORK"
echo "RESULT tool=floor wall=$wall submit=$submit $calls status_calls=$polls ok=$ok"
[ "$ok" -eq 1 ]
