#!/usr/bin/env python3
"""results.jsonl (from run.sh) -> results.md."""
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

src, dst, lf = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(l) for l in open(src) if l.strip()]
flops = {r["preset"]: r["report"] for r in rows if r["impl"] == "flops"}
peaks = [r["report"] for r in rows if r["impl"] == "peak"]
peak = max(max(p["torch_matmul_gflops_best"], p["numpy_matmul_gflops_best"]) for p in peaks)
runs = [r for r in rows if r["impl"] in ("lungflow", "pytorch")]
presets = list(dict.fromkeys(r["preset"] for r in runs))


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception as e:
        return repr(e)


def pps(r):
    return r["metrics"]["patches_per_second"]


med = statistics.median
out = []
w = out.append
w("# GMCAE training throughput: lungflow (burn flex, CPU) vs PyTorch (CPU)\n")
w(f"Generated {datetime.datetime.now().isoformat(timespec='seconds')} by `bench/gmcae/run.sh`.\n")
w("## Machine and versions\n")
cpu = sh("lscpu | grep -E '^Model name' | sed 's/.*: *//'")
fam = sh("lscpu | grep -E '^CPU family' | sed 's/.*: *//'")
mem = sh("free -g | awk '/Mem:/{print $2}'")
zen = {"25": "Zen 3 or Zen 4", "26": "Zen 5"}.get(fam.strip(), "not an AMD Zen family this script knows")
w(f"- CPU: {cpu} (family {fam}: {zen}), {os.cpu_count()} cores, AVX-512; {mem} GiB RAM; KVM guest; kernel {platform.release()}")
w("- The 2 cores are shared with another engineer (cargo builds were running at times); `loadavg` and the whole machine's busy cores during each run are in the raw table below.")
w(f"- lungflow: `{sh(lf + ' --version')}`, release binary `{lf}` (mtime {datetime.datetime.fromtimestamp(os.path.getmtime(lf)).isoformat(timespec='seconds')}), burn 0.21.0, backend `Autodiff<Flex>` with burn-flex features std+simd+rayon (gemm 0.19)")
tv = next(r["metrics"]["torch"] for r in runs if r["impl"] == "pytorch")
w(f"- PyTorch {tv} (PyPI wheel, MKL + oneDNN, CPU capability AVX512), `torch.set_num_threads(2)`; Python {platform.python_version()}")
w("")
w("## Peak float32 rate (2 threads)\n")
w("Square float32 matmul n=4096, 2·n³ FLOPs, best of 5, measured before and after the runs (`bench/gmcae/peak.py 2 4096`):\n")
w("| when | torch.mm best | torch.mm median | numpy (OpenBLAS) best | numpy median | torch.mm 1 thread |")
w("|---|---|---|---|---|---|")
for r in rows:
    if r["impl"] == "peak":
        p = r["report"]
        w(f"| {r['when']} | {p['torch_matmul_gflops_best']:.1f} | {p['torch_matmul_gflops_median']:.1f} | {p['numpy_matmul_gflops_best']:.1f} | {p['numpy_matmul_gflops_median']:.1f} | {p['torch_matmul_gflops_1thread_best']:.1f} |")
w(f"\n**Peak used below: {peak:.1f} GFLOP/s** (the best of these).\n")
w("## FLOPs per patch\n")
w("Convention: 1 multiply-add = 2 FLOPs; a training step = 3 × forward (forward, input gradient, weight gradient). "
  "Transposed convs are counted as the gemm over their input voxels (c_in·c_out·27 per input voxel). "
  "Cross-check: `torch.utils.flop_counter` on a real forward+backward (conv/matmul only; it skips the first conv's input gradient).\n")
w("| preset | widths | forward MACs | forward GFLOP | training GFLOP (3×) | flop_counter training GFLOP |")
w("|---|---|---|---|---|---|")
for name, f in flops.items():
    w(f"| {name} | {','.join(map(str, f['widths']))} | {f['forward_macs_per_patch']/1e6:.1f} M | {f['forward_flops_per_patch']/1e9:.3f} | {f['train_flops_per_patch_3x']/1e9:.3f} | {f.get('flops_counter_train_per_patch', float('nan'))/1e9:.3f} |")
w("")
w("## Results\n")
w("lungflow: `patches_per_second` of `metrics.parquet` (training patches of the epoch / training wall time, which includes its first, cold step and batching; validation excluded). "
  "PyTorch: patches/s over the timed steps after 2 warm-up steps (same batch 8, same number of training patches); the 'incl. warm-up' column also counts the 2 warm-up steps. "
  "Ratio best = best lungflow / best PyTorch; ratio median = median of the per-repetition ratios (the two runs of a repetition are back to back). "
  "Fraction of peak = patches/s × training FLOPs per patch / peak.\n")
