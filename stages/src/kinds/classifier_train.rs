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
//! With `folds: k` the recipe is also cross-validated over the labelled
//! patients (see [`cross_validation`](crate::models::classifier::cross_validation)):
//! `cv_folds.parquet` (per fold), `cv_predictions.parquet` (every labelled
//! patient's out-of-fold probability) and `cv_*` metrics (mean and standard
//! deviation over folds, and the pooled out-of-fold scores). The kept model
//! is the one trained on the split, as without folds.

use std::collections::BTreeMap;
use std::path::Path;

use burn::backend::Autodiff;
use burn::prelude::*;
use serde_json::json;

use crate::contract::{ReportView, ScoredLabels};
use crate::formats::classifier::{
    AUC_PNG, EpochRow, FoldRow, HeldOut, LABEL_COLUMN, LOG_LOSS_PNG, OutOfFold, PROBABILITY_COLUMN, SetScores, VALIDATION_TABLE,
    write_cv_folds, write_cv_predictions, write_epochs, write_validation,
};
use crate::formats::features::{FEATURES_FILE, read_features};
use crate::formats::labels::read_labels;
use crate::formats::training::{load_model, read_model_json, save_weights, write_metrics, write_model_json, write_split, write_timings};
use crate::logs::line_log;
use crate::models::classifier::cross_validation::{CrossValidation, FoldPlan, cross_validate, plan_folds};
use crate::models::classifier::data::{Sample, stratified_split};
use crate::models::classifier::model::{Classifier, ClassifierShape};
use crate::models::classifier::scores::Scores;
use crate::models::classifier::side_by_side::{buffered, joined};
use crate::models::classifier::train::{EpochScores, TrainOptions, TrainResult, prepare, train};
use crate::models::gmcae::features::FeatureMap;
use crate::models::gmcae::model::GmcaeShape;
use crate::models::parse_widths;
use crate::params::{input_path, positive};
use crate::plot::{BLUE, DARK_GREY, ORANGE, Series, line_chart};
use crate::{ParamSpec, RunContext, StageError, StageKind, on_device, training_params};

training_params! {
    /// The parameters of `classifier_train`.
    pub struct Params {
        /// widths of the 3³ convolutions after the encoder
        widths: String = "16,16",
        /// stride of the first convolution (2 halves each axis: 8x less work)
        #[range(1..=16)]
        stride: i64 = 2,
        /// spatial pyramid levels (bins per axis)
        levels: String = "1,2,4",
        /// units of the hidden dense layer
        #[range(1..=4096)]
        hidden: i64 = 32,
        /// dropout before the dense layers
        #[range(0.0..=0.99)]
        dropout: f64 = 0.3,
        /// last GMCAE encoder blocks trained with the classifier (0 = encoder frozen)
        #[range(0..=64)]
        fine_tune: i64 = 0,
        /// Adam learning rate
        #[range(1e-8..=1.0)]
        lr: f64 = 1e-3,
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
            hidden: positive("hidden", self.hidden)?,
            dropout: self.dropout,
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
        })
    }
}

/// Trains the cancer classifier.
pub struct ClassifierTrain;

impl StageKind for ClassifierTrain {
    fn name(&self) -> &'static str {
        "classifier_train"
    }

    fn version(&self) -> u32 {
        3
    }

    fn doc(&self) -> &'static str {
        "trains the 3-D CNN + spatial pyramid pooling classifier on gathered encoder features (inputs `features`, `labels`, optional `encoder`)"
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
        let samples = load_labelled(input_path(ctx, "features")?, &read_labels(labels_path)?, labels_path)?;
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
            k if k >= 2 => Some(plan_folds(&samples, k as usize, p.val_fraction, p.seed as u64)?),
            k => return Err(StageError(format!("folds must be 0 (no cross-validation) or at least 2, got {k}"))),
        };
        let mut log = line_log(ctx.log_path)?;
        let fit = Fit { encoder, out: ctx.out_dir, shape: &shape, samples: &samples, split: &split, o: &o, folds: folds.as_deref() };
        let (result, cv) = on_device!(p.device.as_str(), fit_on(&fit, &mut log))?;
        write_timings(ctx.timings_path, result.epochs.iter().map(|m| json!({"epoch": m.epoch, "seconds": m.seconds})).collect())?;
        if let Some(cv) = &cv {
            write_cv_tables(ctx.out_dir, cv)?;
        }
        write_outputs(ctx.out_dir, &shape, &samples, &split, &result, cv.as_ref())
    }
}

/// Loads the features of every labelled patient from a gathered `encode`
/// input (one folder per patient). Patients without a label are skipped
/// (they are the test patients); a label without features is an error, and
/// so is a labels file that labels no one.
fn load_labelled(dir: &Path, labels: &BTreeMap<String, bool>, labels_path: &Path) -> Result<Vec<Sample>, StageError> {
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
        let (meta, data) = read_features(&dir.join(id).join(FEATURES_FILE))?;
        let features = FeatureMap { channels: meta.channels, shape: meta.shape, data };
        samples.push(Sample { id: id.clone(), label, features, blocks: meta.blocks });
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
    shape: &'a ClassifierShape,
    samples: &'a [Sample],
    split: &'a (Vec<usize>, Vec<usize>),
    o: &'a TrainOptions,
    /// Cross-validation folds, if any.
    folds: Option<&'a [FoldPlan]>,
}

