//! `features.arrow`, one patient's encoder features: a
//! [slice file](super::slices) with one row per code z-slice, `z` (int32) and
//! `features` (`FixedSizeList<Float32>` of channels × y × x, channel first).
//! The `lungflow` metadata holds the [`FeatureMeta`]: `channels`, `shape`
//! `[z, y, x]` (code voxels), `step` (input voxels per code voxel), `blocks`
//! (encoder blocks applied), `spacing_mm` of the input and `patient_id`.
//!
//! Beside it, `lung.arrow` holds the lung mask on the same grid: per code
//! voxel the fraction (0 to 1) of its input voxels inside the mask, one row
//! of y × x `lung` values per code z-slice, with the same metadata.

use std::path::Path;

use arrow_array::types::Float32Type;
use serde::{Deserialize, Serialize};

use super::slices::{read_rows, write_rows};
use crate::StageError;

/// The feature file.
pub const FEATURES_FILE: &str = "features.arrow";

/// The lung mask on the feature grid.
pub const LUNG_FILE: &str = "lung.arrow";

/// What `features.arrow` says about itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureMeta {
    /// Feature channels.
    pub channels: usize,
    /// Code voxels [z, y, x].
    pub shape: [usize; 3],
    /// Input voxels per code voxel along each axis.
    pub step: usize,
    /// Encoder blocks applied.
    pub blocks: usize,
    /// Spacing of the encoded volume, mm.
    pub spacing_mm: [f64; 3],
    /// Patient id.
    pub patient_id: String,
}

/// Reads a feature file: its description and the values, `[z][c][y][x]`; a
/// map without values is an error.
pub fn read_features(path: &Path) -> Result<(FeatureMeta, Vec<f32>), StageError> {
    let (meta_json, data) = read_rows::<Float32Type>(path, "features")?;
    let meta: FeatureMeta = serde_json::from_str(&meta_json).map_err(|e| StageError(format!("cannot read {}: {e}", path.display())))?;
    let expected = meta.channels * meta.shape.iter().product::<usize>();
    if data.len() != expected || expected == 0 {
        return Err(StageError(format!(
            "cannot read {}: {} values for {} channels × {:?}",
            path.display(),
            data.len(),
            meta.channels,
            meta.shape
        )));
    }
    Ok((meta, data))
}

/// Writes a feature file: `data` holds the values `[z][c][y][x]` that `meta`
/// describes.
pub fn write_features(path: &Path, meta: &FeatureMeta, data: &[f32]) -> Result<(), StageError> {
    let row = meta.channels * meta.shape[1] * meta.shape[2];
    let json = serde_json::to_string(meta).map_err(StageError::msg)?;
    write_rows::<Float32Type>(path, "features", &json, row, data)
}

/// Writes `lung.arrow`: `fractions` `[z][y][x]` on the grid `meta` describes.
pub fn write_lung(path: &Path, meta: &FeatureMeta, fractions: &[f32]) -> Result<(), StageError> {
    let json = serde_json::to_string(meta).map_err(StageError::msg)?;
    write_rows::<Float32Type>(path, "lung", &json, meta.shape[1] * meta.shape[2], fractions)
}

/// Reads `lung.arrow`, checked against the features' description `expect`
/// (the same grid) and for fractions between 0 and 1.
pub fn read_lung(path: &Path, expect: &FeatureMeta) -> Result<Vec<f32>, StageError> {
    let (meta_json, data) = read_rows::<Float32Type>(path, "lung")?;
    let meta: FeatureMeta = serde_json::from_str(&meta_json).map_err(|e| StageError(format!("cannot read {}: {e}", path.display())))?;
    if meta.shape != expect.shape || data.len() != meta.shape.iter().product::<usize>() {
        return Err(StageError(format!(
            "{}: the lung grid {:?} ({} values) does not match the features' {:?}",
            path.display(),
            meta.shape,
            data.len(),
            expect.shape
        )));
    }
    if let Some(bad) = data.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(StageError(format!("{}: a lung fraction of {bad} is not between 0 and 1", path.display())));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_round_trip_and_empty_maps_are_refused() {
        let dir = std::env::temp_dir().join(format!("lf-features-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let meta = FeatureMeta { channels: 2, shape: [3, 1, 2], step: 4, blocks: 2, spacing_mm: [1.0; 3], patient_id: "p".into() };
        write_features(&dir.join(FEATURES_FILE), &meta, &data).unwrap();
        assert_eq!(read_features(&dir.join(FEATURES_FILE)).unwrap(), (meta.clone(), data));
        write_features(&dir.join("e.arrow"), &FeatureMeta { shape: [0, 1, 2], ..meta.clone() }, &[]).unwrap();
        assert!(read_features(&dir.join("e.arrow")).unwrap_err().0.contains("0 values for 2 channels"));
        let lung = [0.0, 0.5, 1.0, 0.25, 0.0, 1.0];
        write_lung(&dir.join(LUNG_FILE), &meta, &lung).unwrap();
        assert_eq!(read_lung(&dir.join(LUNG_FILE), &meta).unwrap(), lung);
        let other = FeatureMeta { shape: [2, 1, 3], ..meta.clone() };
        assert!(read_lung(&dir.join(LUNG_FILE), &other).unwrap_err().0.contains("does not match the features' [2, 1, 3]"));
        write_lung(&dir.join("bad.arrow"), &meta, &[0.0, 2.0, 0.0, 0.0, 0.0, 0.0]).unwrap();
        assert!(read_lung(&dir.join("bad.arrow"), &meta).unwrap_err().0.contains("a lung fraction of 2 is not between 0 and 1"));
        std::fs::remove_dir_all(dir).ok();
    }
}
