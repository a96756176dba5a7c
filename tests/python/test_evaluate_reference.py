"""lungflow's `evaluate` against numpy and scipy on the same submission:
log loss, accuracy and AUC to 1e-12, and the bootstrap 95 % intervals to
0.015 (lungflow draws 2,000 resamples with its own generator, the reference
40,000 with numpy's: the ends' Monte Carlo error is about 0.003 here).

Run through `cargo test` (tests/python_reference.rs), or by hand:
    LUNGFLOW_BIN=target/release/lungflow python3 -m pytest -q tests/python
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("LUNGFLOW_BIN", str(ROOT / "target" / "release" / "lungflow"))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(np.where(y, np.log(p), np.log(1 - p))))


def auc(p: np.ndarray, y: np.ndarray) -> float:
    u = stats.mannwhitneyu(p[y], p[~y]).statistic
    return float(u / (y.sum() * (~y).sum()))


def test_evaluate_matches_numpy_and_its_bootstrap_intervals(tmp_path):
    rng = np.random.default_rng(14)
    n = 30
    y = rng.random(n) < 0.5
    p = np.clip(np.where(y, 0.65, 0.35) + rng.normal(0, 0.2, n), 0.01, 0.99)
    ids = [f"p{i:02d}" for i in range(n)]
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "submission.csv").write_text("id,cancer\n" + "".join(f"{i},{float(v)!r}\n" for i, v in zip(ids, p)))
    (tmp_path / "labels.csv").write_text("id,cancer\n" + "".join(f"{i},{int(v)}\n" for i, v in zip(ids, y)))
    done = subprocess.run(
        [BIN, "exec", "evaluate", "--input", f"submission={tmp_path / 'sub'}", "--input", f"labels={tmp_path / 'labels.csv'}", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())

    assert abs(m["log_loss"] - log_loss(p, y)) < 1e-12
    assert abs(m["auc"] - auc(p, y)) < 1e-12
    assert abs(m["accuracy"] - float(np.mean((p >= 0.5) == y))) < 1e-12
    assert m["bootstrap_resamples"] == 2000

    idx = np.random.default_rng(0).integers(0, n, size=(40_000, n))
    ps, ys = p[idx], y[idx]
    clipped = np.clip(ps, 1e-15, 1 - 1e-15)
    losses = -np.mean(np.where(ys, np.log(clipped), np.log(1 - clipped)), axis=1)
    positives = ys.sum(axis=1)
    both = (positives > 0) & (positives < n)
    ranks = stats.rankdata(ps[both], axis=1)
    pos = positives[both]
    aucs = ((ranks * ys[both]).sum(axis=1) - pos * (pos + 1) / 2) / (pos * (n - pos))
    for name, values in (("log_loss", losses), ("auc", aucs)):
        low, high = np.percentile(values, [2.5, 97.5])
        print(f"{name}: lungflow [{m[name + '_low']:.4f}, {m[name + '_high']:.4f}], numpy [{low:.4f}, {high:.4f}]")
        assert abs(m[name + "_low"] - low) < 0.015, name
        assert abs(m[name + "_high"] - high) < 0.015, name
