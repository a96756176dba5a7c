#!/usr/bin/env bash
# Arrow IPC codecs on lungflow's slice files (BENCHMARKS.md, issue 31): the
# first 20 patients of a demo cache and the real chest series preprocessed
# with `lungflow exec` (hu, iso, lungs, encode folders per series).
# Usage: bench/codecs/run.sh DEMO_RESULTS SERIES_DIR...
#   DEMO_RESULTS: a cache's results/demo folder; SERIES_DIR: folders holding
#   hu/ iso/ lungs/ encode/ of one series each.
set -euo pipefail
demo=$1; shift
cd "$(dirname "$0")"
export CARGO_TARGET_DIR=/var/tmp/compress-bench-target
cargo build --release --quiet
{
    for p in $(ls "$demo/iso" | head -20); do
        echo "demo-hu $demo/hu/$p/volume.arrow"
        echo "demo-iso $demo/iso/$p/volume.arrow"
        echo "demo-lungs-volume $demo/lungs/$p/volume.arrow"
        echo "demo-lungs-mask $demo/lungs/$p/mask.arrow"
        echo "demo-encode $demo/encode/$p/features.arrow"
    done
    for s in "$@"; do
        echo "ct-hu $s/hu/volume.arrow"
        echo "ct-iso $s/iso/volume.arrow"
        echo "ct-lungs-volume $s/lungs/volume.arrow"
        echo "ct-lungs-mask $s/lungs/mask.arrow"
        echo "ct-encode $s/encode/features.arrow"
    done
} | "$CARGO_TARGET_DIR/release/codecs-bench"
