#!/usr/bin/env bash
# The shared cache (issue 31) against DVC and rclone on one S3 server.
#
# Given a pipeline and the cache folder it was computed into, starts a fresh
# SeaweedFS (tools/s3/up.sh, its own port and folder under WORK) and times,
# ROUNDS times, alternating the tools run by run (odd rounds lungflow, dvc,
# rclone; even rounds the reverse), each round into a bucket of its own:
#   up:    `lungflow push` of the whole cache;
#          `dvc add` + `dvc push` of a DVC repo whose data is the same entry
#          folders (a fresh repo each round, so dvc hashes everything);
#          `rclone copy` of the same folders (the transfer floor);
#   down:  `lungflow pull` into an empty cache; `dvc pull` in a fresh git
#          clone of that round's DVC repo (empty DVC cache); `rclone copy`
#          into an empty folder;
#   clone: `lungflow run` with an empty cache against the round's pushed
#          prefix (should execute nothing and fetch only the final results).
# Files and bytes moved: lungflow's own --json counts; for dvc and rclone
# (and lungflow too) what the server holds under the tool's prefix after the
# upload (`rclone size`), and what landed locally after a download. Every
# command's wall time is taken around it (EPOCHREALTIME), peak RSS by
# /usr/bin/time. Prints a Markdown table; raw rows go to WORK/results.tsv.
#
# The data set for DVC and rclone is the entry folders
# (entries/KEY[:2]/KEY/) that a warm-up `lungflow push` (untimed, also
# warming the page cache) put records for, copied once into WORK/data (a
# real copy: DVC chmods and links what it adds, and the cache must stay as
# it is). lungflow itself only reads CACHE (push takes its locks there).
#
# Usage: bench/remote/run.sh PIPELINE CACHE [-- LUNGFLOW_ARGS...]
#   LUNGFLOW_ARGS (e.g. --set vars.data=...) go to every lungflow command.
# Environment:
#   PROJECT     the folder lungflow runs in (relative paths in the pipeline
#               resolve there); default: the folder holding CACHE
#   WORK        scratch (default /var/tmp/rbench-remote; wiped at the start)
#   ROUNDS      rounds (default 2)
#   S3_PORT     the server's S3 port (default 18433; it takes PORT..PORT+8
#               and PORT+10008)
#   LUNGFLOW_BIN  default $CARGO_TARGET_DIR or target/, release/lungflow
#   TOOLS_VENV  where weed and rclone are (default $CARGO_TARGET_DIR or
#               target/, tmp/python-venv: the tests' environment)
#   DVC_VENV    a venv with dvc 3 and dvc-s3 (default /var/tmp/rbench-venv;
#               made with pip when missing)
#   TRANSFERS   rclone --transfers and --checkers (default 16: lungflow moves
#               16 entries at once)
#   DVC_CACHE_TYPE  the DVC repos' cache.type (default hardlink: one write
#               per file on pull, as lungflow and rclone do; DVC's default
#               `reflink,copy` copies each file once more on ext4)
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
pipe=$(realpath "$1")
cache=$(realpath "$2")
shift 2
[ "${1:-}" = -- ] && shift
extra=("$@")
repo=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
bin=$(realpath "${LUNGFLOW_BIN:-$target/release/lungflow}")
project=$(realpath "${PROJECT:-$(dirname "$cache")}")
work=${WORK:-/var/tmp/rbench-remote}
rounds=${ROUNDS:-2}
port=${S3_PORT:-18433}
tools=${TOOLS_VENV:-$target/tmp/python-venv}
dvc_venv=${DVC_VENV:-/var/tmp/rbench-venv}
transfers=${TRANSFERS:-16}
dvc_cache_type=${DVC_CACHE_TYPE:-hardlink}
fail() { echo "run.sh: $*" >&2; exit 1; }
say() { echo "run.sh: $*" >&2; }
[ -f "$pipe" ] || fail "no pipeline file $pipe"
[ -d "$cache/entries" ] || fail "$cache is not a lungflow cache (no entries/)"
[ -x "$bin" ] || fail "no lungflow binary at $bin (set LUNGFLOW_BIN)"
[ -x "$tools/bin/weed" ] && [ -x "$tools/bin/rclone" ] || fail "weed and rclone are needed in $tools/bin (set TOOLS_VENV)"
case "$work" in /var/tmp/rbench-* | /tmp/rbench-*) ;; *) [ ! -e "$work" ] || [ -f "$work/.rbench" ] || fail "$work exists and was not made by this script" ;; esac
if [ ! -x "$dvc_venv/bin/dvc" ]; then
    say "installing dvc 3 and dvc-s3 into $dvc_venv"
    python3 -m venv "$dvc_venv"
    "$dvc_venv/bin/pip" install --quiet "dvc>=3,<4" dvc-s3 >&2
