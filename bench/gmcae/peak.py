#!/usr/bin/env python3
"""Peak float32 rate of this machine on 2 threads: large square matmul
(torch and numpy), best of several. Prints JSON (GFLOP/s, 2*n^3 per matmul)."""
import json, os, sys, time

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
n = int(sys.argv[2]) if len(sys.argv) > 2 else 4096
for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = str(threads)
import numpy as np
import torch

torch.set_num_threads(threads)
out = {"threads": threads, "n": n}


def best(f, reps=5):
    f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return 2 * n**3 / min(ts) / 1e9, 2 * n**3 / sorted(ts)[len(ts) // 2] / 1e9


a = torch.randn(n, n); b = torch.randn(n, n)
out["torch_matmul_gflops_best"], out["torch_matmul_gflops_median"] = best(lambda: torch.mm(a, b))
an = a.numpy(); bn = b.numpy()
out["numpy_matmul_gflops_best"], out["numpy_matmul_gflops_median"] = best(lambda: an @ bn)
# a single-core figure for reference
torch.set_num_threads(1)
out["torch_matmul_gflops_1thread_best"], _ = best(lambda: torch.mm(a, b), 3)
cfg = np.show_config(mode="dicts") if hasattr(np, "show_config") else {}
try:
    out["numpy_blas"] = cfg["Build Dependencies"]["blas"]["name"]
except Exception:
    pass
print(json.dumps(out))
