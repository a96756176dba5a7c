//! The `predict` kind: one patient's probability of cancer from the trained
//! classifier (input `model`, a `classifier_train` output) and the patient's
//! encoder features (input `features`, an `encode` output), written as
//! [`prediction.json`](crate::formats::prediction).

use std::path::Path;

use crate::formats::features::{FEATURES_FILE, read_features};
use crate::formats::prediction::{PREDICTION_FILE, Prediction, write_prediction};
use crate::formats::training::load_model;
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

    fn version(&self) -> u32 {
        2
    }

    fn doc(&self) -> &'static str {
        "one patient's probability of cancer from the classifier (input `model`) and its features (input `features`): prediction.json"
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
        let (meta, data) = read_features(&input_path(ctx, "features")?.join(FEATURES_FILE))?;
        let features = FeatureMap { channels: meta.channels, shape: meta.shape, data };
        let probability = on_device!(p.device.as_str(), probability(model_dir, &features, n))?;
        let prediction = Prediction { id: ctx.item.unwrap_or(&meta.patient_id).to_owned(), probability, symmetries: n };
        write_prediction(&ctx.out_dir.join(PREDICTION_FILE), &prediction)
    }
}

/// Mean probability over the first `n` symmetries.
fn probability<B: KernelBackend>(device: &B::Device, model_dir: &Path, features: &FeatureMap, n: usize) -> Result<f64, StageError> {
    let (shape, model) = load_model::<B, ClassifierShape, _>(model_dir, device, |s, d| s.init::<B>(d))?;
    if shape.in_channels != features.channels {
        return Err(StageError(format!(
            "the classifier in {} reads {} feature channels, these features have {}",
            model_dir.display(),
            shape.in_channels,
            features.channels
        )));
    }
    let total: f64 = Symmetry::all().into_iter().take(n).map(|s| model.probability(features, s, device)).sum();
    Ok(total / n as f64)
}
