"""pytest checks of the Python reference preprocessing.

Synthetic tests always run; tests on the real data under
``/work/shared/data/ct`` (or ``$LUNGFLOW_CT_DATA``) are skipped when it is
absent.  Real files are only ever copied into pytest's temporary folders.

Run: ``python -m pytest -q peers/python``
"""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import preprocess as P  # noqa: E402

DATA = os.environ.get("LUNGFLOW_CT_DATA", "/work/shared/data/ct")
needs_data = pytest.mark.skipif(not os.path.isdir(DATA), reason="real CT data not available")


# ---------------------------------------------------------------- rounding
def test_round_half_away_from_zero():
    x = np.array([0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.49999997, 1.2, -1.7], dtype=np.float32)
    assert P.round_half_away(x).tolist() == [1, -1, 2, -2, 3, -3, 0, 0, 1, -2]
    y = np.array([0.49999999999999994, 2.5, -1024.5], dtype=np.float64)
    assert P.round_half_away(y).tolist() == [0, 3, -1025]


# ---------------------------------------------------------------- resample
def test_resample_sizes_and_alignment():
    hu = np.zeros((64, 4, 5), dtype=np.int16)
    hu[:] = (np.arange(64, dtype=np.int16) * 10)[:, None, None]
    out, sp = P.resample(hu, [5.0, 1.0, 1.0])
    assert out.shape == (316, 4, 5)
    assert sp.tolist() == [1.0, 1.0, 1.0]
    # A linear ramp is reproduced; first and last slices stay aligned.
    assert out[0, 0, 0] == 0 and out[-1, 0, 0] == 630
    assert out[5, 0, 0] == 10 and out[7, 0, 0] == 14


def test_resample_rounding_rule_and_single_slice():
    # extent 2.5 -> round half up gives 4 samples (Python's round() would give 3)
    out, sp = P.resample(np.zeros((2, 1, 1), np.int16), [2.5, 1.0, 1.0])
    assert out.shape == (4, 1, 1) and sp[0] == pytest.approx(2.5 / 3)
    out, sp = P.resample(np.ones((1, 3, 3), np.int16), [5.0, 2.0, 2.0])
    assert out.shape == (1, 5, 5) and sp.tolist() == [5.0, 1.0, 1.0]
    # tiny extent -> one sample, old spacing kept
    out, sp = P.resample(np.ones((2, 1, 1), np.int16), [0.4, 1.0, 1.0])
    assert out.shape == (1, 1, 1) and sp[0] == 0.4


def test_resample_half_values_round_away():
    hu = np.array([[[-1]], [[0]]], dtype=np.int16)  # midpoint -0.5 -> -1
    out, _ = P.resample(hu, [2.0, 1.0, 1.0])
    assert out[:, 0, 0].tolist() == [-1, -1, 0]


# ---------------------------------------------------------------- lung mask
def _phantom():
    """Body of soft tissue in air, two 'lungs', a bubble at the top slice and a vessel."""
    z, y, x = 40, 60, 80
    hu = np.full((z, y, x), -1000, dtype=np.int16)      # outside air touches the border
    hu[:, 5:55, 5:75] = 40                                 # body
    hu[2:38, 15:45, 10:35] = -850                          # right lung 36*30*25 = 27000 vox
    hu[0:30, 15:45, 45:70] = -850                          # left lung touches z == 0 (allowed)
    hu[20, 30, 20] = 100                                   # vessel inside the lung
    hu[10:12, 48:50, 38:40] = -900                         # bowel gas, 8 voxels
    return hu


def test_lung_mask_components_and_rules():
    hu = _phantom()
    mask, info = P.lung_mask(hu, [1.0, 1.0, 1.0], dilate_mm=0.0, return_info=True)
    assert info["touching_border"] == 1
    assert len(info["kept_ml"]) == 2
    assert mask[20, 30, 20]                                # hole filled
    assert mask[0, 20, 50]                                 # z-border component kept
    assert not mask[10, 48, 38]                            # small gas dropped
    assert not mask[:, 0, :].any()
    assert mask.sum() == 36 * 30 * 25 + 30 * 30 * 25


