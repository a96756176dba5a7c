#!/usr/bin/env bash
# The shared cache (issue 31) with many small entries: what push and pull
# cost per entry.
#
# 1. Writes WORK/tiny.yaml: one `command` stage `foreach` over N listed
#    items, each writing its item id (8 bytes) into o.txt, and computes it
#    locally into WORK/cache with `lungflow run --jobs $JOBS` (timed; reused
#    by later calls with the same N, as long as WORK/computed says so).
# 2. Starts a fresh SeaweedFS (tools/s3/up.sh, own port and folder WORK/s3)
#    and, ROUNDS times, each round into its own prefix:
#    `lungflow push` of the whole cache, then `lungflow pull` into an empty
#    cache; wall time around each command, peak RSS by /usr/bin/time, files
#    and bytes from their --json.
# 3. Prints a Markdown table with seconds and milliseconds per entry; raw
#    rows in WORK/scale.tsv. The server's data and the pulled caches are
#    deleted at the end; the computed cache stays (CLEAN=1 deletes it too).
#
# Usage: bench/remote/scale.sh [N]        (default 100000)
# Environment: WORK (default /var/tmp/rbench-scale-N), ROUNDS (2), JOBS (2),
#   S3_PORT (18453), LUNGFLOW_BIN (default $CARGO_TARGET_DIR or target/,
#   release/lungflow), TOOLS_VENV (where weed is; default $CARGO_TARGET_DIR
#   or target/, tmp/python-venv), CLEAN (1: delete WORK/cache at the end).
# About 10 ms of compute and 21 kB of disk per instance here (2 cores).
set -euo pipefail
N=${1:-100000}
repo=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
bin=$(realpath "${LUNGFLOW_BIN:-$target/release/lungflow}")
tools=${TOOLS_VENV:-$target/tmp/python-venv}
work=${WORK:-/var/tmp/rbench-scale-$N}
rounds=${ROUNDS:-2}
jobs=${JOBS:-2}
port=${S3_PORT:-18453}
fail() { echo "scale.sh: $*" >&2; exit 1; }
say() { echo "scale.sh: $*" >&2; }
[ -x "$bin" ] || fail "no lungflow binary at $bin (set LUNGFLOW_BIN)"
[ -x "$tools/bin/weed" ] || fail "no weed in $tools/bin (set TOOLS_VENV)"
free=$(df -B1 --output=avail "$(dirname "$work")" | tail -1)
need=$((N * 21000 * 3 + 1000000000)) # the cache, a pulled copy, the server
[ "$free" -gt "$need" ] || fail "$((free / 1000000)) MB free, about $((need / 1000000)) MB needed"
mkdir -p "$work"
cd "$work"

# 1. The pipeline and its cache.
python3 - "$N" >tiny.yaml <<'EOF'
import sys
n = int(sys.argv[1])
ids = ", ".join(f"i{i:06d}" for i in range(n))
print(f"""# Written by bench/remote/scale.sh: {n} tiny instances.
items:
  ids:
    list: [{ids}]
stages:
  tiny:
    kind: command
    foreach: ids
    params:
      cmd: "echo {{item}} > {{out}}/o.txt"
      outputs: [o.txt]""")
EOF
if [ "$(cat computed 2>/dev/null)" != "$N $(sha256sum <tiny.yaml | cut -c1-16)" ]; then
    rm -rf cache computed compute.time
    say "computing $N instances with --jobs $jobs ..."
    /usr/bin/time -f "%e %M" -o compute.time "$bin" run tiny.yaml --jobs "$jobs" --json >compute.json 2>compute.err ||
        fail "the local run failed: $(tail -5 compute.err)"
    ran=$(python3 -c "import json; print(len(json.load(open('compute.json'))['executed']))")
    [ "$ran" = "$N" ] || fail "the local run executed $ran instances, not $N"
    echo "$N $(sha256sum <tiny.yaml | cut -c1-16)" >computed
fi
read -r compute_s compute_kb <compute.time
cache_bytes=$(du -sb cache/entries | cut -f1)

# 2. A fresh server; push and pull, ROUNDS times.
export LUNGFLOW_S3_DIR=$work/s3 LUNGFLOW_S3_PORT=$port
cleanup() {
    "$repo/tools/s3/down.sh" >&2 || true
    rm -rf "$work/s3" "$work"/pulled-*
    [ "${CLEAN:-}" = 1 ] && rm -rf "$work/cache" "$work/computed"
    return 0
}
trap cleanup EXIT
rm -rf s3 pulled-*
eval "$("$repo/tools/s3/up.sh" --venv "$tools" --bucket rbench-scale)"

# `timed ROUND OP CMD...`: runs CMD, appends "N round op seconds rss_kb moved files bytes failed" to scale.tsv.
timed() {
    local r=$1 op=$2 t0 t1
    shift 2
    t0=$EPOCHREALTIME
    /usr/bin/time -f "%M" -o "$op-$r.rss" "$@" >"$op-$r.json" 2>"$op-$r.err" || fail "round $r: $op failed: $(tail -5 "$op-$r.err")"
    t1=$EPOCHREALTIME
    python3 - "$N" "$r" "$op" "$t0" "$t1" "$(cat "$op-$r.rss")" "$op-$r.json" >>scale.tsv <<'EOF'
import json, sys
n, r, op, t0, t1, rss, out = sys.argv[1:]
d = json.load(open(out))
print("\t".join(map(str, [n, r, op, f"{float(t1) - float(t0):.3f}", rss, d["moved"], d["files"], d["bytes"], len(d["failed"]) + d.get("cut_off", 0)])))
EOF
}
printf 'n\tround\top\tseconds\trss_kb\tmoved\tfiles\tbytes\tfailed\n' >scale.tsv
for r in $(seq "$rounds"); do
    say "round $r: push, then pull into an empty cache"
    timed "$r" push "$bin" --cache cache push tiny.yaml --remote "s3://rbench-scale/r$r" --json
    timed "$r" pull "$bin" --cache "pulled-$r" pull tiny.yaml --remote "s3://rbench-scale/r$r" --json
    rm -rf "pulled-$r"
done

# 3. The table.
python3 - "$N" "$compute_s" "$compute_kb" "$cache_bytes" "$jobs" <<'EOF' | tee scale.md
import csv, statistics, sys
n, compute_s, compute_kb, cache_bytes, jobs = sys.argv[1:]
n = int(n)
rows = list(csv.DictReader(open("scale.tsv"), delimiter="\t"))
print(f"\nN = {n:,} entries; local compute (`run --jobs {jobs}`): {float(compute_s):.1f} s, "
      f"{1000 * float(compute_s) / n:.2f} ms an instance, peak RSS {int(compute_kb) // 1024} MiB; "
      f"cache entries {int(cache_bytes) / 1e6:,.1f} MB\n")
print("| command | seconds per round | median s | ms per entry | entries moved | files | bytes | peak RSS MiB | failed |")
print("|---|---|---|---|---|---|---|---|---|")
for op in ("push", "pull"):
    rs = [r for r in rows if r["op"] == op]
    secs = [float(r["seconds"]) for r in rs]
    med = statistics.median(secs)
    first = rs[0]
    print(f"| `lungflow {op}` | {', '.join(f'{s:.2f}' for s in secs)} | **{med:.2f}** | {1000 * med / n:.2f} "
          f"| {int(first['moved']):,} | {int(first['files']):,} | {int(first['bytes']):,} "
          f"| {max(int(r['rss_kb']) for r in rs) // 1024} | {sum(int(r['failed']) for r in rs)} |")
EOF
