//! The `encode` kind: the trained GMCAE encoder applied to one patient's
//! whole cropped lung volume (fully convolutional, in z-slabs with a halo).
//!
//! Inputs: `model` (a `gmcae_train` output) and `lungs` (a `lung_mask`
//! output). Output `features.arrow`: one row per code z-slice, `z` (int32)
//! and `features` (`FixedSizeList<Float32>` of channels × y × x, channel
//! first); the schema's `lungflow` metadata holds `channels`, `shape`
//! `[z, y, x]` (code voxels), `step` (input voxels per code voxel),
//! `blocks` (encoder blocks applied), `spacing_mm` of the input and
//! `patient_id`.

use std::path::Path;

use arrow_array::types::Float32Type;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::gmcae::features::{FeatureMap, encode_volume};
use crate::gmcae::checkpoint::{load_gmcae, read_gmcae_shape};
use crate::on_device;
use crate::hu_volume::VOLUME_FILE;
use crate::params::{get_bool, get_f64, get_i64, get_positive, get_str, input_path};
use crate::patches::{PatchOptions, scale};
use crate::lung_mask::MASK_FILE;
use crate::volume::{read_mask, read_rows, read_volume, write_rows};
use crate::{ParamSpec, ParamType, RunContext, StageError, StageKind};

/// The feature file.
pub const FEATURES_FILE: &str = "features.arrow";

/// What `features.arrow` says about itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureMeta {
    /// Feature channels.
    pub channels: usize,
    /// Code voxels [z, y, x].
    pub shape: [usize; 3],
    /// Input voxels per code voxel along each axis.
    pub step: usize,
    /// Encoder blocks applied.
    pub blocks: usize,
    /// Spacing of the encoded volume, mm.
    pub spacing_mm: [f64; 3],
    /// Patient id.
    pub patient_id: String,
}

/// Reads a feature file written by `encode`.
pub fn read_features(path: &Path) -> Result<(FeatureMeta, FeatureMap), StageError> {
    let (meta_json, data) = read_rows::<Float32Type>(path, "features")?;
    let meta: FeatureMeta = serde_json::from_str(&meta_json).map_err(|e| StageError(format!("cannot read {}: {e}", path.display())))?;
    let expected = meta.channels * meta.shape.iter().product::<usize>();
    if data.len() != expected || expected == 0 {
        return Err(StageError(format!(
            "cannot read {}: {} values for {} channels × {:?}",
            path.display(),
            data.len(),
            meta.channels,
            meta.shape
        )));
    }
    let map = FeatureMap { channels: meta.channels, shape: meta.shape, data };
    Ok((meta, map))
}

/// Loads the GMCAE and encodes `input` on backend `B`.
fn encode_with<B: Backend>(device: &B::Device, model_dir: &Path, blocks: usize, input: &[f32], shape: [usize; 3], slab: usize) -> Result<FeatureMap, StageError> {
    let (_, model) = load_gmcae::<B>(model_dir, device)?;
    Ok(encode_volume(&model, blocks, input, shape, slab, device))
}

/// Encodes a lung volume into a feature map.
pub struct Encode;

impl StageKind for Encode {
    fn name(&self) -> &'static str {
        "encode"
    }

    fn version(&self) -> u32 {
        2
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
            ParamSpec { name: "blocks", ty: ParamType::Int, default: Some(json!(0)), doc: "encoder blocks to apply; 0 = all (a classifier fine-tuning k blocks wants all but k)" },
            ParamSpec { name: "mask_outside", ty: ParamType::Bool, default: Some(json!(true)), doc: "set voxels outside the (dilated) lung mask to air before encoding" },
            ParamSpec { name: "slab", ty: ParamType::Int, default: Some(json!(8)), doc: "code slices encoded at a time (bounds memory)" },
            ParamSpec { name: "device", ty: ParamType::Str, default: Some(json!("cpu")), doc: "cpu (burn flex) or cuda (needs --features cuda)" },
        ]
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<(), StageError> {
        let model_dir = input_path(ctx, "model")?;
        let lungs = input_path(ctx, "lungs")?;
        let shape = read_gmcae_shape(model_dir)?;
        let o = PatchOptions {
            hu_low: get_f64(ctx.params, "hu_low")?,
            hu_high: get_f64(ctx.params, "hu_high")?,
            clip: get_bool(ctx.params, "clip")?,
            ..PatchOptions::default()
        };
        let slab = get_positive(ctx.params, "slab")?;
        let mut v = read_volume(&lungs.join(VOLUME_FILE))?;
        if get_bool(ctx.params, "mask_outside")? {
            let mask = read_mask(&lungs.join(MASK_FILE))?;
            if mask.meta.shape != v.meta.shape {
                return Err(StageError(format!("{}: mask shape {:?} differs from the volume's {:?}", lungs.display(), mask.meta.shape, v.meta.shape)));
            }
            for (hu, &inside) in v.data.iter_mut().zip(&mask.data) {
                if inside == 0 {
                    *hu = -1000;
                }
            }
        }
        let total = shape.widths.len();
        let blocks = match usize::try_from(get_i64(ctx.params, "blocks")?) {
            Ok(0) => total,
            Ok(b) if b <= total => b,
            _ => return Err(StageError(format!("blocks must be between 0 (all) and {total}, the model's encoder blocks"))),
        };
        // Pad every axis with air up to a multiple of the encoder's stride.
        let step = 1usize << blocks;
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
        let features = on_device!(get_str(ctx.params, "device")?, encode_with(model_dir, blocks, &input, padded, slab))?;
        let meta = FeatureMeta {
            channels: features.channels,
            shape: features.shape,
            step,
            blocks,
            spacing_mm: v.meta.spacing_mm,
            patient_id: ctx.item.unwrap_or(&v.meta.patient_id).to_owned(),
        };
        let row = features.channels * features.shape[1] * features.shape[2];
        let json = serde_json::to_string(&meta).map_err(StageError::msg)?;
        write_rows::<Float32Type>(&ctx.out_dir.join(FEATURES_FILE), "features", &json, row, &features.data)
    }
}
