//! `features.arrow`, one patient's encoder features: a
//! [slice file](super::slices) with one row per code z-slice, `z` (int32) and
//! `features` (`FixedSizeList<Float32>` of channels × y × x, channel first).
//! The `lungflow` metadata holds the [`FeatureMeta`]: `channels`, `shape`
//! `[z, y, x]` (code voxels), `step` (input voxels per code voxel), `blocks`
//! (encoder blocks applied), `spacing_mm` of the input and `patient_id`.

use std::path::Path;

use arrow_array::types::Float32Type;
use serde::{Deserialize, Serialize};

use super::slices::{read_rows, write_rows};
use crate::StageError;

/// The feature file.
pub const FEATURES_FILE: &str = "features.arrow";

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
        write_features(&dir.join("e.arrow"), &FeatureMeta { shape: [0, 1, 2], ..meta }, &[]).unwrap();
        assert!(read_features(&dir.join("e.arrow")).unwrap_err().0.contains("0 values for 2 channels"));
        std::fs::remove_dir_all(dir).ok();
    }
}
