#!/usr/bin/env bash
# Snakemake on the Slurm benchmark: a Snakefile of N (default 200) jobs, each
# `sleep 0.2; echo I > out/I`, run with the cluster-generic executor plugin:
# submitted with `sbatch --parsable`, their state asked by a small status
# script that calls `scontrol show job` and counts its own calls, `--jobs 200`.
# Prints the wall time and the number of status-script and Slurm client calls
# (those counted by count_calls.sh).
#
#   bench/slurm/snakemake.sh [WORK]      # WORK: an empty folder (default: a new one in /tmp)
#
# Snakemake and the plugin come from PyPI into a virtual environment,
# bench/slurm/.venv (git-ignored; SNAKEMAKE_VENV to use another), created on
# first use. Versions pinned to the ones measured before (Snakemake 9.27.1,
# plugin 1.0.9); SNAKEMAKE_SPEC and PLUGIN_SPEC override them.
# Needs the cluster of tools/slurm/up.sh. The last line is for compare.sh:
#   RESULT tool=snakemake wall=226.5 sbatch=200 squeue=0 scontrol=1091 ... status_calls=1091 ok=1
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
N="${N:-200}"
JOBS="${JOBS:-200}"
VENV="${SNAKEMAKE_VENV:-$HERE/.venv}"
SNAKEMAKE_SPEC="${SNAKEMAKE_SPEC:-snakemake==9.27.1}"
PLUGIN_SPEC="${PLUGIN_SPEC:-snakemake-executor-plugin-cluster-generic==1.0.9}"
WORK="${1:-$(mktemp -d /tmp/lf-slurm-snakemake.XXXXXX)}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
NAME="lfb-smk-$$"

sinfo -h -o %T > /dev/null 2>&1 || { echo "snakemake: Slurm is not running: start it with tools/slurm/up.sh" >&2; exit 1; }
if [ ! -x "$VENV/bin/snakemake" ]; then
    echo "snakemake: installing $SNAKEMAKE_SPEC and $PLUGIN_SPEC into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "$SNAKEMAKE_SPEC" "$PLUGIN_SPEC" >&2
fi

cd "$WORK"
rm -rf out logs .snakemake status_calls.log
mkdir out logs
cat > Snakefile << EOF
# $N jobs of about 0.2 s each, written by bench/slurm/snakemake.sh.
rule all:
    input: expand("out/{i}", i=range($N))

rule job:
    output: "out/{i}"
    shell: "sleep 0.2; echo {wildcards.i} > {output}"
EOF
# Snakemake's cluster-generic status command: prints running, success or failed.
cat > status.sh << EOF
#!/bin/sh
echo "\$1" >> '$WORK/status_calls.log'
state=\$(scontrol show job -o "\$1" 2> /dev/null | sed -n 's/.* JobState=\([A-Z_]*\) .*/\1/p')
case "\$state" in
    COMPLETED) echo success ;;
    "" | PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED | REQUEUED | REQUEUE_HOLD | REQUEUE_FED | RESIZING | SIGNALING | STAGE_OUT) echo running ;;
    *) echo failed ;;
esac
EOF
chmod +x status.sh
: > status_calls.log

PATH="$("$HERE/count_calls.sh" setup "$WORK/calls"):$PATH"
trap 'scancel --name "$NAME" > /dev/null 2>&1 || true' EXIT
start=$(date +%s.%N)
rc=0
"$VENV/bin/snakemake" -s Snakefile --directory "$WORK" \
    --executor cluster-generic \
    --cluster-generic-submit-cmd "sbatch --parsable -J $NAME -o $WORK/logs/%j.out" \
    --cluster-generic-status-cmd "$WORK/status.sh" \
    --cluster-generic-cancel-cmd scancel \
    --jobs "$JOBS" > snakemake.log 2>&1 || rc=$?
end=$(date +%s.%N)
wall=$(printf %.2f "$(echo "$end - $start" | bc)")
calls=$("$HERE/count_calls.sh" count "$WORK/calls")
status_calls=$(wc -l < status_calls.log)

done_ok=0
for i in $(seq 0 $((N - 1))); do
    [ "$(cat "out/$i" 2> /dev/null)" = "$i" ] && done_ok=$((done_ok + 1))
done
ok=1
if [ "$rc" -ne 0 ] || [ "$done_ok" -ne "$N" ]; then
    ok=0
    echo "snakemake: exit $rc, $done_ok of $N outputs right; end of $WORK/snakemake.log:" >&2
    tail -n 20 snakemake.log >&2
fi
printf 'snakemake: %d jobs, wall %.1f s, overhead per job %.3f s, %d status-script calls (%s), work in %s\n' \
    "$N" "$wall" "$(echo "($wall - $N * 0.2 / $(nproc)) / $N" | bc -l)" "$status_calls" "$calls" "$WORK"
echo "RESULT tool=snakemake wall=$wall $calls status_calls=$status_calls ok=$ok"
[ "$ok" -eq 1 ]
