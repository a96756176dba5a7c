//! What a trained classifier leaves beside [`training`](super::training)'s
//! files: its per-epoch scores (`metrics.parquet`, in the columns below), the
//! validation patients' probabilities (`validation.parquet`), with
//! cross-validation the per-fold scores (`cv_folds.parquet`) and every
//! labelled patient's out-of-fold probability (`cv_predictions.parquet`),
//! and the names of its two figures (`log_loss.png`, `auc.png`).
//!
//! The probability tables hold one row per patient: `id` (text), `cancer`
//! (the true label, boolean) and `probability` (unclipped); the out-of-fold
//! table has the patient's `fold` (int32) between the last two.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int32Array, RecordBatch, StringArray};

use super::table::{read_numeric_columns, read_text_column, write_parquet};
use super::training::METRICS_TABLE;
use crate::StageError;

/// Validation probabilities of the kept classifier.
pub const VALIDATION_TABLE: &str = "validation.parquet";
/// Cross-validation scores, one row per fold.
pub const CV_FOLDS_TABLE: &str = "cv_folds.parquet";
/// Every labelled patient's out-of-fold probability.
pub const CV_PREDICTIONS_TABLE: &str = "cv_predictions.parquet";
/// Log-loss curves (training, validation and the class prior).
pub const LOG_LOSS_PNG: &str = "log_loss.png";
/// AUC curves (training and validation).
pub const AUC_PNG: &str = "auc.png";

/// The probability tables' column of patient ids.
pub const ID_COLUMN: &str = "id";
/// The probability tables' column of true labels.
pub const LABEL_COLUMN: &str = "cancer";
/// The probability tables' column of predicted probabilities.
pub const PROBABILITY_COLUMN: &str = "probability";

/// Log loss, accuracy (at 0.5) and ROC AUC of one set of patients.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SetScores {
    /// Mean log loss.
    pub log_loss: f64,
    /// Accuracy at 0.5.
    pub accuracy: f64,
    /// ROC AUC.
    pub auc: f64,
}

/// One epoch's row of the classifier's `metrics.parquet`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochRow {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Scores on the training patients.
    pub train: SetScores,
    /// Scores on the validation patients.
    pub val: SetScores,
}

/// One patient's held-out probability.
#[derive(Clone, Debug, PartialEq)]
pub struct HeldOut {
    /// Patient id.
    pub id: String,
    /// The true label.
    pub cancer: bool,
    /// The predicted probability of cancer (not clipped).
    pub probability: f64,
}

/// One fold's row of `cv_folds.parquet`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FoldRow {
    /// The fold, from 0.
    pub fold: usize,
    /// Patients held out in it.
    pub patients: usize,
    /// How many of them have cancer.
    pub cancers: usize,
    /// The epoch its model kept.
    pub best_epoch: usize,
    /// Scores on its held-out patients.
    pub scores: SetScores,
}

/// Writes `dir/metrics.parquet`: per epoch the training and validation
/// scores, and the class prior's validation log loss (the same every row).
pub fn write_epochs(dir: &Path, rows: &[EpochRow], prior_val_log_loss: f64) -> Result<(), StageError> {
    let col = |f: &dyn Fn(&EpochRow) -> f64| Arc::new(Float64Array::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let batch = RecordBatch::try_from_iter([
        ("epoch", Arc::new(Int32Array::from_iter_values(rows.iter().map(|m| m.epoch as i32))) as ArrayRef),
        ("train_log_loss", col(&|m| m.train.log_loss)),
        ("train_accuracy", col(&|m| m.train.accuracy)),
        ("train_auc", col(&|m| m.train.auc)),
        ("val_log_loss", col(&|m| m.val.log_loss)),
        ("val_accuracy", col(&|m| m.val.accuracy)),
        ("val_auc", col(&|m| m.val.auc)),
        ("prior_val_log_loss", col(&|_| prior_val_log_loss)),
    ])
    .map_err(StageError::msg)?;
    write_parquet(&dir.join(METRICS_TABLE), &batch)
}

/// Writes `dir/validation.parquet`.
pub fn write_validation(dir: &Path, rows: &[HeldOut]) -> Result<(), StageError> {
    write_held_out(&dir.join(VALIDATION_TABLE), rows, None)
}

/// Writes `dir/cv_predictions.parquet`: each row with the fold that held it out.
pub fn write_cv_predictions(dir: &Path, rows: &[(HeldOut, usize)]) -> Result<(), StageError> {
    let (held, folds): (Vec<HeldOut>, Vec<usize>) = rows.iter().cloned().unzip();
    write_held_out(&dir.join(CV_PREDICTIONS_TABLE), &held, Some(&folds))
}

/// A probability table, with a `fold` column before `probability` when given.
fn write_held_out(path: &Path, rows: &[HeldOut], folds: Option<&[usize]>) -> Result<(), StageError> {
    let mut columns = vec![
        (ID_COLUMN, Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.id.as_str()))) as ArrayRef),
        (LABEL_COLUMN, Arc::new(BooleanArray::from(rows.iter().map(|r| r.cancer).collect::<Vec<_>>())) as ArrayRef),
    ];
    if let Some(folds) = folds {
        columns.push(("fold", Arc::new(Int32Array::from_iter_values(folds.iter().map(|&f| f as i32))) as ArrayRef));
    }
    columns.push((PROBABILITY_COLUMN, Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.probability))) as ArrayRef));
    write_parquet(path, &RecordBatch::try_from_iter(columns).map_err(StageError::msg)?)
}

