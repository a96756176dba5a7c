#!/usr/bin/env python3
"""Reference (peer) implementation of the lungflow CT preprocessing steps.

This module is the Python reference that the Rust implementation is compared
against in CI, and the benchmark peer.  It implements four steps:

``ingest(folder)``
    Read one DICOM CT series from a folder into a Hounsfield-unit volume.
``resample(hu, spacing, target_mm=1.0)``
    Resample to (about) isotropic ``target_mm`` voxels, keeping the first and
    last voxel centres of every axis aligned.
``lung_mask(hu1, spacing, ...)``
    Threshold + connected components + per-slice hole filling, the two lungs
    split, per-lung per-slice convex hulls, dilation, bone removal.
``crop(hu1, mask)``
    Crop to the inclusive bounding box of the mask.

All arrays are indexed ``[z, y, x]`` (slice, row, column); spacings are given
in the same order in millimetres.  The only exception is ``origin_mm``, which
is the DICOM ImagePositionPatient of the first sorted slice, in patient
``[x, y, z]`` order.

Every error the steps raise is a :class:`ValueError` whose message names the
file or folder concerned and the reason.

Command line::

    python peers/python/preprocess.py DICOM_DIR --out OUT.npz [--json]

See README.md in this folder for the exact specification, including the
points where the written specification needed an interpretation.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from scipy import ndimage

__all__ = ["ingest", "resample", "lung_mask", "crop", "round_half_away", "main"]

# --------------------------------------------------------------------------
# Tolerances of the ingest step (fixed by the specification).
# --------------------------------------------------------------------------
AXIAL_MIN_NORMAL_Z = 0.9      # |normal_z| > this for a series to count as axial
MAX_TILT_DEG = 0.5            # refuse when IPP[last]-IPP[first] deviates more
DUPLICATE_MM = 0.001          # a position difference below this is a duplicate
SPACING_REL_TOL = 0.01        # |diff - median| > REL * median + ABS -> uneven
SPACING_ABS_TOL_MM = 0.001
GEOMETRY_TOL = 1e-4           # PixelSpacing and ImageOrientationPatient equality
OUT_OF_FIELD_HU = -1100.0     # HU below this is out of field -> AIR_HU
AIR_HU = -1000


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, halves away from zero (like Rust ``f32::round``).

    Computed exactly: ``x - trunc(x)`` is exact in binary floating point, so
    there is none of the ``floor(x + 0.5)`` double-rounding error (for
    example ``0.49999997`` stays 0).  The result keeps the input dtype.
    """
    t = np.trunc(x)
    frac = x - t
    t += frac >= 0.5
    t -= frac <= -0.5
    return t


def _to_int16(x: np.ndarray) -> np.ndarray:
    """Round half away from zero, clip to the int16 range and cast."""
    r = round_half_away(x)
    np.clip(r, -32768, 32767, out=r)
    return r.astype(np.int16)


# --------------------------------------------------------------------------
# 1. ingest
# --------------------------------------------------------------------------
@dataclass
class _Slice:
    """Header fields of one DICOM file that ingest needs."""

    path: str
    ds: pydicom.Dataset
    series_uid: str
    modality: str
    iop: np.ndarray | None = None  # 6 floats
    ipp: np.ndarray | None = None  # 3 floats
    rows: int = 0
    cols: int = 0


def _get(ds: pydicom.Dataset, keyword: str, path: str):
    """Return a required element value or raise a ValueError naming the file."""
    if keyword not in ds or ds[keyword].value is None or ds[keyword].value == "":
        raise ValueError(f"{path}: missing required DICOM tag {keyword}")
    return ds[keyword].value


