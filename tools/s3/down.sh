#!/usr/bin/env bash
# Stop the SeaweedFS that tools/s3/up.sh started (the weed in
# $LUNGFLOW_S3_DIR/weed.pid, and only that one) with SIGINT, which is what
# weed stops on (it ignores SIGTERM); killed after 30 s. Running it again, or
# when nothing runs, does nothing. The data stays in $LUNGFLOW_S3_DIR/data:
# up.sh starts over it.
#
#   tools/s3/down.sh
set -euo pipefail

DIR="${LUNGFLOW_S3_DIR:-/var/tmp/lungflow-s3}"
[ $# -eq 0 ] || { echo "down.sh: no arguments expected" >&2; exit 2; }

pid=$(cat "$DIR/weed.pid" 2> /dev/null) || { echo "s3-down: not running (no pid file in $DIR)"; exit 0; }
if [ -z "$pid" ] || [ "$(cat "/proc/$pid/comm" 2> /dev/null)" != weed ]; then
    echo "s3-down: not running"
    rm -f "$DIR/weed.pid"
    exit 0
fi
kill -INT "$pid"
for _ in $(seq 300); do
    [ "$(cat "/proc/$pid/comm" 2> /dev/null)" = weed ] || break
    sleep 0.1
done
if [ "$(cat "/proc/$pid/comm" 2> /dev/null)" = weed ]; then
    echo "s3-down: weed (pid $pid) still running 30 s after SIGINT; killing it"
    kill -KILL "$pid"
fi
rm -f "$DIR/weed.pid"
echo "s3-down: stopped weed (pid $pid)"
