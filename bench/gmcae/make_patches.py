#!/usr/bin/env python3
"""Writes synthetic patch tables for `lungflow exec gmcae_train`:
OUT/<patient>/patches.parquet with the layout of stages/src/formats/patches.rs
(patient_id string, z/y/x int32, voxels fixed_size_list<float32 not null>[e^3],
zstd).

  python make_patches.py OUT --patients 5 --per-patient 16 --edge 32
"""

import argparse
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--patients", type=int, default=5)
    ap.add_argument("--per-patient", type=int, default=16)
    ap.add_argument("--edge", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    e, n = a.edge, a.per_patient
    c = e**3
    item = pa.field("item", pa.float32(), nullable=False)
    schema = pa.schema([
        ("patient_id", pa.string()),
        ("z", pa.int32()),
        ("y", pa.int32()),
        ("x", pa.int32()),
        ("voxels", pa.list_(item, c)),
    ])
    for p in range(a.patients):
        pid = f"P{p:03d}"
        # scaled CT: mostly lung air around -0.8, ~15% soft tissue near 0
        vox = (-0.8 + 0.05 * rng.standard_normal((n, c))).astype(np.float32)
        mask = rng.random((n, c)) < 0.15
        vox[mask] = (0.05 * rng.standard_normal(mask.sum())).astype(np.float32)
        centres = rng.integers(0, 200, (n, 3), dtype=np.int32)
        values = pa.array(vox.reshape(-1), type=pa.float32())
        voxels = pa.FixedSizeListArray.from_arrays(values, type=pa.list_(item, c))
        table = pa.Table.from_arrays(
            [pa.array([pid] * n, pa.string()), pa.array(centres[:, 0]), pa.array(centres[:, 1]), pa.array(centres[:, 2]), voxels],
            schema=schema,
        )
        d = os.path.join(a.out, pid)
        os.makedirs(d, exist_ok=True)
        pq.write_table(table, os.path.join(d, "patches.parquet"), compression="zstd")
    print(f"{a.patients} patients x {n} patches of {e}^3 in {a.out}")


if __name__ == "__main__":
    main()
