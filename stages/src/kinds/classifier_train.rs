//! The `classifier_train` kind: the 3-D CNN with spatial pyramid pooling on
//! the encoder features of every labelled patient (input `features`,
//! gathered from `encode`; input `labels`, an `id,cancer` CSV). Patients
//! without a label are the test patients and are not read.
//!
//! With `fine_tune: k` the last k GMCAE encoder blocks (input `encoder`, a
//! `gmcae_train` output) are trained inside the classifier; the features must
//! then come from the first blocks only (`encode` with `blocks` = all − k),
//! which is how kdsb17 froze its first two blocks.
//!
//! Outputs: `model.mpk` and `model.json` (the best epoch), `metrics.parquet`
//! (per epoch: log loss, accuracy and AUC on training and validation
//! patients, and the class-prior baseline), `metrics.json`, `split.json`,
//! `validation.parquet` (validation probabilities), `log_loss.png` and
//! `auc.png`, as in [`formats::training`](crate::formats::training) and
//! [`formats::classifier`](crate::formats::classifier).
//!
//! With `folds: k` (and `repeats: r`) the recipe is also cross-validated
//! over the labelled patients, r deals of k folds (see
//! [`cross_validation`](crate::models::classifier::cross_validation)):
//! `cv_folds.parquet` (per fold), `cv_predictions.parquet` (every labelled
//! patient's out-of-fold probability, per repeat) and `cv_*` metrics: the
//! mean, standard deviation and minimum of the folds' AUCs, the
//! cross-validated AUC (pooled out-of-fold, mean over repeats) with its
//! patient-bootstrap 95 % interval, log loss, Brier score and expected
//! calibration error of the pooled out-of-fold probabilities. Each fold's
//! model is kept under `folds/rRfF/` (`model.mpk`, `model.json`), so that
//! `predict` can average them with the model trained on the split.
//!
//! With an input `baseline` (a kind that writes `cv_predictions.parquet`
//! on the same folds, e.g. `baseline_cv`), the metrics add the paired
//! difference of the cross-validated AUCs (`cv_auc_baseline_diff` with its 95 %
//! interval over the same patient resamples) and `beats_baseline` (1 when
//! the interval lies above 0). With an input `nodules` (a cohort's
//! `nodules.csv`), `cv_sensitivity_GROUP` and `cv_auc_GROUP` say how each
//! kind of cancer is ranked out of fold (the groups of `evaluate`; see
//! [`cv_summary`](crate::models::classifier::cv_summary)).
//!
//! With an input `scores` (gathered `score.json` folders, e.g. the
//! `nodule_score` detector's), each patient's score joins the network's head
//! beside the pooled features: centred and scaled on each fit's training
//! patients, it reaches the logit directly (past the hidden layer and
//! dropout), and `predict` then needs the patient's score too.
//!
//! The recipe (all parameters): the features are centred and scaled per
//! channel on each fit's training patients and clamped to ±`input_clip`;
//! pooling reads the dilated lung
//! region only (`pool_lung`, from `encode`'s `lung.arrow`); new layers start
//! from Glorot weights, zero biases and the output bias at logit(prior);
//! AdamW with weight decay and a linear warm-up; early stopping counts once
//! the training log loss is `learn_margin` below the prior's, and a start
//! that never gets there in `restart_after` epochs, or whose kept epoch's
//! validation log loss is not that margin below the prior's, is replaced
//! by the next of `restarts` (said in the log). Every fold draws its own
//! weights.

use std::collections::BTreeMap;
use std::path::Path;

use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::prelude::*;
use serde_json::json;

use crate::contract::{ReportView, ScoredLabels};
use crate::formats::classifier::{
    AUC_PNG, CV_PREDICTIONS_TABLE, EpochRow, FoldRow, HeldOut, LABEL_COLUMN, LOG_LOSS_PNG, PROBABILITY_COLUMN, SetScores, VALIDATION_TABLE,
    fold_model_dir, read_out_of_fold, write_cv_folds, write_cv_predictions, write_epochs, write_validation,
};
use crate::formats::labels::read_labels;
use crate::formats::nodule_score::read_scores;
use crate::formats::nodules::read_nodules;
use crate::formats::training::{load_model, read_model_json, save_weights, write_metrics, write_model_json, write_split, write_timings};
use crate::logs::line_log;
use crate::models::classifier::cross_validation::{CrossValidation, FoldPlan, cross_validate, plan_folds};
use crate::models::classifier::cv_summary::cv_metrics;
use crate::models::classifier::data::{Sample, read_patient_features, stratified_split};
use crate::models::classifier::folds::repeat_seed;
use crate::models::classifier::model::{Classifier, ClassifierShape};
use crate::models::classifier::normalise::ChannelStats;
use crate::models::classifier::paired::OutOfFoldMatrix;
use crate::models::classifier::scores::{Scores, positive_rate};
use crate::models::classifier::sensitivity::by_patient;
use crate::models::classifier::side_by_side::buffered;
use crate::models::classifier::train::{EpochScores, Start, TrainOptions, TrainResult, prepare, train};
use crate::models::gmcae::model::GmcaeShape;
use crate::models::parse_widths;
use crate::params::{input_path, positive};
use crate::plot::{BLUE, DARK_GREY, ORANGE, Series, line_chart};
use crate::{ParamSpec, RunContext, StageError, StageKind, on_device, training_params};

