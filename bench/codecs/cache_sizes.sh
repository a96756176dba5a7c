#!/usr/bin/env bash
# A demo cache's size per stage: the apparent bytes (what would travel) of the
# entries that results/demo links to, in MB (10^6 bytes).
# Usage: bench/codecs/cache_sizes.sh CACHE
set -euo pipefail
cache=$1 total=0
echo "| stage | instances | MB |"
echo "|---|---|---|"
for stage in $(ls "$cache/results/demo"); do
    link=$cache/results/demo/$stage
    if [ -L "$link" ]; then targets=$(readlink -f "$link"); else targets=$(for l in "$link"/*; do readlink -f "$l"; done); fi
    bytes=$(du -sb --apparent-size $targets | awk '{s += $1} END {printf "%.0f", s}')
    total=$((total + bytes))
    echo "| $stage | $(echo "$targets" | wc -l) | $(awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1e6}') |"
done
echo "| total | | $(awk -v b="$total" 'BEGIN {printf "%.1f", b / 1e6}') |"
