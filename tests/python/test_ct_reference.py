"""lungflow's CT stages against the Python reference peer (peers/python) and
against pydicom directly, on the real series in ../shared/data/ct.

Run through `cargo test` (tests/python_reference.rs sets LUNGFLOW_BIN and
LUNGFLOW_CT_DATA), or by hand:
    LUNGFLOW_BIN=target/release/lungflow python3 -m pytest -q tests/python
Tolerances: HU exact; resampled HU within 1 HU on at most 1e-4 of voxels
(float32 rounding ties); spacing 1e-9 relative; lung mask Dice >= 0.95.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import blake3
import numpy as np
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pydicom
import pytest
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "peers" / "python"))
import preprocess as P  # noqa: E402

DATA = Path(os.environ.get("LUNGFLOW_CT_DATA", ROOT.parent / "shared" / "data" / "ct"))
BIN = os.environ.get("LUNGFLOW_BIN", str(ROOT / "target" / "release" / "lungflow"))
CHEST = ["Lung_Dx-A0001", "LIDC-IDRI-0001", "LIDC-IDRI-0002", "ct-3slice"]


def lungflow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BIN, *args], capture_output=True, text=True)


def exec_kind(kind: str, inputs: dict[str, Path], out: Path) -> Path:
    args = ["exec", kind, "--out", str(out)]
    for name, path in inputs.items():
        args += ["--input", f"{name}={path}"]
    done = lungflow(*args)
    assert done.returncode == 0, done.stderr
    return out


def read_grid(path: Path, column: str):
    table = ipc.open_file(path).read_all()
    meta = json.loads(table.schema.metadata[b"lungflow"])
    assert table.column("z").to_pylist() == list(range(meta["shape"][0]))
    values = np.concatenate([chunk.values.to_numpy() for chunk in table.column(column).chunks])
    return values.reshape(meta["shape"]), meta, table.schema


@pytest.fixture(scope="module", params=CHEST)
def series(request, tmp_path_factory):
    """Runs the three stages on one real series, and the reference on it."""
    name = request.param
    src = DATA / "chest" / name
    out = tmp_path_factory.mktemp(name)
    exec_kind("hu_volume", {"dicom": src}, out / "hu")
    exec_kind("resample", {"volume": out / "hu"}, out / "iso")
    exec_kind("lung_mask", {"volume": out / "iso"}, out / "lungs")
    ref = {}
    ref["hu"], ref["spacing"], ref["origin"], ref["uid"], ref["files"] = P.ingest(str(src))
    ref["hu1"], ref["spacing1"] = P.resample(ref["hu"], ref["spacing"])
    ref["mask"] = P.lung_mask(ref["hu1"], ref["spacing1"])
    return name, src, out, ref


def test_hu_is_voxel_exact(series):
    name, src, out, ref = series
    hu, meta, schema = read_grid(out / "hu" / "volume.arrow", "hu")
    assert schema.field("hu").type.value_type == "int16"
    assert schema.field("hu").type.list_size == meta["shape"][1] * meta["shape"][2]
    assert set(meta) >= {"spacing_mm", "origin_mm", "shape", "patient_id", "series_uid"}
    assert hu.shape == ref["hu"].shape
    assert np.array_equal(hu, ref["hu"]), f"{name}: {np.count_nonzero(hu != ref['hu'])} voxels differ"
    assert np.allclose(meta["spacing_mm"], ref["spacing"], rtol=1e-9)
    # lungflow writes every array field [z, y, x]; the peer's origin is DICOM's [x, y, z].
    assert np.allclose(meta["origin_mm"][::-1], ref["origin"], rtol=1e-9)
    assert meta["series_uid"] == ref["uid"]


def test_volumes_and_masks_are_stored_compressed(series):
    """Issue 31: zstd buffers, which pyarrow reads as it reads any IPC file."""
    name, _, out, _ = series
    for rel, column in [("hu/volume.arrow", "hu"), ("iso/volume.arrow", "hu"), ("lungs/volume.arrow", "hu"), ("lungs/mask.arrow", "mask")]:
        values, _, _ = read_grid(out / rel, column)
        stored = (out / rel).stat().st_size
        assert stored < 0.9 * values.nbytes, f"{name}/{rel}: {stored} bytes for {values.nbytes} of values"


def test_hu_equals_pydicom_pixel_array_times_slope_plus_intercept(series):
    """Independent of the peer: pydicom's raw values, sorted by position."""
    name, src, out, _ = series
    hu, _, _ = read_grid(out / "hu" / "volume.arrow", "hu")
    datasets = [pydicom.dcmread(f) for f in sorted(src.iterdir())]
    o = np.array(datasets[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(o[:3], o[3:])
    datasets.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, dtype=float), normal)))
    raw = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in datasets])
    padding = np.zeros(raw.shape, dtype=bool)
    for k, d in enumerate(datasets):
        if "PixelPaddingValue" in d:
            pad = int(d.PixelPaddingValue)
            if d.PixelRepresentation == 1 and pad >= 1 << (d.BitsAllocated - 1):
                pad -= 1 << d.BitsAllocated
            padding[k] = d.pixel_array == pad
    in_field = (raw >= -1100) & ~padding
    assert np.array_equal(hu[in_field], np.round(raw[in_field]).astype(np.int16)), name
    assert np.all(hu[~in_field] == -1000), name


def test_resampled_hu_matches_the_reference(series):
    name, _, out, ref = series
    hu1, meta, _ = read_grid(out / "iso" / "volume.arrow", "hu")
    assert hu1.shape == ref["hu1"].shape
    assert np.allclose(meta["spacing_mm"], ref["spacing1"], rtol=1e-9)
    diff = np.abs(hu1.astype(np.int32) - ref["hu1"].astype(np.int32))
    assert diff.max() <= 1, f"{name}: max difference {diff.max()} HU"
    assert np.count_nonzero(diff) <= 1e-4 * diff.size, f"{name}: {np.count_nonzero(diff)} voxels differ by 1 HU"