training_params! {
    /// The parameters of `classifier_train`.
    pub struct Params {
        /// widths of the 3³ convolutions after the encoder
        widths: String = "16",
        /// stride of the first convolution (2 halves each axis: 8x less work)
        #[range(1..=16)]
        stride: i64 = 2,
        /// spatial pyramid levels (bins per axis)
        levels: String = "1",
        /// units of the hidden dense layer (0 = none: the logit reads the pooled vector)
        #[range(0..=4096)]
        hidden: i64 = 0,
        /// dropout before the dense layers
        #[range(0.0..=0.99)]
        dropout: f64 = 0.0,
        /// max-pool over the dilated lung region only (needs encode's lung.arrow)
        pool_lung: bool = true,
        /// code voxels the lung region is grown by (negative: shrunk, to leave out the mask's shell of chest wall)
        #[range(-16..=16)]
        pool_grow: i64 = -3,
        /// centre and scale each feature channel on the training patients
        normalise: bool = true,
        /// clamp the centred and scaled features to ±this many standard deviations (0 = no clamp)
        #[range(0.0..=1000.0)]
        input_clip: f64 = 3.0,
        /// centre and scale the pooled vector on the training patients at every epoch's start
        head_norm: bool = false,
        /// last GMCAE encoder blocks trained with the classifier (0 = encoder frozen)
        #[range(0..=64)]
        fine_tune: i64 = 0,
        /// AdamW learning rate
        #[range(1e-8..=1.0)]
        lr: f64 = 1e-3,
        /// AdamW decoupled weight decay
        #[range(0.0..=10.0)]
        weight_decay: f64 = 0.01,
        /// epochs of linear learning-rate warm-up
        #[range(0..=1000)]
        warmup_epochs: i64 = 2,
        /// nats the training log loss must fall below the prior's to count as learning
        #[range(0.0..=1.0)]
        learn_margin: f64 = 0.05,
        /// epochs a start may take to learn before the next start replaces it (0 = never)
        #[range(0..=100000)]
        restart_after: i64 = 10,
        /// further starts (fresh initial weights) tried when one does not learn
        #[range(0..=16)]
        restarts: i64 = 4,
        /// spread of the input `scores` after centring, in units per standard deviation (their weight starts at 0)
        #[range(0.0..=1000.0)]
        score_gain: f64 = 10.0,
    }
    training {
        /// patients per step
        batch_size = 4,
        epochs = 30,
        /// early stopping patience in epochs (counted once the training log loss is under the class prior's)
        patience = 8,
        /// fraction of each class's patients held out for validation
        val_fraction,
        own {
            /// k-fold cross-validation of the recipe over the labelled patients (0 = none)
            #[range(0..=100)]
            folds: i64 = 0,
            /// deals of the folds (each with its own fold seeds)
            #[range(1..=100)]
            repeats: i64 = 1,
        }
        /// random cube symmetry (of 48) per patient per step
        augment,
    }
}

impl Params {
    /// The architecture for features like `first`'s, with the encoder blocks
    /// to fine-tune (`tail_widths`).
    fn shape(&self, first: &Sample, tail_widths: Vec<usize>) -> Result<ClassifierShape, StageError> {
        Ok(ClassifierShape {
            in_channels: first.features.channels,
            tail_widths,
            widths: parse_widths(&self.widths)?,
            stride: positive("stride", self.stride)?,
            levels: parse_widths(&self.levels)?,
            hidden: usize::try_from(self.hidden).map_err(|_| StageError::msg("hidden must be 0 or more"))?,
            dropout: self.dropout,
            pool_lung: self.pool_lung,
            pool_grow: self.pool_grow,
            input_mean: Vec::new(),
            input_scale: Vec::new(),
            input_clip: self.input_clip as f32,
            extra_inputs: first.extra.len(),
        })
    }

