//! The `evaluate` kind: scores a submission (input `submission`, a
//! `submission` output) against the true labels of its patients (input
//! `labels`), beside the class-prior baseline (the cancer rate of input
//! `train_labels` when given, else of `labels`).
//!
//! Outputs `metrics.json` (`log_loss`, `accuracy`, `auc`,
//! `prior_log_loss`, `prior`, `patients`, `unlabelled`) and `scores.parquet`
//! (per scored row: `id`, `cancer` as submitted, `label`).

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use serde_json::json;

use crate::classifier::scores::{positive_rate, prior_log_loss, score};
use crate::gmcae_train::METRICS_JSON;
use crate::labels::{read_labels, read_probabilities};
use crate::params::input_path;
use crate::submission::SUBMISSION_CSV;
use crate::table::write_parquet;
use crate::{ParamSpec, RunContext, StageError, StageKind};

/// Scores a submission.
pub struct EvaluatePredictions;

impl StageKind for EvaluatePredictions {
    fn name(&self) -> &'static str {
        "evaluate"
    }

    fn version(&self) -> u32 {
        1
    }

    fn doc(&self) -> &'static str {
        "log loss, accuracy and AUC of a submission (input `submission`) against true `labels`, beside the class prior (optional `train_labels`)"
    }

    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let path = input_path(ctx, "submission")?.join(SUBMISSION_CSV);
        let submitted = read_probabilities(&path)?;
        let truth = read_labels(input_path(ctx, "labels")?)?;
        let (mut ids, mut probabilities, mut labels, mut unlabelled) = (Vec::new(), Vec::new(), Vec::new(), 0usize);
        for (id, p) in submitted {
            match truth.get(&id) {
                Some(&y) => {
                    ids.push(id);
                    probabilities.push(p);
                    labels.push(y);
                }
                None => unlabelled += 1,
            }
        }
        if ids.is_empty() {
            return Err(StageError(format!("none of the {unlabelled} patients in {} has a label in the labels input", path.display())));
        }
        let prior = match ctx.inputs.get("train_labels") {
            Some(input) => positive_rate(&read_labels(&input.path)?.into_values().collect::<Vec<_>>()),
            None => positive_rate(&labels),
        };
        let s = score(&probabilities, &labels);
        let metrics = json!({
            "log_loss": s.log_loss,
            "accuracy": s.accuracy,
            "auc": s.auc,
            "prior_log_loss": prior_log_loss(prior, &labels),
            "prior": prior,
            "patients": ids.len(),
            "unlabelled": unlabelled,
        });
        std::fs::write(ctx.out_dir.join(METRICS_JSON), serde_json::to_string_pretty(&metrics).expect("JSON")).map_err(StageError::msg)?;
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from_iter_values(ids.iter())) as ArrayRef),
            ("cancer", Arc::new(Float64Array::from_iter_values(probabilities.iter().copied()))),
            ("label", Arc::new(BooleanArray::from(labels))),
        ])
        .map_err(StageError::msg)?;
        write_parquet(&ctx.out_dir.join("scores.parquet"), &batch)
    }
}