fi
dvc=$dvc_venv/bin/dvc
rclone() { "$tools/bin/rclone" --config= "$@"; }

# Disk: the copy for DVC, a round's DVC repo, one download at a time, and
# what the server stores: 3 copies a round (SeaweedFS keeps its volume files
# after a purge until it vacuums them).
entries_bytes=$(du -sb "$cache/entries" | cut -f1)
need=$((entries_bytes * (3 + 3 * rounds) + 1000000000))
free=$(df -B1 --output=avail "$(dirname "$work")" | tail -1)
[ "$free" -gt "$need" ] || fail "$((free / 1000000)) MB free under $(dirname "$work"), $((need / 1000000)) MB needed for a cache of $((entries_bytes / 1000000)) MB"

rm -rf "$work"
mkdir -p "$work"
touch "$work/.rbench"
export LUNGFLOW_S3_DIR=$work/s3 LUNGFLOW_S3_PORT=$port
cleanup() {
    "$repo/tools/s3/down.sh" >&2 || true
    # Downloads and copies are big; the table and raw rows stay.
    rm -rf "$work/data" "$work/s3/data" "$work"/r[0-9]*
}
trap cleanup EXIT
buckets=(rbench-warm)
for r in $(seq "$rounds"); do buckets+=("rbench-r$r"); done
eval "$("$repo/tools/s3/up.sh" --venv "$tools" $(printf -- '--bucket %s ' "${buckets[@]}"))"
export RCLONE_CONFIG_S3_TYPE=s3 RCLONE_CONFIG_S3_PROVIDER=Other RCLONE_CONFIG_S3_ENDPOINT=$AWS_ENDPOINT_URL \
    RCLONE_CONFIG_S3_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
    RCLONE_CONFIG_S3_REGION=$AWS_REGION RCLONE_CONFIG_S3_FORCE_PATH_STYLE=true RCLONE_CONFIG_S3_LIST_VERSION=2 \
    RCLONE_CONFIG_S3_NO_CHECK_BUCKET=true
lf() { (cd "$project" && "$bin" "$@"); }

# Warm-up: an untimed push names the entries (and brings them into the page cache).
say "warm-up push of $cache ..."
lf --cache "$cache" push "$pipe" --remote s3://rbench-warm/lf --json "${extra[@]}" >"$work/warm.json" 2>"$work/warm.err" ||
    fail "the warm-up push failed: $(tail -5 "$work/warm.err")"
rclone lsf s3:rbench-warm/lf/records -R --files-only | sed -E 's|.*/||; s|\.json$||' | sort >"$work/keys.txt"
keys=$(wc -l <"$work/keys.txt")
[ "$keys" -gt 0 ] || fail "the warm-up push left no records"
mkdir -p "$work/data/entries"
while read -r k; do
    mkdir -p "$work/data/entries/${k:0:2}"
    cp -a "$cache/entries/${k:0:2}/$k" "$work/data/entries/${k:0:2}/"
