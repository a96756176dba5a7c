//! Reading a trained GMCAE back from a `gmcae_train` output folder.

use std::path::Path;

use burn::prelude::*;

use super::model::{Gmcae, GmcaeShape};
use super::train::recorder;
use crate::StageError;
use crate::gmcae_train::MODEL_JSON;

/// The architecture saved beside a GMCAE.
pub fn read_gmcae_shape(dir: &Path) -> Result<GmcaeShape, StageError> {
    let shape_path = dir.join(MODEL_JSON);
    let text = std::fs::read_to_string(&shape_path).map_err(|e| StageError(format!("{}: {e}", shape_path.display())))?;
    serde_json::from_str(&text).map_err(|e| StageError(format!("{}: {e}", shape_path.display())))
}

/// Loads a trained GMCAE from a `gmcae_train` output folder.
pub fn load_gmcae<B: Backend>(dir: &Path, device: &B::Device) -> Result<(GmcaeShape, Gmcae<B>), StageError> {
    let shape = read_gmcae_shape(dir)?;
    let model = shape
        .init::<B>(device)
        .load_file(dir.join("model"), &recorder(), device)
        .map_err(|e| StageError(format!("{}: cannot load model.mpk: {e}", dir.display())))?;
    Ok((shape, model))
}

