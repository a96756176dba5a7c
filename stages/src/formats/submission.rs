//! A DSB 2017 submission: `submission.csv` (`id,cancer`, one row per patient)
//! and its sidecar `submission.parquet`: per row `id`, `cancer` (as in the
//! CSV), the unclipped `probability` and `prediction_key`, the cache key of
//! the entry the prediction came from (null when there was none).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};

use super::table::write_parquet;
use crate::StageError;

/// The submission file.
pub const SUBMISSION_CSV: &str = "submission.csv";
/// Its sidecar table.
pub const SUBMISSION_TABLE: &str = "submission.parquet";
/// The sidecar's column of patient ids.
pub const ID_COLUMN: &str = "id";
/// The sidecar's column of the producing predictions' cache keys.
pub const PREDICTION_KEY_COLUMN: &str = "prediction_key";

/// One patient's row.
#[derive(Clone, Debug, PartialEq)]
pub struct SubmissionRow<'a> {
    /// Patient id.
    pub id: &'a str,
    /// The probability submitted (clipped).
    pub cancer: f64,
    /// The probability predicted (unclipped).
    pub probability: f64,
    /// Cache key of the prediction's entry, if it came from one.
    pub prediction_key: Option<&'a str>,
}

/// Writes `submission.csv` and `submission.parquet` into `dir`.
pub fn write_submission(dir: &Path, rows: &[SubmissionRow<'_>]) -> Result<(), StageError> {
    let mut csv = String::from("id,cancer\n");
    for r in rows {
        let _ = writeln!(csv, "{},{}", r.id, r.cancer);
    }
    let csv_path = dir.join(SUBMISSION_CSV);
    std::fs::write(&csv_path, csv).map_err(|e| StageError(format!("cannot write {}: {e}", csv_path.display())))?;
    let batch = RecordBatch::try_from_iter([
        (ID_COLUMN, Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.id))) as ArrayRef),
        ("cancer", Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.cancer)))),
        ("probability", Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.probability)))),
        (PREDICTION_KEY_COLUMN, Arc::new(StringArray::from(rows.iter().map(|r| r.prediction_key).collect::<Vec<_>>()))),
    ])
    .map_err(StageError::msg)?;
    write_parquet(&dir.join(SUBMISSION_TABLE), &batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::labels::read_probabilities;
    use crate::formats::table::read_rows;

    #[test]
    fn the_csv_and_its_sidecar_hold_the_same_rows() {
        let dir = std::env::temp_dir().join(format!("lf-submission-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rows = [
            SubmissionRow { id: "b", cancer: 0.75, probability: 0.75, prediction_key: Some("k1") },
            SubmissionRow { id: "a", cancer: 1e-15, probability: 0.0, prediction_key: None },
        ];
        write_submission(&dir, &rows).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join(SUBMISSION_CSV)).unwrap(), "id,cancer\nb,0.75\na,0.000000000000001\n");
        assert_eq!(read_probabilities(&dir.join(SUBMISSION_CSV)).unwrap(), vec![("b".to_owned(), 0.75), ("a".to_owned(), 1e-15)]);
        let table = read_rows(&dir.join(SUBMISSION_TABLE)).unwrap();
        assert_eq!(table[0][PREDICTION_KEY_COLUMN], "k1");
        assert_eq!(table[1][ID_COLUMN], "a");
        assert!(table[1][PREDICTION_KEY_COLUMN].is_null());
        std::fs::remove_dir_all(dir).ok();
    }
}
