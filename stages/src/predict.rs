//! The `predict` kind: one patient's probability of cancer from the trained
//! classifier (input `model`, a `classifier_train` output) and the patient's
//! encoder features (input `features`, an `encode` output).
//!
//! Output `prediction.json`: `id`, `probability` (unclipped), `symmetries`
//! (how many cube symmetries were averaged).

use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::classifier::model::{Classifier, ClassifierShape};
use crate::encode::{FEATURES_FILE, read_features};
use crate::gmcae::features::FeatureMap;
use crate::gmcae::checkpoint::{load_weights, read_model_json};
use crate::on_device;
use crate::params::{get_i64, get_str, input_path};
use crate::symmetry::Symmetry;
use crate::{ParamSpec, ParamType, RunContext, StageError, StageKind};

/// The prediction file.
pub const PREDICTION_FILE: &str = "prediction.json";

/// One patient's prediction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Patient id.
    pub id: String,
    /// Probability of cancer (not clipped).
    pub probability: f64,
    /// Cube symmetries averaged (1 = the feature map as is).
    pub symmetries: usize,
}

/// Predicts one patient.
pub struct Predict;

impl StageKind for Predict {
    fn name(&self) -> &'static str {
        "predict"
    }

    fn version(&self) -> u32 {
        1
    }

    fn doc(&self) -> &'static str {
        "one patient's probability of cancer from the classifier (input `model`) and its features (input `features`): prediction.json"
    }

    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec { name: "symmetries", ty: ParamType::Int, default: Some(json!(1)), doc: "average the probability over the first n of the 48 cube symmetries (test-time augmentation)" },
            ParamSpec { name: "device", ty: ParamType::Str, default: Some(json!("cpu")), doc: "cpu (burn flex) or cuda (needs --features cuda)" },
        ]
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let model_dir = input_path(ctx, "model")?;
        let (meta, features) = read_features(&input_path(ctx, "features")?.join(FEATURES_FILE))?;
        let n = usize::try_from(get_i64(ctx.params, "symmetries")?).ok().filter(|n| (1..=48).contains(n)).ok_or_else(|| StageError::msg("symmetries must be between 1 and 48"))?;
        let probability = on_device!(get_str(ctx.params, "device")?, probability(model_dir, &features, n))?;
        let p = Prediction { id: ctx.item.unwrap_or(&meta.patient_id).to_owned(), probability, symmetries: n };
        let text = serde_json::to_string_pretty(&p).map_err(StageError::msg)?;
        std::fs::write(ctx.out_dir.join(PREDICTION_FILE), text).map_err(StageError::msg)
    }
}

/// Loads a trained classifier from a `classifier_train` output folder.
pub fn load_classifier<B: Backend>(dir: &Path, device: &B::Device) -> Result<(ClassifierShape, Classifier<B>), StageError> {
    let shape: ClassifierShape = read_model_json(dir)?;
    let model = load_weights(shape.init::<B>(device), dir, device)?;
    Ok((shape, model))
}

/// Mean probability over the first `n` symmetries.
fn probability<B: Backend>(device: &B::Device, model_dir: &Path, features: &FeatureMap, n: usize) -> Result<f64, StageError> {
    let (shape, model) = load_classifier::<B>(model_dir, device)?;
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
