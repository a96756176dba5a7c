#!/usr/bin/env python3
"""PyTorch CPU peer of lungflow's GMCAE (stages/src/models/gmcae/*.rs), for a
training-throughput benchmark.

Same network, loss, global-norm clipping (max 1.0), Adam (lr 1e-4, eps 1e-8),
batch of 8, one random cube symmetry (of 48) per patch, float32, 2 threads.

  python torch_gmcae.py --widths 8,16,32 --edge 32 --mixtures 4 --batch 8 --steps 20
  python torch_gmcae.py --flops-only --widths 64,128,256

Prints one JSON object. FLOP convention: 1 multiply-add = 2 FLOPs; the
training step is counted as 3x the forward FLOPs (forward + grad wrt input +
grad wrt weights). `flops_counter_train` is torch.utils.flop_counter's count
of an actual forward+backward (it counts conv/matmul FLOPs only, and skips the
input gradient of the first conv, which nobody needs).
"""

import argparse
import itertools
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Gmcae(nn.Module):
    def __init__(self, widths, mixtures, edge, hidden=128, variance_floor=1e-4):
        super().__init__()
        self.variance_floor = variance_floor
        enc = []
        c = 1
        for w in widths:
            enc += [nn.Conv3d(c, w, 3, stride=1, padding=1), nn.Conv3d(w, w, 3, stride=2, padding=1)]
            c = w
        self.encoder = nn.ModuleList(enc)
        up, dec = [], []
        for w in reversed(widths):
            up.append(nn.ConvTranspose3d(c, w, 3, stride=2, padding=1, output_padding=1))
            dec.append(nn.Conv3d(w, w, 3, stride=1, padding=1))
            c = w
        self.up = nn.ModuleList(up)
        self.decoder = nn.ModuleList(dec)
        self.mean_head = nn.Conv3d(c, mixtures, 3, padding=1)
        code = (edge >> len(widths)) ** 3
        wl = widths[-1]
        self.prior_conv, self.prior_hidden, self.prior_out = nn.Conv3d(wl, 1, 1), nn.Linear(code, hidden), nn.Linear(hidden, mixtures)
        self.var_conv, self.var_hidden, self.var_out = nn.Conv3d(wl, 1, 1), nn.Linear(code, hidden), nn.Linear(hidden, mixtures)

    def head(self, code, conv, hidden, out):
        c = conv(code)
        return out(F.relu(hidden(c.flatten(1))))

    def forward(self, x):
        code = x
        for conv in self.encoder:
            code = F.relu(conv(code))
        h = code
        for up, conv in zip(self.up, self.decoder):
            h = F.relu(conv(F.relu(up(h))))
        means = self.mean_head(h)
        log_priors = F.log_softmax(self.head(code, self.prior_conv, self.prior_hidden, self.prior_out), dim=1)
        variances = F.elu(self.head(code, self.var_conv, self.var_hidden, self.var_out)) + 1.0 + self.variance_floor
        return means, log_priors, variances


def nll_per_voxel(means, log_priors, variances, target):
    n, m = means.shape[:2]
    c = means[0, 0].numel()
    sq = (means - target).pow(2).reshape(n, m, c).sum(2)
    energy = log_priors - (c / 2.0) * torch.log(2 * math.pi * variances) - sq / (2 * variances)
    mx = energy.max(dim=1, keepdim=True).values.detach()
    lse = (energy - mx).exp().sum(1, keepdim=True).log() + mx
    return (-lse.reshape(n)).mean() / c


SYMMETRIES = [(p, f) for p in itertools.permutations((0, 1, 2)) for f in itertools.product((False, True), repeat=3)]
assert len(SYMMETRIES) == 48


def augment(patches, gen):
    """patches [n, e, e, e] -> [n, 1, e, e, e], one random symmetry each."""
    out = []
    for j, i in enumerate(torch.randint(0, 48, (patches.shape[0],), generator=gen).tolist()):
        perm, flips = SYMMETRIES[i]
        v = patches[j].permute(*perm)
        dims = [d for d, fl in enumerate(flips) if fl]
        if dims:
            v = v.flip(dims)
        out.append(v)
    return torch.stack(out).unsqueeze(1).contiguous()