/// Builds the network (with the GMCAE's blocks when fine-tuning) and trains
/// it; with folds, cross-validates the same recipe at the same time. Every
/// training starts from the same seed and is made ready here, one after
/// another (the backend's generator is global); then they run side by side,
/// and each gives the bits it would give alone.
fn fit_on<B: crate::models::kernels::KernelBackend>(
    device: &B::Device,
    f: &Fit<'_>,
    log: &mut dyn FnMut(&str),
) -> Result<(TrainResult, Option<CrossValidation>), StageError> {
    // The fine-tuned encoder blocks are read once; each model gets a copy.
    let tail = match f.encoder.filter(|_| !f.shape.tail_widths.is_empty()) {
        None => None,
        Some(dir) => {
            let (_, gmcae) = load_model::<Autodiff<B>, GmcaeShape, _>(dir, device, |s, d| s.init::<Autodiff<B>>(d))?;
            Some(gmcae.encoder_tail(f.samples[0].blocks))
        }
    };
    let fresh = |train_len: usize| {
        // Seeded after loading, so the classifier's weights do not depend on it.
        Autodiff::<B>::seed(device, f.o.seed);
        let model: Classifier<Autodiff<B>> = f.shape.init(device);
        let model = match &tail {
            Some(tail) => model.with_tail(tail.clone()),
            None => model,
        };
        prepare(model, &f.samples[0], f.o, train_len, device)
    };
    let (train_idx, val_idx) = f.split;
    let main = fresh(train_idx.len());
    let folds = f.folds.map(|plan| (plan, plan.iter().map(|fold| fresh(fold.split.0.len())).collect::<Vec<_>>()));
    std::thread::scope(|scope| {
        let cv = folds.map(|(plan, starts)| scope.spawn(move || buffered(|log| cross_validate(starts, f.samples, plan, f.o, device, log))));
        // The kept model's lines go to the log as they come; the folds' after it.
        let result = train(main, f.samples, (train_idx, val_idx), f.o, device, &mut |m| save_weights(m, f.out), log)?;
        let cv = match cv.map(joined) {
            Some((cv, lines)) => {
                lines.iter().for_each(|line| log(line));
                Some(cv?)
            }
            None => None,
        };
        Ok((result, cv))
    })
}

fn write_outputs(
    out: &Path,
    shape: &ClassifierShape,
    samples: &[Sample],
    (train_idx, val_idx): &(Vec<usize>, Vec<usize>),
    r: &TrainResult,
    cv: Option<&CrossValidation>,
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
    if let Some(cv) = cv {
        let (auc_mean, auc_sd) = cv.spread(|s| s.auc);
        let (loss_mean, loss_sd) = cv.spread(|s| s.log_loss);
        let pooled = cv.pooled();
        for (name, value) in [
            ("cv_auc_mean", auc_mean),
            ("cv_auc_sd", auc_sd),
            ("cv_log_loss_mean", loss_mean),
            ("cv_log_loss_sd", loss_sd),
            ("cv_pooled_auc", pooled.auc),
            ("cv_pooled_log_loss", pooled.log_loss),
        ] {
            metrics[name] = json!(value);
        }
        metrics["cv_folds"] = json!(cv.folds.len());
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
        fold: s.fold,
        patients: s.patients,
        cancers: s.cancers,
        best_epoch: s.best_epoch,
        scores: set(&s.scores),
    });
    write_cv_folds(out, &folds.collect::<Vec<_>>())?;
    let held = |(id, cancer, fold, probability): &(String, bool, usize, f64)| OutOfFold {
        id: id.clone(),
        cancer: *cancer,
        repeat: 1,
        fold: *fold,
        probability: *probability,
    };
    write_cv_predictions(out, &cv.predictions.iter().map(held).collect::<Vec<_>>())
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
        let err = load_labelled(&dir, &labels, &labels_path).unwrap_err();
        assert!(err.0.starts_with(&format!("{}: the file labels no patient", labels_path.display())), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_labelled_patient_without_features_is_an_error_naming_the_labels_file() {
        let dir = temp("no-features");
        let labels = BTreeMap::from([("p1".to_owned(), true)]);
        let err = load_labelled(&dir, &labels, Path::new("labels.csv")).unwrap_err();
        assert!(err.0.contains("labels.csv labels patient p1, but no features"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_frozen_encoder_fine_tunes_nothing_and_a_negative_count_is_refused() {
        assert_eq!(tail_widths(0, None, 2).unwrap(), Vec::<usize>::new());
        assert!(tail_widths(-1, None, 2).unwrap_err().0.contains("fine_tune must be 0 or more"));
    }
}
