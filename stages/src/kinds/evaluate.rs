//! The `evaluate` kind: scores a submission (input `submission`, a
//! `submission` output) against the true labels of its patients (input
//! `labels`), beside the class-prior baseline (the cancer rate of input
//! `train_labels` when given, else of `labels`).
//!
//! Outputs `metrics.json` (`log_loss`, `accuracy`, `auc`, their bootstrap
//! 95 % intervals `log_loss_low`/`log_loss_high` and `auc_low`/`auc_high`,
//! `prior_log_loss`, `prior`, `patients`, `unlabelled`) and `scores.parquet`
//! (per scored row: `id`, `cancer` as submitted, `label`).

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use serde_json::json;

use crate::formats::labels::{read_labels, read_probabilities};
use crate::formats::submission::SUBMISSION_CSV;
use crate::formats::table::write_parquet;
use crate::formats::training::write_metrics;
use crate::models::classifier::bootstrap::bootstrap;
use crate::models::classifier::scores::{positive_rate, prior_log_loss, score};
use crate::params::{input_path, positive};
use crate::{ParamSpec, RunContext, StageError, StageKind, kind_params};

kind_params! {
    /// The parameters of `evaluate`.
    pub struct Params {
        /// bootstrap resamples of the patients for the 95 % intervals
        #[range(1..=(MAX_RESAMPLES as i64))]
        bootstrap: i64 = 2000,
        /// seed of the resampling
        seed: i64 = 0,
    }
}

/// The most bootstrap resamples (a million took 1.1 s for 30 patients here).
const MAX_RESAMPLES: usize = 1_000_000;

/// The scored rows.
pub const SCORES_TABLE: &str = "scores.parquet";

/// Scores a submission.
pub struct Evaluate;

impl StageKind for Evaluate {
    fn name(&self) -> &'static str {
        "evaluate"
    }

    fn version(&self) -> u32 {
        2
    }

    fn doc(&self) -> &'static str {
        "log loss, accuracy and AUC of a submission (input `submission`) against true `labels`, with bootstrap 95 % intervals, beside the class prior (optional `train_labels`)"
    }

    fn params(&self) -> Vec<ParamSpec> {
        Params::specs()
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let params = Params::parse(ctx.params)?;
        let resamples = positive("bootstrap", params.bootstrap)?;
        if resamples > MAX_RESAMPLES {
            return Err(StageError(format!("bootstrap must be at most {MAX_RESAMPLES}, got {resamples}")));
        }
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
            Some(input) => training_prior(&input.path)?,
            None => positive_rate(&labels),
        };
        let s = score(&probabilities, &labels);
        let ci = bootstrap(&probabilities, &labels, resamples, params.seed as u64);
        write_metrics(
            ctx.out_dir,
            &json!({
                "log_loss": s.log_loss,
                "log_loss_low": ci.log_loss.low,
                "log_loss_high": ci.log_loss.high,
                "accuracy": s.accuracy,
                "auc": s.auc,
                "auc_low": ci.auc.map(|i| i.low),
                "auc_high": ci.auc.map(|i| i.high),
                "bootstrap_resamples": ci.resamples,
                "prior_log_loss": prior_log_loss(prior, &labels),
                "prior": prior,
                "patients": ids.len(),
                "unlabelled": unlabelled,
            }),
        )?;
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from_iter_values(ids.iter())) as ArrayRef),
            ("cancer", Arc::new(Float64Array::from_iter_values(probabilities.iter().copied()))),
            ("label", Arc::new(BooleanArray::from(labels))),
        ])
        .map_err(StageError::msg)?;
        write_parquet(&ctx.out_dir.join(SCORES_TABLE), &batch)
    }
}

/// The cancer rate of a training labels file, which must label someone.
fn training_prior(path: &Path) -> Result<f64, StageError> {
    let labels: Vec<bool> = read_labels(path)?.into_values().collect();
    if labels.is_empty() {
        return Err(StageError(format!("{}: the training labels label no patient, so there is no class prior", path.display())));
    }
    Ok(positive_rate(&labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_labels_with_only_a_header_are_an_error_naming_the_file() {
        let path = std::env::temp_dir().join(format!("lf-evaluate-prior-{}.csv", std::process::id()));
        std::fs::write(&path, "id,cancer\n").unwrap();
        let err = training_prior(&path).unwrap_err();
        assert!(err.0.starts_with(&format!("{}: the training labels label no patient", path.display())), "{err}");
        std::fs::write(&path, "id,cancer\na,1\nb,0\nc,0\nd,0\n").unwrap();
        assert_eq!(training_prior(&path).unwrap(), 0.25);
        std::fs::remove_file(&path).ok();
    }
}
