//! CT volumes and lung masks in memory, and their files: `volume.arrow`
//! (Hounsfield units) and `mask.arrow` (1 inside the lungs, 0 outside).
//!
//! Both are [slice files](super::slices): one row per axial slice, `z` and
//! `hu` (`FixedSizeList<Int16>`) or `mask` (`FixedSizeList<UInt8>`) of
//! rows*cols values, row-major y then x. The `lungflow` metadata is JSON:
//! `version`, then `spacing_mm`, `origin_mm` and `shape`, all `[z, y, x]`,
//! then `patient_id` and `series_uid`.
//!
//! Version 1 files (no `version` key) stored `origin_mm` as `[x, y, z]`; they
//! are read as version 2, with the origin turned round.

use std::path::Path;

use arrow_array::ArrowPrimitiveType;
use arrow_array::types::{Int16Type, UInt8Type};
use serde::{Deserialize, Serialize};

use super::slices::{read_rows, write_rows};
use crate::StageError;

/// The HU volume file every CT stage reads and writes.
pub const VOLUME_FILE: &str = "volume.arrow";
/// The lung mask file, beside a cropped volume.
pub const MASK_FILE: &str = "mask.arrow";
/// The version of the metadata written; 1 had `origin_mm` as `[x, y, z]`.
pub const FORMAT_VERSION: u32 = 2;

/// Where a volume sits and what it came from. Every array is `[z, y, x]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VolumeMeta {
    /// Voxel spacing [z, y, x] in mm.
    pub spacing_mm: [f64; 3],
    /// Patient-space position [z, y, x] in mm of the first voxel (0, 0, 0).
    pub origin_mm: [f64; 3],
    /// Number of voxels [z, y, x].
    pub shape: [usize; 3],
    /// Patient id.
    pub patient_id: String,
    /// SeriesInstanceUID of the source series.
    pub series_uid: String,
}

impl VolumeMeta {
    /// A volume's metadata for unit tests: origin 0, patient "p", series "s".
    #[cfg(test)]
    pub fn for_test(shape: [usize; 3], spacing_mm: [f64; 3]) -> VolumeMeta {
        VolumeMeta { spacing_mm, origin_mm: [0.0; 3], shape, patient_id: "p".into(), series_uid: "s".into() }
    }

    /// Voxels in the volume.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the volume holds no voxel.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Volume of one voxel in mm³.
    pub fn voxel_mm3(&self) -> f64 {
        self.spacing_mm.iter().product()
    }
}

/// A 3-D grid of values, z-major (then y, then x).
#[derive(Clone, Debug, PartialEq)]
pub struct Grid<T> {
    /// Geometry and provenance.
    pub meta: VolumeMeta,
    /// `shape[0] * shape[1] * shape[2]` values.
    pub data: Vec<T>,
}

/// Hounsfield units.
pub type Volume = Grid<i16>;
/// 1 inside, 0 outside.
pub type Mask = Grid<u8>;

impl<T: Copy> Grid<T> {
    /// Index of voxel (z, y, x).
    #[inline]
    pub fn index(&self, z: usize, y: usize, x: usize) -> usize {
        (z * self.meta.shape[1] + y) * self.meta.shape[2] + x
    }

    /// One axial slice.
    pub fn slice(&self, z: usize) -> &[T] {
        let n = self.meta.shape[1] * self.meta.shape[2];
        &self.data[z * n..(z + 1) * n]
    }
}

/// Writes an HU volume file (`volume.arrow`).
pub fn write_volume(path: &Path, v: &Volume) -> Result<(), StageError> {
    write_grid::<Int16Type>(path, "hu", &v.meta, &v.data)
}

/// Writes a mask file (`mask.arrow`).
pub fn write_mask(path: &Path, m: &Mask) -> Result<(), StageError> {
    write_grid::<UInt8Type>(path, "mask", &m.meta, &m.data)
}

/// Reads an HU volume file (`volume.arrow`), of any version.
pub fn read_volume(path: &Path) -> Result<Volume, StageError> {
    read_grid::<Int16Type>(path, "hu")
}

/// Reads a mask file (`mask.arrow`), of any version.
pub fn read_mask(path: &Path) -> Result<Mask, StageError> {
    read_grid::<UInt8Type>(path, "mask")
}

/// The metadata as written: the version first, then the fields.
#[derive(Serialize)]
struct Stored<'a> {
    version: u32,
    #[serde(flatten)]
    meta: &'a VolumeMeta,
}

/// The version of stored metadata (absent in version 1).
#[derive(Deserialize)]
struct StoredVersion {
    #[serde(default = "first_version")]
    version: u32,
}

fn first_version() -> u32 {
    1
}

fn write_grid<T: ArrowPrimitiveType>(path: &Path, column: &str, meta: &VolumeMeta, data: &[T::Native]) -> Result<(), StageError> {
    if data.len() != meta.len() {
        return Err(StageError(format!("cannot write {}: {} values for shape {:?}", path.display(), data.len(), meta.shape)));
    }
    // JSON has no NaN: a non-finite number would be written as null and fail the reader of a later stage.
    if meta.spacing_mm.iter().any(|s| !s.is_finite() || *s <= 0.0) || meta.origin_mm.iter().any(|o| !o.is_finite()) {
        return Err(StageError(format!(
            "cannot write {}: spacing {:?} mm must be finite and positive, origin {:?} mm finite",
            path.display(),
            meta.spacing_mm,
            meta.origin_mm
        )));
    }
    let stored = Stored { version: FORMAT_VERSION, meta };
    let json = serde_json::to_string(&stored).map_err(|e| StageError(format!("cannot write {}: {e}", path.display())))?;
    write_rows::<T>(path, column, &json, meta.shape[1] * meta.shape[2], data)
}