def _floats(ds: pydicom.Dataset, keyword: str, path: str, n: int) -> np.ndarray:
    """Return a required multi-valued numeric tag as a float64 array of length n."""
    value = _get(ds, keyword, path)
    try:
        arr = np.asarray([float(v) for v in (value if n > 1 else [value])], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: tag {keyword} is not numeric: {value!r}") from exc
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{path}: tag {keyword} must hold {n} finite numbers, got {value!r}")
    return arr


def _normal(iop: np.ndarray) -> np.ndarray:
    """Slice normal: cross(row cosines, column cosines), normalised."""
    n = np.cross(iop[:3], iop[3:])
    norm = np.linalg.norm(n)
    if norm == 0.0:
        return n
    return n / norm


def _read_file(path: str) -> _Slice:
    """Parse one file, checking the tags every (CT) file must have."""
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError as exc:
        raise ValueError(f"{path}: not a DICOM file ({exc})") from exc
    except Exception as exc:  # EOFError, struct errors, ... on broken files
        raise ValueError(f"{path}: unreadable or truncated DICOM file ({type(exc).__name__}: {exc})") from exc
    sl = _Slice(
        path=path,
        ds=ds,
        series_uid=str(_get(ds, "SeriesInstanceUID", path)).strip(),
        modality=str(_get(ds, "Modality", path)).strip().upper(),
    )
    if sl.modality == "CT":
        sl.iop = _floats(ds, "ImageOrientationPatient", path, 6)
        sl.ipp = _floats(ds, "ImagePositionPatient", path, 3)
        sl.rows = int(_get(ds, "Rows", path))
        sl.cols = int(_get(ds, "Columns", path))
        if "PixelData" not in ds:
            raise ValueError(f"{path}: missing required DICOM tag PixelData (file truncated?)")
    return sl


def _padding_value(ds: pydicom.Dataset) -> int | None:
    """PixelPaddingValue in the stored-value domain of the pixel data, or None.

    The tag's VR is "US or SS".  Some writers (e.g. LIDC-IDRI-0001) store a
    negative padding value of signed pixel data as US (63536 for -2000); it is
    reinterpreted as two's complement when PixelRepresentation is 1.
    """
    if "PixelPaddingValue" not in ds or ds.PixelPaddingValue is None:
        return None
    pad = int(ds.PixelPaddingValue)
    if int(ds.get("PixelRepresentation", 0)) == 1 and pad >= 2**15:
        pad -= 2**16
    return pad


def _slice_hu(sl: _Slice) -> np.ndarray:
    """Decode one slice and convert it to HU (float64, before rounding)."""
    ds, path = sl.ds, sl.path
    slope = float(_get(ds, "RescaleSlope", path))
    intercept = float(_get(ds, "RescaleIntercept", path))
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise ValueError(f"{path}: SamplesPerPixel must be 1 for CT")
    try:
        stored = ds.pixel_array
    except Exception as exc:
        raise ValueError(f"{path}: cannot decode pixel data ({type(exc).__name__}: {exc})") from exc
    if stored.shape != (sl.rows, sl.cols):
        raise ValueError(f"{path}: pixel data has shape {stored.shape}, expected ({sl.rows}, {sl.cols})")
    hu = stored.astype(np.float64) * slope + intercept
    pad = _padding_value(ds)
    if pad is not None:
        hu[stored == pad] = AIR_HU
    hu[hu < OUT_OF_FIELD_HU] = AIR_HU
    return hu


def _select_series(folder: str, slices: list[_Slice]) -> tuple[str, list[_Slice]]:
    """Pick the CT axial series with the most slices (ties: smallest UID)."""
    by_uid: dict[str, list[_Slice]] = {}
    for sl in slices:
        by_uid.setdefault(sl.series_uid, []).append(sl)
    candidates = []
    reasons = []
    for uid, members in sorted(by_uid.items()):
        first = members[0]  # members are in file-name order
        if first.modality != "CT":
            reasons.append(f"series {uid}: modality {first.modality}, not CT")
            continue
        nz = abs(_normal(first.iop)[2])
        if not nz > AXIAL_MIN_NORMAL_Z:
            reasons.append(f"series {uid}: not axial (|normal_z| = {nz:.3f} <= {AXIAL_MIN_NORMAL_Z})")
            continue
        candidates.append((-len(members), uid))
    if not candidates:
        raise ValueError(f"{folder}: no axial CT series found ({'; '.join(reasons)})")
    _, uid = min(candidates)
    return uid, by_uid[uid]


def _check_geometry(series: list[_Slice]) -> None:
    """All slices must share Rows, Columns, PixelSpacing and ImageOrientationPatient."""
    ref = series[0]
    ref_ps = _floats(ref.ds, "PixelSpacing", ref.path, 2)
    for sl in series[1:]:
        ps = _floats(sl.ds, "PixelSpacing", sl.path, 2)
        if (sl.rows, sl.cols) != (ref.rows, ref.cols):
            raise ValueError(f"{sl.path}: size {sl.rows}x{sl.cols} differs from {ref.rows}x{ref.cols} of {ref.path}")
        if np.max(np.abs(ps - ref_ps)) > GEOMETRY_TOL:
            raise ValueError(f"{sl.path}: PixelSpacing {ps.tolist()} differs from {ref_ps.tolist()} of {ref.path}")
        if np.max(np.abs(sl.iop - ref.iop)) > GEOMETRY_TOL:
            raise ValueError(
                f"{sl.path}: ImageOrientationPatient {sl.iop.tolist()} differs from {ref.iop.tolist()} of {ref.path}"
            )


def ingest(folder: str):
    """Read the axial CT series of a folder into a HU volume.

    Parameters
    ----------
    folder:
        Folder holding the DICOM files (not searched recursively; hidden
        files, i.e. names starting with ``.``, and sub-folders are skipped).

    Returns
    -------
    hu : np.ndarray, int16, shape [z, y, x]
        Hounsfield units.  Padding and out-of-field voxels (HU < -1100) are
        set to -1000; values are rounded half away from zero and clipped.
    spacing_mm : np.ndarray, float64, [z, y, x]
        Median slice spacing from the positions, PixelSpacing[0] (rows, y),
        PixelSpacing[1] (columns, x).  With a single slice, the slice spacing
        is SliceThickness (1.0 if that is missing).
    origin_mm : np.ndarray, float64, [x, y, z]
        ImagePositionPatient of the first sorted slice.
    series_uid : str
    files : list[str]
        The files of the series, in sorted slice order.

    Raises
    ------
    ValueError
        Non-DICOM, truncated or incomplete file (message names it); no
        qualifying series; inconsistent geometry; gantry tilt; duplicate
        positions; uneven slice spacing.
    """
    if not os.path.isdir(folder):
        raise ValueError(f"{folder}: not a folder")
    names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    paths = [os.path.join(folder, n) for n in names if os.path.isfile(os.path.join(folder, n))]
    if not paths:
        raise ValueError(f"{folder}: no files")
    slices = [_read_file(p) for p in paths]
    uid, series = _select_series(folder, slices)

    # Sort by position along the slice normal (never by name or InstanceNumber).
    normal = _normal(series[0].iop)
    d_all = np.array([float(np.dot(sl.ipp, normal)) for sl in series])
    order = np.argsort(d_all, kind="stable")
    series = [series[i] for i in order]
    d = d_all[order]

    _check_geometry(series)
    ref = series[0]
    pixel_spacing = _floats(ref.ds, "PixelSpacing", ref.path, 2)
    if np.any(pixel_spacing <= 0):
        raise ValueError(f"{ref.path}: PixelSpacing must be positive, got {pixel_spacing.tolist()}")

    if len(series) > 1:
        # Gantry tilt: the slice stack must run along the normal.
        v = series[-1].ipp - series[0].ipp
        along = float(np.dot(v, normal))
        perp = float(np.linalg.norm(v - along * normal))
        if np.linalg.norm(v) > 0:
            angle = math.degrees(math.atan2(perp, abs(along)))
            if angle > MAX_TILT_DEG:
                raise ValueError(
                    f"{folder}: gantry tilt of {angle:.2f} degrees between the slice normal and the "
                    f"slice stack ({series[0].path} -> {series[-1].path}); tilted series are refused"
                )
        diffs = np.diff(d)
        i_dup = int(np.argmin(diffs))
        if diffs[i_dup] < DUPLICATE_MM:
            raise ValueError(
                f"{folder}: duplicate slice position {d[i_dup]:.4f} mm "
                f"({series[i_dup].path} and {series[i_dup + 1].path})"
            )
        median = float(np.median(diffs))
        bad = np.abs(diffs - median) > SPACING_REL_TOL * median + SPACING_ABS_TOL_MM
        if np.any(bad):
            i_bad = int(np.argmax(bad))
            raise ValueError(
                f"{folder}: uneven slice spacing: {diffs.min():.4f} to {diffs.max():.4f} mm "
                f"(median {median:.4f} mm; first outlier {diffs[i_bad]:.4f} mm after {series[i_bad].path})"
            )
        slice_spacing = median
    else:
        thickness = ref.ds.get("SliceThickness", None)
        try:
            slice_spacing = float(thickness) if thickness not in (None, "") else 1.0
        except (TypeError, ValueError):
            slice_spacing = 1.0
        if not slice_spacing > 0:
            slice_spacing = 1.0

    hu = np.empty((len(series), ref.rows, ref.cols), dtype=np.int16)
    for k, sl in enumerate(series):
        hu[k] = _to_int16(_slice_hu(sl))

    spacing = np.array([slice_spacing, pixel_spacing[0], pixel_spacing[1]], dtype=np.float64)
    origin = series[0].ipp.copy()
    return hu, spacing, origin, uid, [sl.path for sl in series]


# --------------------------------------------------------------------------
# 2. resample
# --------------------------------------------------------------------------
def _axis_plan(n: int, spacing: float, target_mm: float):
    """Output size, output spacing and interpolation taps for one axis.

    Returns ``(n_new, new_spacing, i0, i1, w0, w1)`` where output sample ``i``
    is ``w0[i] * in[i0[i]] + w1[i] * in[i1[i]]``.  Sample ``i`` lies at input
    index ``i * (n - 1) / (n_new - 1)``, so the first and last centres align.
    """
    extent = (n - 1) * spacing
    n_new = max(1, int(math.floor(extent / target_mm + 0.5)) + 1)
    if n_new == 1:
        # Nothing to interpolate: keep the first voxel and the old spacing.
        z = np.zeros(1, dtype=np.intp)
        return 1, spacing, z, z, np.ones(1, np.float32), np.zeros(1, np.float32)
    new_spacing = extent / (n_new - 1)
    pos = np.arange(n_new, dtype=np.float64) * (n - 1) / (n_new - 1)  # exact at both ends
    i0 = np.minimum(np.floor(pos).astype(np.intp), max(n - 2, 0))
    frac = pos - i0
    i1 = np.minimum(i0 + 1, n - 1)
    w1 = frac.astype(np.float32)
    w0 = (1.0 - frac).astype(np.float32)
    return n_new, new_spacing, i0, i1, w0, w1


def resample(hu: np.ndarray, spacing, target_mm: float = 1.0):
    """Resample a volume to voxels of about ``target_mm`` on every axis.

    Per axis: ``extent = (n-1)*spacing``, ``n_new = max(1, floor(extent/target
    + 0.5) + 1)``, ``new_spacing = extent/(n_new-1)`` (the old spacing when
    ``n_new == 1``).  Trilinear interpolation, done as separable 1-D linear
    interpolation in float32, along x, then y, then z; each pass computes
    ``w0*a + w1*b`` with float32 weights.  The result is rounded half away
    from zero to int16.

    Returns ``(hu1 int16 [z, y, x], new_spacing float64 [z, y, x])``.
    """
    if hu.ndim != 3:
        raise ValueError(f"resample: expected a 3-D volume, got shape {hu.shape}")
    if target_mm <= 0:
        raise ValueError(f"resample: target_mm must be positive, got {target_mm}")
    spacing = np.asarray(spacing, dtype=np.float64)
    out = hu.astype(np.float32)
    new_spacing = spacing.copy()
    for axis in (2, 1, 0):
        n_new, sp, i0, i1, w0, w1 = _axis_plan(hu.shape[axis], float(spacing[axis]), target_mm)
        new_spacing[axis] = sp
        if n_new == hu.shape[axis] and np.all(w1 == 0) and np.array_equal(i0, np.arange(n_new)):
            continue  # identity along this axis
        shape = [1, 1, 1]
        shape[axis] = n_new
        a = np.take(out, i0, axis=axis)
        a *= w0.reshape(shape)
        b = np.take(out, i1, axis=axis)
        b *= w1.reshape(shape)
        a += b
        del b
        out = a
    return _to_int16(out), new_spacing


# --------------------------------------------------------------------------
# 3. lung mask
# --------------------------------------------------------------------------
def _bbox(mask: np.ndarray):
    """Inclusive bounding box ``[(z0, z1), (y0, y1), (x0, x1)]`` of a non-empty mask."""
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        idx = np.flatnonzero(mask.any(axis=other))
        box.append((int(idx[0]), int(idx[-1])))
    return box


def _split_lungs(filled: np.ndarray, kept: np.ndarray, max_erosions: int, max_ratio: float):
    """Label the filled threshold lungs 1 and 2 (see ``lung_mask`` step g).

    Returns ``(labels uint8, erosions or None)``.
    """
    if (kept == 2).any():
        seeds, erosions = kept, 0
    else:
        seeds, erosions = None, None
        current = filled.copy()
        cross = ndimage.generate_binary_structure(3, 1)
        for k in range(1, max_erosions + 1):
            current = ndimage.binary_erosion(current, cross)
            labels, n = ndimage.label(current)
            if n == 0:
                break
            if n >= 2:
                counts = np.bincount(labels.ravel())[1:]
                order = np.argsort(-counts, kind="stable")
                if counts[order[0]] <= max_ratio * counts[order[1]]:
                    seeds = np.zeros(filled.shape, np.uint8)
                    seeds[labels == order[0] + 1] = 1
                    seeds[labels == order[1] + 1] = 2
                    erosions = k
                    break
    if seeds is None:
        labels = filled.astype(np.uint8)
    else:
        # Every voxel takes the label of the nearest seed voxel (Euclidean, in voxels).
        _, idx = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
        labels = np.where(filled, seeds[tuple(idx)], 0).astype(np.uint8)
        del idx
    # Order by side: 1 = lower mean x (the patient's right), or by scan half for one lung.
    xs = np.arange(filled.shape[2])
    mean = [float((xs * (labels == l).sum(axis=(0, 1))).sum() / max((labels == l).sum(), 1)) for l in (1, 2)]
    two = (labels == 2).any()
    if (two and mean[0] > mean[1]) or (not two and mean[0] >= filled.shape[2] / 2):
        labels = np.where(labels > 0, 3 - labels, 0).astype(np.uint8)
    return labels, erosions


def _hull_slices(lung: np.ndarray, max_ratio: float):
    """Per axial slice, the convex hull of the lung's pixel centres where it has
    at most ``max_ratio`` times the slice's pixels; returns (mask, hulled slices)."""
    from skimage.morphology import convex_hull_image

    out = lung.copy()
    hulled = 0
    for z in range(lung.shape[0]):
        area = int(lung[z].sum())
        if area == 0 or max_ratio <= 0:
            continue
        if area < 3:
            continue  # a point or two: their own hull
        try:
            hull = convex_hull_image(lung[z], offset_coordinates=False, include_borders=True)
        except Exception:  # collinear pixels (qhull refuses a flat hull): the pixels themselves
            continue
        hull |= lung[z]
        if hull.sum() <= max_ratio * area:
            out[z] = hull
            hulled += 1
    return out, hulled


def lung_mask(
    hu1: np.ndarray,
    spacing,
    threshold_hu: float = -320,
    min_component_ml: float = 5.0,
    second_lung_fraction: float = 0.2,
    split_max_erosions: int = 20,
    split_max_ratio: float = 4.8,
    hull_max_ratio: float = 2.0,
    hull_depth_mm: float = 20.0,
    dilate_mm: float = 6.0,
    bone_hu: float | None = 280.0,
    return_info: bool = False,
    labels: bool = False,
):
    """Segment the lungs of a (resampled) HU volume.

    a. candidates = ``hu1 < threshold_hu``;
    b. 3-D connected components, 6-connectivity;
    c. drop components touching the in-plane border (y or x at 0 or max) of
       any slice; touching z == 0 or z == Z-1 is allowed;
    d. drop components below ``min_component_ml``; keep the largest and the
       second largest if it is ``>= second_lung_fraction`` of the largest
       (equal voxel counts: the component whose first voxel in z, y, x raster
       order comes first wins);
    e. fill holes slice by slice (2-D, 4-connected background): the
       threshold lungs;
    g. two kept components are the two lungs; one is eroded (6-connected
       structure) up to ``split_max_erosions`` times until its two largest
       parts differ at most ``split_max_ratio`` times in size; every voxel
       takes the label of the nearest part (Euclidean).  Label 1 is the lung
       with the lower mean x;
    h. per lung and axial slice, the convex hull of the pixel centres
       (skimage, ``offset_coordinates=False``) replaces the slice when it has
       at most ``hull_max_ratio`` times the slice's pixels; hull pixels
       farther than ``hull_depth_mm`` (in-plane, mm) from the lung are
       dropped (0: no limit);
    i. per lung, keep every voxel within ``dilate_mm`` (Euclidean, mm) of it;
    j. voxels that h or i added above ``bone_hu`` are removed.

    Where lungs' additions overlap: hull before dilation, lung 1 first.
    Returns the boolean mask (the 0/1/2 labels with ``labels=True``) and,
    with ``return_info``, a dict of counts and volumes.  Raises
    ``ValueError("no lung found: ...")`` when no component survives.
    """
    spacing = np.asarray(spacing, dtype=np.float64)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    comp, n = ndimage.label(hu1 < threshold_hu)
    counts = np.bincount(comp.ravel(), minlength=n + 1)
    touches = np.zeros(n + 1, dtype=bool)
    for face in (comp[:, 0, :], comp[:, -1, :], comp[:, :, 0], comp[:, :, -1]):
        touches[np.unique(face)] = True
    volumes = counts * voxel_ml
    inner = np.flatnonzero(~touches[1:]) + 1
    big = inner[volumes[inner] >= min_component_ml]
    info = {
        "components": int(n),
        "touching_border": int(touches[1:].sum()),
        "inner": int(inner.size),
        "inner_below_min": int(inner.size - big.size),
    }
    if big.size == 0:
        raise ValueError(
            f"no lung found: {n} components below {threshold_hu} HU, {info['touching_border']} touch the "
            f"in-plane border, {info['inner_below_min']} of the other {inner.size} are below {min_component_ml} mL"
        )
    # Largest first; stable sort keeps the lower label (earlier raster voxel) first on ties.
    big = big[np.argsort(-counts[big], kind="stable")]
    kept = [int(big[0])]
    if big.size > 1 and volumes[big[1]] >= second_lung_fraction * volumes[big[0]]:
        kept.append(int(big[1]))
    info["kept_ml"] = [float(volumes[k]) for k in kept]
    info["next_ml"] = float(volumes[big[len(kept)]]) if big.size > len(kept) else 0.0

    lut = np.zeros(n + 1, dtype=np.uint8)
    for i, k in enumerate(kept):
        lut[k] = i + 1
    painted = lut[comp]
    del comp

    # Work inside the bounding box grown by the dilation reach (+1 voxel so that
    # per-slice hole filling sees a background frame); outside it nothing can
    # be within dilate_mm of the mask, so the result is unchanged.
    box = _bbox(painted > 0)
    reach = [int(math.floor(max(dilate_mm, 0.0) / s)) + 1 for s in spacing]
    sl = tuple(
        slice(max(lo - r, 0), min(hi + r, dim - 1) + 1) for (lo, hi), r, dim in zip(box, reach, painted.shape)
    )
    seeds = painted[sl]
    filled = np.stack([ndimage.binary_fill_holes(s) for s in seeds > 0])
    core, erosions = _split_lungs(filled, seeds, split_max_erosions, split_max_ratio)
    hu_sub = hu1[sl]
    out = core.copy()
    hulls = []
    for lab in (1, 2):
        lung = core == lab
        if not lung.any():
            continue
        hull, hulled = _hull_slices(lung, hull_max_ratio)
        if hull_depth_mm > 0:
            near = np.stack([ndimage.distance_transform_edt(~s, sampling=spacing[1:]) <= hull_depth_mm for s in lung])
            hull &= near | lung
        hulls.append((lab, hull))
        info[f"hulled_slices_{lab}"] = hulled
    for lab, hull in hulls:
        out[(out == 0) & hull] = lab
    for lab, hull in hulls:
        near = ndimage.distance_transform_edt(~hull, sampling=spacing) <= dilate_mm
        out[(out == 0) & near] = lab
    if bone_hu is not None:
        bone = (out > 0) & (core == 0) & (hu_sub > bone_hu)
        info["bone_removed_ml"] = float(bone.sum() * voxel_ml)
        out[bone] = 0
    info["split_erosions"] = erosions if (core == 2).any() else None
    info["threshold_ml"] = float((core > 0).sum() * voxel_ml)
    result = np.zeros(painted.shape, dtype=np.uint8)
    result[sl] = out
    if return_info:
        return (result if labels else result > 0), info
    return result if labels else result > 0


# --------------------------------------------------------------------------
# 4. crop
# --------------------------------------------------------------------------
def crop(hu1: np.ndarray, mask: np.ndarray):
    """Crop volume and mask to the mask's bounding box, inclusive on every axis.

    Returns ``(hu_crop, mask_crop, bbox)`` with ``bbox = [(z0, z1), (y0, y1),
    (x0, x1)]``; ``hu_crop = hu1[z0:z1+1, y0:y1+1, x0:x1+1]`` (copies).
    """
    if hu1.shape != mask.shape:
        raise ValueError(f"crop: volume {hu1.shape} and mask {mask.shape} differ in shape")
    if not mask.any():
        raise ValueError("crop: empty mask")
    bbox = _bbox(mask)
    sl = tuple(slice(lo, hi + 1) for lo, hi in bbox)
    return hu1[sl].copy(), mask[sl].copy(), bbox


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------
def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def run_all(folder: str, target_mm: float = 1.0, **mask_kwargs):
    """Run every step on one folder; return (results dict, timings dict in seconds)."""
    t = {}
    t0 = time.perf_counter()
    hu, spacing, origin, uid, files = ingest(folder)
    t1 = time.perf_counter()
    hu1, spacing1 = resample(hu, spacing, target_mm)
    t2 = time.perf_counter()
    mask, info = lung_mask(hu1, spacing1, return_info=True, **mask_kwargs)
    t3 = time.perf_counter()
    hu_crop, mask_crop, bbox = crop(hu1, mask)
    t4 = time.perf_counter()
    t.update(ingest=t1 - t0, resample=t2 - t1, mask=t3 - t2, crop=t4 - t3, total=t4 - t0)
    res = dict(
        hu=hu, spacing=spacing, origin=origin, series_uid=uid, files=files, hu1=hu1, spacing1=spacing1,
        mask=mask, mask_info=info, hu_crop=hu_crop, mask_crop=mask_crop, bbox=bbox,
    )
    return res, t


def main(argv=None) -> int:
    """``preprocess.py DICOM_DIR --out OUT.npz [--json]``."""
    p = argparse.ArgumentParser(description="lungflow CT preprocessing (Python reference peer)")
    p.add_argument("dicom_dir")
    p.add_argument("--out", required=True, help="output .npz file")
    p.add_argument("--json", action="store_true", help="print timings and peak RSS as JSON")
    p.add_argument("--target-mm", type=float, default=1.0)
    p.add_argument("--threshold-hu", type=float, default=-320)
    p.add_argument("--min-component-ml", type=float, default=5.0)
    p.add_argument("--second-lung-fraction", type=float, default=0.2)
    p.add_argument("--dilate-mm", type=float, default=6.0)
    p.add_argument("--hull-max-ratio", type=float, default=2.0)
    p.add_argument("--hull-depth-mm", type=float, default=20.0)
    a = p.parse_args(argv)
    try:
        res, t = run_all(
            a.dicom_dir, a.target_mm, threshold_hu=a.threshold_hu, min_component_ml=a.min_component_ml,
            second_lung_fraction=a.second_lung_fraction, dilate_mm=a.dilate_mm,
            hull_max_ratio=a.hull_max_ratio, hull_depth_mm=a.hull_depth_mm,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    w0 = time.perf_counter()
    np.savez(
        a.out, hu=res["hu"], spacing=res["spacing"], origin=res["origin"], hu1=res["hu1"],
        spacing1=res["spacing1"], mask=res["mask"], hu_crop=res["hu_crop"], mask_crop=res["mask_crop"],
        bbox=np.asarray(res["bbox"], dtype=np.int64), series_uid=np.asarray(res["series_uid"]),
    )
    t["write"] = time.perf_counter() - w0
    report = {
        "series_uid": res["series_uid"],
        "slices": len(res["files"]),
        "shape": list(res["hu"].shape),
        "spacing_mm": res["spacing"].tolist(),
        "shape1": list(res["hu1"].shape),
        "spacing1_mm": res["spacing1"].tolist(),
        "bbox": res["bbox"],
        "mask_litres": float(res["mask"].sum() * np.prod(res["spacing1"]) / 1e6),
        "seconds": {k: round(v, 4) for k, v in t.items()},
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
    if a.json:
        print(json.dumps(report))
    else:
        for k in ("ingest", "resample", "mask", "crop", "total", "write"):
            print(f"{k:9s} {t[k]:8.3f} s")
        print(f"shape {report['shape']} -> {report['shape1']}, bbox {report['bbox']}, "
              f"mask {report['mask_litres']:.3f} L, peak RSS {report['peak_rss_mib']} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
