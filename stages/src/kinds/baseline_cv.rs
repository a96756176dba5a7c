//! The `baseline_cv` kind: a baseline beside the classifier, cross-validated
//! on the same folds. A logistic regression on one score per patient (input
//! `scores`, gathered [`score.json`](crate::formats::nodule_score) folders,
//! one per patient, e.g. from `nodule_score`; see
//! [`logistic`](crate::models::logistic) for the fit) against the labels
//! (input `labels`, an `id,cancer` CSV; only labelled patients are fitted).
//!
//! The labelled patients, sorted by id, are dealt into `folds` folds
//! `repeats` times by [`repeated_folds`] with `seed`, exactly as
//! `classifier_train` deals them, so the two models' out-of-fold
//! probabilities pair patient by patient. Each fold is predicted by the model
//! fitted on the others. Outputs:
//!
//! - `cv_predictions.parquet` (the classifier's format: `id`, `cancer`,
//!   `repeat`, `fold`, `probability`) and `cv_folds.parquet` (per repeat
//!   and fold, [`baseline`](crate::formats::baseline));
//! - `metrics.json`: `cv_auc_mean`, `cv_auc_sd`, `cv_log_loss_mean`,
//!   `cv_log_loss_sd` over folds × repeats; `cv_pooled_auc` (the AUC of the
//!   pooled out-of-fold probabilities, mean over repeats) with its patient
//!   bootstrap 95 % interval `cv_pooled_auc_low`/`_high`; `cv_folds`,
//!   `cv_repeats`, `patients` (labelled), `scored`, and the model fitted on
//!   every labelled patient (`intercept`, `slope`, `score_mean`,
//!   `score_scale`);
//! - `predictions.parquet`: that model's probability for every scored
//!   patient, labelled or not (the test patients), as a submission would.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use crate::formats::baseline::{FoldFit, Scored, write_fold_fits, write_scored};
use crate::formats::classifier::{OutOfFold, SetScores, write_cv_predictions};
use crate::formats::labels::read_labels;
use crate::formats::nodule_score::{SCORE_FILE, read_scores};
use crate::formats::training::write_metrics;
use crate::models::classifier::cross_validation::mean_sd;
use crate::models::classifier::folds::repeated_folds;
use crate::models::classifier::paired::{OutOfFoldMatrix, cv_auc};
use crate::models::classifier::scores::score;
use crate::models::logistic::fit;
use crate::params::{input_path, positive};
use crate::{ParamSpec, RunContext, StageError, StageKind, kind_params};

kind_params! {
    /// The parameters of `baseline_cv`.
    pub struct Params {
        /// cross-validation folds (as classifier_train's)
        #[range(2..=1000)]
        folds: i64 = 5,
        /// deals of the folds, each with its own seed (as classifier_train's)
        #[range(1..=1000)]
        repeats: i64 = 3,
        /// seed of the deals (as classifier_train's)
        seed: i64 = 0,
        /// bootstrap resamples of the patients for the pooled AUC's 95 % interval
        #[range(1..=1_000_000)]
        bootstrap: i64 = 2000,
    }
}

/// Cross-validates a logistic regression on one score per patient.
pub struct BaselineCv;

