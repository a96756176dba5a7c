#!/usr/bin/env python3
"""Self-check of the Python reference preprocessing on the real test data.

Runs ingest -> resample -> lung_mask -> crop on

* every series folder under ``<data>/chest``;
* every file of ``<data>/syntaxes`` (each copied alone into a temporary
  folder), reporting which transfer syntaxes decode and the max abs HU
  difference of each against ``CT1_UNC.dcm``;
* ``<data>/oddities/ge-head-gantry-tilt``, which must be refused with a
  "gantry tilt" message.

For each series it prints the shapes, spacings, mask volume in litres, the
lung-coverage fraction and per-step timings.  The coverage fraction is the
share of "body-internal dark" voxels (HU < -500 inside the body) that lie in
the mask, where the body is the complement of the HU < -500 components
(6-connected, 3-D) that touch the in-plane border, with holes filled slice by
slice.  Its denominator also holds bowel gas, the trachea above the lungs,
etc., so a value near (but below) 1 is expected.

Usage: ``python peers/python/check_data.py [DATA_DIR]`` (default
``/work/shared/data/ct``).  Exits non-zero when a check fails.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import numpy as np
import pydicom
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import preprocess as P  # noqa: E402

DEFAULT_DATA = "/work/shared/data/ct"
BODY_AIR_HU = -500


def body_mask(hu: np.ndarray, air_hu: float = BODY_AIR_HU) -> np.ndarray:
    """Body = complement of the air components touching the in-plane border, filled per slice."""
    labels, n = ndimage.label(hu < air_hu)
    outside = np.zeros(n + 1, dtype=bool)
    for face in (labels[:, 0, :], labels[:, -1, :], labels[:, :, 0], labels[:, :, -1]):
        outside[np.unique(face)] = True
    outside[0] = False
    body = ~outside[labels]
    for z in range(body.shape[0]):
        body[z] = ndimage.binary_fill_holes(body[z])
    return body


def coverage(hu1: np.ndarray, mask: np.ndarray) -> tuple[float, int]:
    """Fraction of body-internal voxels below -500 HU that lie in the mask, and their count."""
    dark = body_mask(hu1) & (hu1 < BODY_AIR_HU)
    total = int(dark.sum())
    return (float((dark & mask).sum()) / total if total else float("nan")), total


def report(name: str, res: dict, t: dict) -> None:
    """Print one series' summary lines."""
    sp1 = res["spacing1"]
    litres = res["mask"].sum() * np.prod(sp1) / 1e6
    frac, n_dark = coverage(res["hu1"], res["mask"])
    info = res["mask_info"]
    print(f"{name}")
    print(f"  slices {len(res['files'])}  shape {tuple(res['hu'].shape)}  spacing_mm "
          f"{np.round(res['spacing'], 4).tolist()}  HU range {res['hu'].min()}..{res['hu'].max()}")
    print(f"  resampled {tuple(res['hu1'].shape)}  spacing_mm {np.round(sp1, 4).tolist()}")
    print(f"  components {info['components']} (border {info['touching_border']}, inner<min "
          f"{info['inner_below_min']}), kept mL {[round(v, 1) for v in info['kept_ml']]}, "
          f"next {info['next_ml']:.1f} mL")
    print(f"  mask {litres:.3f} L  bbox {res['bbox']}  crop {tuple(res['hu_crop'].shape)}")
    print(f"  coverage of body-internal HU<-500 voxels: {frac:.4f} (of {n_dark})")
    print("  seconds " + "  ".join(f"{k} {v:.3f}" for k, v in t.items()))


def check_chest(data: str) -> bool:
    """Run every chest series; True when all succeed."""
    ok = True
    root = os.path.join(data, "chest")
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        try:
            res, t = P.run_all(folder)
        except ValueError as exc:
            print(f"{name}\n  FAILED: {exc}")
            ok = False
            continue
        report(f"chest/{name}", res, t)
    return ok


def _decoder_plugins(path: str) -> str:
    """Names of the pydicom decoding plugins available for a file's transfer syntax."""
    uid = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    if not uid.is_compressed:
        return f"{uid.name} [{uid}] native, no decoder plugin needed"
    try:
        from pydicom.pixels import get_decoder

        dec = get_decoder(uid)
        plugins = ",".join(sorted(dec.available_plugins)) or "none"
    except Exception as exc:  # NotImplementedError for syntaxes pydicom has no decoder for
        plugins = f"none ({type(exc).__name__})"
    return f"{uid.name} [{uid}] plugins: {plugins}"


def check_syntaxes(data: str) -> bool:
    """Each syntaxes/ file as a one-file series; compare HU against CT1_UNC."""
    root = os.path.join(data, "syntaxes")
    files = sorted(f for f in os.listdir(root) if f.endswith(".dcm"))
    results = {}
    ok = True
    with tempfile.TemporaryDirectory(prefix="lungflow-syntax-") as tmp:
        for f in files:
            folder = os.path.join(tmp, f[:-4])
            os.mkdir(folder)
            shutil.copy(os.path.join(root, f), folder)
            print(f"syntaxes/{f}: {_decoder_plugins(os.path.join(root, f))}")
            try:
                hu, spacing, _, _, _ = P.ingest(folder)
            except ValueError as exc:
                print(f"  does NOT decode: {exc}")
                results[f] = None
                continue
            results[f] = hu
            try:
                res, t = P.run_all(folder)
                frac, _ = coverage(res["hu1"], res["mask"])
                print(f"  decodes; shape {tuple(hu.shape)} spacing {np.round(spacing, 4).tolist()}  mask "
                      f"{res['mask'].sum() * np.prod(res['spacing1']) / 1e6:.4f} L  coverage {frac:.4f}  "
                      f"total {t['total']:.3f} s")
            except ValueError as exc:
                print(f"  decodes; later step failed: {exc}")
                ok = False
    ref = results.get("CT1_UNC.dcm")
    print("max |HU - HU(CT1_UNC)|:")
    for f, hu in results.items():
        if hu is None:
            print(f"  {f:14s} not decoded")
            ok = False
        elif ref is None or hu.shape != ref.shape:
            print(f"  {f:14s} cannot compare")
            ok = False
        else:
            diff = np.abs(hu.astype(np.int32) - ref.astype(np.int32))
            lossy = f in ("CT1_J2KI.dcm", "CT1_JLSN.dcm")
            print(f"  {f:14s} {int(diff.max()):5d}  (voxels differing: {int((diff > 0).sum())})"
                  f"{'  lossy' if lossy else ''}")
            if not lossy and diff.max() != 0:
                ok = False
    return ok


def check_tilt(data: str) -> bool:
    """The gantry-tilt head series must be refused with a 'gantry tilt' message."""
    folder = os.path.join(data, "oddities", "ge-head-gantry-tilt")
    try:
        P.ingest(folder)
    except ValueError as exc:
        good = "gantry tilt" in str(exc)
        print(f"oddities/ge-head-gantry-tilt: refused ({'OK' if good else 'WRONG MESSAGE'}): {exc}")
        return good
    print("oddities/ge-head-gantry-tilt: NOT refused (FAIL)")
    return False


def main() -> int:
    data = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DATA
    ok = check_chest(data)
    ok &= check_syntaxes(data)
    ok &= check_tilt(data)
    print(f"peak RSS {P.peak_rss_mib():.0f} MiB")
    print("ALL CHECKS PASSED" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
