#!/usr/bin/env bash
# Count how often a tool calls Slurm's client commands. `setup` writes wrapper
# scripts named sbatch, squeue, scontrol, scancel, sacct and sinfo into DIR/bin
# that append one line ("NAME ARGS") to DIR/calls.log and exec the real
# command; put DIR/bin first on PATH and everything started from there (a
# workflow tool, its status scripts, lungflow) is counted. `count` reads the log.
#
#   PATH="$(bench/slurm/count_calls.sh setup DIR):$PATH"
#   ... run the tool ...
#   bench/slurm/count_calls.sh count DIR            # sbatch=200 squeue=26 scontrol=0 scancel=0 sacct=0 sinfo=0
#   bench/slurm/count_calls.sh count DIR squeue     # 26
#
# setup empties DIR/calls.log. Calls made inside jobs are counted too (sbatch
# passes PATH on to the job).
set -euo pipefail

TOOLS="sbatch squeue scontrol scancel sacct sinfo"

usage() {
    echo "usage: $0 setup DIR | $0 count DIR [TOOL...]" >&2
    exit 2
}

[ $# -ge 2 ] || usage
mode="$1"
dir="$2"
shift 2

case "$mode" in
    setup)
        mkdir -p "$dir/bin"
        dir="$(cd "$dir" && pwd)"
        : > "$dir/calls.log"
        # Look the real commands up on PATH without our own bin folder.
        clean_path=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$dir/bin" | paste -sd: -)
        for tool in $TOOLS; do
            real=$(PATH="$clean_path:/usr/sbin:/sbin" command -v "$tool" || true)
            if [ -z "$real" ]; then
                echo "count_calls: $tool not found on PATH (is Slurm installed? tools/slurm/up.sh)" >&2
                exit 1
            fi
            # One printf with O_APPEND: concurrent callers do not interleave lines.
            cat > "$dir/bin/$tool" << EOF
#!/bin/sh
printf '%s %s\n' $tool "\$*" >> '$dir/calls.log'
exec '$real' "\$@"
EOF
            chmod +x "$dir/bin/$tool"
        done
        echo "$dir/bin"
        ;;
    count)
        [ -f "$dir/calls.log" ] || { echo "count_calls: no $dir/calls.log (run setup first)" >&2; exit 1; }
        if [ $# -eq 0 ]; then
            line=""
            for tool in $TOOLS; do
                n=$(awk -v t="$tool" '$1 == t { n++ } END { print n + 0 }' "$dir/calls.log")
                line="$line${line:+ }$tool=$n"
            done
            echo "$line"
        else
            for tool in "$@"; do
                awk -v t="$tool" '$1 == t { n++ } END { print n + 0 }' "$dir/calls.log"
            done
        fi
        ;;
    *) usage ;;
esac
