//! `prediction.json`, one patient's probability of cancer: `id`,
//! `probability` (unclipped) and `symmetries` (how many cube symmetries were
//! averaged).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::StageError;

/// The prediction file.
pub const PREDICTION_FILE: &str = "prediction.json";

/// One patient's prediction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Patient id.
    pub id: String,
    /// Probability of cancer (not clipped).
    pub probability: f64,
    /// Cube symmetries averaged (1 = the feature map as is).
    pub symmetries: usize,
}

/// Writes a prediction file.
pub fn write_prediction(path: &Path, p: &Prediction) -> Result<(), StageError> {
    let text = serde_json::to_string_pretty(p).map_err(StageError::msg)?;
    std::fs::write(path, text).map_err(|e| StageError(format!("cannot write {}: {e}", path.display())))
}

/// Reads a prediction file.
pub fn read_prediction(path: &Path) -> Result<Prediction, StageError> {
    let text = std::fs::read_to_string(path).map_err(|e| StageError(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| StageError(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predictions_round_trip() {
        let path = std::env::temp_dir().join(format!("lf-prediction-{}.json", std::process::id()));
        let p = Prediction { id: "a".into(), probability: 0.25, symmetries: 4 };
        write_prediction(&path, &p).unwrap();
        assert_eq!(read_prediction(&path).unwrap(), p);
        std::fs::remove_file(&path).ok();
        assert!(read_prediction(&path).unwrap_err().0.starts_with(&path.display().to_string()));
    }
}