    /// The training options, checked.
    fn options(&self) -> Result<TrainOptions, StageError> {
        Ok(TrainOptions {
            learning_rate: self.lr,
            batch_size: positive("batch_size", self.batch_size)?,
            epochs: positive("epochs", self.epochs)?,
            patience: positive("patience", self.patience)?,
            clip_norm: self.clip_norm,
            seed: self.seed as u64,
            augment: self.augment,
            weight_decay: self.weight_decay,
            warmup_epochs: self.warmup_epochs as usize,
            learn_margin: self.learn_margin,
            restart_after: self.restart_after as usize,
            head_norm: self.head_norm,
            extra_gain: self.score_gain,
        })
    }
}

/// Trains the cancer classifier.
pub struct ClassifierTrain;

impl StageKind for ClassifierTrain {
    fn name(&self) -> &'static str {
        "classifier_train"
    }

    /// 4: the recipe of issue 30 (lung pooling, normalisation, restarts,
    /// repeats, fold models kept); 5: features clamped (`input_clip`); 6:
    /// running training scores (no second pass over the training patients).
    fn version(&self) -> u32 {
        6
    }

    fn doc(&self) -> &'static str {
        "trains the 3-D CNN + spatial pyramid pooling classifier on gathered encoder features (inputs `features`, `labels`, optional `encoder`, `baseline`, `nodules` and `scores`)"
    }

    fn wants_all_cores(&self) -> bool {
        true
    }

    fn params(&self) -> Vec<ParamSpec> {
        Params::specs()
    }

    /// The validation patients' probabilities, drawn as an ROC curve.
    fn report_view(&self) -> ReportView {
        let scores =
            ScoredLabels { table: VALIDATION_TABLE, label_column: LABEL_COLUMN, score_column: PROBABILITY_COLUMN, rows_are: "patients" };
        ReportView { scored_labels: Some(scores), ..ReportView::default() }
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        // Runs alone (all cores), so it may tune the process's allocator.
        let _heap = crate::models::heap::ReuseFreedMemory::start();
        let p = Params::parse(ctx.params)?;
        let labels_path = input_path(ctx, "labels")?;
        let pooling = p.pool_lung.then_some(p.pool_grow);
        let scores = ctx.inputs.get("scores").map(|input| read_scores(&input.path).map(|s| (input.path.as_path(), s))).transpose()?;
        let samples = load_labelled(input_path(ctx, "features")?, &read_labels(labels_path)?, labels_path, pooling, scores.as_ref())?;
        // The whole architecture is checked before any data-dependent step.
        let encoder = if p.fine_tune > 0 {
            Some(input_path(ctx, "encoder").map_err(|e| StageError(format!("fine_tune > 0 needs the GMCAE: {e}")))?)
        } else {
            None
        };
        let shape = p.shape(&samples[0], tail_widths(p.fine_tune, encoder, samples[0].blocks)?)?;
        let split = stratified_split(&samples, p.val_fraction, p.seed as u64)?;
        let o = p.options()?;
        let spatial = samples.iter().map(|s| s.features.shape).fold([1; 3], |a, b| [a[0].max(b[0]), a[1].max(b[1]), a[2].max(b[2])]);
        shape.check_size(o.batch_size, spatial)?;
        let folds = match p.folds {
            0 => None,
            k if k >= 2 => Some(plan_folds(&samples, k as usize, p.repeats as usize, p.val_fraction, p.seed as u64)?),
            k => return Err(StageError(format!("folds must be 0 (no cross-validation) or at least 2, got {k}"))),
        };
        // The baseline is compared on the cross-validation's folds: without
        // folds (a quick try) there is nothing to compare, which the log says.
        let has_baseline = ctx.inputs.contains_key("baseline");
        let baseline = match (has_baseline, &folds) {
            (true, Some(_)) => Some(read_baseline(input_path(ctx, "baseline")?)?),
            _ => None,
        };
        // Read before training, so that a bad file costs no training time.
        let nodules = ctx.inputs.get("nodules").map(|input| read_nodules(&input.path).map(|n| by_patient(&n))).transpose()?;
        let mut log = line_log(ctx.log_path)?;
        if (has_baseline || nodules.is_some()) && folds.is_none() {
            log("folds = 0: no cross-validation, so no comparison with the baseline and no scores by nodule group");
        }
        let stats = ChannelStats::of(&samples);
        let fit = Fit {
            encoder,
            out: ctx.out_dir,
            shape: &shape,
            normalise: p.normalise.then_some(&stats),
            samples: &samples,
            split: &split,
            o: &o,
            restarts: p.restarts as usize,
            folds: folds.as_deref(),
        };
        let (result, cv) = on_device!(p.device.as_str(), fit_on(&fit, &mut log))?;
        write_timings(ctx.timings_path, result.epochs.iter().map(|m| json!({"epoch": m.epoch, "seconds": m.seconds})).collect())?;
        if let Some(cv) = &cv {
            write_cv_tables(ctx.out_dir, cv)?;
        }
        let summary = cv.as_ref().map(|cv| cv_metrics(cv, baseline.as_ref(), nodules.as_ref(), p.seed as u64, &mut log)).transpose()?;
        write_outputs(ctx.out_dir, &fit.shape_for(&split.0), &samples, &split, &result, summary)
    }
}