impl StageKind for BaselineCv {
    fn name(&self) -> &'static str {
        "baseline_cv"
    }

    fn version(&self) -> u32 {
        1
    }

    fn doc(&self) -> &'static str {
        "a logistic regression on one score per patient (input `scores`, gathered score.json) against `labels`, cross-validated on classifier_train's folds: cv_predictions.parquet, cv_folds.parquet, metrics.json, predictions.parquet"
    }

    fn params(&self) -> Vec<ParamSpec> {
        Params::specs()
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let p = Params::parse(ctx.params)?;
        let (k, repeats, resamples) = (positive("folds", p.folds)?, positive("repeats", p.repeats)?, positive("bootstrap", p.bootstrap)?);
        let labels_path = input_path(ctx, "labels")?;
        let scores = read_scores(input_path(ctx, "scores")?)?;
        let labelled = labelled(&read_labels(labels_path)?, &scores, labels_path)?;
        let (rows, fits) =
            cross_validate(&labelled, k, repeats, p.seed as u64).map_err(|e| StageError(format!("{}: {e}", labels_path.display())))?;
        write_cv_predictions(ctx.out_dir, &rows)?;
        write_fold_fits(ctx.out_dir, &fits)?;
        let (x, y): (Vec<f64>, Vec<bool>) = labelled.iter().map(|(_, s, l)| (*s, *l)).unzip();
        let model = fit(&x, &y);
        let scored: Vec<Scored> =
            scores.iter().map(|(id, &s)| Scored { id: id.clone(), score: s, probability: model.probability(s) }).collect();
        write_scored(ctx.out_dir, &scored)?;
        let pooled = cv_auc(&OutOfFoldMatrix::from_rows(&rows, "the out-of-fold predictions")?, resamples, p.seed as u64);
        let (auc_mean, auc_sd) = mean_sd(&fits.iter().map(|f| f.scores.auc).collect::<Vec<_>>());
        let (loss_mean, loss_sd) = mean_sd(&fits.iter().map(|f| f.scores.log_loss).collect::<Vec<_>>());
        let metrics = json!({
            "cv_auc_mean": auc_mean,
            "cv_auc_sd": auc_sd,
            "cv_log_loss_mean": loss_mean,
            "cv_log_loss_sd": loss_sd,
            "cv_pooled_auc": pooled.value,
            "cv_pooled_auc_low": pooled.interval.map(|i| i.low),
            "cv_pooled_auc_high": pooled.interval.map(|i| i.high),
            "bootstrap_resamples": resamples,
            "cv_folds": k,
            "cv_repeats": repeats,
            "patients": labelled.len(),
            "scored": scores.len(),
            "intercept": model.intercept,
            "slope": model.slope,
            "score_mean": model.mean,
            "score_scale": model.scale,
        });
        write_metrics(ctx.out_dir, &metrics)
    }
}

/// The labelled patients as `(id, score, label)`, sorted by id; every one
/// must have a score, and the labels must label someone.
fn labelled(
    labels: &BTreeMap<String, bool>,
    scores: &BTreeMap<String, f64>,
    labels_path: &Path,
) -> Result<Vec<(String, f64, bool)>, StageError> {
    if labels.is_empty() {
        return Err(StageError(format!("{}: the file labels no patient, so there is nothing to fit", labels_path.display())));
    }
    labels
        .iter()
        .map(|(id, &label)| match scores.get(id) {
            Some(&s) => Ok((id.clone(), s, label)),
            None => Err(StageError(format!(
                "{} labels patient {id}, but the scores input has no {SCORE_FILE} for it (is it among the pipeline's items?)",
                labels_path.display()
            ))),
        })
        .collect()
}

/// For each repeat and fold of [`repeated_folds`] over the labelled
/// patients (in their order), the model fitted on the other folds: the
/// held-out patients' probabilities, and the fold's row.
fn cross_validate(
    labelled: &[(String, f64, bool)],
    k: usize,
    repeats: usize,
    seed: u64,
) -> Result<(Vec<OutOfFold>, Vec<FoldFit>), StageError> {
    let y: Vec<bool> = labelled.iter().map(|l| l.2).collect();
    let (mut rows, mut fits) = (Vec::new(), Vec::new());
    for (r, deal) in repeated_folds(&y, k, repeats, seed)?.iter().enumerate() {
        for (f, held) in deal.iter().enumerate() {
            let train: Vec<&(String, f64, bool)> = labelled.iter().enumerate().filter(|(i, _)| !held.contains(i)).map(|(_, l)| l).collect();
            let model = fit(&train.iter().map(|l| l.1).collect::<Vec<_>>(), &train.iter().map(|l| l.2).collect::<Vec<_>>());
            let p: Vec<f64> = held.iter().map(|&i| model.probability(labelled[i].1)).collect();
            let truth: Vec<bool> = held.iter().map(|&i| labelled[i].2).collect();
            let s = score(&p, &truth);
            fits.push(FoldFit {
                repeat: r + 1,
                fold: f + 1,
                patients: held.len(),
                cancers: truth.iter().filter(|&&c| c).count(),
                intercept: model.intercept,
                slope: model.slope,
                scores: SetScores { log_loss: s.log_loss, accuracy: s.accuracy, auc: s.auc },
            });
            rows.extend(held.iter().zip(p).map(|(&i, probability)| OutOfFold {
                id: labelled[i].0.clone(),
                cancer: labelled[i].2,
                repeat: r + 1,
                fold: f + 1,
                probability,
            }));
        }
    }
    Ok((rows, fits))
}

#[cfg(test)]
#[path = "baseline_cv_tests.rs"]
mod tests;
