//! k-fold cross-validation of the classifier's training recipe: the labelled
//! patients are dealt into k folds stratified by label; for each fold the
//! whole recipe runs on the other folds (a fresh model, their own
//! training/validation split, early stopping, the best epoch kept) and the
//! kept model is scored on the fold, which took no part in any choice. The
//! spread over folds says how much a quality figure from one split of a few
//! dozen patients can be trusted. With repeats the deal is made again from
//! another seed ([`repeated_folds`]), and every fold of every repeat draws
//! its own initial weights ([`start_seed`]).

use serde::Serialize;

use super::data::{Sample, stratified_split_of};
use super::folds::{repeat_seed, repeated_folds};
use super::model::Classifier;
use super::scores::{Scores, score};
use super::side_by_side::{Log, side_by_side};
use super::train::{Start, TrainOptions, predict, train};
use crate::StageError;
use crate::formats::classifier::OutOfFold;
use crate::models::kernels::KernelAutodiff;

/// One fold's result.
#[derive(Clone, Debug, Serialize)]
pub struct FoldScores {
    /// 1-based repeat.
    pub repeat: usize,
    /// 1-based fold.
    pub fold: usize,
    /// Starts abandoned before one learned.
    pub restarts: usize,
    /// Patients held out in this fold.
    pub patients: usize,
    /// Of them, with cancer.
    pub cancers: usize,
    /// The epoch the recipe kept on the other folds.
    pub best_epoch: usize,
    /// Scores of the model trained on the other folds.
    pub scores: Scores,
}

/// What cross-validation produced.
#[derive(Clone, Debug)]
pub struct CrossValidation {
    /// Per fold.
    pub folds: Vec<FoldScores>,
    /// Every labelled patient's out-of-fold probability in every repeat.
    pub predictions: Vec<OutOfFold>,
}

/// The mean and sample standard deviation of some values.
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

impl CrossValidation {
    /// Mean and standard deviation over folds of one score.
    pub fn spread(&self, f: impl Fn(&Scores) -> f64) -> (f64, f64) {
        mean_sd(&self.folds.iter().map(|s| f(&s.scores)).collect::<Vec<_>>())
    }

    /// The scores of the out-of-fold probabilities of every patient at
    /// once, over all repeats' rows.
    pub fn pooled(&self) -> Scores {
        let p: Vec<f64> = self.predictions.iter().map(|r| r.probability).collect();
        let y: Vec<bool> = self.predictions.iter().map(|r| r.cancer).collect();
        score(&p, &y)
    }
}

/// One fold's patients: those held out, and the training and validation
/// split of the rest that the recipe uses.
#[derive(Clone, Debug, PartialEq)]
pub struct FoldPlan {
    /// The repeat, from 1.
    pub repeat: usize,
    /// The fold, from 1.
    pub fold: usize,
    /// The seed of its initial weights, split, order and augmentation.
    pub seed: u64,
    /// Held out and scored (indices into the samples, sorted).
    pub held_out: Vec<usize>,
    /// The rest, split as the recipe splits all patients.
    pub split: (Vec<usize>, Vec<usize>),
}

/// The seed of fold `fold` (from 0) of repeat `repeat` (from 0) of `folds`:
/// distinct for every fold and from `seed` itself (the kept model's).
pub fn start_seed(seed: u64, repeat: usize, fold: usize, folds: usize) -> u64 {
    repeat_seed(seed ^ 0x5EED_F01D, 1 + repeat * folds + fold)
}

/// The folds of every repeat and each fold's split of the other patients,
/// worked out before any training so that `folds` too large for the data
/// fails at once.
pub fn plan_folds(samples: &[Sample], k: usize, repeats: usize, val_fraction: f64, seed: u64) -> Result<Vec<FoldPlan>, StageError> {
    let labels: Vec<bool> = samples.iter().map(|s| s.label).collect();
    let mut plan = Vec::new();
    for (r, deal) in repeated_folds(&labels, k, repeats, seed)?.into_iter().enumerate() {
        for (f, held_out) in deal.into_iter().enumerate() {
            let rest: Vec<usize> = (0..samples.len()).filter(|i| held_out.binary_search(i).is_err()).collect();
            let seed = start_seed(seed, r, f, k);
            let split = stratified_split_of(samples, &rest, val_fraction, seed)
                .map_err(|e| StageError(format!("cross-validation fold {}/{k}, patients outside the fold: {e}; use fewer folds", f + 1)))?;
            plan.push(FoldPlan { repeat: r + 1, fold: f + 1, seed, held_out, split });
        }
    }
    Ok(plan)
}

