//! What training kinds leave behind, and reading trained models back: the
//! architecture in `model.json`, the weights in `model.mpk`, final metrics in
//! `metrics.json` (what `lungflow metrics` reads), per-epoch metrics in
//! `metrics.parquet`, the patients each side of the split in `split.json`,
//! and a classifier's validation probabilities in `validation.parquet`.

use std::path::Path;

use burn::module::Module;
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::StageError;

/// Final metrics, read by `lungflow metrics` and sweeps.
pub const METRICS_JSON: &str = "metrics.json";
/// Per-epoch metrics table.
pub const METRICS_TABLE: &str = "metrics.parquet";
/// The training and validation patients.
pub const SPLIT_FILE: &str = "split.json";
/// The architecture of a saved model.
pub const MODEL_JSON: &str = "model.json";
/// A saved model's weights.
pub const MODEL_WEIGHTS: &str = "model.mpk";
/// Validation probabilities of a saved classifier.
pub const VALIDATION_TABLE: &str = "validation.parquet";

/// The recorder weights are saved with (burn appends `.mpk` to the stem).
fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::new()
}

/// `dir/model`, the stem burn's recorder turns into [`MODEL_WEIGHTS`].
fn weights_stem(dir: &Path) -> std::path::PathBuf {
    dir.join(MODEL_WEIGHTS.trim_end_matches(".mpk"))
}

/// Saves a model's weights as `dir/model.mpk`.
pub fn save_weights<B: Backend, M: Module<B>>(model: &M, dir: &Path) -> Result<(), StageError> {
    let path = dir.join(MODEL_WEIGHTS);
    model.clone().save_file(weights_stem(dir), &recorder()).map_err(|e| StageError(format!("cannot save {}: {e}", path.display())))
}

/// Loads the weights saved in `dir/model.mpk` into `model`.
pub fn load_weights<B: Backend, M: Module<B>>(model: M, dir: &Path, device: &B::Device) -> Result<M, StageError> {
    model
        .load_file(weights_stem(dir), &recorder(), device)
        .map_err(|e| StageError(format!("{}: cannot load {MODEL_WEIGHTS}: {e}", dir.display())))
}

/// Loads a model saved in `dir`: its architecture `S` from `model.json`,
/// built by `init`, with the weights of `model.mpk`.
pub fn load_model<B: Backend, S: DeserializeOwned, M: Module<B>>(
    dir: &Path,
    device: &B::Device,
    init: impl FnOnce(&S, &B::Device) -> M,
) -> Result<(S, M), StageError> {
    let shape: S = read_model_json(dir)?;
    let model = load_weights(init(&shape, device), dir, device)?;
    Ok((shape, model))
}

/// The architecture saved beside a model (`model.json`), as `T`.
pub fn read_model_json<T: DeserializeOwned>(dir: &Path) -> Result<T, StageError> {
    let path = dir.join(MODEL_JSON);
    let text = std::fs::read_to_string(&path).map_err(|e| StageError(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| StageError(format!("{}: {e}", path.display())))
}

/// Writes the architecture of a model as `dir/model.json`.
pub fn write_model_json<T: Serialize>(dir: &Path, shape: &T) -> Result<(), StageError> {
    write_json(&dir.join(MODEL_JSON), &serde_json::to_value(shape).map_err(StageError::msg)?)
}

/// Writes final metrics as `dir/metrics.json`.
pub fn write_metrics(dir: &Path, metrics: &Value) -> Result<(), StageError> {
    write_json(&dir.join(METRICS_JSON), metrics)
}

/// Writes the training and validation patients as `dir/split.json`.
pub fn write_split(dir: &Path, train_patients: &[String], val_patients: &[String]) -> Result<(), StageError> {
    write_json(&dir.join(SPLIT_FILE), &json!({"train_patients": train_patients, "val_patients": val_patients}))
}

/// Writes pretty JSON to `path`.
fn write_json(path: &Path, value: &Value) -> Result<(), StageError> {
    let text = serde_json::to_string_pretty(value).map_err(StageError::msg)?;
    std::fs::write(path, text).map_err(|e| StageError(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::nn::{Linear, LinearConfig};

    #[test]
    fn saved_weights_load_back_into_the_same_model() {
        let dir = std::env::temp_dir().join(format!("lf-training-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let device = Default::default();
        let model: Linear<Flex> = LinearConfig::new(3, 2).init(&device);
        let same = |m: &Linear<Flex>| m.weight.val().into_data().to_vec::<f32>().unwrap();
        // Parameters are initialised lazily, and a clone of an untouched one
        // initialises on its own: touch them before saving.
        let weights = same(&model);
        save_weights(&model, &dir).unwrap();
        write_model_json(&dir, &[3, 2]).unwrap();
        assert!(dir.join(MODEL_WEIGHTS).is_file());
        let (shape, loaded) = load_model::<Flex, [usize; 2], _>(&dir, &device, |s, d| LinearConfig::new(s[0], s[1]).init(d)).unwrap();
        assert_eq!(shape, [3, 2]);
        assert_eq!(same(&loaded), weights);
        let err = load_weights(model, &dir.join("missing"), &device).unwrap_err();
        assert!(err.0.contains("cannot load model.mpk"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }
}