def test_lung_mask_dilation_is_euclidean_in_mm():
    hu = np.full((21, 21, 21), 40, dtype=np.int16)
    hu[10, 10, 10] = -900
    mask = P.lung_mask(hu, [1.0, 1.0, 1.0], min_component_ml=0.0, dilate_mm=3.0)
    zz, yy, xx = np.mgrid[:21, :21, :21]
    ball = (zz - 10) ** 2 + (yy - 10) ** 2 + (xx - 10) ** 2 <= 9
    assert np.array_equal(mask, ball)
    mask = P.lung_mask(hu, [2.0, 1.0, 1.0], min_component_ml=0.0, dilate_mm=3.0)
    ell = (2 * (zz - 10)) ** 2 + (yy - 10) ** 2 + (xx - 10) ** 2 <= 9
    assert np.array_equal(mask, ell)


def test_lung_mask_second_lung_fraction():
    hu = _phantom()
    hu[0:30, 15:45, 45:70] = 40
    hu[5:10, 20:30, 50:60] = -850                          # 500 mL-ish small second region
    mask, info = P.lung_mask(hu, [1.0, 1.0, 1.0], min_component_ml=0.1, dilate_mm=0.0, return_info=True)
    assert len(info["kept_ml"]) == 1 and not mask[7, 25, 55]


def test_lung_mask_labels_by_side_and_hulls_a_bite_on_the_wall():
    hu = _phantom()
    hu[10:20, 15:20, 20:25] = 40                           # a mass biting into the right lung's wall
    labels, info = P.lung_mask(hu, [1.0, 1.0, 1.0], dilate_mm=0.0, labels=True, return_info=True)
    assert labels[20, 30, 20] == 1 and labels[20, 30, 60] == 2   # 1 = lower x (the patient's right)
    assert info["split_erosions"] == 0                           # two components: no erosion
    assert (labels[10:20, 15:20, 20:25] == 1).all()              # the hull closes over the mass
    bare = P.lung_mask(hu, [1.0, 1.0, 1.0], dilate_mm=0.0, hull_max_ratio=0)
    assert not bare[10:20, 15:20, 20:25].any()


def test_lung_mask_splits_joined_lungs_and_removes_added_bone():
    hu = _phantom()
    hu[2:30, 29:31, 35:45] = -850                          # a bridge joins the two lungs
    labels, info = P.lung_mask(hu, [1.0, 1.0, 1.0], dilate_mm=3.0, labels=True, return_info=True)
    assert info["split_erosions"] is not None and info["split_erosions"] >= 1
    assert labels[20, 30, 20] == 1 and labels[20, 30, 60] == 2
    hu[:, 5:55, 5:75][hu[:, 5:55, 5:75] == 40] = 700       # the body is bone: nothing is added
    labels = P.lung_mask(hu, [1.0, 1.0, 1.0], dilate_mm=3.0, labels=True)
    assert (labels > 0).sum() == 36 * 30 * 25 + 30 * 30 * 25 + 28 * 2 * 10   # the lungs and the bridge only
    assert P.lung_mask(hu, [1.0, 1.0, 1.0], dilate_mm=3.0, bone_hu=None).sum() > (labels > 0).sum()


def test_no_lung_found():
    hu = np.full((5, 20, 20), -1000, dtype=np.int16)
    with pytest.raises(ValueError, match="no lung found"):
        P.lung_mask(hu, [1.0, 1.0, 1.0])


