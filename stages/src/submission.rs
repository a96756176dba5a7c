//! The `submission` kind: the DSB 2017 submission for the patients a sample
//! submission lists (input `ids`, e.g. `stage1_sample_submission.csv`), from
//! their predictions (input `predictions`, gathered from `predict`).
//!
//! Outputs `submission.csv` (`id,cancer`, probabilities clipped to
//! [1e-15, 1 − 1e-15], in the order of `ids`) and `submission.parquet`, its
//! sidecar: per row `id`, `cancer`, the unclipped `probability` and
//! `prediction_key`, the cache key of the `predict` instance the row came
//! from (the root of that prediction's lineage).

use std::fmt::Write as _;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};

use crate::classifier::scores::clip;
use crate::labels::read_ids;
use crate::params::input_path;
use crate::predict::{PREDICTION_FILE, Prediction};
use crate::table::write_parquet;
use crate::{ParamSpec, RunContext, StageError, StageKind};

/// The submission file.
pub const SUBMISSION_CSV: &str = "submission.csv";
/// Its sidecar table.
pub const SUBMISSION_TABLE: &str = "submission.parquet";

/// Writes the submission.
pub struct Submission;

impl StageKind for Submission {
    fn name(&self) -> &'static str {
        "submission"
    }

    fn version(&self) -> u32 {
        1
    }

    fn doc(&self) -> &'static str {
        "the `id,cancer` CSV for the patients of input `ids` from gathered `predictions`, with a Parquet sidecar of cache keys"
    }

    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let ids_path = input_path(ctx, "ids")?;
        let ids = read_ids(ids_path)?;
        if ids.is_empty() {
            return Err(StageError(format!("{} lists no patients", ids_path.display())));
        }
        let predictions = ctx.inputs.get("predictions").ok_or_else(|| StageError::msg("this kind needs an input named \"predictions\""))?;
        let keys_by_item: std::collections::HashMap<&str, &str> =
            predictions.producers.iter().filter_map(|g| Some((g.item.as_deref()?, g.key.as_str()))).collect();
        let mut csv = String::from("id,cancer\n");
        let (mut probabilities, mut keys) = (Vec::new(), Vec::new());
        for id in &ids {
            let path = predictions.path.join(id).join(PREDICTION_FILE);
            if !path.exists() {
                return Err(StageError(format!("{} lists patient {id}, but there is no prediction for it", ids_path.display())));
            }
            let text = std::fs::read_to_string(&path).map_err(|e| StageError(format!("{}: {e}", path.display())))?;
            let p: Prediction = serde_json::from_str(&text).map_err(|e| StageError(format!("{}: {e}", path.display())))?;
            let _ = writeln!(csv, "{id},{}", clip(p.probability));
            probabilities.push(p.probability);
            keys.push(keys_by_item.get(id.as_str()).copied());
        }
        std::fs::write(ctx.out_dir.join(SUBMISSION_CSV), csv).map_err(StageError::msg)?;
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from_iter_values(ids.iter())) as ArrayRef),
            ("cancer", Arc::new(Float64Array::from_iter_values(probabilities.iter().map(|&p| clip(p))))),
            ("probability", Arc::new(Float64Array::from_iter_values(probabilities.iter().copied()))),
            ("prediction_key", Arc::new(StringArray::from(keys))),
        ])
        .map_err(StageError::msg)?;
        write_parquet(&ctx.out_dir.join(SUBMISSION_TABLE), &batch)
    }
}
