#!/usr/bin/env bash
# The cold demo with two lungflow binaries, alternating, ROUNDS times each:
# BEFORE=/path/to/old AFTER=/path/to/new bench/isolation/demo_before_after.sh [ROUNDS] [WORK]
# Each run starts from an empty cache in WORK/<which>; prints wall, user and
# system seconds per run (GNU time). Nothing else should run meanwhile.
set -euo pipefail
: "${BEFORE:?the binary before the change}" "${AFTER:?the binary after it}"
rounds="${1:-2}"
work="${2:-/var/tmp/lungflow-demo-before-after}"
pipelines="$(cd "$(dirname "$0")/../../pipelines" && pwd)"
mkdir -p "$work"
for round in $(seq "$rounds"); do
    for which in after before; do
        binary=$AFTER
        [ "$which" = before ] && binary=$BEFORE
        rm -rf "${work:?}/$which" && mkdir -p "$work/$which" && cp -r "$pipelines" "$work/$which/pipelines"
        (cd "$work/$which" && /usr/bin/time -f "$which round $round: %e s wall, %U s user, %S s sys" \
            "$binary" run pipelines/demo.yaml > /dev/null 2> "$work/$which.err") || { tail -5 "$work/$which.err"; exit 1; }
        tail -1 "$work/$which.err"
    done
done
