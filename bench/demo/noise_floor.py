"""How much of a cross-validated classifier's worst fold and calibration
error is the noise of 90 patients: the same figures for a model that is,
by construction, exactly as good as the measured one and perfectly
calibrated.

From a `cv_predictions.parquet` (one row per patient and repeat):
- ECE: each patient's label is drawn from the mean of its out-of-fold
  probabilities over the repeats (so those means are exactly calibrated);
  the repeats' probabilities are pooled as `classifier_train` pools them and
  the ECE is taken over 10 equal-width bins as lungflow takes it
  (`calibration.rs`).
- Worst fold: the patients' mean scores, with their real labels, are dealt
  into 5 folds x 3 repeats (stratified, as `folds.rs` deals) again and
  again; each deal's lowest fold AUC is what one cross-validation of this
  fixed scorer would report as `cv_auc_min`. The mean over repeats breaks
  ties that each fold's model makes (baseline_cv gives every patient
  without a blob the same probability), so this is for the classifier's
  continuous scores. Dealt again, the pooled scores rank a little worse
  than each fold's own model ranks its fold (the pooled AUC is below the
  mean fold AUC), so this errs low; hence also:
- Worst fold of a binormal scorer (cancers N(d, 1), others N(0, 1)) whose
  AUC is the measured mean fold AUC, on folds of the measured sizes drawn
  independently.

Usage: python bench/demo/noise_floor.py CV_PREDICTIONS.parquet [...]
"""

import sys

import numpy as np
import pyarrow.parquet as pq
from scipy.stats import norm

BINS, DRAWS, DEALS, FOLDS, REPEATS = 10, 20_000, 2_000, 5, 3


def ece(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ECE of each row of `p` against the same row of `y` (rows x predictions)."""
    bins = np.minimum((p * BINS).astype(int), BINS - 1)
    total = np.zeros(p.shape[0])
    for b in range(BINS):
        inside = bins == b
        total += np.abs((p * inside).sum(axis=-1) - (y * inside).sum(axis=-1))
    return total / p.shape[-1]


def auc(score: np.ndarray, y: np.ndarray) -> float:
    """Mann-Whitney AUC with ties counted half."""
    pos, neg = score[y], score[~y]
    return ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))


def worst_fold(score: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> float:
    """The lowest fold AUC of one stratified deal of FOLDS folds x REPEATS."""
    lowest = 1.0
    for _ in range(REPEATS):
        fold = np.empty(len(y), int)
        for cls in (True, False):
            members = rng.permutation(np.flatnonzero(y == cls))
            fold[members] = np.arange(len(members)) % FOLDS
        for f in range(FOLDS):
            lowest = min(lowest, auc(score[fold == f], y[fold == f]))
    return lowest


for path in sys.argv[1:]:
    t = pq.read_table(path).to_pydict()
    ids = sorted(set(t["id"]))
    index = {i: k for k, i in enumerate(ids)}
    repeats = sorted(set(t["repeat"]))
    p = np.zeros((len(repeats), len(ids)))
    y = np.zeros(len(ids), bool)
    folds: dict = {}
    for i, r, f, prob, c in zip(t["id"], t["repeat"], t["fold"], t["probability"], t["cancer"]):
        p[repeats.index(r), index[i]] = prob
        y[index[i]] = c
        folds.setdefault((r, f), []).append((prob, c))
    fold_aucs = [auc(np.array([q for q, _ in rows]), np.array([c for _, c in rows], bool)) for rows in folds.values()]
    sizes = [(sum(c for _, c in rows), sum(not c for _, c in rows)) for rows in folds.values()]
    pooled, mean = p.reshape(-1), p.mean(axis=0)
    measured = ece(pooled[None, :], np.tile(y, len(repeats))[None, :])[0]
    rng = np.random.default_rng(2017)
    drawn = rng.random((DRAWS, len(ids))) < mean
    simulated = ece(np.broadcast_to(pooled, (DRAWS, pooled.size)), np.tile(drawn, len(repeats)))
    q50, q95 = np.percentile(simulated, [50, 95])
    worst = np.array([worst_fold(mean, y, rng) for _ in range(DEALS)])
    d = np.sqrt(2) * norm.ppf(np.mean(fold_aucs))
    binormal = np.array(
        [min(auc(np.r_[rng.normal(d, 1, n_pos), rng.normal(0, 1, n_neg)], np.r_[[True] * n_pos, [False] * n_neg]) for n_pos, n_neg in sizes) for _ in range(DEALS)]
    )
    print(f"{path}: {len(ids)} patients x {len(repeats)} repeats")
    print(
        f"  ECE measured {measured:.4f}; a perfectly calibrated model's: median {q50:.4f}, 95th percentile {q95:.4f}, "
        f"above 0.05 in {(simulated > 0.05).mean():.1%} of {DRAWS} label draws"
    )
    print(
        f"  the mean score's AUC {auc(mean, y):.4f}; its worst of {FOLDS}x{REPEATS} folds over {DEALS} deals: "
        f"median {np.median(worst):.4f}, 5th percentile {np.percentile(worst, 5):.4f}, under 0.90 in {(worst < 0.90).mean():.1%}"
    )
    print(
        f"  measured folds: mean AUC {np.mean(fold_aucs):.4f}, worst {min(fold_aucs):.4f}; a binormal scorer of that AUC, "
        f"worst of {len(sizes)} folds: median {np.median(binormal):.4f}, 5th percentile {np.percentile(binormal, 5):.4f}, "
        f"under 0.90 in {(binormal < 0.90).mean():.1%}"
    )
