//! The `encode` kind: the trained GMCAE encoder applied to one patient's
//! whole cropped lung volume (fully convolutional, in z-slabs with a halo).
//!
//! Inputs: `model` (a `gmcae_train` output) and `lungs` (a `lung_mask`
//! output). Output `features.arrow`: one row per code z-slice, `z` (int32)
//! and `features` (`FixedSizeList<Float32>` of channels × y × x, channel
//! first); the schema's `lungflow` metadata holds `channels`, `shape`
//! `[z, y, x]` (code voxels), `step` (input voxels per code voxel),
//! `spacing_mm` of the input and `patient_id`.

use arrow_array::types::Float32Type;
use burn::backend::flex::{Flex, FlexDevice};
use burn::prelude::*;
use serde_json::json;

use crate::gmcae::features::encode_volume;
use crate::gmcae::model::{Gmcae, GmcaeShape};
use crate::gmcae::train::recorder;
use crate::gmcae_train::MODEL_JSON;
use crate::hu_volume::VOLUME_FILE;
use crate::params::{get_bool, get_f64, get_i64, get_str, input_path};
use crate::patches::{PatchOptions, scale};
use crate::volume::{read_volume, write_rows};
use crate::{ParamSpec, ParamType, RunContext, StageError, StageKind};

/// The feature file.
pub const FEATURES_FILE: &str = "features.arrow";

/// Encodes a lung volume into a feature map.
pub struct Encode;

impl StageKind for Encode {
    fn name(&self) -> &'static str {
        "encode"
    }

    fn version(&self) -> u32 {
        1
    }

    fn doc(&self) -> &'static str {
        "applies the trained GMCAE encoder (input `model`) to a whole lung crop (input `lungs`): features.arrow"
    }

    fn params(&self) -> Vec<ParamSpec> {
        let d = PatchOptions::default();
        vec![
            ParamSpec { name: "hu_low", ty: ParamType::Float, default: Some(json!(d.hu_low)), doc: "HU mapped to -1 (as in the patches stage)" },
            ParamSpec { name: "hu_high", ty: ParamType::Float, default: Some(json!(d.hu_high)), doc: "HU mapped to +1 (as in the patches stage)" },
            ParamSpec { name: "clip", ty: ParamType::Bool, default: Some(json!(d.clip)), doc: "clip scaled values to [-1, 1]" },
            ParamSpec { name: "slab", ty: ParamType::Int, default: Some(json!(8)), doc: "code slices encoded at a time (bounds memory)" },
            ParamSpec { name: "device", ty: ParamType::Str, default: Some(json!("cpu")), doc: "cpu (burn flex) or cuda (needs --features cuda)" },
        ]
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let model_dir = input_path(ctx, "model")?;
        let lungs = input_path(ctx, "lungs")?;
        let shape_path = model_dir.join(MODEL_JSON);
        let text = std::fs::read_to_string(&shape_path).map_err(|e| StageError(format!("{}: {e}", shape_path.display())))?;
        let shape: GmcaeShape = serde_json::from_str(&text).map_err(|e| StageError(format!("{}: {e}", shape_path.display())))?;
        let o = PatchOptions {
            hu_low: get_f64(ctx.params, "hu_low")?,
            hu_high: get_f64(ctx.params, "hu_high")?,
            clip: get_bool(ctx.params, "clip")?,
            ..PatchOptions::default()
        };
        let slab = usize::try_from(get_i64(ctx.params, "slab")?).ok().filter(|&s| s > 0).ok_or_else(|| StageError::msg("slab must be positive"))?;
        let v = read_volume(&lungs.join(VOLUME_FILE))?;
        // Pad every axis with air up to a multiple of the encoder's stride.
        let step = 1usize << shape.widths.len();
        let [nz, ny, nx] = v.meta.shape;
        let padded = [nz.div_ceil(step) * step, ny.div_ceil(step) * step, nx.div_ceil(step) * step];
        let mut input = vec![scale(-1000.0, &o); padded.iter().product()];
        for z in 0..nz {
            for y in 0..ny {
                let src = v.index(z, y, 0);
                let dst = (z * padded[1] + y) * padded[2];
                for x in 0..nx {
                    input[dst + x] = scale(v.data[src + x] as f64, &o);
                }
            }
        }
        let features = match get_str(ctx.params, "device")? {
            "cpu" => {
                let device = FlexDevice;
                let model: Gmcae<Flex> = shape
                    .init(&device)
                    .load_file(model_dir.join("model"), &recorder(), &device)
                    .map_err(|e| StageError(format!("{}: cannot load model.mpk: {e}", model_dir.display())))?;
                encode_volume(&model, shape.widths.len(), &input, padded, slab, &device)
            }
            #[cfg(feature = "cuda")]
            "cuda" => {
                let device = burn::backend::cuda::CudaDevice::default();
                let model: Gmcae<burn::backend::Cuda> = shape
                    .init(&device)
                    .load_file(model_dir.join("model"), &recorder(), &device)
                    .map_err(|e| StageError(format!("{}: cannot load model.mpk: {e}", model_dir.display())))?;
                encode_volume(&model, shape.widths.len(), &input, padded, slab, &device)
            }
            other => return Err(StageError(format!("device {other:?} is not available in this build"))),
        };
        let meta = json!({
            "channels": features.channels,
            "shape": features.shape,
            "step": step,
            "spacing_mm": v.meta.spacing_mm,
            "patient_id": ctx.item.unwrap_or(&v.meta.patient_id),
        });
        let row = features.channels * features.shape[1] * features.shape[2];
        write_rows::<Float32Type>(&ctx.out_dir.join(FEATURES_FILE), "features", &meta.to_string(), row, &features.data)
    }
}
