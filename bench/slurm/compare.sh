#!/usr/bin/env bash
# The Slurm benchmark: floor.sh, snakemake.sh and lungflow.sh run alternately,
# REPS times each (default 3), on the cluster of tools/slurm/up.sh. Prints one
# Markdown table row per run as it finishes (with the 1-minute load average at
# its end: other work on the machine slows every tool), then the medians of the
# runs that succeeded. A failed run (a lungflow without `--executor slurm`, say) is shown
# as failed and the others go on.
#
#   bench/slurm/compare.sh [REPS]
#
# LUNGFLOW: the binary (default target/release/lungflow), copied once at the
# start so that a rebuild during the benchmark does not change it.
# COMPARE_DIR: where the work folders and logs go (default: a new folder in /tmp).
# N (default 200) is passed on to the three scripts.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
REPS="${1:-3}"
LF_SRC="${LUNGFLOW:-$REPO/target/release/lungflow}"
OUT="${COMPARE_DIR:-$(mktemp -d /tmp/lf-slurm-compare.XXXXXX)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

sinfo -h -o %T > /dev/null 2>&1 || { echo "compare: Slurm is not running: start it with tools/slurm/up.sh" >&2; exit 1; }
LF="$OUT/lungflow"
if [ -x "$LF_SRC" ]; then cp "$LF_SRC" "$LF"; else echo "compare: no lungflow binary at $LF_SRC: its runs will fail" >&2; fi
CORES=$(nproc)
N="${N:-200}"
export N

# field NAME LINE: the value of NAME=VALUE in a RESULT line.
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

: > "$OUT/results.txt"
echo "Slurm benchmark: $N commands of 0.2 s on $CORES cores, $REPS repetitions; logs in $OUT"
echo
echo "| rep | tool | wall s | overhead per job s | sbatch | squeue | scontrol | status calls | ok | load |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for rep in $(seq "$REPS"); do
    for tool in floor snakemake lungflow; do
        log="$OUT/$tool-$rep.log"
        work="$OUT/work-$tool-$rep"
        case "$tool" in
            lungflow) "$HERE/lungflow.sh" "$LF" "$work" > "$log" 2>&1 || true ;;
            *) "$HERE/$tool.sh" "$work" > "$log" 2>&1 || true ;;
        esac
        load=$(cut -d' ' -f1 /proc/loadavg)
        result=$(grep '^RESULT ' "$log" | tail -1 || true)
        if [ -z "$result" ] || [ "$(field ok "$result")" != 1 ]; then
            echo "| $rep | $tool | failed (see $log) | | | | | | no | $load |"
            continue
        fi
        wall=$(field wall "$result")
        overhead=$(printf %.3f "$(echo "($wall - $N * 0.2 / $CORES) / $N" | bc -l)")
        printf '| %s | %s | %.1f | %s | %s | %s | %s | %s | yes | %s |\n' "$rep" "$tool" "$wall" "$overhead" \
            "$(field sbatch "$result")" "$(field squeue "$result")" "$(field scontrol "$result")" \
            "$(field status_calls "$result")" "$load"
        echo "$tool $wall $(field status_calls "$result") $(field sbatch "$result")" >> "$OUT/results.txt"
    done
done

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo
echo "| tool | runs ok | median wall s | overhead per job s | x floor | median status calls | median sbatch |"
echo "|---|---|---|---|---|---|---|"
floor_wall=$(awk '$1 == "floor" { print $2 }' "$OUT/results.txt" | median)
for tool in floor snakemake lungflow; do
    runs=$(awk -v t="$tool" '$1 == t' "$OUT/results.txt" | wc -l)
    wall=$(awk -v t="$tool" '$1 == t { print $2 }' "$OUT/results.txt" | median)
    calls=$(awk -v t="$tool" '$1 == t { print $3 }' "$OUT/results.txt" | median)
    sb=$(awk -v t="$tool" '$1 == t { print $4 }' "$OUT/results.txt" | median)
    if [ "$wall" = - ]; then
        echo "| $tool | 0 of $REPS | - | - | - | - | - |"
        continue
    fi
    overhead=$(printf %.3f "$(echo "($wall - $N * 0.2 / $CORES) / $N" | bc -l)")
    ratio=-
    [ "$floor_wall" != - ] && ratio=$(printf %.2f "$(echo "$wall / $floor_wall" | bc -l)")
    printf '| %s | %s of %s | %.1f | %s | %s | %s | %s |\n' "$tool" "$runs" "$REPS" "$wall" "$overhead" "$ratio" "$calls" "$sb"
done