/// Loads the features of every labelled patient from a gathered `encode`
/// input (one folder per patient), with their pooling region (dilated by
/// `pooling` code voxels) when given. Patients without a label are skipped
/// (they are the test patients); a label without features is an error, and
/// so is a labels file that labels no one. With `scores` (their folder and
/// the scores by patient), each patient's score is its extra number.
fn load_labelled(
    dir: &Path,
    labels: &BTreeMap<String, bool>,
    labels_path: &Path,
    pooling: Option<i64>,
    scores: Option<&(&Path, BTreeMap<String, f64>)>,
) -> Result<Vec<Sample>, StageError> {
    if labels.is_empty() {
        return Err(StageError(format!("{}: the file labels no patient, so there is nothing to train on", labels_path.display())));
    }
    let mut samples = Vec::new();
    for (id, &label) in labels {
        if !dir.join(id).exists() {
            return Err(StageError(format!(
                "{} labels patient {id}, but no features were computed for it (is it among the pipeline's items?)",
                labels_path.display()
            )));
        }
        let (meta, features, region) = read_patient_features(&dir.join(id), pooling)?;
        let extra = match scores {
            None => Vec::new(),
            Some((folder, scores)) => vec![*scores.get(id).ok_or_else(|| {
                StageError(format!("{}: no score for labelled patient {id} (no folder {id} holding a score.json)", folder.display()))
            })? as f32],
        };
        samples.push(Sample { id: id.clone(), label, features, blocks: meta.blocks, region, extra });
    }
    let first = &samples[0];
    if let Some(s) = samples.iter().find(|s| s.features.channels != first.features.channels || s.blocks != first.blocks) {
        return Err(StageError(format!("patient {}'s features differ in channels or encoder blocks from patient {}'s", s.id, first.id)));
    }
    Ok(samples)
}

/// Widths of the encoder blocks to fine-tune (empty when frozen), checked
/// against the `blocks` that produced the features.
fn tail_widths(fine_tune: i64, encoder: Option<&Path>, blocks: usize) -> Result<Vec<usize>, StageError> {
    let fine_tune = usize::try_from(fine_tune).map_err(|_| StageError::msg("fine_tune must be 0 or more"))?;
    let Some(dir) = encoder.filter(|_| fine_tune > 0) else {
        return Ok(Vec::new());
    };
    let shape: GmcaeShape = read_model_json(dir)?;
    let total = shape.widths.len();
    if blocks + fine_tune != total {
        let wanted = total.saturating_sub(fine_tune);
        return Err(StageError(format!(
            "fine_tune {fine_tune} needs features from the first {wanted} of the encoder's {total} blocks, but they come from {blocks} (set the encode stage's blocks to {wanted})"
        )));
    }
    Ok(shape.widths[blocks..].to_vec())
}

/// What fitting needs besides the backend.
struct Fit<'a> {
    /// The GMCAE's folder, when fine-tuning.
    encoder: Option<&'a Path>,
    /// Where the best model is saved.
    out: &'a Path,
    /// The architecture, before the input normalisation of a fit.
    shape: &'a ClassifierShape,
    /// The channels' statistics, when the inputs are normalised.
    normalise: Option<&'a ChannelStats>,
    samples: &'a [Sample],
    split: &'a (Vec<usize>, Vec<usize>),
    o: &'a TrainOptions,
    /// Further starts per training.
    restarts: usize,
    /// Cross-validation folds, if any.
    folds: Option<&'a [FoldPlan]>,
}

