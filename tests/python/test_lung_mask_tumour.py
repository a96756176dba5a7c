"""The lung mask keeps the tumour that radiologists boxed on Lung_Dx-A0001
(../shared/data/ct/annotations), keeps the two lungs apart, and the old
mask (no hull, 3 mm dilation) fails the same checks, so they can fail.

The boxes are Pascal VOC XML, one file per annotated slice named by its
SOPInstanceUID, with pixel columns (x) and rows (y) of that slice. This test
maps them to the mask's grid itself, from the DICOM geometry: the patient
position of pixel (row r, column c) is ImagePositionPatient + c *
PixelSpacing[1] * row direction + r * PixelSpacing[0] * column direction
(ImageOrientationPatient), and voxel (z, y, x) of a lungflow volume lies at
origin_mm + (z, y, x) * spacing_mm (both [z, y, x], axes aligned with the
patient's). Positions are rounded to the nearest voxel.

Run through `cargo test` (tests/python_reference.rs) or by hand:
    LUNGFLOW_BIN=target/release/lungflow python3 -m pytest -q tests/python
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy import ndimage

from test_ct_reference import DATA, P, exec_kind, lungflow, read_grid

SCAN = "Lung_Dx-A0001"
OLD_MASK = ["hull_max_ratio=0", "dilate_mm=3", "exclude_bone=false"]


def run_mask(volume: Path, out: Path, settings: list[str]) -> Path:
    args = ["exec", "lung_mask", "--out", str(out), "--input", f"volume={volume}"]
    for s in settings:
        args += ["--set", s]
    done = lungflow(*args)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    out = tmp_path_factory.mktemp(SCAN)
    exec_kind("hu_volume", {"dicom": DATA / "chest" / SCAN}, out / "hu")
    exec_kind("resample", {"volume": out / "hu"}, out / "iso")
    return out


def read_boxes():
    """(dataset, [xmin, ymin, xmax, ymax]) per annotated slice."""
    by_uid = {}
    for f in sorted((DATA / "chest" / SCAN).iterdir()):
        ds = pydicom.dcmread(f)
        by_uid[ds.SOPInstanceUID] = ds
    boxes = []
    for xml in sorted((DATA / "annotations" / SCAN).glob("*.xml")):
        text = xml.read_text()
        box = [int(re.search(f"<{k}>(\\d+)</{k}>", text).group(1)) for k in ("xmin", "ymin", "xmax", "ymax")]
        boxes.append((by_uid[xml.stem], box))
    assert len(boxes) == 11, "the README lists 11 boxed slices"
    return boxes


def to_voxels(ds, rows: np.ndarray, cols: np.ndarray, meta) -> np.ndarray:
    """[n, 3] voxel indices (z, y, x) of slice pixels, rounded."""
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    row_dir, col_dir = iop[:3], iop[3:]
    assert np.allclose(row_dir, [1, 0, 0]) and np.allclose(col_dir, [0, 1, 0]), "an axial series, axes aligned"
    ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    ps = [float(v) for v in ds.PixelSpacing]
    xyz = ipp + np.outer(cols * ps[1], row_dir) + np.outer(rows * ps[0], col_dir)
    zyx = xyz[:, ::-1]
    return np.rint((zyx - np.array(meta["origin_mm"])) / np.array(meta["spacing_mm"])).astype(int)


def inside(mask: np.ndarray, idx: np.ndarray) -> np.ndarray:
    ok = np.all((idx >= 0) & (idx < np.array(mask.shape)), axis=1)
    out = np.zeros(len(idx), bool)
    out[ok] = mask[tuple(idx[ok].T)] > 0
    return out


def box_coverage(lungs: Path):
    """(box centres inside, boxes, fraction of solid box pixels inside)."""
    mask, meta, _ = read_grid(lungs / "mask.arrow", "mask")
    centres = solid_in = solid = 0
    for ds, (x0, y0, x1, y1) in read_boxes():
        centre = to_voxels(ds, np.array([(y0 + y1) / 2]), np.array([(x0 + x1) / 2]), meta)
        centres += int(inside(mask, centre)[0])
        hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        rows, cols = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
        is_solid = hu[rows, cols].ravel() > -500
        hits = inside(mask, to_voxels(ds, rows.ravel()[is_solid], cols.ravel()[is_solid], meta))
        solid += int(is_solid.sum())
        solid_in += int(hits.sum())
    return centres, 11, solid_in / solid


def test_every_tumour_box_lies_in_the_mask(scan):
    lungs = run_mask(scan / "iso", scan / "lungs", [])
    centres, n, solid = box_coverage(lungs)
    summary = json.loads((lungs / "mask.json").read_text())
    ratio = summary["volume_ml"] / summary["threshold_ml"]
    print(f"{SCAN}: {centres}/{n} box centres, {solid:.3f} of solid box pixels, {ratio:.3f}x the threshold lungs")
    assert centres == n, f"{centres} of {n} box centres inside the mask"
    assert solid >= 0.90, f"{solid:.3f} of the boxes' solid pixels inside the mask"
    assert 1.0 <= ratio <= 1.6, f"the mask is {ratio:.3f}x the threshold lungs"
    # The threshold lungs' volume, independently: the peer with every added step off.
    hu1, meta, _ = read_grid(scan / "iso" / "volume.arrow", "hu")
    bare = P.lung_mask(hu1, meta["spacing_mm"], hull_max_ratio=0, dilate_mm=0, bone_hu=None)
    bare_ml = bare.sum() * np.prod(meta["spacing_mm"]) / 1000
    assert abs(bare_ml - summary["threshold_ml"]) <= 0.001 * bare_ml, (bare_ml, summary["threshold_ml"])
    assert abs(sum(l["threshold_ml"] + l["added_ml"] for l in summary["lungs"]) - summary["volume_ml"]) < 1e-6


def test_the_old_mask_loses_the_tumour(scan):
    centres, n, solid = box_coverage(run_mask(scan / "iso", scan / "old", OLD_MASK))
    print(f"{SCAN}, old mask: {centres}/{n} box centres, {solid:.3f} of solid box pixels")
    assert centres < n and solid < 0.5, "the checks above can fail: the old mask cuts the tumour out"


def widest_gaps_mm(mask: np.ndarray, dx: float) -> np.ndarray:
    """Per axial slice in the middle third of those holding the mask, the
    longest run of non-mask voxels between two mask voxels of one row (mm):
    the mediastinum, where it stays out."""
    slices = [z for z in range(mask.shape[0]) if mask[z].any()]
    lo, hi = slices[0], slices[-1]
    gaps = []
    for z in range(lo + (hi - lo) // 3, lo + 2 * (hi - lo) // 3):
        widest = 0
        for row in mask[z]:
            on = np.flatnonzero(row)
            if on.size > 1:
                widest = max(widest, int(np.diff(on).max()) - 1)
        gaps.append(widest * dx)
    return np.array(gaps)


def test_the_lungs_stay_two_and_the_mediastinum_stays_out(scan):
    lungs = run_mask(scan / "iso", scan / "lungs2", [])
    labels, meta, _ = read_grid(lungs / "mask.arrow", "mask")
    ml = np.prod(meta["spacing_mm"]) / 1000
    means = []
    for lab in (1, 2):
        comps, _ = ndimage.label(labels == lab)
        sizes = np.bincount(comps.ravel())[1:]
        assert sizes.max() * ml >= 1500, f"lung {lab}: largest component {sizes.max() * ml:.0f} mL"
        assert sizes.max() >= 0.99 * sizes.sum(), f"lung {lab} is one body: {sorted(sizes)[-3:]}"
        means.append(np.nonzero(labels == lab)[2].mean())
    assert means[0] < means[1], "lung 1 is the patient's right (lower x)"
    gaps = widest_gaps_mm(labels > 0, meta["spacing_mm"][2])
    print(f"{SCAN}: between the lungs, {gaps.min():.0f} to {gaps.max():.0f} mm stay out in the middle third")
    assert gaps.min() >= 40, f"the mediastinum is swallowed on some slice: {gaps.min():.0f} mm left between the lungs"
    # Without the split, the hull of both lungs at once closes over the
    # mediastinum wherever the guard lets it: the same check fails.
    joined, _, _ = read_grid(run_mask(scan / "iso", scan / "joined", ["split_max_erosions=0"]) / "mask.arrow", "mask")
    assert not (joined == 2).any(), "no split: one label"
    joined_gaps = widest_gaps_mm(joined > 0, meta["spacing_mm"][2])
    print(f"{SCAN}, lungs not split: {joined_gaps.min():.0f} to {joined_gaps.max():.0f} mm")
    assert joined_gaps.min() < 40
