//! The tables of a baseline fitted on one score per patient
//! (`baseline_cv`), beside its `cv_predictions.parquet` (the classifier's
//! format, [`classifier`](super::classifier)) and `metrics.json`:
//!
//! - `cv_folds.parquet`, one row per repeat and fold: `repeat` and `fold`
//!   (int32, from 1), `patients` and `cancers` held out (int32), the model
//!   fitted on the other folds (`intercept`, `slope`, float64: see
//!   [`logistic`](crate::models::logistic)), and its `log_loss`, `accuracy`
//!   and `auc` on the held-out patients (float64);
//! - `predictions.parquet`, one row per scored patient, labelled or not:
//!   `id` (text), `score` and `probability` (float64) from the model fitted
//!   on every labelled patient.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int32Array, RecordBatch, StringArray};

pub use super::classifier::CV_FOLDS_TABLE;
use super::classifier::{ID_COLUMN, PROBABILITY_COLUMN, SetScores};
use super::table::write_parquet;
use crate::StageError;

/// Every scored patient's probability from the model fitted on all labels.
pub const PREDICTIONS_TABLE: &str = "predictions.parquet";

/// One repeat and fold's row of `cv_folds.parquet`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FoldFit {
    /// The repeat, from 1.
    pub repeat: usize,
    /// The fold, from 1.
    pub fold: usize,
    /// Patients held out.
    pub patients: usize,
    /// How many of them have cancer.
    pub cancers: usize,
    /// The fitted intercept.
    pub intercept: f64,
    /// The fitted slope (per standard deviation of the training scores).
    pub slope: f64,
    /// Scores on the held-out patients.
    pub scores: SetScores,
}

/// One patient's row of `predictions.parquet`.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    /// Patient id.
    pub id: String,
    /// The patient's score.
    pub score: f64,
    /// The probability of cancer.
    pub probability: f64,
}

/// Writes `dir/cv_folds.parquet`.
pub fn write_fold_fits(dir: &Path, rows: &[FoldFit]) -> Result<(), StageError> {
    let int = |f: &dyn Fn(&FoldFit) -> usize| Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| f(r) as i32))) as ArrayRef;
    let real = |f: &dyn Fn(&FoldFit) -> f64| Arc::new(Float64Array::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let batch = RecordBatch::try_from_iter([
        ("repeat", int(&|r| r.repeat)),
        ("fold", int(&|r| r.fold)),
        ("patients", int(&|r| r.patients)),
        ("cancers", int(&|r| r.cancers)),
        ("intercept", real(&|r| r.intercept)),
        ("slope", real(&|r| r.slope)),
        ("log_loss", real(&|r| r.scores.log_loss)),
        ("accuracy", real(&|r| r.scores.accuracy)),
        ("auc", real(&|r| r.scores.auc)),
    ])
    .map_err(StageError::msg)?;
    write_parquet(&dir.join(CV_FOLDS_TABLE), &batch)
}

/// Writes `dir/predictions.parquet`.
pub fn write_scored(dir: &Path, rows: &[Scored]) -> Result<(), StageError> {
    let batch = RecordBatch::try_from_iter([
        (ID_COLUMN, Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.id.as_str()))) as ArrayRef),
        ("score", Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.score)))),
        (PROBABILITY_COLUMN, Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.probability)))),
    ])
    .map_err(StageError::msg)?;
    write_parquet(&dir.join(PREDICTIONS_TABLE), &batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::table::{read_rows, read_text_column};

    #[test]
    fn the_tables_hold_the_documented_columns() {
        let dir = std::env::temp_dir().join(format!("lf-baseline-format-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let scores = SetScores { log_loss: 0.5, accuracy: 0.75, auc: 0.875 };
        write_fold_fits(&dir, &[FoldFit { repeat: 2, fold: 3, patients: 4, cancers: 1, intercept: -1.0, slope: 2.0, scores }]).unwrap();
        let row = &read_rows(&dir.join(CV_FOLDS_TABLE)).unwrap()[0];
        let names: Vec<&str> = row.keys().map(String::as_str).collect();
        assert_eq!(names.len(), 9);
        assert_eq!(
            (row["repeat"].clone(), row["fold"].clone(), row["slope"].clone(), row["auc"].clone()),
            (2.into(), 3.into(), 2.0.into(), 0.875.into())
        );
        write_scored(
            &dir,
            &[Scored { id: "b".into(), score: 12.0, probability: 0.9 }, Scored { id: "a".into(), score: 0.0, probability: 0.1 }],
        )
        .unwrap();
        assert_eq!(read_text_column(&dir.join(PREDICTIONS_TABLE), ID_COLUMN).unwrap(), ["b", "a"]);
        assert_eq!(read_rows(&dir.join(PREDICTIONS_TABLE)).unwrap()[1]["probability"], 0.1);
        std::fs::remove_dir_all(dir).ok();
    }
}
