//! The `predict` kind: one patient's probability of cancer from the trained
//! classifier (input `model`, a `classifier_train` output) and the patient's
//! encoder features (input `features`, an `encode` output), written as
//! [`prediction.json`](crate::formats::prediction).
//!
//! With `ensemble: true` (the default) the probability is the mean of the
//! kept model and every cross-validation fold's model the classifier saved
//! under `folds/`, so that every labelled patient contributes; each model's
//! own probability is written beside it.
//!
//! A classifier trained with a score beside the features (`classifier_train`'s
//! input `scores`) needs the patient's score here too: input `score`, the
//! patient's `score.json` folder.

use std::path::Path;

use crate::formats::classifier::{FOLD_MODELS_DIR, fold_model_dir};
use crate::formats::nodule_score::{SCORE_FILE, read_score};
use crate::formats::prediction::{ModelScore, PREDICTION_FILE, Prediction, write_prediction};
use crate::formats::training::{load_model, read_model_json};
use crate::models::classifier::data::read_patient_features;
use crate::models::classifier::model::ClassifierShape;
use crate::models::gmcae::features::FeatureMap;
use crate::models::kernels::KernelBackend;
use crate::models::symmetry::Symmetry;
use crate::params::input_path;
use crate::{ParamSpec, RunContext, StageError, StageKind, kind_params, on_device};

kind_params! {
    /// The parameters of `predict`.
    pub struct Params {
        /// average the probability over the first n of the 48 cube symmetries (test-time augmentation)
        #[range(1..=48)]
        symmetries: i64 = 1,
        /// average the kept model with the cross-validation folds' models
        ensemble: bool = true,
        /// cpu (burn flex) or cuda (needs --features cuda)
        device: String = "cpu",
    }
}

/// Predicts one patient.
pub struct Predict;

impl StageKind for Predict {
    fn name(&self) -> &'static str {
        "predict"
    }

    /// 3: the folds' models averaged in, lung pooling.
    fn version(&self) -> u32 {
        3
    }

    fn doc(&self) -> &'static str {
        "one patient's probability of cancer from the classifier (input `model`) and its features (input `features`; and its score, input `score`, when the classifier reads one): prediction.json"
    }

    fn params(&self) -> Vec<ParamSpec> {
        Params::specs()
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let p = Params::parse(ctx.params)?;
        let n = usize::try_from(p.symmetries)
            .ok()
            .filter(|n| (1..=48).contains(n))
            .ok_or_else(|| StageError::msg("symmetries must be between 1 and 48"))?;
        let model_dir = input_path(ctx, "model")?;
        let features_dir = input_path(ctx, "features")?;
        let models = model_dirs(model_dir, p.ensemble)?;
        // Every model of one classifier pools alike: the kept one says how.
        let kept: ClassifierShape = read_model_json(model_dir)?;
        // The small file first: a missing or unexpected score fails before the features are read.
        let extra = patient_score(ctx, &kept, model_dir)?;
        let (meta, features, region) = read_patient_features(features_dir, kept.pool_lung.then_some(kept.pool_grow))?;
        let patient = Patient { features: &features, region: region.as_deref(), extra: &extra };
        let scores = on_device!(p.device.as_str(), probabilities(model_dir, &models, &patient, n))?;
        let probability = scores.iter().map(|s| s.probability).sum::<f64>() / scores.len() as f64;
        let prediction = Prediction { id: ctx.item.unwrap_or(&meta.patient_id).to_owned(), probability, symmetries: n, models: scores };
        write_prediction(&ctx.out_dir.join(PREDICTION_FILE), &prediction)
    }
}

/// One patient's inputs.
struct Patient<'a> {
    features: &'a FeatureMap,
    /// The pooling region, when the classifier pools over the lungs.
    region: Option<&'a [f32]>,
    /// The numbers beside the features (the patient's score), when the
    /// classifier reads any.
    extra: &'a [f32],
}

/// The patient's score from the input `score` as the classifier's extra
/// numbers: required when the classifier was trained with scores, refused
/// when it was not.
fn patient_score(ctx: &RunContext<'_>, shape: &ClassifierShape, model_dir: &Path) -> Result<Vec<f32>, StageError> {
    match (ctx.inputs.get("score"), shape.extra_inputs) {
        (None, 0) => Ok(Vec::new()),
        (Some(input), 1) => Ok(vec![read_score(&input.path.join(SCORE_FILE))?.score as f32]),
        (None, n) => Err(StageError(format!(
            "the classifier in {} was trained with {n} score(s) beside the features (classifier_train's input `scores`): give predict the patient's score as input `score` (e.g. \"@detector\")",
            model_dir.display()
        ))),
        (Some(input), n) => Err(StageError(format!(
            "the classifier in {} reads {n} score(s) beside the features, but predict was given one (input `score`, {}): give classifier_train the input `scores`, or drop `score`",
            model_dir.display(),
            input.path.display()
        ))),
    }
}

/// The models to average, as folders relative to the classifier's output:
/// `.` (the kept model), then with `ensemble` every `folds/rRfF` in order.
fn model_dirs(model_dir: &Path, ensemble: bool) -> Result<Vec<String>, StageError> {
    let mut dirs = vec![".".to_owned()];
    let folds = model_dir.join(FOLD_MODELS_DIR);
    if ensemble && folds.is_dir() {
        let read = std::fs::read_dir(&folds).map_err(|e| StageError(format!("cannot list {}: {e}", folds.display())))?;
        let mut names: Vec<(usize, usize, String)> = Vec::new();
        for entry in read {
            let name =
                entry.map_err(|e| StageError(format!("cannot list {}: {e}", folds.display())))?.file_name().to_string_lossy().into_owned();
            let parsed =
                name.strip_prefix('r').and_then(|rest| rest.split_once('f')).and_then(|(r, f)| Some((r.parse().ok()?, f.parse().ok()?)));
            let (r, f) = parsed.ok_or_else(|| StageError(format!("{}: {name} is not a fold model's folder (rRfF)", folds.display())))?;
            names.push((r, f, fold_model_dir(r, f)));
        }
        names.sort();
        dirs.extend(names.into_iter().map(|n| n.2));
    }
    Ok(dirs)
}

/// Each model's mean probability over the first `n` symmetries.
fn probabilities<B: KernelBackend>(
    device: &B::Device,
    model_dir: &Path,
    models: &[String],
    patient: &Patient<'_>,
    n: usize,
) -> Result<Vec<ModelScore>, StageError> {
    let mut out = Vec::with_capacity(models.len());
    for name in models {
        let dir = model_dir.join(name);
        let (shape, model) = load_model::<B, ClassifierShape, _>(&dir, device, |s, d| s.init::<B>(d))?;
        if shape.in_channels != patient.features.channels {
            return Err(StageError(format!(
                "the classifier in {} reads {} feature channels, these features have {}",
                dir.display(),
                shape.in_channels,
                patient.features.channels
            )));
        }
        let total: f64 = Symmetry::all()
            .into_iter()
            .take(n)
            .map(|s| model.probability(patient.features, patient.region, patient.extra, s, device))
            .sum();
        out.push(ModelScore { model: name.clone(), probability: total / n as f64 });
    }
    Ok(out)
}
