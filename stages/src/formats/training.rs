//! What training kinds leave behind, and reading trained models back: the
//! architecture in `model.json`, the weights in `model.mpk`, final metrics in
//! `metrics.json` (what `lungflow metrics` reads), per-epoch metrics in
//! `metrics.parquet` (no wall times: those go to the run's timings file), and
//! the patients each side of the split in `split.json`. What only a
//! classifier writes is in [`classifier`](super::classifier).

use std::path::Path;

use burn::module::{Module, ModuleMapper, Param, ParamId};
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

/// The recorder weights are saved with (burn appends `.mpk` to the stem).
fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::new()
}

/// `dir/model`, the stem burn's recorder turns into [`MODEL_WEIGHTS`].
fn weights_stem(dir: &Path) -> std::path::PathBuf {
    dir.join(MODEL_WEIGHTS.trim_end_matches(".mpk"))
}

/// Gives a module's parameters the ids 1, 2, 3… in the order burn visits
/// them. burn draws every parameter id at random and writes it into the
/// record, so without this two identical models save different bytes.
struct NumberParams(u64);

impl NumberParams {
    /// The next id.
    fn next(&mut self) -> ParamId {
        self.0 += 1;
        ParamId::from(self.0)
    }
}

impl<B: Backend> ModuleMapper<B> for NumberParams {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (_, tensor, mapper) = param.consume();
        Param::from_mapped_value(self.next(), tensor, mapper)
    }

    fn map_int<const D: usize>(&mut self, param: Param<Tensor<B, D, Int>>) -> Param<Tensor<B, D, Int>> {
        let (_, tensor, mapper) = param.consume();
        Param::from_mapped_value(self.next(), tensor, mapper)
    }

    fn map_bool<const D: usize>(&mut self, param: Param<Tensor<B, D, Bool>>) -> Param<Tensor<B, D, Bool>> {
        let (_, tensor, mapper) = param.consume();
        Param::from_mapped_value(self.next(), tensor, mapper)
    }
}

/// Saves a model's weights as `dir/model.mpk`; the same weights always give
/// the same bytes.
pub fn save_weights<B: Backend, M: Module<B>>(model: &M, dir: &Path) -> Result<(), StageError> {
    let path = dir.join(MODEL_WEIGHTS);
    model
        .clone()
        .map(&mut NumberParams(0))
        .save_file(weights_stem(dir), &recorder())
        .map_err(|e| StageError(format!("cannot save {}: {e}", path.display())))
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

/// Writes a training kind's per-epoch wall times (`rows`, one object per
/// epoch) to the run's timings file, outside the outputs.
pub fn write_timings(path: &Path, rows: Vec<Value>) -> Result<(), StageError> {
    write_json(path, &json!({ "epochs": rows }))
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
        let _ = model.bias.as_ref().map(|b| b.val());
        save_weights(&model, &dir).unwrap();
        write_model_json(&dir, &[3, 2]).unwrap();
        assert!(dir.join(MODEL_WEIGHTS).is_file());
        // A model with the same weights but other (random) parameter ids
        // saves the same bytes.
        let bytes = std::fs::read(dir.join(MODEL_WEIGHTS)).unwrap();
        let twin = dir.join("twin");
        std::fs::create_dir_all(&twin).unwrap();
        let renew = |p: &Param<Tensor<Flex, 1>>| Param::initialized(ParamId::new(), p.val());
        let copy = Linear { weight: Param::initialized(ParamId::new(), model.weight.val()), bias: model.bias.as_ref().map(renew) };
        assert_ne!(copy.weight.id, model.weight.id);
        save_weights(&copy, &twin).unwrap();
        assert_eq!(std::fs::read(twin.join(MODEL_WEIGHTS)).unwrap(), bytes);
        let (shape, loaded) = load_model::<Flex, [usize; 2], _>(&dir, &device, |s, d| LinearConfig::new(s[0], s[1]).init(d)).unwrap();
        assert_eq!(shape, [3, 2]);
        assert_eq!(same(&loaded), weights);
        let err = load_weights(model, &dir.join("missing"), &device).unwrap_err();
        assert!(err.0.contains("cannot load model.mpk"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }
}
