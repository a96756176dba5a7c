//! The `evaluate` kind: scores a submission (input `submission`, a
//! `submission` output) against the true labels of its patients (input
//! `labels`), beside the class-prior baseline (the cancer rate of input
//! `train_labels` when given, else of `labels`), and says how far its
//! probabilities can be taken at their word and, given the cohort's
//! `nodules` (a `nodules.csv`), which cancers it misses.
//!
//! Outputs `metrics.json` (`log_loss`, `accuracy`, `auc`, their bootstrap
//! 95 % intervals `log_loss_low`/`log_loss_high` and `auc_low`/`auc_high`,
//! `prior_log_loss`, `prior`, `brier`, `ece` over `calibration_bins`
//! equal-width bins, `patients`, `unlabelled`, and with `nodules` a
//! `sensitivity_GROUP` per group), `scores.parquet` (per scored row: `id`,
//! `cancer` as submitted, `label`), `reliability.parquet` and `roc.parquet`,
//! and with `nodules` `sensitivity.parquet` (the tables:
//! [`crate::formats::evaluation`]; the groups:
//! [`crate::models::classifier::sensitivity`]). A nodule of a patient the
//! submission does not hold (a training patient, say) is ignored.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use serde_json::json;

use crate::contract::{Reliability, ReportView, RocCurve};
use crate::formats::evaluation::{
    CANCER_RATE_COLUMN, FALSE_POSITIVE_RATE_COLUMN, MEAN_PROBABILITY_COLUMN, PATIENTS_COLUMN, RELIABILITY_TABLE, ROC_TABLE,
    TRUE_POSITIVE_RATE_COLUMN, write_reliability, write_roc, write_sensitivity,
};
use crate::formats::labels::{read_labels, read_probabilities};
use crate::formats::nodules::read_nodules;
use crate::formats::submission::SUBMISSION_CSV;
use crate::formats::table::write_parquet;
use crate::formats::training::write_metrics;
use crate::models::classifier::bootstrap::bootstrap;
use crate::models::classifier::calibration::{brier, calibration_error, reliability, roc_points};
use crate::models::classifier::scores::{positive_rate, prior_log_loss, score};
use crate::models::classifier::sensitivity::{GroupSensitivity, by_patient, sensitivity_by_group};
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
        /// equal-width probability bins of the reliability table and the ECE
        #[range(1..=1000)]
        calibration_bins: i64 = 10,
    }
}

/// The most bootstrap resamples (a million took 1.1 s for 30 patients here).
const MAX_RESAMPLES: usize = 1_000_000;

/// The scored rows.
pub const SCORES_TABLE: &str = "scores.parquet";

/// Scores a submission.
pub struct Evaluate;

/// The submitted rows that have a label.
struct Scored {
    ids: Vec<String>,
    probabilities: Vec<f64>,
    labels: Vec<bool>,
    /// Submitted rows without a label.
    unlabelled: usize,
}

impl StageKind for Evaluate {
    fn name(&self) -> &'static str {
        "evaluate"
    }

    fn version(&self) -> u32 {
        3
    }

    fn doc(&self) -> &'static str {
        "log loss, accuracy and AUC of a submission (input `submission`) against true `labels`, with bootstrap 95 % intervals, beside the class prior (optional `train_labels`); Brier score, ECE, reliability and ROC tables; sensitivity by nodule size and position (optional `nodules`)"
    }

    fn params(&self) -> Vec<ParamSpec> {
        Params::specs()
    }

    fn report_view(&self) -> ReportView {
        ReportView {
            roc_curve: Some(RocCurve {
                table: ROC_TABLE,
                false_positive_column: FALSE_POSITIVE_RATE_COLUMN,
                true_positive_column: TRUE_POSITIVE_RATE_COLUMN,
                of: "the submission",
            }),
            reliability: Some(Reliability {
                table: RELIABILITY_TABLE,
                predicted_column: MEAN_PROBABILITY_COLUMN,
                observed_column: CANCER_RATE_COLUMN,
                count_column: PATIENTS_COLUMN,
                rows_are: "patients",
            }),
            ..ReportView::default()
        }
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let params = Params::parse(ctx.params)?;
        let resamples = positive("bootstrap", params.bootstrap)?;
        if resamples > MAX_RESAMPLES {
            return Err(StageError(format!("bootstrap must be at most {MAX_RESAMPLES}, got {resamples}")));
        }
        let bins = positive("calibration_bins", params.calibration_bins)?;
        let rows = scored_rows(ctx)?;
        let (p, y) = (&rows.probabilities, &rows.labels);
        let prior = match ctx.inputs.get("train_labels") {
            Some(input) => training_prior(&input.path)?,
            None => positive_rate(y),
        };
        let s = score(p, y);
        let ci = bootstrap(p, y, resamples, params.seed as u64);
        let table = reliability(p, y, bins);
        let mut metrics = json!({
            "log_loss": s.log_loss,
            "log_loss_low": ci.log_loss.low,
            "log_loss_high": ci.log_loss.high,
            "accuracy": s.accuracy,
            "auc": s.auc,
            "auc_low": ci.auc.map(|i| i.low),
            "auc_high": ci.auc.map(|i| i.high),
            "bootstrap_resamples": ci.resamples,
            "prior_log_loss": prior_log_loss(prior, y),
            "prior": prior,
            "brier": brier(p, y),
            "ece": calibration_error(&table),
            "calibration_bins": bins,
            "patients": rows.ids.len(),
            "unlabelled": rows.unlabelled,
        });
        if let Some(input) = ctx.inputs.get("nodules") {
            let groups = nodule_sensitivity(&input.path, &rows)?;
            for g in &groups {
                metrics[format!("sensitivity_{}", g.group)] = json!(g.sensitivity);
            }
            write_sensitivity(ctx.out_dir, &groups)?;
        }
        write_metrics(ctx.out_dir, &metrics)?;
        write_reliability(ctx.out_dir, &table)?;
        write_roc(ctx.out_dir, &roc_points(p, y))?;
        write_scores(ctx.out_dir, &rows)
    }
}

