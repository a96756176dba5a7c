#!/usr/bin/env bash
# End-to-end `lungflow status` vs `dvc status` benchmark.
#
#   bench/status/run.sh [WORK] [ITEMS] [FILES] [extra bench.py args...]
#
# Defaults: WORK=/tmp/lfbench ITEMS=1600 FILES=250000 (the issue's size).
# Needs target/release/lungflow (not built here) and DVC in bench/.venv:
#   python3 -m venv bench/.venv && bench/.venv/bin/pip install dvc
# Writes bench/status/results.md (and results.json) unless --out is given.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
WORK="${1:-/tmp/lfbench}"
ITEMS="${2:-1600}"
FILES="${3:-250000}"
shift $(( $# < 3 ? $# : 3 ))

LF="$REPO/target/release/lungflow"
for i in 1 2 3 4 5; do [ -x "$LF" ] && break; echo "waiting for $LF" >&2; sleep 60; done
[ -x "$LF" ] || { echo "missing $LF (build it with cargo build --release)" >&2; exit 1; }
[ -x "$REPO/bench/.venv/bin/dvc" ] || { echo "missing DVC: python3 -m venv $REPO/bench/.venv && $REPO/bench/.venv/bin/pip install dvc" >&2; exit 1; }

echo "== generate $WORK ($ITEMS items, $FILES files)"
/usr/bin/time -f "generate: %e s" python3 "$HERE/generate.py" --work "$WORK" --items "$ITEMS" --files "$FILES"
echo "== bench"
python3 "$HERE/bench.py" --work "$WORK" --lungflow "$LF" "$@"
