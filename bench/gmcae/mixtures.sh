#!/usr/bin/env bash
# Validation NLL per voxel of the GMCAE with m = 1 and m = 4 mixture components
# on a small synthetic cohort (6 patients, 16^3 patches, widths 4,8, 20 epochs,
# lr 2e-3), for two seeds. The same set-up as tests/gmcae.rs, which asserts
# only that m = 4 comes out lower. Usage: bench/gmcae/mixtures.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${LUNGFLOW_BIN:-$root/target/release/lungflow}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
train='kind: gmcae_train
    inputs: {patches: "@patches"}
    params: {widths: "4,8", batch_size: 8, lr: 0.002, patience: 20, epochs: 20'
for seed in 1 2; do
    cat > pipe.yaml <<YAML
items:
  patients:
    dir: "@cohort/dicom"
stages:
  cohort:
    kind: synthetic_cohort
    params: {patients: 6, seed: 3, matrix: 96, pixel_mm: 3.2, slices: 28, slice_mm: 3.0}
  hu: {kind: hu_volume, foreach: patients, inputs: {dicom: "@cohort/dicom/{item}"}}
  iso: {kind: resample, foreach: patients, inputs: {volume: "@hu"}, params: {spacing_mm: 2.0}}
  lungs: {kind: lung_mask, foreach: patients, inputs: {volume: "@iso"}}
  patches: {kind: patches, foreach: patients, inputs: {lungs: "@lungs"}, params: {edge: 16, count: 32}}
  m1:
    $train, mixtures: 1, seed: $seed}
  m4:
    $train, mixtures: 4, seed: $seed}
YAML
    "$bin" run pipe.yaml > /dev/null 2>&1
    "$bin" metrics pipe.yaml --json | python3 -c "
import json, sys
rows = {r['stage']: r['value'] for r in json.load(sys.stdin) if r['name'] == 'best_val_nll_per_voxel'}
print(f'seed $seed: m=1 {rows[\"m1\"]:.4f}  m=4 {rows[\"m4\"]:.4f} nats/voxel')"
done