impl Fit<'_> {
    /// The architecture of a model fitted on the patients at `train`: with
    /// their channels' centring and scaling when normalising.
    fn shape_for(&self, train: &[usize]) -> ClassifierShape {
        let mut shape = self.shape.clone();
        if let Some(stats) = self.normalise {
            (shape.input_mean, shape.input_scale) = stats.mean_scale(train);
        }
        shape
    }
}

/// Builds the networks (with the GMCAE's blocks when fine-tuning) and trains
/// the kept one; with folds, cross-validates the same recipe at the same
/// time and saves each fold's model under `folds/`. Every training's starts
/// (its own seed, and one more per restart) are made ready here, one after
/// another (the backend's generator is global); then they run side by side
/// as tasks of rayon's pool, and each gives the bits it would give alone.
/// The log has the kept model's lines first, then each fold's.
fn fit_on<B: crate::models::kernels::KernelBackend>(
    device: &B::Device,
    f: &Fit<'_>,
    log: &mut dyn FnMut(&str),
) -> Result<(TrainResult, Option<CrossValidation>), StageError> {
    // The fine-tuned encoder blocks are read once, without autodiff; each
    // model gets its own autodiff copy (fresh leaf nodes, same values). A
    // plain clone would share the leaves, so the trainings running side by
    // side would join one autodiff graph and wait on each other's lock.
    let tail = match f.encoder.filter(|_| !f.shape.tail_widths.is_empty()) {
        None => None,
        Some(dir) => {
            let (_, gmcae) = load_model::<Autodiff<B>, GmcaeShape, _>(dir, device, |s, d| s.init::<Autodiff<B>>(d))?;
            Some(gmcae.encoder_tail(f.samples[0].blocks).valid())
        }
    };
    let starts = |train: &[usize], seed: u64| -> Vec<Start<Autodiff<B>>> {
        let shape = f.shape_for(train);
        let prior = positive_rate(&train.iter().map(|&i| f.samples[i].label).collect::<Vec<_>>());
        (0..=f.restarts)
            .map(|a| {
                // Seeded after loading, so the classifier's weights do not depend on it.
                Autodiff::<B>::seed(device, repeat_seed(seed, a));
                let model: Classifier<Autodiff<B>> = shape.init(device);
                let model = match &tail {
                    Some(tail) => model.with_tail(AutodiffModule::from_inner(tail.clone())),
                    None => model,
                };
                prepare(model, &f.samples[0], f.o, (train.len(), prior), device)
            })
            .collect()
    };
    let (train_idx, val_idx) = f.split;
    let main = starts(train_idx, f.o.seed);
    let folds = f.folds.map(|plan| (plan, plan.iter().map(|fold| starts(&fold.split.0, fold.seed)).collect::<Vec<_>>()));
    let cv_job = || folds.map(|(plan, starts)| buffered(|log| cross_validate(starts, f.samples, plan, f.o, device, log)));
    let kept_job = || buffered(|log| train(main, f.samples, (train_idx, val_idx), f.o, device, &mut |m| save_weights(m, f.out), log));
    let ((result, kept_lines), cv) = rayon::join(kept_job, cv_job);
    kept_lines.iter().for_each(|line| log(line));
    let result = result?;
    let cv = match cv {
        Some((cv, lines)) => {
            lines.iter().for_each(|line| log(line));
            let (cv, models) = cv?;
            let plan = f.folds.expect("folds were planned");
            for ((fold, model), plan) in cv.folds.iter().zip(&models).zip(plan) {
                let dir = f.out.join(fold_model_dir(fold.repeat, fold.fold));
                std::fs::create_dir_all(&dir).map_err(|e| StageError(format!("cannot create {}: {e}", dir.display())))?;
                save_weights(model, &dir)?;
                write_model_json(&dir, &f.shape_for(&plan.split.0))?;
            }
            Some(cv)
        }
        None => None,
    };
    Ok((result, cv))
}

/// The baseline's out-of-fold predictions (`cv_predictions.parquet` in
/// its output folder).
fn read_baseline(dir: &Path) -> Result<OutOfFoldMatrix, StageError> {
    let path = dir.join(CV_PREDICTIONS_TABLE);
    OutOfFoldMatrix::from_rows(&read_out_of_fold(&path)?, &path.display().to_string())
}

