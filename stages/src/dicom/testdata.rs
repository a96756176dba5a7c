//! Small real slices for the reader's tests, written by [`writer`](super::writer).

use std::path::{Path, PathBuf};

use super::writer::{PixelEncoding, SliceInfo, write_slice};

/// Writes a 16 x 16 slice of series `series` at height `z` mm (HU = column
/// index x 10, one padding pixel) to `dir/name`.
pub fn slice(dir: &Path, name: &str, series: &str, z: f64) -> PathBuf {
    let path = dir.join(name);
    let sop = format!("1.2.3.4.{}", (z * 10.0).round() as i64 + 1000);
    let info = SliceInfo {
        patient_id: "p1",
        study_uid: "1.2.3",
        series_uid: series,
        sop_uid: &sop,
        frame_uid: "1.2.3.9",
        instance: 1,
        position: [-8.0, -8.0, z],
        pixel_mm: 0.75,
        slice_mm: 2.5,
        matrix: 16,
        encoding: PixelEncoding::Signed,
    };
    let pixels: Vec<Option<i16>> = (0..256).map(|i| if i == 0 { None } else { Some((i % 16) as i16 * 10) }).collect();
    write_slice(&path, &info, &pixels).unwrap();
    path
}

/// The bytes of one such slice.
pub fn slice_bytes() -> Vec<u8> {
    let dir = lungflow_testkit::scratch("slice-bytes");
    std::fs::read(slice(&dir, "a.dcm", "1.2.3.1", 0.0)).unwrap()
}