done <"$work/keys.txt"
read -r data_files data_bytes < <(find "$work/data/entries" -type f -printf '%s\n' | awk '{n++; b += $1} END {print n + 0, b + 0}')
all_keys=$(find "$cache/entries" -mindepth 2 -maxdepth 2 -type d | wc -l)
rclone purge s3:rbench-warm
"$dvc" --version >/dev/null # first start compiles its modules
say "$keys entries ($data_files files, $data_bytes bytes; the cache holds $all_keys entries), $rounds rounds"

# One timed command: `timed ROUND TOOL OP DIR CMD...` runs CMD in DIR with
# stdout in WORK/rROUND/TOOL-OP.out; prints the seconds, records peak RSS.
timed() {
    local r=$1 tool=$2 op=$3 dir=$4
    shift 4
    local base=$work/r$r/$tool-$op t0 t1
    t0=$EPOCHREALTIME
    (cd "$dir" && /usr/bin/time -f "%M" -o "$base.rss" "$@" >"$base.out" 2>"$base.err") ||
        fail "round $r: $tool $op failed: $(tail -5 "$base.err")"
    t1=$EPOCHREALTIME
    python3 -c "print(f'{$t1 - $t0:.3f}')" >"$base.s"
}
# A row of results.tsv: round tool op seconds files bytes rss_kb note.
row() {
    local r=$1 tool=$2 op=$3 files=$4 bytes=$5 note=${6:-}
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$tool" "$op" "$(cat "$work/r$r/$tool-$op.s")" "$files" "$bytes" \
        "$(cat "$work/r$r/$tool-$op.rss")" "$note" >>"$work/results.tsv"
}
# "COUNT BYTES" of the objects under s3:PATH.
server_size() { rclone size --json "s3:$1" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["count"], d["bytes"])'; }
# "COUNT BYTES" of the regular files under a folder (hard links once).
local_size() { find "$1" -type f -printf '%i %s\n' | sort -u | awk '{n++; b += $2} END {print n + 0, b + 0}'; }
json() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1"; }