fn write_outputs(
    out: &Path,
    shape: &ClassifierShape,
    samples: &[Sample],
    (train_idx, val_idx): &(Vec<usize>, Vec<usize>),
    r: &TrainResult,
    cv: Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<(), StageError> {
    write_tables(out, r)?;
    let best = &r.epochs[r.best_epoch - 1];
    let mut metrics = json!({
        "val_log_loss": best.val.log_loss,
        "val_accuracy": best.val.accuracy,
        "val_auc": best.val.auc,
        "prior_val_log_loss": r.prior_val_log_loss,
        "train_log_loss": best.train.log_loss,
        "train_auc": best.train.auc,
        "best_epoch": r.best_epoch,
        "epochs": r.epochs.len(),
        "training_cancer_rate": r.prior,
    });
    metrics["restarts"] = json!(r.restarts);
    if let Some(cv) = cv {
        metrics.as_object_mut().expect("an object").extend(cv);
    }
    write_metrics(out, &metrics)?;
    write_model_json(out, shape)?;
    let ids = |idx: &[usize]| idx.iter().map(|&i| samples[i].id.clone()).collect::<Vec<_>>();
    write_split(out, &ids(train_idx), &ids(val_idx))?;
    let curve = |name, color, f: &dyn Fn(&EpochScores) -> f64| Series {
        name,
        color,
        points: r.epochs.iter().map(|m| (m.epoch as f64, f(m))).collect(),
    };
    line_chart(
        &out.join(LOG_LOSS_PNG),
        "classifier log loss",
        "epoch",
        "log loss (nats)",
        &[
            curve("train", BLUE, &|m| m.train.log_loss),
            curve("validation", ORANGE, &|m| m.val.log_loss),
            curve("class prior", DARK_GREY, &|_| r.prior_val_log_loss),
        ],
    )?;
    line_chart(
        &out.join(AUC_PNG),
        "classifier ROC AUC",
        "epoch",
        "AUC",
        &[curve("train", BLUE, &|m| m.train.auc), curve("validation", ORANGE, &|m| m.val.auc)],
    )
}

/// `metrics.parquet` (one row per epoch) and `validation.parquet`.
fn write_tables(out: &Path, r: &TrainResult) -> Result<(), StageError> {
    let rows: Vec<EpochRow> = r.epochs.iter().map(|m| EpochRow { epoch: m.epoch, train: set(&m.train), val: set(&m.val) }).collect();
    write_epochs(out, &rows, r.prior_val_log_loss)?;
    let held = |(id, cancer, probability): &(String, bool, f64)| HeldOut { id: id.clone(), cancer: *cancer, probability: *probability };
    write_validation(out, &r.val_predictions.iter().map(held).collect::<Vec<_>>())
}

/// `cv_folds.parquet` (one row per fold) and `cv_predictions.parquet`.
fn write_cv_tables(out: &Path, cv: &CrossValidation) -> Result<(), StageError> {
    let folds = cv.folds.iter().map(|s| FoldRow {
        repeat: s.repeat,
        fold: s.fold,
        patients: s.patients,
        cancers: s.cancers,
        best_epoch: s.best_epoch,
        restarts: s.restarts,
        scores: set(&s.scores),
    });
    write_cv_folds(out, &folds.collect::<Vec<_>>())?;
    write_cv_predictions(out, &cv.predictions)
}

/// A model's scores as the tables write them.
fn set(s: &Scores) -> SetScores {
    SetScores { log_loss: s.log_loss, accuracy: s.accuracy, auc: s.auc }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("lf-classifier-train-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_labels_file_with_only_a_header_is_an_error_naming_it() {
        let dir = temp("header-only");
        let labels_path = dir.join(crate::formats::labels::TRAIN_LABELS_FILE);
        std::fs::write(&labels_path, "id,cancer\n").unwrap();
        let labels = read_labels(&labels_path).unwrap();
        let err = load_labelled(&dir, &labels, &labels_path, None, None).unwrap_err();
        assert!(err.0.starts_with(&format!("{}: the file labels no patient", labels_path.display())), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_labelled_patient_without_features_is_an_error_naming_the_labels_file() {
        let dir = temp("no-features");
        let labels = BTreeMap::from([("p1".to_owned(), true)]);
        let err = load_labelled(&dir, &labels, Path::new("labels.csv"), None, None).unwrap_err();
        assert!(err.0.contains("labels.csv labels patient p1, but no features"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_frozen_encoder_fine_tunes_nothing_and_a_negative_count_is_refused() {
        assert_eq!(tail_widths(0, None, 2).unwrap(), Vec::<usize>::new());
        assert!(tail_widths(-1, None, 2).unwrap_err().0.contains("fine_tune must be 0 or more"));
    }
}
