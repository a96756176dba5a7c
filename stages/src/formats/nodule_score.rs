//! `score.json`, one patient's nodule score from a detector that learns
//! nothing: `score` (the diameter in mm of the largest nodule found, 0 when
//! none), and where that nodule is: `centre_voxel` (`[z, y, x]` in the lung
//! crop) and `centre_mm` (`[z, y, x]` in the crop volume's frame: its
//! `origin_mm` plus index times spacing), with `air_fraction` (how much of
//! the sphere around it is lung air); null without a nodule. Also
//! `candidates_tested`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::StageError;

/// The score file.
pub const SCORE_FILE: &str = "score.json";

/// One patient's nodule score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatientScore {
    /// Diameter of the largest nodule found, mm; 0 when none is.
    pub score: f64,
    /// Its centre voxel `[z, y, x]` in the crop.
    pub centre_voxel: Option<[usize; 3]>,
    /// Its centre `[z, y, x]` in mm, in the frame of the crop's `origin_mm`.
    pub centre_mm: Option<[f64; 3]>,
    /// The fraction of the sphere around it that is lung air.
    pub air_fraction: Option<f64>,
    /// Candidate balls tested, largest first, until one was a nodule.
    pub candidates_tested: usize,
}

/// Writes a score file.
pub fn write_score(path: &Path, s: &PatientScore) -> Result<(), StageError> {
    let text = serde_json::to_string_pretty(s).map_err(StageError::msg)?;
    std::fs::write(path, text).map_err(|e| StageError(format!("cannot write {}: {e}", path.display())))
}

/// Reads a score file; the score must be a finite number.
pub fn read_score(path: &Path) -> Result<PatientScore, StageError> {
    let text = std::fs::read_to_string(path).map_err(|e| StageError(format!("{}: {e}", path.display())))?;
    let s: PatientScore = serde_json::from_str(&text).map_err(|e| StageError(format!("{}: {e}", path.display())))?;
    if !s.score.is_finite() {
        return Err(StageError(format!("{}: the score {} is not a finite number", path.display(), s.score)));
    }
    Ok(s)
}

/// Every patient's score from a gathered input: one folder per patient
/// (named by its id), each with a `score.json`.
pub fn read_scores(dir: &Path) -> Result<BTreeMap<String, f64>, StageError> {
    let entries = std::fs::read_dir(dir).map_err(|e| StageError(format!("{}: {e}", dir.display())))?;
    let mut scores = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| StageError(format!("{}: {e}", dir.display())))?;
        if entry.path().is_dir() {
            let id = entry.file_name().to_string_lossy().into_owned();
            scores.insert(id, read_score(&entry.path().join(SCORE_FILE))?.score);
        }
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_round_trip_and_bad_files_are_named() {
        let dir = std::env::temp_dir().join(format!("lf-nodule-score-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(SCORE_FILE);
        let s = PatientScore {
            score: 12.5,
            centre_voxel: Some([1, 2, 3]),
            centre_mm: Some([-1.0, 2.0, 3.5]),
            air_fraction: Some(0.75),
            candidates_tested: 4,
        };
        write_score(&path, &s).unwrap();
        assert_eq!(read_score(&path).unwrap(), s);
        std::fs::write(&path, r#"{"score": "big", "candidates_tested": 0}"#).unwrap();
        assert!(read_score(&path).unwrap_err().0.starts_with(&path.display().to_string()));
        std::fs::write(&path, r#"{"score": 1e999, "candidates_tested": 0}"#).unwrap();
        let err = read_score(&path).unwrap_err().0;
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }
}
