"""lungflow's `baseline_cv` against a float64 numpy Newton fit of the same
penalized logistic regression (stages/src/models/logistic.rs): on the score
standardized over the patients fitted (population sd), minimize
sum(log(1 + e^eta) - y * eta) + 1e-4 / 2 * (a^2 + b^2), eta = a + b * z.
Every out-of-fold probability (refitted here on the other folds, as the
table's repeat and fold columns say), every fold's coefficients, the fit on
all labelled patients and its probability for every scored patient agree to
1e-9, and so do the mean log losses; the cross-validated AUCs to 1e-12 (the
fits rank the patients alike).

Run through `cargo test` (tests/python_reference.rs), or by hand:
    LUNGFLOW_BIN=target/release/lungflow python3 -m pytest -q tests/python
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from scipy import stats

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("LUNGFLOW_BIN", str(ROOT / "target" / "release" / "lungflow"))
RIDGE = 1e-4


def fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """(mean, scale, intercept, slope) by plain Newton from zero."""
    mean = x.mean()
    scale = x.std() or 1.0
    X = np.column_stack([np.ones_like(x), (x - mean) / scale])
    w = np.zeros(2)
    for _ in range(100):
        p = 1 / (1 + np.exp(-X @ w))
        grad = X.T @ (p - y) + RIDGE * w
        hess = X.T @ (X * (p * (1 - p))[:, None]) + RIDGE * np.eye(2)
        w = w - np.linalg.solve(hess, grad)
    p = 1 / (1 + np.exp(-X @ w))
    assert np.abs(X.T @ (p - y) + RIDGE * w).max() < 1e-10
    return mean, scale, w[0], w[1]


def predict(model, x):
    mean, scale, a, b = model
    return 1 / (1 + np.exp(-(a + b * (x - mean) / scale)))


def auc(p, y):
    return stats.mannwhitneyu(p[y], p[~y]).statistic / (y.sum() * (~y).sum())


def log_loss(p, y):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(np.where(y, np.log(p), np.log(1 - p))))


def table(path: Path) -> dict[str, np.ndarray]:
    return {k: np.array(v) for k, v in pq.read_table(path).to_pydict().items()}


def test_baseline_cv_matches_a_numpy_newton_fit_fold_by_fold(tmp_path):
    rng = np.random.default_rng(30)
    n, unlabelled = 40, 3
    y = rng.random(n) < 0.4
    scores = np.round(np.where(y, 14.0, 7.0) + rng.normal(0, 4.0, n), 3)
    ids = [f"p{i:02d}" for i in range(n)]
    extra = {f"t{i}": float(s) for i, s in enumerate([0.0, 9.5, 20.25][:unlabelled])}
    for id_, s in list(zip(ids, scores)) + list(extra.items()):
        (tmp_path / "scores" / id_).mkdir(parents=True)
        (tmp_path / "scores" / id_ / "score.json").write_text(json.dumps({"score": float(s), "candidates_tested": 0}))
    (tmp_path / "labels.csv").write_text("id,cancer\n" + "".join(f"{i},{int(v)}\n" for i, v in zip(ids, y)))
    done = subprocess.run(
        [BIN, "exec", "baseline_cv", "--input", f"scores={tmp_path / 'scores'}", "--input", f"labels={tmp_path / 'labels.csv'}",
         "--set", "folds=4", "--set", "repeats=2", "--set", "seed=5", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    by_id = dict(zip(ids, range(n)))

    oof = table(out / "cv_predictions.parquet")
    folds = table(out / "cv_folds.parquet")
    assert len(oof["id"]) == 2 * n and len(folds["fold"]) == 2 * 4
    fold_aucs, fold_losses, pooled = [], [], []
    for repeat in (1, 2):
        in_repeat = oof["repeat"] == repeat
        assert sorted(oof["id"][in_repeat]) == ids, "every labelled patient once per repeat"
        for fold in (1, 2, 3, 4):
            held = in_repeat & (oof["fold"] == fold)
            idx = np.array([by_id[i] for i in oof["id"][held]])
            train = np.setdiff1d(np.arange(n), idx)
            model = fit(scores[train], y[train])
            p = predict(model, scores[idx])
            assert np.abs(oof["probability"][held] - p).max() < 1e-9
            assert (oof["cancer"][held] == y[idx]).all()
            row = int(np.flatnonzero((folds["repeat"] == repeat) & (folds["fold"] == fold))[0])
            assert abs(folds["intercept"][row] - model[2]) < 1e-9 and abs(folds["slope"][row] - model[3]) < 1e-9
            assert abs(folds["auc"][row] - auc(p, y[idx])) < 1e-12
            fold_aucs.append(auc(p, y[idx]))
            fold_losses.append(log_loss(p, y[idx]))
        order = [by_id[i] for i in oof["id"][in_repeat]]
        pooled.append(auc(oof["probability"][in_repeat], y[order]))

    m = json.loads((out / "metrics.json").read_text())
    assert abs(m["cv_auc_mean"] - np.mean(fold_aucs)) < 1e-12
    assert abs(m["cv_auc_sd"] - np.std(fold_aucs, ddof=1)) < 1e-12
    assert abs(m["cv_log_loss_mean"] - np.mean(fold_losses)) < 1e-9
    assert abs(m["cv_pooled_auc"] - np.mean(pooled)) < 1e-12
    assert m["cv_pooled_auc_low"] <= m["cv_pooled_auc"] <= m["cv_pooled_auc_high"]

    model = fit(scores, y)
    assert abs(m["intercept"] - model[2]) < 1e-9 and abs(m["slope"] - model[3]) < 1e-9
    predictions = table(out / "predictions.parquet")
    assert list(predictions["id"]) == sorted(ids + list(extra))
    every = {**dict(zip(ids, scores)), **extra}
    want = predict(model, np.array([every[i] for i in predictions["id"]]))
    assert np.abs(predictions["probability"] - want).max() < 1e-9