/// Cross-validates the recipe over `plan`: for each fold, fresh models
/// (seeded by the fold's seed, made ready by [`prepare`](super::train::prepare)
/// and handed in `starts`, one list per fold) are fitted by [`train`] on the
/// fold's split of the other patients, exactly as the kept model was fitted
/// on all of them; its best epoch is scored on the fold. The folds train
/// side by side, a thread each; their log lines come out fold by fold.
/// Returns the scores and each fold's kept model, in plan order.
pub fn cross_validate<B: KernelAutodiff>(
    starts: Vec<Vec<Start<B>>>,
    samples: &[Sample],
    plan: &[FoldPlan],
    o: &TrainOptions,
    device: &B::Device,
    log: &mut dyn FnMut(&str),
) -> Result<(CrossValidation, Vec<Classifier<B::InnerBackend>>), StageError> {
    assert_eq!(starts.len(), plan.len(), "one list of starts per fold");
    let k = plan.iter().map(|f| f.fold).max().unwrap_or(0);
    let jobs = starts.into_iter().zip(plan).map(|(start, fold)| move |log: Log<'_>| fit_fold::<B>(start, samples, fold, k, o, device, log));
    let mut cv = CrossValidation { folds: Vec::new(), predictions: Vec::new() };
    let mut models = Vec::new();
    for (result, lines) in side_by_side(jobs) {
        lines.iter().for_each(|line| log(line));
        let (scores, predictions, model) = result?;
        cv.folds.push(scores);
        cv.predictions.extend(predictions);
        models.push(model);
    }
    cv.predictions.sort_by(|a, b| (a.repeat, &a.id).cmp(&(b.repeat, &b.id)));
    Ok((cv, models))
}

/// One fold's scores, its patients' out-of-fold rows, and its kept model.
type FoldResult<M> = (FoldScores, Vec<OutOfFold>, M);

/// One fold of `k`: the recipe fitted on the other patients from `starts`,
/// and its kept model's scores and probabilities on the fold's own.
fn fit_fold<B: KernelAutodiff>(
    starts: Vec<Start<B>>,
    samples: &[Sample],
    plan: &FoldPlan,
    k: usize,
    o: &TrainOptions,
    device: &B::Device,
    log: Log<'_>,
) -> Result<FoldResult<Classifier<B::InnerBackend>>, StageError> {
    let FoldPlan { repeat, fold, seed, held_out, split } = plan;
    let mut best = None;
    let mut keep = |m: &Classifier<B::InnerBackend>| {
        best = Some(m.clone());
        Ok(())
    };
    let o = TrainOptions { seed: *seed, ..o.clone() };
    let name = format!("repeat {repeat}, fold {fold}/{k}");
    let result = train(starts, samples, (&split.0, &split.1), &o, device, &mut keep, &mut |line| log(&format!("{name}, {line}")))?;
    let model = best.expect("train keeps at least one epoch");
    let set: Vec<&Sample> = held_out.iter().map(|&i| &samples[i]).collect();
    let p = predict(&model, &set, device);
    let labels: Vec<bool> = set.iter().map(|s| s.label).collect();
    let scores = score(&p, &labels);
    let cancers = labels.iter().filter(|&&y| y).count();
    log(&format!(
        "{name}: {} held-out patients ({cancers} with cancer), epoch {} kept: log loss {:.4} acc {:.3} AUC {:.3}",
        set.len(),
        result.best_epoch,
        scores.log_loss,
        scores.accuracy,
        scores.auc
    ));
    let predictions = set
        .iter()
        .zip(&p)
        .map(|(s, &p)| OutOfFold { id: s.id.clone(), cancer: s.label, repeat: *repeat, fold: *fold, probability: p })
        .collect();
    let row = FoldScores {
        repeat: *repeat,
        fold: *fold,
        restarts: result.restarts,
        patients: set.len(),
        cancers,
        best_epoch: result.best_epoch,
        scores,
    };
    Ok((row, predictions, model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::gmcae::features::FeatureMap;

    fn samples(n: usize, every: usize) -> Vec<Sample> {
        let f = FeatureMap { channels: 1, shape: [1, 1, 1], data: vec![0.0] };
        (0..n)
            .map(|i| Sample { id: format!("p{i:02}"), label: i % every == 0, features: f.clone(), blocks: 2, region: None, extra: vec![] })
            .collect()
    }

    #[test]
    fn a_fold_whose_rest_cannot_be_split_is_refused_before_training() {
        let s = samples(10, 5); // 2 with cancer: each fold's rest holds one
        let err = plan_folds(&s, 2, 1, 0.25, 1).unwrap_err();
        assert!(err.0.starts_with("cross-validation fold 1/2, patients outside the fold: need at least two"), "{err}");
        let plan = plan_folds(&samples(23, 3), 3, 2, 0.25, 1).unwrap();
        assert_eq!(plan.iter().map(|f| (f.repeat, f.fold)).collect::<Vec<_>>(), [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]);
        let seeds: std::collections::BTreeSet<u64> = plan.iter().map(|f| f.seed).chain([1]).collect();
        assert_eq!(seeds.len(), 7, "every fold draws its own weights, none the kept model's");
        for f in &plan {
            let mut all = [f.held_out.clone(), f.split.0.clone(), f.split.1.clone()].concat();
            all.sort_unstable();
            assert_eq!(all, (0..23).collect::<Vec<_>>(), "each fold's plan covers every patient once");
        }
    }

    #[test]
    fn mean_and_sample_sd() {
        let (m, sd) = mean_sd(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((sd - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_sd(&[0.7]), (0.7, 0.0));
    }
}
