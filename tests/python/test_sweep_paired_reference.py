"""`lungflow sweep show`'s cross-validated AUCs and paired differences
against numpy on the same out-of-fold tables: the values to 1e-12, and the
95 % intervals to 0.02 (lungflow draws 2,000 patient resamples with its own
generator, the reference 20,000 with numpy's; the ends' Monte Carlo error is
about 0.004 here). The differences' p-values (the normal tail at the
bootstrap's standard error) match scipy's on numpy's draws to 0.01 + 10 %
(2,000 draws estimate the standard error to about 1.6 %), and their Holm
correction over every pair of variants matches statsmodels' to 1e-12 on
lungflow's own p-values.

Two variants of a command stage copy the tables this test writes, as a
cross-validating classifier writes them (one row per patient and repeat).

Run through `cargo test` (tests/python_reference.rs), or by hand:
    LUNGFLOW_BIN=target/release/lungflow python3 -m pytest -q tests/python
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import stats
from statsmodels.stats.multitest import multipletests

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("LUNGFLOW_BIN", str(ROOT / "target" / "release" / "lungflow"))
N, REPEATS, RESAMPLES = 60, 2, 20_000


def mean_auc(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The AUC of each row of `p` (repeats x resamples x patients) against
    the same row of `y` (resamples x patients), averaged over repeats."""
    positives = y.sum(axis=-1)
    ranks = stats.rankdata(p, axis=-1)
    aucs = ((ranks * y).sum(axis=-1) - positives * (positives + 1) / 2) / (positives * (y.shape[-1] - positives))
    return aucs.mean(axis=0)


def write_out_of_fold(path: Path, ids: list[str], y: np.ndarray, p: np.ndarray) -> None:
    path.mkdir(parents=True)
    table = pa.table(
        {
            "id": [i for _ in range(REPEATS) for i in ids],
            "cancer": np.tile(y, REPEATS),
            "repeat": pa.array(np.repeat(np.arange(1, REPEATS + 1), N), pa.int32()),
            "fold": pa.array(np.tile(np.arange(N) % 3 + 1, REPEATS), pa.int32()),
            "probability": p.reshape(-1),
        }
    )
    # lungflow reads uncompressed and zstd Parquet, not pyarrow's default snappy.
    pq.write_table(table, path / "cv_predictions.parquet", compression="zstd")


