#!/usr/bin/env bash
# One cold demo: `BIN run demo.yaml` in an empty folder WORK/NAME, timed with
# GNU time (wall seconds, peak RSS KiB); then the cache's size per stage.
# Usage: bench/codecs/cold_demo.sh BIN NAME [WORK]   (issue 31, BENCHMARKS.md)
set -euo pipefail
bin=$1 name=$2 work=${3:-/var/tmp/compress-runs}
here=$(cd "$(dirname "$0")" && pwd)
dir=$work/$name
rm -rf "$dir" && mkdir -p "$dir"
cp "$here/../../pipelines/demo.yaml" "$dir/"
cd "$dir"
/usr/bin/time -f "%e %M" -o time.txt "$bin" run demo.yaml > run.log 2>&1
echo "$name: $(cut -d' ' -f1 time.txt) s wall, peak RSS $(cut -d' ' -f2 time.txt) KiB"
"$here/cache_sizes.sh" "$dir/cache"
