//! What a trained classifier leaves beside [`training`](super::training)'s
//! files: its per-epoch scores (`metrics.parquet`, in the columns below), the
//! validation patients' probabilities (`validation.parquet`), with
//! cross-validation the per-fold scores (`cv_folds.parquet`) and every
//! labelled patient's out-of-fold probability (`cv_predictions.parquet`),
//! and the names of its two figures (`log_loss.png`, `auc.png`).
//!
//! The probability tables hold one row per patient: `id` (text), `cancer`
//! (the true label, boolean) and `probability` (unclipped); the out-of-fold
//! table has one row per patient and repeat, with the `repeat` and the
//! `fold` (int32, both from 1) that held the patient out between the last
//! two ([`OutOfFold`]).

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

/// One patient's out-of-fold probability in one repeat of a
/// cross-validation: a row of `cv_predictions.parquet`.
#[derive(Clone, Debug, PartialEq)]
pub struct OutOfFold {
    /// Patient id.
    pub id: String,
    /// The true label.
    pub cancer: bool,
    /// The repeat (deal of the folds), from 1.
    pub repeat: usize,
    /// The fold that held the patient out, from 1.
    pub fold: usize,
    /// The probability of the model that did not see the patient.
    pub probability: f64,
}

/// One fold's row of `cv_folds.parquet`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FoldRow {
    /// The repeat, from 1.
    pub repeat: usize,
    /// The fold, from 1.
    pub fold: usize,
    /// Starts abandoned before one learned.
    pub restarts: usize,
    /// Patients held out in it.
    pub patients: usize,
    /// How many of them have cancer.
    pub cancers: usize,
    /// The epoch its model kept.
    pub best_epoch: usize,
    /// Scores on its held-out patients.
    pub scores: SetScores,
}

/// The folder, inside a classifier's output, of the model that fold `fold`
/// of repeat `repeat` kept (both from 1): `folds/rRfF`.
pub fn fold_model_dir(repeat: usize, fold: usize) -> String {
    format!("{FOLD_MODELS_DIR}/r{repeat}f{fold}")
}

/// The folder of the fold models inside a classifier's output.
pub const FOLD_MODELS_DIR: &str = "folds";

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
    write_held_out(&dir.join(VALIDATION_TABLE), rows, Vec::new())
}

/// Writes `dir/cv_predictions.parquet`: one row per patient and repeat.
pub fn write_cv_predictions(dir: &Path, rows: &[OutOfFold]) -> Result<(), StageError> {
    let held: Vec<HeldOut> = rows.iter().map(|r| HeldOut { id: r.id.clone(), cancer: r.cancer, probability: r.probability }).collect();
    let int = |f: fn(&OutOfFold) -> usize| Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| f(r) as i32))) as ArrayRef;
    write_held_out(&dir.join(CV_PREDICTIONS_TABLE), &held, vec![("repeat", int(|r| r.repeat)), ("fold", int(|r| r.fold))])
}

/// A probability table, with `between` columns before `probability`.
fn write_held_out(path: &Path, rows: &[HeldOut], between: Vec<(&str, ArrayRef)>) -> Result<(), StageError> {
    let mut columns = vec![
        (ID_COLUMN, Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.id.as_str()))) as ArrayRef),
        (LABEL_COLUMN, Arc::new(BooleanArray::from(rows.iter().map(|r| r.cancer).collect::<Vec<_>>())) as ArrayRef),
    ];
    columns.extend(between);
    columns.push((PROBABILITY_COLUMN, Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.probability))) as ArrayRef));
    write_parquet(path, &RecordBatch::try_from_iter(columns).map_err(StageError::msg)?)
}

/// Writes `dir/cv_folds.parquet`.
pub fn write_cv_folds(dir: &Path, rows: &[FoldRow]) -> Result<(), StageError> {
    let int = |f: &dyn Fn(&FoldRow) -> usize| Arc::new(Int32Array::from_iter_values(rows.iter().map(|s| f(s) as i32))) as ArrayRef;
    let real = |f: &dyn Fn(&SetScores) -> f64| Arc::new(Float64Array::from_iter_values(rows.iter().map(|s| f(&s.scores)))) as ArrayRef;
    let batch = RecordBatch::try_from_iter([
        ("repeat", int(&|s| s.repeat)),
        ("fold", int(&|s| s.fold)),
        ("restarts", int(&|s| s.restarts)),
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

/// Reads `cv_predictions.parquet` back, in row order; a table without a
/// `repeat` column (written before repeats existed) is one repeat.
pub fn read_out_of_fold(path: &Path) -> Result<Vec<OutOfFold>, StageError> {
    let held = read_held_out(path)?;
    let columns = read_numeric_columns(path)?;
    let ints = |name: &str| -> Result<Option<Vec<usize>>, StageError> {
        let Some((_, v)) = columns.iter().find(|(n, _)| n == name) else { return Ok(None) };
        if v.len() != held.len() || v.iter().any(|&x| !(x >= 1.0 && x.fract() == 0.0)) {
            return Err(StageError(format!("{}: column {name} must hold a whole number from 1 on every row", path.display())));
        }
        Ok(Some(v.iter().map(|&x| x as usize).collect()))
    };
    let folds = ints("fold")?.ok_or_else(|| StageError(format!("{}: no column fold (is it an out-of-fold table?)", path.display())))?;
    let repeats = ints("repeat")?.unwrap_or_else(|| vec![1; held.len()]);
    Ok(held
        .into_iter()
        .zip(repeats)
        .zip(folds)
        .map(|((h, repeat), fold)| OutOfFold { id: h.id, cancer: h.cancer, repeat, fold, probability: h.probability })
        .collect())
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
        let oof = |h: &HeldOut, repeat, fold| OutOfFold { id: h.id.clone(), cancer: h.cancer, repeat, fold, probability: h.probability };
        let out_of_fold = vec![oof(&rows[0], 1, 2), oof(&rows[1], 1, 1), oof(&rows[0], 2, 1)];
        write_cv_predictions(&dir, &out_of_fold).unwrap();
        assert_eq!(read_held_out(&dir.join(VALIDATION_TABLE)).unwrap(), rows);
        assert_eq!(read_held_out(&dir.join(CV_PREDICTIONS_TABLE)).unwrap()[..2], rows);
        assert_eq!(read_out_of_fold(&dir.join(CV_PREDICTIONS_TABLE)).unwrap(), out_of_fold);
        assert!(read_out_of_fold(&dir.join(VALIDATION_TABLE)).unwrap_err().0.contains("no column fold"));
        let names = |file: &str| read_numeric_columns(&dir.join(file)).unwrap().into_iter().map(|c| c.0).collect::<Vec<_>>();
        assert_eq!(names(VALIDATION_TABLE), [LABEL_COLUMN, PROBABILITY_COLUMN]);
        assert_eq!(names(CV_PREDICTIONS_TABLE), [LABEL_COLUMN, "repeat", "fold", PROBABILITY_COLUMN]);
        assert_eq!(read_rows(&dir.join(CV_PREDICTIONS_TABLE)).unwrap()[0]["fold"], 2);
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
        write_cv_folds(&dir, &[FoldRow { repeat: 1, fold: 1, restarts: 0, patients: 3, cancers: 1, best_epoch: 2, scores: s(0.5) }])
            .unwrap();
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
