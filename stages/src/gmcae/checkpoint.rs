//! Reading trained models back from a training stage's output folder: the
//! architecture in `model.json` and the weights in `model.mpk`.

use std::path::Path;

use burn::module::Module;
use burn::prelude::*;
use serde::de::DeserializeOwned;

use super::model::{Gmcae, GmcaeShape};
use super::train::recorder;
use crate::StageError;
use crate::gmcae_train::MODEL_JSON;

/// The architecture saved beside a model (`model.json`), as `T`.
pub fn read_model_json<T: DeserializeOwned>(dir: &Path) -> Result<T, StageError> {
    let path = dir.join(MODEL_JSON);
    let text = std::fs::read_to_string(&path).map_err(|e| StageError(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| StageError(format!("{}: {e}", path.display())))
}

/// Loads the weights saved in `dir/model.mpk` into `model`.
pub fn load_weights<B: Backend, M: Module<B>>(model: M, dir: &Path, device: &B::Device) -> Result<M, StageError> {
    model.load_file(dir.join("model"), &recorder(), device).map_err(|e| StageError(format!("{}: cannot load model.mpk: {e}", dir.display())))
}

/// The architecture saved beside a GMCAE.
pub fn read_gmcae_shape(dir: &Path) -> Result<GmcaeShape, StageError> {
    read_model_json(dir)
}

/// Loads a trained GMCAE from a `gmcae_train` output folder.
pub fn load_gmcae<B: Backend>(dir: &Path, device: &B::Device) -> Result<(GmcaeShape, Gmcae<B>), StageError> {
    let shape = read_gmcae_shape(dir)?;
    let model = load_weights(shape.init::<B>(device), dir, device)?;
    Ok((shape, model))
}