def test_sweep_cv_auc_and_paired_difference_match_a_numpy_paired_bootstrap(tmp_path):
    rng = np.random.default_rng(30)
    y = np.arange(N) % 3 == 0
    ids = [f"p{i:02d}" for i in range(N)]
    # What the patients share (how hard each is) makes the two models'
    # errors correlated: the paired interval is narrower than either AUC's.
    shared = rng.normal(0, 0.4, N)
    probabilities = {}
    for v, strength in ((1, 0.25), (2, 0.21), (3, 0.15)):
        p = 1 / (1 + np.exp(-(shared + np.where(y, strength, -strength) + rng.normal(0, 0.2, (REPEATS, N)))))
        probabilities[v] = p
        write_out_of_fold(tmp_path / "oof" / str(v), ids, y, p)
    (tmp_path / "ranked.yaml").write_text(
        "stages:\n"
        "  model:\n"
        "    kind: command\n"
        "    params:\n"
        f'      cmd: "cp {tmp_path}/oof/{{params.v}}/cv_predictions.parquet {{out}}/"\n'
        "      outputs: [cv_predictions.parquet]\n"
        "      v: 1\n"
        "sweep:\n"
        "  list:\n"
        "    - {model.v: 1}\n"
        "    - {model.v: 2}\n"
        "    - {model.v: 3}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "LUNGFLOW_CACHE"}
    done = subprocess.run([BIN, "sweep", "run", "ranked.yaml", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    def show(reference: int) -> dict:
        done = subprocess.run(
            [BIN, "sweep", "show", "ranked.yaml", "--reference", f"model.v={reference}", "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return {r["variant"]: r for r in json.loads(done.stdout)}

    rows = show(2)

    idx = np.random.default_rng(0).integers(0, N, size=(RESAMPLES, N))
    ys = y[idx]
    both = (ys.sum(axis=1) > 0) & (ys.sum(axis=1) < N)
    idx, ys = idx[both], ys[both]
    on_all = {v: float(mean_auc(p[:, None, :], y[None, :])[0]) for v, p in probabilities.items()}
    drawn = {v: mean_auc(p[:, idx], ys) for v, p in probabilities.items()}
    expected = {
        ("model=1", "cv_auc"): (on_all[1], drawn[1]),
        ("model=2", "cv_auc"): (on_all[2], drawn[2]),
        ("model=1", "cv_auc_diff"): (on_all[1] - on_all[2], drawn[1] - drawn[2]),
    }
    for (variant, metric), (value, draws) in expected.items():
        row = rows[variant.replace("model=", "model.v=")]
        name = f"model.{metric}"
        low, high = np.percentile(draws, [2.5, 97.5])
        print(f"{variant} {metric}: lungflow {row[name]:.4f} [{row[name + '_low']:.4f}, {row[name + '_high']:.4f}], numpy {value:.4f} [{low:.4f}, {high:.4f}]")
        assert abs(row[name] - value) < 1e-12, (variant, metric)
        assert abs(row[name + "_low"] - low) < 0.02, (variant, metric)
        assert abs(row[name + "_high"] - high) < 0.02, (variant, metric)
    diff = rows["model.v=1"]
    assert diff["model.cv_auc_diff_high"] - diff["model.cv_auc_diff_low"] < rows["model.v=1"]["model.cv_auc_high"] - rows["model.v=1"]["model.cv_auc_low"]
    assert rows["model.v=2"]["model.cv_auc_diff"] == 0.0

    # p-values: a normal with the paired draws' standard deviation, two-sided,
    # at the difference on all patients; then Holm over the three pairs.
    def bootstrap_p(value: float, draws: np.ndarray) -> float:
        return float(2 * stats.norm.sf(abs(value) / draws.std(ddof=1)))

    raw, corrected = {}, {}
    for reference in (1, 2, 3):
        against = show(reference)
        assert "model.cv_auc_diff_p_holm" not in against[f"model.v={reference}"] or against[f"model.v={reference}"]["model.cv_auc_diff_p_holm"] is None
        for v in (1, 2, 3):
            if v == reference:
                continue
            pair = (min(v, reference), max(v, reference))
            row = against[f"model.v={v}"]
            expected = bootstrap_p(on_all[v] - on_all[reference], drawn[v] - drawn[reference])
            print(f"model {v} - {reference}: p lungflow {row['model.cv_auc_diff_p']:.4f}, numpy {expected:.4f}; Holm {row['model.cv_auc_diff_p_holm']:.4f}")
            assert abs(row["model.cv_auc_diff_p"] - expected) <= 0.01 + 0.1 * expected, (v, reference)
            # The same pair gives the same p-values whichever is the reference.
            raw.setdefault(pair, row["model.cv_auc_diff_p"])
            corrected.setdefault(pair, row["model.cv_auc_diff_p_holm"])
            assert raw[pair] == row["model.cv_auc_diff_p"] and corrected[pair] == row["model.cv_auc_diff_p_holm"], pair
    pairs = sorted(raw)
    holm = multipletests([raw[k] for k in pairs], method="holm")[1]
    for k, h in zip(pairs, holm):
        assert abs(corrected[k] - h) < 1e-12, (k, corrected[k], h)
    assert corrected[(1, 3)] < 0.05, "the strong and the weak model differ even after the correction"
    assert raw[(1, 2)] < corrected[(1, 2)], "the correction raises a p-value that is not the smallest"
