#!/usr/bin/env bash
# Stop the one-node Slurm cluster that tools/slurm/up.sh started: slurmd,
# slurmctld and, if up.sh started it, munged. Only the processes named by the
# pid files under $LUNGFLOW_SLURM_DIR are stopped; running it again, or when
# nothing runs, does nothing. The configuration and the saved job state stay.
#
#   tools/slurm/down.sh [--keep-munge]
#
# --keep-munge   leave munged running (up.sh uses this to restart Slurm alone)
set -euo pipefail

DIR="${LUNGFLOW_SLURM_DIR:-/var/tmp/lungflow-slurm}"
KEEP_MUNGE=0
for arg in "$@"; do
    case "$arg" in
        --keep-munge) KEEP_MUNGE=1 ;;
        *) echo "down.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

priv() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

# stop NAME PIDFILE: TERM the process named in PIDFILE if it is NAME, wait up
# to 15 s, then KILL it; remove the pid file.
stop() {
    local name="$1" file="$2" pid
    pid=$(priv cat "$file" 2> /dev/null) || { echo "slurm-down: $name: not running (no pid file from up.sh)"; return 0; }
    if [ -z "$pid" ] || [ "$(cat "/proc/$pid/comm" 2> /dev/null)" != "$name" ]; then
        echo "slurm-down: $name: not running"
        priv rm -f "$file"
        return 0
    fi
    priv kill -TERM "$pid"
    for _ in $(seq 150); do
        [ "$(cat "/proc/$pid/comm" 2> /dev/null)" = "$name" ] || break
        sleep 0.1
    done
    if [ "$(cat "/proc/$pid/comm" 2> /dev/null)" = "$name" ]; then
        echo "slurm-down: $name ($pid) ignored SIGTERM for 15 s: killing it"
        priv kill -KILL "$pid" || true
    fi
    priv rm -f "$file"
    echo "slurm-down: stopped $name ($pid)"
}

stop slurmd "$DIR/run/slurmd.pid"
stop slurmctld "$DIR/run/slurmctld.pid"
if [ "$KEEP_MUNGE" -eq 0 ]; then
    stop munged "$DIR/run/munged.pid"
fi
