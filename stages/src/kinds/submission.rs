//! The `submission` kind: the DSB 2017 submission for the patients a sample
//! submission lists (input `ids`, e.g. `stage1_sample_submission.csv`), from
//! their predictions (input `predictions`, gathered from `predict`).
//!
//! Outputs [`submission.csv`](crate::formats::submission) (`id,cancer`,
//! probabilities clipped to [1e-15, 1 − 1e-15], in the order of `ids`) and
//! its sidecar `submission.parquet`, whose `prediction_key` column names the
//! `predict` entry each row came from: the kind's [`RowProvenance`], where
//! lineage starts.

use std::collections::HashMap;

use crate::formats::labels::read_ids;
use crate::formats::prediction::{PREDICTION_FILE, read_prediction};
use crate::formats::submission::{ID_COLUMN, PREDICTION_KEY_COLUMN, SUBMISSION_TABLE, SubmissionRow, write_submission};
use crate::models::classifier::scores::clip;
use crate::params::input_path;
use crate::{ParamSpec, RowProvenance, RunContext, StageError, StageKind};

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

    fn row_provenance(&self) -> Option<RowProvenance> {
        Some(RowProvenance { table: SUBMISSION_TABLE, item_column: ID_COLUMN, key_column: PREDICTION_KEY_COLUMN })
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let ids_path = input_path(ctx, "ids")?;
        let ids = read_ids(ids_path)?;
        if ids.is_empty() {
            return Err(StageError(format!("{} lists no patients", ids_path.display())));
        }
        let predictions = ctx.inputs.get("predictions").ok_or_else(|| StageError::msg("this kind needs an input named \"predictions\""))?;
        let keys_by_item: HashMap<&str, &str> =
            predictions.producers.iter().filter_map(|g| Some((g.item.as_deref()?, g.key.as_str()))).collect();
        let mut rows = Vec::with_capacity(ids.len());
        for id in &ids {
            let path = predictions.path.join(id).join(PREDICTION_FILE);
            if !path.exists() {
                return Err(StageError(format!("{} lists patient {id}, but there is no prediction for it", ids_path.display())));
            }
            let p = read_prediction(&path)?;
            let prediction_key = keys_by_item.get(id.as_str()).copied();
            rows.push(SubmissionRow { id, cancer: clip(p.probability), probability: p.probability, prediction_key });
        }
        write_submission(ctx.out_dir, &rows)
    }
}