w("| preset | train patches | lungflow patches/s best / median | PyTorch patches/s best / median | PyTorch incl. warm-up median | ratio lungflow/PyTorch best / median | lungflow GFLOP/s (median) · % peak | PyTorch GFLOP/s (median) · % peak |")
w("|---|---|---|---|---|---|---|---|")
for name in presets:
    lfr = sorted((r for r in runs if r["preset"] == name and r["impl"] == "lungflow"), key=lambda r: r["rep"])
    ptr = sorted((r for r in runs if r["preset"] == name and r["impl"] == "pytorch"), key=lambda r: r["rep"])
    a = [pps(r) for r in lfr]
    b = [pps(r) for r in ptr]
    bw = [r["metrics"]["patches_per_second_incl_warmup"] for r in ptr]
    ratios = [x / y for x, y in zip(a, b)]
    tf = flops[name]["train_flops_per_patch_3x"] / 1e9
    w(f"| {name} ({lfr[0]['widths']}) | {lfr[0]['train_patches']} | {max(a):.3f} / {med(a):.3f} | {max(b):.3f} / {med(b):.3f} | {med(bw):.3f} | "
      f"{max(a)/max(b):.2f} / {med(ratios):.2f} | {med(a)*tf:.1f} · {100*med(a)*tf/peak:.1f}% | {med(b)*tf:.1f} · {100*med(b)*tf/peak:.1f}% |")
w("")
w("### Every run\n")
mt = sorted(set(r.get("binary_mtime", "?") for r in runs if r["impl"] == "lungflow"))
w(f"lungflow binary mtime(s) seen during the lungflow runs: {', '.join(mt)}\n")
w("| preset | rep | impl | patches/s | wall s (process) | user s | sys s | loadavg before | machine busy cores during run | first → last train loss |")
w("|---|---|---|---|---|---|---|---|---|---|")
for r in runs:
    m = r["metrics"]
    loss = f"{m['train_nll_per_voxel']:.4f} (epoch mean)" if r["impl"] == "lungflow" else f"{m['first_loss']:.4f} → {m['last_loss']:.4f}"
    w(f"| {r['preset']} | {r['rep']} | {r['impl']} | {pps(r):.3f} | {r['proc_wall_s']:.1f} | {r['proc_user_s']:.1f} | {r['proc_sys_s']:.1f} | {r['loadavg_before']:.2f} | {r['machine_busy_cores']:.2f} | {loss} |")
w("")
w("## Commands\n")
w("```sh")
w("python3 -m venv bench/.venv-torch && bench/.venv-torch/bin/pip install torch numpy pyarrow   # once")
w("bench/gmcae/run.sh      # WORK=/tmp/gmcae-bench REPS=3")
w("# which runs, per preset and repetition (order alternates between repetitions):")
w("bench/.venv-torch/bin/python bench/gmcae/make_patches.py $WORK/data-demo   --patients 5 --per-patient 64 --edge 32   # 256 train + 64 val")
w("bench/.venv-torch/bin/python bench/gmcae/make_patches.py $WORK/data-kdsb17 --patients 5 --per-patient 16 --edge 32   # 64 train + 16 val")
w("target/release/lungflow --cache $WORK/cache exec gmcae_train --input patches=$WORK/data-demo --set widths=8,16,32 --set mixtures=4 \\")
w("    --set epochs=1 --set batch_size=8 --set val_fraction=0.25 --out $WORK/out-demo-1")
w("bench/.venv-torch/bin/python bench/gmcae/torch_gmcae.py --widths 8,16,32 --edge 32 --mixtures 4 --batch 8 --steps 32 --seed 1")
w("target/release/lungflow --cache $WORK/cache exec gmcae_train --input patches=$WORK/data-kdsb17 --set widths=64,128,256 --set mixtures=4 \\")
w("    --set epochs=1 --set batch_size=8 --set val_fraction=0.25 --out $WORK/out-kdsb17-1")
w("bench/.venv-torch/bin/python bench/gmcae/torch_gmcae.py --widths 64,128,256 --edge 32 --mixtures 4 --batch 8 --steps 8 --seed 1")
w("bench/.venv-torch/bin/python bench/gmcae/torch_gmcae.py --flops-only --widths 64,128,256")
w("bench/.venv-torch/bin/python bench/gmcae/peak.py 2 4096")
w("```\n")
notes = os.path.join(os.path.dirname(dst), "notes.md")
if os.path.exists(notes):
    w("## Notes (what was surprising)\n")
    w(open(notes).read())
prof = os.path.join(os.path.dirname(dst), "profile.md")
if os.path.exists(prof):
    w("## Profile of lungflow\n")
    w(open(prof).read())
open(dst, "w").write("\n".join(out) + "\n")
print(f"wrote {dst}")
