//! The tables `evaluate` writes beside its `metrics.json`, one row type each
//! (the row's fields are the table's columns, in order):
//!
//! - `reliability.parquet` ([`ReliabilityBin`]): one row per equal-width
//!   probability bin, empty bins included (patients 0, NaN means);
//! - `roc.parquet` ([`RocPoint`]): the ROC curve at every distinct score,
//!   after a first point (0, 0) at threshold `+inf`;
//! - `sensitivity.parquet` ([`GroupSensitivity`]): the share of cancer
//!   patients called positive, per group of patients.
//!
//! Counts are int64, rates and probabilities float64, `group` text.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};

use super::table::write_parquet;
use crate::StageError;

/// The reliability table.
pub const RELIABILITY_TABLE: &str = "reliability.parquet";
/// The ROC curve's points.
pub const ROC_TABLE: &str = "roc.parquet";
/// Sensitivity per group of cancer patients.
pub const SENSITIVITY_TABLE: &str = "sensitivity.parquet";

/// The reliability table's column of mean predicted probabilities.
pub const MEAN_PROBABILITY_COLUMN: &str = "mean_probability";
/// The reliability table's column of observed cancer rates.
pub const CANCER_RATE_COLUMN: &str = "cancer_rate";
/// The reliability and sensitivity tables' column of patient counts.
pub const PATIENTS_COLUMN: &str = "patients";
/// The ROC table's column of false-positive rates.
pub const FALSE_POSITIVE_RATE_COLUMN: &str = "false_positive_rate";
/// The ROC table's column of true-positive rates.
pub const TRUE_POSITIVE_RATE_COLUMN: &str = "true_positive_rate";

/// One equal-width probability bin of a reliability table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReliabilityBin {
    /// Lower edge of the bin (included).
    pub low: f64,
    /// Upper edge of the bin (excluded, but for the last bin's 1).
    pub high: f64,
    /// Rows whose probability falls in the bin.
    pub patients: usize,
    /// Mean probability of those rows; NaN for an empty bin.
    pub mean_probability: f64,
    /// Fraction of those rows labelled positive; NaN for an empty bin.
    pub cancer_rate: f64,
}

/// One point of an ROC curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RocPoint {
    /// Rows scoring at least this are called positive (`+inf` for the first
    /// point, where none is).
    pub threshold: f64,
    /// Fraction of negative rows called positive; NaN when there is none.
    pub false_positive_rate: f64,
    /// Fraction of positive rows called positive; NaN when there is none.
    pub true_positive_rate: f64,
}

/// The sensitivity of one group of cancer patients.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupSensitivity {
    /// The group's name (`all`, `pleural`, `under_10mm`, ...).
    pub group: String,
    /// Cancer patients in the group.
    pub patients: usize,
    /// How many of them were called positive.
    pub detected: usize,
    /// `detected / patients`; NaN for an empty group.
    pub sensitivity: f64,
}

/// A float64 column from rows.
fn reals<T>(rows: &[T], f: impl Fn(&T) -> f64) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(rows.iter().map(f)))
}

/// An int64 column of counts from rows.
fn counts<T>(rows: &[T], f: impl Fn(&T) -> usize) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| f(r) as i64)))
}

/// Writes one table from named columns.
fn write(path: &Path, columns: Vec<(&str, ArrayRef)>) -> Result<(), StageError> {
    write_parquet(path, &RecordBatch::try_from_iter(columns).map_err(StageError::msg)?)
}

/// Writes `dir/reliability.parquet`.
pub fn write_reliability(dir: &Path, bins: &[ReliabilityBin]) -> Result<(), StageError> {
    write(
        &dir.join(RELIABILITY_TABLE),
        vec![
            ("low", reals(bins, |b| b.low)),
            ("high", reals(bins, |b| b.high)),
            (PATIENTS_COLUMN, counts(bins, |b| b.patients)),
            (MEAN_PROBABILITY_COLUMN, reals(bins, |b| b.mean_probability)),
            (CANCER_RATE_COLUMN, reals(bins, |b| b.cancer_rate)),
        ],
    )
}

/// Writes `dir/roc.parquet`.
pub fn write_roc(dir: &Path, points: &[RocPoint]) -> Result<(), StageError> {
    write(
        &dir.join(ROC_TABLE),
        vec![
            ("threshold", reals(points, |p| p.threshold)),
            (FALSE_POSITIVE_RATE_COLUMN, reals(points, |p| p.false_positive_rate)),
            (TRUE_POSITIVE_RATE_COLUMN, reals(points, |p| p.true_positive_rate)),
        ],
    )
}

/// Writes `dir/sensitivity.parquet`.
pub fn write_sensitivity(dir: &Path, groups: &[GroupSensitivity]) -> Result<(), StageError> {
    write(
        &dir.join(SENSITIVITY_TABLE),
        vec![
            ("group", Arc::new(StringArray::from_iter_values(groups.iter().map(|g| g.group.as_str()))) as ArrayRef),
            (PATIENTS_COLUMN, counts(groups, |g| g.patients)),
            ("detected", counts(groups, |g| g.detected)),
            ("sensitivity", reals(groups, |g| g.sensitivity)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::table::{read_numeric_columns, read_text_column};

    #[test]
    fn the_three_tables_hold_their_rows_in_the_documented_columns() {
        let dir = std::env::temp_dir().join(format!("lf-evaluation-format-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bin = ReliabilityBin { low: 0.5, high: 1.0, patients: 3, mean_probability: 0.75, cancer_rate: 2.0 / 3.0 };
        write_reliability(
            &dir,
            &[ReliabilityBin { low: 0.0, high: 0.5, patients: 0, mean_probability: f64::NAN, cancer_rate: f64::NAN }, bin],
        )
        .unwrap();
        write_roc(&dir, &[RocPoint { threshold: f64::INFINITY, false_positive_rate: 0.0, true_positive_rate: 0.0 }]).unwrap();
        let group = GroupSensitivity { group: "pleural".into(), patients: 4, detected: 3, sensitivity: 0.75 };
        write_sensitivity(&dir, &[group]).unwrap();
        let reliability = read_numeric_columns(&dir.join(RELIABILITY_TABLE)).unwrap();
        let names: Vec<&str> = reliability.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, ["low", "high", PATIENTS_COLUMN, MEAN_PROBABILITY_COLUMN, CANCER_RATE_COLUMN]);
        assert_eq!(reliability[2].1, [0.0, 3.0]);
        assert!(reliability[3].1[0].is_nan() && reliability[3].1[1] == 0.75);
        let roc = read_numeric_columns(&dir.join(ROC_TABLE)).unwrap();
        assert_eq!(
            roc,
            [
                ("threshold".to_owned(), vec![f64::INFINITY]),
                (FALSE_POSITIVE_RATE_COLUMN.to_owned(), vec![0.0]),
                (TRUE_POSITIVE_RATE_COLUMN.to_owned(), vec![0.0])
            ]
        );
        assert_eq!(read_text_column(&dir.join(SENSITIVITY_TABLE), "group").unwrap(), ["pleural"]);
        assert_eq!(read_numeric_columns(&dir.join(SENSITIVITY_TABLE)).unwrap()[1], ("detected".to_owned(), vec![3.0]));
        std::fs::remove_dir_all(dir).ok();
    }
}