/// Metadata of any version, as version 2.
fn parse_meta(json: &str) -> Result<VolumeMeta, String> {
    let StoredVersion { version } = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let mut meta: VolumeMeta = serde_json::from_str(json).map_err(|e| e.to_string())?;
    match version {
        1 => meta.origin_mm.reverse(),
        FORMAT_VERSION => {}
        other => return Err(format!("volume format version {other} is newer than this lungflow reads ({FORMAT_VERSION})")),
    }
    Ok(meta)
}

fn read_grid<T: ArrowPrimitiveType>(path: &Path, column: &str) -> Result<Grid<T::Native>, StageError> {
    let (meta_json, data) = read_rows::<T>(path, column)?;
    let meta = parse_meta(&meta_json).map_err(|e| StageError(format!("cannot read {}: {e}", path.display())))?;
    if meta.is_empty() {
        return Err(StageError(format!("cannot read {}: shape {:?} holds no voxel", path.display(), meta.shape)));
    }
    if data.len() != meta.len() {
        return Err(StageError(format!("cannot read {}: {} values for shape {:?}", path.display(), data.len(), meta.shape)));
    }
    Ok(Grid { meta, data })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_non_finite_spacing_or_origin_is_refused_rather_than_written_as_null() {
        let dir = lungflow_testkit::scratch("volume");
        for spacing in [[f64::NAN, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, f64::INFINITY]] {
            let v = Volume { meta: VolumeMeta::for_test([1, 1, 1], spacing), data: vec![0] };
            let e = write_volume(&dir.join("v.arrow"), &v).unwrap_err().0;
            assert!(e.contains("must be finite and positive"), "{e}");
        }
        let mut meta = VolumeMeta::for_test([1, 1, 1], [1.0; 3]);
        meta.origin_mm[0] = f64::NAN;
        assert!(write_volume(&dir.join("v.arrow"), &Volume { meta, data: vec![0] }).is_err());
    }

    use super::*;

    fn meta() -> VolumeMeta {
        VolumeMeta {
            spacing_mm: [2.5, 0.7, 0.7],
            origin_mm: [100.0, 5.0, -10.0],
            shape: [11, 3, 4],
            patient_id: "p1".into(),
            series_uid: "1.2.3".into(),
        }
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("lf-volume-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn volume_and_mask_round_trip() {
        let v = Volume { meta: meta(), data: (0..132).map(|i| i as i16 * 37 - 2000).collect() };
        let m = Mask { meta: meta(), data: (0..132).map(|i| (i % 3 == 0) as u8).collect() };
        let dir = temp_dir("round-trip");
        write_volume(&dir.join(VOLUME_FILE), &v).unwrap();
        write_mask(&dir.join(MASK_FILE), &m).unwrap();
        assert_eq!(read_volume(&dir.join(VOLUME_FILE)).unwrap(), v);
        assert_eq!(read_mask(&dir.join(MASK_FILE)).unwrap(), m);
        assert!(read_mask(&dir.join(VOLUME_FILE)).is_err(), "a volume is not a mask");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn the_version_is_written_first_and_every_array_is_z_y_x() {
        let (json, _) = {
            let dir = temp_dir("version");
            let v = Volume { meta: meta(), data: vec![0; 132] };
            write_volume(&dir.join(VOLUME_FILE), &v).unwrap();
            let back = read_rows::<Int16Type>(&dir.join(VOLUME_FILE), "hu").unwrap();
            std::fs::remove_dir_all(dir).ok();
            back
        };
        assert!(json.starts_with(r#"{"version":2,"spacing_mm":[2.5,0.7,0.7],"origin_mm":[100.0,5.0,-10.0],"shape":[11,3,4]"#), "{json}");
    }

    #[test]
    fn a_version_1_file_reads_back_with_its_origin_turned_to_z_y_x() {
        let dir = temp_dir("v1");
        let path = dir.join(VOLUME_FILE);
        // As lungflow wrote it before version 2: no version, origin [x, y, z].
        let old = r#"{"spacing_mm":[2.5,0.7,0.7],"origin_mm":[-10.0,5.0,100.0],"shape":[11,3,4],"patient_id":"p1","series_uid":"1.2.3"}"#;
        let data: Vec<i16> = (0..132).collect();
        write_rows::<Int16Type>(&path, "hu", old, 12, &data).unwrap();
        let v = read_volume(&path).unwrap();
        assert_eq!(v.meta, meta());
        assert_eq!(v.meta.origin_mm, [100.0, 5.0, -10.0]);
        assert_eq!(v.data, data);
        write_rows::<Int16Type>(&path, "hu", &old.replace('{', r#"{"version":3,"#), 12, &data).unwrap();
        let err = read_volume(&path).unwrap_err();
        assert!(err.0.contains("version 3 is newer"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_volume_without_voxels_is_an_error_naming_the_file() {
        let dir = temp_dir("empty");
        let path = dir.join(VOLUME_FILE);
        let empty = Volume { meta: VolumeMeta { shape: [4, 0, 3], ..meta() }, data: Vec::new() };
        write_volume(&path, &empty).unwrap();
        let err = read_volume(&path).unwrap_err();
        assert_eq!(err.0, format!("cannot read {}: shape [4, 0, 3] holds no voxel", path.display()));
        std::fs::remove_dir_all(dir).ok();
    }
}