/// Writes `dir/cv_folds.parquet`.
pub fn write_cv_folds(dir: &Path, rows: &[FoldRow]) -> Result<(), StageError> {
    let int = |f: &dyn Fn(&FoldRow) -> usize| Arc::new(Int32Array::from_iter_values(rows.iter().map(|s| f(s) as i32))) as ArrayRef;
    let real = |f: &dyn Fn(&SetScores) -> f64| Arc::new(Float64Array::from_iter_values(rows.iter().map(|s| f(&s.scores)))) as ArrayRef;
    let batch = RecordBatch::try_from_iter([
        ("fold", int(&|s| s.fold)),
        ("patients", int(&|s| s.patients)),
        ("cancers", int(&|s| s.cancers)),
        ("best_epoch", int(&|s| s.best_epoch)),
        ("log_loss", real(&|s| s.log_loss)),
        ("accuracy", real(&|s| s.accuracy)),
        ("auc", real(&|s| s.auc)),
    ])
    .map_err(StageError::msg)?;
    write_parquet(&dir.join(CV_FOLDS_TABLE), &batch)
}

/// Reads a probability table (`validation.parquet` or
/// `cv_predictions.parquet`) back, in row order.
pub fn read_held_out(path: &Path) -> Result<Vec<HeldOut>, StageError> {
    let ids = read_text_column(path, ID_COLUMN)?;
    let columns = read_numeric_columns(path)?;
    let column = |name: &str| {
        columns.iter().find(|(n, _)| n == name).map(|(_, v)| v).ok_or_else(|| StageError(format!("{}: no column {name}", path.display())))
    };
    let (labels, probabilities) = (column(LABEL_COLUMN)?, column(PROBABILITY_COLUMN)?);
    if labels.len() != ids.len() || probabilities.len() != ids.len() {
        return Err(StageError(format!("{}: the columns differ in length (is an id null?)", path.display())));
    }
    Ok(ids.into_iter().zip(labels).zip(probabilities).map(|((id, &l), &p)| HeldOut { id, cancer: l > 0.5, probability: p }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::table::read_rows;

    fn held(id: &str, cancer: bool, probability: f64) -> HeldOut {
        HeldOut { id: id.into(), cancer, probability }
    }

    #[test]
    fn probability_tables_read_back_and_the_out_of_fold_one_has_its_folds() {
        let dir = std::env::temp_dir().join(format!("lf-classifier-format-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rows = vec![held("b", true, 0.75), held("a", false, 0.125)];
        write_validation(&dir, &rows).unwrap();
        write_cv_predictions(&dir, &[(rows[0].clone(), 1), (rows[1].clone(), 0)]).unwrap();
        assert_eq!(read_held_out(&dir.join(VALIDATION_TABLE)).unwrap(), rows);
        assert_eq!(read_held_out(&dir.join(CV_PREDICTIONS_TABLE)).unwrap(), rows);
        let names = |file: &str| read_numeric_columns(&dir.join(file)).unwrap().into_iter().map(|c| c.0).collect::<Vec<_>>();
        assert_eq!(names(VALIDATION_TABLE), [LABEL_COLUMN, PROBABILITY_COLUMN]);
        assert_eq!(names(CV_PREDICTIONS_TABLE), [LABEL_COLUMN, "fold", PROBABILITY_COLUMN]);
        assert_eq!(read_rows(&dir.join(CV_PREDICTIONS_TABLE)).unwrap()[0]["fold"], 1);
        let err = read_held_out(&dir.join("missing.parquet")).unwrap_err();
        assert!(err.0.contains("missing.parquet"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn the_epoch_and_fold_tables_have_one_row_each_in_the_documented_columns() {
        let dir = std::env::temp_dir().join(format!("lf-classifier-epochs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = |x: f64| SetScores { log_loss: x, accuracy: x / 2.0, auc: x / 4.0 };
        write_epochs(&dir, &[EpochRow { epoch: 1, train: s(0.5), val: s(0.75) }, EpochRow { epoch: 2, train: s(0.25), val: s(1.0) }], 0.7)
            .unwrap();
        write_cv_folds(&dir, &[FoldRow { fold: 0, patients: 3, cancers: 1, best_epoch: 2, scores: s(0.5) }]).unwrap();
        let epochs = read_numeric_columns(&dir.join(METRICS_TABLE)).unwrap();
        let names: Vec<&str> = epochs.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(
            names,
            ["epoch", "train_log_loss", "train_accuracy", "train_auc", "val_log_loss", "val_accuracy", "val_auc", "prior_val_log_loss"]
        );
        assert_eq!((epochs[0].1.clone(), epochs[4].1.clone(), epochs[7].1.clone()), (vec![1.0, 2.0], vec![0.75, 1.0], vec![0.7, 0.7]));
        let folds = read_rows(&dir.join(CV_FOLDS_TABLE)).unwrap();
        assert_eq!((folds.len(), folds[0]["cancers"].clone(), folds[0]["auc"].clone()), (1, 1.into(), 0.125.into()));
        std::fs::remove_dir_all(dir).ok();
    }
}
