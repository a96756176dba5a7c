"""lungflow's `evaluate` calibration and ROC outputs against scikit-learn and
numpy on one fixed submission with tied scores and a probability of exactly
1: the Brier score (sklearn.metrics.brier_score_loss), roc.parquet
(sklearn.metrics.roc_curve with drop_intermediate=False), and the
reliability table and ECE (numpy), all to 1e-12; and the sensitivity by
nodule group against a hand count.

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
from sklearn.metrics import brier_score_loss, roc_curve

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("LUNGFLOW_BIN", str(ROOT / "target" / "release" / "lungflow"))
BINS = 7


def evaluate(tmp_path: Path, ids, p, y, nodules: str | None = None) -> tuple[dict, Path]:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "submission.csv").write_text("id,cancer\n" + "".join(f"{i},{float(v)!r}\n" for i, v in zip(ids, p)))
    (tmp_path / "labels.csv").write_text("id,cancer\n" + "".join(f"{i},{int(v)}\n" for i, v in zip(ids, y)))
    args = [BIN, "exec", "evaluate", "--input", f"submission={tmp_path / 'sub'}", "--input", f"labels={tmp_path / 'labels.csv'}"]
    if nodules is not None:
        (tmp_path / "nodules.csv").write_text(nodules)
        args += ["--input", f"nodules={tmp_path / 'nodules.csv'}"]
    args += ["--set", f"calibration_bins={BINS}", "--out", str(tmp_path / "out")]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads((tmp_path / "out" / "metrics.json").read_text()), tmp_path / "out"


def submission():
    rng = np.random.default_rng(30)
    n = 40
    y = rng.random(n) < 0.4
    p = np.clip(np.where(y, 0.6, 0.35) + rng.normal(0, 0.22, n), 0.0, 1.0)
    p[:6] = np.round(p[:6], 1)  # ties
    p[(p >= 1 / BINS) & (p < 2 / BINS)] = 0.1  # bin 1 left empty
    p[6], p[7], p[8] = 1.0, 0.0, p[9]
    return [f"p{i:02d}" for i in range(n)], p, y


def test_brier_roc_reliability_and_ece_match_scikit_learn_and_numpy(tmp_path):
    ids, p, y = submission()
    m, out = evaluate(tmp_path, ids, p, y)

    assert abs(m["brier"] - brier_score_loss(y, p)) < 1e-12
    assert m["calibration_bins"] == BINS

    fpr, tpr, thresholds = roc_curve(y, p, drop_intermediate=False)
    roc = pq.read_table(out / "roc.parquet").to_pydict()
    assert list(roc) == ["threshold", "false_positive_rate", "true_positive_rate"]
    assert len(roc["threshold"]) == len(thresholds) < len(p) + 1, "ties make one point"
    assert np.isinf(roc["threshold"][0]) and np.isinf(thresholds[0])
    assert np.max(np.abs(np.array(roc["threshold"][1:]) - thresholds[1:])) < 1e-12
    assert np.max(np.abs(np.array(roc["false_positive_rate"]) - fpr)) < 1e-12
    assert np.max(np.abs(np.array(roc["true_positive_rate"]) - tpr)) < 1e-12

    index = np.minimum(np.floor(p * BINS).astype(int), BINS - 1)
    table = pq.read_table(out / "reliability.parquet").to_pydict()
    assert list(table) == ["low", "high", "patients", "mean_probability", "cancer_rate"]
    assert np.allclose(table["low"], np.arange(BINS) / BINS, rtol=0, atol=1e-12)
    assert np.allclose(table["high"], np.arange(1, BINS + 1) / BINS, rtol=0, atol=1e-12)
    ece = 0.0
    for b in range(BINS):
        inside = index == b
        assert table["patients"][b] == inside.sum(), b
        if inside.any():
            assert abs(table["mean_probability"][b] - p[inside].mean()) < 1e-12, b
            assert abs(table["cancer_rate"][b] - y[inside].mean()) < 1e-12, b
            ece += inside.mean() * abs(p[inside].mean() - y[inside].mean())
        else:
            assert np.isnan(table["mean_probability"][b]) and np.isnan(table["cancer_rate"][b]), b
    assert (np.array(table["patients"]) == 0).any(), "an empty bin is kept"
    assert table["patients"][BINS - 1] == (p >= (BINS - 1) / BINS).sum(), "a probability of 1 is in the last bin"
    assert abs(m["ece"] - ece) < 1e-12


def test_sensitivity_by_nodule_group_matches_a_hand_count(tmp_path):
    ids = ["a", "b", "c", "d", "e", "f"]
    p = [0.9, 0.3, 0.5, 0.8, 0.2, 0.7]
    y = [1, 1, 1, 1, 1, 0]
    nodules = "id,x_mm,y_mm,z_mm,diameter_mm,pleural\n" + "".join(
        f"{i},0,0,0,{d},{pl}\n"
        for i, d, pl in [
            ("a", 6.0, 1),  # a: 6 mm, pleural, detected
            ("b", 12.0, 0),  # b: 18 mm (largest), pleural (one is), missed
            ("b", 18.0, 1),
            ("c", 25.0, 0),  # c: 25 mm, inner, detected at exactly 0.5
            ("e", 9.5, 0),  # e: 9.5 mm, inner, missed
            ("f", 30.0, 1),  # f has no cancer: not counted
            ("train", 14.0, 1),  # not in the submission: ignored
        ]
    )  # d: a cancer with no nodule listed, detected
    m, out = evaluate(tmp_path, ids, np.array(p), np.array(y, dtype=bool), nodules)
    hand = {
        "all": (5, 3),
        "under_10mm": (2, 1),
        "10_to_15mm": (0, 0),
        "15_to_20mm": (1, 0),
        "20mm_and_over": (1, 1),
        "pleural": (2, 1),
        "inner": (2, 1),
        "unlisted": (1, 1),
    }
    table = pq.read_table(out / "sensitivity.parquet").to_pydict()
    assert table["group"] == list(hand)
    for group, (patients, detected), n, d, s in zip(table["group"], hand.values(), table["patients"], table["detected"], table["sensitivity"]):
        assert (n, d) == (patients, detected), group
        if patients:
            assert s == detected / patients and m[f"sensitivity_{group}"] == s, group
        else:
            assert np.isnan(s) and m[f"sensitivity_{group}"] is None, group