/// The submitted rows of input `submission` that input `labels` labels.
fn scored_rows(ctx: &RunContext<'_>) -> Result<Scored, StageError> {
    let path = input_path(ctx, "submission")?.join(SUBMISSION_CSV);
    let truth = read_labels(input_path(ctx, "labels")?)?;
    let mut rows = Scored { ids: Vec::new(), probabilities: Vec::new(), labels: Vec::new(), unlabelled: 0 };
    for (id, p) in read_probabilities(&path)? {
        match truth.get(&id) {
            Some(&y) => {
                rows.ids.push(id);
                rows.probabilities.push(p);
                rows.labels.push(y);
            }
            None => rows.unlabelled += 1,
        }
    }
    if rows.ids.is_empty() {
        return Err(StageError(format!("none of the {} patients in {} has a label in the labels input", rows.unlabelled, path.display())));
    }
    Ok(rows)
}

/// The sensitivity per group of the scored cancer patients, by the nodules
/// file at `path`.
fn nodule_sensitivity(path: &Path, rows: &Scored) -> Result<Vec<GroupSensitivity>, StageError> {
    let nodules = by_patient(&read_nodules(path)?);
    let cancers: Vec<(f64, _)> = rows
        .ids
        .iter()
        .zip(&rows.probabilities)
        .zip(&rows.labels)
        .filter(|(_, y)| **y)
        .map(|((id, &p), _)| (p, nodules.get(id).copied()))
        .collect();
    Ok(sensitivity_by_group(&cancers))
}

/// Writes `scores.parquet`.
fn write_scores(dir: &Path, rows: &Scored) -> Result<(), StageError> {
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(StringArray::from_iter_values(rows.ids.iter())) as ArrayRef),
        ("cancer", Arc::new(Float64Array::from_iter_values(rows.probabilities.iter().copied()))),
        ("label", Arc::new(BooleanArray::from(rows.labels.clone()))),
    ])
    .map_err(StageError::msg)?;
    write_parquet(&dir.join(SCORES_TABLE), &batch)
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

    #[test]
    fn sensitivity_counts_the_scored_cancers_ignores_other_patients_and_a_bad_row_names_its_line() {
        let path = std::env::temp_dir().join(format!("lf-evaluate-nodules-{}.csv", std::process::id()));
        let header = crate::formats::nodules::NODULES_HEADER;
        // `train` is not in the submission; `healthy` has a nodule but no cancer.
        std::fs::write(&path, format!("{header}\na,0,0,0,12,1\nb,0,0,0,22,0\ntrain,0,0,0,5,0\nhealthy,0,0,0,8,0\n")).unwrap();
        let rows = Scored {
            ids: ["a", "b", "c", "healthy"].map(str::to_owned).to_vec(),
            probabilities: vec![0.7, 0.2, 0.6, 0.9],
            labels: vec![true, true, true, false],
            unlabelled: 0,
        };
        let groups = nodule_sensitivity(&path, &rows).unwrap();
        let count = |name: &str| groups.iter().find(|g| g.group == name).map(|g| (g.patients, g.detected)).unwrap();
        assert_eq!(
            ["all", "under_10mm", "10_to_15mm", "20mm_and_over", "pleural", "inner", "unlisted"].map(count),
            [(3, 2), (0, 0), (1, 1), (1, 0), (1, 1), (1, 0), (1, 1)]
        );
        std::fs::write(&path, format!("{header}\na,0,0,0,12,1\nb,0,0,0,big,0\n")).unwrap();
        let err = nodule_sensitivity(&path, &rows).unwrap_err();
        assert!(err.0.starts_with(&format!("{}:3: diameter_mm must be a finite number", path.display())), "{err}");
        std::fs::remove_file(&path).ok();
    }
}