up_lungflow() {
    timed "$1" lungflow push "$project" "$bin" --cache "$cache" push "$pipe" --remote "s3://rbench-r$1/lf" --json "${extra[@]}"
    local out=$work/r$1/lungflow-push.out
    [ "$(json "$out" 'len(d["failed"]) + d.get("cut_off", 0)')" = 0 ] || fail "round $1: lungflow push left entries out: $(cat "$out")"
    row "$1" lungflow push "$(json "$out" 'd["files"]')" "$(json "$out" 'd["bytes"]')" \
        "entries $(json "$out" 'd["moved"]'); server: $(server_size "rbench-r$1/lf" | awk '{print $1 " objects, " $2 " B"}')"
}
down_lungflow() {
    timed "$1" lungflow pull "$project" "$bin" --cache "$work/r$1/lf-pulled" pull "$pipe" --remote "s3://rbench-r$1/lf" --json "${extra[@]}"
    local out=$work/r$1/lungflow-pull.out
    [ "$(json "$out" 'len(d["failed"]) + d.get("cut_off", 0)')" = 0 ] || fail "round $1: lungflow pull left entries out: $(cat "$out")"
    row "$1" lungflow pull "$(json "$out" 'd["files"]')" "$(json "$out" 'd["bytes"]')" \
        "entries $(json "$out" 'd["moved"]'); local: $(local_size "$work/r$1/lf-pulled/entries" | awk '{print $1 " files, " $2 " B"}')"
    rm -rf "$work/r$1/lf-pulled"
}
clone_lungflow() {
    timed "$1" lungflow clone-run "$project" "$bin" --cache "$work/r$1/lf-clone" run "$pipe" --remote "s3://rbench-r$1/lf" --json "${extra[@]}"
    local out=$work/r$1/lungflow-clone-run.out
    row "$1" lungflow clone-run "$(json "$out" 'd["remote"]["entries_fetched"]')" "$(json "$out" 'd["remote"]["bytes_fetched"]')" \
        "executed $(json "$out" 'len(d["executed"])'), cached $(json "$out" 'len(d["cached"])'), failed $(json "$out" 'len(d["failed"])'); records found $(json "$out" 'd["remote"]["records_found"]')"
    rm -rf "$work/r$1/lf-clone"
}
up_dvc() {
    local d=$work/r$1/dvc-repo
    mkdir -p "$d"
    (
        cd "$d"
        git init -q
        "$dvc" init -q
        "$dvc" config cache.type "$dvc_cache_type"
        "$dvc" remote add -d store "s3://rbench-r$1/dvc" >/dev/null
        "$dvc" remote modify store endpointurl "$AWS_ENDPOINT_URL"
        "$dvc" remote modify store region "$AWS_REGION"
        cp -a "$work/data/entries" data
    )
    timed "$1" dvc add "$d" "$dvc" add -q data
    (cd "$d" && git add -A && git -c user.name=bench -c user.email=bench@localhost commit -qm data)
    timed "$1" dvc push "$d" "$dvc" push
    row "$1" dvc add "$(local_size "$d/.dvc/cache" | cut -d' ' -f1)" "$(local_size "$d/.dvc/cache" | cut -d' ' -f2)" "into .dvc/cache"
    row "$1" dvc push $(server_size "rbench-r$1/dvc") "$(tail -1 "$work/r$1/dvc-push.out")"
}
down_dvc() {
    local c=$work/r$1/dvc-clone
    git clone -q "$work/r$1/dvc-repo" "$c"
    timed "$1" dvc pull "$c" "$dvc" pull
    row "$1" dvc pull $(local_size "$c/.dvc/cache") "$(tail -1 "$work/r$1/dvc-pull.out")"
    rm -rf "$c" "$work/r$1/dvc-repo"
}
up_rclone() {
    timed "$1" rclone up "$work" "$tools/bin/rclone" --config= copy --transfers "$transfers" --checkers "$transfers" \
        "$work/data/entries" "s3:rbench-r$1/rclone"
    row "$1" rclone up $(server_size "rbench-r$1/rclone")
}
down_rclone() {
    timed "$1" rclone down "$work" "$tools/bin/rclone" --config= copy --transfers "$transfers" --checkers "$transfers" \
        "s3:rbench-r$1/rclone" "$work/r$1/rclone-down"
    row "$1" rclone down $(local_size "$work/r$1/rclone-down")
    rm -rf "$work/r$1/rclone-down"
}

printf 'round\ttool\top\tseconds\tfiles\tbytes\trss_kb\tnote\n' >"$work/results.tsv"
for r in $(seq "$rounds"); do
    mkdir -p "$work/r$r"
    if [ $((r % 2)) = 1 ]; then order=(lungflow dvc rclone); else order=(rclone dvc lungflow); fi
    say "round $r: ${order[*]}"
    for t in "${order[@]}"; do "up_$t" "$r"; done
    for t in "${order[@]}"; do "down_$t" "$r"; done
    clone_lungflow "$r"
    rclone purge "s3:rbench-r$r"
done

python3 "$repo/bench/remote/table.py" "$work/results.tsv" \
    --title "$(basename "$pipe"): $keys entries, $data_files files, $data_bytes bytes (cache $cache, $all_keys entries)" \
    --facts "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(date -u +%Y-%m-%d); lungflow $("$bin" --version | awk '{print $NF}'), dvc $("$dvc" --version), $("$tools/bin/rclone" version | head -1), SeaweedFS $("$tools/bin/weed" version 2>/dev/null | awk '/version/ {print $3; exit}'); rclone --transfers $transfers --checkers $transfers; DVC cache.type $dvc_cache_type" |
    tee "$work/results.md"