def full_mask(out: Path, shape) -> np.ndarray:
    crop, _, _ = read_grid(out / "lungs" / "mask.arrow", "mask")
    z0, y0, x0, z1, y1, x1 = json.loads((out / "lungs" / "mask.json").read_text())["bbox"]
    mask = np.zeros(shape, dtype=bool)
    mask[z0 : z1 + 1, y0 : y1 + 1, x0 : x1 + 1] = crop.astype(bool)
    return mask


def test_lung_mask_agrees_with_the_reference(series):
    name, _, out, ref = series
    mask = full_mask(out, ref["hu1"].shape)
    want = ref["mask"]
    dice = 2 * np.count_nonzero(mask & want) / (np.count_nonzero(mask) + np.count_nonzero(want))
    print(f"{name}: Dice {dice:.6f}")
    assert dice >= 0.95, f"{name}: Dice {dice}"
    crop_hu, meta, _ = read_grid(out / "lungs" / "volume.arrow", "hu")
    z0, y0, x0, z1, y1, x1 = json.loads((out / "lungs" / "mask.json").read_text())["bbox"]
    ref_crop, _, _ = P.crop(ref["hu1"], want)
    assert crop_hu.shape == (z1 - z0 + 1, y1 - y0 + 1, x1 - x0 + 1), "the crop is inclusive"
    assert crop_hu.shape == ref_crop.shape


def test_lung_mask_is_plausible(series):
    """A reference can share a mistake: check the mask against the anatomy."""
    name, _, out, ref = series
    hu1 = ref["hu1"]
    mask = full_mask(out, hu1.shape)
    # body: everything not connected (through air) to the in-plane border
    labels, _ = ndimage.label(hu1 < -320)
    border = np.unique(np.concatenate([labels[:, 0, :].ravel(), labels[:, -1, :].ravel(), labels[:, :, 0].ravel(), labels[:, :, -1].ravel()]))
    outside = np.isin(labels, border[border > 0])
    body = np.stack([ndimage.binary_fill_holes(~s) for s in outside])
    dark = body & (hu1 < -500)
    coverage = np.count_nonzero(dark & mask) / np.count_nonzero(dark)
    print(f"{name}: coverage {coverage:.4f}")
    assert coverage >= 0.90, f"{name}: the mask holds {coverage:.3f} of the dark voxels inside the body"
    if name == "Lung_Dx-A0001":
        litres = np.count_nonzero(mask) * np.prod(ref["spacing1"]) / 1e6
        assert 5.0 <= litres <= 10.0, f"whole-chest lung volume {litres:.2f} L"


def test_sources_table_lists_every_file_with_its_digest(series):
    name, src, out, _ = series
    table = pq.read_table(out / "hu" / "sources.parquet")
    assert table.column_names == ["z", "input", "path", "sop_instance_uid", "size", "blake3"]
    rows = table.to_pylist()
    assert len(rows) == len(list(src.iterdir()))
    for row in rows:
        # Paths are relative to the input folder, so the table does not
        # depend on where the data lies.
        assert row["input"] == "dicom" and not Path(row["path"]).is_absolute()
        path = src / row["path"]
        data = path.read_bytes()
        assert row["size"] == len(data)
        assert row["blake3"] == blake3.blake3(data).hexdigest()
        assert row["sop_instance_uid"] == pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID


SYNTAXES = {
    "UNC": "exact",
    "RLE": "exact",
    "JPLL": "exact",
    "J2KR": "exact",
    "J2KI": "lossy",
    "JLSL": "unsupported",
    "JLSN": "unsupported",
}


@pytest.mark.parametrize("syntax", sorted(SYNTAXES))
def test_transfer_syntaxes(syntax, tmp_path):
    src = DATA / "syntaxes" / f"CT1_{syntax}.dcm"
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(src, folder / src.name)
    done = lungflow("exec", "hu_volume", "--input", f"dicom={folder}", "--out", str(tmp_path / "out"))
    if SYNTAXES[syntax] == "unsupported":
        assert done.returncode == 1
        assert "JPEG-LS" in done.stderr and str(folder / src.name) in done.stderr, done.stderr
        return
    assert done.returncode == 0, done.stderr
    hu, _, _ = read_grid(tmp_path / "out" / "volume.arrow", "hu")
    ref = P.ingest(str(folder))[0]
    diff = np.abs(hu.astype(np.int32) - ref.astype(np.int32))
    if SYNTAXES[syntax] == "exact":
        assert diff.max() == 0, f"{syntax}: max difference {diff.max()}"
        unc = tmp_path / "unc"
        unc.mkdir()
        shutil.copy(DATA / "syntaxes" / "CT1_UNC.dcm", unc)
        assert np.array_equal(hu, P.ingest(str(unc))[0]), "lossless decodes equal the uncompressed slice"
    else:
        # Two JPEG 2000 decoders (openjp2 in Rust, OpenJPEG in pydicom) of one lossy stream.
        assert diff.max() <= 1, f"{syntax}: max difference {diff.max()} HU against pydicom"


def test_gantry_tilt_is_refused_like_the_reference(tmp_path):
    src = DATA / "oddities" / "ge-head-gantry-tilt"
    done = lungflow("exec", "hu_volume", "--input", f"dicom={src}", "--out", str(tmp_path / "out"))
    assert done.returncode == 1 and "gantry tilt" in done.stderr
    with pytest.raises(ValueError, match="gantry tilt"):
        P.ingest(str(src))