# ---------------------------------------------------------------- crop
def test_crop_inclusive():
    hu = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    mask = np.zeros(hu.shape, bool)
    mask[1, 2, 3] = mask[4, 5, 6] = True
    c, m, box = P.crop(hu, mask)
    assert box == [(1, 4), (2, 5), (3, 6)]
    assert c.shape == (4, 4, 4) and c[-1, -1, -1] == hu[4, 5, 6] and m.sum() == 2


# ---------------------------------------------------------------- ingest (real files)
def _copy(src_folder, dst, names=None, rename=None):
    os.makedirs(dst, exist_ok=True)
    for i, n in enumerate(sorted(os.listdir(src_folder)) if names is None else names):
        shutil.copy(os.path.join(src_folder, n), os.path.join(dst, rename(i, n) if rename else n))
    return dst


@needs_data
def test_ingest_order_ignores_file_names(tmp_path):
    src = os.path.join(DATA, "chest", "LIDC-IDRI-0002")
    hu, sp, origin, uid, files = P.ingest(src)
    assert hu.shape == (12, 512, 512) and sp[0] == pytest.approx(1.25)
    shuffled = _copy(src, str(tmp_path / "s"), rename=lambda i, n: f"{(i * 7) % 12:02d}-x.dcm")
    hu2, sp2, origin2, _, _ = P.ingest(shuffled)
    assert np.array_equal(hu, hu2) and np.allclose(origin, origin2)


@needs_data
def test_ingest_refuses_gantry_tilt():
    with pytest.raises(ValueError, match="gantry tilt"):
        P.ingest(os.path.join(DATA, "oddities", "ge-head-gantry-tilt"))


@needs_data
def test_ingest_refuses_uneven_and_duplicate(tmp_path):
    src = os.path.join(DATA, "chest", "LIDC-IDRI-0002")
    names = sorted(os.listdir(src))
    gap = _copy(src, str(tmp_path / "gap"), names=names[:5] + names[6:])
    with pytest.raises(ValueError, match="uneven slice spacing"):
        P.ingest(gap)
    dup = _copy(src, str(tmp_path / "dup"))
    shutil.copy(os.path.join(src, names[3]), os.path.join(dup, "zz-copy.dcm"))
    with pytest.raises(ValueError, match="duplicate slice position"):
        P.ingest(dup)


@needs_data
def test_ingest_bad_files_are_named(tmp_path):
    src = os.path.join(DATA, "chest", "ct-3slice")
    folder = _copy(src, str(tmp_path / "bad"))
    (tmp_path / "bad" / ".hidden").write_text("ignored")
    assert P.ingest(folder)[0].shape[0] == 3
    junk = tmp_path / "bad" / "notes.txt"
    junk.write_text("not dicom")
    with pytest.raises(ValueError, match="notes.txt.*not a DICOM"):
        P.ingest(folder)
    junk.unlink()
    data = open(os.path.join(src, "02.dcm"), "rb").read()
    (tmp_path / "bad" / "02.dcm").write_bytes(data[: len(data) - 1000])
    with pytest.raises(ValueError, match="02.dcm"):
        P.ingest(folder)


@needs_data
def test_lidc_padding_and_unsigned_12bit():
    hu, sp, _, _, _ = P.ingest(os.path.join(DATA, "chest", "ct-3slice"))
    assert hu.min() >= -1100                               # -2000 padding mapped to -1000
    hu, sp, _, _, _ = P.ingest(os.path.join(DATA, "chest", "Lung_Dx-A0001"))
    assert hu.shape == (64, 512, 512) and sp.tolist() == [5.0, 0.841796875, 0.841796875]
    assert hu.min() == -1024


@needs_data
def test_syntaxes_lossless_agree(tmp_path):
    root = os.path.join(DATA, "syntaxes")
    ref = None
    for name in ("CT1_UNC.dcm", "CT1_RLE.dcm"):
        folder = _copy(root, str(tmp_path / name[:-4]), names=[name])
        hu = P.ingest(folder)[0]
        ref = hu if ref is None else ref
        assert np.array_equal(hu, ref)
