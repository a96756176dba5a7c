//! `prediction.json`, one patient's probability of cancer: `id`,
//! `probability` (unclipped), `symmetries` (how many cube symmetries were
//! averaged) and `models`: each averaged model's own probability, by its
//! folder inside the classifier's output (`.` for the kept model,
//! `folds/rRfF` for a cross-validation fold's), for the lineage.

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
    /// Each averaged model's probability (`probability` is their mean).
    #[serde(default)]
    pub models: Vec<ModelScore>,
}

/// One model's probability for the patient.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelScore {
    /// The model's folder inside the classifier's output.
    pub model: String,
    /// Its probability (mean over the symmetries).
    pub probability: f64,
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
        let p = Prediction {
            id: "a".into(),
            probability: 0.25,
            symmetries: 4,
            models: vec![ModelScore { model: ".".into(), probability: 0.25 }],
        };
        write_prediction(&path, &p).unwrap();
        assert_eq!(read_prediction(&path).unwrap(), p);
        std::fs::remove_file(&path).ok();
        assert!(read_prediction(&path).unwrap_err().0.starts_with(&path.display().to_string()));
    }
}
