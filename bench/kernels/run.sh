#!/usr/bin/env bash
# lungflow-kernels' gemm against matrixmultiply (BENCHMARKS.md). The second
# and third runs limit both to the kernels of a CPU without AVX-512 and of one
# without FMA either (matrixmultiply reads MMTEST_FEATURE when it compiles;
# lungflow reads LUNGFLOW_GEMM_KERNEL when it runs): the digests show whose
# bits change with the CPU.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR=/var/tmp/kernels-bench-target
for kernels in ":" "avx2,fma:avx2" "avx:scalar"; do
    features=${kernels%%:*} ours=${kernels##*:}
    echo "== matrixmultiply's kernels: ${features:-all this CPU has}; lungflow's: ${ours:-the fastest}"
    MMTEST_FEATURE="$features" LUNGFLOW_GEMM_KERNEL="$ours" cargo run --release --quiet
done