def synthetic_patches(count, edge, gen):
    """Scaled-CT-like values: mostly about -0.8, some blobs near 0."""
    base = -0.8 + 0.05 * torch.randn(count, edge, edge, edge, generator=gen)
    mask = torch.rand(count, edge, edge, edge, generator=gen) < 0.15
    return torch.where(mask, 0.05 * torch.randn(count, edge, edge, edge, generator=gen), base)


def conv_macs(widths, mixtures, edge, hidden=128):
    """Forward multiply-adds per patch, layer by layer."""
    layers = []
    c, e = 1, edge
    for w in widths:
        layers.append((f"enc conv {c}->{w} s1 @{e}^3", e**3 * w * c * 27))
        e //= 2
        layers.append((f"enc conv {w}->{w} s2 ->{e}^3", e**3 * w * w * 27))
        c = w
    code_e, wl = e, c
    for w in reversed(widths):
        # transposed conv as a gemm over input voxels (what the libraries compute)
        layers.append((f"up convT {c}->{w} {e}^3->{2*e}^3", e**3 * c * w * 27))
        e *= 2
        layers.append((f"dec conv {w}->{w} s1 @{e}^3", e**3 * w * w * 27))
        c = w
    layers.append((f"mean head {c}->{mixtures} @{e}^3", e**3 * mixtures * c * 27))
    code = code_e**3
    heads = 2 * (code * wl + code * hidden + hidden * mixtures)
    layers.append(("prior+variance heads", heads))
    return layers


def flop_report(widths, mixtures, edge):
    layers = conv_macs(widths, mixtures, edge)
    fwd_macs = sum(m for _, m in layers)
    rep = {
        "widths": widths,
        "edge": edge,
        "forward_macs_per_patch": fwd_macs,
        "forward_flops_per_patch": 2 * fwd_macs,
        "train_flops_per_patch_3x": 6 * fwd_macs,
        "layers_forward_macs": {k: v for k, v in layers},
    }
    try:
        from torch.utils.flop_counter import FlopCounterMode

        model = Gmcae(widths, mixtures, edge)
        x = torch.zeros(1, 1, edge, edge, edge)
        with FlopCounterMode(display=False) as fc:
            out = model(x)
            nll_per_voxel(*out, x).backward()
        rep["flops_counter_train_per_patch"] = fc.get_total_flops()
        with FlopCounterMode(display=False) as fc:
            with torch.no_grad():
                model(x)
        rep["flops_counter_forward_per_patch"] = fc.get_total_flops()
    except Exception as e:  # pragma: no cover
        rep["flops_counter_error"] = repr(e)
    return rep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--widths", default="8,16,32")
    ap.add_argument("--edge", type=int, default=32)
    ap.add_argument("--mixtures", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--flops-only", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    widths = [int(w) for w in a.widths.split(",")]
    if a.flops_only:
        print(json.dumps(flop_report(widths, a.mixtures, a.edge)))
        return

    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    pool = synthetic_patches(max(64, a.batch), a.edge, gen)
    model = Gmcae(widths, a.mixtures, a.edge)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, eps=1e-8)

    def step():
        idx = torch.randint(0, pool.shape[0], (a.batch,), generator=gen)
        x = augment(pool[idx], gen)
        out = model(x)
        loss = nll_per_voxel(*out, x)
        value = loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return value, float(norm)

    t0 = time.perf_counter()
    for _ in range(a.warmup):
        step()
    t1 = time.perf_counter()
    losses, norms, times = [], [], []
    for _ in range(a.steps):
        s = time.perf_counter()
        v, n = step()
        times.append(time.perf_counter() - s)
        losses.append(v)
        norms.append(n)
    t2 = time.perf_counter()
    print(json.dumps({
        "widths": a.widths,
        "edge": a.edge,
        "batch": a.batch,
        "steps": a.steps,
        "threads": torch.get_num_threads(),
        "patches_per_second": a.batch * a.steps / (t2 - t1),
        "patches_per_second_incl_warmup": a.batch * (a.steps + a.warmup) / (t2 - t0),
        "warmup_seconds": t1 - t0,
        "seconds": t2 - t1,
        "step_seconds_min": min(times),
        "step_seconds_median": sorted(times)[len(times) // 2],
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "finite": all(math.isfinite(v) for v in losses),
        "mean_grad_norm": sum(norms) / len(norms),
        "torch": torch.__version__,
        "mkldnn": torch.backends.mkldnn.is_available(),
    }))


if __name__ == "__main__":
    main()
